"""LeaveGroup (key 13), v0-v5.

v0-v2 remove one member; from v3 a batch, each with its own error (an admin may
name a static member by group.instance.id alone). For v0-v2 the member's error
becomes the response's error, as Kafka's LeaveGroupResponse does.
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from kpybroker.group_coordinator.handler_support import NOT_AVAILABLE, coordinator_of
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.leave_group import LeaveGroupRequest, LeaveGroupResponse


@handler(ApiKey.LEAVE_GROUP, 0, 5)
async def handle(ctx: Any, header: Any, request: LeaveGroupRequest) -> LeaveGroupResponse:
    version = header.request_api_version
    coord = coordinator_of(ctx)
    if version >= 3:
        members = [(m.member_id, m.group_instance_id) for m in request.members]
    else:
        members = [(request.member_id, None)]
    if coord is None:
        return LeaveGroupResponse(error_code=NOT_AVAILABLE, members=[])
    error, member_errors = coord.leave_group(request.group_id, members)
    if version < 3:
        if error == ErrorCode.NONE:
            error = next((e for e in member_errors if e != ErrorCode.NONE), ErrorCode.NONE)
        return LeaveGroupResponse(error_code=int(error), members=[])
    return LeaveGroupResponse(
        error_code=int(error),
        members=[
            LeaveGroupResponse.MemberResponse(
                member_id=mid, group_instance_id=iid, error_code=int(err)
            )
            for (mid, iid), err in zip(members, member_errors, strict=False)
        ],
    )
