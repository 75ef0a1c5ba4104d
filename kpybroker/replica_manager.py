"""The replica manager: partitions this broker leads, appends, reads and waiting.

Theory of operation
-------------------
Every partition this broker hosts is a ``Partition``: the storage ``Log`` plus the
replication state Kafka keeps beside it (``leader_epoch``, ``replicas``, ``isr``
and the log end offset each follower last reported). The high watermark is the
lowest log end offset across the ISR; with a single replica it follows the log end
offset after each append.

Nothing here polls. Each partition owns a set of waiters (``trio.Event``s). A
long-polling fetch or an ``acks=all`` produce registers one event in every
partition it watches and sleeps on it until the deadline; an append or a high
watermark move sets all of them. A woken waiter re-checks its condition and either
answers or registers again. This is Kafka's purgatory (``DelayedFetch`` /
``DelayedProduce``) without the timer wheel: trio's deadlines do the timing.

Appends and reads are page-cache writes and index lookups, so they run inline on
the event loop; only ``flush`` (fsync) goes to a worker thread.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from storage.errors import DuplicateBatchError, StorageError
from storage.write_behind import may_wait_for_disk, read_into_cache
from wire.buffers import FileSlice
from wire.errors import ErrorCode

if TYPE_CHECKING:
    import uuid

    from storage.config import LogConfig
    from storage.log import Log

log = logging.getLogger(__name__)

# Kafka's sentinels, by Kafka's names.
INVALID_OFFSET = -1
UNKNOWN_OFFSET = -1
NO_TIMESTAMP = -1
UNDEFINED_EPOCH = -1
UNDEFINED_EPOCH_OFFSET = -1
CONSUMER_REPLICA_ID = -1
FUTURE_LOCAL_REPLICA_ID = -3
READ_UNCOMMITTED = 0
READ_COMMITTED = 1

TopicPartition = tuple[str, int]
# Fetched slices up to this size are read into memory instead of sent with sendfile.
INLINE_READ_BYTES = 16 * 1024
#: Kafka's internal topics (``Topic.INTERNAL_TOPICS``): only coordinators write them,
#: Metadata reports them as internal, admin requests may not delete from them.
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state", "__share_group_state"})
# Kafka lets only its own admin tooling write to internal topics directly.
ADMIN_CLIENT_ID = "__admin_client"


class Partition:
    """One partition hosted by this broker: its log and replication state.

    Only the leader side exists today; ``replica_log_end_offsets`` and
    ``update_follower_fetch_state`` are where followers will report in.
    """

    def __init__(
        self,
        topic: str,
        partition: int,
        *,
        topic_id: uuid.UUID,
        log: Log,
        leader_epoch: int,
        config: LogConfig,
        broker_id: int,
        replicas: list[int] | None = None,
        isr: list[int] | None = None,
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.topic_id = topic_id
        self.log = log
        self.leader_epoch = leader_epoch
        self.config = config
        self.broker_id = broker_id
        self.leader_id = broker_id
        self.replicas: list[int] = list(replicas) if replicas else [broker_id]
        self.isr: list[int] = list(isr) if isr else [broker_id]
        # Log end offsets followers reported on their last fetch (Kafka's replica state).
        self.replica_log_end_offsets: dict[int, int] = {}
        # Where this leader's epoch began: until the high watermark reaches it, the
        # leader cannot tell consumers which offsets are committed (ListOffsets).
        self.leader_epoch_start_offset = log.log_end_offset
        self._waiters: set[trio.Event] = set()
        self._flush_lock = trio.Lock()

    # Offsets, read from the log so there is one source of truth.
    @property
    def high_watermark(self) -> int:
        return self.log.high_watermark

    @property
    def log_end_offset(self) -> int:
        return self.log.log_end_offset

    @property
    def log_start_offset(self) -> int:
        return self.log.log_start_offset

    @property
    def last_stable_offset(self) -> int:
        return self.log.last_stable_offset

    @property
    def min_insync_replicas(self) -> int:
        config = getattr(self.log, "config", None) or self.config
        return int(config.min_insync_replicas)

    # Wake-ups
    def _register(self, event: trio.Event) -> None:
        self._waiters.add(event)

    def _unregister(self, event: trio.Event) -> None:
        self._waiters.discard(event)

    def wake_waiters(self) -> None:
        """Wake every fetch and produce waiting on this partition (they re-check)."""
        if self._waiters:
            waiters, self._waiters = self._waiters, set()
            for event in waiters:
                event.set()

    # Leader epoch checks, as Kafka's Partition.localLogWithEpochOrThrow
    def check_leader_epoch(self, current_leader_epoch: int) -> ErrorCode:
        """``FENCED_LEADER_EPOCH`` when the caller is behind, ``UNKNOWN_LEADER_EPOCH`` ahead."""
        if current_leader_epoch < 0:
            return ErrorCode.NONE
        if current_leader_epoch < self.leader_epoch:
            return ErrorCode.FENCED_LEADER_EPOCH
        if current_leader_epoch > self.leader_epoch:
            return ErrorCode.UNKNOWN_LEADER_EPOCH
        return ErrorCode.NONE

    # High watermark
    def maybe_increment_high_watermark(self) -> bool:
        """Move the high watermark to the lowest log end offset in the ISR.

        Returns True (and wakes waiters) when it moved. Followers not yet heard
        from count at the high watermark, so they hold it where it is.
        """
        log = self.log
        new_hw = log.log_end_offset
        high_watermark = log.high_watermark
        if new_hw <= high_watermark:
            return False
        broker_id = self.broker_id
        for replica in self.isr:
            if replica != broker_id:
                leo = self.replica_log_end_offsets.get(replica, high_watermark)
                if leo < new_hw:
                    new_hw = leo
        if new_hw > high_watermark:
            log.update_high_watermark(new_hw)
            self.wake_waiters()
            return True
        return False

    def update_follower_fetch_state(self, replica_id: int, fetch_offset: int) -> None:
        """Record a follower's position (its fetch offset is its log end offset)."""
        self.replica_log_end_offsets[replica_id] = fetch_offset
        self.maybe_increment_high_watermark()

    def end_offset_for_epoch(self, leader_epoch: int) -> tuple[int, int]:
        """``(epoch, end_offset)`` from the leader-epoch cache; ``(-1, -1)`` if unknown."""
        found = self.log.end_offset_for_epoch(leader_epoch)
        if found is None:
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        return int(found[0]), int(found[1])

    def __repr__(self) -> str:
        return (
            f"Partition({self.topic}-{self.partition}, leader_epoch={self.leader_epoch}, "
            f"isr={self.isr}, high_watermark={self.high_watermark}, log_end_offset={self.log_end_offset})"
        )


