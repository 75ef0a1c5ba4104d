"""CreateTopics (API key 19), every version wire covers (0-7).

Kafka's order of checks (ControllerApis.createTopics and
ReplicationControlManager.createTopics), each failing only that topic:

1. a name given twice in one request: INVALID_REQUEST "Duplicate topic name.",
   listed once after the other results; ``__cluster_metadata``: INVALID_REQUEST;
2. an illegal name, or one colliding with an existing topic once '.' and '_' are
   unified: INVALID_TOPIC_EXCEPTION; an existing name: TOPIC_ALREADY_EXISTS;
3. a null config value, an unknown config or a bad value: INVALID_CONFIG;
4. with explicit assignments, num_partitions and replication_factor must both be
   -1 (INVALID_REQUEST), and each assignment non-empty, on registered brokers,
   without repeats, all of one size, partitions 0..n-1
   (INVALID_REPLICA_ASSIGNMENT); otherwise replication_factor 0 or < -1
   (INVALID_REPLICATION_FACTOR), num_partitions 0 or < -1 (INVALID_PARTITIONS),
   -1 meaning the broker's ``default.replication.factor`` / ``num.partitions``,
   and no more replicas than brokers (INVALID_REPLICATION_FACTOR).

A request whose topics together need more than ``MAX_RECORDS_PER_USER_OP``
(10,000) metadata records (one per topic, per config and per partition) fails as a
whole, ``validate_only`` or not: POLICY_VIOLATION "Unable to perform excessively
large batch operation." on every topic, nothing created, as Kafka's controller
refuses the oversized batch.

``validate_only`` runs every check and answers as if the topic had been created
(Kafka even includes a fresh topic id), creating nothing. From v5 a successful
result carries the partition count, replication factor and every effective
config with its source; from v7 the topic id. Creation completes before the
answer, so a positive ``timeout_ms`` is never reached; zero or less is
REQUEST_TIMED_OUT for every topic, as Kafka's controller answers a request whose
deadline has passed.
"""

from __future__ import annotations

import uuid
from typing import Any

from kpybroker import admin_configs as ac
from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.create_topics import CreateTopicsRequest, CreateTopicsResponse

Result = CreateTopicsResponse.CreatableTopicResult


def _error(name: str, code: ErrorCode, message: str | None = None) -> Any:
    return Result(
        name=name,
        error_code=int(code),
        error_message=message if message is not None else code.message,
        num_partitions=-1,
        replication_factor=-1,
        configs=[],
    )


def _plan_partitions(broker: Any, topic: Any) -> tuple[int, int, dict[int, list[int]] | None]:
    """(num_partitions, replication_factor, assignments or None), or AdminError."""
    live = ac.live_broker_ids(broker)
    if topic.assignments:
        if topic.replication_factor != -1:
            raise ac.AdminError(
                ErrorCode.INVALID_REQUEST,
                "A manual partition assignment was specified, but replication "
                "factor was not set to -1.",
            )
        if topic.num_partitions != -1:
            raise ac.AdminError(
                ErrorCode.INVALID_REQUEST,
                "A manual partition assignment was specified, but numPartitions was not set to -1.",
            )
        assignments: dict[int, list[int]] = {}
        replication: int | None = None
        for a in topic.assignments:
            if a.partition_index in assignments:
                raise ac.AdminError(
                    ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                    "Found multiple manual partition assignments for partition "
                    f"{a.partition_index}",
                )
            ac.validate_manual_assignment(list(a.broker_ids), live, replication)
            replication = len(a.broker_ids)
            assignments[a.partition_index] = list(a.broker_ids)
        for i in range(len(assignments)):
            if i not in assignments:
                raise ac.AdminError(
                    ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                    "partitions should be a consecutive 0-based integer sequence",
                )
        return len(assignments), replication or 0, assignments
    if topic.replication_factor < -1 or topic.replication_factor == 0:
        raise ac.AdminError(
            ErrorCode.INVALID_REPLICATION_FACTOR,
            "Replication factor must be larger than 0, or -1 to use the default value.",
        )
    if topic.num_partitions < -1 or topic.num_partitions == 0:
        raise ac.AdminError(
            ErrorCode.INVALID_PARTITIONS,
            "Number of partitions was set to an invalid non-positive value.",
        )
    config = broker.config
    num_partitions = (
        topic.num_partitions if topic.num_partitions != -1 else int(config.get("num.partitions"))
    )
    replication = (
        topic.replication_factor
        if topic.replication_factor != -1
        else int(config.get("default.replication.factor"))
    )
    if replication > len(live):
        raise ac.AdminError(
            ErrorCode.INVALID_REPLICATION_FACTOR,
            f"Unable to replicate the partition {replication} time(s): The target "
            f"replication factor of {replication} cannot be reached because only "
            f"{len(live)} broker(s) are registered.",
        )
    return num_partitions, replication, None


