"""What the storage's queue-fed daemon threads (write-behind, block reservation) share.

Each takes items from a ``queue.SimpleQueue`` in order; a ``threading.Event`` among
them is a marker the thread sets when it gets there, so that a caller can wait for
everything queued before it (tests, and nothing on the event loop).
"""

from __future__ import annotations

import queue
import threading
from typing import Any


def drain(work: queue.SimpleQueue[Any], thread: threading.Thread | None, timeout: float) -> bool:
    """Wait until ``thread`` has carried out every item put on ``work`` before this
    call; False if that took longer than ``timeout`` seconds. True at once when the
    thread was never started."""
    if thread is None:
        return True
    done = threading.Event()
    work.put(done)
    return done.wait(timeout)
