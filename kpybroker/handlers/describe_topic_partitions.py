"""DescribeTopicPartitions (API key 75), every version wire covers (0).

What the Java admin client (3.9+) uses for ``describeTopics``; answered as
Kafka's DescribeTopicPartitionsRequestHandler with KRaftMetadataCache, from the
same topic state the Metadata handler reads (the metadata store):

* ``topics`` empty means every topic; otherwise the named ones (each once).
  Only names at or after the cursor's topic name are considered, in name order.
  A cursor whose topic is not in a non-empty topic list, or whose partition
  index is negative, is INVALID_REQUEST for every requested topic.
* At most ``min(response_partition_limit, max.request.partition.size.limit
  (2000))`` partitions (at least 1) are returned, starting at the cursor's
  partition for the cursor's topic. When the limit stops inside a topic,
  ``next_cursor`` names that topic and the first partition not returned; when
  it runs out exactly at a topic boundary and topics remain, the cursor names
  the next topic, partition 0.
* Per topic: ``topic_id``, ``is_internal``, partitions with leader (-1 when
  the leader is not a live broker), leader epoch, replicas, ISR, eligible
  leader replicas and last known ELR (always empty: kpybroker has no ELR),
  offline replicas (replicas on brokers that are not live); authorized
  operations: every topic operation (no authorizer).
* A named topic that does not exist: UNKNOWN_TOPIC_OR_PARTITION, or
  INVALID_TOPIC_EXCEPTION when its name is not legal, with zero topic id and
  no partitions (it does not count against the limit).
"""

from __future__ import annotations

import uuid
from typing import Any

from kpybroker.admin_configs import live_broker_ids, topic_name_error
from kpybroker.broker import INTERNAL_TOPICS
from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.describe_topic_partitions import (
    DescribeTopicPartitionsRequest,
    DescribeTopicPartitionsResponse,
)

Resp = DescribeTopicPartitionsResponse
ZERO_UUID = uuid.UUID(int=0)
NO_LEADER = -1
DEFAULT_PARTITION_SIZE_LIMIT = 2000
# Without an authorizer Kafka reports every operation a topic supports: READ(3),
# WRITE(4), CREATE(5), DELETE(6), ALTER(7), DESCRIBE(8), DESCRIBE_CONFIGS(10),
# ALTER_CONFIGS(11), as a bit field.
TOPIC_OPERATIONS = sum(1 << op for op in (3, 4, 5, 6, 7, 8, 10, 11))


def _partition_size_limit(broker: Any) -> int:
    try:
        return int(broker.config.get("max.request.partition.size.limit"))
    except Exception:  # noqa: BLE001 - the config table may not define it: Kafka's default
        return DEFAULT_PARTITION_SIZE_LIMIT


def _invalid(request: DescribeTopicPartitionsRequest) -> DescribeTopicPartitionsResponse:
    # Kafka's DescribeTopicPartitionsRequest.getErrorResponse: every requested
    # topic with the error and nothing else; the response has no message field.
    return Resp(
        throttle_time_ms=0,
        topics=[
            Resp.DescribeTopicPartitionsResponseTopic(
                error_code=int(ErrorCode.INVALID_REQUEST), name=t.name, is_internal=False, partitions=[]
            )
            for t in request.topics
        ],
        next_cursor=None,
    )


def _partitions(meta: Any, start: int, max_count: int, live: set[int]) -> tuple[list[Any], int]:
    """Partitions ``start`` up to the limit, and the next index (-1: none left)."""
    count = len(meta.partitions)
    upper = min(count, start + max_count)
    next_index = upper if upper < count else -1
    out = []
    for index in range(start, upper):
        state = meta.partitions.get(index)
        if state is None:
            continue
        out.append(
            Resp.DescribeTopicPartitionsResponsePartition(
                error_code=0,
                partition_index=index,
                leader_id=state.leader if state.leader in live else NO_LEADER,
                leader_epoch=state.leader_epoch,
                replica_nodes=list(state.replicas),
                isr_nodes=list(state.isr),
                eligible_leader_replicas=[],
                last_known_elr=[],
                offline_replicas=[r for r in state.replicas if r not in live],
            )
        )
    return out, next_index


@handler(ApiKey.DESCRIBE_TOPIC_PARTITIONS)
async def handle(
    ctx: Any, header: Any, request: DescribeTopicPartitionsRequest
) -> DescribeTopicPartitionsResponse:
    broker = ctx.broker
    store = broker.metadata
    fetch_all = not request.topics
    cursor = request.cursor
    cursor_topic = cursor.topic_name if cursor is not None else ""
    if fetch_all:
        names = {t.name for t in store.topics() if t.name >= cursor_topic}
    else:
        names = {t.name for t in request.topics if t.name >= cursor_topic}
        if cursor is not None and cursor.topic_name not in names:
            return _invalid(request)
    if cursor is not None and cursor.partition_index < 0:
        return _invalid(request)

    live = live_broker_ids(broker)
    remaining = max(min(_partition_size_limit(broker), request.response_partition_limit), 1)
    topics: list[Any] = []
    next_cursor = None
    for name in sorted(names):
        if remaining <= 0:
            # The limit ran out exactly at a topic boundary: resume at this topic.
            next_cursor = Resp.Cursor(topic_name=name, partition_index=0)
            break
        meta = store.get_topic(name)
        if meta is None:
            if not fetch_all:
                code = ErrorCode.INVALID_TOPIC_EXCEPTION if topic_name_error(name) else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                topics.append(
                    Resp.DescribeTopicPartitionsResponseTopic(
                        error_code=int(code),
                        name=name,
                        topic_id=ZERO_UUID,
                        is_internal=name in INTERNAL_TOPICS,
                        partitions=[],
                        topic_authorized_operations=TOPIC_OPERATIONS,
                    )
                )
            continue
        start = cursor.partition_index if cursor is not None and name == cursor_topic else 0
        partitions, next_index = _partitions(meta, start, remaining, live)
        topics.append(
            Resp.DescribeTopicPartitionsResponseTopic(
                error_code=0,
                name=name,
                topic_id=meta.topic_id,
                is_internal=name in INTERNAL_TOPICS,
                partitions=partitions,
                topic_authorized_operations=TOPIC_OPERATIONS,
            )
        )
        if next_index != -1:
            next_cursor = Resp.Cursor(topic_name=name, partition_index=next_index)
            break
        remaining -= len(partitions)
    return Resp(throttle_time_ms=0, topics=topics, next_cursor=next_cursor)
