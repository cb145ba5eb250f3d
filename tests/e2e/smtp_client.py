"""A tiny raw SMTP client for tests that must see every reply exactly."""

from __future__ import annotations

import asyncio


class SmtpReplyError(Exception):
    pass


async def read_reply(reader: asyncio.StreamReader) -> tuple[int, str]:
    """Read one (possibly multi-line) reply; return (code, full text)."""
    lines = []
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("connection closed")
        lines.append(line.decode("utf-8", "replace").rstrip("\r\n"))
        if len(line) < 4 or line[3:4] != b"-":
            return int(lines[-1][:3]), "\n".join(lines)


async def send_message(
    port: int, mail_from: str, recipients: list[str], body: bytes, *, timeout: float = 30
) -> tuple[int, str]:
    """One full SMTP transaction; return the final reply to DATA."""

    async def go() -> tuple[int, str]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            await read_reply(reader)
            for command in [b"EHLO client.test", f"MAIL FROM:<{mail_from}>".encode()] + [
                f"RCPT TO:<{r}>".encode() for r in recipients
            ]:
                writer.write(command + b"\r\n")
                code, text = await read_reply(reader)
                if code >= 400:
                    return code, text
            writer.write(b"DATA\r\n")
            code, text = await read_reply(reader)
            if code != 354:
                return code, text
            writer.write(body + b"\r\n.\r\n")
            result = await read_reply(reader)
            writer.write(b"QUIT\r\n")
            await writer.drain()
            return result
        finally:
            writer.close()

    return await asyncio.wait_for(go(), timeout)
