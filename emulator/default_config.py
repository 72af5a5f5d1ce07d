"""The built-in config, used when no hexclave.config.py is given or found: password and OTP sign-in on,
sign-up open, client team creation and client user deletion allowed."""

config = {
    "auth": {"allowSignUp": True, "password": {"allowSignIn": True}, "otp": {"allowSignIn": True}},
    "teams": {"allowClientTeamCreation": True},
    "users": {"allowClientUserDeletion": True},
    "apiKeys": {"enabled": {"user": True, "team": True}},
}
