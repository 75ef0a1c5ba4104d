"""Log compaction for topics with ``cleanup.policy`` containing ``compact``.

Kafka's ``LogCleaner`` / ``Cleaner`` / ``LogCleanerManager`` / ``SkimpyOffsetMap``.

Theory of operation
-------------------
Each compacted log is split at two offsets. Below the *first dirty offset* (kept
per partition in the log dir's ``cleaner-offset-checkpoint``) the log has been
cleaned before; from there up to the *first uncleanable offset* it is dirty and
may be cleaned now. The uncleanable part starts at the lowest of the active
segment's base offset, the last stable offset (nothing undecided or above the high
watermark is touched) and the first segment younger than ``min.compaction.lag.ms``.
A log is picked when its dirty bytes exceed ``min.cleanable.dirty.ratio`` of the
log, or when its oldest dirty batch is older than ``max.compaction.lag.ms``.

One round over a log:

1. Build a map from key (its MD5 digest, as Kafka) to the latest offset holding
   it, over the dirty section. The map is bounded
   (``log.cleaner.dedupe.buffer.size`` / 24 bytes per entry, 90 % load): when it
   fills, the round ends where the map ends and the rest waits for the next round.
2. Rewrite every segment from the start of the log up to where the map ends,
   grouped so that a group fits in ``segment.bytes``, into ``<base>.log.cleaned``
   (plus ``.index``, ``.timeindex``, ``.txnindex``) keeping a record only when its
   offset is the latest for its key (or lies past the map). Offsets are kept, so
   cleaned batches have gaps; a rebuilt batch keeps its base offset, last offset
   delta, producer fields, leader epoch and codec.
3. Swap each group in (``Log.replace_segments``): ``.cleaned`` -> ``.swap``, the old
   segments -> ``.deleted``, ``.swap`` -> final names. A crash at any step is
   repaired when the log is loaded (``complete_interrupted_swaps``).

Tombstones (null values) and transaction markers are kept until
``delete.retention.ms`` after the round that first found them removable: that
round writes the delete horizon into the batch's base timestamp and sets the
attribute bit 0x40, as Kafka 3.x does for v2 batches. Records of aborted
transactions are dropped; an abort marker stays while any batch of its
transaction is still in the log. The last batch of each producer that still has
state is kept even when emptied of records, so the producer's sequence and epoch
survive a reload; so is the last batch of the round, so that the log end of the
cleaned range is not lost.

The work is split so a broker can keep its event loop free: ``plan`` and
``Log.replace_segments`` read and change the ``Log`` (run them where appends run),
``prepare`` only reads the old segment files (opened by name, one at a time) and
writes the new ones (run it in a worker thread). Whatever changed the log
meanwhile (retention, truncation, deletion) makes the swap refuse, or the read
fail, and the round is given up and retried in the next pass.
``LogCleaner.clean_logs`` strings the phases together given a ``run_in_loop``
callable.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import struct
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, MutableSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import crc32c as _crc32c

from storage.checkpoints import CorruptCheckpointError, OffsetCheckpointFile, fsync_dir
from storage.index import INT32_MAX
from storage.segment import DELETED_SUFFIX, LogSegment, scan_batches, segment_file_name
from storage.transaction_index import AbortedTxn, TransactionIndex
from wire import compression as _compression
from wire.records import (
    ATTRIBUTES_OFFSET,
    BATCH_HEADER_SIZE,
    CONTROL_ABORT,
    CONTROL_COMMIT,
    CRC_OFFSET,
    LOG_OVERHEAD,
    ControlRecord,
    Record,
    RecordBatchHeader,
    encode_record,
    iter_records,
    parse_header,
)

if TYPE_CHECKING:
    from storage.log import Log

log = logging.getLogger(__name__)

CLEANER_CHECKPOINT = "cleaner-offset-checkpoint"
CLEANED_SUFFIX = ".cleaned"
SWAP_SUFFIX = ".swap"
DELETE_HORIZON_FLAG = 0x40
_CONTROL_FLAG = 0x20
_TRANSACTIONAL_FLAG = 0x10
_TIMESTAMP_TYPE_FLAG = 0x08
_HEADER = struct.Struct(">qiibIhiqqqhii")
_UINT32 = struct.Struct(">I")
_OFFSET_ENTRY = struct.Struct(">ii")
_TIME_ENTRY = struct.Struct(">qi")
_READ_CHUNK = 1024 * 1024
_HASH_SIZE = 16  # MD5, Kafka's log.cleaner hash algorithm
_SEGMENT_FILE = re.compile(r"^(\d{20})\.(log|index|timeindex|txnindex)\.swap$")


# ====================================================================== configuration


@dataclass(frozen=True)
class CleanerConfig:
    """Broker-level cleaner settings (Kafka's ``CleanerConfig``), by Kafka's names."""

    enable_cleaner: bool = True  # log.cleaner.enable
    dedupe_buffer_size: int = 128 * 1024 * 1024  # log.cleaner.dedupe.buffer.size
    dedupe_buffer_load_factor: float = 0.9  # log.cleaner.io.buffer.load.factor
    backoff_ms: int = 15_000  # log.cleaner.backoff.ms
    num_threads: int = 1  # log.cleaner.threads: the buffer is shared between them

    @property
    def max_map_entries(self) -> int:
        """How many keys one round may map (Kafka's ``maxDesiredMapSize``)."""
        slots = self.dedupe_buffer_size // max(1, self.num_threads) // (_HASH_SIZE + 8)
        return int(slots * self.dedupe_buffer_load_factor)


class OffsetMap:
    """Key digest -> latest offset, bounded like Kafka's ``SkimpyOffsetMap``.

    Keys are stored as their MD5 digest, so memory per entry does not depend on
    the key size (and, as in Kafka, two keys with the same digest would collide).
    """

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError(
                "offset map is too small to hold a single key: raise log.cleaner.dedupe.buffer.size"
            )
        self.max_entries = max_entries
        self._map: dict[bytes, int] = {}
        self.latest_offset = -1

    @staticmethod
    def digest(key: bytes) -> bytes:
        return hashlib.md5(key, usedforsecurity=False).digest()

    def put(self, key: bytes, offset: int) -> None:
        self._map[self.digest(key)] = offset
        self.latest_offset = offset

    def get(self, key: bytes) -> int:
        """The latest offset mapped for ``key``, or -1."""
        return self._map.get(self.digest(key), -1)

    def update_latest_offset(self, offset: int) -> None:
        self.latest_offset = offset

    @property
    def full(self) -> bool:
        return len(self._map) >= self.max_entries

    def __len__(self) -> int:
        return len(self._map)

    def clear(self) -> None:
        self._map.clear()
        self.latest_offset = -1


# ====================================================================== choosing logs


@dataclass
class LogToClean:
    """A compacted log with its dirty section (Kafka's ``LogToClean``)."""

    log: Log
    first_dirty_offset: int
    first_uncleanable_offset: int
    clean_bytes: int
    cleanable_bytes: int
    needs_compaction_now: bool = False

    @property
    def total_bytes(self) -> int:
        return self.clean_bytes + self.cleanable_bytes

    @property
    def cleanable_ratio(self) -> float:
        total = self.total_bytes
        return self.cleanable_bytes / total if total else 0.0


def _segments_between(segments: list[LogSegment], start: int, end: int) -> list[LogSegment]:
    """Segments holding offsets in ``[start, end)`` (Kafka's ``logSegments(from, to)``)."""
    if start >= end or not segments:
        return []
    bases = [s.base_offset for s in segments]
    i = max(0, bisect_right(bases, start) - 1)
    return [s for s in segments[i:] if s.base_offset < end]


def _first_batch_timestamp(segment: LogSegment) -> int:
    header = segment.read_header(0)
    return header.max_timestamp if header is not None else -1


def log_to_clean(log_: Log, checkpoint: int | None, now_ms: int) -> LogToClean:
    """Where the dirty section of ``log_`` starts and ends (``LogCleanerManager.cleanableOffsets``)."""
    config = log_.config
    log_start = log_.log_start_offset
    if checkpoint is None or checkpoint < log_start or checkpoint > log_.log_end_offset:
        # Kafka resets a checkpoint outside the log (after truncation or DeleteRecords)
        # to the log start offset.
        first_dirty = log_start
    else:
        first_dirty = checkpoint
    segments = list(log_.segments)
    active = segments[-1]
    candidates = [log_.last_stable_offset, active.base_offset]
    dirty_non_active = _segments_between(segments, first_dirty, active.base_offset)
    if config.min_compaction_lag_ms > 0:
        for seg in dirty_non_active:
            if seg.largest_timestamp() > now_ms - config.min_compaction_lag_ms:
                candidates.append(seg.base_offset)
                break
    first_uncleanable = max(first_dirty, min(candidates))
    needs_now = False
    if config.max_compaction_lag_ms < 2**63 - 1:
        stamps = [t for t in (_first_batch_timestamp(s) for s in dirty_non_active) if t > 0]
        if stamps and min(stamps) < now_ms - max(config.max_compaction_lag_ms, 0):
            needs_now = True
    clean_bytes = sum(s.size for s in _segments_between(segments, -1, first_dirty))
    cleanable_bytes = sum(
        s.size for s in _segments_between(segments, first_dirty, first_uncleanable)
    )
    return LogToClean(log_, first_dirty, first_uncleanable, clean_bytes, cleanable_bytes, needs_now)


def is_cleanable(to_clean: LogToClean) -> bool:
    """Kafka's selection rule: dirty enough, or overdue by ``max.compaction.lag.ms``."""
    if not to_clean.log.config.compact or to_clean.cleanable_bytes <= 0:
        return False
    return (
        to_clean.needs_compaction_now
        or to_clean.cleanable_ratio > to_clean.log.config.min_cleanable_dirty_ratio
    )


# ====================================================================== transactions


class _AbortedTxnState:
    __slots__ = ("aborted", "last_observed_batch_offset")

    def __init__(self, aborted: AbortedTxn) -> None:
        self.aborted = aborted
        self.last_observed_batch_offset: int | None = None


class CleanedTransactionMetadata:
    """Which transactions the cleaner is inside of while it walks the log in order.

    Kafka's ``CleanedTransactionMetadata``: aborted transactions come from the
    transaction indexes; a batch is discardable when it belongs to an aborted
    transaction; a marker is discardable once no batch of its transaction was
    seen in this walk (so nothing of the transaction remains in the log).
    """

    def __init__(self) -> None:
        self._pending: list[AbortedTxn] = []
        self._ongoing_committed: set[int] = set()
        self._ongoing_aborted: dict[int, _AbortedTxnState] = {}
        self.cleaned_index: list[AbortedTxn] | None = None

    def add_aborted_transactions(self, txns: Iterable[AbortedTxn]) -> None:
        self._pending.extend(txns)
        self._pending.sort(key=lambda t: t.first_offset)

    def _consume_up_to(self, offset: int) -> None:
        while self._pending and self._pending[0].first_offset <= offset:
            txn = self._pending.pop(0)
            self._ongoing_aborted.setdefault(txn.producer_id, _AbortedTxnState(txn))

    def on_control_batch_read(
        self, header: RecordBatchHeader, marker: ControlRecord | None
    ) -> bool:
        """True if the marker may be discarded."""
        self._consume_up_to(header.last_offset)
        if marker is None:
            return True
        pid = header.producer_id
        if marker.type == CONTROL_ABORT:
            state = self._ongoing_aborted.pop(pid, None)
            if state is not None and state.last_observed_batch_offset is not None:
                # Records of the transaction are still in the log: the marker and its
                # index entry must stay so read_committed readers drop them.
                if self.cleaned_index is not None:
                    self.cleaned_index.append(state.aborted)
                return False
            return True
        if marker.type == CONTROL_COMMIT:
            if pid in self._ongoing_committed:
                self._ongoing_committed.discard(pid)
                return False
            return True
        return False

    def on_batch_read(self, header: RecordBatchHeader) -> bool:
        """True if the data batch belongs to an aborted transaction."""
        self._consume_up_to(header.last_offset)
        if not header.is_transactional:
            return False
        state = self._ongoing_aborted.get(header.producer_id)
        if state is not None:
            state.last_observed_batch_offset = header.last_offset
            return True
        self._ongoing_committed.add(header.producer_id)
        return False


# ====================================================================== reading


def iter_file_batches(fd: int, start: int, end: int) -> Iterator[tuple[RecordBatchHeader, bytes]]:
    """Whole batches stored in ``[start, end)`` of ``fd`` (header, bytes), read by pread."""
    pos = start
    chunk = b""
    chunk_start = start
    while pos < end:
        rel = pos - chunk_start
        if len(chunk) - rel < BATCH_HEADER_SIZE:
            chunk = os.pread(fd, min(_READ_CHUNK, end - pos), pos)
            chunk_start, rel = pos, 0
            if len(chunk) < BATCH_HEADER_SIZE:
                return
        header = parse_header(chunk, rel)
        size = header.size
        if pos + size > end:
            return
        if len(chunk) - rel < size:
            chunk = os.pread(fd, max(min(_READ_CHUNK, end - pos), size), pos)
            chunk_start, rel = pos, 0
            if len(chunk) < size:
                return
        yield header, chunk[rel : rel + size]
        pos += size


def _control_record(header: RecordBatchHeader, data: bytes) -> ControlRecord | None:
    for record in iter_records(data, 0, header):
        try:
            return ControlRecord.from_record(record)
        except Exception:  # noqa: BLE001 - an unparsable marker is treated as empty, as Kafka
            return None
    return None


# ====================================================================== writing batches


def rebuild_batch(
    header: RecordBatchHeader, records: list[Record], *, delete_horizon_ms: int | None
) -> bytes:
    """A batch holding only ``records`` of the original, at their original offsets.

    Base offset, last offset delta (so the producer's last sequence stays right),
    producer fields, leader epoch, timestamp type and codec are the original's.
    With ``delete_horizon_ms`` the base timestamp holds it and the attribute bit is
    set (Kafka's ``deleteHorizonMs``); record timestamps stay what they were.
    An empty ``records`` gives Kafka's empty header (kept for producer state).
    """
    if not records:
        attributes = header.attributes & (
            _TIMESTAMP_TYPE_FLAG | _TRANSACTIONAL_FLAG | _CONTROL_FLAG
        )
        return _assemble(
            b"",
            header,
            attributes=attributes,
            base_timestamp=header.max_timestamp,
            max_timestamp=header.max_timestamp,
            count=0,
        )
    log_append = header.attributes & _TIMESTAMP_TYPE_FLAG
    # Record timestamps as written by the producer (for LogAppendTime the batch max
    # timestamp is what readers see; the stored deltas are kept all the same).
    # (With a delete horizon already set the deltas are relative to it: same sum.)
    originals = [header.base_timestamp + r.timestamp_delta for r in records]
    if delete_horizon_ms is not None:
        base_ts = delete_horizon_ms
    elif header.has_delete_horizon:
        base_ts = header.base_timestamp
    else:
        base_ts = originals[0]
    section = bytearray()
    for record, ts in zip(records, originals, strict=True):
        encode_record(
            section,
            record.offset_delta,
            ts - base_ts,
            record.key,
            record.value,
            record.headers,
            attributes=record.attributes,
        )
    codec = header.compression
    payload = bytes(section) if codec == 0 else _compression.compress(codec, bytes(section))
    attributes = header.attributes & ~DELETE_HORIZON_FLAG
    if delete_horizon_ms is not None or header.has_delete_horizon:
        attributes |= DELETE_HORIZON_FLAG
    max_ts = header.max_timestamp if log_append else max(originals)
    return _assemble(
        payload,
        header,
        attributes=attributes,
        base_timestamp=base_ts,
        max_timestamp=max_ts,
        count=len(records),
    )


def _assemble(
    payload: bytes,
    header: RecordBatchHeader,
    *,
    attributes: int,
    base_timestamp: int,
    max_timestamp: int,
    count: int,
) -> bytes:
    out = bytearray(BATCH_HEADER_SIZE + len(payload))
    _HEADER.pack_into(
        out,
        0,
        header.base_offset,
        len(out) - LOG_OVERHEAD,
        header.partition_leader_epoch,
        2,
        0,
        attributes,
        header.last_offset_delta,
        base_timestamp,
        max_timestamp,
        header.producer_id,
        header.producer_epoch,
        header.base_sequence,
        count,
    )
    out[BATCH_HEADER_SIZE:] = payload
    _UINT32.pack_into(out, CRC_OFFSET, _crc32c.crc32c(memoryview(out)[ATTRIBUTES_OFFSET:]))
    return bytes(out)


class _CleanedSegmentWriter:
    """Writes ``<base>.log.cleaned`` and its indexes, the way ``LogSegment`` indexes appends."""

    def __init__(
        self, dir: Path, base_offset: int, index_interval_bytes: int, max_index_entries: int
    ) -> None:
        self.dir = dir
        self.base_offset = base_offset
        self.index_interval_bytes = index_interval_bytes
        self.max_index_entries = max(1, max_index_entries)
        self.paths = {
            suffix: dir / (segment_file_name(base_offset, suffix) + CLEANED_SUFFIX)
            for suffix in (".log", ".index", ".timeindex", ".txnindex")
        }
        self._fd = os.open(self.paths[".log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self.size = 0
        self._offset_entries = bytearray()
        self._time_entries = bytearray()
        self._offset_count = 0
        self._last_time_entry: tuple[int, int] | None = None
        self._bytes_since_entry = 0
        self.max_timestamp = -1
        self.offset_of_max_timestamp = base_offset
        self.aborted: list[AbortedTxn] = []

    def _time_entry(self, timestamp: int, offset: int) -> None:
        last = self._last_time_entry
        if last is not None and (timestamp <= last[0] or offset < last[1]):
            return
        if len(self._time_entries) // _TIME_ENTRY.size >= self.max_index_entries * 8 // 12:
            return
        self._time_entries += _TIME_ENTRY.pack(timestamp, offset - self.base_offset)
        self._last_time_entry = (timestamp, offset)

    def append(self, header: RecordBatchHeader, data: bytes) -> None:
        if header.last_offset - self.base_offset > INT32_MAX:
            raise ValueError("cleaned segment offsets overflow the index")
        pos = self.size
        written = os.pwrite(self._fd, data, pos)
        while written < len(data):
            written += os.pwrite(self._fd, memoryview(data)[written:], pos + written)
        self.size += len(data)
        if header.max_timestamp > self.max_timestamp:
            self.max_timestamp = header.max_timestamp
            self.offset_of_max_timestamp = header.last_offset
        if self._bytes_since_entry > self.index_interval_bytes:
            if self._offset_count < self.max_index_entries:
                self._offset_entries += _OFFSET_ENTRY.pack(
                    header.last_offset - self.base_offset, pos
                )
                self._offset_count += 1
            self._time_entry(self.max_timestamp, self.offset_of_max_timestamp)
            self._bytes_since_entry = 0
        self._bytes_since_entry += len(data)

    def finish(self, mtime: float | None) -> None:
        """Write the indexes (with the final time entry of an inactive segment) and fsync all."""
        if self.max_timestamp >= 0:
            self._time_entry(self.max_timestamp, self.offset_of_max_timestamp)
        try:
            os.fsync(self._fd)
        finally:
            os.close(self._fd)
        for suffix, data in ((".index", self._offset_entries), (".timeindex", self._time_entries)):
            fd = os.open(self.paths[suffix], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, bytes(data))
                os.fsync(fd)
            finally:
                os.close(fd)
        if self.aborted:
            txn = TransactionIndex(self.paths[".txnindex"], self.base_offset)
            for entry in self.aborted:
                txn.append(entry)
            txn.flush()
            txn.close()
        if mtime is not None:
            # Keep the newest original's modification time: it stands in for the
            # timestamp of segments without one (retention, compaction lag).
            os.utime(self.paths[".log"], (mtime, mtime))

    def abort(self) -> None:
        try:
            os.close(self._fd)
        except OSError:
            pass
        self.remove_files()

    def remove_files(self) -> None:
        for path in self.paths.values():
            path.unlink(missing_ok=True)


# ====================================================================== one round


@dataclass
class _SegmentSource:
    segment: LogSegment
    path: Path
    size: int
    next_offset: int
    aborted: list[AbortedTxn]
    mtime: float

    def open(self) -> int:
        """A descriptor of its own, opened by name one segment at a time (a log with
        many segments must not hold twice as many descriptors). A segment renamed
        meanwhile (retention) raises FileNotFoundError and the round is given up."""
        return os.open(self.path, os.O_RDONLY)


@dataclass
class CleaningPlan:
    """Everything a round needs from the ``Log``, taken where appends run (``plan``)."""

    to_clean: LogToClean
    now_ms: int
    sources: list[_SegmentSource]
    dirty_aborted: list[AbortedTxn]
    # producer id -> (offset of its last data batch or None, producer epoch)
    active_producers: dict[int, tuple[int | None, int]]
    delete_retention_ms: int
    segment_bytes: int
    index_interval_bytes: int
    max_index_entries: int


@dataclass
class CleanedGroup:
    """One rewritten group of segments, ready for ``Log.replace_segments``."""

    old_segments: list[LogSegment]
    old_sizes: list[int]
    writer: _CleanedSegmentWriter


@dataclass
class CleanerStats:
    """Counts of one round (Kafka's ``CleanerStats``, the parts we track)."""

    messages_read: int = 0
    bytes_read: int = 0
    messages_written: int = 0
    bytes_written: int = 0
    map_messages_read: int = 0


@dataclass
class PreparedClean:
    """The result of ``prepare``: cleaned groups and where the round ended."""

    plan: CleaningPlan
    end_offset: int
    groups: list[CleanedGroup] = field(default_factory=list)
    stats: CleanerStats = field(default_factory=CleanerStats)

    def discard(self) -> None:
        for group in self.groups:
            group.writer.remove_files()


class Cleaner:
    """Cleans one log at a time with one bounded offset map (Kafka's ``Cleaner``)."""

    def __init__(self, config: CleanerConfig | None = None) -> None:
        self.config = config or CleanerConfig()
        self.offset_map = OffsetMap(self.config.max_map_entries)

    # ------------------------------------------------------------------ phase 1: event loop

    @staticmethod
    def plan(to_clean: LogToClean, now_ms: int) -> CleaningPlan:
        """Snapshot what the round needs from the log (cheap; run where appends run)."""
        log_ = to_clean.log
        all_segments = list(log_.segments)
        segments = _segments_between(all_segments, -1, to_clean.first_uncleanable_offset)
        sources: list[_SegmentSource] = []
        # _segments_between(-1, ...) starts at the first segment: i is its index.
        for i, seg in enumerate(segments):
            upper = (
                all_segments[i + 1].base_offset if i + 1 < len(all_segments) else seg.next_offset
            )
            sources.append(
                _SegmentSource(
                    segment=seg,
                    path=seg.log_path,
                    size=seg.size,
                    next_offset=seg.next_offset,
                    aborted=log_.collect_aborted_transactions(seg.base_offset, upper),
                    mtime=os.stat(seg.log_path).st_mtime,
                )
            )
        producers: dict[int, tuple[int | None, int]] = {}
        for entry in log_.producer_state.active_producers():
            last = entry.last_data_offset
            producers[entry.producer_id] = (last if last >= 0 else None, entry.producer_epoch)
        config = log_.config
        return CleaningPlan(
            to_clean=to_clean,
            now_ms=now_ms,
            sources=sources,
            dirty_aborted=log_.collect_aborted_transactions(
                to_clean.first_dirty_offset, to_clean.first_uncleanable_offset
            ),
            active_producers=producers,
            delete_retention_ms=config.delete_retention_ms,
            segment_bytes=config.segment_bytes,
            index_interval_bytes=config.index_interval_bytes,
            max_index_entries=config.max_index_entries,
        )

    # ------------------------------------------------------------------ phase 2: worker thread

    def prepare(self, plan: CleaningPlan) -> PreparedClean | None:
        """Build the offset map and write the cleaned groups (file I/O only).

        Returns None when the map could not take a single batch of the dirty section.
        """
        start = plan.to_clean.first_dirty_offset
        upper = plan.to_clean.first_uncleanable_offset
        stats = CleanerStats()
        self._build_offset_map(plan, start, upper, stats)
        if self.offset_map.latest_offset < start:
            log.error(
                "Log cleaner of %s cannot make progress: the offset map is too small "
                "(raise log.cleaner.dedupe.buffer.size)",
                plan.to_clean.log.dir.name,
            )
            return None
        end_offset = self.offset_map.latest_offset + 1
        prepared = PreparedClean(plan, end_offset, stats=stats)
        txn_metadata = CleanedTransactionMetadata()
        sources = [s for s in plan.sources if s.segment.base_offset < end_offset]
        try:
            for group in self._group_by_size(sources, plan.segment_bytes, upper):
                prepared.groups.append(self._clean_group(plan, group, txn_metadata, upper, stats))
        except BaseException:
            prepared.discard()
            raise
        return prepared

    def _build_offset_map(
        self, plan: CleaningPlan, start: int, upper: int, stats: CleanerStats
    ) -> None:
        omap = self.offset_map
        omap.clear()
        txn = CleanedTransactionMetadata()
        txn.add_aborted_transactions(plan.dirty_aborted)
        for src in plan.sources:
            if src.next_offset <= start or src.segment.base_offset >= upper:
                continue
            fd = src.open()
            try:
                if self._map_segment(fd, src.size, txn, start, upper, stats):
                    return
            finally:
                os.close(fd)

    def _map_segment(
        self,
        fd: int,
        size: int,
        txn: CleanedTransactionMetadata,
        start: int,
        upper: int,
        stats: CleanerStats,
    ) -> bool:
        """Add one segment's keys to the map; True when the map is full or ``upper``
        was reached (Kafka's ``buildOffsetMapForSegment``)."""
        omap = self.offset_map
        for header, data in iter_file_batches(fd, 0, size):
            if header.last_offset < start:
                continue
            if header.base_offset >= upper:
                return True
            if header.is_control:
                txn.on_control_batch_read(header, _control_record(header, data))
                stats.map_messages_read += 1
            elif txn.on_batch_read(header):
                stats.map_messages_read += header.records_count
            else:
                for record in iter_records(data, 0, header):
                    stats.map_messages_read += 1
                    if record.key is not None and record.offset >= start:
                        if omap.full:
                            return True
                        omap.put(record.key, record.offset)
            omap.update_latest_offset(header.last_offset)
        return False

    @staticmethod
    def _group_by_size(
        sources: list[_SegmentSource], max_size: int, upper: int
    ) -> list[list[_SegmentSource]]:
        """Kafka's ``groupSegmentsBySize``: consecutive segments whose sizes fit ``segment.bytes``
        and whose offsets fit one segment's 32-bit relative range."""
        groups: list[list[_SegmentSource]] = []
        rest = list(sources)
        while rest:
            group = [rest.pop(0)]
            size = group[0].size
            while rest:
                nxt = rest[0]
                last_offset = rest[1].segment.base_offset - 1 if len(rest) > 1 else upper - 1
                if (
                    size + nxt.size > max_size
                    or last_offset - group[0].segment.base_offset > INT32_MAX
                ):
                    break
                group.append(rest.pop(0))
                size += nxt.size
            groups.append(group)
        return groups

    def _clean_group(
        self,
        plan: CleaningPlan,
        group: list[_SegmentSource],
        txn: CleanedTransactionMetadata,
        upper: int,
        stats: CleanerStats,
    ) -> CleanedGroup:
        dir = plan.to_clean.log.dir
        base = group[0].segment.base_offset
        writer = _CleanedSegmentWriter(dir, base, plan.index_interval_bytes, plan.max_index_entries)
        txn.cleaned_index = writer.aborted
        try:
            for src in group:
                txn.add_aborted_transactions(src.aborted)
                fd = src.open()
                try:
                    for header, data in iter_file_batches(fd, 0, src.size):
                        stats.messages_read += max(header.records_count, 0)
                        stats.bytes_read += len(data)
                        out = self._filter_batch(plan, header, data, txn, upper)
                        if out is not None:
                            out_header = parse_header(out) if out is not data else header
                            writer.append(out_header, out)
                            stats.messages_written += max(out_header.records_count, 0)
                            stats.bytes_written += len(out)
                finally:
                    os.close(fd)
            writer.finish(group[-1].mtime)
        except BaseException:
            writer.abort()
            raise
        finally:
            txn.cleaned_index = None
        return CleanedGroup(
            old_segments=[s.segment for s in group],
            old_sizes=[s.size for s in group],
            writer=writer,
        )

    def _filter_batch(
        self,
        plan: CleaningPlan,
        header: RecordBatchHeader,
        data: bytes,
        txn: CleanedTransactionMetadata,
        upper: int,
    ) -> bytes | None:
        """The batch as it goes into the cleaned segment, or None to drop it
        (Kafka's ``checkBatchRetention`` + ``shouldRetainRecord`` + ``filterTo``)."""
        now = plan.now_ms
        horizon = header.base_timestamp if header.has_delete_horizon else None
        if header.is_control:
            marker = _control_record(header, data)
            can_discard = txn.on_control_batch_read(header, marker)
            discard_records = can_discard and horizon is not None and horizon <= now
        else:
            can_discard = txn.on_batch_read(header)
            discard_records = can_discard
        has_producer = header.producer_id >= 0
        last_of_producer = False
        if has_producer and header.producer_id in plan.active_producers:
            last_data, epoch = plan.active_producers[header.producer_id]
            if last_data is not None:
                last_of_producer = header.last_offset == last_data
            else:
                last_of_producer = header.is_control and header.producer_epoch == epoch
        if has_producer and last_of_producer:
            retention = "retain_empty"
        elif header.next_offset == upper:
            retention = "retain_empty"
        elif discard_records:
            retention = "delete"
        else:
            retention = "delete_empty"
        if retention == "delete":
            return None
        marker_for_empty_txn = can_discard and header.is_control

        omap = self.offset_map
        retained: list[Record] = []
        dropped = False
        tombstones = False
        for record in iter_records(data, 0, header):
            if discard_records:
                keep = False
            elif header.is_control:
                keep = True
            elif record.offset > omap.latest_offset:
                keep = True
            elif record.key is None:
                keep = False  # Kafka counts it as invalid: compacted topics need keys
            else:
                latest = record.offset >= omap.get(record.key)
                keep_delete = horizon is None or now < horizon
                keep = latest and (record.value is not None or keep_delete)
            if keep:
                retained.append(record)
                if record.value is None and not header.is_control:
                    tombstones = True
            else:
                dropped = True
        set_horizon = (tombstones or marker_for_empty_txn) and horizon is None
        if retained:
            if not dropped and not set_horizon:
                return data
            return rebuild_batch(
                header,
                retained,
                delete_horizon_ms=now + plan.delete_retention_ms if set_horizon else None,
            )
        if retention == "retain_empty":
            return rebuild_batch(header, [], delete_horizon_ms=None)
        return None

    # ------------------------------------------------------------------ phase 3: event loop

    @staticmethod
    def swap(prepared: PreparedClean, now_ms: int) -> bool:
        """Swap every cleaned group into the log; False (and nothing more swapped) if
        the log changed under the round (retention, truncation, deletion)."""
        log_ = prepared.plan.to_clean.log
        for i, group in enumerate(prepared.groups):
            ok = log_.replace_segments(
                group.old_segments,
                group.writer.base_offset,
                now_ms=now_ms,
                expected_sizes=group.old_sizes,
            )
            if not ok:
                for rest in prepared.groups[i:]:
                    rest.writer.remove_files()
                return False
        return True


# ====================================================================== swap and recovery


class RetiredSegment:
    """A segment retired by the cleaner or retention, waiting for ``file.delete.delay.ms``.

    Its files are already ``*.deleted``; its ``.log`` stays open so file slices of
    in-flight fetches remain readable. Deleting must not touch the live names: the
    cleaned segment that replaced it may have the same base offset.
    """

    def __init__(self, segment: LogSegment) -> None:
        self.segment = segment

    def close_files(self) -> None:
        self.segment.close_files()

    def delete_files(self) -> None:
        seg = self.segment
        seg.close_files()
        for path in (seg.log_path, seg.offset_index.path, seg.time_index.path):
            path.with_name(path.name + DELETED_SUFFIX).unlink(missing_ok=True)


def rename_cleaned_to_swap(dir: Path, base_offset: int) -> None:
    """Step one of the swap: ``.cleaned`` -> ``.swap``, the ``.log`` last so that a
    ``.log.swap`` on disk means its indexes are there too."""
    for suffix in (".txnindex", ".timeindex", ".index", ".log"):
        name = segment_file_name(base_offset, suffix)
        src = dir / (name + CLEANED_SUFFIX)
        if src.exists():
            os.replace(src, dir / (name + SWAP_SUFFIX))
    fsync_dir(dir)


def rename_swap_to_final(dir: Path, base_offset: int) -> None:
    """Last step of the swap: ``.swap`` -> the segment's own names."""
    for suffix in (".log", ".index", ".timeindex", ".txnindex"):
        name = segment_file_name(base_offset, suffix)
        src = dir / (name + SWAP_SUFFIX)
        if src.exists():
            os.replace(src, dir / name)
    fsync_dir(dir)


def complete_interrupted_swaps(dir: Path) -> None:
    """Finish (or undo) a cleaner swap cut short by a crash, before the log loads.

    As Kafka's ``LogLoader``: ``.cleaned`` files are incomplete and go; a ``.swap``
    whose base offset is at or above the lowest ``.cleaned`` one belongs to a swap
    that never finished renaming and goes too; every other ``.log.swap`` is
    complete, so the old segments inside its offset range are deleted and the
    swap files take their final names.
    """
    names = os.listdir(dir)
    cleaned_bases = [int(n[:20]) for n in names if n.endswith(CLEANED_SUFFIX) and n[:20].isdigit()]
    min_cleaned = min(cleaned_bases) if cleaned_bases else None
    swaps: dict[int, list[str]] = {}
    for name in names:
        m = _SEGMENT_FILE.match(name)
        if m is not None:
            swaps.setdefault(int(m.group(1)), []).append(name)
    if not swaps:
        return
    for base in sorted(swaps):
        files = swaps[base]
        log_swap = segment_file_name(base, ".log") + SWAP_SUFFIX
        if (min_cleaned is not None and base >= min_cleaned) or log_swap not in files:
            for name in files:
                (dir / name).unlink(missing_ok=True)
            continue
        fd = os.open(dir / log_swap, os.O_RDONLY)
        try:
            result = scan_batches(
                fd,
                0,
                os.fstat(fd).st_size,
                base_offset=base,
                min_offset=base,
                on_batch=lambda _p, _h: None,
                verify=False,
            )
        finally:
            os.close(fd)
        next_offset = result.next_offset if result.next_offset is not None else base + 1
        log.warning(
            "Completing an interrupted cleaner swap in %s: segment %d replaces offsets [%d, %d)",
            dir,
            base,
            base,
            next_offset,
        )
        for name in os.listdir(dir):
            m = re.match(r"^(\d{20})\.(log|index|timeindex|txnindex)$", name)
            if m is not None and base <= int(m.group(1)) < next_offset:
                (dir / name).unlink(missing_ok=True)
        rename_swap_to_final(dir, base)


# ====================================================================== the manager


class LogCleaner:
    """Chooses compacted logs, cleans them, and keeps ``cleaner-offset-checkpoint``.

    Kafka's ``LogCleaner`` + ``LogCleanerManager`` minus the threads: the broker
    calls ``clean_logs`` every ``log.cleaner.backoff.ms`` from a worker thread and
    passes ``run_in_loop`` so that planning and swapping run where appends run.
    """

    def __init__(self, config: CleanerConfig | None = None) -> None:
        self.config = config or CleanerConfig()
        self.cleaner = Cleaner(self.config)

    @staticmethod
    def read_checkpoint(log_dir: Path) -> dict[tuple[str, int], int]:
        try:
            return OffsetCheckpointFile(Path(log_dir) / CLEANER_CHECKPOINT).read()
        except CorruptCheckpointError as e:
            log.error("%s: cleaning compacted logs from their start", e)
            return {}

    @staticmethod
    def write_checkpoint(log_dir: Path, offsets: dict[tuple[str, int], int]) -> None:
        OffsetCheckpointFile(Path(log_dir) / CLEANER_CHECKPOINT).write(offsets)

    def clean_logs(
        self,
        logs: list[tuple[Path, Log]],
        now_ms: int,
        *,
        run_in_loop: Callable[[Callable[[], Any]], Any] | None = None,
        uncleanable: MutableSet[Log] | None = None,
    ) -> int:
        """One pass: clean every compacted log that is dirty enough, filthiest first.

        ``logs`` are ``(log dir, log)`` pairs. Returns how many logs were cleaned.
        A log whose cleaning fails unexpectedly (a corrupt batch, an I/O error) is
        added to ``uncleanable`` and skipped by later passes that get the same set,
        as Kafka's ``markPartitionUncleanable``: retrying it every pass would only
        repeat the failure. A log that merely changed underneath is retried.
        """
        skip: MutableSet[Log] = uncleanable if uncleanable is not None else set()
        if not self.config.enable_cleaner:
            return 0
        run = run_in_loop or (lambda fn: fn())
        checkpoints: dict[Path, dict[tuple[str, int], int]] = {}
        for log_dir, _lg in logs:
            if log_dir not in checkpoints:
                checkpoints[log_dir] = self.read_checkpoint(log_dir)

        def choose() -> list[tuple[Path, LogToClean]]:
            chosen = []
            for log_dir, lg in logs:
                if lg.closed or not lg.config.compact or lg in skip:
                    continue
                tp = (lg.topic, lg.partition)
                to_clean = log_to_clean(lg, checkpoints[log_dir].get(tp), now_ms)
                if is_cleanable(to_clean):
                    chosen.append((log_dir, to_clean))
            chosen.sort(key=lambda c: c[1].cleanable_ratio, reverse=True)
            return chosen

        cleaned = 0
        for log_dir, to_clean in run(choose):
            lg = to_clean.log
            try:
                end_offset = self.clean_one(to_clean, now_ms, run)
            except FileNotFoundError as e:
                log.info("Log %s changed while it was cleaned (%s); retrying later", lg.dir.name, e)
                continue
            except Exception:
                log.exception(
                    "Log cleaner failed on %s; the partition is marked uncleanable and "
                    "skipped until it is recreated or the broker restarts", lg.dir.name
                )
                skip.add(lg)
                continue
            if end_offset is None:
                continue
            cleaned += 1
            checkpoints[log_dir][(lg.topic, lg.partition)] = end_offset
            live = {(x.topic, x.partition) for d, x in logs if d == log_dir and not x.closed}
            self.write_checkpoint(
                log_dir, {tp: o for tp, o in checkpoints[log_dir].items() if tp in live}
            )
        return cleaned

    def clean_one(
        self, to_clean: LogToClean, now_ms: int, run: Callable[[Callable[[], Any]], Any]
    ) -> int | None:
        """Clean one log; the new first dirty offset, or None if the round was given up."""
        plan: CleaningPlan = run(lambda: Cleaner.plan(to_clean, now_ms))
        prepared = self.cleaner.prepare(plan)
        if prepared is None:
            return None
        try:
            # The new files were fsynced in prepare: only renames remain for the loop.
            ok = run(lambda: Cleaner.swap(prepared, now_ms))
        except BaseException:
            prepared.discard()
            raise
        if not ok:
            log.info("Log %s changed while it was cleaned; retrying later", to_clean.log.dir.name)
            return None
        log.info(
            "Cleaned %s: %d messages / %d bytes read, %d / %d kept, dirty section up to %d",
            to_clean.log.dir.name,
            prepared.stats.messages_read,
            prepared.stats.bytes_read,
            prepared.stats.messages_written,
            prepared.stats.bytes_written,
            prepared.end_offset,
        )
        return prepared.end_offset


__all__ = [
    "CLEANER_CHECKPOINT",
    "Cleaner",
    "CleanerConfig",
    "CleanerStats",
    "CleanedTransactionMetadata",
    "LogCleaner",
    "LogToClean",
    "OffsetMap",
    "RetiredSegment",
    "complete_interrupted_swaps",
    "is_cleanable",
    "iter_file_batches",
    "log_to_clean",
    "rebuild_batch",
    "rename_cleaned_to_swap",
    "rename_swap_to_final",
]
