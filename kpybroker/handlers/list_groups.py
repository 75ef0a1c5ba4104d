"""ListGroups (key 16), v0-v5.

The groups this broker coordinates (Dead ones left out). v4 filters by state
(case-insensitive), v5 by group type ("classic" is the only type served so far)
and reports each group's type. COORDINATOR_LOAD_IN_PROGRESS while a partition of
__consumer_offsets is still loading (with the groups known so far).
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from kpybroker.group_coordinator.handler_support import NOT_AVAILABLE, coordinator_of
from wire.api_keys import ApiKey
from wire.messages.list_groups import ListGroupsRequest, ListGroupsResponse

R = ListGroupsResponse


@handler(ApiKey.LIST_GROUPS, 0, 5)
async def handle(ctx: Any, header: Any, request: ListGroupsRequest) -> ListGroupsResponse:
    version = header.request_api_version
    coord = coordinator_of(ctx)
    if coord is None:
        return R(error_code=NOT_AVAILABLE, groups=[])
    states = list(request.states_filter) if version >= 4 else None
    types = list(request.types_filter) if version >= 5 else None
    error, groups = coord.list_groups(states or None, types or None)
    return R(
        error_code=int(error),
        groups=[
            R.ListedGroup(
                group_id=g.group_id,
                protocol_type=g.protocol_type,
                group_state=g.state,
                group_type=g.group_type,
            )
            for g in groups
        ],
    )
