"""The transaction coordinator: Kafka's TransactionCoordinator on one trio loop.

Theory of operation
-------------------
Each transactional id belongs to partition ``abs(hashCode(id)) % N`` of
``__transaction_state`` (N = ``transaction.state.log.num.partitions``); this
broker coordinates the ids of the partitions it leads. Their state lives in
memory (``TransactionMetadata`` per id) and every change is first written to
that partition as a record (key: the id, value: the metadata, Kafka's schemas),
through ``replica_manager.append_records(origin="coordinator")``, then applied.
While a write is in flight the id has a pending state and concurrent requests
get CONCURRENT_TRANSACTIONS, as in Kafka.

Ending a transaction (EndTxn, fencing, timeout) is three steps: write
PrepareCommit/PrepareAbort, append a commit/abort control batch (marker) to every
partition in the transaction, write CompleteCommit/CompleteAbort. Kafka answers
EndTxn after the first step and sends markers from a separate thread; with every
partition local, we write the markers at once and answer after the third step
(a client that asks meanwhile is told CONCURRENT_TRANSACTIONS and retries, as it
would be in Kafka). A marker that cannot be written (other than to a deleted
partition) is retried in the background until it is.

On start (and when a partition of ``__transaction_state`` first appears) the
partition is replayed, last record per id wins, and transactions found in
PrepareCommit/PrepareAbort are completed by (re)writing their markers. Markers
are idempotent for the partitions: a second commit marker for a transaction
that is already closed changes nothing.

Background loops: abort transactions open longer than their timeout
(``transaction.abort.timed.out.transaction.cleanup.interval.ms``; the producer is
fenced by an epoch bump first, as Kafka does) and remove ids idle longer than
``transactional.id.expiration.ms`` (a tombstone).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import trio

from kpybroker.group_coordinator.hashing import partition_for
from wire.errors import ErrorCode
from wire.records import SimpleRecord, build_batch, build_control_batch, iter_records, parse_header

from . import records
from .metadata import (
    NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
    IllegalTransitionError,
    TransactionMetadata,
    TransactionState,
)
from .txn_offsets import GROUP_METADATA_TOPIC, PendingTxnOffsets

log = logging.getLogger(__name__)

TRANSACTION_STATE_TOPIC = "__transaction_state"
TopicPartition = tuple[str, int]
S = TransactionState

_MARKER_RETRY_S = 0.1


@dataclass
class TransactionCoordinatorConfig:
    """The broker settings the coordinator uses, by Kafka's names in snake_case."""

    transaction_state_log_num_partitions: int = 50
    transaction_max_timeout_ms: int = 900_000
    transactional_id_expiration_ms: int = 604_800_000
    transaction_abort_timed_out_transaction_cleanup_interval_ms: int = 10_000
    transaction_remove_expired_transaction_cleanup_interval_ms: int = 3_600_000
    request_timeout_ms: int = 30_000

    @classmethod
    def from_broker_config(cls, config: Any) -> TransactionCoordinatorConfig:
        out = cls()
        if config is None:
            return out
        for name in (
            "transaction.state.log.num.partitions",
            "transaction.max.timeout.ms",
            "transactional.id.expiration.ms",
            "transaction.abort.timed.out.transaction.cleanup.interval.ms",
            "transaction.remove.expired.transaction.cleanup.interval.ms",
            "request.timeout.ms",
        ):
            try:
                value = config.get(name)
            except (KeyError, AttributeError, ValueError):
                value = None
            if value is not None:
                setattr(out, name.replace(".", "_"), int(value))
        return out


@dataclass
class InitProducerIdResult:
    """What InitProducerId answers."""

    error: ErrorCode
    producer_id: int = NO_PRODUCER_ID
    producer_epoch: int = NO_PRODUCER_EPOCH


@dataclass
class TransactionDescription:
    """One id for DescribeTransactions (error set when there is none)."""

    transactional_id: str
    error: ErrorCode
    state: str = ""
    timeout_ms: int = 0
    start_time_ms: int = -1
    producer_id: int = NO_PRODUCER_ID
    producer_epoch: int = NO_PRODUCER_EPOCH
    partitions: tuple[TopicPartition, ...] = ()


class CoordinatorError(Exception):
    """A request cannot go on; ``error`` is what the client is answered."""

    def __init__(self, error: ErrorCode) -> None:
        super().__init__(error.name)
        self.error = error


