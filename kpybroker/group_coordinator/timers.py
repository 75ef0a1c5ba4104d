"""Keyed one-shot timers on trio's clock, for session, join, sync and retention deadlines.

Kafka keeps these in purgatories; one heap and one background task do here. Setting a
timer under a key replaces the earlier one, which is how a heartbeat "completes" the
previous session deadline.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Hashable

import trio


def monotonic_ms() -> float:
    """Milliseconds on trio's clock (so tests with a mock clock run instantly)."""
    return trio.current_time() * 1000.0


class TimerQueue:
    """Deadlines keyed by any hashable; `run` fires each callback once, synchronously."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Hashable]] = []
        self._live: dict[Hashable, tuple[int, Callable[[], None]]] = {}
        self._seq = itertools.count()
        self._wakeup = trio.Event()

    def schedule(self, key: Hashable, delay_ms: float, callback: Callable[[], None]) -> float:
        """Fire `callback` after `delay_ms` unless rescheduled or cancelled first; returns the deadline."""
        deadline = monotonic_ms() + max(delay_ms, 0)
        seq = next(self._seq)
        self._live[key] = (seq, callback)
        heapq.heappush(self._heap, (deadline, seq, key))
        if self._heap[0][1] == seq:
            self._wakeup.set()
        return deadline

    def cancel(self, key: Hashable) -> None:
        self._live.pop(key, None)

    def is_scheduled(self, key: Hashable) -> bool:
        return key in self._live

    def __len__(self) -> int:
        return len(self._live)

    def fire_due(self) -> int:
        """Run every callback whose deadline has passed; returns how many ran."""
        fired = 0
        now = monotonic_ms()
        while self._heap and self._heap[0][0] <= now:
            _, seq, key = heapq.heappop(self._heap)
            live = self._live.get(key)
            if live is None or live[0] != seq:
                continue  # replaced or cancelled since
            del self._live[key]
            live[1]()
            fired += 1
        return fired

    def _next_deadline(self) -> float:
        while self._heap:
            _, seq, key = self._heap[0]
            live = self._live.get(key)
            if live is not None and live[0] == seq:
                return self._heap[0][0]
            heapq.heappop(self._heap)
        return math.inf

    async def run(self) -> None:
        while True:
            self.fire_due()
            self._wakeup = trio.Event()
            wait_ms = self._next_deadline() - monotonic_ms()
            if wait_ms <= 0:
                await trio.lowlevel.checkpoint()
                continue
            with trio.move_on_after(wait_ms / 1000.0 if wait_ms != math.inf else math.inf):
                await self._wakeup.wait()
