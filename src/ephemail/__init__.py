"""ephemail: a self-hostable temporary-mail server."""

__version__ = "0.1.0"
