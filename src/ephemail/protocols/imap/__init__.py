"""IMAP4rev1 server (RFC 3501): sans-IO protocol core in `proto`, sessions on top."""
