"""Unit tests of the sans-IO IMAP protocol core."""
