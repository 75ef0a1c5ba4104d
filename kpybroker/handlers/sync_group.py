"""SyncGroup (key 14), v0-v5.

After a rebalance every member sends SyncGroup; the leader's carries the
assignment, which is stored in __consumer_offsets and then handed to each member.
Followers that arrive first wait. v3 adds group.instance.id; v5 adds protocol type
and name to the request (checked against the group: INCONSISTENT_GROUP_PROTOCOL)
and to the response.
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from kpybroker.group_coordinator.handler_support import NOT_AVAILABLE, coordinator_of
from wire.api_keys import ApiKey
from wire.messages.sync_group import SyncGroupRequest, SyncGroupResponse


@handler(ApiKey.SYNC_GROUP, 0, 5)
async def handle(ctx: Any, header: Any, request: SyncGroupRequest) -> SyncGroupResponse:
    version = header.request_api_version
    coord = coordinator_of(ctx)
    if coord is None:
        return SyncGroupResponse(error_code=NOT_AVAILABLE, assignment=b"")
    result = await coord.sync_group(
        request.group_id,
        request.generation_id,
        request.member_id,
        request.group_instance_id if version >= 3 else None,
        request.protocol_type if version >= 5 else None,
        request.protocol_name if version >= 5 else None,
        {a.member_id: bytes(a.assignment) for a in request.assignments},
    )
    return SyncGroupResponse(
        error_code=int(result.error),
        protocol_type=result.protocol_type,
        protocol_name=result.protocol_name,
        assignment=result.assignment,
    )
