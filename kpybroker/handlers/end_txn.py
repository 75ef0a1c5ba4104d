"""EndTxn (API key 26), v0-v4.

Commit or abort the producer's transaction: the coordinator writes
PrepareCommit/PrepareAbort, the markers and CompleteCommit/CompleteAbort.
Errors: INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED (INVALID_PRODUCER_EPOCH
below v2), CONCURRENT_TRANSACTIONS, INVALID_TXN_STATE (e.g. commit after
abort, or no transaction). v5 (KIP-890 transaction version 2: an epoch bump at
every end) is not implemented and so not advertised.
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.end_txn import EndTxnRequest, EndTxnResponse


@handler(ApiKey.END_TXN, 0, 4)
async def handle(ctx: Any, header: Any, request: EndTxnRequest) -> EndTxnResponse:
    coordinator = getattr(ctx.broker, "transaction_coordinator", None)
    if coordinator is None:
        error = ErrorCode.COORDINATOR_NOT_AVAILABLE
    else:
        error = await coordinator.end_transaction(
            request.transactional_id,
            request.producer_id,
            request.producer_epoch,
            bool(request.committed),
        )
    if header.request_api_version < 2 and error == ErrorCode.PRODUCER_FENCED:
        error = ErrorCode.INVALID_PRODUCER_EPOCH
    return EndTxnResponse(throttle_time_ms=0, error_code=int(error))
