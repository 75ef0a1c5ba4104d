"""Producer state: idempotence (sequence numbers, epochs, duplicates) and transactions.

Theory of operation
-------------------
Every idempotent or transactional batch carries a producer id, a producer epoch and
the sequence number of its first record. Per partition the broker remembers, for
each producer id, its epoch and the last five batches it appended (sequence range,
offsets, timestamp), Kafka's ``ProducerStateEntry``. With that it can

* answer a retried batch (same epoch and the same first and last sequence as one
  of the five) with the offsets it got the first time, instead of writing it twice;
* reject a batch that does not continue the producer's sequence
  (``OUT_OF_ORDER_SEQUENCE_NUMBER``) or comes from an older epoch
  (``INVALID_PRODUCER_EPOCH``);
* track the transaction each producer has open on the partition: its first offset
  bounds the last stable offset that ``read_committed`` consumers may read, and the
  commit or abort marker ends it (an abort is recorded in the transaction index).

The Log uses it in two steps per batch: ``check_batch`` before offsets are assigned
(raises ``StorageError`` / ``DuplicateBatchError``), ``on_batch_appended`` after the
batch is in the segment (updates the state; for a marker it returns the finished
transaction so the Log can write the abort into that segment's ``.txnindex``).

The state survives restarts through snapshot files ``<20-digit offset>.snapshot``
in the partition directory, Kafka's producer snapshot format: the state as of
that offset (every batch below it applied). Loading takes the newest readable
snapshot at or below the log end offset and replays the batches after it.

Snapshot layout (big-endian)::

    0  version                    int16   (1)
    2  crc                        uint32  CRC-32C of everything from byte 6 on
    6  count                      int32
    10 entries, 46 bytes each:
       producer_id int64, epoch int16, last_sequence int32, last_offset int64,
       offset_delta int32, timestamp int64, coordinator_epoch int32,
       current_txn_first_offset int64 (-1 if none)

Only the producer's last batch goes into a snapshot, as in Kafka: after a restart
a retry of an older batch is no longer recognised as a duplicate.
"""

from __future__ import annotations

import bisect
import logging
import re
import struct
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import crc32c

from storage.checkpoints import fsync_dir, fsync_file, write_atomic
from storage.errors import DuplicateBatchError, StorageError
from storage.transaction_index import AbortedTxn
from wire.errors import ErrorCode

__all__ = [
    "NUM_BATCHES_TO_RETAIN",
    "BatchMetadata",
    "CompletedTxn",
    "CorruptSnapshotError",
    "ProducerStateEntry",
    "ProducerStateManager",
    "TxnMetadata",
    "decrement_sequence",
    "increment_sequence",
    "read_snapshot",
    "snapshot_path",
    "write_snapshot",
]

log = logging.getLogger(__name__)

NUM_BATCHES_TO_RETAIN = 5
NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
NO_SEQUENCE = -1
NO_TIMESTAMP = -1
INT32_MAX = 0x7FFFFFFF

ORIGIN_CLIENT = "client"
ORIGIN_REPLICATION = "replication"
ORIGIN_COORDINATOR = "coordinator"
_ORIGINS = frozenset({ORIGIN_CLIENT, ORIGIN_REPLICATION, ORIGIN_COORDINATOR})

CONTROL_ABORT = 0
CONTROL_COMMIT = 1

SNAPSHOT_SUFFIX = ".snapshot"
SNAPSHOT_VERSION = 1
_SNAPSHOT_NAME = re.compile(r"^(\d{20})\.snapshot$")
_SNAPSHOT_TMP_SUFFIX = ".snapshot.tmp"
_SNAP_HEAD = struct.Struct(">hIi")  # version, crc, entry count
_SNAP_CRC_START = 6
_SNAP_ENTRY = struct.Struct(">qhiqiqiq")  # 46 bytes


class BatchHeaderLike(Protocol):
    """What the manager reads from ``wire.records.RecordBatchHeader``."""

    base_offset: int
    last_offset_delta: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int

    @property
    def is_transactional(self) -> bool: ...

    @property
    def is_control(self) -> bool: ...


# -- sequence arithmetic (int32, wrapping to 0 after 2**31 - 1 as producers do) ------


def increment_sequence(sequence: int, increment: int) -> int:
    """``sequence + increment``, wrapping past ``INT32_MAX`` to 0."""
    if sequence > INT32_MAX - increment:
        return increment - (INT32_MAX - sequence) - 1
    return sequence + increment


