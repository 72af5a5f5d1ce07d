"""hexclave.config.py — the project served by hexclave-emulator (written by `hexclave-emulator init`).

The Python counterpart of hexclave.config.ts: the same sections and camelCase keys. The emulator reloads this file
on every save; a broken edit keeps the last good config and logs what is wrong (with the key path).
Docs: https://docs.hexclave.com (config reference); README of hexclave-emulator (what the emulator supports).
"""
from emulator.config import define_config

config = define_config({
    "project": {
        # The name the emulator shows for this project (banner, /projects/current). Emulator only.
        "displayName": "My app (local)",
    },
    "auth": {
        "allowSignUp": True,
        "password": {"allowSignIn": True},
        "otp": {"allowSignIn": True},  # magic links and one-time codes, caught in the inbox (/inbox)
        "passkey": {"allowSignIn": False},
        "oauth": {
            "accountMergeStrategy": "link_method",
            # Every provider is simulated by the emulator: no client id or secret needed.
            "providers": {
                "github": {"type": "github", "allowSignIn": True},
                "google": {"type": "google", "allowSignIn": True},
            },
        },
    },
    "teams": {"createPersonalTeamOnSignUp": False, "allowClientTeamCreation": True},
    "users": {"allowClientUserDeletion": True},
    "onboarding": {"requireEmailVerification": False},
    "apiKeys": {"enabled": {"user": False, "team": False}},
    "rbac": {
        # Custom permissions, e.g. {"moderator": {"scope": "team", "containedPermissionIds": {"$read_members": True}}}
        "permissions": {},
        # Granted automatically, e.g. {"teamCreator": {"moderator": True}, "signUp": {...}}
        "defaultPermissions": {},
    },
    # Redirect targets the platform accepts besides localhost, e.g. {"app": {"baseUrl": "https://app.example.test"}}
    "domains": {"allowLocalhost": True, "trustedDomains": {}},
    # "payments": {"testMode": True, "products": {...}, "items": {...}},  # simulated Stripe checkout at /purchase/…
})
