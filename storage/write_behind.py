"""Write-behind: bounds the page cache that appends leave behind them.

Kafka leaves every appended byte in the page cache until memory pressure evicts it.
kpybroker does the same for the newest ``window_bytes`` of each partition (where
tailing consumers read), as long as all partitions together keep at most
``total_bytes`` (the least recently appended data goes first), and for older
appended data it starts the writeback early (``sync_file_range(SYNC_FILE_RANGE_WRITE)``)
and, once it is on disk, drops it from the cache (``posix_fadvise(POSIX_FADV_DONTNEED)``). The kernel then hands the same
pages back to the next appends instead of growing the cache into memory it has not
touched for a while. On virtual machines that return freed memory to the host
(virtio-balloon free page reporting) the first touch of such memory faults in the
host, and writing into it costs several times the copy itself; docs/benchmarks.md
("Where the time goes", section 0) has the measurements.

None of this changes durability: nothing here is an fsync, the recovery point still
moves only with ``Log.flush``, and a crash loses what it lost before. Reads of
dropped ranges go to the disk and are cached again as usual (they are never dropped
by this module a second time). Data written by the log cleaner is not tracked.

The system calls run in one daemon thread fed by a queue, so an append on the event
loop only does bookkeeping. The thread opens each segment by path for every command
instead of sharing the segment's descriptor, which the loop may close (and the
process reuse) at any time; a segment renamed or deleted meanwhile is skipped, which
only costs a missed drop.

For the read side, ``may_wait_for_disk`` tells whether a file range has left the
cache and ``read_into_cache`` brings it back in a worker thread, so that the fetch
path's ``sendfile`` on the event loop never waits for the disk.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import queue
import sys
import threading
from collections import deque
from pathlib import Path
from typing import Any

from storage import queue_threads

log = logging.getLogger(__name__)

_SYNC_FILE_RANGE_WAIT_BEFORE = 1
_SYNC_FILE_RANGE_WRITE = 2
_SYNC_FILE_RANGE_WAIT_AFTER = 4
_WRITE_AND_WAIT = _SYNC_FILE_RANGE_WAIT_BEFORE | _SYNC_FILE_RANGE_WRITE | _SYNC_FILE_RANGE_WAIT_AFTER

# Writeback is started, and drops are queued, once this much has accumulated: a
# command per few MiB keeps the thread's wake-ups rare next to the appends.
_MIN_STEP = 4 << 20

# Appended data is put in the broker-wide order of appends (for ``total_bytes``) in
# pieces of about this size per partition, so the order costs one entry per piece.
_MARK_BYTES = 1 << 20
# The broker-wide queue of pieces is swept of dropped ones at twice its live length
# plus this many (amortized O(1) per piece).
_SWEEP_MIN = 1024

# (drop?, segment file path, start, end): start writeback of the range, or drop it.
_Command = tuple[bool, str | Path, int, int]


@functools.cache
def _libc_sync_file_range() -> Any:
    """libc's ``sync_file_range`` via ctypes, or None where there is none (looked up once)."""
    if not sys.platform.startswith("linux") or not hasattr(os, "posix_fadvise"):
        return None
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


# Fetch side: how cold file slices are found and read back (see may_wait_for_disk).
_RWF_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None)
_PROBE_STRIDE = 128 * 1024
_MAX_PROBES = 9
_WARM_CHUNK = 1 << 20


