"""OffsetForLeaderEpoch (API key 23): where a leader epoch ended in this log.

Versions 0-4 (Kafka 4 kept 2-4; 0-1 come from Kafka 3.9's range). Followers use it
to find where to truncate; consumers (KIP-320) to validate their position after a
leader change. As Kafka's ReplicaManager.lastOffsetForLeaderEpoch:
- the answer comes from the log's leader-epoch cache: the largest epoch <= the
  requested one and the start offset of the next epoch (or the log end offset for
  the latest epoch); an epoch older than anything cached answers epoch -1 and
  end offset -1 with no error;
- ``current_leader_epoch`` (v2+) fences: ``FENCED_LEADER_EPOCH`` if older than the
  partition's, ``UNKNOWN_LEADER_EPOCH`` if newer;
- a partition this broker does not host -> ``UNKNOWN_TOPIC_OR_PARTITION``, or
  ``NOT_LEADER_OR_FOLLOWER`` while its topic is being created;
- ``replica_id`` (v3+) is accepted as sent: the leader answers followers and
  consumers alike (the requester is always served from the leader).
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.offset_for_leader_epoch import (
    OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse,
)

EpochEndOffset = OffsetForLeaderEpochResponse.EpochEndOffset


@handler(ApiKey.OFFSET_FOR_LEADER_EPOCH, 0, 4)
async def handle(
    ctx: Any, header: Any, request: OffsetForLeaderEpochRequest
) -> OffsetForLeaderEpochResponse:
    version = header.request_api_version
    replica_manager = ctx.broker.replica_manager
    topics = []
    for topic in request.topics:
        results = []
        for p in topic.partitions:
            part = replica_manager.get_partition(topic.topic, p.partition)
            if part is None:
                results.append(
                    EpochEndOffset(
                        partition=p.partition,
                        error_code=int(replica_manager.not_hosted_error(topic.topic, p.partition)),
                    )
                )
                continue
            code = part.check_leader_epoch(p.current_leader_epoch if version >= 2 else -1)
            if code != ErrorCode.NONE:
                results.append(EpochEndOffset(partition=p.partition, error_code=int(code)))
                continue
            epoch, end_offset = part.end_offset_for_epoch(p.leader_epoch)
            results.append(
                EpochEndOffset(
                    partition=p.partition, error_code=0, leader_epoch=epoch, end_offset=end_offset
                )
            )
        topics.append(
            OffsetForLeaderEpochResponse.OffsetForLeaderTopicResult(
                topic=topic.topic, partitions=results
            )
        )
    return OffsetForLeaderEpochResponse(throttle_time_ms=0, topics=topics)
