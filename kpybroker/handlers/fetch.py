"""Fetch (API key 1): read record batches, long-polling, with fetch sessions.

Versions 4-18 (below 4 the answers carry the old message formats, which Kafka 4
dropped). As Kafka's KafkaApis.handleFetchRequest:
- ``replica_id`` (``replica_state`` from v15) is -1 for consumers; a follower
  (>= 0) reads up to the log end offset and reports its position.
- Fetch sessions (KIP-227, v7+) decide which partitions are read and answered:
  see ``kpybroker.fetch_session``. Session errors (``FETCH_SESSION_ID_NOT_FOUND``,
  ``INVALID_FETCH_SESSION_EPOCH``, ``FETCH_SESSION_TOPIC_ID_ERROR``) are top-level
  with no partitions.
- Partitions of unknown topics answer ``UNKNOWN_TOPIC_OR_PARTITION`` (v13+ names
  topics by id: ``UNKNOWN_TOPIC_ID``), those of a topic still being created
  ``NOT_LEADER_OR_FOLLOWER``; neither holds the long poll.
- ``max_wait_ms`` / ``min_bytes``: wait for appends until ``min_bytes`` are ready;
  ``max_bytes`` and ``partition_max_bytes`` limit the answer but the first batch
  always goes whole (KIP-74).
- ``isolation_level`` 1 reads up to the last stable offset and answers an
  (empty) aborted transaction list; 0 reads to the high watermark and answers null.
- ``current_leader_epoch`` fencing, ``OFFSET_OUT_OF_RANGE``, diverging epoch (v12+).
- Records are ``FileSlice``s of the segment files: the connection sends them with
  ``sendfile``. ``rack_id`` is ignored; ``preferred_read_replica`` is always -1.
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from kpybroker.fetch_session import ZERO_UUID, PartitionKey, partition_key
from kpybroker.replica_manager import FetchPartitionRequest, FetchPartitionResult, _broker_setting
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.fetch import FetchRequest, FetchResponse

# Kafka's fetch.max.bytes default: the broker's own cap on one answer.
DEFAULT_FETCH_MAX_BYTES = 57_671_680
# replica.fetch.response.max.bytes: the same cap for followers.
DEFAULT_REPLICA_RESPONSE_MAX_BYTES = 10_485_760


@handler(ApiKey.FETCH, 4, 18)
async def handle(ctx: Any, header: Any, request: FetchRequest) -> FetchResponse:
    version = header.request_api_version
    replica_manager = ctx.broker.replica_manager
    replica_id = request.replica_state.replica_id if version >= 15 else request.replica_id
    is_follower = replica_id >= 0
    uses_topic_ids = version >= 13

    fetch_data: dict[PartitionKey, FetchPartitionRequest] = {}
    for topic in request.topics:
        if uses_topic_ids:
            name = replica_manager.topic_name(topic.topic_id)
            topic_id = topic.topic_id
        else:
            name, topic_id = topic.topic, None
        # The session key's topic part, once per topic (hashing a UUID is Python code).
        topic_key = partition_key(name, topic_id, 0)[0]
        for p in topic.partitions:
            fetch_data[(topic_key, p.partition)] = FetchPartitionRequest(
                name,
                p.partition,
                p.fetch_offset,
                p.partition_max_bytes,
                p.current_leader_epoch,
                p.last_fetched_epoch if version >= 12 else -1,
                p.log_start_offset,
                topic_id,
            )
    to_forget: list[PartitionKey] = []
    for forgotten in request.forgotten_topics_data:
        if uses_topic_ids:
            to_forget.extend((forgotten.topic_id, p) for p in forgotten.partitions)
        else:
            to_forget.extend((forgotten.topic, p) for p in forgotten.partitions)

    context = replica_manager.fetch_sessions.new_context(
        version=version,
        session_id=request.session_id,
        session_epoch=request.session_epoch,
        is_follower=is_follower,
        fetch_data=fetch_data,
        to_forget=to_forget,
        now_ms=ctx.now_ms(),
    )

    partitions = context.partitions()
    # Answers by position in ``partitions``; the readable ones are filled in after the read.
    results: list[FetchPartitionResult | None] = []
    readable: list[FetchPartitionRequest] = []
    readable_at: list[int] = []
    get_partition = replica_manager.get_partition
    for _key, req in partitions:
        if req.topic is None and req.topic_id is not None:
            # A topic created after the session learned its id gets its name now.
            req.topic = replica_manager.topic_name(req.topic_id)
        if req.topic is None:
            results.append(FetchPartitionResult(error_code=ErrorCode.UNKNOWN_TOPIC_ID))
        elif get_partition(req.topic, req.partition) is None:
            results.append(FetchPartitionResult(
                error_code=replica_manager.not_hosted_error(req.topic, req.partition)))
        else:
            readable_at.append(len(results))
            readable.append(req)
            results.append(None)

    if readable:
        if is_follower:
            broker_max = int(
                _broker_setting(
                    ctx.broker,
                    "replica.fetch.response.max.bytes",
                    DEFAULT_REPLICA_RESPONSE_MAX_BYTES,
                )
            )
        else:
            broker_max = int(
                _broker_setting(ctx.broker, "fetch.max.bytes", DEFAULT_FETCH_MAX_BYTES)
            )
        max_bytes = min(request.max_bytes, broker_max)
        read = await replica_manager.fetch(
            readable,
            replica_id=replica_id,
            max_wait_ms=request.max_wait_ms,
            min_bytes=min(request.min_bytes, max_bytes),
            max_bytes=max_bytes,
            isolation_level=request.isolation_level,
        )
        for i, result in zip(readable_at, read, strict=True):
            results[i] = result

    answer = context.answer(
        [(key, req, result) for (key, req), result in zip(partitions, results, strict=True)]
    )
    response = build_response(version, answer.error_code, answer.session_id, answer.partitions)
    if version >= 16:
        add_leader_hints(ctx, response)
    return response


def add_leader_hints(ctx: Any, response: FetchResponse) -> None:
    """KIP-951: on a leadership error name the current leader and its endpoint."""
    replica_manager = ctx.broker.replica_manager
    endpoints: dict[int, Any] = {}
    for topic in response.responses:
        name = topic.topic or replica_manager.topic_name(topic.topic_id)
        for data in topic.partitions:
            if data.error_code not in (
                ErrorCode.NOT_LEADER_OR_FOLLOWER,
                ErrorCode.FENCED_LEADER_EPOCH,
            ):
                continue
            part = replica_manager.get_partition(name, data.partition_index) if name else None
            if part is None:
                continue
            data.current_leader = FetchResponse.LeaderIdAndEpoch(
                leader_id=part.leader_id, leader_epoch=part.leader_epoch
            )
            if part.leader_id == ctx.broker.broker_id and part.leader_id not in endpoints:
                host, port = _advertised_endpoint(ctx)
                endpoints[part.leader_id] = FetchResponse.NodeEndpoint(
                    node_id=part.leader_id,
                    host=host,
                    port=port,
                    rack=_broker_setting(ctx.broker, "broker.rack", None),
                )
    response.node_endpoints = list(endpoints.values())


def _advertised_endpoint(ctx: Any) -> tuple[str, int]:
    listeners = ctx.broker.advertised_listeners
    for listener in listeners:
        if listener.name == getattr(ctx, "listener_name", None):
            return listener.host, listener.port
    return listeners[0].host, listeners[0].port


def build_response(
    version: int,
    error_code: int,
    session_id: int,
    partitions: list[tuple[PartitionKey, FetchPartitionRequest, FetchPartitionResult]],
) -> FetchResponse:
    """One topic entry per run of consecutive partitions of the same topic, as Kafka."""
    responses: list[Any] = []
    current: Any = None
    current_key: Any = None
    for _, req, result in partitions:
        topic_key = req.topic_id if version >= 13 else req.topic
        if current is None or topic_key != current_key:
            current = FetchResponse.FetchableTopicResponse(
                topic=req.topic or "",
                topic_id=req.topic_id if req.topic_id is not None else ZERO_UUID,
                partitions=[],
            )
            current_key = topic_key
            responses.append(current)
        data = FetchResponse.PartitionData(
            partition_index=req.partition,
            error_code=int(result.error_code),
            high_watermark=result.high_watermark,
            last_stable_offset=result.last_stable_offset,
            log_start_offset=result.log_start_offset,
            aborted_transactions=None
            if result.aborted_transactions is None
            else [
                FetchResponse.AbortedTransaction(
                    producer_id=a.producer_id, first_offset=a.first_offset
                )
                for a in result.aborted_transactions
            ],
            preferred_read_replica=result.preferred_read_replica,
            # Storage hands each read a list of its own: no copy needed.
            records=result.records if result.records else b"",
        )
        if result.diverging_epoch is not None:
            data.diverging_epoch = FetchResponse.EpochEndOffset(
                epoch=result.diverging_epoch[0], end_offset=result.diverging_epoch[1]
            )
        current.partitions.append(data)
    return FetchResponse(
        throttle_time_ms=0, error_code=int(error_code), session_id=session_id, responses=responses
    )
