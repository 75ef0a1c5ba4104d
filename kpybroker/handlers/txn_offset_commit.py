"""TxnOffsetCommit (API key 28), v0-v4.

Offsets a transactional producer commits for a consumer group: written to the
group's ``__consumer_offsets`` partition as a transactional batch and held as
pending until the transaction's marker applies (commit) or drops (abort) them
(``kpybroker.transaction_coordinator.txn_offsets``). As Kafka:
- partitions of unknown topics answer UNKNOWN_TOPIC_OR_PARTITION;
- the group checks (INVALID_GROUP_ID, NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS,
  ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID) answer every partition;
  a group that does not exist is accepted only with generation -1;
- with ``transaction.partition.verification.enable`` (default) the group's
  partition must be in the producer's transaction (AddOffsetsToTxn first):
  if not, TRANSACTION_ABORTABLE from v4 (INVALID_TXN_STATE before), and
  INVALID_PRODUCER_EPOCH for a fenced producer;
- metadata over ``offset.metadata.max.bytes`` is OFFSET_METADATA_TOO_LARGE;
- below v2 COORDINATOR_LOAD_IN_PROGRESS is answered as COORDINATOR_NOT_AVAILABLE.
v5 belongs to transaction version 2 and is not advertised.
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.txn_offset_commit import TxnOffsetCommitRequest, TxnOffsetCommitResponse

R = TxnOffsetCommitResponse


def _verification_enabled(broker: Any) -> bool:
    try:
        return bool(broker.config.get("transaction.partition.verification.enable"))
    except (KeyError, AttributeError, ValueError):
        return True


@handler(ApiKey.TXN_OFFSET_COMMIT, 0, 4)
async def handle(ctx: Any, header: Any, request: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse:
    from kpybroker.group_coordinator import OffsetAndMetadata

    version = header.request_api_version
    broker = ctx.broker
    coordinator = getattr(broker, "transaction_coordinator", None)
    gc = getattr(broker, "group_coordinator", None)
    rm = broker.replica_manager
    now = ctx.now_ms()

    errors: dict[tuple[str, int], ErrorCode] = {}
    order: list[tuple[str, int]] = []
    wanted: dict[tuple[str, int], Any] = {}
    for topic in request.topics:
        for p in topic.partitions:
            tp = (topic.name, p.partition_index)
            order.append(tp)
            if rm.get_partition(*tp) is None:
                errors[tp] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            else:
                wanted[tp] = p

    if wanted:
        member_id = request.member_id if version >= 3 else ""
        instance_id = request.group_instance_id if version >= 3 else None
        generation = request.generation_id if version >= 3 else -1
        if coordinator is None or gc is None:
            group_error = ErrorCode.COORDINATOR_NOT_AVAILABLE
        else:
            group_error = coordinator.txn_offsets.validate(
                request.group_id, member_id, instance_id, generation
            )
        if group_error == ErrorCode.NONE and _verification_enabled(broker):
            tp_group = coordinator.group_partition(request.group_id)
            verified = coordinator.verify_partitions(
                request.transactional_id, request.producer_id, request.producer_epoch, [tp_group]
            )[tp_group]
            if verified == ErrorCode.PRODUCER_FENCED:
                group_error = ErrorCode.INVALID_PRODUCER_EPOCH
            elif verified == ErrorCode.TRANSACTION_ABORTABLE and version < 4:
                group_error = ErrorCode.INVALID_TXN_STATE
            else:
                group_error = verified
        if group_error != ErrorCode.NONE:
            errors.update(dict.fromkeys(wanted, group_error))
        else:
            limit = int(gc.config.offset_metadata_max_bytes)
            offsets = {}
            for tp, p in wanted.items():
                metadata = p.committed_metadata
                if metadata is not None and len(metadata.encode()) > limit:
                    errors[tp] = ErrorCode.OFFSET_METADATA_TOO_LARGE
                    continue
                offsets[tp] = OffsetAndMetadata(
                    offset=p.committed_offset,
                    leader_epoch=p.committed_leader_epoch if version >= 2 else -1,
                    metadata=metadata or "",
                    commit_timestamp=now,
                )
            if offsets:
                code = await coordinator.txn_offsets.commit(
                    request.group_id, request.producer_id, request.producer_epoch, offsets
                )
                errors.update(dict.fromkeys(offsets, code))

    if version < 2:
        for tp, code in errors.items():
            if code == ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
                errors[tp] = ErrorCode.COORDINATOR_NOT_AVAILABLE
    topics: dict[str, Any] = {}
    for tp in order:
        topic = topics.get(tp[0])
        if topic is None:
            topic = topics[tp[0]] = R.TxnOffsetCommitResponseTopic(name=tp[0], partitions=[])
        topic.partitions.append(
            R.TxnOffsetCommitResponsePartition(partition_index=tp[1], error_code=int(errors[tp]))
        )
    return R(throttle_time_ms=0, topics=list(topics.values()))
