"""CreateDelegationToken (API key 38), every version wire covers (0-3).

Kafka refuses every delegation token request that arrives over PLAINTEXT
(KafkaApis.allowTokenRequests), before anything else is checked, and every
kpybroker listener is PLAINTEXT: the answer is always
DELEGATION_TOKEN_REQUEST_NOT_ALLOWED with Kafka's empty token (timestamps -1,
empty token id and HMAC). The owner is the request's owner principal, or the
connection's principal (User:ANONYMOUS) when none is named; v3+ also names the
requester (the connection's principal). An owner name without a principal type
(v3 allows a null type) fails the request as Kafka's handler does:
UNKNOWN_SERVER_ERROR, owner and requester User:ANONYMOUS.
"""

from __future__ import annotations

from typing import Any

from kpybroker.context import ANONYMOUS_PRINCIPAL
from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.create_delegation_token import (
    CreateDelegationTokenRequest,
    CreateDelegationTokenResponse,
)


def split_principal(principal: str) -> tuple[str, str]:
    """``"User:alice"`` -> ``("User", "alice")`` (Kafka's KafkaPrincipal parts)."""
    kind, _, name = principal.partition(":")
    return kind, name


@handler(ApiKey.CREATE_DELEGATION_TOKEN)
async def handle(
    ctx: Any, header: Any, request: CreateDelegationTokenRequest
) -> CreateDelegationTokenResponse:
    requester_type, requester_name = split_principal(ctx.principal)
    error = ErrorCode.DELEGATION_TOKEN_REQUEST_NOT_ALLOWED
    if request.owner_principal_name:
        owner_type, owner_name = request.owner_principal_type, request.owner_principal_name
        if owner_type is None:
            # Kafka cannot build a principal without a type: the request fails as a
            # whole, answered for User:ANONYMOUS (its getErrorResponse).
            error = ErrorCode.UNKNOWN_SERVER_ERROR
            owner_type, owner_name = requester_type, requester_name = split_principal(ANONYMOUS_PRINCIPAL)
    else:
        owner_type, owner_name = requester_type, requester_name
    return CreateDelegationTokenResponse(
        throttle_time_ms=0,
        error_code=int(error),
        principal_type=owner_type,
        principal_name=owner_name,
        token_requester_principal_type=requester_type,
        token_requester_principal_name=requester_name,
        issue_timestamp_ms=-1,
        expiry_timestamp_ms=-1,
        max_timestamp_ms=-1,
        token_id="",
        hmac=b"",
    )
