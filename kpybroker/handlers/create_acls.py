"""CreateAcls (API key 30), every version wire covers (0-3).

No authorizer is configured, so, as Kafka's AclApis does then, every creation
in the request gets SECURITY_DISABLED with the message "No Authorizer is
configured." (one result per creation, in request order). Nothing is stored.
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.create_acls import CreateAclsRequest, CreateAclsResponse

NO_AUTHORIZER = "No Authorizer is configured."


@handler(ApiKey.CREATE_ACLS)
async def handle(ctx: Any, header: Any, request: CreateAclsRequest) -> CreateAclsResponse:
    return CreateAclsResponse(
        throttle_time_ms=0,
        results=[
            CreateAclsResponse.AclCreationResult(
                error_code=int(ErrorCode.SECURITY_DISABLED), error_message=NO_AUTHORIZER
            )
            for _ in request.creations
        ],
    )
