"""Adapters: the only places that import third-party I/O libraries."""
