"""Logging set-up: text or one JSON object per line; never bodies, passwords or tokens."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiosmtpd logs every command line at INFO (addresses included): keep it quiet.
    logging.getLogger("mail.log").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("uvicorn.error").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    # httpx logs every request's full URL at INFO: a webhook URL may carry a token in
    # its path or query. The webhook log (API, UI) records each attempt instead.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
    # The MCP SDK logs each request at INFO (types only; quiet like the HTTP server).
    logging.getLogger("mcp").setLevel(max(logging.WARNING, root.level))
