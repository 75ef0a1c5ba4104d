"""Produce (API key 0): append record batches to partition logs.

Versions: advertised 0-13 like Kafka 4. Kafka 4 advertises Produce from v0 only
because librdkafka turns compression off when the minimum is 3 (KAFKA-18659); a
request at v0-v2 is refused the way Kafka 4's SocketServer refuses any version
that is not enabled: the connection is closed, nothing is answered.

Behaviour, as Kafka's KafkaApis.handleProduceRequest and ReplicaManager:
- per partition, before any append: unknown topic or partition ->
  ``UNKNOWN_TOPIC_OR_PARTITION`` (v13 names topics by id: ``UNKNOWN_TOPIC_ID``), a
  partition of a topic still being created -> ``NOT_LEADER_OR_FOLLOWER``;
  records that are not exactly one whole magic-2 batch -> ``INVALID_RECORD``;
  zstd below v7 -> ``UNSUPPORTED_COMPRESSION_TYPE``. Produce never creates topics.
- ``acks`` other than 0, 1, -1 -> ``INVALID_REQUIRED_ACKS`` on every partition
  that passed the checks above.
- storage errors (``CORRUPT_MESSAGE``, ``MESSAGE_TOO_LARGE``, ``INVALID_RECORD``,
  ``INVALID_TIMESTAMP``, sequence errors ...) per partition, with ``record_errors``
  and ``error_message`` from v8.
- ``acks=0``: no response at all; if any partition failed the connection is
  closed instead, as Kafka does, so the producer notices and refreshes metadata.
- The batch bytes are the request frame's own memoryview: storage patches the base
  offset and leader epoch in place and writes them as they are.
"""

from __future__ import annotations

import struct
from typing import Any

from kpybroker.dispatch import handler
from kpybroker.replica_manager import ADMIN_CLIENT_ID, AppendResult
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.exceptions import ProtocolError
from wire.messages.produce import ProduceRequest, ProduceResponse

# Below this a request carries the old message formats, which Kafka 4 no longer accepts.
MIN_ENABLED_VERSION = 3
_BATCH_LENGTH = struct.Struct(">i")
_LOG_OVERHEAD = 12
_HEADER_SIZE_UP_TO_MAGIC = 17
_MAGIC_OFFSET = 16
_ATTRIBUTES_OFFSET = 21
_ZSTD = 4


def validate_records(
    records: memoryview | bytes | None, version: int
) -> tuple[ErrorCode, str | None]:
    """Kafka's ProduceRequest.validateRecords: exactly one whole v2 batch per partition."""
    if records is None or len(records) < _HEADER_SIZE_UP_TO_MAGIC:
        return (
            ErrorCode.INVALID_RECORD,
            "Produce requests must have at least one record batch per partition",
        )
    (batch_length,) = _BATCH_LENGTH.unpack_from(records, 8)
    size = batch_length + _LOG_OVERHEAD
    if batch_length < 0 or size > len(records):
        return (
            ErrorCode.INVALID_RECORD,
            "Produce requests must have at least one record batch per partition",
        )
    if records[_MAGIC_OFFSET] != 2:
        return (
            ErrorCode.INVALID_RECORD,
            "Produce requests are only allowed to contain record batches with magic version 2",
        )
    if size < len(records):
        return (
            ErrorCode.INVALID_RECORD,
            "Produce requests must have exactly one record batch per partition",
        )
    if len(records) > _ATTRIBUTES_OFFSET + 1 and version < 7:
        attributes = struct.unpack_from(">h", records, _ATTRIBUTES_OFFSET)[0]
        if attributes & 0x07 == _ZSTD:
            return (
                ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
                "Produce requests with version below 7 cannot use zstd",
            )
    return ErrorCode.NONE, None


