"""Interoperability tests: real IMAP clients against a running ephemail."""
