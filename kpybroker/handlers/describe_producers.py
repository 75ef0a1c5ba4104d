"""DescribeProducers (API key 61), v0.

Per requested partition, the producers the partition's log keeps state for
(Kafka's UnifiedLog.activeProducers): producer id, epoch, last sequence, last
timestamp, coordinator epoch and the first offset of its open transaction (-1
when none). An illegal topic name is INVALID_TOPIC_EXCEPTION, an unknown topic
or partition UNKNOWN_TOPIC_OR_PARTITION, a partition of a known topic not led
here NOT_LEADER_OR_FOLLOWER.
"""

from __future__ import annotations

from typing import Any

from kpybroker import admin_configs as ac
from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.describe_producers import DescribeProducersRequest, DescribeProducersResponse

PartitionResponse = DescribeProducersResponse.PartitionResponse
ProducerState = DescribeProducersResponse.ProducerState


def producer_state_manager(log: Any) -> Any:
    for attr in ("producer_state_manager", "producer_state", "producer_state_mgr"):
        psm = getattr(log, attr, None)
        if psm is not None:
            return psm
    raise AttributeError("log has no producer state manager")


def _active(part: Any) -> list[Any]:
    return [
        ProducerState(
            producer_id=e.producer_id,
            producer_epoch=e.producer_epoch,
            last_sequence=e.last_seq,
            last_timestamp=e.last_timestamp,
            coordinator_epoch=e.coordinator_epoch,
            current_txn_start_offset=e.current_txn_start_offset,
        )
        for e in producer_state_manager(part.log).active_producers()
    ]


@handler(ApiKey.DESCRIBE_PRODUCERS)
async def handle(
    ctx: Any, header: Any, request: DescribeProducersRequest
) -> DescribeProducersResponse:
    broker = ctx.broker
    topics = []
    for t in request.topics:
        topic_error: tuple[ErrorCode, str | None] | None = None
        reason = ac.topic_name_error(t.name)
        meta = broker.metadata.get_topic(t.name) if reason is None else None
        if reason is not None:
            topic_error = (ErrorCode.INVALID_TOPIC_EXCEPTION, reason)
        elif meta is None:
            topic_error = (
                ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                ErrorCode.UNKNOWN_TOPIC_OR_PARTITION.message,
            )
        partitions = []
        for index in t.partition_indexes:
            if topic_error is not None:
                partitions.append(
                    PartitionResponse(
                        partition_index=index,
                        error_code=int(topic_error[0]),
                        error_message=topic_error[1],
                    )
                )
                continue
            part = broker.replica_manager.get_partition(t.name, index)
            if part is None:
                code = broker.replica_manager.not_hosted_error(t.name, index)
                partitions.append(
                    PartitionResponse(
                        partition_index=index, error_code=int(code), error_message=None
                    )
                )
                continue
            partitions.append(
                PartitionResponse(
                    partition_index=index,
                    error_code=0,
                    error_message=None,
                    active_producers=_active(part),
                )
            )
        topics.append(DescribeProducersResponse.TopicResponse(name=t.name, partitions=partitions))
    return DescribeProducersResponse(throttle_time_ms=0, topics=topics)
