"""Differential test: scripted IMAP sessions against pymap (reference) and ephemail."""
