"""The shift grid: where calendar time becomes shift numbers and back."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from scheduler.roundfile.contract import RoundInfo

Span = tuple[int, int]


class Grid:
    """Shift `k` is `[start + k·step, start + (k+1)·step)` for `k < count`."""

    def __init__(self, info: RoundInfo) -> None:
        self.start = info.start
        self.step = timedelta(hours=info.shift_hours)
        self.count = max(0, (info.end - info.start) // self.step)

    def time(self, shift: int) -> datetime:
        return self.start + shift * self.step

    def covering(self, start: datetime, end: datetime) -> Span | None:
        """The shifts that overlap `[start, end)`, clipped to the grid; None when none do."""
        first = max(0, (start - self.start) // self.step)
        stop = min(self.count, -((self.start - end) // self.step))
        return (first, stop) if first < stop else None

    def first_starting_at_or_after(self, moment: datetime) -> int:
        return max(0, -((self.start - moment) // self.step))

    def last_ending_by(self, moment: datetime) -> int:
        """The end (exclusive shift number) of the latest block that finishes by `moment`."""
        return min(self.count, max(0, (moment - self.start) // self.step))


def merge(spans: Iterable[Span]) -> tuple[Span, ...]:
    """Sorted, non-overlapping, non-touching runs covering the same shifts."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((start, end) for start, end in merged)
