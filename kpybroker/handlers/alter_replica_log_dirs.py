"""AlterReplicaLogDirs (API key 34), every version wire covers (0-2).

As Kafka's ReplicaManager.alterReplicaLogDirs, per partition (a partition
named under several dirs takes the last one):

* a topic name so long that the future-log dir name would pass 255 bytes ->
  INVALID_TOPIC_EXCEPTION;
* a destination that is not one of the configured ``log.dirs`` (compared as
  absolute paths, the way DescribeLogDirs reports them) -> LOG_DIR_NOT_FOUND;
* a partition this broker does not host -> REPLICA_NOT_AVAILABLE;
* the partition already lives in that dir -> NONE (nothing to move).

Moving a replica to another configured log dir would need Kafka's future-log
copy (ReplicaAlterLogDirsThread), which kpybroker does not have: that case
answers KAFKA_STORAGE_ERROR and nothing moves. Results are grouped by topic in
request order.
"""

from __future__ import annotations

import os
from typing import Any

from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.alter_replica_log_dirs import (
    AlterReplicaLogDirsRequest,
    AlterReplicaLogDirsResponse,
)

Resp = AlterReplicaLogDirsResponse
# "<topic>-<partition>.<32 hex uuid>-future": Kafka's future log dir name.
_FUTURE_SUFFIX_LEN = 1 + 32 + len("-future")


def _outcome(broker: Any, topic: str, partition: int, destination: str) -> ErrorCode:
    if len(f"{topic}-{partition}".encode()) + _FUTURE_SUFFIX_LEN > 255:
        return ErrorCode.INVALID_TOPIC_EXCEPTION
    configured = {os.path.abspath(d) for d in broker.config.log_dirs}
    if destination not in configured:
        return ErrorCode.LOG_DIR_NOT_FOUND
    hosted = broker.replica_manager.get_partition(topic, partition)
    if hosted is None or getattr(hosted, "log", None) is None:
        return ErrorCode.REPLICA_NOT_AVAILABLE
    current = os.path.abspath(os.path.dirname(os.fspath(hosted.log.dir)))
    if current == destination:
        return ErrorCode.NONE
    return ErrorCode.KAFKA_STORAGE_ERROR


@handler(ApiKey.ALTER_REPLICA_LOG_DIRS)
async def handle(
    ctx: Any, header: Any, request: AlterReplicaLogDirsRequest
) -> AlterReplicaLogDirsResponse:
    destinations: dict[tuple[str, int], str] = {}
    for d in request.dirs:
        for t in d.topics:
            for p in t.partitions:
                destinations.pop((t.name, p), None)
                destinations[(t.name, p)] = d.path
    by_topic: dict[str, list[Any]] = {}
    for (topic, partition), path in destinations.items():
        code = _outcome(ctx.broker, topic, partition, path)
        by_topic.setdefault(topic, []).append(
            Resp.AlterReplicaLogDirPartitionResult(partition_index=partition, error_code=int(code))
        )
    return Resp(
        throttle_time_ms=0,
        results=[
            Resp.AlterReplicaLogDirTopicResult(topic_name=topic, partitions=parts)
            for topic, parts in by_topic.items()
        ],
    )
