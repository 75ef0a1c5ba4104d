"""DescribeDelegationToken (API key 41), every version wire covers (0-3).

Kafka refuses delegation token requests over PLAINTEXT (KafkaApis.
allowTokenRequests) and every kpybroker listener is PLAINTEXT: the answer is
always DELEGATION_TOKEN_REQUEST_NOT_ALLOWED with no tokens.
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.describe_delegation_token import (
    DescribeDelegationTokenRequest,
    DescribeDelegationTokenResponse,
)


@handler(ApiKey.DESCRIBE_DELEGATION_TOKEN)
async def handle(
    ctx: Any, header: Any, request: DescribeDelegationTokenRequest
) -> DescribeDelegationTokenResponse:
    return DescribeDelegationTokenResponse(
        throttle_time_ms=0,
        error_code=int(ErrorCode.DELEGATION_TOKEN_REQUEST_NOT_ALLOWED),
        tokens=[],
    )
