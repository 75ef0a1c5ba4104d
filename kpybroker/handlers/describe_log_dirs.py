"""DescribeLogDirs (API key 35), v0-v4 (v5 is Kafka 4.3's).

For each configured log dir (as an absolute path), the partitions stored there
with their size in bytes, offset lag 0 (no future replicas being moved between
dirs) and ``is_future_key`` false; v4+ adds the file system's total and usable
bytes. ``topics`` null means every partition; otherwise only the listed ones,
and a topic with none of them in a dir is left out of that dir (Kafka's
ReplicaManager.describeLogDirs). A dir that cannot be read answers
KAFKA_STORAGE_ERROR.
"""

from __future__ import annotations

import os
from typing import Any

from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.describe_log_dirs import DescribeLogDirsRequest, DescribeLogDirsResponse

LONG_MAX = 2**63 - 1


def _logs(broker: Any) -> list[Any]:
    manager = getattr(broker, "log_manager", None)
    logs = manager.all_logs() if manager is not None else None
    if logs is None:
        return [p.log for p in broker.replica_manager.partitions()]
    if isinstance(logs, dict):
        return list(logs.values())
    return list(logs)


def _log_dir_of(log: Any) -> str:
    for attr in ("dir", "directory", "path"):
        value = getattr(log, attr, None)
        if value is not None:
            return os.path.abspath(os.fspath(value))
    raise AttributeError("log has no directory attribute")


def _topic_partition(path: str) -> tuple[str, int] | None:
    base = os.path.basename(path)
    topic, sep, part = base.rpartition("-")
    if not sep or not part.isdigit():
        return None
    return topic, int(part)


# v5 (IsCordoned, KIP-1066) came with Kafka 4.3; 4.1 advertises up to v4, and
# kafka-python takes a broker offering v5 for 4.3.
@handler(ApiKey.DESCRIBE_LOG_DIRS, None, 4)
async def handle(ctx: Any, header: Any, request: DescribeLogDirsRequest) -> DescribeLogDirsResponse:
    broker = ctx.broker
    wanted: set[tuple[str, int]] | None = None
    if request.topics is not None:
        wanted = {(t.topic, p) for t in request.topics for p in t.partitions}

    by_dir: dict[str, dict[str, list[Any]]] = {}
    for log in _logs(broker):
        path = _log_dir_of(log)
        topic, partition = getattr(log, "topic", None), getattr(log, "partition", None)
        tp = (
            (topic, int(partition))
            if topic is not None and partition is not None
            else _topic_partition(path)
        )
        if tp is None or (wanted is not None and tp not in wanted):
            continue
        size = int(getattr(log, "size_in_bytes", 0))
        by_dir.setdefault(os.path.dirname(path), {}).setdefault(tp[0], []).append(
            DescribeLogDirsResponse.DescribeLogDirsPartition(
                partition_index=tp[1], partition_size=size, offset_lag=0, is_future_key=False
            )
        )

    results = []
    for log_dir in broker.config.log_dirs:
        absolute = os.path.abspath(log_dir)
        try:
            st = os.statvfs(absolute)
        except OSError:
            results.append(
                DescribeLogDirsResponse.DescribeLogDirsResult(
                    error_code=int(ErrorCode.KAFKA_STORAGE_ERROR), log_dir=absolute, topics=[]
                )
            )
            continue
        total = st.f_blocks * st.f_frsize
        usable = st.f_bavail * st.f_frsize
        topics = [
            DescribeLogDirsResponse.DescribeLogDirsTopic(
                name=name, partitions=sorted(parts, key=lambda p: p.partition_index)
            )
            for name, parts in sorted(by_dir.get(absolute, {}).items())
        ]
        results.append(
            DescribeLogDirsResponse.DescribeLogDirsResult(
                error_code=0,
                log_dir=absolute,
                topics=topics,
                total_bytes=min(total, LONG_MAX),
                usable_bytes=min(usable, LONG_MAX),
            )
        )
    return DescribeLogDirsResponse(throttle_time_ms=0, error_code=0, results=results)
