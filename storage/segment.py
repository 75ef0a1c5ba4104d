"""One log segment: a ``.log`` file of record batches plus its two sparse indexes.

Kafka's ``LogSegment``. The ``.log`` file is the batches exactly as received (after
the broker patched base offset and leader epoch), back to back. Every
``index.interval.bytes`` of appended data the segment adds an offset-index entry
(last offset of the batch -> position of the batch) and a time-index entry (largest
timestamp so far -> its offset).
"""

from __future__ import annotations

import logging
import os
import queue
import struct
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import crc32c as _crc32c

from storage import queue_threads
from storage.index import INT32_MAX, CorruptIndexError, OffsetIndex, TimeIndex
from wire.buffers import FileSlice
from wire.records import (
    ATTRIBUTES_OFFSET,
    BATCH_HEADER_SIZE,
    LOG_OVERHEAD,
    MAGIC_OFFSET,
    RecordBatchHeader,
    iter_records,
    parse_header,
)

log = logging.getLogger(__name__)

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
DELETED_SUFFIX = ".deleted"
_SCAN_CHUNK = 8 * 1024 * 1024
_HEADER_CHUNK = 8192
_LENGTH = struct.Struct(">i")
_MIN_BATCH_LENGTH = BATCH_HEADER_SIZE - LOG_OVERHEAD
# Read ends remembered per segment (about one per reader of the segment).
_MAX_REMEMBERED_STARTS = 64


def segment_file_name(base_offset: int, suffix: str) -> str:
    """Kafka's 20-digit zero-padded file name for a segment's file."""
    return f"{base_offset:020d}{suffix}"


# Linux fallocate(2) flag: reserve blocks past the end without changing the size.
_FALLOC_FL_KEEP_SIZE = 0x01
# Blocks are reserved ahead of the active segment's end in steps that grow with the
# segment (so a quiet partition reserves little), up to this much.
_RESERVE_MIN = 1 << 20
_RESERVE_MAX = 16 << 20
_NO_RESERVE = 1 << 62
_fallocate: Any = None


def _libc_fallocate() -> Any:
    """libc's ``fallocate`` via ctypes, or False where there is none (resolved once).

    Appending to blocks the file system has already reserved costs the kernel
    about a third less than letting each ``pwrite`` extend the file (measured on
    ext4: 0.17 against 0.25 system-s/GB). ``os.posix_fallocate`` cannot keep the
    file size, and the ``.log`` must stay exactly as long as its batches.
    """
    global _fallocate
    if _fallocate is None:
        _fallocate = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes
                import ctypes.util

                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
                fn = libc.fallocate
                fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
                fn.restype = ctypes.c_int
                _fallocate = fn
            except (OSError, AttributeError):
                _fallocate = False
    return _fallocate


class _Reserver:
    """The thread that reserves blocks ahead of active segments (``fallocate``).

    Reserving waits on the file system's journal while writeback runs (up to
    14 ms measured under a 1 KiB producer, docs/benchmarks.md 0d), so it is never
    done by the append itself: the append asks, and this thread reserves the next
    step while appends go on. An append that overtakes the reservation simply
    extends the file. Giving the blocks back when a segment rolls (an ``ftruncate``,
    measured up to 290 ms) runs here too, in order behind its reservations. One
    daemon thread for the process, started on first use.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[LogSegment, int] | threading.Event] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, segment: LogSegment, end: int) -> None:
        """Reserve blocks for ``segment`` past ``end``; ``end`` -1: give back what is
        reserved past its end instead (``LogSegment.release_reserved``)."""
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    thread = threading.Thread(target=self._run, name="kpybroker-reserve", daemon=True)
                    thread.start()
                    self._thread = thread
        self._queue.put((segment, end))

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every reservation asked for so far is done (tests)."""
        return queue_threads.drain(self._queue, self._thread, timeout)

    def _run(self) -> None:
        get = self._queue.get
        while True:
            item = get()
            if isinstance(item, threading.Event):
                item.set()
                continue
            segment, end = item
            try:
                if end < 0:
                    segment._release_now()
                else:
                    segment._reserve_now(end)
            except Exception:  # noqa: BLE001 - reserving is an optimisation; the thread must live on
                log.exception("reserving or releasing blocks for %s failed", segment.log_path)


_reserver = _Reserver()


