"""Outbound webhooks: signed domain events delivered from the outbox (issue 15)."""
