"""hexclave-emulator: a one-process local emulator of the Hexclave (formerly Stack Auth) platform."""

__version__ = "0.1.0"
