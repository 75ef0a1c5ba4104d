"""AddPartitionsToTxn (API key 24), v0-v5.

v0-v3 come from producers: one transaction, answered per topic and partition
with one error for all (the coordinator adds every partition or none). Before
that, as Kafka's KafkaApis: a partition of an unknown topic answers
UNKNOWN_TOPIC_OR_PARTITION and every other partition OPERATION_NOT_ATTEMPTED.
Below v2 PRODUCER_FENCED is answered as INVALID_PRODUCER_EPOCH.

v4+ come from brokers (KIP-890 verification): a batch of transactions, each
answered on its own; ``verify_only`` asks whether the partitions are already in
the transaction (TRANSACTION_ABORTABLE for one that is not) without adding.
v5 only adds TRANSACTION_ABORTABLE to the errors a client may see.
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.add_partitions_to_txn import (
    AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse,
)

R = AddPartitionsToTxnResponse


def _topic_results(errors: dict[tuple[str, int], ErrorCode]) -> list[Any]:
    by_topic: dict[str, list[Any]] = {}
    for (topic, partition), code in errors.items():
        by_topic.setdefault(topic, []).append(
            R.AddPartitionsToTxnPartitionResult(
                partition_index=partition, partition_error_code=int(code)
            )
        )
    return [
        R.AddPartitionsToTxnTopicResult(name=t, results_by_partition=ps)
        for t, ps in by_topic.items()
    ]


def _partitions(topics: list[Any]) -> list[tuple[str, int]]:
    out: dict[tuple[str, int], None] = {}
    for topic in topics:
        for p in topic.partitions:
            out[(topic.name, p)] = None
    return list(out)


async def _one(
    ctx: Any,
    transactional_id: str,
    producer_id: int,
    producer_epoch: int,
    partitions: list[tuple[str, int]],
    verify_only: bool,
    version: int,
) -> dict[tuple[str, int], ErrorCode]:
    coordinator = getattr(ctx.broker, "transaction_coordinator", None)
    if coordinator is None:
        return dict.fromkeys(partitions, ErrorCode.COORDINATOR_NOT_AVAILABLE)
    rm = ctx.broker.replica_manager
    unknown = {tp for tp in partitions if rm.get_partition(*tp) is None}
    if unknown:
        return {
            tp: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            if tp in unknown
            else ErrorCode.OPERATION_NOT_ATTEMPTED
            for tp in partitions
        }
    if verify_only:
        return coordinator.verify_partitions(
            transactional_id, producer_id, producer_epoch, partitions
        )
    error = await coordinator.add_partitions(
        transactional_id, producer_id, producer_epoch, partitions
    )
    if version < 2 and error == ErrorCode.PRODUCER_FENCED:
        error = ErrorCode.INVALID_PRODUCER_EPOCH
    return dict.fromkeys(partitions, error)


# v5 is marked unstable in Kafka 4.1, which does not advertise it.
@handler(ApiKey.ADD_PARTITIONS_TO_TXN, 0, 4)
async def handle(
    ctx: Any, header: Any, request: AddPartitionsToTxnRequest
) -> AddPartitionsToTxnResponse:
    version = header.request_api_version
    if version < 4:
        errors = await _one(
            ctx,
            request.v3_and_below_transactional_id,
            request.v3_and_below_producer_id,
            request.v3_and_below_producer_epoch,
            _partitions(request.v3_and_below_topics),
            False,
            version,
        )
        return R(throttle_time_ms=0, results_by_topic_v3_and_below=_topic_results(errors))
    results = []
    for txn in request.transactions:
        errors = await _one(
            ctx,
            txn.transactional_id,
            txn.producer_id,
            txn.producer_epoch,
            _partitions(txn.topics),
            txn.verify_only,
            version,
        )
        results.append(
            R.AddPartitionsToTxnResult(
                transactional_id=txn.transactional_id, topic_results=_topic_results(errors)
            )
        )
    return R(throttle_time_ms=0, error_code=0, results_by_transaction=results)
