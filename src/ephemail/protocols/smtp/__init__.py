"""SMTP receive (ESMTP over aiosmtpd).

See `server.py` and docs/decisions/002-smtp-on-aiosmtpd.md.
"""

from ephemail.protocols.smtp.server import SmtpConfig, SmtpServer

__all__ = ["SmtpConfig", "SmtpServer"]
