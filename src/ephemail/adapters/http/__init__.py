"""Outbound HTTP (heartbeat now; webhooks later)."""
