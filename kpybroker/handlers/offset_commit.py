"""OffsetCommit (key 8), v0-v10 implemented, v0-v9 advertised (as Kafka 4.1).

Commits offsets for a group; they are visible to OffsetFetch once appended to
__consumer_offsets. Generation -1 with an empty member id is a "simple" commit
(manually assigned consumers), allowed while the group has no members. Version
notes: v1 has a per-partition commit timestamp; v2-v4 a retention time (written as
an explicit expire timestamp, value schema v1); v6 the leader epoch; v7
group.instance.id; v10 names topics by id. Partitions of unknown topics get
UNKNOWN_TOPIC_OR_PARTITION (UNKNOWN_TOPIC_ID in v10) without reaching the group.
"""

from __future__ import annotations

import uuid
from typing import Any

from kpybroker.dispatch import handler
from kpybroker.group_coordinator import OffsetAndMetadata
from kpybroker.group_coordinator.handler_support import NOT_AVAILABLE, coordinator_of
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.offset_commit import OffsetCommitRequest, OffsetCommitResponse

_ZERO_UUID = uuid.UUID(int=0)


def _java_long(n: int) -> int:
    """``n`` wrapped to a signed 64-bit value. Kafka adds the retention time to the
    clock in a Java long, so a huge retention wraps to an expire time in the past
    (the offset expires at the next check) instead of failing the commit."""
    return (n + 2**63) % 2**64 - 2**63


# v10 (topics by id) is implemented, but Kafka 4.1 does not advertise it (4.2 does);
# advertising it made clients take us for a newer release than the one we present.
@handler(ApiKey.OFFSET_COMMIT, 0, 9)
async def handle(ctx: Any, header: Any, request: OffsetCommitRequest) -> OffsetCommitResponse:
    version = header.request_api_version
    coord = coordinator_of(ctx)
    store = getattr(ctx.broker, "metadata", None)
    now = ctx.now_ms()
    retention = request.retention_time_ms if 2 <= version <= 4 else -1
    errors: dict[tuple[str, int], ErrorCode] = {}
    offsets: dict[tuple[str, int], OffsetAndMetadata] = {}
    # (key, response topic name, topic id) in request order
    order: list[tuple[str, Any, uuid.UUID, list[int]]] = []
    for topic in request.topics:
        if version >= 10:
            meta = store.get_topic_by_id(topic.topic_id) if store is not None else None
            name = meta.name if meta is not None else f"<unknown {topic.topic_id}>"
            missing_error = ErrorCode.UNKNOWN_TOPIC_ID
        else:
            name = topic.name
            meta = store.get_topic(name) if store is not None else None
            missing_error = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        parts = []
        for p in topic.partitions:
            tp = (name, p.partition_index)
            parts.append(p.partition_index)
            if meta is None or p.partition_index not in meta.partitions:
                errors[tp] = missing_error if meta is None else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                continue
            commit_ts = p.commit_timestamp if version == 1 and p.commit_timestamp != -1 else now
            leader_epoch = p.committed_leader_epoch if version >= 6 else -1
            offsets[tp] = OffsetAndMetadata(
                offset=p.committed_offset,
                leader_epoch=leader_epoch if leader_epoch is not None else -1,
                metadata=p.committed_metadata if p.committed_metadata is not None else "",
                commit_timestamp=commit_ts,
                expire_timestamp=_java_long(now + retention) if retention != -1 else None,
            )
        order.append((name, topic.name if version < 10 else None,
                      getattr(topic, "topic_id", _ZERO_UUID), parts))
    if offsets:
        if coord is None:
            errors.update(dict.fromkeys(offsets, NOT_AVAILABLE))
        else:
            errors.update(
                await coord.commit_offsets(
                    request.group_id,
                    request.member_id if version >= 1 else "",
                    request.group_instance_id if version >= 7 else None,
                    request.generation_id_or_member_epoch if version >= 1 else -1,
                    offsets,
                    api_version=version,
                )
            )
    topics = []
    for name, wire_name, topic_id, parts in order:
        topics.append(
            OffsetCommitResponse.OffsetCommitResponseTopic(
                name=wire_name if wire_name is not None else "",
                topic_id=topic_id,
                partitions=[
                    OffsetCommitResponse.OffsetCommitResponsePartition(
                        partition_index=p, error_code=int(errors[(name, p)])
                    )
                    for p in parts
                ],
            )
        )
    return OffsetCommitResponse(topics=topics)
