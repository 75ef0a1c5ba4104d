"""SaslAuthenticate (API key 36), every version wire covers (0-2).

On a PLAINTEXT listener a SaslAuthenticate reaches the request handlers, which
Kafka's KafkaApis answers with ILLEGAL_SASL_STATE and the message
"SaslAuthenticate request received after successful authentication" (the
connection counts as already authenticated, as ANONYMOUS); no auth bytes, and
session lifetime 0 (v1+).
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.sasl_authenticate import SaslAuthenticateRequest, SaslAuthenticateResponse

AFTER_AUTHENTICATION = "SaslAuthenticate request received after successful authentication"


@handler(ApiKey.SASL_AUTHENTICATE)
async def handle(
    ctx: Any, header: Any, request: SaslAuthenticateRequest
) -> SaslAuthenticateResponse:
    return SaslAuthenticateResponse(
        error_code=int(ErrorCode.ILLEGAL_SASL_STATE),
        error_message=AFTER_AUTHENTICATION,
        auth_bytes=b"",
        session_lifetime_ms=0,
    )
