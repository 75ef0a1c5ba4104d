"""CreatePartitions (API key 37), every version wire covers (0-3).

As Kafka's ReplicationControlManager.createPartitions, per topic: a name given
twice is INVALID_REQUEST (listed first, once); an unknown topic
UNKNOWN_TOPIC_OR_PARTITION; a count equal to or below the current partition
count INVALID_PARTITIONS; explicit assignments must number exactly the added
partitions and each must be non-empty, on registered brokers, without repeats
and of the topic's replication factor (INVALID_REPLICA_ASSIGNMENT).
The partitions added by one request count against Kafka's bound of
``MAX_RECORDS_PER_USER_OP`` (10,000) metadata records: the topic whose partitions
would pass it gets UNKNOWN_SERVER_ERROR with no message (the controller's
unexpected-error answer) and none of its partitions.
``validate_only`` checks without changing anything; ``timeout_ms`` of zero or
less is REQUEST_TIMED_OUT for every topic (the controller's deadline has passed).
"""

from __future__ import annotations

from typing import Any

from kpybroker import admin_configs as ac
from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.create_partitions import CreatePartitionsRequest, CreatePartitionsResponse

Result = CreatePartitionsResponse.CreatePartitionsTopicResult


def _check(broker: Any, topic: Any) -> tuple[int, list[list[int]] | None]:
    """Validate one topic's request; returns how many partitions it adds and their
    assignments (or None)."""
    meta = broker.metadata.get_topic(topic.name)
    if meta is None:
        raise ac.AdminError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, None)
    current = len(meta.partitions)
    if topic.count == current:
        raise ac.AdminError(
            ErrorCode.INVALID_PARTITIONS, f"Topic already has {current} partition(s)."
        )
    if topic.count < current:
        raise ac.AdminError(
            ErrorCode.INVALID_PARTITIONS,
            f"The topic {topic.name} currently has {current} partition(s); "
            f"{topic.count} would not be an increase.",
        )
    additional = topic.count - current
    if topic.assignments is None:
        return additional, None
    if len(topic.assignments) != additional:
        raise ac.AdminError(
            ErrorCode.INVALID_REPLICA_ASSIGNMENT,
            f"Attempted to add {additional} additional partition(s), but only "
            f"{len(topic.assignments)} assignment(s) were specified.",
        )
    replication = len(next(iter(meta.partitions.values())).replicas) if meta.partitions else None
    live = ac.live_broker_ids(broker)
    out: list[list[int]] = []
    for a in topic.assignments:
        ac.validate_manual_assignment(list(a.broker_ids), live, replication)
        out.append(list(a.broker_ids))
    return additional, out


@handler(ApiKey.CREATE_PARTITIONS)
async def handle(
    ctx: Any, header: Any, request: CreatePartitionsRequest
) -> CreatePartitionsResponse:
    broker = ctx.broker
    if request.timeout_ms <= 0:
        # The controller's deadline (now + timeout_ms) has passed before it runs.
        code = ErrorCode.REQUEST_TIMED_OUT
        return CreatePartitionsResponse(
            throttle_time_ms=0,
            results=[
                Result(name=t.name, error_code=int(code), error_message=code.message)
                for t in request.topics
            ],
        )
    counts: dict[str, int] = {}
    for t in request.topics:
        counts[t.name] = counts.get(t.name, 0) + 1
    results: list[Any] = []
    for name, n in counts.items():
        if n > 1:
            results.append(
                Result(
                    name=name,
                    error_code=int(ErrorCode.INVALID_REQUEST),
                    error_message="Duplicate topic name.",
                )
            )
    records = 0
    for topic in request.topics:
        if counts[topic.name] > 1:
            continue
        try:
            added, assignments = _check(broker, topic)
            if records + added > ac.MAX_RECORDS_PER_USER_OP:
                raise ac.AdminError(ErrorCode.UNKNOWN_SERVER_ERROR, None)
            records += added
            if not request.validate_only:
                await broker.create_partitions(topic.name, topic.count, assignments)
        except ac.AdminError as exc:
            results.append(
                Result(
                    name=topic.name, error_code=int(exc.error_code), error_message=exc.raw_message
                )
            )
            continue
        except Exception as exc:
            code = ac.error_code_of(exc)
            if code is None:
                raise
            results.append(
                Result(
                    name=topic.name, error_code=int(code), error_message=ac.error_message_of(exc)
                )
            )
            continue
        results.append(Result(name=topic.name, error_code=0, error_message=None))
    return CreatePartitionsResponse(throttle_time_ms=0, results=results)