def wait_for_reservations(timeout: float = 10.0) -> bool:
    """Block until the reservations asked for so far are done (for tests)."""
    return _reserver.drain(timeout)


def pwrite_all(fd: int, data: memoryview | bytes, position: int) -> int:
    """Write all of ``data`` at ``position``; returns its length in bytes."""
    view = (
        data if isinstance(data, memoryview) and data.format == "B" else memoryview(data).cast("B")
    )
    size = view.nbytes
    written = os.pwrite(fd, view, position)
    # One call writes everything to a regular file in practice; loop for the rest.
    while written < size:
        written += os.pwrite(fd, view[written:], position + written)
    return size


@dataclass
class ScanResult:
    """Outcome of scanning a segment's bytes: where valid data ends and why it stopped."""

    valid_end: int
    next_offset: int | None
    error: str | None


def scan_batches(
    fd: int,
    start: int,
    end: int,
    *,
    base_offset: int,
    min_offset: int,
    on_batch: Callable[[int, RecordBatchHeader], None],
    verify: bool = True,
) -> ScanResult:
    """Walk the batches stored in ``[start, end)`` of ``fd``, checking each one.

    A batch is accepted when it is complete, has magic 2, a sane length, offsets
    above the previous batch's (and within the segment's relative range), and
    (when ``verify``) a matching CRC-32C. The walk stops at the first batch that is
    not; ``valid_end`` is then where the good data ends. Reads go in large chunks
    so that CRC checking, not system calls, bounds the speed.
    """
    pos = start
    expected = min_offset
    next_offset: int | None = None
    chunk = b""
    chunk_start = start
    view = memoryview(chunk)
    while pos < end:
        rel = pos - chunk_start
        if len(chunk) - rel < BATCH_HEADER_SIZE:
            chunk = os.pread(fd, min(_SCAN_CHUNK, end - pos), pos)
            chunk_start, rel, view = pos, 0, memoryview(chunk)
            if len(chunk) < LOG_OVERHEAD:
                return ScanResult(pos, next_offset, f"truncated batch at position {pos}")
        (length,) = _LENGTH.unpack_from(chunk, rel + 8)
        if length < _MIN_BATCH_LENGTH:
            return ScanResult(pos, next_offset, f"invalid batch length {length} at position {pos}")
        size = length + LOG_OVERHEAD
        if pos + size > end:
            return ScanResult(pos, next_offset, f"truncated batch at position {pos}")
        if len(chunk) - rel < size:
            chunk = os.pread(fd, max(min(_SCAN_CHUNK, end - pos), size), pos)
            chunk_start, rel, view = pos, 0, memoryview(chunk)
            if len(chunk) < size:
                return ScanResult(pos, next_offset, f"truncated batch at position {pos}")
        if chunk[rel + MAGIC_OFFSET] != 2:
            return ScanResult(
                pos, next_offset, f"unsupported magic {chunk[rel + MAGIC_OFFSET]} at position {pos}"
            )
        header = parse_header(chunk, rel)
        if verify and _crc32c.crc32c(view[rel + ATTRIBUTES_OFFSET : rel + size]) != header.crc:
            return ScanResult(pos, next_offset, f"CRC mismatch in batch at position {pos}")
        if (
            header.base_offset < expected
            or header.last_offset_delta < 0
            or header.last_offset - base_offset > INT32_MAX
        ):
            return ScanResult(pos, next_offset, f"offsets out of order or range at position {pos}")
        on_batch(pos, header)
        expected = next_offset = header.next_offset
        pos += size
    return ScanResult(pos, next_offset, None)


