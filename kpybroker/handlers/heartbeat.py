"""Heartbeat (key 12), v0-v4.

Keeps a member's session alive; the answer tells it whether a rebalance started
(REBALANCE_IN_PROGRESS), whether it was removed (UNKNOWN_MEMBER_ID), is behind
(ILLEGAL_GENERATION) or was replaced by a newer static incarnation
(FENCED_INSTANCE_ID, v3+ carries group.instance.id).
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from kpybroker.group_coordinator.handler_support import NOT_AVAILABLE, coordinator_of
from wire.api_keys import ApiKey
from wire.messages.heartbeat import HeartbeatRequest, HeartbeatResponse


@handler(ApiKey.HEARTBEAT, 0, 4)
async def handle(ctx: Any, header: Any, request: HeartbeatRequest) -> HeartbeatResponse:
    coord = coordinator_of(ctx)
    if coord is None:
        return HeartbeatResponse(error_code=NOT_AVAILABLE)
    instance_id = request.group_instance_id if header.request_api_version >= 3 else None
    error = coord.heartbeat(request.group_id, request.member_id, instance_id, request.generation_id)
    return HeartbeatResponse(error_code=int(error))
