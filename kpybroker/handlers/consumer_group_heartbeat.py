"""ConsumerGroupHeartbeat (key 68), v0-v1: the KIP-848 consumer protocol.

Join with member epoch 0 (subscription, rebalance timeout and an empty owned list
required), leave with -1 (or -2: a static member stepping away), otherwise
heartbeat with the current epoch and, when it changed, the partitions owned. The
answer carries the member epoch, the heartbeat interval and, when it changed, the
partitions the member may own (by topic id). v0 lets the coordinator choose the
member id; from v1 the client does. Assignment runs on the broker (uniform, range).
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
from wire.messages.consumer_group_heartbeat import (
    ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse,
)

R = ConsumerGroupHeartbeatResponse


@handler(ApiKey.CONSUMER_GROUP_HEARTBEAT, 0, 1)
async def handle(ctx: Any, header: Any, request: ConsumerGroupHeartbeatRequest) -> R:
    coord = coordinator_of(ctx)
    if coord is None:
        return R(error_code=int(NOT_AVAILABLE))
    owned = None
    if request.topic_partitions is not None:
        owned = {}
        for tp in request.topic_partitions:
            owned.setdefault(tp.topic_id, set()).update(tp.partitions)
    result = await coord.consumer_group_heartbeat(
        request.group_id,
        request.member_id,
        request.member_epoch,
        instance_id=request.instance_id,
        rack_id=request.rack_id,
        rebalance_timeout_ms=request.rebalance_timeout_ms,
        subscribed_topic_names=None
        if request.subscribed_topic_names is None
        else list(request.subscribed_topic_names),
        subscribed_topic_regex=getattr(request, "subscribed_topic_regex", None),
        server_assignor=request.server_assignor,
        owned=owned,
        client_id=client_id(ctx),
        client_host=client_host(ctx),
        version=header.request_api_version,
    )
    assignment = None
    if result.assignment is not None:
        assignment = R.Assignment(
            topic_partitions=[
                R.TopicPartitions(topic_id=t, partitions=sorted(ps))
                for t, ps in sorted(result.assignment.items(), key=lambda kv: str(kv[0]))
            ]
        )
    return R(
        error_code=int(result.error),
        error_message=result.message,
        member_id=result.member_id,
        member_epoch=result.member_epoch,
        heartbeat_interval_ms=result.heartbeat_interval_ms,
        assignment=assignment,
    )
