"""ConsumerGroupDescribe (key 69), v0: consumer-protocol groups (KIP-848).

Group state ("Empty", "Assigning", "Reconciling", "Stable"), group and assignment
epochs, the assignor, and each member with its epoch, subscription, current and
target assignment (topic id, name, partitions). An unknown group, or one using the
classic protocol, is GROUP_ID_NOT_FOUND.
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from kpybroker.group_coordinator.coordinator import GROUP_AUTHORIZED_OPERATIONS
from kpybroker.group_coordinator.handler_support import NOT_AVAILABLE, coordinator_of
from wire.api_keys import ApiKey
from wire.messages.consumer_group_describe import (
    ConsumerGroupDescribeRequest,
    ConsumerGroupDescribeResponse,
)

R = ConsumerGroupDescribeResponse
_OMITTED = -(2**31)


def _assignment(ctx: Any, assignment: dict) -> Any:
    store = getattr(ctx.broker, "metadata", None)
    out = []
    for topic_id, parts in sorted(assignment.items(), key=lambda kv: str(kv[0])):
        meta = store.get_topic_by_id(topic_id) if store is not None else None
        out.append(R.TopicPartitions(topic_id=topic_id, topic_name=meta.name if meta else "",
                                     partitions=sorted(parts)))
    return R.Assignment(topic_partitions=out)


@handler(ApiKey.CONSUMER_GROUP_DESCRIBE, 0, 0)
async def handle(ctx: Any, header: Any, request: ConsumerGroupDescribeRequest) -> R:
    coord = coordinator_of(ctx)
    groups = []
    for group_id in request.group_ids:
        if coord is None:
            groups.append(R.DescribedGroup(error_code=int(NOT_AVAILABLE), group_id=group_id))
            continue
        error, message, group = coord.consumer_group_describe(group_id)
        if group is None:
            groups.append(R.DescribedGroup(error_code=int(error), error_message=message, group_id=group_id))
            continue
        groups.append(
            R.DescribedGroup(
                group_id=group_id,
                group_state=group.state.value,
                group_epoch=group.group_epoch,
                assignment_epoch=group.assignment_epoch,
                assignor_name=group.assignor_name,
                members=[
                    R.Member(
                        member_id=m.member_id,
                        instance_id=m.instance_id,
                        rack_id=m.rack_id,
                        member_epoch=m.member_epoch,
                        client_id=m.client_id,
                        client_host=m.client_host,
                        subscribed_topic_names=list(m.subscribed_topic_names),
                        subscribed_topic_regex=m.subscribed_topic_regex,
                        assignment=_assignment(ctx, m.assigned),
                        target_assignment=_assignment(ctx, group.target.get(m.member_id, {})),
                    )
                    for m in group.members.values()
                ],
                authorized_operations=GROUP_AUTHORIZED_OPERATIONS
                if request.include_authorized_operations
                else _OMITTED,
            )
        )
    return R(groups=groups)