class TransactionCoordinator:
    """Kafka's transaction coordinator for the ``__transaction_state`` partitions here.

    The broker constructs it with ``TransactionCoordinator(broker)``, runs ``run``
    in its nursery and calls ``shutdown`` when stopping. Handlers call the
    ``handle_*`` / request methods; each returns Kafka's error codes.
    """

    def __init__(self, broker: Any, *, config: TransactionCoordinatorConfig | None = None) -> None:
        self.broker = broker
        self.config = config or TransactionCoordinatorConfig.from_broker_config(
            getattr(broker, "config", None)
        )
        # partition -> transactional id -> metadata, for partitions loaded here
        self._txns: dict[int, dict[str, TransactionMetadata]] = {}
        self._coordinator_epochs: dict[int, int] = {}
        self.txn_offsets = PendingTxnOffsets(broker)
        self._nursery: trio.Nursery | None = None
        self._retrying: set[str] = set()
        self.active = False

    # -- lifecycle ----------------------------------------------------------------------

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Load every hosted partition, then expire and abort on schedule until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self.active = True
            try:
                self.txn_offsets.rebuild()
            except Exception:
                log.exception("rebuilding pending transactional offsets failed")
            for partition in self._hosted_partitions():
                try:
                    self._load_partition(partition)
                except Exception:
                    # Left unloaded: the next request for one of its ids tries again.
                    log.exception("loading %s-%d failed", TRANSACTION_STATE_TOPIC, partition)
            task_status.started()
            nursery.start_soon(
                self._every,
                self.config.transaction_abort_timed_out_transaction_cleanup_interval_ms,
                self.abort_timed_out_transactions,
            )
            nursery.start_soon(
                self._every,
                self.config.transaction_remove_expired_transaction_cleanup_interval_ms,
                self.remove_expired_transactional_ids,
            )
            try:
                await trio.sleep_forever()
            finally:
                self.active = False
                self._nursery = None

    def shutdown(self) -> None:
        """Stop answering; the log keeps the state for the next start."""
        self.active = False

    async def _every(self, interval_ms: int, job: Any) -> None:
        while True:
            await trio.sleep(max(interval_ms, 1) / 1000)
            try:
                await job()
            except Exception:
                log.exception("transaction coordinator background job failed")

    def now_ms(self) -> int:
        return int(self.broker.now_ms())

    # -- partitions ------------------------------------------------------------------------

    def partition_for(self, transactional_id: str) -> int:
        return partition_for(transactional_id, self._num_partitions())

    def _num_partitions(self) -> int:
        metadata = getattr(self.broker, "metadata", None)
        topic = metadata.get_topic(TRANSACTION_STATE_TOPIC) if metadata is not None else None
        if topic is not None and topic.partitions:
            return len(topic.partitions)
        return self.config.transaction_state_log_num_partitions

    def _hosted_partitions(self) -> list[int]:
        rm = self.broker.replica_manager
        return sorted(p.partition for p in rm.partitions() if p.topic == TRANSACTION_STATE_TOPIC)

    def _state_partition(self, partition: int) -> Any:
        return self.broker.replica_manager.get_partition(TRANSACTION_STATE_TOPIC, partition)

    def coordinator_epoch(self, partition: int) -> int:
        return self._coordinator_epochs.get(partition, 0)

    def _partition_txns(self, transactional_id: str) -> dict[str, TransactionMetadata]:
        """The loaded state of the id's partition; raises ``CoordinatorError``."""
        if not self.active:
            raise CoordinatorError(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        partition = self.partition_for(transactional_id)
        txns = self._txns.get(partition)
        if txns is not None:
            return txns
        if self._state_partition(partition) is None:
            raise CoordinatorError(ErrorCode.NOT_COORDINATOR)
        # The topic appeared after start (FindCoordinator created it): load now.
        self._load_partition(partition)
        return self._txns[partition]

    def get_transaction(self, transactional_id: str) -> TransactionMetadata | None:
        """The id's metadata (None if unknown); raises ``CoordinatorError``."""
        return self._partition_txns(transactional_id).get(transactional_id)

    def _load_partition(self, partition: int) -> None:
        """Replay one ``__transaction_state`` partition and finish prepared transactions."""
        part = self._state_partition(partition)
        if part is None:
            return
        loaded: dict[str, TransactionMetadata] = {}
        rm = self.broker.replica_manager
        for _, batch in rm.read_committed_batches(TRANSACTION_STATE_TOPIC, partition, 0):
            header = parse_header(batch)
            if header.is_control:
                continue
            for record in iter_records(batch, 0, header):
                if record.key is None:
                    continue
                try:
                    txn_id = records.read_key(record.key)
                    if txn_id is None:
                        continue
                    txn = records.read_value(txn_id, record.value)
                except Exception:  # noqa: BLE001 - one bad record must not stop the load
                    log.warning(
                        "skipping an unreadable record in %s-%d", TRANSACTION_STATE_TOPIC, partition
                    )
                    continue
                if txn is None:
                    loaded.pop(txn_id, None)
                else:
                    loaded[txn_id] = txn
        self._coordinator_epochs[partition] = int(getattr(part, "leader_epoch", 0))
        self._txns[partition] = loaded
        for txn in loaded.values():
            if txn.state in (S.PREPARE_COMMIT, S.PREPARE_ABORT):
                # The previous run wrote the decision but maybe not every marker.
                txn.pending_state = (
                    S.COMPLETE_COMMIT if txn.state == S.PREPARE_COMMIT else S.COMPLETE_ABORT
                )
                self._spawn(self._finish_loaded, txn.transactional_id)
        if loaded:
            log.info(
                "loaded %d transactional id(s) from %s-%d",
                len(loaded),
                TRANSACTION_STATE_TOPIC,
                partition,
            )

    async def _finish_loaded(self, transactional_id: str) -> None:
        txn = self._txns.get(self.partition_for(transactional_id), {}).get(transactional_id)
        if txn is None:
            return
        txn.pending_state = None
        await self._send_markers_and_complete(txn)

    def _spawn(self, fn: Any, *args: Any) -> None:
        if self._nursery is not None:
            self._nursery.start_soon(fn, *args)

    # -- writing the transaction log ---------------------------------------------------------

    async def _append_to_log(
        self, txn: TransactionMetadata, new: TransactionMetadata | None
    ) -> ErrorCode:
        """Write ``new`` (None: a tombstone) for ``txn``; apply it on success."""
        partition = self.partition_for(txn.transactional_id)
        now = self.now_ms()
        value = None if new is None else records.value_to_bytes(new)
        batch = build_batch(
            [SimpleRecord(records.key_to_bytes(txn.transactional_id), value, timestamp=now)]
        )
        key = (TRANSACTION_STATE_TOPIC, partition)
        try:
            results = await self.broker.replica_manager.append_records(
                {key: batch},
                required_acks=-1,
                timeout_ms=self.config.request_timeout_ms,
                origin="coordinator",
            )
            code = ErrorCode(results[key].error_code)
        except BaseException:
            txn.abort_transition()
            raise
        if code != ErrorCode.NONE:
            txn.abort_transition()
            return _map_log_append_error(code)
        if new is None:
            txn.pending_state = None
            txn.state = S.DEAD
            self._txns.get(partition, {}).pop(txn.transactional_id, None)
        else:
            txn.complete_transition(new)
        return ErrorCode.NONE

    # -- InitProducerId -------------------------------------------------------------------

    async def handle_init_producer_id(self, ctx: Any, header: Any, request: Any) -> Any:
        """The transactional branch of InitProducerId (called by its handler)."""
        from wire.messages.init_producer_id import InitProducerIdResponse

        version = header.request_api_version
        expected = None
        if version >= 3 and request.producer_id != NO_PRODUCER_ID:
            expected = (request.producer_id, request.producer_epoch)
        result = await self.init_producer_id(
            request.transactional_id, request.transaction_timeout_ms, expected
        )
        error = result.error
        if version < 4 and error == ErrorCode.PRODUCER_FENCED:
            # clients before v4 do not know PRODUCER_FENCED
            error = ErrorCode.INVALID_PRODUCER_EPOCH
        return InitProducerIdResponse(
            throttle_time_ms=0,
            error_code=int(error),
            producer_id=result.producer_id,
            producer_epoch=result.producer_epoch,
        )

    async def init_producer_id(
        self, transactional_id: str, timeout_ms: int, expected: tuple[int, int] | None = None
    ) -> InitProducerIdResult:
        """Kafka's handleInitProducerId for a transactional id."""
        if transactional_id == "":
            return InitProducerIdResult(ErrorCode.INVALID_REQUEST)
        if timeout_ms <= 0 or timeout_ms > self.config.transaction_max_timeout_ms:
            return InitProducerIdResult(ErrorCode.INVALID_TRANSACTION_TIMEOUT)
        try:
            txns = self._partition_txns(transactional_id)
        except CoordinatorError as exc:
            return InitProducerIdResult(exc.error)
        txn = txns.get(transactional_id)
        now = self.now_ms()
        if txn is None:
            try:
                pid = self._new_producer_id()
            except CoordinatorError as exc:
                return InitProducerIdResult(exc.error)
            txn = TransactionMetadata(
                transactional_id=transactional_id,
                producer_id=pid,
                txn_timeout_ms=timeout_ms,
                state=S.EMPTY,
                txn_last_update_timestamp=now,
            )
            txns[transactional_id] = txn

        if txn.pending_transition_in_progress:
            return InitProducerIdResult(ErrorCode.CONCURRENT_TRANSACTIONS)
        if expected is not None and not (
            txn.producer_epoch == NO_PRODUCER_EPOCH
            or expected[0] == txn.producer_id
            or (expected[0] == txn.previous_producer_id and expected[1] >= 2**15 - 2)
        ):
            return InitProducerIdResult(ErrorCode.PRODUCER_FENCED)
        if txn.state in (S.PREPARE_ABORT, S.PREPARE_COMMIT):
            return InitProducerIdResult(ErrorCode.CONCURRENT_TRANSACTIONS)
        if txn.state == S.ONGOING:
            # Fence the old producer and abort its transaction; this epoch is never
            # handed out: the client retries and bumps again.
            error = await self._end_transaction(txn, commit=False, fence=True)
            return InitProducerIdResult(
                ErrorCode.CONCURRENT_TRANSACTIONS if error == ErrorCode.NONE else error
            )
        if txn.state not in (S.EMPTY, S.COMPLETE_ABORT, S.COMPLETE_COMMIT):
            return InitProducerIdResult(ErrorCode.CONCURRENT_TRANSACTIONS)
        if txn.is_producer_epoch_exhausted and (
            expected is None or expected[1] == txn.producer_epoch
        ):
            try:
                pid = self._new_producer_id()
            except CoordinatorError as exc:
                return InitProducerIdResult(exc.error)
            new = txn.prepare_producer_id_rotation(pid, timeout_ms, now, expected is not None)
        else:
            try:
                new = txn.prepare_increment_producer_epoch(
                    timeout_ms, None if expected is None else expected[1], now
                )
            except IllegalTransitionError:
                new = None  # out of epochs for an epoch that is not the current one
            if new is None:
                return InitProducerIdResult(ErrorCode.PRODUCER_FENCED)
        error = await self._append_to_log(txn, new)
        if error != ErrorCode.NONE:
            return InitProducerIdResult(error)
        log.info(
            "initialized transactional id %s: producer id %d epoch %d",
            transactional_id,
            txn.producer_id,
            txn.producer_epoch,
        )
        return InitProducerIdResult(ErrorCode.NONE, txn.producer_id, txn.producer_epoch)

    def _new_producer_id(self) -> int:
        manager = getattr(self.broker, "producer_ids", None)
        if manager is None:
            from kpybroker.producer_ids import ProducerIdManager

            manager = ProducerIdManager(self.broker.metadata)
            self.broker.producer_ids = manager
        try:
            return int(manager.generate())
        except Exception as exc:  # noqa: BLE001 - exhausted or store failure
            log.error("cannot allocate a producer id: %s", exc)
            raise CoordinatorError(ErrorCode.UNKNOWN_SERVER_ERROR) from None

    # -- AddPartitionsToTxn / AddOffsetsToTxn ----------------------------------------------

    def _check_producer(
        self, transactional_id: str, producer_id: int, producer_epoch: int
    ) -> TransactionMetadata:
        if not transactional_id:
            raise CoordinatorError(ErrorCode.INVALID_REQUEST)
        txn = self.get_transaction(transactional_id)
        if txn is None or txn.producer_id != producer_id:
            raise CoordinatorError(ErrorCode.INVALID_PRODUCER_ID_MAPPING)
        if txn.producer_epoch != producer_epoch:
            raise CoordinatorError(ErrorCode.PRODUCER_FENCED)
        return txn

    async def add_partitions(
        self,
        transactional_id: str,
        producer_id: int,
        producer_epoch: int,
        partitions: Iterable[TopicPartition],
    ) -> ErrorCode:
        """Kafka's handleAddPartitionsToTransaction: one error for all the partitions."""
        wanted = set(partitions)
        try:
            txn = self._check_producer(transactional_id, producer_id, producer_epoch)
        except CoordinatorError as exc:
            return exc.error
        if txn.pending_transition_in_progress or txn.state in (S.PREPARE_COMMIT, S.PREPARE_ABORT):
            return ErrorCode.CONCURRENT_TRANSACTIONS
        if txn.state == S.ONGOING and wanted <= txn.topic_partitions:
            return ErrorCode.NONE
        try:
            new = txn.prepare_add_partitions(wanted, self.now_ms())
        except IllegalTransitionError:
            return ErrorCode.INVALID_TXN_STATE
        return await self._append_to_log(txn, new)

    def verify_partitions(
        self,
        transactional_id: str,
        producer_id: int,
        producer_epoch: int,
        partitions: Iterable[TopicPartition],
    ) -> dict[TopicPartition, ErrorCode]:
        """Kafka's handleVerifyPartitionsInTransaction (AddPartitionsToTxn v4+ verify_only)."""
        wanted = list(partitions)
        try:
            txn = self._check_producer(transactional_id, producer_id, producer_epoch)
        except CoordinatorError as exc:
            return dict.fromkeys(wanted, exc.error)
        if txn.state in (S.PREPARE_COMMIT, S.PREPARE_ABORT):
            return dict.fromkeys(wanted, ErrorCode.CONCURRENT_TRANSACTIONS)
        return {
            tp: ErrorCode.NONE if tp in txn.topic_partitions else ErrorCode.TRANSACTION_ABORTABLE
            for tp in wanted
        }

    def group_partition(self, group_id: str) -> TopicPartition:
        """The ``__consumer_offsets`` partition holding a group's offsets."""
        gc = getattr(self.broker, "group_coordinator", None)
        if gc is not None:
            return GROUP_METADATA_TOPIC, gc.partition_for(group_id)
        num = int(self.broker.config.get("offsets.topic.num.partitions"))
        return GROUP_METADATA_TOPIC, partition_for(group_id, num)

    # -- EndTxn -------------------------------------------------------------------------

    async def end_transaction(
        self, transactional_id: str, producer_id: int, producer_epoch: int, commit: bool
    ) -> ErrorCode:
        """Kafka's handleEndTransaction (transaction version 1: no epoch bump)."""
        if not transactional_id:
            return ErrorCode.INVALID_REQUEST
        try:
            txn = self.get_transaction(transactional_id)
        except CoordinatorError as exc:
            return exc.error
        if txn is None or txn.producer_id != producer_id:
            return ErrorCode.INVALID_PRODUCER_ID_MAPPING
        if producer_epoch != txn.producer_epoch:
            return ErrorCode.PRODUCER_FENCED
        if txn.pending_transition_in_progress:
            return ErrorCode.CONCURRENT_TRANSACTIONS
        state = txn.state
        if state == S.ONGOING:
            return await self._end_transaction(txn, commit=commit, fence=False)
        if state == S.COMPLETE_COMMIT:
            return ErrorCode.NONE if commit else ErrorCode.INVALID_TXN_STATE
        if state == S.COMPLETE_ABORT:
            return ErrorCode.NONE if not commit else ErrorCode.INVALID_TXN_STATE
        if state == S.PREPARE_COMMIT:
            return ErrorCode.CONCURRENT_TRANSACTIONS if commit else ErrorCode.INVALID_TXN_STATE
        if state == S.PREPARE_ABORT:
            return ErrorCode.CONCURRENT_TRANSACTIONS if not commit else ErrorCode.INVALID_TXN_STATE
        return ErrorCode.INVALID_TXN_STATE

    async def _end_transaction(
        self, txn: TransactionMetadata, *, commit: bool, fence: bool
    ) -> ErrorCode:
        now = self.now_ms()
        try:
            if fence:
                new = txn.prepare_epoch_fence_abort(now)
            else:
                new = txn.prepare_abort_or_commit(
                    S.PREPARE_COMMIT if commit else S.PREPARE_ABORT, now
                )
        except IllegalTransitionError:
            return ErrorCode.INVALID_TXN_STATE
        error = await self._append_to_log(txn, new)
        if error != ErrorCode.NONE:
            if fence:
                txn.has_failed_epoch_fence = True
            return error
        return await self._send_markers_and_complete(txn)

    async def _send_markers_and_complete(self, txn: TransactionMetadata) -> ErrorCode:
        """Write the markers of a prepared transaction, then its Complete state."""
        commit = txn.state == S.PREPARE_COMMIT
        partition = self.partition_for(txn.transactional_id)
        failed = await self.write_markers(
            txn.producer_id,
            txn.producer_epoch,
            commit,
            self.coordinator_epoch(partition),
            sorted(txn.topic_partitions),
        )
        retryable = {tp: e for tp, e in failed.items() if _marker_should_retry(e)}
        if retryable:
            # The decision is on disk; finish in the background, meanwhile the id is busy.
            txn.pending_state = S.COMPLETE_COMMIT if commit else S.COMPLETE_ABORT
            if txn.transactional_id not in self._retrying:
                self._retrying.add(txn.transactional_id)
                self._spawn(self._retry_markers, txn, set(retryable))
            return ErrorCode.NONE
        return await self._complete(txn)

    async def _complete(self, txn: TransactionMetadata) -> ErrorCode:
        try:
            new = txn.prepare_complete(self.now_ms())
        except IllegalTransitionError:
            return ErrorCode.INVALID_TXN_STATE
        error = await self._append_to_log(txn, new)
        if error != ErrorCode.NONE:
            log.warning(
                "writing %s for %s failed with %s",
                new.state.state_name,
                txn.transactional_id,
                error.name,
            )
        return ErrorCode.NONE

    async def _retry_markers(
        self, txn: TransactionMetadata, partitions: set[TopicPartition]
    ) -> None:
        commit = txn.pending_state == S.COMPLETE_COMMIT
        try:
            while partitions:
                await trio.sleep(_MARKER_RETRY_S)
                failed = await self.write_markers(
                    txn.producer_id,
                    txn.producer_epoch,
                    commit,
                    self.coordinator_epoch(self.partition_for(txn.transactional_id)),
                    sorted(partitions),
                )
                partitions = {tp for tp, e in failed.items() if _marker_should_retry(e)}
            txn.pending_state = None
            await self._complete(txn)
        finally:
            self._retrying.discard(txn.transactional_id)

    async def write_markers(
        self,
        producer_id: int,
        producer_epoch: int,
        commit: bool,
        coordinator_epoch: int,
        partitions: Iterable[TopicPartition],
    ) -> dict[TopicPartition, ErrorCode]:
        """Append a commit/abort marker to each partition; returns the failures.

        Pending transactional offsets in ``__consumer_offsets`` partitions follow
        their marker (applied on commit, dropped on abort).
        """
        now = self.now_ms()
        rm = self.broker.replica_manager
        entries = {
            tp: build_control_batch(commit, producer_id, producer_epoch, coordinator_epoch, now)
            for tp in partitions
        }
        failures: dict[TopicPartition, ErrorCode] = {}
        if not entries:
            return failures
        results = await rm.append_records(
            entries,
            required_acks=-1,
            timeout_ms=self.config.request_timeout_ms,
            origin="coordinator",
        )
        done_offsets: set[int] = set()
        for tp, result in results.items():
            code = ErrorCode(result.error_code)
            if code != ErrorCode.NONE:
                failures[tp] = code
                if code != ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
                    log.warning(
                        "transaction marker for producer %d to %s-%d failed: %s",
                        producer_id,
                        tp[0],
                        tp[1],
                        code.name,
                    )
                continue
            if tp[0] == GROUP_METADATA_TOPIC:
                done_offsets.add(tp[1])
        if done_offsets:
            self.txn_offsets.complete(producer_id, done_offsets, commit)
        return failures

    # -- timeouts and expiry ---------------------------------------------------------------

    async def abort_timed_out_transactions(self) -> int:
        """Abort (fencing the producer) every transaction open past its timeout."""
        now = self.now_ms()
        count = 0
        for txns in list(self._txns.values()):
            for txn in list(txns.values()):
                if (
                    txn.state == S.ONGOING
                    and not txn.pending_transition_in_progress
                    and txn.txn_start_timestamp + txn.txn_timeout_ms < now
                ):
                    log.info(
                        "aborting transaction of %s (producer id %d): open longer than %d ms",
                        txn.transactional_id,
                        txn.producer_id,
                        txn.txn_timeout_ms,
                    )
                    fence = not txn.is_producer_epoch_exhausted
                    error = await self._end_transaction(txn, commit=False, fence=fence)
                    if error == ErrorCode.NONE:
                        count += 1
        return count

    async def remove_expired_transactional_ids(self) -> int:
        """Tombstone ids idle for ``transactional.id.expiration.ms``."""
        now = self.now_ms()
        count = 0
        for txns in list(self._txns.values()):
            for txn in list(txns.values()):
                if (
                    txn.pending_state is None
                    and txn.state.is_expiration_allowed
                    and txn.txn_last_update_timestamp
                    <= now - self.config.transactional_id_expiration_ms
                ):
                    txn.prepare_dead()
                    if await self._append_to_log(txn, None) == ErrorCode.NONE:
                        count += 1
        return count

    # -- admin ---------------------------------------------------------------------------

    def describe(self, transactional_id: str) -> TransactionDescription:
        """Kafka's handleDescribeTransactions for one id."""
        if not self.active:
            return TransactionDescription(transactional_id, ErrorCode.COORDINATOR_NOT_AVAILABLE)
        if not transactional_id:
            return TransactionDescription(transactional_id, ErrorCode.INVALID_REQUEST)
        try:
            txn = self.get_transaction(transactional_id)
        except CoordinatorError as exc:
            return TransactionDescription(transactional_id, exc.error)
        if txn is None or txn.state == S.DEAD:
            return TransactionDescription(transactional_id, ErrorCode.TRANSACTIONAL_ID_NOT_FOUND)
        return TransactionDescription(
            transactional_id,
            ErrorCode.NONE,
            txn.state.state_name,
            txn.txn_timeout_ms,
            txn.txn_start_timestamp,
            txn.producer_id,
            txn.producer_epoch,
            tuple(sorted(txn.topic_partitions)),
        )

    def list_transactions(
        self,
        state_filters: Iterable[str] = (),
        producer_id_filters: Iterable[int] = (),
        duration_filter_ms: int = -1,
        transactional_id_pattern: str | None = None,
    ) -> tuple[ErrorCode, list[str], list[tuple[str, int, str]]]:
        """Kafka's listTransactionStates: (error, unknown state filters, (id, pid, state))."""
        if not self.active:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, [], []
        for partition in self._hosted_partitions():
            if partition not in self._txns:
                self._load_partition(partition)
        unknown: list[str] = []
        states: set[TransactionState] = set()
        names = list(state_filters)
        for name in names:
            state = TransactionState.from_name(name)
            if state is None:
                unknown.append(name)
            else:
                states.add(state)
        pids = set(producer_id_filters)
        pattern = None
        if transactional_id_pattern:
            try:
                pattern = re.compile(transactional_id_pattern)
            except re.error:
                return ErrorCode.INVALID_REGULAR_EXPRESSION, [], []
        now = self.now_ms()
        out = []
        for txns in self._txns.values():
            for txn in txns.values():
                if txn.state == S.DEAD:
                    continue
                if pids and txn.producer_id not in pids:
                    continue
                if names and txn.state not in states:
                    continue
                if duration_filter_ms >= 0 and now - txn.txn_start_timestamp <= duration_filter_ms:
                    continue
                if pattern is not None and not pattern.fullmatch(txn.transactional_id):
                    continue
                out.append((txn.transactional_id, txn.producer_id, txn.state.state_name))
        return ErrorCode.NONE, unknown, sorted(out)


def _marker_should_retry(code: ErrorCode) -> bool:
    # A deleted partition will never take its marker; an epoch or coordinator fence
    # means a newer decision already closed it (Kafka stops sending in both cases).
    return code not in (
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.INVALID_PRODUCER_EPOCH,
        ErrorCode.TRANSACTION_COORDINATOR_FENCED,
        ErrorCode.INVALID_TOPIC_EXCEPTION,
    )


def _map_log_append_error(code: ErrorCode) -> ErrorCode:
    """Kafka's TransactionStateManager mapping of a failed transaction log write."""
    if code in (
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.NOT_ENOUGH_REPLICAS,
        ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        ErrorCode.REQUEST_TIMED_OUT,
    ):
        return ErrorCode.COORDINATOR_NOT_AVAILABLE
    if code in (ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.KAFKA_STORAGE_ERROR):
        return ErrorCode.NOT_COORDINATOR
    return ErrorCode.UNKNOWN_SERVER_ERROR
