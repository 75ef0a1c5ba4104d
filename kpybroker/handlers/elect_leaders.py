"""ElectLeaders (API key 43), every version wire covers (0-2).

As Kafka's controller (ReplicationControlManager.electLeaders) answers:

* ``election_type`` (v1+; v0 is always preferred): 0 preferred, 1 unclean;
  anything else is INVALID_REQUEST "Unknown election type N" for the whole
  request (top-level code in v1+, and on every listed partition).
* per listed partition: unknown topic -> UNKNOWN_TOPIC_OR_PARTITION "No such
  topic as T"; unknown partition -> UNKNOWN_TOPIC_OR_PARTITION "No such
  partition as T-P"; a preferred election where the leader already is the
  first replica, or an unclean election where the partition has a leader ->
  ELECTION_NOT_NEEDED (no message).
* ``topic_partitions`` null means every partition of every topic, and then
  partitions that need no election are left out (each topic is still listed).

One broker leads every partition and is always the preferred replica, so an
election never changes anything here. If a partition's state ever says
otherwise (a leader that is not the first replica, or no leader), kpybroker
cannot move leadership itself and answers PREFERRED_LEADER_NOT_AVAILABLE /
ELIGIBLE_LEADERS_NOT_AVAILABLE, Kafka's answers when no acceptable replica can
take over.
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.elect_leaders import ElectLeadersRequest, ElectLeadersResponse

PREFERRED, UNCLEAN = 0, 1
NO_LEADER = -1

TopicResult = ElectLeadersResponse.ReplicaElectionResult
PartitionResult = ElectLeadersResponse.PartitionResult


def elect(store: Any, topic: str, partition: int, election_type: int) -> tuple[ErrorCode, str | None]:
    """The outcome of electing a leader for one partition."""
    meta = store.get_topic(topic)
    if meta is None:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"No such topic as {topic}"
    state = meta.partitions.get(partition)
    if state is None:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"No such partition as {topic}-{partition}"
    has_leader = state.leader != NO_LEADER
    has_preferred = bool(state.replicas) and state.leader == state.replicas[0]
    if (election_type == PREFERRED and has_preferred) or (election_type == UNCLEAN and has_leader):
        return ErrorCode.ELECTION_NOT_NEEDED, None
    if election_type == PREFERRED:
        return ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE, None
    return ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE, None


def _whole_request_error(request: ElectLeadersRequest, code: ErrorCode, message: str) -> ElectLeadersResponse:
    # Kafka's ElectLeadersRequest.getErrorResponse: the error at the top and on
    # every partition the request named.
    results = [
        TopicResult(
            topic=t.topic,
            partition_result=[
                PartitionResult(partition_id=p, error_code=int(code), error_message=message)
                for p in t.partitions
            ],
        )
        for t in request.topic_partitions or ()
    ]
    return ElectLeadersResponse(
        throttle_time_ms=0, error_code=int(code), replica_election_results=results
    )


@handler(ApiKey.ELECT_LEADERS)
async def handle(ctx: Any, header: Any, request: ElectLeadersRequest) -> ElectLeadersResponse:
    store = ctx.broker.metadata
    election_type = int(request.election_type) if header.request_api_version >= 1 else PREFERRED
    if election_type not in (PREFERRED, UNCLEAN):
        return _whole_request_error(
            request, ErrorCode.INVALID_REQUEST, f"Unknown election type {election_type}"
        )
    results: list[Any] = []
    if request.topic_partitions is None:
        for meta in store.topics():
            topic_result = TopicResult(topic=meta.name, partition_result=[])
            for partition in meta.partitions:
                code, message = elect(store, meta.name, partition, election_type)
                if code != ErrorCode.ELECTION_NOT_NEEDED:
                    topic_result.partition_result.append(
                        PartitionResult(partition_id=partition, error_code=int(code), error_message=message)
                    )
            results.append(topic_result)
    else:
        for t in request.topic_partitions:
            topic_result = TopicResult(topic=t.topic, partition_result=[])
            for partition in t.partitions:
                code, message = elect(store, t.topic, partition, election_type)
                topic_result.partition_result.append(
                    PartitionResult(partition_id=partition, error_code=int(code), error_message=message)
                )
            results.append(topic_result)
    return ElectLeadersResponse(
        throttle_time_ms=0, error_code=0, replica_election_results=results
    )