def _roll_due(records: Any, now_ms: int, log: Log) -> bool:
    return log.roll_due(records, now_ms)


def _retention_roll_due(log: Log) -> bool:
    return log.retention_roll_due


@dataclass
class AppendResult:
    """The outcome of appending to one partition, shaped like a Produce partition answer."""

    error_code: int = 0
    base_offset: int = INVALID_OFFSET
    log_append_time: int = NO_TIMESTAMP
    log_start_offset: int = INVALID_OFFSET
    record_errors: list[tuple[int, str]] = field(default_factory=list)
    error_message: str | None = None


@dataclass
class FetchPartitionRequest:
    """What a fetch asks of one partition (Kafka's FetchRequest.PartitionData)."""

    topic: str
    partition: int
    fetch_offset: int
    partition_max_bytes: int
    current_leader_epoch: int = -1
    last_fetched_epoch: int = -1
    log_start_offset: int = -1
    topic_id: uuid.UUID | None = None


@dataclass
class FetchPartitionResult:
    """What a fetch found in one partition (Kafka's FetchPartitionData)."""

    error_code: int = 0
    high_watermark: int = -1
    last_stable_offset: int = -1
    log_start_offset: int = -1
    # File slices for sendfile; reads of at most INLINE_READ_BYTES come as bytes.
    records: list[FileSlice | bytes] = field(default_factory=list)
    aborted_transactions: list[Any] | None = None
    diverging_epoch: tuple[int, int] | None = None
    preferred_read_replica: int = -1
    # Set when a file slice is not known to be in the page cache (write-behind's
    # window): the fetch probes it before sending.
    check_cache: bool = False

    @property
    def size(self) -> int:
        return sum(len(r) for r in self.records)


def _cold_slices(results: list[FetchPartitionResult]) -> list[tuple[int, int, int]]:
    """``(fd, position, length)`` of each file slice in ``results`` that is not (wholly)
    in the page cache."""
    cold = []
    for result in results:
        if not result.check_cache:
            continue
        for piece in result.records:
            if isinstance(piece, FileSlice):
                try:
                    fd = piece.fileno()
                except ValueError:
                    continue  # closed meanwhile: the send reports it, not this hint
                if may_wait_for_disk(fd, piece.position, piece.length):
                    cold.append((fd, piece.position, piece.length))
    return cold


