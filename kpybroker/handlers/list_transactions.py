"""ListTransactions (API key 66), v0-v2.

Every transactional id this coordinator knows (not Dead), filtered by state
names (unknown names are echoed in ``unknown_state_filters``), producer ids,
from v1 a minimum running time (``duration_filter``: only transactions started
more than that many ms ago), from v2 a regular expression the whole id must
match (INVALID_REGULAR_EXPRESSION if it does not compile).
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.list_transactions import ListTransactionsRequest, ListTransactionsResponse

R = ListTransactionsResponse


@handler(ApiKey.LIST_TRANSACTIONS, 0, 2)
async def handle(
    ctx: Any, header: Any, request: ListTransactionsRequest
) -> ListTransactionsResponse:
    version = header.request_api_version
    coordinator = getattr(ctx.broker, "transaction_coordinator", None)
    if coordinator is None:
        return R(throttle_time_ms=0, error_code=int(ErrorCode.COORDINATOR_NOT_AVAILABLE))
    error, unknown, found = coordinator.list_transactions(
        request.state_filters,
        request.producer_id_filters,
        request.duration_filter if version >= 1 else -1,
        request.transactional_id_pattern if version >= 2 else None,
    )
    return R(
        throttle_time_ms=0,
        error_code=int(error),
        unknown_state_filters=unknown,
        transaction_states=[
            R.TransactionState(transactional_id=t, producer_id=pid, transaction_state=state)
            for t, pid, state in found
        ],
    )
