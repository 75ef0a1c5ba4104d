"""FindCoordinator (key 10), v0-v6.

Which broker coordinates a group (key type 0) or a transactional id (key type 1):
the leader of partition abs(hash(key)) % partitions of __consumer_offsets or
__transaction_state. The first request creates the internal topic (with its own
partition count, replication factor capped at the live brokers, compaction) and,
as in Kafka, is answered COORDINATOR_NOT_AVAILABLE; clients retry. So is every request
until the key's partition exists here. v1 adds the key
type, v4 batches keys (coordinator_keys, one answer each). Any other key type is
INVALID_REQUEST.
"""

from __future__ import annotations

from typing import Any

from kpybroker.broker import CONSUMER_OFFSETS, TRANSACTION_STATE, TopicError
from kpybroker.dispatch import handler
from kpybroker.group_coordinator.hashing import partition_for
from kpybroker.handlers.metadata import advertised_endpoint
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.find_coordinator import FindCoordinatorRequest, FindCoordinatorResponse

GROUP_KEY, TRANSACTION_KEY = 0, 1
R = FindCoordinatorResponse


async def _ensure_topic(ctx: Any, topic_name: str) -> Any | None:
    """The internal topic's metadata; creates it (returning None) on first use."""
    broker = ctx.broker
    meta = broker.metadata.get_topic(topic_name)
    if meta is not None:
        return meta
    try:
        await broker.auto_create_topic(topic_name)
    except TopicError:
        return None
    if topic_name == CONSUMER_OFFSETS:
        coord = getattr(broker, "group_coordinator", None)
        created = broker.metadata.get_topic(topic_name)
        if coord is not None and created is not None:
            for p in created.partitions:
                coord.load_partition_soon(p)
    return None


async def _lookup(ctx: Any, key_type: int, key: str) -> tuple[ErrorCode, int, str, int]:
    if key_type == GROUP_KEY:
        topic_name = CONSUMER_OFFSETS
        num = ctx.broker.config.get("offsets.topic.num.partitions")
    else:
        topic_name = TRANSACTION_STATE
        num = ctx.broker.config.get("transaction.state.log.num.partitions")
    meta = await _ensure_topic(ctx, topic_name)
    if meta is None:
        return ErrorCode.COORDINATOR_NOT_AVAILABLE, -1, "", -1
    # the topic decides how many partitions there are, should the config have changed
    num = len(meta.partitions) or num
    partition = partition_for(key, num)
    state = meta.partitions.get(partition)
    if state is None or state.leader != ctx.broker.broker_id:
        # only this broker's own endpoint is known until brokers register each other
        return ErrorCode.COORDINATOR_NOT_AVAILABLE, -1, "", -1
    if ctx.broker.replica_manager.get_partition(topic_name, partition) is None:
        # The topic is being created (its metadata is stored before its logs exist):
        # the coordinator cannot take the client's next request yet, which would get
        # NOT_COORDINATOR, an error librdkafka's committed() gives up on.
        return ErrorCode.COORDINATOR_NOT_AVAILABLE, -1, "", -1
    host, port = advertised_endpoint(ctx)
    return ErrorCode.NONE, ctx.broker.broker_id, host, port


@handler(ApiKey.FIND_COORDINATOR, 0, 6)
async def handle(ctx: Any, header: Any, request: FindCoordinatorRequest) -> FindCoordinatorResponse:
    version = header.request_api_version
    key_type = request.key_type if version >= 1 else GROUP_KEY
    if key_type not in (GROUP_KEY, TRANSACTION_KEY):
        message = f"Unknown coordinator type: {key_type}"
        if version >= 4:
            return R(
                coordinators=[
                    R.Coordinator(
                        key=k,
                        node_id=-1,
                        host="",
                        port=-1,
                        error_code=int(ErrorCode.INVALID_REQUEST),
                        error_message=message,
                    )
                    for k in request.coordinator_keys
                ]
            )
        return R(
            error_code=int(ErrorCode.INVALID_REQUEST),
            error_message=message,
            node_id=-1,
            host="",
            port=-1,
        )
    if version >= 4:
        coordinators = []
        for key in request.coordinator_keys:
            error, node, host, port = await _lookup(ctx, key_type, key)
            coordinators.append(
                R.Coordinator(
                    key=key,
                    node_id=node,
                    host=host,
                    port=port,
                    error_code=int(error),
                    error_message=None if error == ErrorCode.NONE else error.message,
                )
            )
        return R(coordinators=coordinators)
    error, node, host, port = await _lookup(ctx, key_type, request.key)
    return R(
        error_code=int(error),
        error_message=None if error == ErrorCode.NONE else error.message,
        node_id=node,
        host=host,
        port=port,
    )
