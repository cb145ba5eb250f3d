"""Group commit: many concurrent writers share one transaction.

Each caller enqueues its item and awaits a future. A writer task takes whatever
has queued up while the previous transaction was committing (up to `max_batch`)
and writes it in one transaction, so the cost of a commit (an fsync) is shared
by every message in the batch, and no artificial delay is added: under light
load a batch holds one item and commits at once.

If a batch fails, each item is retried alone, so one bad item cannot fail its
neighbours; an item that fails alone gets the exception.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

log = logging.getLogger(__name__)


class WriterClosed(Exception):
    """The writer is shutting down and takes no new work."""


class GroupCommitter(Generic[Item, Result]):
    """Batch `Item`s into calls of `write_batch`, which returns one result per item."""

    def __init__(
        self,
        write_batch: Callable[[Sequence[Item]], Awaitable[Sequence[Result]]],
        *,
        max_batch: int = 256,
        writers: int = 1,
        max_pending: int = 10_000,
    ) -> None:
        self._write_batch = write_batch
        self._max_batch = max_batch
        self._writers = writers
        self._queue: asyncio.Queue[tuple[Item, asyncio.Future[Result]]] = asyncio.Queue(
            maxsize=max_pending
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self.batches = 0
        self.items = 0

    def start(self) -> None:
        """Start the writer tasks (in the running loop)."""
        for n in range(self._writers):
            self._tasks.append(asyncio.create_task(self._run(), name=f"group-commit-{n}"))

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def submit(self, item: Item) -> Result:
        """Write `item` durably; return its result once its transaction committed."""
        if self._closing:
            raise WriterClosed("the store writer is shutting down")
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, future))
        return await future

    async def close(self) -> None:
        """Finish everything queued, then stop the writer tasks."""
        self._closing = True
        await self._queue.join()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _run(self) -> None:
        queue = self._queue
        while True:
            batch = [await queue.get()]
            while len(batch) < self._max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                await self._commit(batch)
            finally:
                for _ in batch:
                    queue.task_done()

    async def _commit(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        items = [item for item, _ in batch]
        try:
            results = await self._write_batch(items)
        except asyncio.CancelledError:
            for _, future in batch:
                if not future.done():
                    future.set_exception(WriterClosed("the store writer stopped"))
            raise
        except Exception as exc:
            if len(batch) == 1:
                if not batch[0][1].done():
                    batch[0][1].set_exception(exc)
                return
            log.warning("batch of %d failed (%s); retrying one by one", len(batch), exc)
            for pair in batch:
                await self._commit([pair])
            return
        self.batches += 1
        self.items += len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
