"""Transactional offset commits: written now, visible to the group only on commit.

TxnOffsetCommit appends the offset records to the group's ``__consumer_offsets``
partition as a *transactional* batch (the producer's id and epoch), exactly as
Kafka's group coordinator does, and keeps them here as pending per producer id.
The commit marker the transaction coordinator later writes to that partition
applies them to the group (``complete(..., commit=True)``); an abort marker drops
them. While any are pending for a partition, OffsetFetch with ``require_stable``
answers UNSTABLE_OFFSET_COMMIT for it.

After a restart the group coordinator's loader replays committed transactional
offsets itself (at their commit marker); ``rebuild`` finds the ones whose
transaction has no marker yet so they are pending again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from kpybroker.group_coordinator.coordinator import map_offsets_append_error
from wire.errors import ErrorCode
from wire.records import ControlRecord, SimpleRecord, build_batch, iter_records, parse_header

CONTROL_COMMIT = 1

log = logging.getLogger(__name__)

GROUP_METADATA_TOPIC = "__consumer_offsets"
TopicPartition = tuple[str, int]


class PendingTxnOffsets:
    """Offsets committed inside open transactions, by producer id and group."""

    def __init__(self, broker: Any) -> None:
        self.broker = broker
        # producer id -> group id -> (topic, partition) -> OffsetAndMetadata
        self._pending: dict[int, dict[str, dict[TopicPartition, Any]]] = {}

    # -- queries ------------------------------------------------------------------

    def has_pending(self, group_id: str, tp: TopicPartition) -> bool:
        """Whether a transaction holds an uncommitted offset for this group partition."""
        return any(tp in groups.get(group_id, ()) for groups in self._pending.values())

    def pending_partitions(self, group_id: str) -> set[TopicPartition]:
        out: set[TopicPartition] = set()
        for groups in self._pending.values():
            out.update(groups.get(group_id, ()))
        return out

    def pending_for(self, producer_id: int) -> dict[str, dict[TopicPartition, Any]]:
        return {g: dict(o) for g, o in self._pending.get(producer_id, {}).items()}

    # -- TxnOffsetCommit -------------------------------------------------------------

    def _group_coordinator(self) -> Any:
        return getattr(self.broker, "group_coordinator", None)

    def validate(
        self, group_id: str, member_id: str, group_instance_id: str | None, generation_id: int
    ) -> ErrorCode:
        """Kafka's checks of a transactional commit against the group (no state rule)."""
        gc = self._group_coordinator()
        if gc is None:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        error = gc._validate(group_id)
        if error is not None:
            return error
        group = gc.groups.get(group_id)
        if group is None:
            # A simple (unmanaged) group: accepted only without a generation.
            return ErrorCode.ILLEGAL_GENERATION if generation_id >= 0 else ErrorCode.NONE
        if not hasattr(group, "is_in"):
            # A consumer-protocol group (KIP-848): the generation is the member epoch.
            members = getattr(group, "members", {})
            if generation_id < 0 and not members:
                return ErrorCode.NONE
            member = members.get(member_id)
            if member is None:
                return ErrorCode.UNKNOWN_MEMBER_ID
            if generation_id != getattr(member, "member_epoch", generation_id):
                return ErrorCode.ILLEGAL_GENERATION
            return ErrorCode.NONE
        from kpybroker.group_coordinator import GroupState

        if group.is_in(GroupState.DEAD):
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        if generation_id < 0 and group.is_in(GroupState.EMPTY):
            return ErrorCode.NONE
        if generation_id >= 0 or member_id != "" or group_instance_id is not None:
            invalid = group.validate_member(member_id, group_instance_id)
            if invalid is not None:
                return ErrorCode(invalid)
            if generation_id != group.generation_id:
                return ErrorCode.ILLEGAL_GENERATION
        return ErrorCode.NONE

    async def commit(
        self,
        group_id: str,
        producer_id: int,
        producer_epoch: int,
        offsets: dict[TopicPartition, Any],
        *,
        timeout_ms: int = 5000,
    ) -> ErrorCode:
        """Append the offsets as a transactional batch and hold them as pending."""
        gc = self._group_coordinator()
        partition = gc.partition_for(group_id)
        from kpybroker.group_coordinator import records as group_records

        now = self.broker.now_ms()
        batch = build_batch(
            [
                SimpleRecord(
                    group_records.offset_commit_key(group_id, t, p),
                    group_records.offset_commit_value(om),
                    timestamp=now,
                )
                for (t, p), om in offsets.items()
            ],
            producer_id=producer_id,
            producer_epoch=producer_epoch,
            base_sequence=0,
            is_transactional=True,
        )
        key = (GROUP_METADATA_TOPIC, partition)
        results = await self.broker.replica_manager.append_records(
            {key: batch}, required_acks=-1, timeout_ms=timeout_ms, origin="coordinator"
        )
        code = ErrorCode(results[key].error_code)
        if code != ErrorCode.NONE:
            return map_offsets_append_error(code)
        self._pending.setdefault(producer_id, {}).setdefault(group_id, {}).update(offsets)
        return ErrorCode.NONE

    # -- markers ------------------------------------------------------------------

    def complete(self, producer_id: int, offsets_partitions: set[int], commit: bool) -> None:
        """A marker reached these ``__consumer_offsets`` partitions: apply or drop."""
        groups = self._pending.get(producer_id)
        if not groups:
            return
        gc = self._group_coordinator()
        for group_id in list(groups):
            if gc is not None and gc.partition_for(group_id) not in offsets_partitions:
                continue
            offsets = groups.pop(group_id)
            if commit and gc is not None:
                from kpybroker.group_coordinator import ClassicGroup, GroupState

                group = gc.groups.get(group_id)
                if group is None or (hasattr(group, "is_in") and group.is_in(GroupState.DEAD)):
                    group = ClassicGroup(group_id, GroupState.EMPTY, self.broker.now_ms())
                    gc.groups[group_id] = group
                group.offsets.update(offsets)
        if not groups:
            self._pending.pop(producer_id, None)

    # -- restart ------------------------------------------------------------------

    def rebuild(self) -> None:
        """Find transactional offsets whose transaction has no marker yet."""
        rm = getattr(self.broker, "replica_manager", None)
        if rm is None:
            return
        from kpybroker.group_coordinator import OffsetAndMetadata
        from kpybroker.group_coordinator import records as group_records

        for part in rm.partitions():
            if part.topic != GROUP_METADATA_TOPIC:
                continue
            open_txns: dict[int, dict[str, dict[TopicPartition, Any]]] = {}
            for _, batch in rm.read_committed_batches(GROUP_METADATA_TOPIC, part.partition, 0):
                header = parse_header(batch)
                if not header.is_transactional:
                    continue
                if header.is_control:
                    open_txns.pop(header.producer_id, None)
                    continue
                for record in iter_records(batch, 0, header):
                    try:
                        decoded = group_records.decode_record(
                            None if record.key is None else bytes(record.key),
                            None if record.value is None else bytes(record.value),
                        )
                    except Exception:  # noqa: BLE001 - an unreadable record is skipped, as on load
                        continue
                    if (
                        isinstance(decoded, group_records.OffsetRecord)
                        and decoded.value is not None
                    ):
                        om = decoded.value
                        if not isinstance(om, OffsetAndMetadata):
                            continue
                        open_txns.setdefault(header.producer_id, {}).setdefault(
                            decoded.group_id, {}
                        )[(decoded.topic, decoded.partition)] = om
            for pid, groups in open_txns.items():
                mine = self._pending.setdefault(pid, {})
                for group_id, offsets in groups.items():
                    mine.setdefault(group_id, {}).update(offsets)


