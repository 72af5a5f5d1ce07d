"""Webhook events (Svix-shaped) and their delivery to the app's endpoints."""
