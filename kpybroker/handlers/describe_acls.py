"""DescribeAcls (API key 29), every version wire covers (0-3).

kpybroker has no authorizer (``authorizer.class.name`` unset, PLAINTEXT only),
so it answers as Kafka's AclApis does without one: SECURITY_DISABLED with the
message "No Authorizer is configured on the broker" and no resources, whatever
the filter. Clients then report "security is disabled" instead of "API not
supported".
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.describe_acls import DescribeAclsRequest, DescribeAclsResponse

NO_AUTHORIZER_DESCRIBE = "No Authorizer is configured on the broker"


@handler(ApiKey.DESCRIBE_ACLS)
async def handle(ctx: Any, header: Any, request: DescribeAclsRequest) -> DescribeAclsResponse:
    return DescribeAclsResponse(
        throttle_time_ms=0,
        error_code=int(ErrorCode.SECURITY_DISABLED),
        error_message=NO_AUTHORIZER_DESCRIBE,
        resources=[],
    )
