"""DeleteGroups (key 42), v0-v2.

Deletes empty groups with their committed offsets (tombstones in
__consumer_offsets); NON_EMPTY_GROUP while the group has members,
GROUP_ID_NOT_FOUND for an unknown one.
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from kpybroker.group_coordinator.handler_support import NOT_AVAILABLE, coordinator_of
from wire.api_keys import ApiKey
from wire.messages.delete_groups import DeleteGroupsRequest, DeleteGroupsResponse

R = DeleteGroupsResponse


@handler(ApiKey.DELETE_GROUPS, 0, 2)
async def handle(ctx: Any, header: Any, request: DeleteGroupsRequest) -> DeleteGroupsResponse:
    coord = coordinator_of(ctx)
    names = list(request.groups_names)
    if coord is None:
        results = dict.fromkeys(names, NOT_AVAILABLE)
    else:
        results = await coord.delete_groups(names)
    return R(
        results=[R.DeletableGroupResult(group_id=g, error_code=int(results[g])) for g in dict.fromkeys(names)]
    )
