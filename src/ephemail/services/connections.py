"""Connection admission: a global cap, a per-IP cap and a per-IP rate.

Checked first, before any protocol work, so an overloaded or abusive client
gets a quick `421` instead of a hang (SPEC → SMTP, "cheapest first").
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from enum import StrEnum


class Admission(StrEnum):
    OK = "ok"
    SERVER_FULL = "server full"
    TOO_MANY_FROM_IP = "too many connections from this address"
    RATE_LIMITED = "connection rate from this address exceeded"


class ConnectionGate:
    """Counts open connections; call `release` exactly once for every admitted one."""

    def __init__(
        self,
        *,
        max_connections: int,
        max_per_ip: int,
        rate_per_minute: int = 0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max = max_connections
        self._max_per_ip = max_per_ip
        self._rate = rate_per_minute
        self._monotonic = monotonic
        self._open: dict[str, int] = {}
        self._recent: dict[str, deque[float]] = {}
        self.active = 0

    def admit(self, ip: str) -> Admission:
        """Decide on a new connection from `ip`; count it when admitted."""
        if self.active >= self._max:
            return Admission.SERVER_FULL
        if self._open.get(ip, 0) >= self._max_per_ip:
            return Admission.TOO_MANY_FROM_IP
        if self._rate:
            now = self._monotonic()
            stamps = self._recent.setdefault(ip, deque())
            while stamps and now - stamps[0] >= 60.0:
                stamps.popleft()
            if len(stamps) >= self._rate:
                return Admission.RATE_LIMITED
            stamps.append(now)
            if len(self._recent) > 100_000:  # bound memory under a wide scan
                self._forget_idle(now)
        self.active += 1
        self._open[ip] = self._open.get(ip, 0) + 1
        return Admission.OK

    def release(self, ip: str) -> None:
        self.active -= 1
        left = self._open.get(ip, 0) - 1
        if left > 0:
            self._open[ip] = left
        else:
            self._open.pop(ip, None)

    def _forget_idle(self, now: float) -> None:
        for ip in [ip for ip, s in self._recent.items() if not s or now - s[-1] >= 60.0]:
            del self._recent[ip]