class LogSegment:
    """A ``.log`` file with its ``.index`` and ``.timeindex`` (Kafka's LogSegment).

    ``next_offset`` is one past the last offset stored (``base_offset`` when empty);
    ``size`` is the byte length of the ``.log``. Appends must come with increasing
    offsets; the caller (``Log``) checks that.
    """

    def __init__(
        self,
        dir: Path,
        base_offset: int,
        *,
        index_interval_bytes: int,
        max_index_entries: int,
        created_ms: int,
        roll_jitter_ms: int = 0,
    ) -> None:
        self.dir = Path(dir)
        self.base_offset = base_offset
        self.index_interval_bytes = index_interval_bytes
        self.created_ms = created_ms
        self.roll_jitter_ms = roll_jitter_ms
        self.log_path = self.dir / segment_file_name(base_offset, LOG_SUFFIX)
        os.close(os.open(self.log_path, os.O_WRONLY | os.O_CREAT, 0o644))
        # No O_APPEND: writes go to explicit positions with pwrite.
        self.file: BinaryIO = open(self.log_path, "r+b", buffering=0)  # noqa: SIM115 - owned until close()
        self._fd = self.file.fileno()
        self.size = os.fstat(self._fd).st_size
        self.offset_index = OffsetIndex(
            self.dir / segment_file_name(base_offset, INDEX_SUFFIX), base_offset, max_index_entries
        )
        # Kafka sizes both indexes from segment.index.bytes: 8- and 12-byte entries.
        self.time_index = TimeIndex(
            self.dir / segment_file_name(base_offset, TIME_INDEX_SUFFIX),
            base_offset,
            max_index_entries * 8 // 12,
        )
        # Kafka creates both index files with the segment; a missing one later means
        # it was lost and must be rebuilt.
        self.index_files_existed = self.offset_index.path.exists() and self.time_index.path.exists()
        self.offset_index.create()
        self.time_index.create()
        # Index files are reopened on the first append: a log with many segments
        # keeps one descriptor per segment (its .log, for file slices).
        self.close_handlers()
        self.next_offset = base_offset
        self.max_timestamp_so_far = -1
        self.offset_of_max_timestamp_so_far = base_offset
        self.rolling_based_timestamp: int | None = None
        self.bytes_since_last_index_entry = 0
        self.closed = False
        # Where the batch with a given base offset starts, learnt from where reads
        # ended: a consumer's next fetch asks for exactly that offset. Cleared
        # whenever bytes are cut from the file. With the batch's header when the read
        # had it in hand, which spares the next read a header read.
        self._batch_starts: dict[int, tuple[int, RecordBatchHeader | None]] = {}
        # Blocks reserved (without changing the file size) up to here, by the
        # reserving thread; ``_NO_RESERVE`` once reserving is off. An append ending
        # past ``_reserve_at`` asks for the next step (``_NO_RESERVE`` while one is
        # asked for, and once the segment stopped growing). The thread reserves under
        # ``_reserve_lock``; whatever frees reserved blocks or closes the descriptor
        # takes it too, so a late reservation can neither outlive a release nor reach
        # a closed (and perhaps reused) descriptor.
        self._reserved_end = self.size
        self._reserve_at = 0
        self._reserve_stopped = False
        # A rolled segment's reserved blocks are given back by the reserving thread;
        # truncation (which may make the segment active again) cancels that.
        self._release_due = False
        self._reserve_lock = threading.Lock()

    # ------------------------------------------------------------------ loading

    def load_clean(self) -> bool:
        """Load indexes written at a clean shutdown; False if they had to be rebuilt.

        The indexes are checked (ordered, inside the segment) and the tail after the
        last index entry is scanned to find the next offset; anything inconsistent
        means the index is rebuilt from the log.
        """
        try:
            if self.size and not self.index_files_existed:
                raise CorruptIndexError(f"{self.log_path}: index files are missing")
            self.offset_index.load()
            self.time_index.load()
            pos = self.offset_index.last_entry()[1] if len(self.offset_index) else 0
            if pos > self.size:
                raise CorruptIndexError(f"{self.offset_index.path}: position past end of log")
            self.max_timestamp_so_far, self.offset_of_max_timestamp_so_far = (
                self.time_index.last_entry()
            )

            def track_timestamp(_pos: int, header: RecordBatchHeader) -> None:
                if header.max_timestamp > self.max_timestamp_so_far:
                    self.max_timestamp_so_far = header.max_timestamp
                    self.offset_of_max_timestamp_so_far = header.last_offset

            result = scan_batches(
                self._fd,
                pos,
                self.size,
                base_offset=self.base_offset,
                min_offset=self.base_offset,
                on_batch=track_timestamp,
                verify=False,
            )
            if result.error is not None or result.valid_end != self.size:
                raise CorruptIndexError(f"{self.log_path}: {result.error}")
            if result.next_offset is None and self.size:
                raise CorruptIndexError(f"{self.offset_index.path}: no batch after last entry")
            self.next_offset = (
                result.next_offset if result.next_offset is not None else self.base_offset
            )
            self.offset_index.sanity_check(self.next_offset, max(self.size, 1))
            self.time_index.sanity_check(self.next_offset)
            self._load_rolling_timestamp()
            # Continue indexing as Kafka does after a restart: count from the tail.
            self.bytes_since_last_index_entry = self.size - pos
            return True
        except CorruptIndexError:
            self.recover(on_batch=None)
            return False

    def _load_rolling_timestamp(self) -> None:
        if self.size >= BATCH_HEADER_SIZE:
            head = os.pread(self._fd, BATCH_HEADER_SIZE, 0)
            try:
                self.rolling_based_timestamp = parse_header(head).max_timestamp
            except Exception:
                self.rolling_based_timestamp = None

    def recover(self, on_batch: Callable[[int, RecordBatchHeader], None] | None) -> int:
        """Rebuild both indexes from the log, cutting the file at the first bad batch.

        Returns the number of bytes cut off. ``on_batch`` sees every valid batch
        (the log uses it to rebuild the leader-epoch cache and producer state).
        """
        self._batch_starts.clear()
        self.offset_index.reset()
        self.time_index.reset()
        self.max_timestamp_so_far = -1
        self.offset_of_max_timestamp_so_far = self.base_offset
        self.bytes_since_last_index_entry = 0
        self.next_offset = self.base_offset
        self.rolling_based_timestamp = None

        def index_batch(pos: int, header: RecordBatchHeader) -> None:
            self._index_batch(pos, header)
            if on_batch is not None:
                on_batch(pos, header)

        result = scan_batches(
            self._fd,
            0,
            self.size,
            base_offset=self.base_offset,
            min_offset=self.base_offset,
            on_batch=index_batch,
        )
        truncated = self.size - result.valid_end
        if truncated:
            with self._reserve_lock:
                os.ftruncate(self._fd, result.valid_end)
                self.size = result.valid_end
                if self._reserved_end < _NO_RESERVE:
                    self._reserved_end = result.valid_end
        if result.next_offset is not None:
            self.next_offset = result.next_offset
        self._load_rolling_timestamp()
        return truncated

    # ------------------------------------------------------------------ writing

    def _index_batch(self, pos: int, header: RecordBatchHeader) -> None:
        if header.max_timestamp > self.max_timestamp_so_far:
            self.max_timestamp_so_far = header.max_timestamp
            self.offset_of_max_timestamp_so_far = header.last_offset
        if self.bytes_since_last_index_entry > self.index_interval_bytes:
            if not self.offset_index.is_full:
                self.offset_index.append(header.last_offset, pos)
            if not self.time_index.is_full:
                self.time_index.maybe_append(
                    self.max_timestamp_so_far, self.offset_of_max_timestamp_so_far
                )
            self.bytes_since_last_index_entry = 0
        self.bytes_since_last_index_entry += header.size
        self.next_offset = header.next_offset

    def append(
        self, data: memoryview | bytes, batches: list[tuple[int, RecordBatchHeader]]
    ) -> None:
        """Write ``data`` (whole batches, offsets assigned) at the end of the file verbatim.

        ``batches`` are ``(position within data, header)`` for each batch in it.
        """
        start = self.size
        nbytes = data.nbytes if isinstance(data, memoryview) else len(data)
        if start + nbytes > self._reserve_at:
            self._ask_reserve(start + nbytes)
        self.size += pwrite_all(self._fd, data, start)
        if self.rolling_based_timestamp is None and batches:
            self.rolling_based_timestamp = batches[0][1].max_timestamp
        for pos, header in batches:
            self._index_batch(start + pos, header)

    def _ask_reserve(self, end: int) -> None:
        """Have the reserving thread reserve blocks past ``end`` (no I/O here)."""
        if self._reserve_stopped or self._reserved_end >= _NO_RESERVE:
            self._reserve_at = _NO_RESERVE
            return
        if not _libc_fallocate():
            self._reserved_end = self._reserve_at = _NO_RESERVE
            return
        # Asked once: the thread sets the next threshold when it is done.
        self._reserve_at = _NO_RESERVE
        _reserver.submit(self, end)

    def _reserve_now(self, end: int) -> None:
        """Reserve blocks from the current reservation (or size) to a step past
        ``end``; runs in the reserving thread."""
        with self._reserve_lock:
            if self.closed or self._reserve_stopped or self._reserved_end >= _NO_RESERVE:
                return
            size = self.size
            step = min(max(size, _RESERVE_MIN), _RESERVE_MAX)
            start = max(self._reserved_end, size)
            new_end = max(end, size) + step
            if new_end > start:
                if _libc_fallocate()(self._fd, _FALLOC_FL_KEEP_SIZE, start, new_end - start) != 0:
                    # Not supported here, or the disk is full: write without reserving
                    # (a full disk then fails the pwrite itself, with its own error).
                    self._reserved_end = _NO_RESERVE
                    return
                self._reserved_end = new_end
            # Ask for the next step half a step before this one runs out.
            self._reserve_at = self._reserved_end - step // 2

    def release_reserved(self, *, wait: bool = True) -> None:
        """Give back blocks reserved past the end (when the segment stops growing).

        Truncating to the current size frees them (punching a hole past the end
        does not, on ext4); only done when something was reserved, since it also
        touches the file's modification time. No reservation follows: one already
        running is waited for (the lock), one still queued finds the segment
        stopped. ``wait=False`` (a roll, on the event loop) leaves the truncation to
        the reserving thread, since it can wait on the journal for a long time.
        """
        self._reserve_stopped = True
        self._reserve_at = _NO_RESERVE
        if not wait and self._reserved_end < _NO_RESERVE:
            # Queued behind any reservation of this segment still running, which may
            # yet reserve more: the thread decides what to give back once it is done.
            self._release_due = True
            _reserver.submit(self, -1)
            return
        with self._reserve_lock:
            self._release_due = False
            self._truncate_reserved()

    def _release_now(self) -> None:
        """The reserving thread's part of ``release_reserved(wait=False)``."""
        with self._reserve_lock:
            if self._release_due:
                self._release_due = False
                self._truncate_reserved()

    def _truncate_reserved(self) -> None:
        # Under ``_reserve_lock``; the segment takes no appends (it stopped growing,
        # or a truncation cancelled the release before making it active again).
        if self.size < self._reserved_end < _NO_RESERVE and not self.closed:
            os.ftruncate(self._fd, self.size)
        if self._reserved_end < _NO_RESERVE:
            self._reserved_end = self.size

    def can_convert_to_relative_offset(self, offset: int) -> bool:
        return 0 <= offset - self.base_offset <= INT32_MAX

    def should_roll(
        self,
        *,
        messages_size: int,
        max_timestamp_in_messages: int,
        max_offset_in_messages: int,
        now_ms: int,
        segment_bytes: int,
        max_segment_ms: int,
    ) -> bool:
        """Kafka's ``shouldRoll``: size, age, full indexes or offsets out of relative range."""
        return (
            self.full_for(messages_size, segment_bytes)
            or self.aged(max_timestamp_in_messages, now_ms, max_segment_ms)
            or not self.can_convert_to_relative_offset(max_offset_in_messages)
        )

    def aged(self, max_timestamp_in_messages: int, now_ms: int, max_segment_ms: int) -> bool:
        """The age reason of ``should_roll``: a non-empty segment whose first batch's
        timestamp (its creation time when batches carry none) lies more than
        ``max_segment_ms`` less this segment's jitter before the appended batches'."""
        if self.size <= 0:
            return False
        if self.rolling_based_timestamp is not None and self.rolling_based_timestamp >= 0:
            waited = max_timestamp_in_messages - self.rolling_based_timestamp
        else:
            waited = now_ms - self.created_ms
        return waited > max_segment_ms - self.roll_jitter_ms

    def full_for(self, messages_size: int, segment_bytes: int) -> bool:
        """The reasons of ``should_roll`` that need nothing of the batch but its size:
        ``messages_size`` more bytes would pass ``segment_bytes``, or an index is full."""
        return (
            (self.size > 0 and self.size > segment_bytes - messages_size)
            or self.offset_index.is_full
            or self.time_index.is_full
        )

    def on_become_inactive(self, *, wait: bool = True) -> None:
        """When the segment stops being active: give back its reserved blocks
        (``wait=False``: in the reserving thread) and record its final max timestamp."""
        self.release_reserved(wait=wait)
        if self.max_timestamp_so_far >= 0:
            self.time_index.maybe_append(
                self.max_timestamp_so_far, self.offset_of_max_timestamp_so_far, skip_full_check=True
            )

    def flush(self) -> None:
        os.fsync(self._fd)
        self.offset_index.flush()
        self.time_index.flush()

    # ------------------------------------------------------------------ reading

    def read_header(self, position: int) -> RecordBatchHeader | None:
        """The header of the batch at ``position`` or None at/after the end."""
        if position + BATCH_HEADER_SIZE > self.size:
            return None
        return parse_header(os.pread(self._fd, BATCH_HEADER_SIZE, position))

    def iter_headers(self, position: int = 0) -> Iterator[tuple[int, RecordBatchHeader]]:
        """Batch headers from ``position`` on (positions must be batch starts).

        Reads 8 KiB at a time, so runs of small batches cost one system call per
        many headers; a large batch costs one read of its first 8 KiB.
        """
        chunk = b""
        chunk_start = position
        size = self.size
        while position + BATCH_HEADER_SIZE <= size:
            rel = position - chunk_start
            if rel < 0 or len(chunk) - rel < BATCH_HEADER_SIZE:
                chunk = os.pread(self._fd, _HEADER_CHUNK, position)
                chunk_start, rel = position, 0
                if len(chunk) < BATCH_HEADER_SIZE:
                    return
            header = parse_header(chunk, rel)
            yield position, header
            position += header.size

    def translate_offset(
        self, offset: int, start_position: int = 0
    ) -> tuple[int, RecordBatchHeader] | None:
        """The first batch whose last offset is >= ``offset`` (Kafka's translateOffset)."""
        known = self._batch_starts.get(offset)
        if known is not None and known[0] >= start_position:
            # Every batch before ``known`` ends below ``offset``: the batch there is it.
            position, header = known
            if header is None:
                header = self.read_header(position)
            if header is not None and header.base_offset + header.last_offset_delta >= offset:
                return position, header
        _, pos = self.offset_index.lookup(offset)
        pos = max(pos, start_position)
        for position, header in self.iter_headers(pos):
            if header.last_offset >= offset:
                return position, header
        return None

    def read(
        self, start_offset: int, max_size: int, max_offset: int, min_one_message: bool
    ) -> tuple[FileSlice, int] | None:
        """A slice of whole batches starting with the one holding ``start_offset``.

        Includes batches while their last offset is below ``max_offset`` and the
        total stays within ``max_size``; the first batch is returned whole even if
        larger, when ``min_one_message``. Returns ``(slice, first batch base offset)``
        or None when there is nothing to return.

        Both ends come from the sparse index rather than from walking every batch
        header in between: the ``max_offset`` end is where the first batch at or
        past it starts, the size end the last batch boundary within ``max_size``,
        found from the index entry just below it (a few headers at most).
        """
        found = self.translate_offset(start_offset)
        if found is None:
            return None
        start, first = found
        if first.base_offset + first.last_offset_delta >= max_offset:
            return None
        first_size = first.batch_length + LOG_OVERHEAD
        first_end = start + first_size
        # ``next_base``: the offset the batch at ``end`` starts with (or will start
        # with, at the end of the file), remembered for the reader's next fetch with
        # that batch's header (``next_header``) when it was read here.
        next_header: RecordBatchHeader | None = None
        if first_size > max_size:
            if not min_one_message:
                return None
            end = first_end
            next_base = first.base_offset + first.last_offset_delta + 1
        else:
            if max_offset >= self.next_offset:
                end = self.size
                next_base = self.next_offset
            else:
                bound = self.translate_offset(max_offset, first_end)
                if bound is not None:
                    end, next_header = bound
                    next_base = next_header.base_offset
                else:
                    end, next_base = self.size, self.next_offset
            limit = start + max_size
            if end > limit:
                # The last batch boundary at or below ``limit``: whole batches only.
                end = max(self.offset_index.floor_position(limit), first_end)
                next_base = -1
                next_header = None
                for position, header in self.iter_headers(end):
                    stop = position + header.batch_length + LOG_OVERHEAD
                    if stop > limit:
                        # The walk starts at ``end`` and moves it batch by batch: the
                        # batch that does not fit starts exactly there.
                        next_base = header.base_offset
                        next_header = header
                        break
                    end = stop
                if next_base < 0:
                    next_base = self.next_offset if end == self.size else -1
        if next_base >= 0:
            starts = self._batch_starts
            if len(starts) >= _MAX_REMEMBERED_STARTS:
                starts.clear()
            starts[next_base] = (end, next_header)
        return FileSlice(self.file, start, end - start), first.base_offset

    def find_offset_by_timestamp(
        self, timestamp: int, start_offset: int
    ) -> tuple[int, int, int] | None:
        """First record with timestamp >= ``timestamp`` at or after ``start_offset``.

        Returns ``(offset, timestamp, partition_leader_epoch)`` or None.
        """
        _, index_offset = self.time_index.lookup(timestamp)
        _, pos = self.offset_index.lookup(max(index_offset, start_offset))
        for position, header in self.iter_headers(pos):
            if header.max_timestamp >= timestamp and header.last_offset >= start_offset:
                data = os.pread(self._fd, header.size, position)
                for record in iter_records(data, 0, header):
                    if record.timestamp >= timestamp and record.offset >= start_offset:
                        return record.offset, record.timestamp, header.partition_leader_epoch
        return None

    # ------------------------------------------------------------------ truncation and files

    def truncate_to(self, offset: int) -> int:
        """Remove every batch whose last offset is >= ``offset``; returns bytes removed.

        The segment may take appends again afterwards (a log truncated back into it),
        so a release of its reserved blocks still queued is cancelled, and reserving
        starts again."""
        with self._reserve_lock:
            self._release_due = False
            self._reserve_stopped = False
            if self._reserved_end < _NO_RESERVE:
                self._reserve_at = 0
        found = self.translate_offset(offset)
        if found is None:
            return 0
        position, _ = found
        self._batch_starts.clear()
        removed = self.size - position
        self.offset_index.truncate_to(offset)
        self.time_index.truncate_to(offset)
        with self._reserve_lock:
            os.ftruncate(self._fd, position)
            self.size = position
            # ftruncate freed every block past the new end, reserved ones included.
            if self._reserved_end < _NO_RESERVE:
                self._reserved_end = position
                self._reserve_at = min(self._reserve_at, position)
        # Re-derive the timestamp bookkeeping from what survives: the time index up
        # to its last entry, then the few batches after the last offset-index entry.
        self.max_timestamp_so_far, self.offset_of_max_timestamp_so_far = (
            self.time_index.last_entry()
        )
        tail = self.offset_index.last_entry()[1] if len(self.offset_index) else 0
        self.next_offset = self.base_offset
        for _pos, header in self.iter_headers(tail):
            self.next_offset = header.next_offset
            if header.max_timestamp > self.max_timestamp_so_far:
                self.max_timestamp_so_far = header.max_timestamp
                self.offset_of_max_timestamp_so_far = header.last_offset
        self.bytes_since_last_index_entry = self.size - tail
        if self.size == 0:
            self.rolling_based_timestamp = None
        return removed

    def largest_timestamp(self) -> int:
        """Kafka's ``largestTimestamp``: newest record timestamp, else the file's mtime."""
        if self.max_timestamp_so_far >= 0:
            return self.max_timestamp_so_far
        return int(os.fstat(self._fd).st_mtime * 1000)

    def close(self) -> None:
        if self.closed:
            return
        self.on_become_inactive()
        self.close_files()

    def close_files(self) -> None:
        """Close every descriptor without writing anything (``close`` first records
        the final time-index entry; a renamed or deleted segment needs none)."""
        if self.closed:
            return
        self.close_handlers()
        # Not while the reserving thread uses the descriptor.
        with self._reserve_lock:
            self.file.close()
            self.closed = True

    def close_handlers(self) -> None:
        """Close the index files but keep the ``.log`` open for slices still in flight."""
        self.offset_index.close()
        self.time_index.close()

    def rename_to_deleted(self) -> None:
        """Kafka's async delete, step one: ``.log`` -> ``.log.deleted`` (and the indexes)."""
        self.close_handlers()
        for path in (self.log_path, self.offset_index.path, self.time_index.path):
            if path.exists():
                os.replace(path, path.with_name(path.name + DELETED_SUFFIX))

    def delete_files(self) -> None:
        """Close and remove every file of the segment (also the ``.deleted`` forms)."""
        self.close_files()
        for path in (self.log_path, self.offset_index.path, self.time_index.path):
            for p in (path, path.with_name(path.name + DELETED_SUFFIX)):
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass

    def __repr__(self) -> str:
        return f"LogSegment(base_offset={self.base_offset}, size={self.size}, next_offset={self.next_offset})"
