"""E-mail: the inbox store, platform mails and their templates, themes and drafts, rendering, outbox, relay."""