def decrement_sequence(sequence: int, decrement: int) -> int:
    """``sequence - decrement``, wrapping below 0 to ``INT32_MAX``."""
    if sequence < decrement:
        return INT32_MAX - (decrement - sequence) + 1
    return sequence - decrement


def _in_sequence(last_seq: int, next_seq: int) -> bool:
    return next_seq == last_seq + 1 or (next_seq == 0 and last_seq == INT32_MAX)


def _last_sequence(header: BatchHeaderLike) -> int:
    if header.base_sequence == NO_SEQUENCE:
        return NO_SEQUENCE
    return increment_sequence(header.base_sequence, header.last_offset_delta)


# -- value types ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchMetadata:
    """One appended batch of a producer: enough to recognise and answer a retry."""

    last_seq: int
    last_offset: int
    offset_delta: int
    timestamp: int

    @property
    def first_seq(self) -> int:
        return decrement_sequence(self.last_seq, self.offset_delta)

    @property
    def first_offset(self) -> int:
        return self.last_offset - self.offset_delta


@dataclass(slots=True)
class TxnMetadata:
    """A transaction on this partition: open while ``last_offset`` is None."""

    producer_id: int
    first_offset: int
    last_offset: int | None = None


@dataclass(frozen=True, slots=True)
class CompletedTxn:
    """A transaction ended by a marker at ``last_offset``.

    ``last_stable_offset`` is the partition's LSO just after the marker, computed
    before the transaction left the open set, as Kafka stores it in the index.
    """

    producer_id: int
    first_offset: int
    last_offset: int
    is_aborted: bool
    last_stable_offset: int

    def to_aborted_txn(self) -> AbortedTxn:
        """The transaction index entry for this (aborted) transaction."""
        return AbortedTxn(
            self.producer_id, self.first_offset, self.last_offset, self.last_stable_offset
        )


class ProducerStateEntry:
    """What the partition knows about one producer id (Kafka's ``ProducerStateEntry``).

    ``batch_metadata`` holds the producer's last batches of its current epoch,
    oldest first, at most ``NUM_BATCHES_TO_RETAIN``.
    """

    __slots__ = (
        "producer_id",
        "producer_epoch",
        "coordinator_epoch",
        "last_timestamp",
        "current_txn_first_offset",
        "batch_metadata",
    )

    def __init__(
        self,
        producer_id: int,
        producer_epoch: int = NO_PRODUCER_EPOCH,
        coordinator_epoch: int = -1,
        last_timestamp: int = NO_TIMESTAMP,
        current_txn_first_offset: int | None = None,
        batch_metadata: Iterable[BatchMetadata] = (),
    ) -> None:
        self.producer_id = producer_id
        self.producer_epoch = producer_epoch
        self.coordinator_epoch = coordinator_epoch
        self.last_timestamp = last_timestamp
        self.current_txn_first_offset = current_txn_first_offset
        self.batch_metadata: deque[BatchMetadata] = deque(
            batch_metadata, maxlen=NUM_BATCHES_TO_RETAIN
        )

    @property
    def is_empty(self) -> bool:
        return not self.batch_metadata

    @property
    def first_seq(self) -> int:
        return self.batch_metadata[0].first_seq if self.batch_metadata else NO_SEQUENCE

    @property
    def last_seq(self) -> int:
        return self.batch_metadata[-1].last_seq if self.batch_metadata else NO_SEQUENCE

    last_sequence = last_seq

    @property
    def first_data_offset(self) -> int:
        return self.batch_metadata[0].first_offset if self.batch_metadata else -1

    @property
    def last_data_offset(self) -> int:
        return self.batch_metadata[-1].last_offset if self.batch_metadata else -1

    @property
    def last_offset_delta(self) -> int:
        return self.batch_metadata[-1].offset_delta if self.batch_metadata else 0

    @property
    def current_txn_start_offset(self) -> int:
        """First offset of the open transaction, -1 if none (DescribeProducers' form)."""
        return -1 if self.current_txn_first_offset is None else self.current_txn_first_offset

    def find_duplicate(
        self, producer_epoch: int, first_seq: int, last_seq: int
    ) -> BatchMetadata | None:
        """The cached batch with exactly this epoch and sequence range, if any."""
        if producer_epoch != self.producer_epoch:
            return None
        for batch in self.batch_metadata:
            if batch.last_seq == last_seq and batch.first_seq == first_seq:
                return batch
        return None

    def _maybe_update_epoch(self, producer_epoch: int) -> None:
        # Sequences restart with each epoch, so the old epoch's batches cannot match anymore.
        if producer_epoch != self.producer_epoch:
            self.batch_metadata.clear()
            self.producer_epoch = producer_epoch

    def _add_batch(
        self,
        producer_epoch: int,
        last_seq: int,
        last_offset: int,
        offset_delta: int,
        timestamp: int,
    ) -> None:
        self._maybe_update_epoch(producer_epoch)
        self.batch_metadata.append(BatchMetadata(last_seq, last_offset, offset_delta, timestamp))
        self.last_timestamp = timestamp

    def copy(self) -> ProducerStateEntry:
        return ProducerStateEntry(
            self.producer_id,
            self.producer_epoch,
            self.coordinator_epoch,
            self.last_timestamp,
            self.current_txn_first_offset,
            self.batch_metadata,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProducerStateEntry):
            return NotImplemented
        return (
            self.producer_id,
            self.producer_epoch,
            self.coordinator_epoch,
            self.last_timestamp,
            self.current_txn_first_offset,
            list(self.batch_metadata),
        ) == (
            other.producer_id,
            other.producer_epoch,
            other.coordinator_epoch,
            other.last_timestamp,
            other.current_txn_first_offset,
            list(other.batch_metadata),
        )

    def __repr__(self) -> str:
        return (
            f"ProducerStateEntry(producer_id={self.producer_id}, producer_epoch={self.producer_epoch}, "
            f"coordinator_epoch={self.coordinator_epoch}, last_timestamp={self.last_timestamp}, "
            f"current_txn_first_offset={self.current_txn_first_offset}, "
            f"batch_metadata={list(self.batch_metadata)})"
        )


