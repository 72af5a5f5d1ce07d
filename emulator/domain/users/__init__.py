"""Users and what hangs off them: contact channels, notification preferences, browser uploads."""
