"""Signing in: passwords, one-time codes, passkeys, sessions and tokens, sign-up and its rules, CLI login, API keys."""