# -- snapshot files --------------------------------------------------------------------


class CorruptSnapshotError(Exception):
    """A snapshot file is unreadable: bad CRC, unknown version or wrong length."""


def snapshot_path(directory: Path | str, offset: int) -> Path:
    """``<dir>/<20-digit offset>.snapshot``."""
    return Path(directory) / f"{offset:020d}{SNAPSHOT_SUFFIX}"


def encode_snapshot(entries: Iterable[ProducerStateEntry]) -> bytes:
    """The bytes of a version 1 snapshot holding ``entries`` (in the given order)."""
    body = bytearray()
    count = 0
    for e in entries:
        body += _SNAP_ENTRY.pack(
            e.producer_id,
            e.producer_epoch,
            e.last_seq,
            e.last_data_offset,
            e.last_offset_delta,
            e.last_timestamp,
            e.coordinator_epoch,
            e.current_txn_start_offset,
        )
        count += 1
    head = bytearray(_SNAP_HEAD.pack(SNAPSHOT_VERSION, 0, count))
    data = head + body
    crc = crc32c.crc32c(bytes(data[_SNAP_CRC_START:]))
    struct.pack_into(">I", data, 2, crc)
    return bytes(data)


def decode_snapshot(data: bytes, source: str = "snapshot") -> list[ProducerStateEntry]:
    """Parse snapshot bytes; ``CorruptSnapshotError`` if anything is off."""
    if len(data) < _SNAP_HEAD.size:
        raise CorruptSnapshotError(f"{source} is too short ({len(data)} bytes)")
    version, stored_crc, count = _SNAP_HEAD.unpack_from(data, 0)
    if version != SNAPSHOT_VERSION:
        raise CorruptSnapshotError(f"{source} has unknown version {version}")
    computed = crc32c.crc32c(data[_SNAP_CRC_START:])
    if computed != stored_crc:
        raise CorruptSnapshotError(
            f"{source} is corrupt: stored crc {stored_crc}, computed crc {computed}"
        )
    if count < 0 or len(data) != _SNAP_HEAD.size + count * _SNAP_ENTRY.size:
        raise CorruptSnapshotError(f"{source} claims {count} entries but has {len(data)} bytes")
    entries = []
    for i in range(count):
        (
            producer_id,
            epoch,
            last_seq,
            last_offset,
            offset_delta,
            timestamp,
            coordinator_epoch,
            txn_first_offset,
        ) = _SNAP_ENTRY.unpack_from(data, _SNAP_HEAD.size + i * _SNAP_ENTRY.size)
        # An entry whose producer only ever wrote markers has no batch (last_offset -1).
        batches = (
            [BatchMetadata(last_seq, last_offset, offset_delta, timestamp)]
            if last_offset >= 0
            else []
        )
        entries.append(
            ProducerStateEntry(
                producer_id,
                epoch,
                coordinator_epoch,
                timestamp,
                txn_first_offset if txn_first_offset >= 0 else None,
                batches,
            )
        )
    return entries


def read_snapshot(path: Path | str) -> list[ProducerStateEntry]:
    """Read one snapshot file."""
    return decode_snapshot(Path(path).read_bytes(), str(path))


