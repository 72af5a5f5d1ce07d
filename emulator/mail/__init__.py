"""The SMTP side of the mail catcher (emulator.mail.smtp); parsing and storing live in emulator.domain.mail.mail."""