def may_wait_for_disk(fd: int, position: int, length: int) -> bool:
    """Whether reading ``[position, position + length)`` of ``fd`` could wait for the
    disk: one of a few sampled bytes (its first, its last, and one per 128 KiB
    between, at most nine) is not in the page cache, probed with
    ``preadv(RWF_NOWAIT)``. The ends alone would not do: reading batch headers to
    find where a fetch ends brings both ends back into the cache. False where the
    probe is not available: then nothing can be told."""
    global _RWF_NOWAIT
    flag = _RWF_NOWAIT
    if flag is None or length <= 0:
        return False
    last = position + length - 1
    step = max(_PROBE_STRIDE, length // (_MAX_PROBES - 1))
    probe = [bytearray(1)]
    pos = position
    while True:
        try:
            os.preadv(fd, probe, pos, flag)
        except BlockingIOError:
            return True
        except OSError as e:
            if e.errno in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                _RWF_NOWAIT = None  # this kernel or file system cannot tell
            return False
        if pos >= last:
            return False
        pos = min(pos + step, last)


def read_into_cache(ranges: list[tuple[int, int, int]]) -> None:
    """Read each ``(fd, position, length)`` so that it is in the page cache (run in a
    worker thread before a ``sendfile`` would wait for the disk on the event loop).
    Advisory: a descriptor closed meanwhile is skipped."""
    buf = bytearray(_WARM_CHUNK)
    for fd, position, length in ranges:
        try:
            os.posix_fadvise(fd, position, length, os.POSIX_FADV_WILLNEED)
            end = position + length
            while position < end:
                n = os.preadv(fd, [memoryview(buf)[: min(_WARM_CHUNK, end - position)]], position)
                if n <= 0:
                    break
                position += n
        except OSError:
            continue


def supported() -> bool:
    """Whether this platform has what write-behind needs (Linux)."""
    return _libc_sync_file_range() is not None


class AppendTail:
    """One log's appended ranges still in the page cache, newest last.

    Fed by ``Log`` after each append (``appended``), on the thread that appends; it
    queues commands for its ``WriteBehind`` and never does I/O itself.
    """

    __slots__ = ("_owner", "_ranges", "_cached", "_unstarted", "_unmarked")

    def __init__(self, owner: WriteBehind) -> None:
        self._owner = owner
        # [path, start, end, writeback started up to] per contiguous appended range.
        self._ranges: deque[list[Any]] = deque()
        self._cached = 0
        self._unstarted = 0
        # Appended bytes not yet in the owner's broker-wide order of appends.
        self._unmarked = 0

    @property
    def cached_bytes(self) -> int:
        """Appended bytes not yet dropped from the cache."""
        return self._cached

    def appended(self, path: str | Path, start: int, end: int) -> None:
        """``[start, end)`` of the segment file at ``path`` was just written (pass the
        same object for the same file: ranges are joined by identity)."""
        size = end - start
        if size <= 0:
            return
        ranges = self._ranges
        if ranges and ranges[-1][0] is path and ranges[-1][2] == start:
            ranges[-1][2] = end
        else:
            ranges.append([path, start, end, start])
        self._cached += size
        self._unstarted += size
        owner = self._owner
        owner.cached_total += size
        self._unmarked += size
        if self._unmarked >= _MARK_BYTES:
            owner.mark(self, path, end, self._unmarked)
            self._unmarked = 0
        if self._unstarted >= owner.step:
            self._start_writeback()
        if self._cached >= owner.window_bytes + owner.step:
            self._drop_oldest(self._cached - owner.window_bytes)
        if owner.cached_total >= owner.total_limit:
            owner.evict()

    def holds(self, path: str | Path, start: int, end: int) -> bool:
        """Whether ``[start, end)`` of ``path`` is appended data not dropped yet
        (so still in the page cache, unless memory pressure evicted it)."""
        for r in reversed(self._ranges):
            if r[0] == path and r[1] <= start and end <= r[2]:
                return True
        return False

    def _start_writeback(self) -> None:
        for r in self._ranges:
            if r[3] < r[2]:
                self._owner.submit((False, r[0], r[3], r[2]))
                r[3] = r[2]
        self._unstarted = 0

    def _drop_head(self, take: int) -> None:
        """Drop the first ``take`` bytes of the oldest range (at most all of it)."""
        r = self._ranges[0]
        self._owner.submit((True, r[0], r[1], r[1] + take))
        r[1] += take
        r[3] = max(r[3], r[1])
        self._cached -= take
        self._owner.cached_total -= take
        if r[1] >= r[2]:
            self._ranges.popleft()

    def _drop_oldest(self, nbytes: int) -> None:
        ranges = self._ranges
        while nbytes > 0 and ranges:
            take = min(nbytes, ranges[0][2] - ranges[0][1])
            self._drop_head(take)
            nbytes -= take

    def holds_before(self, path: str | Path, end: int) -> bool:
        """Whether some data appended before ``end`` of ``path`` (a point this tail
        passed earlier) is still held. If not, it was dropped already, with
        everything older, or the log was truncated."""
        return any(r[0] is path and r[1] < end for r in self._ranges)

    def drop_through(self, path: str | Path, end: int) -> None:
        """Drop everything appended up to ``end`` of ``path`` (a point this tail
        passed earlier), if any of it is still held."""
        ranges = self._ranges
        if not self.holds_before(path, end):
            return
        while ranges and ranges[0][0] is not path:
            self._drop_head(ranges[0][2] - ranges[0][1])
        while ranges and ranges[0][0] is path and ranges[0][1] < end:
            self._drop_head(min(end, ranges[0][2]) - ranges[0][1])

    def reset(self) -> None:
        """Forget every range (the log was truncated: positions no longer match)."""
        self._owner.cached_total -= self._cached
        self._ranges.clear()
        self._cached = 0
        self._unstarted = 0
        self._unmarked = 0


class WriteBehind:
    """The write-behind thread and its setting (see the module docstring).

    ``window_bytes``: how much of each log's newest appends stays cached untouched
    (between it and ``window_bytes + step`` do, since drops are queued a step at a time).
    ``total_bytes``: how much all logs together keep cached (-1: no such bound); above
    ``total_bytes + step``, the least recently appended data is dropped first, in
    pieces of about 1 MiB per log (so each log may keep up to that much more).
    Create one per broker, ``start`` it, give each log a ``track()``, ``stop`` it at
    shutdown. Commands submitted before ``start`` or after ``stop`` are ignored.
    """

    def __init__(self, window_bytes: int, *, total_bytes: int = -1, step_bytes: int | None = None) -> None:
        if window_bytes < 0:
            raise ValueError("window_bytes must be >= 0")
        if total_bytes < -1:
            raise ValueError("total_bytes must be >= -1")
        self.window_bytes = window_bytes
        self.total_bytes = total_bytes
        # How much accumulates before writeback starts or a drop is queued.
        self.step = step_bytes if step_bytes is not None else max(_MIN_STEP, window_bytes // 4)
        if self.step <= 0:
            raise ValueError("step_bytes must be > 0")
        # Appended bytes not dropped yet, over every tracked log.
        self.cached_total = 0
        # cached_total at which the oldest appends are dropped (never, without a bound).
        self.total_limit = total_bytes + self.step if total_bytes >= 0 else sys.maxsize
        # (tail, path, end, bytes) per piece of appended data, oldest first.
        self._marks: deque[tuple[AppendTail, str | Path, int, int]] = deque()
        # Length of _marks at which pieces already dropped another way (a log's own
        # window, truncation, deletion) are swept out, so the queue stays bounded
        # by what is cached even when the total is never reached.
        self._sweep_at = _SWEEP_MIN
        self._sync_file_range = _libc_sync_file_range()
        # Commands, an Event to set once reached (``drain``), or None to stop.
        self._queue: queue.SimpleQueue[_Command | threading.Event | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._running = False
        # Figures for tests and diagnostics: commands carried out, bytes dropped.
        self.writebacks_started = 0
        self.bytes_dropped = 0

    @property
    def enabled(self) -> bool:
        return self._sync_file_range is not None

    def track(self) -> AppendTail:
        """Bookkeeping for one more log."""
        return AppendTail(self)

    def mark(self, tail: AppendTail, path: str | Path, end: int, nbytes: int) -> None:
        """``tail`` appended ``nbytes`` more, ending at ``end`` of ``path``."""
        if self.total_bytes < 0:
            return
        marks = self._marks
        marks.append((tail, path, end, nbytes))
        if len(marks) >= self._sweep_at:
            marks = self._marks = deque(m for m in marks if m[0].holds_before(m[1], m[2]))
            self._sweep_at = 2 * len(marks) + _SWEEP_MIN

    def evict(self) -> None:
        """Drop the least recently appended data until all logs together keep at most
        ``total_bytes``, one drop per log and range."""
        marks = self._marks
        excess = self.cached_total - self.total_bytes
        furthest: dict[AppendTail, tuple[str | Path, int]] = {}
        while excess > 0 and marks:
            tail, path, end, nbytes = marks.popleft()
            furthest[tail] = (path, end)
            excess -= nbytes
        for tail, (path, end) in furthest.items():
            tail.drop_through(path, end)

    def start(self) -> None:
        if self._thread is not None or not self.enabled:
            return
        self._running = True
        self._thread = threading.Thread(target=self._run, name="kpybroker-write-behind", daemon=True)
        self._thread.start()

    def submit(self, command: _Command) -> None:
        if self._running:
            self._queue.put(command)

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every command submitted so far is carried out (tests)."""
        return queue_threads.drain(self._queue, self._thread, timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread; commands still queued are skipped (they only save memory)."""
        thread = self._thread
        if thread is None:
            return
        self._running = False
        self._queue.put(None)
        thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        get = self._queue.get
        while True:
            command = get()
            if command is None:
                return
            if isinstance(command, threading.Event):
                command.set()
                continue
            if not self._running:
                continue
            try:
                self._carry_out(*command)
            except Exception:  # noqa: BLE001 - the thread must outlive any one file
                log.exception("write-behind failed for %s", command[1])

    def _carry_out(self, drop: bool, path: str | Path, start: int, end: int) -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return  # renamed for deletion or removed: its pages go with it
        try:
            if drop:
                # Dirty or in-flight pages are not dropped: make the range clean first.
                self._sync_file_range(fd, start, end - start, _WRITE_AND_WAIT)
                os.posix_fadvise(fd, start, end - start, os.POSIX_FADV_DONTNEED)
                self.bytes_dropped += end - start
            else:
                self._sync_file_range(fd, start, end - start, _SYNC_FILE_RANGE_WRITE)
                self.writebacks_started += 1
        finally:
            os.close(fd)
