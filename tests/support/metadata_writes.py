"""Holding the metadata store's file writes, for tests of the broker's deferred saves."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def held_metadata_writes(store: Any, timeout: float) -> Iterator[tuple[threading.Event, list[tuple[int, bytes]]]]:
    """Make ``store.write`` record ``(thread ident, data)`` and wait for the yielded
    event before writing. The wait is bounded by ``timeout`` seconds, so a write made
    on the event loop fails a test instead of hanging it. Released and restored on exit."""
    real_write = store.write
    release = threading.Event()
    writes: list[tuple[int, bytes]] = []

    def held_write(data: bytes) -> None:
        writes.append((threading.get_ident(), data))
        release.wait(timeout)
        real_write(data)

    store.write = held_write
    try:
        yield release, writes
    finally:
        release.set()
        store.write = real_write
