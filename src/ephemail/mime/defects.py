"""A bounded, de-duplicated log of problems found while parsing one message.

Hostile input can trigger the same problem thousands of times; the log keeps each distinct
short description once and stops growing after a fixed number of entries, so recording
defects never costs more than the parse itself.
"""

from __future__ import annotations

MAX_DEFECTS = 64
MAX_DEFECT_LEN = 120


class DefectLog:
    """Ordered set of short defect strings, capped in count and length."""

    __slots__ = ("_items", "_seen")

    def __init__(self) -> None:
        self._items: list[str] = []
        self._seen: set[str] = set()

    def add(self, message: str) -> None:
        """Record one problem (ignored when already recorded or the log is full)."""
        if len(message) > MAX_DEFECT_LEN:
            message = message[: MAX_DEFECT_LEN - 3] + "..."
        if message in self._seen or len(self._items) >= MAX_DEFECTS:
            return
        self._seen.add(message)
        self._items.append(message)

    @property
    def items(self) -> tuple[str, ...]:
        """The defects in the order they were found."""
        return tuple(self._items)

    def __len__(self) -> int:
        return len(self._items)