# -- hooks for the group coordinator ------------------------------------------------------


def unstable_partitions(broker: Any, group_id: str) -> set[TopicPartition]:
    """Partitions of ``group_id`` with offsets waiting for a transaction (OffsetFetch
    ``require_stable`` answers UNSTABLE_OFFSET_COMMIT for them)."""
    coordinator = getattr(broker, "transaction_coordinator", None)
    txn_offsets = getattr(coordinator, "txn_offsets", None)
    if txn_offsets is None:
        return set()
    return txn_offsets.pending_partitions(group_id)


def committed_records(
    batches: Iterable[tuple[int, memoryview]],
) -> Iterator[tuple[bytes | None, bytes | None]]:
    """The ``(key, value)`` records a ``__consumer_offsets`` replay should apply, in order.

    Plain batches as they come; a transactional batch is held per producer id
    until its marker: a commit marker releases the records at that point of the
    log, an abort marker drops them, and records still open at the end are left
    out (``PendingTxnOffsets.rebuild`` makes them pending again).
    """
    held: dict[int, list[tuple[bytes | None, bytes | None]]] = {}
    for _, batch in batches:
        header = parse_header(batch)
        if header.is_control:
            records = held.pop(header.producer_id, None)
            if records and header.is_transactional and _is_commit_marker(batch, header):
                yield from records
            continue
        items = [
            (
                None if rec.key is None else bytes(rec.key),
                None if rec.value is None else bytes(rec.value),
            )
            for rec in iter_records(batch, 0, header)
        ]
        if header.is_transactional:
            held.setdefault(header.producer_id, []).extend(items)
        else:
            yield from items


def _is_commit_marker(batch: memoryview, header: Any) -> bool:
    for rec in iter_records(batch, 0, header):
        try:
            return ControlRecord.from_record(rec).type == CONTROL_COMMIT
        except Exception:  # noqa: BLE001 - an unreadable marker counts as an abort
            return False
    return False
