"""OffsetDelete (key 47), v0.

Deletes committed offsets of a group: all the listed ones when the group is
empty; for a consumer group with members only those of topics no member
subscribes to (GROUP_SUBSCRIBED_TO_TOPIC for the others); NON_EMPTY_GROUP for any
other active group; GROUP_ID_NOT_FOUND for an unknown group. Tombstones go to
__consumer_offsets. Partitions of unknown topics get UNKNOWN_TOPIC_OR_PARTITION.
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from kpybroker.group_coordinator.handler_support import NOT_AVAILABLE, coordinator_of
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.offset_delete import OffsetDeleteRequest, OffsetDeleteResponse

R = OffsetDeleteResponse


@handler(ApiKey.OFFSET_DELETE, 0, 0)
async def handle(ctx: Any, header: Any, request: OffsetDeleteRequest) -> OffsetDeleteResponse:
    coord = coordinator_of(ctx)
    if coord is None:
        return R(error_code=NOT_AVAILABLE, topics=[])
    store = getattr(ctx.broker, "metadata", None)
    known: list[tuple[str, int]] = []
    errors: dict[tuple[str, int], ErrorCode] = {}
    for t in request.topics:
        meta = store.get_topic(t.name) if store is not None else None
        for p in t.partitions:
            tp = (t.name, p.partition_index)
            if meta is None or p.partition_index not in meta.partitions:
                errors[tp] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            else:
                known.append(tp)
    error, results = await coord.delete_offsets(request.group_id, known)
    if error != ErrorCode.NONE:
        return R(error_code=int(error), topics=[])
    errors.update(results)
    return R(
        error_code=0,
        topics=[
            R.OffsetDeleteResponseTopic(
                name=t.name,
                partitions=[
                    R.OffsetDeleteResponsePartition(
                        partition_index=p.partition_index,
                        error_code=int(errors.get((t.name, p.partition_index), ErrorCode.NONE)),
                    )
                    for p in t.partitions
                ],
            )
            for t in request.topics
        ],
    )
