"""Payments: the catalogue from hexclave.config.py, purchase codes, grants, subscriptions on the emulator clock,
the items ledger, transactions and receipts. Stripe is simulated: ids look like Stripe's, no network is used."""