def write_snapshot(path: Path | str, data: bytes, *, sync: bool = True) -> None:
    """Write a snapshot (``encode_snapshot``'s bytes) atomically: temp file, fsync,
    rename, fsync the directory (without the fsyncs when ``sync`` is False).

    A directory that cannot be fsynced is not an error here: a lost snapshot is
    rebuilt from the log on recovery (``load`` skips a torn or missing one)."""
    write_atomic(Path(path), data, best_effort_dir_sync=True, sync=sync)


# -- the manager ---------------------------------------------------------------------


class _TxnsByOffset:
    """Transactions keyed and ordered by first offset (few entries, mostly appended in order)."""

    __slots__ = ("_offsets", "_txns")

    def __init__(self) -> None:
        self._offsets: list[int] = []
        self._txns: dict[int, TxnMetadata] = {}

    def put(self, txn: TxnMetadata) -> None:
        if txn.first_offset not in self._txns:
            bisect.insort(self._offsets, txn.first_offset)
        self._txns[txn.first_offset] = txn

    def pop(self, first_offset: int) -> TxnMetadata | None:
        txn = self._txns.pop(first_offset, None)
        if txn is not None:
            del self._offsets[bisect.bisect_left(self._offsets, first_offset)]
        return txn

    def first(self) -> TxnMetadata | None:
        return self._txns[self._offsets[0]] if self._offsets else None

    def values(self) -> list[TxnMetadata]:
        return [self._txns[o] for o in self._offsets]

    def clear(self) -> None:
        self._offsets.clear()
        self._txns.clear()

    def __len__(self) -> int:
        return len(self._offsets)


ReplayItem = tuple[Any, ...]
Replay = Callable[[int], Iterable[ReplayItem]]


def _control_fields(control: Any, coordinator_epoch: int) -> tuple[int | None, int]:
    """Accept a control type (int), a ``ControlRecord``-like object, or None."""
    if control is None or isinstance(control, int):
        return control, coordinator_epoch
    epoch = getattr(control, "coordinator_epoch", None)
    return control.type, coordinator_epoch if epoch is None else epoch


