"""WriteTxnMarkers (API key 27), v1 (Kafka 4 dropped v0; v2 is Kafka 4.2's).

The inter-broker API a coordinator uses to write commit/abort markers; here the
coordinator writes its markers directly, and this handler serves tools and other
brokers. Each marker is appended as a control batch (origin "coordinator") to
every listed partition; answers per partition: UNKNOWN_TOPIC_OR_PARTITION for a
partition not hosted here, INVALID_PRODUCER_EPOCH / TRANSACTION_COORDINATOR_FENCED
from the partition's producer state. Pending transactional offsets follow their
``__consumer_offsets`` markers.
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.write_txn_markers import WriteTxnMarkersRequest, WriteTxnMarkersResponse

R = WriteTxnMarkersResponse


# v2 (KIP-1228's per-marker TransactionVersion) came with Kafka 4.2; 4.1 advertises v1 only.
@handler(ApiKey.WRITE_TXN_MARKERS, 1, 1)
async def handle(ctx: Any, header: Any, request: WriteTxnMarkersRequest) -> WriteTxnMarkersResponse:
    coordinator = getattr(ctx.broker, "transaction_coordinator", None)
    rm = ctx.broker.replica_manager
    results = []
    for marker in request.markers:
        partitions = [(t.name, p) for t in marker.topics for p in t.partition_indexes]
        errors: dict[tuple[str, int], ErrorCode] = {}
        hosted = []
        for tp in partitions:
            if rm.get_partition(*tp) is None:
                errors[tp] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            else:
                hosted.append(tp)
        if hosted:
            if coordinator is None:
                errors.update(dict.fromkeys(hosted, ErrorCode.COORDINATOR_NOT_AVAILABLE))
            else:
                failed = await coordinator.write_markers(
                    marker.producer_id,
                    marker.producer_epoch,
                    bool(marker.transaction_result),
                    marker.coordinator_epoch,
                    hosted,
                )
                for tp in hosted:
                    errors[tp] = failed.get(tp, ErrorCode.NONE)
        topics: dict[str, Any] = {}
        for tp in partitions:
            topic = topics.get(tp[0])
            if topic is None:
                topic = topics[tp[0]] = R.WritableTxnMarkerTopicResult(name=tp[0], partitions=[])
            topic.partitions.append(
                R.WritableTxnMarkerPartitionResult(
                    partition_index=tp[1], error_code=int(errors[tp])
                )
            )
        results.append(
            R.WritableTxnMarkerResult(producer_id=marker.producer_id, topics=list(topics.values()))
        )
    return R(markers=results)
