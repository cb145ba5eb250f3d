"""Group commit: batching, per-item results, isolation of a failing item, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from ephemail.services.group_commit import GroupCommitter, WriterClosed


async def test_concurrent_submissions_share_batches() -> None:
    batches: list[list[int]] = []

    async def write(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        await asyncio.sleep(0.01)  # a commit takes time; meanwhile more queue up
        return [i * 10 for i in items]

    committer: GroupCommitter[int, int] = GroupCommitter(write, max_batch=50)
    committer.start()
    results = await asyncio.gather(*(committer.submit(i) for i in range(100)))
    await committer.close()
    assert results == [i * 10 for i in range(100)]
    assert sorted(i for b in batches for i in b) == list(range(100))
    assert len(batches) < 10 and max(len(b) for b in batches) <= 50


async def test_a_failing_item_fails_alone() -> None:
    async def write(items: Sequence[int]) -> list[int]:
        await asyncio.sleep(0)
        if 13 in items:
            raise RuntimeError("poison")
        return list(items)

    committer: GroupCommitter[int, int] = GroupCommitter(write)
    committer.start()
    results = await asyncio.gather(
        *(committer.submit(i) for i in range(20)), return_exceptions=True
    )
    await committer.close()
    assert isinstance(results[13], RuntimeError)
    assert [r for i, r in enumerate(results) if i != 13] == [i for i in range(20) if i != 13]


async def test_close_finishes_queued_work_then_refuses() -> None:
    async def write(items: Sequence[int]) -> list[int]:
        await asyncio.sleep(0.005)
        return list(items)

    committer: GroupCommitter[int, int] = GroupCommitter(write, max_batch=2)
    committer.start()
    pending = [asyncio.create_task(committer.submit(i)) for i in range(6)]
    await asyncio.sleep(0)
    await committer.close()
    assert [await p for p in pending] == list(range(6))
    with pytest.raises(WriterClosed):
        await committer.submit(99)
