"""AlterPartitionReassignments (API key 45), every version wire covers (0-1).

As Kafka's controller (ReplicationControlManager.alterPartitionReassignment),
per partition, in request order:

* unknown topic -> UNKNOWN_TOPIC_OR_PARTITION "Unable to find a topic named
  T."; unknown partition -> "Unable to find partition T:P.";
* ``replicas`` null cancels a reassignment: none is ever in progress here, so
  NO_REASSIGNMENT_IN_PROGRESS "No partition reassignment is in progress.";
* a target replica list is checked as a manual assignment (empty list, a
  broker that is not registered, a broker twice -> INVALID_REPLICA_ASSIGNMENT
  with Kafka's messages); v1 with ``allow_replication_factor_change`` false and
  a different number of replicas -> INVALID_REPLICATION_FACTOR (KIP-860);
* a target equal to the current replicas is a no-op success; the same brokers
  in another order complete at once (Kafka skips the catch-up phase when no
  replica is added), which changes the preferred leader.

Moving a replica to a broker that does not host it yet would need replica
movement, which kpybroker does not do: such a target (possible only with more
than one live broker) gets INVALID_REPLICA_ASSIGNMENT saying so. The response
echoes ``allow_replication_factor_change`` (v1).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kpybroker import admin_configs as ac
from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.alter_partition_reassignments import (
    AlterPartitionReassignmentsRequest,
    AlterPartitionReassignmentsResponse,
)

TopicResponse = AlterPartitionReassignmentsResponse.ReassignableTopicResponse
PartitionResponse = AlterPartitionReassignmentsResponse.ReassignablePartitionResponse

# Kafka answers a cancellation with nothing to cancel with the error's default text.
NO_REASSIGNMENT_MESSAGE = "No partition reassignment is in progress."


class _Refused(Exception):
    def __init__(self, code: ErrorCode, message: str | None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _alter_one(broker: Any, topic: str, target: Any, allow_rf_change: bool) -> Any:
    """Validate one partition's reassignment; returns the new PartitionState or None."""
    meta = broker.metadata.get_topic(topic)
    if meta is None:
        raise _Refused(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Unable to find a topic named {topic}.")
    state = meta.partitions.get(target.partition_index)
    if state is None:
        raise _Refused(
            ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
            f"Unable to find partition {topic}:{target.partition_index}.",
        )
    if target.replicas is None:
        raise _Refused(ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, NO_REASSIGNMENT_MESSAGE)
    replicas = [int(r) for r in target.replicas]
    try:
        ac.validate_manual_assignment(replicas, ac.live_broker_ids(broker), None)
    except ac.AdminError as exc:
        raise _Refused(ErrorCode(exc.error_code), exc.raw_message) from None
    if not allow_rf_change and len(replicas) != len(state.replicas):
        raise _Refused(
            ErrorCode.INVALID_REPLICATION_FACTOR,
            f"The replication factor is changed from {len(state.replicas)} to {len(replicas)} "
            "but allowReplicationFactorChange is false.",
        )
    if replicas == list(state.replicas):
        return None
    if set(replicas) != set(state.replicas):
        raise _Refused(
            ErrorCode.INVALID_REPLICA_ASSIGNMENT,
            f"Moving replicas of {topic}:{target.partition_index} to other brokers is not "
            "supported by kpybroker; only reordering the current replicas is.",
        )
    return replace(state, replicas=replicas, partition_epoch=state.partition_epoch + 1)


@handler(ApiKey.ALTER_PARTITION_REASSIGNMENTS)
async def handle(
    ctx: Any, header: Any, request: AlterPartitionReassignmentsRequest
) -> AlterPartitionReassignmentsResponse:
    broker = ctx.broker
    allow_rf_change = True if header.request_api_version < 1 else bool(request.allow_replication_factor_change)
    responses: list[Any] = []
    changes: list[tuple[str, int, Any]] = []
    for topic in request.topics:
        topic_response = TopicResponse(name=topic.name, partitions=[])
        for target in topic.partitions:
            code, message = ErrorCode.NONE, None
            try:
                new_state = _alter_one(broker, topic.name, target, allow_rf_change)
                if new_state is not None:
                    changes.append((topic.name, target.partition_index, new_state))
            except _Refused as exc:
                code, message = exc.code, exc.message
            topic_response.partitions.append(
                PartitionResponse(
                    partition_index=target.partition_index, error_code=int(code), error_message=message
                )
            )
        responses.append(topic_response)
    for name, partition, state in changes:
        broker.metadata.set_partition_state(name, partition, state)
    return AlterPartitionReassignmentsResponse(
        throttle_time_ms=0,
        allow_replication_factor_change=allow_rf_change,
        error_code=0,
        error_message=None,
        responses=responses,
    )
