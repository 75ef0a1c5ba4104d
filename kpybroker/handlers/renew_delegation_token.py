"""RenewDelegationToken (API key 39), every version wire covers (0-2).

Kafka refuses delegation token requests over PLAINTEXT (KafkaApis.
allowTokenRequests) and every kpybroker listener is PLAINTEXT: the answer is
always DELEGATION_TOKEN_REQUEST_NOT_ALLOWED with expiry timestamp -1 (Kafka's
DelegationTokenManager.ErrorTimestamp).
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.renew_delegation_token import (
    RenewDelegationTokenRequest,
    RenewDelegationTokenResponse,
)


@handler(ApiKey.RENEW_DELEGATION_TOKEN)
async def handle(
    ctx: Any, header: Any, request: RenewDelegationTokenRequest
) -> RenewDelegationTokenResponse:
    return RenewDelegationTokenResponse(
        throttle_time_ms=0,
        error_code=int(ErrorCode.DELEGATION_TOKEN_REQUEST_NOT_ALLOWED),
        expiry_timestamp_ms=-1,
    )
