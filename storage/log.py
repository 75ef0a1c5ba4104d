"""A partition's log: ordered segments, offsets, appends, reads, truncation, retention.

Kafka's ``UnifiedLog`` (with ``LocalLog`` and ``LogLoader`` folded in).

Theory of operation
-------------------
A partition directory ``<topic>-<partition>/`` holds segments named by their base
offset. The last segment is *active*: appends go there until it must roll (size,
age, full index, or an offset that no longer fits its 32-bit relative offsets).
Offsets, in Kafka's names:

* ``log_start_offset``: the first offset a reader may ask for (DeleteRecords and
  retention move it forward);
* ``log_end_offset``: the offset the next appended record gets;
* ``high_watermark``: set by replication (or by the broker to the log end offset with
  one replica); reads for consumers stop there;
* ``last_stable_offset``: the high watermark, or the first offset of the oldest
  transaction still open, whichever is lower (``read_committed`` stops there);
* ``recovery_point``: everything below it is fsynced; after an unclean shutdown only
  segments from the one holding it are scanned again.

Opening (``Log.open``) after a clean shutdown trusts the indexes once they pass a
sanity check (else they are rebuilt). After an unclean one, every segment from
the recovery point on is scanned batch by batch, CRC-checked, and cut at the first
torn or invalid byte; later segments are then removed (as Kafka's LogLoader does);
the leader-epoch cache and producer state are trimmed to the surviving log.

Segments removed by retention are renamed to ``*.deleted`` and closed/unlinked
``file.delete.delay.ms`` later, so file slices handed to in-flight fetches stay
readable.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import struct
import threading
import uuid
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from storage.checkpoints import (
    LEADER_EPOCH_CHECKPOINT,
    CorruptCheckpointError,
    fsync_dir,
    read_partition_metadata,
    write_partition_metadata,
)
from storage.cleaner import (
    RetiredSegment,
    complete_interrupted_swaps,
    rename_cleaned_to_swap,
    rename_swap_to_final,
)
from storage.config import LONG_MAX, LogConfig
from storage.errors import StorageError
from storage.leader_epoch import LeaderEpochFileCache
from storage.producer_state import ProducerStateManager
from storage.segment import (
    DELETED_SUFFIX,
    INDEX_SUFFIX,
    LOG_SUFFIX,
    TIME_INDEX_SUFFIX,
    LogSegment,
    segment_file_name,
)
from storage.transaction_index import TXN_INDEX_SUFFIX, AbortedTxn, TransactionIndex
from storage.validator import split_batches, validate_and_assign_offsets, writable
from storage.write_behind import AppendTail
from wire.buffers import FileSlice
from wire.errors import ErrorCode
from wire.records import (
    BATCH_HEADER_SIZE,
    CURRENT_MAGIC,
    LOG_OVERHEAD,
    MAX_TIMESTAMP_OFFSET,
    ControlRecord,
    RecordBatchHeader,
    iter_records,
    verify_crc,
)

log = logging.getLogger(__name__)

EARLIEST_TIMESTAMP = -2
LATEST_TIMESTAMP = -1
MAX_TIMESTAMP = -3
EARLIEST_LOCAL_TIMESTAMP = -4
LATEST_TIERED_TIMESTAMP = -5

_CONTROL_FLAG = 0x20  # batch attributes: a control (transaction marker) batch
# Kafka's suffix for a deleted partition's directory awaiting removal.
DELETE_DIR_SUFFIX = "-delete"
_SEGMENT_FILE = re.compile(r"^(\d{20})\.(log|index|timeindex|txnindex)$")


class UnexpectedAppendOffsetError(StorageError):
    """A follower append does not start at the log end offset (overlap or gap).

    Kafka's ``UnexpectedAppendOffsetException``: the fetcher reacts by truncating
    (overlap) or resetting its fetch position; nothing is written.
    """

    def __init__(self, message: str, first_offset: int, last_offset: int) -> None:
        super().__init__(ErrorCode.UNKNOWN_SERVER_ERROR, message)
        self.first_offset = first_offset
        self.last_offset = last_offset


@dataclass
class LogAppendInfo:
    """The outcome of an append (Kafka's LogAppendInfo, the fields a Produce answer needs)."""

    first_offset: int
    last_offset: int
    max_timestamp: int
    offset_of_max_timestamp: int
    log_append_time: int
    log_start_offset: int
    num_messages: int
    valid_bytes: int = 0


@dataclass
class FetchDataInfo:
    """Batches read from the log: whole batches as file slices (sendfile-ready).

    ``first_offset`` is the base offset of the first batch returned (it may be
    below the fetch offset: clients skip the earlier records), or the fetch offset
    when nothing was returned.
    """

    records: list[FileSlice] = field(default_factory=list)
    first_offset: int = -1

    @property
    def size(self) -> int:
        return sum(len(s) for s in self.records)


def parse_partition_dir_name(name: str) -> tuple[str, int]:
    """``<topic>-<partition>`` -> ``(topic, partition)``; ValueError otherwise."""
    topic, sep, partition = name.rpartition("-")
    if not sep or not topic or not partition.isdigit():
        raise ValueError(f"not a partition directory name: {name!r}")
    return topic, int(partition)


_LENGTH_AND_MAGIC = struct.Struct(">8xi4xb")  # batch length, magic
_TIMESTAMP = struct.Struct(">q")


def _max_timestamp_as_sent(records: memoryview | bytes | bytearray) -> int | None:
    """The largest max timestamp in the headers of a Produce request's batches, read
    before validation; None when they are not all well-framed v2 batches (then the
    append itself decides)."""
    end = len(records)
    pos = 0
    latest: int | None = None
    while pos < end:
        if end - pos < BATCH_HEADER_SIZE:
            return None
        length, magic = _LENGTH_AND_MAGIC.unpack_from(records, pos)
        if magic != CURRENT_MAGIC or length < BATCH_HEADER_SIZE - LOG_OVERHEAD:
            return None
        (timestamp,) = _TIMESTAMP.unpack_from(records, pos + MAX_TIMESTAMP_OFFSET)
        if latest is None or timestamp > latest:
            latest = timestamp
        pos += LOG_OVERHEAD + length
    return latest


_F = TypeVar("_F", bound=Callable[..., Any])


def _locked(method: _F) -> _F:
    """Serialise with ``flush``: the broker may fsync in a worker thread while the
    event loop keeps appending; only operations that remove segments or bytes wait."""

    @functools.wraps(method)
    def wrapper(self: Log, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


@dataclass
class PreparedRoll:
    """The files of a segment to roll onto, made ahead of the roll (``Log.prepare_roll``).

    They are created through a descriptor of the partition directory taken when the
    roll was prepared, so a directory renamed meanwhile (DeleteTopics) gets them, never
    a new partition of the same name.
    """

    base_offset: int
    previous: LogSegment
    dir_fd: int
    created: bool = False
    # The files this roll created (not ones that were there already).
    made: list[str] = field(default_factory=list)
    # Set by ``Log.finish_roll``: the snapshot file work, for a worker thread.
    snapshot_write: Callable[[], None] | None = None

    def create_files(self) -> None:
        """Create the segment's empty files (any thread); an existing file is kept as
        it is, as ``LogSegment`` would."""
        for suffix in (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX):
            name = segment_file_name(self.base_offset, suffix)
            try:
                fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644, dir_fd=self.dir_fd)
            except FileExistsError:
                continue
            os.close(fd)
            self.made.append(name)
        self.created = True

    def remove_files(self) -> None:
        """Remove the files (any thread) this roll created, when it did not happen."""
        for name in self.made:
            try:
                os.unlink(name, dir_fd=self.dir_fd)
            except FileNotFoundError:
                pass
        self.made.clear()

    def close(self) -> None:
        os.close(self.dir_fd)


class Log:
    """One partition's log on disk (Kafka's UnifiedLog). Create with ``Log.open``.

    Not thread-safe: the broker serialises calls per partition. No clock is read;
    every time-dependent call takes ``now_ms``.
    """

    def __init__(
        self, dir: Path, config: LogConfig, producer_id_expiration_ms: int, now_ms: int
    ) -> None:
        self.dir = Path(dir)
        self.topic, self.partition = parse_partition_dir_name(self.dir.name)
        self.config = config
        self.segments: list[LogSegment] = []
        self._bases: list[int] = []
        self.log_start_offset = 0
        self.log_end_offset = 0
        self.high_watermark = 0
        self.recovery_point = 0
        self.last_flush_ms = now_ms
        self.leader_epoch_cache = LeaderEpochFileCache(self.dir)
        self.producer_state = ProducerStateManager(self.dir, producer_id_expiration_ms)
        self._txn_indexes: dict[int, TransactionIndex] = {}
        self._pending_deletes: list[tuple[int, LogSegment, TransactionIndex]] = []
        self.topic_id = None
        self.closed = False
        # Set by ``delete_old_segments(roll_active=False)`` when retention has reached
        # the active segment: a roll (left to the caller) lets it go; any roll clears it.
        self.retention_roll_due = False
        # With auto_flush the append itself fsyncs when ``flush_due``; a broker that
        # fsyncs in a worker thread sets it False and checks ``flush_due`` itself
        # (before acknowledging, for ``kpybroker.flush.on.ack``).
        self.auto_flush = True
        # Set by the log manager when write-behind is on (storage.write_behind).
        self.append_tail: AppendTail | None = None
        self._lock = threading.RLock()

    # ================================================================== opening

    @classmethod
    def open(
        cls,
        dir: Path | str,
        config: LogConfig,
        *,
        now_ms: int,
        recovery_point: int = 0,
        log_start_offset: int | None = None,
        producer_id_expiration_ms: int = 86_400_000,
        clean: bool = True,
        topic_id: object | None = None,
    ) -> Log:
        """Open (creating if needed) the log in ``dir``, recovering it if ``clean`` is false."""
        dir = Path(dir)
        created = not dir.exists()
        dir.mkdir(parents=True, exist_ok=True)
        if created:
            fsync_dir(dir.parent)
        self = cls(dir, config, producer_id_expiration_ms, now_ms)
        try:
            self.topic_id = read_partition_metadata(dir)
        except CorruptCheckpointError as e:
            log.error("%s; the topic id will be rewritten", e)
        if topic_id is not None and self.topic_id != topic_id:
            write_partition_metadata(dir, topic_id)  # type: ignore[arg-type]
            self.topic_id = topic_id
        self._load(
            now_ms=now_ms,
            recovery_point=recovery_point,
            log_start_offset=log_start_offset,
            clean=clean,
        )
        return self

    def _remove_temporary_files(self) -> list[int]:
        """Delete leftovers of interrupted operations; return the segment base offsets."""
        # A cleaner swap cut short by a crash is completed (or undone) first, as
        # Kafka's LogLoader does; what is left of .cleaned/.swap then goes below.
        complete_interrupted_swaps(self.dir)
        bases: set[int] = set()
        orphans: list[Path] = []
        for entry in os.scandir(self.dir):
            name = entry.name
            if (
                name.endswith(".tmp")
                or name.endswith(DELETED_SUFFIX)
                or name.endswith(".cleaned")
                or name.endswith(".swap")
            ):
                # Kafka deletes these on load: half-written files or deletions
                # already decided before the crash (no log data is lost by this).
                os.unlink(entry.path)
                continue
            m = _SEGMENT_FILE.match(name)
            if m is None:
                continue
            if m.group(2) == "log":
                bases.add(int(m.group(1)))
            else:
                orphans.append(Path(entry.path))
        for path in orphans:
            m = _SEGMENT_FILE.match(path.name)
            assert m is not None
            if int(m.group(1)) not in bases:
                log.warning("Removing index file %s that has no log segment", path)
                path.unlink(missing_ok=True)
        return sorted(bases)

    def _new_segment(self, base_offset: int, now_ms: int) -> LogSegment:
        return LogSegment(
            self.dir,
            base_offset,
            index_interval_bytes=self.config.index_interval_bytes,
            max_index_entries=self.config.max_index_entries,
            created_ms=now_ms,
            roll_jitter_ms=self.config.random_segment_jitter(),
        )

    def _txn_index(self, base_offset: int) -> TransactionIndex:
        idx = self._txn_indexes.get(base_offset)
        if idx is None:
            idx = TransactionIndex.for_segment(self.dir, base_offset)
            self._txn_indexes[base_offset] = idx
        return idx

    def _load(
        self, *, now_ms: int, recovery_point: int, log_start_offset: int | None, clean: bool
    ) -> None:
        bases = self._remove_temporary_files()
        for base in bases:
            self.segments.append(self._new_segment(base, now_ms))
        self._bases = [s.base_offset for s in self.segments]

        recovered_from: int | None = None
        if not clean:
            # Everything from the segment holding the recovery point on may be torn.
            i = max(0, bisect_right(self._bases, recovery_point) - 1)
            recovered_from = i if self.segments else None
        for i, segment in enumerate(self.segments):
            if recovered_from is not None and i >= recovered_from:
                continue
            if not segment.load_clean():
                log.warning("Rebuilt the indexes of %s", segment.log_path)
                recovered_from = i if recovered_from is None else min(recovered_from, i)
                break
        if recovered_from is not None:
            self._recover_segments(recovered_from)

        if not self.segments:
            start = max(log_start_offset or 0, 0)
            self.segments.append(self._new_segment(start, now_ms))
        self._bases = [s.base_offset for s in self.segments]
        for seg in self.segments[:-1]:
            seg.close_handlers()  # inactive segments reopen their index files on demand
        self.log_end_offset = self.segments[-1].next_offset
        self.log_start_offset = max(log_start_offset or 0, self.segments[0].base_offset)
        if self.log_start_offset > self.log_end_offset:
            # Kafka keeps a checkpointed start offset past the end only when the log
            # is empty there; otherwise the segments win.
            self.log_start_offset = self.log_end_offset
        # Recovered bytes are valid but not yet fsynced: the recovery point stays where
        # it was, so a second crash rescans them again.
        self.recovery_point = (
            self.log_end_offset if clean else min(recovery_point, self.log_end_offset)
        )
        self.high_watermark = self.log_start_offset
        self.leader_epoch_cache.truncate_from_end(self.log_end_offset)
        self.leader_epoch_cache.truncate_from_start(self.log_start_offset)
        for seg in self.segments:
            idx = self._txn_index(seg.base_offset)
            idx.truncate_to(seg.next_offset)
        completed = self.producer_state.load(
            self.log_start_offset, self.log_end_offset, self._replay, now_ms=now_ms
        )
        if recovered_from is not None:
            recovered_bases = {s.base_offset for s in self.segments[recovered_from:]}
            for txn in completed:
                if not txn.is_aborted:
                    continue
                seg = self._segment_for(txn.last_offset)
                if seg is None or seg.base_offset not in recovered_bases:
                    continue
                idx = self._txn_index(seg.base_offset)
                last = idx.last_offset()
                if last is None or last < txn.last_offset:
                    idx.append(txn.to_aborted_txn())

    def _recover_segments(self, start: int) -> None:
        """Rescan segments ``start..`` and cut the log at the first bad byte."""
        for i in range(start, len(self.segments)):
            segment = self.segments[i]
            if i > 0 and segment.base_offset < self.segments[i - 1].next_offset:
                log.error(
                    "Segment %s overlaps the previous one; removing it and later segments",
                    segment.log_path,
                )
                self._drop_segments_from(i)
                break
            self.leader_epoch_cache.truncate_from_end(segment.base_offset)

            def on_batch(_pos: int, header: RecordBatchHeader) -> None:
                if header.partition_leader_epoch >= 0:
                    self.leader_epoch_cache.assign(
                        header.partition_leader_epoch, header.base_offset
                    )

            truncated = segment.recover(on_batch)
            txn = self._txn_index(segment.base_offset)
            try:
                txn.sanity_check()
            except Exception:
                txn.reset()
            txn.truncate_to(segment.next_offset)
            if truncated:
                log.warning(
                    "Recovery cut %d bytes of invalid data from %s (now ends at offset %d)",
                    truncated,
                    segment.log_path,
                    segment.next_offset,
                )
                self._drop_segments_from(i + 1)
                break
        self._bases = [s.base_offset for s in self.segments]

    def _drop_segments_from(self, i: int) -> None:
        for seg in self.segments[i:]:
            log.warning(
                "Deleting segment %s after the point where recovery cut the log", seg.log_path
            )
            seg.delete_files()
            idx = self._txn_indexes.pop(seg.base_offset, None)
            (idx or TransactionIndex.for_segment(self.dir, seg.base_offset)).delete()
        del self.segments[i:]
        self._bases = [s.base_offset for s in self.segments]

    def _replay(self, from_offset: int) -> Iterator[tuple[RecordBatchHeader, int | None, int]]:
        """Batches from ``from_offset`` on, for rebuilding producer state."""
        seg_index = max(0, bisect_right(self._bases, from_offset) - 1)
        for segment in self.segments[seg_index:]:
            found = (
                segment.translate_offset(from_offset)
                if segment.base_offset <= from_offset
                else None
            )
            start = found[0] if found is not None else 0
            if segment.base_offset <= from_offset and found is None:
                continue
            for pos, header in segment.iter_headers(start):
                control: int | None = None
                coordinator_epoch = -1
                if header.is_control:
                    control, coordinator_epoch = self._control_info(segment, pos, header)
                yield header, control, coordinator_epoch

    @staticmethod
    def _control_info(
        segment: LogSegment, pos: int, header: RecordBatchHeader
    ) -> tuple[int | None, int]:
        data = os.pread(segment.file.fileno(), header.size, pos)
        for record in iter_records(data, 0, header):
            marker = ControlRecord.from_record(record)
            return (
                marker.type,
                marker.coordinator_epoch if marker.coordinator_epoch is not None else -1,
            )
        return None, -1

    # ================================================================== properties

    @property
    def active_segment(self) -> LogSegment:
        return self.segments[-1]

    @property
    def size_in_bytes(self) -> int:
        return sum(s.size for s in self.segments)

    @property
    def last_stable_offset(self) -> int:
        unstable = self.producer_state.first_unstable_offset()
        if unstable is not None and unstable < self.high_watermark:
            return unstable
        return self.high_watermark

    @property
    def latest_epoch(self) -> int | None:
        return self.leader_epoch_cache.latest_epoch

    @property
    def unflushed_messages(self) -> int:
        return self.log_end_offset - self.recovery_point

    @property
    def flush_due(self) -> bool:
        """True when the flush policy wants an fsync now (``kpybroker.flush.on.ack``
        with anything unflushed, or ``flush.messages`` unflushed messages)."""
        unflushed = self.unflushed_messages
        return unflushed > 0 and (
            self.config.flush_on_ack or unflushed >= self.config.flush_messages
        )

    def maybe_assign_epoch_start_offset(self, leader_epoch: int, start_offset: int) -> None:
        """Kafka's ``maybeAssignEpochStartOffset``: a new leader's epoch starts at ``start_offset``."""
        if leader_epoch >= 0:
            self.leader_epoch_cache.assign(leader_epoch, start_offset)

    def _segment_for(self, offset: int) -> LogSegment | None:
        i = bisect_right(self._bases, offset) - 1
        return self.segments[i] if i >= 0 else None

    def update_high_watermark(self, offset: int) -> int:
        """Set the high watermark (clamped to ``[log_start_offset, log_end_offset]``)."""
        hw = min(max(offset, self.log_start_offset), self.log_end_offset)
        self.high_watermark = hw
        self.producer_state.on_high_watermark_updated(hw)
        return hw

    # ================================================================== appends

    def _maybe_roll(
        self,
        messages_size: int,
        max_timestamp: int,
        first_offset: int,
        last_offset: int,
        now_ms: int,
    ) -> LogSegment:
        segment = self.active_segment
        if segment.should_roll(
            messages_size=messages_size,
            max_timestamp_in_messages=max_timestamp,
            max_offset_in_messages=last_offset,
            now_ms=now_ms,
            segment_bytes=self.config.segment_bytes,
            max_segment_ms=self.config.max_segment_ms,
        ):
            return self.roll(max(first_offset, self.log_end_offset), now_ms)
        return segment

    def roll_due(self, records: memoryview | bytes | bytearray, now_ms: int) -> bool:
        """Whether appending the Produce request's ``records`` now would roll, for a
        reason known before they are validated: the size bound, a full index, or age,
        judged from the batch headers' max timestamps as sent (the validated ones,
        which ``should_roll`` uses, differ only for a batch whose header disagrees
        with its records; one too far in the future is left to the append, which
        refuses it). A batch larger than a segment is refused, not rolled for.
        (A batch refused for another reason after such a roll leaves the new segment
        empty; the next append would have rolled at the same offset, except by age
        for a batch with older timestamps.)"""
        messages_size = len(records)
        config = self.config
        if messages_size > config.segment_bytes:
            return False
        segment = self.segments[-1]
        if segment.full_for(messages_size, config.segment_bytes):
            return True
        if config.log_append_time:
            max_timestamp = now_ms
        else:
            max_timestamp = _max_timestamp_as_sent(records)
            # A timestamp too far ahead is refused by the validator: no roll then.
            if max_timestamp is None or max_timestamp - now_ms > config.message_timestamp_after_max_ms:
                return False
        return segment.aged(max_timestamp, now_ms, config.max_segment_ms)

    def prepare_roll(self) -> PreparedRoll:
        """Start a roll at the log end offset whose file creation (which can wait on the
        file system's journal for many milliseconds) runs elsewhere: call
        ``create_files`` in a worker thread, then ``finish_roll`` here. Nothing may be
        appended in between."""
        self._check_open()
        dir_fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return PreparedRoll(self.log_end_offset, self.active_segment, dir_fd)

    def finish_roll(self, prepared: PreparedRoll, now_ms: int) -> bool:
        """Roll onto the files ``prepared`` created, if the log is still as it was then
        (open, same active segment, same end offset); opening existing files costs no
        journal wait. The producer-state snapshot of the roll is left to
        ``prepared.snapshot_write`` (a worker thread's job; None when there is none).
        False when the log moved on: the caller removes the files unless
        ``has_segment`` says a live segment uses them."""
        if (
            self.closed
            or not prepared.created
            or self.active_segment is not prepared.previous
            or self.log_end_offset != prepared.base_offset
        ):
            return False
        _, prepared.snapshot_write = self._roll(prepared.base_offset, now_ms, defer_snapshot=True)
        return True

    def has_segment(self, base_offset: int) -> bool:
        return base_offset in self._bases

    def roll(self, new_base_offset: int | None = None, now_ms: int = 0) -> LogSegment:
        """Start a new active segment at ``new_base_offset`` (default: log end offset)."""
        return self._roll(new_base_offset, now_ms, defer_snapshot=False)[0]

    def _roll(
        self, new_base_offset: int | None, now_ms: int, *, defer_snapshot: bool
    ) -> tuple[LogSegment, Callable[[], None] | None]:
        base = self.log_end_offset if new_base_offset is None else new_base_offset
        old = self.active_segment
        if old.size == 0 and old.base_offset == base:
            return old, None
        # As in Kafka an empty segment below the new base stays: it still marks where
        # the log starts until retention removes it.
        # Its reserved blocks go back in the reserving thread: the truncation can
        # wait on the file system for a long time.
        old.on_become_inactive(wait=False)
        old.close_handlers()
        self.retention_roll_due = False
        segment = self._new_segment(base, now_ms)
        if segment.size:
            # A leftover file at the new base (never expected) must not be appended to blindly.
            segment.recover(None)
        self.segments.append(segment)
        self._bases = [s.base_offset for s in self.segments]
        # No fsync here, on the append path: the snapshot is made durable with the
        # rolled segment by the next flush (``maybe_flush``), as Kafka's roll does.
        write = self.producer_state.take_snapshot(base, sync=False, defer=defer_snapshot)
        return segment, write

    def _after_append(
        self,
        view: memoryview,
        batches: list[tuple[int, RecordBatchHeader]],
        *,
        log_append_time: int,
        now_ms: int,
        controls: dict[int, tuple[int | None, int]] | None,
    ) -> None:
        config = self.config
        nbytes = view.nbytes
        if nbytes > config.segment_bytes:
            raise StorageError(
                ErrorCode.RECORD_LIST_TOO_LARGE,
                f"Message batch size is {nbytes} bytes in append to partition "
                f"{self.topic}-{self.partition}, which exceeds the maximum configured segment size "
                f"of {config.segment_bytes}.",
            )
        first = batches[0][1]
        last = batches[-1][1]
        max_ts = first.max_timestamp
        for _, h in batches:
            if h.max_timestamp > max_ts:
                max_ts = h.max_timestamp
        segment = self._maybe_roll(nbytes, max_ts, first.base_offset, last.last_offset, now_ms)
        start = segment.size
        segment.append(view, batches)
        if self.append_tail is not None:
            # The name the segment's file was opened with: fetched slices carry it.
            self.append_tail.appended(segment.file.name, start, segment.size)
        self.log_end_offset = last.base_offset + last.last_offset_delta + 1
        epoch_cache = self.leader_epoch_cache
        latest = epoch_cache.latest_entry()
        on_batch_appended = self.producer_state.on_batch_appended
        for pos, header in batches:
            epoch = header.partition_leader_epoch
            # Appends within the latest epoch (nearly all) leave the cache as it is.
            if epoch >= 0 and (
                latest is None or latest[0] != epoch or header.base_offset < latest[1]
            ):
                epoch_cache.assign(epoch, header.base_offset)
                latest = epoch_cache.latest_entry()
            control_type, coordinator_epoch = (
                controls.get(pos, (None, -1)) if controls else (None, -1)
            )
            completed = on_batch_appended(
                header,
                first_offset=header.base_offset,
                append_time_ms=log_append_time,
                control_type=control_type,
                coordinator_epoch=coordinator_epoch,
            )
            if completed is not None and completed.is_aborted:
                self._txn_index(segment.base_offset).append(completed.to_aborted_txn())
        if self.auto_flush and self.flush_due:
            self.flush()

    @staticmethod
    def _controls(
        view: memoryview, batches: list[tuple[int, RecordBatchHeader]]
    ) -> dict[int, tuple[int | None, int]]:
        out: dict[int, tuple[int | None, int]] = {}
        for pos, header in batches:
            if header.attributes & _CONTROL_FLAG:
                for record in iter_records(view, pos, header):
                    marker = ControlRecord.from_record(record)
                    out[pos] = (
                        marker.type,
                        marker.coordinator_epoch if marker.coordinator_epoch is not None else -1,
                    )
                    break
        return out

    def append_as_leader(
        self,
        records: memoryview | bytes | bytearray,
        *,
        leader_epoch: int,
        now_ms: int,
        origin: str = "client",
    ) -> LogAppendInfo:
        """Validate, assign offsets in place and append (Kafka's ``appendAsLeader``).

        ``records`` is the partition's record set from the Produce request; when it
        is a writable memoryview the offsets are patched in it directly. Raises
        ``StorageError`` (``DuplicateBatchError`` for a producer retry: the caller
        answers success with the offsets it carries).
        """
        self._check_open()
        psm = self.producer_state
        # Produce carries exactly one batch (the validator enforces it), at position 0.
        view = writable(records)

        def check(header: RecordBatchHeader) -> None:
            coordinator_epoch = None
            if header.attributes & _CONTROL_FLAG:
                coordinator_epoch = self._controls(view, [(0, header)]).get(0, (None, -1))[1]
            psm.check_batch(
                header, origin=origin, now_ms=now_ms, coordinator_epoch=coordinator_epoch
            )

        view, result = validate_and_assign_offsets(
            view,
            config=self.config,
            next_offset=self.log_end_offset,
            leader_epoch=leader_epoch,
            now_ms=now_ms,
            origin=origin,
            check_producer=check,
        )
        controls = self._controls(view, result.batches)
        self._after_append(
            view,
            result.batches,
            log_append_time=result.log_append_time,
            now_ms=now_ms,
            controls=controls,
        )
        return LogAppendInfo(
            first_offset=result.first_offset,
            last_offset=result.last_offset,
            max_timestamp=result.max_timestamp,
            offset_of_max_timestamp=result.offset_of_max_timestamp,
            log_append_time=result.log_append_time,
            log_start_offset=self.log_start_offset,
            num_messages=result.num_messages,
            valid_bytes=view.nbytes,
        )

    def append_as_follower(
        self, records: memoryview | bytes | bytearray, *, now_ms: int = 0, allow_gaps: bool = False
    ) -> LogAppendInfo:
        """Append batches fetched from the leader, keeping their offsets and epochs.

        The first batch must start exactly at the log end offset and each batch
        right after the previous one (``UnexpectedAppendOffsetError`` otherwise);
        ``allow_gaps`` accepts higher offsets, as a compacted leader's log has them
        (Kafka only refuses overlaps). Every batch must pass its CRC
        (``CORRUPT_MESSAGE``). Sizes are not limited (Kafka ignores
        ``max.message.bytes`` for replication).
        """
        self._check_open()
        view = writable(records)
        if view.nbytes == 0:
            return LogAppendInfo(-1, -1, -1, -1, -1, self.log_start_offset, 0, 0)
        batches = split_batches(view)
        expected = self.log_end_offset
        max_ts, offset_of_max, count = -1, -1, 0
        for pos, header in batches:
            if not verify_crc(view, pos, header):
                raise StorageError(
                    ErrorCode.CORRUPT_MESSAGE, f"Record is corrupt (stored crc = {header.crc})"
                )
            out_of_place = (
                header.base_offset < expected if allow_gaps else header.base_offset != expected
            )
            if out_of_place or header.last_offset_delta < 0:
                raise UnexpectedAppendOffsetError(
                    f"Unexpected offset in append to {self.topic}-{self.partition}: batch starts at "
                    f"{header.base_offset} but the log end offset is {expected}",
                    batches[0][1].base_offset,
                    batches[-1][1].last_offset,
                )
            self.producer_state.check_batch(header, origin="replication", now_ms=now_ms)
            expected = header.next_offset
            if header.max_timestamp > max_ts:
                max_ts, offset_of_max = header.max_timestamp, header.last_offset
            count += header.records_count
        controls = self._controls(view, batches)
        self._after_append(view, batches, log_append_time=-1, now_ms=now_ms, controls=controls)
        return LogAppendInfo(
            first_offset=batches[0][1].base_offset,
            last_offset=batches[-1][1].last_offset,
            max_timestamp=max_ts,
            offset_of_max_timestamp=offset_of_max,
            log_append_time=-1,
            log_start_offset=self.log_start_offset,
            num_messages=count,
            valid_bytes=view.nbytes,
        )

    # ================================================================== reads

    def read(
        self,
        fetch_offset: int,
        *,
        max_bytes: int,
        max_offset: int | None = None,
        min_one_message: bool = True,
    ) -> FetchDataInfo:
        """Whole batches from ``fetch_offset`` on, below ``max_offset`` (exclusive).

        ``max_offset`` is the high watermark or last stable offset for consumers, or
        None for the log end offset (followers). Raises ``StorageError`` with
        ``OFFSET_OUT_OF_RANGE`` outside ``[log_start_offset, log_end_offset]``.
        """
        self._check_open()
        if fetch_offset < self.log_start_offset or fetch_offset > self.log_end_offset:
            raise StorageError(
                ErrorCode.OFFSET_OUT_OF_RANGE,
                f"Received request for offset {fetch_offset} for partition {self.topic}-{self.partition}, "
                f"but we only have log segments in the range {self.log_start_offset} to {self.log_end_offset}.",
            )
        limit = self.log_end_offset if max_offset is None else min(max_offset, self.log_end_offset)
        if fetch_offset >= limit:
            return FetchDataInfo([], fetch_offset)
        i = max(0, bisect_right(self._bases, fetch_offset) - 1)
        for segment in self.segments[i:]:
            if segment.base_offset >= limit:
                break
            got = segment.read(fetch_offset, max_bytes, limit, min_one_message)
            if got is not None:
                return FetchDataInfo([got[0]], got[1])
            if segment.size and fetch_offset < segment.next_offset:
                # The offset is in this segment but its batch did not fit: answer
                # nothing rather than later batches (that would skip records).
                # (A segment the cleaner emptied holds no offsets: go on past it.)
                break
        return FetchDataInfo([], fetch_offset)

    def collect_aborted_transactions(
        self, fetch_offset: int, upper_bound_offset: int
    ) -> list[AbortedTxn]:
        """Aborted transactions overlapping ``[fetch_offset, upper_bound_offset)`` (read_committed)."""
        out: list[AbortedTxn] = []
        i = max(0, bisect_right(self._bases, fetch_offset) - 1)
        for segment in self.segments[i:]:
            result = self._txn_index(segment.base_offset).collect_aborted_txns(
                fetch_offset, upper_bound_offset
            )
            out.extend(result.aborted_transactions)
            if result.is_complete:
                break
        return out

    def fetch_offset_by_timestamp(self, timestamp: int) -> tuple[int, int, int] | None:
        """ListOffsets: ``(offset, timestamp, leader_epoch)``, or None when nothing matches.

        ``-2`` earliest, ``-4`` earliest local (both the log start offset), ``-1``
        latest (log end offset), ``-3`` the record with the largest timestamp;
        otherwise the first record whose timestamp is >= ``timestamp``. Epoch -1
        means unknown.
        """
        self._check_open()
        cache = self.leader_epoch_cache
        if timestamp in (EARLIEST_TIMESTAMP, EARLIEST_LOCAL_TIMESTAMP):
            epoch = cache.epoch_for_offset(self.log_start_offset)
            return self.log_start_offset, -1, -1 if epoch is None else epoch
        if timestamp == LATEST_TIMESTAMP:
            epoch = cache.latest_epoch
            return self.log_end_offset, -1, -1 if epoch is None else epoch
        if timestamp == MAX_TIMESTAMP:
            return self._max_timestamp_offset()
        if timestamp < 0:
            return None
        for segment in self.segments:
            if segment.max_timestamp_so_far < timestamp:
                continue
            found = segment.find_offset_by_timestamp(timestamp, self.log_start_offset)
            if found is not None:
                offset, ts, epoch = found
                return offset, ts, epoch if epoch >= 0 else -1
        return None

    def _max_timestamp_offset(self) -> tuple[int, int, int] | None:
        best: LogSegment | None = None
        for segment in self.segments:
            if segment.max_timestamp_so_far >= 0 and (
                best is None or segment.max_timestamp_so_far > best.max_timestamp_so_far
            ):
                best = segment
        if best is None:
            return None
        target = best.max_timestamp_so_far
        for pos, header in best.iter_headers(0):
            if header.max_timestamp == target and header.last_offset >= self.log_start_offset:
                data = os.pread(best.file.fileno(), header.size, pos)
                for record in iter_records(data, 0, header):
                    if record.timestamp == target:
                        epoch = header.partition_leader_epoch
                        return record.offset, target, epoch if epoch >= 0 else -1
        return None

    # ================================================================== offsets and truncation

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        """OffsetForLeaderEpoch: ``(epoch, end_offset)``, ``(-1, -1)`` when unknown."""
        return self.leader_epoch_cache.end_offset_for(epoch, self.log_end_offset)

    @_locked
    def truncate_to(self, offset: int) -> bool:
        """Remove everything at and after ``offset`` (follower truncation). True if anything changed."""
        self._check_open()
        if offset < 0:
            raise ValueError(f"cannot truncate to a negative offset {offset}")
        if offset >= self.log_end_offset:
            return False
        if self.segments[0].base_offset > offset:
            self.truncate_fully_and_start_at(offset)
            return True
        self.leader_epoch_cache.truncate_from_end(offset)
        if self.append_tail is not None:
            self.append_tail.reset()
        while len(self.segments) > 1 and self.segments[-1].base_offset >= offset:
            seg = self.segments.pop()
            seg.delete_files()
            self._txn_indexes.pop(
                seg.base_offset, TransactionIndex.for_segment(self.dir, seg.base_offset)
            ).delete()
        self._bases = [s.base_offset for s in self.segments]
        active = self.active_segment
        active.truncate_to(offset)
        self._txn_index(active.base_offset).truncate_to(offset)
        self.log_end_offset = offset
        self.log_start_offset = min(self.log_start_offset, offset)
        self.high_watermark = min(self.high_watermark, offset)
        self.recovery_point = min(self.recovery_point, offset)
        self.producer_state.truncate(self.log_start_offset, offset)
        self.producer_state.load(self.log_start_offset, offset, self._replay)
        return True

    @_locked
    def truncate_fully_and_start_at(self, offset: int, now_ms: int = 0) -> None:
        """Delete every segment and restart the log, empty, at ``offset``."""
        self._check_open()
        if self.append_tail is not None:
            self.append_tail.reset()
        for seg in self.segments:
            seg.delete_files()
            self._txn_indexes.pop(
                seg.base_offset, TransactionIndex.for_segment(self.dir, seg.base_offset)
            ).delete()
        self.segments = [self._new_segment(offset, now_ms)]
        self._bases = [offset]
        self.leader_epoch_cache.clear_and_flush()
        self.producer_state.truncate_fully_and_start_at(offset)
        self.log_start_offset = self.log_end_offset = self.high_watermark = self.recovery_point = (
            offset
        )

    def maybe_increment_log_start_offset(self, offset: int) -> bool:
        """DeleteRecords: move the log start offset up to ``offset`` (not past the high watermark)."""
        self._check_open()
        if offset > self.high_watermark:
            raise StorageError(
                ErrorCode.OFFSET_OUT_OF_RANGE,
                f"Cannot increment the log start offset to {offset} of partition {self.topic}-{self.partition} "
                f"since it is larger than the high watermark {self.high_watermark}",
            )
        if offset <= self.log_start_offset:
            return False
        self.log_start_offset = offset
        self.leader_epoch_cache.truncate_from_start(offset)
        self.producer_state.on_log_start_offset_incremented(offset)
        return True

    # ================================================================== retention

    @_locked
    def delete_old_segments(self, now_ms: int, *, purge: bool = True, roll_active: bool = True) -> int:
        """Apply retention (time, size, log start offset); returns how many segments went.

        Whole segments only, oldest first, never data above the high watermark, as
        Kafka's ``deleteOldSegments``. The active segment goes too when it breaches
        and is not empty (so lowering ``retention.ms`` empties an idle topic): the
        log rolls first, since it always keeps one segment. With
        ``roll_active=False`` that roll is left to the caller (``retention_roll_due``
        says it is wanted; a later call then deletes the old active segment). Files
        are renamed ``*.deleted`` and removed after ``file.delete.delay.ms``: here, by
        a later call, or with ``purge=False`` by whoever takes them with
        ``take_due_deletes`` (the broker, in a worker thread).
        """
        self._check_open()
        if purge:
            self._purge_pending(now_ms)
        count = self._retention_breaches(now_ms)
        if count == len(self.segments):
            if roll_active:
                self.roll(now_ms=now_ms)
            else:
                count -= 1
                self.retention_roll_due = True
        if count:
            self._delete_segments(count, now_ms)
        return count

    def _retention_breaches(self, now_ms: int) -> int:
        """How many segments from the oldest on breach retention (Kafka's
        ``deletableSegments`` with the time, size and log-start-offset predicates)."""
        config = self.config
        delete_policy = config.delete
        segments = self.segments
        count = 0
        retention_bytes_left = (
            self.size_in_bytes - config.retention_bytes if config.retention_bytes >= 0 else -1
        )
        for i, seg in enumerate(segments):
            if i + 1 < len(segments):
                upper_bound = segments[i + 1].base_offset
            elif seg.size > 0:
                upper_bound = self.log_end_offset
            else:
                break  # an empty active segment: deleting it would only make it again
            if upper_bound > self.high_watermark:
                break
            breach_start = i + 1 < len(segments) and upper_bound <= self.log_start_offset
            breach_time = (
                delete_policy
                and config.retention_ms >= 0
                and now_ms - seg.largest_timestamp() > config.retention_ms
            )
            breach_size = (
                delete_policy and retention_bytes_left >= 0 and retention_bytes_left - seg.size >= 0
            )
            if not (breach_start or breach_time or breach_size):
                break
            if retention_bytes_left >= 0:
                retention_bytes_left -= seg.size
            count += 1
        return count

    def _delete_segments(self, count: int, now_ms: int) -> None:
        doomed = self.segments[:count]
        del self.segments[:count]
        self._bases = [s.base_offset for s in self.segments]
        new_start = max(self.log_start_offset, self.segments[0].base_offset)
        if new_start > self.log_start_offset:
            self.log_start_offset = new_start
            self.leader_epoch_cache.truncate_from_start(new_start)
            self.producer_state.on_log_start_offset_incremented(new_start)
        self.producer_state.delete_snapshots_before(self.segments[0].base_offset)
        for seg in doomed:
            log.info("Deleting segment %s (retention)", seg.log_path)
            txn = self._txn_indexes.pop(
                seg.base_offset, TransactionIndex.for_segment(self.dir, seg.base_offset)
            )
            seg.rename_to_deleted()
            if txn.path.exists():
                txn.rename_to(txn.path.with_name(txn.path.name + DELETED_SUFFIX))
            txn.close()
            # Only the .deleted names are removed later, never a live segment's.
            self._pending_deletes.append(
                (now_ms + self.config.file_delete_delay_ms, RetiredSegment(seg), txn)  # type: ignore[arg-type]
            )
        fsync_dir(self.dir)

    @_locked
    def replace_segments(
        self,
        old: list[LogSegment],
        new_base_offset: int,
        *,
        now_ms: int,
        expected_sizes: list[int] | None = None,
    ) -> bool:
        """Swap the log cleaner's ``<new_base_offset>.*.cleaned`` files in for ``old``
        (consecutive, non-active segments), as Kafka's ``replaceSegments``:
        ``.cleaned`` -> ``.swap``, old files -> ``.deleted`` (removed after
        ``file.delete.delay.ms``), ``.swap`` -> final names. Returns False, changing
        nothing, when ``old`` is no longer exactly that stretch of the log (retention,
        truncation or a close happened meanwhile)."""
        if self.closed or not old:
            return False
        i = next((k for k, s in enumerate(self.segments) if s is old[0]), None)
        j = (i or 0) + len(old)
        if i is None or j >= len(self.segments):
            return False
        if any(a is not b for a, b in zip(self.segments[i:j], old, strict=True)):
            return False
        if expected_sizes is not None and [s.size for s in old] != expected_sizes:
            return False
        rename_cleaned_to_swap(self.dir, new_base_offset)
        for seg in old:
            txn = self._txn_indexes.pop(seg.base_offset, None) or TransactionIndex.for_segment(
                self.dir, seg.base_offset
            )
            seg.rename_to_deleted()
            txn.rename_to(txn.path.with_name(txn.path.name + DELETED_SUFFIX))
            txn.close()
            # The replacement may reuse the base offset: delete only the .deleted names.
            self._pending_deletes.append(
                (now_ms + self.config.file_delete_delay_ms, RetiredSegment(seg), txn)  # type: ignore[arg-type]
            )
        fsync_dir(self.dir)
        rename_swap_to_final(self.dir, new_base_offset)
        segment = self._new_segment(new_base_offset, now_ms)
        segment.load_clean()
        segment.close_handlers()
        self.segments[i:j] = [segment]
        self._bases = [s.base_offset for s in self.segments]
        self._txn_indexes[new_base_offset] = TransactionIndex.for_segment(self.dir, new_base_offset)
        return True

    def take_due_deletes(self, now_ms: int | None) -> list[tuple[LogSegment, TransactionIndex]]:
        """Retired segments whose ``file.delete.delay.ms`` is over (all with None),
        taken off the log: remove their files with ``remove_retired`` (off the event
        loop). Not under the log's lock, which a flush in a worker thread may hold for
        long: only the caller's thread (the event loop) changes the retired list."""
        if not self._pending_deletes:
            return []
        due = [(seg, txn) for at, seg, txn in self._pending_deletes if now_ms is None or now_ms >= at]
        if due:
            self._pending_deletes = [item for item in self._pending_deletes if now_ms is not None and now_ms < item[0]]
        return due

    @staticmethod
    def remove_retired(items: list[tuple[LogSegment, TransactionIndex]]) -> None:
        """Remove the files of segments from ``take_due_deletes``."""
        for seg, txn in items:
            seg.delete_files()
            txn.delete()

    def _purge_pending(self, now_ms: int | None) -> None:
        self.remove_retired(self.take_due_deletes(now_ms))

    # ================================================================== flush and close

    @_locked
    def flush(self, now_ms: int | None = None, *, up_to: int | None = None) -> None:
        """fsync the log up to ``up_to`` (default: the log end offset) and move the
        recovery point there. Only segments at or after the recovery point are touched."""
        self._check_open()
        target = self.log_end_offset if up_to is None else min(up_to, self.log_end_offset)
        if target > self.recovery_point:
            i = max(0, bisect_right(self._bases, self.recovery_point) - 1)
            for seg in self.segments[i:]:
                if seg.base_offset >= target:
                    break
                seg.flush()
                idx = self._txn_indexes.get(seg.base_offset)
                if idx is not None:
                    idx.flush()
            self.producer_state.flush_snapshots()
            # Appends may have run meanwhile; truncation could not (it takes the lock).
            self.recovery_point = min(target, self.log_end_offset)
        if now_ms is not None:
            self.last_flush_ms = now_ms

    def maybe_flush(self, now_ms: int, *, flush_ms_policy: bool = True) -> bool:
        """Periodic flushing: Kafka's ``flush.ms`` rule (unless ``flush_ms_policy`` is
        False), and (as Kafka does in the background after a roll) fsync of segments
        that are no longer active, so an unclean restart only rescans the active segment."""
        if flush_ms_policy and self._flush_ms_due(now_ms):
            self.flush(now_ms)
            return True
        if self.recovery_point < self.active_segment.base_offset:
            self.flush(up_to=self.active_segment.base_offset)
            return True
        return False

    def _flush_ms_due(self, now_ms: int) -> bool:
        return self.config.flush_ms < LONG_MAX and now_ms - self.last_flush_ms >= self.config.flush_ms

    def needs_flush(self, now_ms: int, *, flush_ms_policy: bool = True) -> bool:
        """Whether ``maybe_flush`` would fsync anything now (cheap, no I/O)."""
        return (flush_ms_policy and self._flush_ms_due(now_ms)) or (
            self.recovery_point < self.active_segment.base_offset
        )

    def remove_expired_producers(self, now_ms: int) -> None:
        self.producer_state.remove_expired_producers(now_ms)

    @_locked
    def close(self) -> None:
        """Snapshot producer state and close every file (does not fsync the log: see ``flush``)."""
        if self.closed:
            return
        self.producer_state.take_snapshot(self.log_end_offset)
        for seg in self.segments:
            seg.close()
        for idx in self._txn_indexes.values():
            idx.close()
        self._purge_pending(None)
        self.closed = True

    @_locked
    def rename_for_delete(self) -> Path:
        """Kafka's async delete of a partition, step one (DeleteTopics): mark the log
        closed and rename its directory to ``<topic>-<partition>.<id>-delete``, so the
        partition is gone from now on (a new one may be created under the old name) and
        a restart finds the directory already marked. The files stay open, so fetch
        answers still being sent can finish; ``delete`` removes them later."""
        target = self.dir.with_name(f"{self.dir.name}.{uuid.uuid4().hex}{DELETE_DIR_SUFFIX}")
        # No fsync of the parent here, on the event loop (Kafka's rename does not flush
        # it either): if a crash loses the rename, the restart finds the old directory
        # of a topic the metadata no longer has, and reports it.
        os.rename(self.dir, target)
        self.dir = target
        self.closed = True
        return target

    @_locked
    def delete(self) -> None:
        """Close and remove the whole partition directory (DeleteTopics)."""
        if self.dir.name.endswith(DELETE_DIR_SUFFIX):
            # Renamed by rename_for_delete: the segments' paths name the old directory,
            # where a new partition of the same name may live now. Close, never unlink.
            retired = self.take_due_deletes(None)
            for seg in [*self.segments, *(seg for seg, _txn in retired)]:
                seg.close_files()
            for idx in [*self._txn_indexes.values(), *(txn for _seg, txn in retired)]:
                idx.close()
            self.closed = True
        elif not self.closed:
            for seg in self.segments:
                seg.delete_files()
            for idx in self._txn_indexes.values():
                idx.close()
            self._purge_pending(None)
            self.closed = True
        remove_log_dir(self.dir)

    def _check_open(self) -> None:
        if self.closed:
            raise StorageError(ErrorCode.KAFKA_STORAGE_ERROR, f"log {self.dir} is closed")

    def __repr__(self) -> str:
        return (
            f"Log({self.topic}-{self.partition}, log_start_offset={self.log_start_offset}, "
            f"log_end_offset={self.log_end_offset}, high_watermark={self.high_watermark}, "
            f"segments={len(self.segments)})"
        )


__all__ = [
    "EARLIEST_TIMESTAMP",
    "LATEST_TIMESTAMP",
    "MAX_TIMESTAMP",
    "FetchDataInfo",
    "Log",
    "LogAppendInfo",
    "UnexpectedAppendOffsetError",
    "parse_partition_dir_name",
    "INDEX_SUFFIX",
    "LOG_SUFFIX",
    "TIME_INDEX_SUFFIX",
    "TXN_INDEX_SUFFIX",
    "LEADER_EPOCH_CHECKPOINT",
    "segment_file_name",
]


def remove_log_dir(path: Path) -> None:
    """Remove a partition directory and every file in it (the last step of a delete)."""
    for entry in os.scandir(path):
        os.unlink(entry.path)
    os.rmdir(path)
    fsync_dir(path.parent)
