"""AddOffsetsToTxn (API key 25), v0-v4.

Adds the group's ``__consumer_offsets`` partition to the transaction, so the
commit or abort marker also settles the offsets TxnOffsetCommit sends later.
The same rules as AddPartitionsToTxn; below v2 PRODUCER_FENCED is answered as
INVALID_PRODUCER_EPOCH.
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.add_offsets_to_txn import AddOffsetsToTxnRequest, AddOffsetsToTxnResponse


@handler(ApiKey.ADD_OFFSETS_TO_TXN, 0, 4)
async def handle(ctx: Any, header: Any, request: AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse:
    coordinator = getattr(ctx.broker, "transaction_coordinator", None)
    if coordinator is None:
        error = ErrorCode.COORDINATOR_NOT_AVAILABLE
    else:
        tp = coordinator.group_partition(request.group_id)
        error = await coordinator.add_partitions(
            request.transactional_id, request.producer_id, request.producer_epoch, [tp]
        )
    if header.request_api_version < 2 and error == ErrorCode.PRODUCER_FENCED:
        error = ErrorCode.INVALID_PRODUCER_EPOCH
    return AddOffsetsToTxnResponse(throttle_time_ms=0, error_code=int(error))