class ReplicaManager:
    """The partitions this broker hosts, and appends/reads with Kafka's waiting rules."""

    def __init__(self, broker: Any) -> None:
        self.broker = broker
        self._partitions: dict[TopicPartition, Partition] = {}
        self._topic_ids: dict[uuid.UUID, str] = {}
        self._partition_counts: dict[str, int] = {}
        # Partitions whose next segment's files are being created in a worker thread;
        # appends to them wait for the event (``_roll_ahead``).
        self._rolling: dict[TopicPartition, trio.Event] = {}
        from kpybroker.fetch_session import FetchSessionCache

        slots = _broker_setting(broker, "max.incremental.fetch.session.cache.slots", 1000)
        self.fetch_sessions = FetchSessionCache(max_entries=int(slots))

    # Partition lifecycle
    def _broker_id(self) -> int:
        return int(getattr(self.broker, "broker_id", 0) or 0)

    def become_leader(
        self,
        topic: str,
        partition: int,
        *,
        topic_id: uuid.UUID,
        leader_epoch: int,
        config: LogConfig,
        replicas: list[int] | None = None,
        isr: list[int] | None = None,
    ) -> Partition:
        """Open (or create) the partition's log and lead it at ``leader_epoch``."""
        key = (topic, partition)
        existing = self._partitions.get(key)
        if existing is not None:
            if leader_epoch != existing.leader_epoch:
                existing.leader_epoch_start_offset = existing.log_end_offset
            existing.leader_epoch = leader_epoch
            _assign_epoch_start_offset(existing.log, leader_epoch)
            existing.config = config
            if replicas:
                existing.replicas = list(replicas)
            if isr:
                existing.isr = list(isr)
            existing.wake_waiters()
            existing.maybe_increment_high_watermark()
            return existing
        log_manager = self.broker.log_manager
        plog = log_manager.get_log(topic, partition)
        if plog is None:
            plog = log_manager.create_log(topic, partition, config, topic_id)
        # The replica manager applies the flush policy itself, with fsync in a worker
        # thread; left on, the Log would fsync inline on the event loop.
        plog.auto_flush = False
        _assign_epoch_start_offset(plog, leader_epoch)
        part = Partition(
            topic,
            partition,
            topic_id=topic_id,
            log=plog,
            leader_epoch=leader_epoch,
            config=config,
            broker_id=self._broker_id(),
            replicas=replicas,
            isr=isr,
        )
        self._partitions[key] = part
        self._topic_ids[topic_id] = topic
        self._partition_counts[topic] = self._partition_counts.get(topic, 0) + 1
        # A single-replica leader owns everything it has: Kafka sets the HW on election.
        part.maybe_increment_high_watermark()
        return part

    def remove_partition(self, topic: str, partition: int, *, delete: bool) -> None:
        """Stop hosting a partition; with ``delete`` its files go too."""
        part = self._partitions.pop((topic, partition), None)
        if part is not None:
            part.wake_waiters()
            left = self._partition_counts.get(topic, 1) - 1
            if left > 0:
                self._partition_counts[topic] = left
            else:
                self._partition_counts.pop(topic, None)
                self._topic_ids.pop(part.topic_id, None)
        if delete:
            self.broker.log_manager.delete_log(topic, partition, now_ms=self.broker.now_ms())

    def get_partition(self, topic: str, partition: int) -> Partition | None:
        return self._partitions.get((topic, partition))

    def not_hosted_error(self, topic: str, partition: int) -> ErrorCode:
        """Kafka's answer (``ReplicaManager.getPartitionOrError``) for a partition this
        broker does not host: NOT_LEADER_OR_FOLLOWER while the metadata knows it (here:
        its topic is still being created), so clients refresh metadata and retry, else
        UNKNOWN_TOPIC_OR_PARTITION."""
        store = getattr(self.broker, "metadata", None)
        topic_meta = store.get_topic(topic) if store is not None else None
        if topic_meta is not None and partition in topic_meta.partitions:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION

    def topic_name(self, topic_id: uuid.UUID) -> str | None:
        """The name of a hosted topic by id (Fetch v13+, Produce v13), or None."""
        return self._topic_ids.get(topic_id)

    def partitions(self) -> list[Partition]:
        return list(self._partitions.values())

    def update_config(self, topic: str, config: LogConfig) -> None:
        """A topic's configs changed (AlterConfigs): later appends use the new ones."""
        for (name, _), part in self._partitions.items():
            if name == topic:
                part.config = config

    # Produce
    async def append_records(
        self,
        entries: dict[tuple[str, int], bytes | memoryview],
        *,
        required_acks: int,
        timeout_ms: int,
        origin: str = "client",
        internal_topics_allowed: bool = False,
    ) -> dict[tuple[str, int], AppendResult]:
        """Append one batch per partition; for ``acks=-1`` wait for the high watermark.

        Errors are per partition. ``acks`` other than 0, 1, -1 fails every entry
        with ``INVALID_REQUIRED_ACKS`` as Kafka's ReplicaManager.appendRecords does.
        Clients may not write to internal topics (``INVALID_TOPIC_EXCEPTION``) unless
        ``internal_topics_allowed``; coordinators (``origin="coordinator"``) may.
        """
        results: dict[tuple[str, int], AppendResult] = {}
        if required_acks not in (0, 1, -1):
            for key in entries:
                results[key] = AppendResult(error_code=ErrorCode.INVALID_REQUIRED_ACKS)
            return results
        now_ms = self.broker.now_ms()
        pending: dict[tuple[str, int], int] = {}  # key -> offset the HW must reach
        for key, records in entries.items():
            part = self._partitions.get(key)
            if part is not None and (self._rolling or part.log.roll_due(records, now_ms)):
                part = await self._roll_ahead(key, functools.partial(_roll_due, records, now_ms))
            if part is None:
                results[key] = AppendResult(error_code=self.not_hosted_error(*key))
                continue
            if key[0] in INTERNAL_TOPICS and origin == "client" and not internal_topics_allowed:
                results[key] = AppendResult(error_code=ErrorCode.INVALID_TOPIC_EXCEPTION)
                continue
            if required_acks == -1 and len(part.isr) < part.min_insync_replicas:
                results[key] = AppendResult(error_code=ErrorCode.NOT_ENOUGH_REPLICAS)
                continue
            try:
                info = part.log.append_as_leader(
                    records, leader_epoch=part.leader_epoch, now_ms=now_ms, origin=origin
                )
            except DuplicateBatchError as dup:
                results[key] = AppendResult(
                    error_code=ErrorCode.NONE,
                    base_offset=dup.first_offset,
                    log_append_time=dup.log_append_time,
                    log_start_offset=part.log_start_offset,
                )
                if required_acks == -1 and part.high_watermark <= dup.last_offset:
                    pending[key] = dup.last_offset + 1
                continue
            except OSError:
                # Kafka marks the log dir offline on an I/O error and answers this.
                log.exception("append to %s-%d failed", key[0], key[1])
                results[key] = AppendResult(error_code=ErrorCode.KAFKA_STORAGE_ERROR)
                continue
            except StorageError as err:
                results[key] = AppendResult(
                    error_code=int(err.error_code),
                    record_errors=list(err.record_errors),
                    # Kafka reports its own message only for record validation failures.
                    error_message=err.message if err.record_errors else None,
                )
                continue
            results[key] = AppendResult(
                error_code=ErrorCode.NONE,
                base_offset=info.first_offset,
                log_append_time=info.log_append_time,
                log_start_offset=info.log_start_offset,
            )
            part.wake_waiters()
            part.maybe_increment_high_watermark()
            if part.log.flush_due:
                await self._maybe_flush(part)
            if required_acks == -1:
                required = info.last_offset + 1
                # With the high watermark already past the batch (a single replica) and
                # the ISR still large enough, DelayedProduce would complete at once.
                if part.high_watermark < required or len(part.isr) < part.min_insync_replicas:
                    pending[key] = required
        if pending:
            await self._wait_for_high_watermark(pending, results, timeout_ms)
        return results

    async def _maybe_flush(self, part: Partition) -> None:
        """Honour the flush policy (``flush.messages``, ``kpybroker.flush.on.ack``):
        fsync in a worker thread, never on the loop."""
        log = part.log
        if not log.flush_due:
            return
        if log.config.flush_on_ack:
            # The acknowledgement waits for an fsync that covers this append, even when
            # another flush is already running.
            async with part._flush_lock:
                if log.flush_due:
                    await trio.to_thread.run_sync(log.flush)
            return
        if part._flush_lock.locked():
            return
        async with part._flush_lock:
            await trio.to_thread.run_sync(log.flush)

    async def _wait_for_high_watermark(
        self,
        pending: dict[tuple[str, int], int],
        results: dict[tuple[str, int], AppendResult],
        timeout_ms: int,
    ) -> None:
        """Kafka's DelayedProduce: done when every HW passed its batch, or time is up."""
        deadline = trio.current_time() + max(timeout_ms, 0) / 1000.0

        def outstanding() -> dict[tuple[str, int], int]:
            left = {}
            for key, required in pending.items():
                part = self._partitions.get(key)
                if part is None:
                    results[key] = AppendResult(error_code=ErrorCode.NOT_LEADER_OR_FOLLOWER)
                    continue
                if part.high_watermark < required:
                    left[key] = required
            return left

        left = outstanding()
        while left:
            event = trio.Event()
            parts = [self._partitions[k] for k in left if k in self._partitions]
            for part in parts:
                part._register(event)
            try:
                with trio.move_on_at(deadline):
                    await event.wait()
            finally:
                for part in parts:
                    part._unregister(event)
            left = outstanding()
            if trio.current_time() >= deadline:
                break
        for key in pending:
            result = results[key]
            if result.error_code != ErrorCode.NONE:
                continue
            part = self._partitions.get(key)
            # Kafka's DelayedProduce keeps the offsets it appended at and only sets the error.
            if key in left:
                result.error_code = ErrorCode.REQUEST_TIMED_OUT
            elif part is not None and len(part.isr) < part.min_insync_replicas:
                # The HW got there but the ISR shrank below the minimum meanwhile.
                result.error_code = ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND

    async def roll_for_retention(self, key: TopicPartition) -> None:
        """Roll a log whose active segment retention has reached
        (``Log.retention_roll_due``), off the event loop as ``_roll_ahead`` does; the
        next retention pass then deletes the old active segment."""
        await self._roll_ahead(key, _retention_roll_due)

    async def _roll_ahead(self, key: TopicPartition, due: Callable[[Log], bool]) -> Partition | None:
        """Before an append that will roll its log (``due(log)``): create the new
        segment's files in a worker thread (a file creation can wait on the file
        system's journal for tens of milliseconds, and would stall every connection
        on the event loop), roll onto them here, and write the roll's producer-state
        snapshot in a worker thread too. Appends to the partition meanwhile wait, so
        the log end offset the files are named after stays the one they start at.
        Whatever goes wrong before the roll leaves it to the append itself, as before.
        Returns the partition as it is after the wait (None if it went away)."""
        while (event := self._rolling.get(key)) is not None:
            await event.wait()
        part = self._partitions.get(key)
        if part is None or part.log.closed or not due(part.log):
            return part
        plog = part.log
        event = self._rolling[key] = trio.Event()
        prepared = None
        rolled = False
        try:
            prepared = plog.prepare_roll()
            await trio.to_thread.run_sync(prepared.create_files)
            rolled = plog.finish_roll(prepared, self.broker.now_ms())
            if prepared.snapshot_write is not None:
                # Still before any append at the new base: the snapshot describes it.
                await trio.to_thread.run_sync(prepared.snapshot_write)
        except (OSError, StorageError) as exc:
            # Before the roll: the append rolls itself. After it: the snapshot is
            # missing, and is rebuilt from an older one and the log when needed.
            log.warning("rolling %s-%d off the event loop failed: %s", key[0], key[1], exc)
        finally:
            try:
                if prepared is not None:
                    # Files a live segment took meanwhile (a truncation restarting the
                    # log at that offset) stay; others would be a stray empty segment.
                    if not rolled and prepared.made and not plog.has_segment(prepared.base_offset):
                        with trio.CancelScope(shield=True):
                            await trio.to_thread.run_sync(prepared.remove_files)
                    prepared.close()
            except OSError as exc:
                log.warning("removing the unused next segment of %s-%d failed: %s", key[0], key[1], exc)
            finally:
                del self._rolling[key]
                event.set()
        return self._partitions.get(key)

    # Fetch
    def read_partition(
        self,
        req: FetchPartitionRequest,
        *,
        replica_id: int,
        max_bytes: int,
        min_one_message: bool,
        isolation_level: int,
    ) -> FetchPartitionResult:
        """Read one partition now (Kafka's Partition.fetchRecords), no waiting."""
        part = self._partitions.get((req.topic, req.partition))
        if part is None:
            return FetchPartitionResult(error_code=self.not_hosted_error(req.topic, req.partition))
        if req.current_leader_epoch >= 0:
            code = part.check_leader_epoch(req.current_leader_epoch)
            if code != ErrorCode.NONE:
                return FetchPartitionResult(error_code=code)
        is_follower = replica_id >= 0
        if is_follower and (replica_id == part.broker_id or replica_id not in part.replicas):
            return FetchPartitionResult(error_code=ErrorCode.NOT_LEADER_OR_FOLLOWER)

        plog = part.log
        high_watermark = plog.high_watermark
        log_start_offset = plog.log_start_offset
        last_stable_offset = plog.last_stable_offset

        if req.last_fetched_epoch >= 0:
            epoch, end_offset = part.end_offset_for_epoch(req.last_fetched_epoch)
            if epoch == UNDEFINED_EPOCH or end_offset == UNDEFINED_EPOCH_OFFSET:
                return FetchPartitionResult(error_code=ErrorCode.OFFSET_OUT_OF_RANGE)
            if req.fetch_offset < log_start_offset:
                return FetchPartitionResult(error_code=ErrorCode.OFFSET_OUT_OF_RANGE)
            if epoch < req.last_fetched_epoch or end_offset < req.fetch_offset:
                return FetchPartitionResult(
                    high_watermark=high_watermark,
                    last_stable_offset=last_stable_offset,
                    log_start_offset=log_start_offset,
                    diverging_epoch=(epoch, end_offset),
                    aborted_transactions=[] if isolation_level == READ_COMMITTED else None,
                )

        if is_follower:
            max_offset = part.log_end_offset
        elif isolation_level == READ_COMMITTED:
            max_offset = last_stable_offset
        else:
            max_offset = high_watermark
        limit = max(0, min(req.partition_max_bytes, max_bytes))
        try:
            info = plog.read(
                req.fetch_offset,
                max_bytes=limit,
                max_offset=max_offset,
                min_one_message=min_one_message,
            )
            records: list[Any] = info.records
            if len(records) == 1 and records[0].length <= INLINE_READ_BYTES:
                # A small read goes out with the rest of the answer in one vectored
                # send; a file slice would cost a sendfile plus a send of its own.
                records = [records[0].read()]
        except StorageError as err:
            return FetchPartitionResult(error_code=int(err.error_code))
        except OSError:
            log.exception("read from %s-%d failed", req.topic, req.partition)
            return FetchPartitionResult(error_code=ErrorCode.KAFKA_STORAGE_ERROR)
        if is_follower:
            # After the read, as Kafka: the answer carries the HW from before this fetch.
            part.update_follower_fetch_state(replica_id, req.fetch_offset)
        check_cache = False
        if records and isinstance(records[0], FileSlice):
            tail = plog.append_tail
            for piece in records:
                if tail is None or not tail.holds(
                    piece.file.name, piece.position, piece.position + piece.length
                ):
                    check_cache = True
                    break
        aborted: list[Any] | None = None
        if isolation_level == READ_COMMITTED and not is_follower:
            aborted = []
            if info.records:
                # Bounded by the last stable offset rather than the end of the returned
                # batches: an extra entry past the data is ignored by consumers.
                aborted = list(plog.collect_aborted_transactions(req.fetch_offset, max_offset))
        return FetchPartitionResult(
            error_code=ErrorCode.NONE,
            high_watermark=high_watermark,
            last_stable_offset=last_stable_offset,
            log_start_offset=log_start_offset,
            records=records,
            aborted_transactions=aborted,
            check_cache=check_cache,
        )

    def read_all(
        self,
        requests: list[FetchPartitionRequest],
        *,
        replica_id: int,
        max_bytes: int,
        isolation_level: int,
    ) -> list[FetchPartitionResult]:
        """Read partitions in order, sharing ``max_bytes`` (Kafka's readFromLog, KIP-74)."""
        return self._read_all(requests, replica_id, max_bytes, isolation_level)[0]

    def _read_all(
        self,
        requests: list[FetchPartitionRequest],
        replica_id: int,
        max_bytes: int,
        isolation_level: int,
    ) -> tuple[list[FetchPartitionResult], int, bool]:
        """``read_all`` plus what the long poll decides on: bytes read and whether any
        partition answered an error or a diverging epoch (both end the wait)."""
        limit = max_bytes
        min_one_message = True
        results = []
        total = 0
        must_answer = False
        read_partition = self.read_partition
        for req in requests:
            result = read_partition(
                req,
                replica_id=replica_id,
                max_bytes=limit,
                min_one_message=min_one_message,
                isolation_level=isolation_level,
            )
            size = 0
            for piece in result.records:
                size += len(piece)
            if size > 0:
                min_one_message = False
                total += size
                limit = max(0, limit - size)
            if result.error_code != ErrorCode.NONE or result.diverging_epoch is not None:
                must_answer = True
            results.append(result)
        return results, total, must_answer

    async def fetch(
        self,
        requests: list[FetchPartitionRequest],
        *,
        replica_id: int = CONSUMER_REPLICA_ID,
        max_wait_ms: int,
        min_bytes: int,
        max_bytes: int,
        isolation_level: int = READ_UNCOMMITTED,
    ) -> list[FetchPartitionResult]:
        """Read now; if fewer than ``min_bytes`` are ready, wait for appends or the deadline.

        Answers at once on any partition error or diverging epoch, as Kafka does.
        Results are in the order of ``requests``.
        """
        deadline = trio.current_time() + max(max_wait_ms, 0) / 1000.0
        while True:
            results, total, must_answer = self._read_all(
                requests, replica_id, max_bytes, isolation_level
            )
            if (
                max_wait_ms <= 0
                or not requests
                or total >= min_bytes
                or must_answer
                or trio.current_time() >= deadline
            ):
                cold = _cold_slices(results)
                if cold:
                    # A lagging reader's data may have left the page cache (write-behind
                    # drops old appends): read it in a worker thread, so that sendfile
                    # on the event loop does not wait for the disk.
                    await trio.to_thread.run_sync(read_into_cache, cold)
                return results
            event = trio.Event()
            parts = []
            for req in requests:
                part = self._partitions.get((req.topic, req.partition))
                if part is not None:
                    part._register(event)
                    parts.append(part)
            try:
                with trio.move_on_at(deadline):
                    await event.wait()
            finally:
                for part in parts:
                    part._unregister(event)

    # For coordinators
    def read_committed_batches(
        self, topic: str, partition: int, from_offset: int = 0, *, max_bytes: int = 1 << 20
    ) -> Iterator[tuple[int, memoryview]]:
        """Yield ``(base_offset, batch)`` for each record batch below the high watermark.

        Each batch is one whole record batch (``memoryview``) below the high
        watermark, starting with the batch containing ``from_offset``; coordinators
        parse them with ``wire.records``.
        """
        from wire.records import iter_batches

        part = self._partitions.get((topic, partition))
        if part is None:
            return
        offset = max(from_offset, part.log_start_offset)
        while offset < part.high_watermark:
            info = part.log.read(
                offset, max_bytes=max_bytes, max_offset=part.high_watermark, min_one_message=True
            )
            data = memoryview(b"".join(s.read() for s in info.records))
            if not data:
                return
            advanced = False
            for pos, header in iter_batches(data):
                if header.last_offset < offset:
                    continue
                yield header.base_offset, data[pos : pos + header.size]
                offset = header.last_offset + 1
                advanced = True
            if not advanced:
                return


def _assign_epoch_start_offset(log: Any, leader_epoch: int) -> None:
    """Kafka's makeLeader: the new epoch starts at the log end offset, written or not.

    Without it OffsetForLeaderEpoch would only learn of an epoch from its first
    batch and answer for an older one meanwhile.
    """
    latest = log.latest_epoch
    if leader_epoch < 0 or (latest is not None and leader_epoch < latest):
        return
    assign = getattr(log, "maybe_assign_epoch_start_offset", None)
    if assign is not None:
        assign(leader_epoch, log.log_end_offset)
    else:
        log.leader_epoch_cache.assign(leader_epoch, log.log_end_offset)


def _broker_setting(broker: Any, name: str, default: Any) -> Any:
    """A broker config value by Kafka's name, or ``default`` if the broker has no config."""
    config = getattr(broker, "config", None)
    if config is None:
        return default
    try:
        value = config.get(name)
    except (KeyError, AttributeError, ValueError):
        return default
    return default if value is None else value
