"""ListOffsets (API key 2): offsets by timestamp and the special timestamps.

Versions 0-11, as Kafka's KafkaApis / ReplicaManager.fetchOffset /
Partition.fetchOffsetForTimestamp answer them without tiered storage:
- -1 latest: the last fetchable offset (high watermark; last stable offset for
  ``read_committed``; log end offset for a replica) with the current leader epoch.
- -2 earliest and -4 earliest-local (v8+): the log start offset.
- -3 max timestamp (v7+): the record with the largest timestamp.
- -5 latest-tiered (v9+) and -6 earliest-pending-upload (v11+): offset -1, epoch -1.
- t >= 0: the first offset whose timestamp is >= t; none (or not yet fetchable)
  -> timestamp -1, offset -1.
- a special timestamp newer than the request version, or an unknown negative
  one -> ``UNSUPPORTED_VERSION``; a partition named twice -> ``INVALID_REQUEST``.
- ``current_leader_epoch`` fencing (v4+); ``leader_epoch`` answered from v4.
- a leader whose high watermark is still below the start of its epoch answers
  consumers ``OFFSET_NOT_AVAILABLE`` (``LEADER_NOT_AVAILABLE`` below v5).
- v0 (dropped by Kafka 4, kept from 3.9's range) answers ``old_style_offsets`` as
  Kafka 3.9 did: segment start offsets chosen by segment modification time.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from kpybroker.dispatch import handler
from kpybroker.replica_manager import READ_COMMITTED, Partition
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.list_offsets import ListOffsetsRequest, ListOffsetsResponse

LATEST_TIMESTAMP = -1
EARLIEST_TIMESTAMP = -2
MAX_TIMESTAMP = -3
EARLIEST_LOCAL_TIMESTAMP = -4
LATEST_TIERED_TIMESTAMP = -5
EARLIEST_PENDING_UPLOAD_TIMESTAMP = -6
CONSUMER_REPLICA_ID = -1
DEBUGGING_REPLICA_ID = -2

# The first request version that may ask for each special timestamp.
TIMESTAMP_MIN_VERSION = {
    EARLIEST_TIMESTAMP: 1,
    LATEST_TIMESTAMP: 1,
    MAX_TIMESTAMP: 7,
    EARLIEST_LOCAL_TIMESTAMP: 8,
    LATEST_TIERED_TIMESTAMP: 9,
    EARLIEST_PENDING_UPLOAD_TIMESTAMP: 11,
}

PartitionResponse = ListOffsetsResponse.ListOffsetsPartitionResponse


def _error(index: int, code: int) -> Any:
    return PartitionResponse(partition_index=index, error_code=int(code), timestamp=-1, offset=-1)


# v11 is marked unstable in Kafka 4.1, which does not advertise it.
@handler(ApiKey.LIST_OFFSETS, 0, 10)
async def handle(ctx: Any, header: Any, request: ListOffsetsRequest) -> ListOffsetsResponse:
    version = header.request_api_version
    replica_manager = ctx.broker.replica_manager
    counts = Counter((t.name, p.partition_index) for t in request.topics for p in t.partitions)

    topics: dict[str, Any] = {}
    seen: set[tuple[str, int]] = set()
    for topic in request.topics:
        for p in topic.partitions:
            key = (topic.name, p.partition_index)
            if key in seen:
                continue
            seen.add(key)
            part = replica_manager.get_partition(topic.name, p.partition_index)
            missing = ErrorCode.NONE if part is not None else replica_manager.not_hosted_error(*key)
            if version == 0:
                answer = _answer_v0(part, p, request.replica_id, ctx.now_ms(), missing)
            elif counts[key] > 1:
                answer = _error(p.partition_index, ErrorCode.INVALID_REQUEST)
            else:
                answer = _answer(part, p, version, request.replica_id, request.isolation_level, missing)
            topic_resp = topics.get(topic.name)
            if topic_resp is None:
                topic_resp = topics[topic.name] = ListOffsetsResponse.ListOffsetsTopicResponse(
                    name=topic.name, partitions=[]
                )
            topic_resp.partitions.append(answer)
    return ListOffsetsResponse(throttle_time_ms=0, topics=list(topics.values()))


def _answer(
    part: Partition | None, p: Any, version: int, replica_id: int, isolation_level: int,
    missing: ErrorCode,
) -> Any:
    """``missing``: the error for a partition not hosted here (``part`` None)."""
    ts = p.timestamp
    if ts < 0 and (ts not in TIMESTAMP_MIN_VERSION or version < TIMESTAMP_MIN_VERSION[ts]):
        return _error(p.partition_index, ErrorCode.UNSUPPORTED_VERSION)
    if part is None:
        return _error(p.partition_index, missing)
    code = part.check_leader_epoch(p.current_leader_epoch if version >= 4 else -1)
    if code != ErrorCode.NONE:
        return _error(p.partition_index, code)

    offsets_error: ErrorCode | None = None
    if replica_id == CONSUMER_REPLICA_ID and part.leader_epoch_start_offset > part.high_watermark:
        # A new leader whose high watermark has not caught up with its epoch yet.
        offsets_error = (
            ErrorCode.OFFSET_NOT_AVAILABLE if version >= 5 else ErrorCode.LEADER_NOT_AVAILABLE
        )
    if replica_id == CONSUMER_REPLICA_ID:
        last_fetchable = (
            part.last_stable_offset if isolation_level == READ_COMMITTED else part.high_watermark
        )
    else:
        last_fetchable = part.log_end_offset

    if ts == LATEST_TIMESTAMP:
        if offsets_error is not None:
            return _error(p.partition_index, offsets_error)
        found: tuple[int, int, int] | None = (last_fetchable, -1, part.leader_epoch)
    elif ts in (EARLIEST_TIMESTAMP, EARLIEST_LOCAL_TIMESTAMP):
        found = _lookup(part, EARLIEST_TIMESTAMP)
    elif ts in (LATEST_TIERED_TIMESTAMP, EARLIEST_PENDING_UPLOAD_TIMESTAMP):
        # Without tiered storage Kafka answers "nothing tiered": offset -1, epoch -1.
        found = (-1, -1, -1)
    else:
        found = _lookup(part, ts)
        if found is not None and found[0] >= last_fetchable:
            if offsets_error is not None:
                return _error(p.partition_index, offsets_error)
            found = None
    if found is None:
        return PartitionResponse(
            partition_index=p.partition_index, error_code=0, timestamp=-1, offset=-1
        )
    offset, timestamp, leader_epoch = found
    answer = PartitionResponse(
        partition_index=p.partition_index, error_code=0, timestamp=timestamp, offset=offset
    )
    if version >= 4 and leader_epoch >= 0:
        answer.leader_epoch = leader_epoch
    return answer


def _lookup(part: Partition, ts: int) -> tuple[int, int, int] | None:
    """``(offset, timestamp, leader_epoch)`` from the log; special ones answer timestamp -1."""
    found = part.log.fetch_offset_by_timestamp(ts)
    if found is None:
        return None
    offset, timestamp, leader_epoch = found
    if ts == EARLIEST_TIMESTAMP:
        timestamp = -1
    return int(offset), int(timestamp), -1 if leader_epoch is None else int(leader_epoch)


def _answer_v0(part: Partition | None, p: Any, replica_id: int, now_ms: int, missing: ErrorCode) -> Any:
    """Kafka 3.9's legacy answer: segment base offsets (and the log end offset), newest
    first, whose segment was last modified at or before the timestamp; at most
    ``max_num_offsets``; a consumer never sees offsets above the high watermark."""
    if part is None:
        return PartitionResponse(partition_index=p.partition_index, error_code=int(missing))
    log = part.log
    points: list[tuple[int, int]] = []  # (offset, last modified ms), oldest first
    for segment in log.segments:
        mtime = int(os.fstat(segment.file.fileno()).st_mtime * 1000)
        points.append((max(segment.base_offset, log.log_start_offset), mtime))
    if log.segments and log.segments[-1].size > 0:
        points.append((log.log_end_offset, now_ms))
    if p.timestamp == LATEST_TIMESTAMP:
        start = len(points) - 1
    elif p.timestamp == EARLIEST_TIMESTAMP:
        start = 0
    else:
        start = len(points) - 1
        while start >= 0 and points[start][1] > p.timestamp:
            start -= 1
    count = max(0, min(p.max_num_offsets, start + 1))
    offsets = [points[start - j][0] for j in range(count)]
    if replica_id == CONSUMER_REPLICA_ID:
        hw = part.high_watermark
        if any(o > hw for o in offsets):
            offsets = [hw] + [o for o in offsets if o <= hw]
    return PartitionResponse(
        partition_index=p.partition_index, error_code=0, old_style_offsets=offsets
    )
