"""Projects and their configuration: config files and levels, admin operations, data vault, test kit."""
