"""DeleteRecords (API key 21), every version wire covers (0-2).

Moves a partition's log start offset forward (Kafka's
Partition.deleteRecordsOnLeader): offset -1 means the high watermark; any other
negative offset, or one past the high watermark, is OFFSET_OUT_OF_RANGE; an
offset below the current log start offset changes nothing. The answer's
``low_watermark`` is the log start offset afterwards (with one replica, the
lowest across replicas is the leader's). Per partition: an unknown topic or
partition is UNKNOWN_TOPIC_OR_PARTITION, a partition of a known topic not led
here NOT_LEADER_OR_FOLLOWER, an internal topic INVALID_TOPIC_EXCEPTION, a topic
without ``delete`` in its cleanup.policy POLICY_VIOLATION; failures answer
``low_watermark`` -1.
"""

from __future__ import annotations

from typing import Any

from kpybroker import admin_configs as ac
from kpybroker.dispatch import handler
from kpybroker.replica_manager import INTERNAL_TOPICS
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.delete_records import DeleteRecordsRequest, DeleteRecordsResponse

HIGH_WATERMARK = -1


def _cleanup_policy(part: Any) -> list[str]:
    config = getattr(part.log, "config", None) or getattr(part, "config", None)
    policy = getattr(config, "cleanup_policy", "delete")
    if isinstance(policy, str):
        return [p.strip() for p in policy.split(",") if p.strip()]
    return list(policy)


def delete_records_on_leader(broker: Any, topic: str, partition: int, offset: int) -> int:
    """Advance the log start offset of a partition led here; returns the low watermark.
    Raises ``AdminError`` with Kafka's code for every refusal."""
    if topic in INTERNAL_TOPICS:
        raise ac.AdminError(
            ErrorCode.INVALID_TOPIC_EXCEPTION, f"Cannot delete records of internal topic {topic}"
        )
    part = broker.replica_manager.get_partition(topic, partition)
    if part is None:
        if broker.replica_manager.not_hosted_error(topic, partition) == ErrorCode.NOT_LEADER_OR_FOLLOWER:
            raise ac.AdminError(
                ErrorCode.NOT_LEADER_OR_FOLLOWER,
                f"Leader not local for partition {topic}-{partition} on broker {broker.broker_id}",
            )
        raise ac.AdminError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, None)
    if "delete" not in _cleanup_policy(part):
        raise ac.AdminError(
            ErrorCode.POLICY_VIOLATION,
            f"Records of partition {topic}-{partition} can not be deleted due to "
            "the configured policy",
        )
    log = part.log
    target = log.high_watermark if offset == HIGH_WATERMARK else offset
    if target < 0:
        raise ac.AdminError(
            ErrorCode.OFFSET_OUT_OF_RANGE,
            f"The offset {target} for partition {topic}-{partition} is not valid",
        )
    if target > log.high_watermark:
        raise ac.AdminError(
            ErrorCode.OFFSET_OUT_OF_RANGE,
            f"Cannot increment the log start offset to {target} of partition "
            f"{topic}-{partition} since it is larger than the high watermark "
            f"{log.high_watermark}",
        )
    if target > log.log_start_offset:
        log.maybe_increment_log_start_offset(target)
    return log.log_start_offset


@handler(ApiKey.DELETE_RECORDS)
async def handle(ctx: Any, header: Any, request: DeleteRecordsRequest) -> DeleteRecordsResponse:
    broker = ctx.broker
    topics: list[Any] = []
    for t in request.topics:
        results: list[Any] = []
        for p in t.partitions:
            try:
                low = delete_records_on_leader(broker, t.name, p.partition_index, p.offset)
                code = ErrorCode.NONE
            except ac.AdminError as exc:
                low, code = -1, exc.error_code
            except Exception as exc:
                code = ac.error_code_of(exc)
                if code is None:
                    raise
                low = -1
            results.append(
                DeleteRecordsResponse.DeleteRecordsPartitionResult(
                    partition_index=p.partition_index, low_watermark=low, error_code=int(code)
                )
            )
        topics.append(
            DeleteRecordsResponse.DeleteRecordsTopicResult(name=t.name, partitions=results)
        )
    return DeleteRecordsResponse(throttle_time_ms=0, topics=topics)
