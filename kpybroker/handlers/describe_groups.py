"""DescribeGroups (key 15), v0-v6.

State ("Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"),
protocol type, the chosen protocol and members with client id, host, metadata and
assignment (metadata, assignment and protocol only while Stable). An unknown group
is reported as "Dead"; from v6 also with GROUP_ID_NOT_FOUND. v3 adds authorized
operations (every group operation when asked: there is no authorizer), v4
group.instance.id, v6 an error message.
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from kpybroker.group_coordinator.coordinator import GROUP_AUTHORIZED_OPERATIONS
from kpybroker.group_coordinator.handler_support import NOT_AVAILABLE, coordinator_of
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.describe_groups import DescribeGroupsRequest, DescribeGroupsResponse

R = DescribeGroupsResponse
_OMITTED = -(2**31)


@handler(ApiKey.DESCRIBE_GROUPS, 0, 6)
async def handle(ctx: Any, header: Any, request: DescribeGroupsRequest) -> DescribeGroupsResponse:
    version = header.request_api_version
    coord = coordinator_of(ctx)
    include_ops = version >= 3 and bool(request.include_authorized_operations)
    out = []
    for group_id in request.groups:
        if coord is None:
            out.append(R.DescribedGroup(error_code=NOT_AVAILABLE, group_id=group_id))
            continue
        s = coord.describe_group(group_id)
        error, message = s.error, None
        if error == ErrorCode.GROUP_ID_NOT_FOUND:
            if version >= 6:
                message = s.message
            else:
                error = ErrorCode.NONE
        out.append(
            R.DescribedGroup(
                error_code=int(error),
                error_message=message,
                group_id=group_id,
                group_state=s.state,
                protocol_type=s.protocol_type,
                protocol_data=s.protocol,
                members=[
                    R.DescribedGroupMember(
                        member_id=m.member_id,
                        group_instance_id=m.group_instance_id,
                        client_id=m.client_id,
                        client_host=m.client_host,
                        member_metadata=m.metadata,
                        member_assignment=m.assignment,
                    )
                    for m in s.members
                ],
                authorized_operations=GROUP_AUTHORIZED_OPERATIONS
                if include_ops and error == ErrorCode.NONE
                else _OMITTED,
            )
        )
    return R(groups=out)
