"""DeleteAcls (API key 31), every version wire covers (0-3).

No authorizer is configured, so, as Kafka's AclApis does then, every filter in
the request gets SECURITY_DISABLED with the message "No Authorizer is
configured." and no matching ACLs (one result per filter, in request order).
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.delete_acls import DeleteAclsRequest, DeleteAclsResponse

NO_AUTHORIZER = "No Authorizer is configured."


@handler(ApiKey.DELETE_ACLS)
async def handle(ctx: Any, header: Any, request: DeleteAclsRequest) -> DeleteAclsResponse:
    return DeleteAclsResponse(
        throttle_time_ms=0,
        filter_results=[
            DeleteAclsResponse.DeleteAclsFilterResult(
                error_code=int(ErrorCode.SECURITY_DISABLED),
                error_message=NO_AUTHORIZER,
                matching_acls=[],
            )
            for _ in request.filters
        ],
    )
