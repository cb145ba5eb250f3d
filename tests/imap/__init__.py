"""IMAP protocol tests."""
