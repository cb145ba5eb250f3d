"""Protocol adapters: SMTP (around aiosmtpd), later IMAP. They call services, never the store."""