def _success(
    broker: Any,
    name: str,
    topic_id: uuid.UUID,
    num_partitions: int,
    replication: int,
    configs: dict[str, str],
) -> Any:
    layers = ac.broker_layers(broker)
    entries = ac.describe_topic(layers, configs)
    return Result(
        name=name,
        topic_id=topic_id,
        error_code=0,
        error_message=None,
        topic_config_error_code=0,
        num_partitions=num_partitions,
        replication_factor=replication,
        configs=[
            CreateTopicsResponse.CreatableTopicConfigs(
                name=e.name,
                value=e.value,
                read_only=e.read_only,
                config_source=int(e.source),
                is_sensitive=e.sensitive,
            )
            for e in entries
        ],
    )


def _records_needed(broker: Any, topics: list[Any], duplicates: list[str], existing: set[str]) -> int:
    """The metadata records Kafka's controller would write for the topics that pass
    their own checks: a topic record, one per config, one per partition."""
    total = 0
    for topic in topics:
        if topic.name in duplicates or topic.name in existing or ac.topic_name_error(topic.name):
            continue
        try:
            num_partitions, _, _ = _plan_partitions(broker, topic)
        except ac.AdminError:
            continue
        total += 1 + len(topic.configs) + num_partitions
    return total


@handler(ApiKey.CREATE_TOPICS)
async def handle(ctx: Any, header: Any, request: CreateTopicsRequest) -> CreateTopicsResponse:
    broker = ctx.broker
    if request.timeout_ms <= 0:
        # Kafka's controller gives the request a deadline of now + timeout_ms and
        # fails it whole when the deadline has passed before it runs.
        return CreateTopicsResponse(
            throttle_time_ms=0,
            topics=[_error(t.name, ErrorCode.REQUEST_TIMED_OUT) for t in request.topics],
        )
    seen: set[str] = set()
    duplicates: list[str] = []
    for t in request.topics:
        if t.name in seen and t.name not in duplicates:
            duplicates.append(t.name)
        seen.add(t.name)

    existing = ac.topic_names(broker)
    if _records_needed(broker, request.topics, duplicates, existing) > ac.MAX_RECORDS_PER_USER_OP:
        return CreateTopicsResponse(
            throttle_time_ms=0,
            topics=[_error(t.name, ErrorCode.POLICY_VIOLATION,
                           "Unable to perform excessively large batch operation.")
                    for t in request.topics],
        )

    results: list[Any] = []
    for topic in request.topics:
        name = topic.name
        if name in duplicates:
            continue
        if name == ac.CLUSTER_METADATA_TOPIC:
            results.append(
                _error(
                    name,
                    ErrorCode.INVALID_REQUEST,
                    f"Creation of internal topic {ac.CLUSTER_METADATA_TOPIC} is prohibited.",
                )
            )
            continue
        try:
            ac.validate_topic_name(name)
            if name in existing:
                raise ac.AdminError(
                    ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists."
                )
            collides = broker.metadata.colliding_topic(name)
            if collides is not None:
                raise ac.AdminError(
                    ErrorCode.INVALID_TOPIC_EXCEPTION,
                    f"Topic '{name}' collides with existing topic: {collides}",
                )
            configs = {c.name: c.value for c in topic.configs}
            ac.validate_topic_configs(configs)
            num_partitions, replication, assignments = _plan_partitions(broker, topic)
            # With explicit assignments the broker wants -1 / -1, as the request had them.
            info = await broker.create_topic(
                name,
                num_partitions if assignments is None else -1,
                replication if assignments is None else -1,
                configs,
                assignments=assignments,
                validate_only=bool(request.validate_only),
            )
            topic_id = ac.topic_id_of(broker, name, info)
            if not request.validate_only:
                existing.add(name)
            results.append(_success(broker, name, topic_id, num_partitions, replication, configs))
        except ac.AdminError as exc:
            results.append(_error(name, exc.error_code, exc.message))
        except Exception as exc:  # the broker's TopicError and friends carry an error code
            code = ac.error_code_of(exc)
            if code is None:
                raise
            results.append(_error(name, code, ac.error_message_of(exc)))
    for name in duplicates:
        results.append(_error(name, ErrorCode.INVALID_REQUEST, "Duplicate topic name."))
    return CreateTopicsResponse(throttle_time_ms=0, topics=results)