@handler(ApiKey.PRODUCE, 0, 13)
async def handle(ctx: Any, header: Any, request: ProduceRequest) -> ProduceResponse | None:
    version = header.request_api_version
    if version < MIN_ENABLED_VERSION:
        raise ProtocolError(
            f"Received request api key PRODUCE with version {version} which is not enabled",
            close=True,
            api_key=ApiKey.PRODUCE,
            api_version=version,
            correlation_id=header.correlation_id,
        )
    replica_manager = ctx.broker.replica_manager
    if request.transactional_id is None and has_transactional_records(request):
        # Kafka authorizes transactional writes by transactional id; with none there is
        # nothing to authorize and the whole request is refused.
        if request.acks == 0:
            _close_after_failed_acks0(header, version)
        return error_response(request, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, version)
    # TODO(transactions issue): with an authorizer, check WRITE on the transactional id; with
    # transaction verification (KIP-890), check the partitions were added to the transaction.

    # One answer per partition, keyed by how the request names its topic (name, or id
    # from v13); a partition named twice is answered once, for its last data, as Kafka's map.
    topics: dict[Any, tuple[str | None, Any]] = {}  # topic key -> (name, topic_id)
    results: dict[tuple[Any, int], AppendResult] = {}
    entries: dict[tuple[str, int], memoryview | bytes] = {}
    entry_slot: dict[tuple[str, int], tuple[Any, int]] = {}

    for topic in request.topic_data:
        if version >= 13:
            topic_key: Any = topic.topic_id
            name = replica_manager.topic_name(topic.topic_id)
            unknown_code = ErrorCode.UNKNOWN_TOPIC_ID
        else:
            topic_key = name = topic.name
            unknown_code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        topics.setdefault(topic_key, (name, topic.topic_id))
        for pdata in topic.partition_data:
            slot = (topic_key, pdata.index)
            if name is not None:
                entries.pop((name, pdata.index), None)
            if name is None or replica_manager.get_partition(name, pdata.index) is None:
                code = unknown_code if name is None else replica_manager.not_hosted_error(name, pdata.index)
                results[slot] = AppendResult(error_code=code)
                continue
            code, _ = validate_records(pdata.records, version)
            if code != ErrorCode.NONE:
                # Kafka answers these with the bare error code, no message.
                results[slot] = AppendResult(error_code=code)
                continue
            results[slot] = AppendResult()  # placeholder keeps the answer order
            entries[(name, pdata.index)] = pdata.records
            entry_slot[(name, pdata.index)] = slot

    if entries and request.transactional_id is not None:
        # Transaction verification (KIP-890), owned by kpybroker.transaction_coordinator.
        from kpybroker.transaction_coordinator.verification import verify_produce

        for key, code in verify_produce(ctx.broker, request.transactional_id, entries, version).items():
            results[entry_slot[key]] = AppendResult(error_code=code)
            del entries[key]

    if entries:
        appended = await replica_manager.append_records(
            entries,
            required_acks=request.acks,
            timeout_ms=request.timeout_ms,
            origin="client",
            internal_topics_allowed=ctx.client_id == ADMIN_CLIENT_ID,
        )
        for key, result in appended.items():
            results[entry_slot[key]] = result

    if request.acks == 0:
        if any(r.error_code != ErrorCode.NONE for r in results.values()):
            _close_after_failed_acks0(header, version)
        return None
    return build_response(topics, results)


def _close_after_failed_acks0(header: Any, version: int) -> None:
    """No answer is expected, so Kafka closes the connection to make the producer
    notice the failure and refresh its metadata."""
    raise ProtocolError(
        "closing the connection after a failed acks=0 produce",
        close=True,
        api_key=ApiKey.PRODUCE,
        api_version=version,
        correlation_id=header.correlation_id,
    )


def has_transactional_records(request: ProduceRequest) -> bool:
    """Whether any partition carries a transactional batch (attributes bit 4)."""
    for topic in request.topic_data:
        for pdata in topic.partition_data:
            records = pdata.records
            # The flag is in the low byte of the big-endian int16 attributes.
            if records is not None and len(records) > _ATTRIBUTES_OFFSET + 1:
                if records[_ATTRIBUTES_OFFSET + 1] & 0x10:
                    return True
    return False


def error_response(request: ProduceRequest, code: ErrorCode, version: int) -> ProduceResponse:
    """Every partition of the request answered with ``code`` (Kafka's getErrorResponse)."""
    responses = []
    for topic in request.topic_data:
        responses.append(
            ProduceResponse.TopicProduceResponse(
                name=topic.name,
                topic_id=topic.topic_id,
                partition_responses=[
                    ProduceResponse.PartitionProduceResponse(
                        index=p.index, error_code=int(code), base_offset=-1
                    )
                    for p in topic.partition_data
                ],
            )
        )
    return ProduceResponse(responses=responses, throttle_time_ms=0)


def build_response(
    topics: dict[Any, tuple[str | None, Any]],
    results: dict[tuple[Any, int], AppendResult],
) -> ProduceResponse:
    """Group partition answers by topic, in request order."""
    by_topic: dict[Any, Any] = {}
    for (topic_key, partition), result in results.items():
        topic_resp = by_topic.get(topic_key)
        if topic_resp is None:
            name, topic_id = topics[topic_key]
            topic_resp = by_topic[topic_key] = ProduceResponse.TopicProduceResponse(
                name=name or "", topic_id=topic_id, partition_responses=[]
            )
        topic_resp.partition_responses.append(
            ProduceResponse.PartitionProduceResponse(
                index=partition,
                error_code=int(result.error_code),
                base_offset=result.base_offset,
                log_append_time_ms=result.log_append_time,
                log_start_offset=result.log_start_offset,
                record_errors=[
                    ProduceResponse.BatchIndexAndErrorMessage(
                        batch_index=i, batch_index_error_message=m
                    )
                    for i, m in result.record_errors
                ],
                error_message=result.error_message,
            )
        )
    return ProduceResponse(responses=list(by_topic.values()), throttle_time_ms=0)
