"""SaslHandshake (API key 17), every version wire covers (0-1).

Every kpybroker listener is PLAINTEXT: there is no SASL authenticator in front
of the request handlers, so a handshake reaches the handlers as an ordinary
request. Kafka's KafkaApis answers exactly that case with ILLEGAL_SASL_STATE and
an empty mechanism list, and so do we: a client configured for SASL against a
PLAINTEXT port gets a clear error instead of a dropped connection.
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.sasl_handshake import SaslHandshakeRequest, SaslHandshakeResponse


@handler(ApiKey.SASL_HANDSHAKE)
async def handle(ctx: Any, header: Any, request: SaslHandshakeRequest) -> SaslHandshakeResponse:
    return SaslHandshakeResponse(error_code=int(ErrorCode.ILLEGAL_SASL_STATE), mechanisms=[])
