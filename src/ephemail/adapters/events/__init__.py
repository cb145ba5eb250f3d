"""Event buses: in-process fan-out (PostgreSQL LISTEN/NOTIFY comes with scale-out)."""
