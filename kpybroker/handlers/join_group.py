"""JoinGroup (key 11), v0-v9.

A member joins (or rejoins) a classic group and waits until the rebalance
completes; the leader gets every member's metadata. Version notes: v0 has no
rebalance timeout (the session timeout stands in); from v4 an unknown dynamic
member first gets MEMBER_ID_REQUIRED with its new id; v5 adds group.instance.id
(static membership); v7 returns the protocol type; v9 adds skip_assignment for a
static leader rejoining a stable group. Before v7 a missing protocol name is "".
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from kpybroker.group_coordinator.handler_support import (
    NOT_AVAILABLE,
    client_host,
    client_id,
    coordinator_of,
)
from wire.api_keys import ApiKey
from wire.messages.join_group import JoinGroupRequest, JoinGroupResponse


@handler(ApiKey.JOIN_GROUP, 0, 9)
async def handle(ctx: Any, header: Any, request: JoinGroupRequest) -> JoinGroupResponse:
    version = header.request_api_version
    coord = coordinator_of(ctx)
    if coord is None:
        return _response(version, NOT_AVAILABLE, request.member_id)
    instance_id = request.group_instance_id if version >= 5 else None
    rebalance_timeout = request.rebalance_timeout_ms if version >= 1 else request.session_timeout_ms
    result = await coord.join_group(
        request.group_id,
        request.member_id,
        instance_id,
        client_id(ctx),
        client_host(ctx),
        rebalance_timeout,
        request.session_timeout_ms,
        request.protocol_type,
        [(p.name, bytes(p.metadata)) for p in request.protocols],
        require_known_member_id=version >= 4 and instance_id is None,
        supports_skip_assignment=version >= 9,
    )
    resp = _response(version, result.error, result.member_id)
    resp.generation_id = result.generation_id
    resp.protocol_type = result.protocol_type
    resp.protocol_name = result.protocol_name
    if resp.protocol_name is None and version < 7:
        resp.protocol_name = ""  # not nullable before v7
    resp.leader = result.leader_id or ""
    resp.skip_assignment = result.skip_assignment
    resp.members = [
        JoinGroupResponse.JoinGroupResponseMember(
            member_id=mid, group_instance_id=iid, metadata=meta
        )
        for mid, iid, meta in result.members
    ]
    return resp


def _response(version: int, error: int, member_id: str) -> JoinGroupResponse:
    return JoinGroupResponse(
        error_code=int(error),
        generation_id=-1,
        protocol_type=None,
        protocol_name=None if version >= 7 else "",
        leader="",
        member_id=member_id,
        members=[],
    )
