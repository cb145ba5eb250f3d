"""Policy data (domains, bans) cached in memory and kept fresh.

Every SMTP command checks an immutable `PolicySnapshot`, so the hot path never
touches the database. The cache reloads when the store's policy revision moves
(a cheap poll every `poll_interval`), at least every `refresh_interval` with
jitter, and at once after a change made through this process. A failed refresh
keeps the last good snapshot and logs why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

from ephemail.domain.bans import BanSet
from ephemail.domain.domains import DomainTable
from ephemail.domain.policy import AcceptMode, AcceptPolicy, PolicySnapshot
from ephemail.ports import Store

log = logging.getLogger(__name__)


class PolicyService:
    """Holds the current PolicySnapshot and refreshes it from the store."""

    def __init__(
        self,
        store: Store,
        *,
        accept: AcceptPolicy,
        allow_contains: bool = True,
        refresh_interval: float = 60.0,
        poll_interval: float = 2.0,
    ) -> None:
        self._store = store
        self._accept = accept
        self._allow_contains = allow_contains
        self._refresh_interval = refresh_interval
        self._poll_interval = poll_interval
        self._revision: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.snapshot = PolicySnapshot(accept, DomainTable([]), BanSet([], allow_contains))
        self.domains = DomainTable([])
        # Whether any account quota or mailbox cap is set: when not (and no default is
        # configured) the quota check at SMTP ingest needs no store read at all.
        self.quota_rules_exist = True

    async def start(self) -> None:
        """Load the policy once (must succeed), then keep it fresh in the background."""
        await self.refresh()
        self._task = asyncio.create_task(self._run(), name="policy-refresh")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def changed(self) -> None:
        """Something changed the policy in this process: reload now."""
        self._wake.set()

    def retention_hours_for(self, domain: str) -> float | None:
        """Per-domain retention override, or None to use the global default."""
        record = self.domains.lookup(domain)
        return record.retention_hours if record is not None else None

    async def refresh(self) -> None:
        revision = await self._store.policy_revision()
        domains = DomainTable(await self._store.list_domains())
        bans = BanSet(await self._store.list_bans(), allow_contains=self._allow_contains)
        self.quota_rules_exist = await self._store.quota_rules_exist()
        self.domains = domains
        self.snapshot = PolicySnapshot(self._accept, domains, bans)
        self._revision = revision
        if self._accept.mode is AcceptMode.DOMAINS and self.snapshot.domains_empty_in_domains_mode:
            log.warning(
                "accept policy is 'domains' but no active domain is registered: "
                "every recipient is rejected (add one with `ephemail domain add`)"
            )

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_full = loop.time() + self._jittered()
        while True:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
            # that arrives as the event is set (close() would then wait forever).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_interval):
                    await self._wake.wait()
            forced = self._wake.is_set()
            self._wake.clear()
            try:
                due = forced or loop.time() >= next_full
                if not due:
                    due = await self._store.policy_revision() != self._revision
                if due:
                    await self.refresh()
                    next_full = loop.time() + self._jittered()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the last good snapshot
                log.warning("policy refresh failed, keeping the last good data: %s", exc)

    def _jittered(self) -> float:
        return self._refresh_interval * random.uniform(0.8, 1.0)
