"""Rate limits per IP and per principal (SPEC: HTTP errors, 429 with Retry-After).

A limit is a named bucket ("login", "claim", "api") with a rate per minute; each
key (an IP, an account email, an address) has its own allowance. In-process per
node: with N nodes the effective limit is at most N times the configured one.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass


class RateLimited(Exception):
    """Too many attempts; try again after `retry_after` seconds (HTTP 429 with
    `Retry-After`, IMAP `NO [UNAVAILABLE]` / a delayed answer)."""

    def __init__(self, bucket: str, retry_after: float) -> None:
        super().__init__(f"too many {bucket} attempts; retry in {retry_after:.0f} s")
        self.bucket = bucket
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Limit:
    """`per_minute` events per minute, with bursts of up to `burst` at once."""

    per_minute: int
    burst: int

    def __post_init__(self) -> None:
        if self.per_minute < 1 or self.burst < 1:
            raise ValueError("a rate limit needs per_minute >= 1 and burst >= 1")


# Keys tracked per bucket before the oldest allowances are dropped even if not full
# again (an attacker rotating keys must not grow memory without bound).
DEFAULT_MAX_KEYS = 100_000
_FIRST_SWEEP = 1024
_SWEEP_PERIOD = 60.0  # seconds: stale keys are dropped at least this often


class _Bucket:
    """GCRA state of one bucket: for each key its theoretical arrival time (TAT).

    With emission interval T = 60 / per_minute and tolerance tau = T * (burst - 1),
    an event at time t is allowed when t >= TAT - tau; it then moves TAT to
    max(TAT, t) + T. A key whose TAT is in the past has its whole burst again, so
    it carries no information and can be forgotten.
    """

    __slots__ = ("interval", "max_keys", "next_sweep", "next_sweep_at", "tat", "tolerance")

    def __init__(self, limit: Limit, max_keys: int) -> None:
        self.interval = 60.0 / limit.per_minute
        self.tolerance = self.interval * (limit.burst - 1)
        self.tat: dict[str, float] = {}
        self.max_keys = max_keys
        self.next_sweep = min(_FIRST_SWEEP, max_keys)
        self.next_sweep_at: float | None = None

    def wait(self, key: str, now: float) -> float:
        """Seconds until `key` may have one more event (0: now)."""
        tat = self.tat.get(key)
        if tat is None:
            return 0.0
        return max(0.0, tat - self.tolerance - now)

    def count(self, key: str, now: float) -> None:
        self.tat[key] = max(self.tat.get(key, now), now) + self.interval
        if self.next_sweep_at is None:
            self.next_sweep_at = now + _SWEEP_PERIOD
        if len(self.tat) >= self.next_sweep or now >= self.next_sweep_at:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        """Forget keys whose allowance is full again; past `max_keys`, keep only the
        half furthest from full (the most limited keys stay limited). Amortised: the
        next sweep waits until the table doubles or a minute has passed."""
        self.tat = {key: tat for key, tat in self.tat.items() if tat > now}
        if len(self.tat) > self.max_keys:
            keep = heapq.nlargest(self.max_keys // 2, self.tat.items(), key=lambda item: item[1])
            self.tat = dict(keep)
        self.next_sweep = min(max(_FIRST_SWEEP, 2 * len(self.tat)), self.max_keys + 1)
        self.next_sweep_at = now + _SWEEP_PERIOD


class RateLimiter:
    """Generic cell rate algorithm (GCRA) per (bucket, key), on an injected monotonic
    clock. Memory stays bounded: keys whose allowance is full again are forgotten."""

    def __init__(
        self,
        limits: dict[str, Limit],
        *,
        monotonic: Callable[[], float] = time.monotonic,
        enabled: bool = True,
        max_keys: int = DEFAULT_MAX_KEYS,
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._buckets = {name: _Bucket(limit, max_keys) for name, limit in limits.items()}
        self._monotonic = monotonic
        self.enabled = enabled

    def _bucket(self, name: str) -> _Bucket:
        try:
            return self._buckets[name]
        except KeyError:
            raise KeyError(f"no rate limit configured for bucket {name!r}") from None

    def _raise_if_over(self, name: str, bucket: _Bucket, keys: tuple[str, ...], now: float) -> None:
        wait = max((bucket.wait(key, now) for key in keys), default=0.0)
        if wait > 0:
            raise RateLimited(name, wait)

    def hit(self, bucket: str, *keys: str) -> None:
        """Count one event against every key (e.g. the IP and the account email);
        raise RateLimited (counting nothing) when any key is over its limit."""
        if not self.enabled:
            return
        state = self._bucket(bucket)
        now = self._monotonic()
        self._raise_if_over(bucket, state, keys, now)
        for key in dict.fromkeys(keys):  # a key given twice counts once
            state.count(key, now)

    def check(self, bucket: str, *keys: str) -> None:
        """Raise RateLimited when any key is over its limit, without counting
        (used before a login attempt whose failure alone is counted)."""
        if not self.enabled:
            return
        state = self._bucket(bucket)
        self._raise_if_over(bucket, state, keys, self._monotonic())

    def tracked_keys(self, bucket: str) -> int:
        """How many keys of `bucket` are remembered now (for tests and metrics)."""
        return len(self._bucket(bucket).tat)
