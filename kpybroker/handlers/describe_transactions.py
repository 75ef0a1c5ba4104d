"""DescribeTransactions (API key 65), v0.

Per transactional id: its state name, timeout, start time, producer id and
epoch, and the partitions in the transaction. An unknown (or expiring) id is
TRANSACTIONAL_ID_NOT_FOUND; an empty one INVALID_REQUEST; an id whose
``__transaction_state`` partition is not led here NOT_COORDINATOR.
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.describe_transactions import (
    DescribeTransactionsRequest,
    DescribeTransactionsResponse,
)

R = DescribeTransactionsResponse


@handler(ApiKey.DESCRIBE_TRANSACTIONS, 0, 0)
async def handle(
    ctx: Any, header: Any, request: DescribeTransactionsRequest
) -> DescribeTransactionsResponse:
    coordinator = getattr(ctx.broker, "transaction_coordinator", None)
    states = []
    for txn_id in request.transactional_ids:
        if coordinator is None:
            states.append(
                R.TransactionState(
                    error_code=int(ErrorCode.COORDINATOR_NOT_AVAILABLE), transactional_id=txn_id
                )
            )
            continue
        d = coordinator.describe(txn_id)
        if d.error != ErrorCode.NONE:
            states.append(R.TransactionState(error_code=int(d.error), transactional_id=txn_id))
            continue
        by_topic: dict[str, list[int]] = {}
        for topic, partition in d.partitions:
            by_topic.setdefault(topic, []).append(partition)
        states.append(
            R.TransactionState(
                error_code=0,
                transactional_id=txn_id,
                transaction_state=d.state,
                transaction_timeout_ms=d.timeout_ms,
                transaction_start_time_ms=d.start_time_ms,
                producer_id=d.producer_id,
                producer_epoch=d.producer_epoch,
                topics=[R.TopicData(topic=t, partitions=ps) for t, ps in by_topic.items()],
            )
        )
    return R(throttle_time_ms=0, transaction_states=states)
