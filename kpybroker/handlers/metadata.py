"""Metadata (key 3), v0-v13.

What Kafka's KafkaApis.handleTopicMetadataRequest answers, for one broker that
is controller and leader of everything:

* brokers: this broker with the advertised host and port of the listener the
  request came in on (clients reconnect to exactly that), rack from
  ``broker.rack``; ``cluster_id`` (v2+); ``controller_id`` (v1+) is this broker,
  since clients send admin requests to the controller.
* topics: ``null`` (v1+) or an empty list in v0 means every topic; an empty list
  in v1+ means none. Per topic: ``topic_id`` (v10+), ``is_internal`` (v1+),
  partitions with leader, ``leader_epoch`` (v7+), replicas, ISR,
  ``offline_replicas`` (v5+). Topics asked for by id (v12+) that we do not know
  get ``UNKNOWN_TOPIC_ID``; once any topic is asked for by id, names beside the
  ids are ignored, as in Kafka. Before v12 a null name or a topic id refuses the
  whole request with ``INVALID_REQUEST`` on every topic (names as given, "" for
  null).
* an unknown topic: ``INVALID_TOPIC_EXCEPTION`` if its name is not legal;
  otherwise, when ``allow_auto_topic_creation`` (v4+; always for v0-v3) and
  ``auto.create.topics.enable`` both hold, it is created with ``num.partitions``
  and ``default.replication.factor`` and answered ``LEADER_NOT_AVAILABLE`` with no
  partitions (Kafka's DefaultAutoTopicCreationManager answer: clients retry and
  find the leader on the next request); else ``UNKNOWN_TOPIC_OR_PARTITION``.
* authorized operations (v8+): every operation when asked (no authorizer, as
  Kafka without one), else Kafka's "omitted" sentinel.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from kpybroker.admin_configs import topic_name_error
from kpybroker.broker import INTERNAL_TOPICS, TopicError
from kpybroker.context import RequestContext
from kpybroker.dispatch import RequestError, handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.metadata import MetadataRequest, MetadataResponse

log = logging.getLogger(__name__)

ZERO_UUID = uuid.UUID(int=0)
OPERATIONS_OMITTED = -(2**31)

# Kafka's AclOperation codes.
_READ, _WRITE, _CREATE, _DELETE, _ALTER, _DESCRIBE = 3, 4, 5, 6, 7, 8
_CLUSTER_ACTION, _DESCRIBE_CONFIGS, _ALTER_CONFIGS, _IDEMPOTENT_WRITE = 9, 10, 11, 12


def _bits(*ops: int) -> int:
    out = 0
    for op in ops:
        out |= 1 << op
    return out


TOPIC_OPERATIONS = _bits(_READ, _WRITE, _CREATE, _DELETE, _ALTER, _DESCRIBE, _DESCRIBE_CONFIGS, _ALTER_CONFIGS)
CLUSTER_OPERATIONS = _bits(_CREATE, _ALTER, _DESCRIBE, _CLUSTER_ACTION, _DESCRIBE_CONFIGS, _ALTER_CONFIGS,
                           _IDEMPOTENT_WRITE)


def advertised_endpoint(ctx: RequestContext) -> tuple[str, int]:
    """Host and port clients should use, for the listener this request came in on."""
    listeners = ctx.broker.advertised_listeners
    for lst in listeners:
        if lst.name == ctx.listener_name:
            return lst.host, lst.port
    return listeners[0].host, listeners[0].port


def _topic_entry(broker: Any, name: str, include_ops: bool) -> MetadataResponse.MetadataResponseTopic:
    topic = broker.metadata.get_topic(name)
    partitions = []
    for index, state in sorted(topic.partitions.items()):
        partitions.append(MetadataResponse.MetadataResponsePartition(
            error_code=ErrorCode.NONE,
            partition_index=index,
            leader_id=state.leader,
            leader_epoch=state.leader_epoch,
            replica_nodes=list(state.replicas),
            isr_nodes=list(state.isr),
            offline_replicas=[],
        ))
    return MetadataResponse.MetadataResponseTopic(
        error_code=ErrorCode.NONE,
        name=name,
        topic_id=topic.topic_id,
        is_internal=topic.internal,
        partitions=partitions,
        topic_authorized_operations=TOPIC_OPERATIONS if include_ops else OPERATIONS_OMITTED,
    )


def _error_entry(name: str | None, error: ErrorCode, *, topic_id: uuid.UUID = ZERO_UUID,
                 internal: bool = False) -> MetadataResponse.MetadataResponseTopic:
    return MetadataResponse.MetadataResponseTopic(
        error_code=error, name=name, topic_id=topic_id, is_internal=internal, partitions=[],
        topic_authorized_operations=OPERATIONS_OMITTED,
    )


@handler(ApiKey.METADATA)
async def handle(ctx: RequestContext, header: Any, request: MetadataRequest) -> MetadataResponse:
    broker = ctx.broker
    store = broker.metadata
    version = header.request_api_version
    include_ops = bool(getattr(request, "include_topic_authorized_operations", False))
    all_topics = request.topics is None or (version == 0 and not request.topics)
    topics: list[MetadataResponse.MetadataResponseTopic] = []
    if all_topics:
        for t in sorted(store.topics(), key=lambda t: t.name):
            topics.append(_topic_entry(broker, t.name, include_ops))
    else:
        if version < 12:
            # Kafka's handler checks this before anything else and throws, so the
            # whole request gets INVALID_REQUEST on every topic it named.
            for wanted in request.topics:
                if wanted.name is None:
                    raise RequestError(ErrorCode.INVALID_REQUEST,
                                       f"Topic name can not be null for version {version}")
                if _requested_id(wanted) != ZERO_UUID:
                    raise RequestError(ErrorCode.INVALID_REQUEST,
                                       f"Topic IDs are not supported in requests for version {version}")
        wanted_topics = request.topics
        if any(_requested_id(t) != ZERO_UUID for t in wanted_topics):
            # Once any topic is asked for by id, Kafka answers the ids only: names
            # given beside them are not looked up.
            wanted_topics = [t for t in wanted_topics if _requested_id(t) != ZERO_UUID]
        auto_create = bool(request.allow_auto_topic_creation) and broker.config.get("auto.create.topics.enable")
        seen: set[str] = set()
        unknown_ids: set[uuid.UUID] = set()
        for wanted in wanted_topics:
            name = wanted.name
            topic_id = _requested_id(wanted)
            if topic_id != ZERO_UUID or name is None:
                found = store.get_topic_by_id(topic_id) if topic_id != ZERO_UUID else None
                if found is None:
                    if topic_id not in unknown_ids:
                        unknown_ids.add(topic_id)
                        topics.append(_error_entry(None, ErrorCode.UNKNOWN_TOPIC_ID, topic_id=topic_id))
                    continue
                name = found.name
            if name in seen:
                continue
            seen.add(name)
            if store.get_topic(name) is not None:
                topics.append(_topic_entry(broker, name, include_ops))
            elif topic_name_error(name) is not None:
                topics.append(_error_entry(name, ErrorCode.INVALID_TOPIC_EXCEPTION))
            elif auto_create:
                topics.append(await _auto_create(broker, name))
            else:
                topics.append(_error_entry(name, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION))
    host, port = advertised_endpoint(ctx)
    return MetadataResponse(
        throttle_time_ms=0,
        brokers=[MetadataResponse.MetadataResponseBroker(
            node_id=broker.broker_id, host=host, port=port, rack=broker.config.get("broker.rack"))],
        cluster_id=broker.cluster_id,
        controller_id=broker.broker_id,
        topics=topics,
        cluster_authorized_operations=(
            CLUSTER_OPERATIONS if getattr(request, "include_cluster_authorized_operations", False)
            else OPERATIONS_OMITTED
        ),
        error_code=ErrorCode.NONE,
    )


def _requested_id(topic: MetadataRequest.MetadataRequestTopic) -> uuid.UUID:
    """The topic id a request entry names (the zero id when none: v0-v9 have no field)."""
    return getattr(topic, "topic_id", None) or ZERO_UUID


async def _auto_create(broker: Any, name: str) -> MetadataResponse.MetadataResponseTopic:
    internal = name in INTERNAL_TOPICS
    try:
        await broker.auto_create_topic(name)
    except TopicError as exc:
        # Kafka 4 asks the controller asynchronously and answers LEADER_NOT_AVAILABLE
        # whatever the outcome; a refused creation only shows in the broker's log.
        log.warning("auto-creating topic %s failed: %s", name, exc)
    return _error_entry(name, ErrorCode.LEADER_NOT_AVAILABLE, internal=internal)