class ProducerStateManager:
    """The producer state of one partition (Kafka's ``ProducerStateManager``).

    ``check_batch`` validates before an append, ``on_batch_appended`` records an
    appended batch. Snapshots live in ``partition_dir``; ``load`` rebuilds the state
    from the newest good snapshot plus a replay of the log after it.
    """

    def __init__(
        self,
        partition_dir: Path | str,
        producer_id_expiration_ms: int = 86_400_000,
        *,
        max_snapshots: int = 5,
    ) -> None:
        self.partition_dir = Path(partition_dir)
        self.producer_id_expiration_ms = producer_id_expiration_ms
        self.max_snapshots = max(1, max_snapshots)
        self._producers: dict[int, ProducerStateEntry] = {}
        self._ongoing = _TxnsByOffset()
        # Completed transactions whose marker is not yet below the high watermark:
        # they stay unstable until replicated (Kafka's unreplicatedTxns).
        self._unreplicated = _TxnsByOffset()
        self._snapshots: dict[int, Path] = {}
        # Snapshots written without fsync (at a segment roll), made durable by
        # ``flush_snapshots`` when the log flushes the rolled segment.
        self._unsynced: deque[Path] = deque()
        self._map_end_offset = 0
        self._dirty = False
        self._scan_snapshots()

    # -- queries -----------------------------------------------------------------

    def last_entry(self, producer_id: int) -> ProducerStateEntry | None:
        return self._producers.get(producer_id)

    def active_producers(self) -> list[ProducerStateEntry]:
        """Every producer with state on this partition, by producer id (DescribeProducers)."""
        return [self._producers[pid] for pid in sorted(self._producers)]

    @property
    def producer_id_count(self) -> int:
        return len(self._producers)

    def is_empty(self) -> bool:
        return not self._producers and not len(self._unreplicated)

    def ongoing_transactions(self) -> list[TxnMetadata]:
        """Open transactions, oldest first."""
        return self._ongoing.values()

    def has_ongoing_transaction(self, producer_id: int, producer_epoch: int) -> bool:
        """True if this producer, at this epoch, has a transaction open here."""
        entry = self._producers.get(producer_id)
        return (
            entry is not None
            and entry.current_txn_first_offset is not None
            and entry.producer_epoch == producer_epoch
        )

    def first_undecided_offset(self) -> int | None:
        """First offset of the oldest open transaction."""
        txn = self._ongoing.first()
        return None if txn is None else txn.first_offset

    def first_unstable_offset(self) -> int | None:
        """Lowest first offset of a transaction that is open, or ended by a marker the
        high watermark has not passed yet. The Log's last stable offset is
        ``min(first_unstable_offset, high_watermark)``."""
        candidates = [
            t.first_offset for t in (self._ongoing.first(), self._unreplicated.first()) if t
        ]
        return min(candidates) if candidates else None

    def last_stable_offset(self, completed_txn: CompletedTxn) -> int:
        """The LSO right after ``completed_txn`` ends: the first offset of the oldest
        open transaction of another producer, else the offset after the marker."""
        return self._stable_offset_after(completed_txn.producer_id, completed_txn.last_offset)

    def _stable_offset_after(self, producer_id: int, marker_offset: int) -> int:
        for txn in self._ongoing.values():
            if txn.producer_id != producer_id:
                return txn.first_offset
        return marker_offset + 1

    @property
    def map_end_offset(self) -> int:
        """The offset up to which (exclusive) batches have been applied."""
        return self._map_end_offset

    # -- validation ----------------------------------------------------------------

    def check_batch(
        self,
        header: BatchHeaderLike,
        *,
        origin: str,
        now_ms: int,
        coordinator_epoch: int | None = None,
        transaction_version: int = 0,
    ) -> None:
        """Validate a batch about to be appended; raise if Kafka would refuse it.

        ``origin``: "client" (produce to the leader: duplicate, epoch and sequence
        checks), "coordinator" (group/transaction coordinator writes and markers:
        epoch checks only), "replication" (follower: no checks; the leader
        validated the batches, and a follower append holds many batches that are
        all checked before any is applied, so state-based checks would misfire).
        For a marker, ``coordinator_epoch`` is the one in its
        control record and ``transaction_version`` 2 applies KIP-890's stricter
        epoch rule. ``now_ms`` is accepted for symmetry; validation does not use time.

        Raises ``DuplicateBatchError`` for a retry of one of the producer's last five
        batches, ``StorageError`` with ``INVALID_PRODUCER_EPOCH``,
        ``OUT_OF_ORDER_SEQUENCE_NUMBER``, ``INVALID_TXN_STATE`` or
        ``TRANSACTION_COORDINATOR_FENCED``.
        """
        if origin not in _ORIGINS:
            raise ValueError(f"unknown append origin {origin!r}")
        producer_id = header.producer_id
        if producer_id == NO_PRODUCER_ID or origin == ORIGIN_REPLICATION:
            return
        entry = self._producers.get(producer_id)
        epoch = header.producer_epoch
        current_epoch = entry.producer_epoch if entry is not None else NO_PRODUCER_EPOCH
        offset = header.base_offset

        if header.is_control:
            self._check_marker_epoch(entry, producer_id, epoch, offset, transaction_version)
            if (
                coordinator_epoch is not None
                and entry is not None
                and entry.coordinator_epoch > coordinator_epoch
            ):
                raise StorageError(
                    ErrorCode.TRANSACTION_COORDINATOR_FENCED,
                    f"Invalid coordinator epoch for producer {producer_id} at offset {offset}: "
                    f"{coordinator_epoch} (zombie), {entry.coordinator_epoch} (current)",
                )
            return

        first_seq = header.base_sequence
        if origin == ORIGIN_CLIENT and entry is not None:
            duplicate = entry.find_duplicate(epoch, first_seq, _last_sequence(header))
            if duplicate is not None:
                raise DuplicateBatchError(
                    duplicate.first_offset,
                    duplicate.last_offset,
                    duplicate.timestamp,
                    f"Batch of producer {producer_id} with sequences {first_seq}.."
                    f"{duplicate.last_seq} was already appended at offset {duplicate.first_offset}",
                )

        if epoch < current_epoch:
            raise StorageError(
                ErrorCode.INVALID_PRODUCER_EPOCH,
                f"Epoch of producer {producer_id} at offset {offset} is {epoch}, "
                f"which is smaller than the last seen epoch {current_epoch}",
            )

        if origin == ORIGIN_CLIENT:
            self._check_sequence(entry, producer_id, epoch, first_seq, offset)

        if (
            entry is not None
            and entry.current_txn_first_offset is not None
            and not header.is_transactional
        ):
            raise StorageError(
                ErrorCode.INVALID_TXN_STATE,
                f"Expected transactional write from producer {producer_id} at offset {offset}: "
                f"it has a transaction open since offset {entry.current_txn_first_offset}",
            )

    def _check_marker_epoch(
        self,
        entry: ProducerStateEntry | None,
        producer_id: int,
        epoch: int,
        offset: int,
        transaction_version: int,
    ) -> None:
        current = entry.producer_epoch if entry is not None else NO_PRODUCER_EPOCH
        if transaction_version >= 2:
            # With KIP-890 the coordinator bumps the epoch for every marker; an equal
            # epoch is only a retry of a marker already written.
            invalid = epoch <= current and not (
                epoch == current and (entry is None or entry.current_txn_first_offset is None)
            )
        else:
            invalid = epoch < current
        if invalid:
            raise StorageError(
                ErrorCode.INVALID_PRODUCER_EPOCH,
                f"Epoch of producer {producer_id} at offset {offset} "
                f"is {epoch}, older than the last seen epoch {current}",
            )

    def _check_sequence(
        self,
        entry: ProducerStateEntry | None,
        producer_id: int,
        epoch: int,
        first_seq: int,
        offset: int,
    ) -> None:
        current_epoch = entry.producer_epoch if entry is not None else NO_PRODUCER_EPOCH
        if epoch != current_epoch:
            # A new epoch must start again at 0; a producer the partition has never
            # seen (or whose state expired) may start anywhere, as in Kafka 4.
            if first_seq != 0 and current_epoch != NO_PRODUCER_EPOCH:
                raise StorageError(
                    ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                    f"Invalid sequence number for new epoch of producer {producer_id} at offset "
                    f"{offset}: {epoch} (request epoch), {first_seq} (seq. number), "
                    f"{current_epoch} (current producer epoch)",
                )
            return
        assert entry is not None  # epochs are equal and not NO_PRODUCER_EPOCH
        last_seq = entry.last_seq
        if not _in_sequence(last_seq, first_seq):
            raise StorageError(
                ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                f"Out of order sequence number for producer {producer_id} at offset {offset}: "
                f"{first_seq} (incoming seq. number), {last_seq} (current end sequence number)",
            )

    # -- updating -------------------------------------------------------------------

    def on_batch_appended(
        self,
        header: BatchHeaderLike,
        *,
        first_offset: int,
        append_time_ms: int,
        control_type: Any = None,
        coordinator_epoch: int = -1,
    ) -> CompletedTxn | None:
        """Record a batch now in the log at ``first_offset``.

        Call it for every appended batch (leader, follower and coordinator appends;
        batches without a producer id only move ``map_end_offset``).
        ``append_time_ms`` is the LogAppendTime stamped on the batch, or -1 for
        CreateTime topics; the producer's remembered timestamp (returned for a
        duplicate, used for expiry) is that, else the batch's max timestamp, as
        Kafka keeps it. For a marker pass ``control_type`` (0 abort, 1 commit, or the
        ``ControlRecord``) and its ``coordinator_epoch``.

        Returns the ``CompletedTxn`` when a marker ends a transaction that wrote data
        here; the transaction has then left the open set. The Log appends
        ``completed.to_aborted_txn()`` to the ``.txnindex`` of the segment holding
        the marker when ``completed.is_aborted``.
        """
        completed = self._apply(
            header, first_offset, append_time_ms, control_type, coordinator_epoch
        )
        if completed is not None:
            txn = self._ongoing.pop(completed.first_offset)
            if txn is not None:
                txn.last_offset = completed.last_offset
                self._unreplicated.put(txn)
        return completed

    def _apply(
        self,
        header: BatchHeaderLike,
        first_offset: int,
        append_time_ms: int,
        control: Any,
        coordinator_epoch: int,
    ) -> CompletedTxn | None:
        last_offset = first_offset + header.last_offset_delta
        if last_offset + 1 > self._map_end_offset:
            self._map_end_offset = last_offset + 1
        producer_id = header.producer_id
        if producer_id == NO_PRODUCER_ID:
            return None
        self._dirty = True
        timestamp = (
            append_time_ms
            if append_time_ms is not None and append_time_ms >= 0
            else header.max_timestamp
        )
        entry = self._producers.get(producer_id)
        if entry is None:
            entry = ProducerStateEntry(producer_id)
            self._producers[producer_id] = entry

        if header.is_control:
            control_type, coordinator_epoch = _control_fields(control, coordinator_epoch)
            if control_type not in (CONTROL_ABORT, CONTROL_COMMIT):
                # An empty control batch (its marker cleaned away) changes nothing.
                return None
            completed = None
            if entry.current_txn_first_offset is not None:
                completed = CompletedTxn(
                    producer_id,
                    entry.current_txn_first_offset,
                    first_offset,
                    control_type == CONTROL_ABORT,
                    self._stable_offset_after(producer_id, first_offset),
                )
            entry._maybe_update_epoch(header.producer_epoch)
            entry.coordinator_epoch = coordinator_epoch
            entry.current_txn_first_offset = None
            entry.last_timestamp = timestamp
            return completed

        entry._add_batch(
            header.producer_epoch,
            _last_sequence(header),
            last_offset,
            last_offset - first_offset,
            timestamp,
        )
        if header.is_transactional and entry.current_txn_first_offset is None:
            entry.current_txn_first_offset = first_offset
            self._ongoing.put(TxnMetadata(producer_id, first_offset))
        return None

    def on_high_watermark_updated(self, high_watermark: int) -> None:
        """Completed transactions whose marker is below ``high_watermark`` become stable."""
        self._drop_unreplicated_below(high_watermark)

    def on_log_start_offset_incremented(self, log_start_offset: int) -> None:
        """DeleteRecords or retention moved the log start offset forward."""
        self._drop_unreplicated_below(log_start_offset)
        if self._map_end_offset < log_start_offset:
            self._map_end_offset = log_start_offset

    def _drop_unreplicated_below(self, offset: int) -> None:
        for txn in self._unreplicated.values():
            if txn.last_offset is not None and txn.last_offset < offset:
                self._unreplicated.pop(txn.first_offset)

    def remove_expired_producers(self, now_ms: int) -> None:
        """Forget producers idle for ``producer_id_expiration_ms``, except those with an
        open transaction."""
        expired = [pid for pid, e in self._producers.items() if self._is_expired(e, now_ms)]
        for pid in expired:
            del self._producers[pid]
        if expired:
            self._dirty = True

    def _is_expired(self, entry: ProducerStateEntry, now_ms: int) -> bool:
        return (
            entry.current_txn_first_offset is None
            and now_ms - entry.last_timestamp >= self.producer_id_expiration_ms
        )

    # -- snapshots --------------------------------------------------------------------

    def _scan_snapshots(self) -> None:
        self._snapshots = {}
        if not self.partition_dir.is_dir():
            return
        for path in self.partition_dir.iterdir():
            name = path.name
            match = _SNAPSHOT_NAME.match(name)
            if match and path.is_file():
                self._snapshots[int(match.group(1))] = path
            elif name.endswith(_SNAPSHOT_TMP_SUFFIX):
                # A snapshot whose write was interrupted: never renamed, never valid.
                path.unlink(missing_ok=True)

    def snapshot_offsets(self) -> list[int]:
        return sorted(self._snapshots)

    def latest_snapshot_offset(self) -> int | None:
        return max(self._snapshots) if self._snapshots else None

    def oldest_snapshot_offset(self) -> int | None:
        return min(self._snapshots) if self._snapshots else None

    def _delete_snapshot(self, offset: int) -> None:
        path = self._snapshots.pop(offset, None)
        if path is not None:
            path.unlink(missing_ok=True)

    def take_snapshot(
        self, log_end_offset: int, *, sync: bool = True, defer: bool = False
    ) -> Callable[[], None] | None:
        """Write the current state as ``<log_end_offset>.snapshot``.

        ``log_end_offset`` must be the offset every applied batch lies below (the
        Log's end offset now). Skipped when nothing changed since a snapshot at the
        same offset. Only the ``max_snapshots`` newest files are kept. With
        ``sync=False`` (a segment roll, as Kafka's ``takeSnapshot(false)``) the file
        is not fsynced here but by the next ``flush_snapshots``.

        With ``defer`` the state is captured now but the file work (writing it,
        removing the oldest) is returned as a function to run in a worker thread.
        Until it ran, a reader finds the snapshot missing and rebuilds from an older
        one and the log, as after a crash.
        """
        if log_end_offset < self._map_end_offset:
            raise ValueError(
                f"snapshot offset {log_end_offset} is below the applied end offset "
                f"{self._map_end_offset}"
            )
        self._map_end_offset = log_end_offset
        if log_end_offset in self._snapshots and not self._dirty:
            return None
        path = snapshot_path(self.partition_dir, log_end_offset)
        data = encode_snapshot(self.active_producers())
        self._snapshots[log_end_offset] = path
        self._dirty = False
        stale = [self._snapshots.pop(o) for o in sorted(self._snapshots)[: -self.max_snapshots]]

        def write() -> None:
            write_snapshot(path, data, sync=sync)
            if not sync:
                # Queued once written: a flush before that would find no file.
                self._unsynced.append(path)
            for old in stale:
                old.unlink(missing_ok=True)

        if defer:
            return write
        write()
        return None

    def flush_snapshots(self) -> None:
        """fsync the snapshots ``take_snapshot(sync=False)`` wrote (Kafka's
        ``flushProducerStateSnapshot``, run with the flush of the rolled segment).
        Safe from a worker thread while the event loop takes new snapshots; a
        snapshot deleted meanwhile is skipped."""
        synced = False
        while True:
            try:
                path = self._unsynced.popleft()
            except IndexError:
                break
            synced = fsync_file(path) or synced
        if synced:
            try:
                fsync_dir(self.partition_dir)
            except FileNotFoundError:
                pass

    def delete_snapshots_before(self, offset: int) -> None:
        """Remove snapshot files below ``offset`` (with the segments retention deleted)."""
        for snap in [o for o in self._snapshots if o < offset]:
            self._delete_snapshot(snap)

    # -- loading and truncation -----------------------------------------------------

    def _clear(self) -> None:
        self._producers.clear()
        self._ongoing.clear()
        self._unreplicated.clear()
        self._dirty = False

    def load(
        self,
        log_start_offset: int,
        log_end_offset: int,
        replay: Replay,
        *,
        now_ms: int | None = None,
    ) -> list[CompletedTxn]:
        """Rebuild the state for a log spanning ``[log_start_offset, log_end_offset)``.

        Snapshots above the end offset, or at or below the start offset, are deleted
        (as Kafka does); the newest remaining snapshot that reads correctly
        is loaded (a corrupt one is logged with its path, deleted, and the next older
        tried), then ``replay(from_offset)`` supplies the batches from there on as
        ``(header, control)`` or ``(header, control, coordinator_epoch)`` tuples, in
        offset order, with ``control`` None for data batches and the control type or
        ``ControlRecord`` for markers. Batches at or past ``log_end_offset`` are
        ignored. With ``now_ms``, producers loaded from the snapshot that have
        expired are dropped. A snapshot at ``log_end_offset`` is written when the
        replay covered anything.

        Returns the transactions the replay completed, so a Log recovering segments
        can re-add the aborted ones to their transaction indexes.
        """
        self._clear()
        self._scan_snapshots()
        for offset in list(self._snapshots):
            if offset > log_end_offset or offset <= log_start_offset:
                self._delete_snapshot(offset)

        start = log_start_offset
        for offset in sorted(self._snapshots, reverse=True):
            path = self._snapshots[offset]
            try:
                entries = read_snapshot(path)
            except (CorruptSnapshotError, OSError) as exc:
                log.warning("Skipping unreadable producer snapshot %s: %s", path, exc)
                self._delete_snapshot(offset)
                continue
            for entry in entries:
                if now_ms is not None and self._is_expired(entry, now_ms):
                    continue
                self._load_entry(entry)
            start = offset
            break
        self._map_end_offset = start

        completed: list[CompletedTxn] = []
        if log_end_offset > start:
            for item in replay(start):
                header = item[0]
                if header.base_offset >= log_end_offset:
                    break
                if header.base_offset + header.last_offset_delta < start:
                    continue
                control = item[1] if len(item) > 1 else None
                coordinator_epoch = item[2] if len(item) > 2 else -1
                done = self.on_batch_appended(
                    header,
                    first_offset=header.base_offset,
                    append_time_ms=-1,
                    control_type=control,
                    coordinator_epoch=coordinator_epoch,
                )
                if done is not None:
                    completed.append(done)
            self._map_end_offset = log_end_offset
            self.take_snapshot(log_end_offset)
        self._dirty = False
        return completed

    def _load_entry(self, entry: ProducerStateEntry) -> None:
        self._producers[entry.producer_id] = entry
        if entry.current_txn_first_offset is not None:
            self._ongoing.put(TxnMetadata(entry.producer_id, entry.current_txn_first_offset))

    def truncate(self, log_start_offset: int, log_end_offset: int) -> None:
        """The log was truncated to end at ``log_end_offset``: delete the snapshots
        that no longer describe it and drop the in-memory state.

        The Log must call ``load(log_start_offset, log_end_offset, replay)`` next; it
        rebuilds from the newest snapshot that survived.
        """
        self._scan_snapshots()
        for offset in list(self._snapshots):
            if offset > log_end_offset or offset <= log_start_offset:
                self._delete_snapshot(offset)
        self._clear()
        self._map_end_offset = min(self._map_end_offset, log_end_offset)

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """The log was emptied and restarts at ``offset``: no state, no snapshots."""
        self._clear()
        for snap in list(self._snapshots):
            self._delete_snapshot(snap)
        self._map_end_offset = offset
