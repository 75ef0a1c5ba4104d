"""DescribeConfigs (API key 32), every version wire covers (0-4).

As Kafka's ConfigHelper.describeConfigs:

- TOPIC (2): every topic config with its effective value and where it comes from
  (the topic's override, a dynamic or static broker synonym, or the default);
  an illegal name is INVALID_TOPIC_EXCEPTION, an unknown topic
  UNKNOWN_TOPIC_OR_PARTITION.
- BROKER (4): with this broker's id, every broker config; with an empty name,
  only the cluster-wide dynamic defaults; any other name INVALID_REQUEST.
- BROKER_LOGGER (8): this broker's Python loggers and their levels.
- GROUP (32): the group's configs (Kafka's GroupConfig), set or defaulted from
  the broker, for any group id, existing or not; an empty name INVALID_REQUEST.
- CLIENT_METRICS: INVALID_REQUEST for that resource (not served yet);
- any other resource type: the whole request fails with INVALID_REQUEST.

Sensitive values are null. ``configuration_keys`` (null or empty: all) filters;
synonyms are listed when ``include_synonyms`` (v1+), documentation when
``include_documentation`` (v3+); v0 carries ``is_default`` instead of a source.
"""

from __future__ import annotations

import logging
from typing import Any

from kpybroker import admin_configs as ac
from kpybroker.admin_configs import ConfigSource, ResourceType
from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.describe_configs import DescribeConfigsRequest, DescribeConfigsResponse

Result = DescribeConfigsResponse.DescribeConfigsResult
Entry = DescribeConfigsResponse.DescribeConfigsResourceResult
SynonymMsg = DescribeConfigsResponse.DescribeConfigsSynonym

# Types Kafka knows; CLIENT_METRICS is not served here yet and fails per resource.
_KNOWN = {
    ResourceType.TOPIC,
    ResourceType.BROKER,
    ResourceType.BROKER_LOGGER,
    ResourceType.GROUP,
    ResourceType.CLIENT_METRICS,
}


def _entry(e: ac.ConfigEntry) -> Any:
    return Entry(
        name=e.name,
        value=e.value,
        read_only=e.read_only,
        config_source=int(e.source),
        is_default=e.is_default,
        is_sensitive=e.sensitive,
        synonyms=[SynonymMsg(name=s.name, value=s.value, source=int(s.source)) for s in e.synonyms],
        config_type=int(e.config_type),
        documentation=e.documentation,
    )


def _logger_entries(keys: list[str] | None) -> list[ac.ConfigEntry]:
    names = ["root"] + sorted(
        n for n in logging.root.manager.loggerDict if n.startswith("kpybroker")
    )
    out = []
    for name in names:
        if keys and name not in keys:
            continue
        lg = logging.getLogger() if name == "root" else logging.getLogger(name)
        level = logging.getLevelName(lg.getEffectiveLevel())
        out.append(
            ac.ConfigEntry(
                name=name,
                value=str(level),
                source=ConfigSource.DYNAMIC_BROKER_LOGGER_CONFIG,
                read_only=False,
                sensitive=False,
                config_type=ac.ConfigType.UNKNOWN,
            )
        )
    return out


def describe_resource(
    broker: Any,
    resource_type: int,
    name: str,
    keys: list[str] | None,
    include_synonyms: bool,
    include_documentation: bool,
) -> list[ac.ConfigEntry]:
    """Config entries of one resource; raises ``AdminError`` for Kafka's refusals."""
    if resource_type == ResourceType.TOPIC:
        ac.validate_topic_name(name)
        overrides = ac.topic_overrides(broker, name)
        if overrides is None:
            raise ac.AdminError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "")
        return ac.describe_topic(
            ac.broker_layers(broker),
            overrides,
            keys,
            include_synonyms=include_synonyms,
            include_documentation=include_documentation,
        )
    if resource_type == ResourceType.BROKER:
        per_broker = bool(name)
        if per_broker:
            ac.require_broker_id(
                name,
                broker.broker_id,
                what="Broker",
                mismatch=f"Unexpected broker id, expected {broker.broker_id} or empty "
                f"string, but received {name}",
            )
        return ac.describe_broker(
            ac.broker_layers(broker),
            keys,
            per_broker=per_broker,
            include_synonyms=include_synonyms,
            include_documentation=include_documentation,
        )
    if resource_type == ResourceType.BROKER_LOGGER:
        if not name:
            raise ac.AdminError(ErrorCode.INVALID_REQUEST, "Broker id must not be empty")
        ac.require_broker_id(
            name,
            broker.broker_id,
            what="Broker",
            mismatch=f"Unexpected broker id, expected {broker.broker_id} but received {name}",
        )
        return _logger_entries(keys)
    if resource_type == ResourceType.GROUP:
        ac.check_group_resource(name, describing=True)
        return ac.describe_group(
            ac.broker_layers(broker),
            broker.metadata.group_configs(name),
            keys,
            include_synonyms=include_synonyms,
            include_documentation=include_documentation,
        )
    raise ac.AdminError(ErrorCode.INVALID_REQUEST, f"Unsupported resource type: {resource_type}")


@handler(ApiKey.DESCRIBE_CONFIGS)
async def handle(ctx: Any, header: Any, request: DescribeConfigsRequest) -> DescribeConfigsResponse:
    broker = ctx.broker
    if any(r.resource_type not in _KNOWN for r in request.resources):
        # Kafka fails the whole request when it meets a resource type it cannot authorize.
        code = ErrorCode.INVALID_REQUEST
        return DescribeConfigsResponse(
            throttle_time_ms=0,
            results=[
                Result(
                    error_code=int(code),
                    error_message=code.message,
                    resource_type=r.resource_type,
                    resource_name=r.resource_name,
                    configs=[],
                )
                for r in request.resources
            ],
        )
    results = []
    for r in request.resources:
        keys = list(r.configuration_keys) if r.configuration_keys else None
        try:
            entries = describe_resource(
                broker,
                r.resource_type,
                r.resource_name,
                keys,
                bool(request.include_synonyms),
                bool(request.include_documentation),
            )
        except ac.AdminError as exc:
            results.append(
                Result(
                    error_code=int(exc.error_code),
                    error_message=exc.message,
                    resource_type=r.resource_type,
                    resource_name=r.resource_name,
                    configs=[],
                )
            )
            continue
        results.append(
            Result(
                error_code=0,
                resource_type=r.resource_type,
                resource_name=r.resource_name,
                configs=[_entry(e) for e in entries],
            )
        )
    return DescribeConfigsResponse(throttle_time_ms=0, results=results)
