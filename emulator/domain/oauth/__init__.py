"""Sign-in with OAuth providers and the simulated providers' pages."""
