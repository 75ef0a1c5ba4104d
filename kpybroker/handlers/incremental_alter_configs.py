"""IncrementalAlterConfigs (API key 44), every version wire covers (0-1).

Each config carries an operation: SET (0), DELETE (1), APPEND (2) or SUBTRACT (3);
APPEND and SUBTRACT edit list-typed configs such as ``cleanup.policy`` item by
item, starting from the default when the config is not set, and are INVALID_CONFIG
on any other type. Checks as AlterConfigs (duplicate resources or keys, null
values outside DELETE: INVALID_REQUEST; the resulting topic configs validated as
a whole: INVALID_CONFIG; unknown topic: UNKNOWN_TOPIC_OR_PARTITION; broker
configs Kafka cannot change at run time: INVALID_REQUEST). GROUP (32) resources
take Kafka's group configs for any group id, validated as a whole against the
broker's bounds (INVALID_CONFIG). BROKER_LOGGER (8) sets or resets this broker's
log levels and is never persisted.
"""

from __future__ import annotations

from typing import Any

from kpybroker import admin_configs as ac
from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.messages.incremental_alter_configs import (
    IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
)

Result = IncrementalAlterConfigsResponse.AlterConfigsResourceResponse


@handler(ApiKey.INCREMENTAL_ALTER_CONFIGS)
async def handle(
    ctx: Any, header: Any, request: IncrementalAlterConfigsRequest
) -> IncrementalAlterConfigsResponse:
    broker = ctx.broker

    async def alter(r: Any) -> None:
        await ac.alter_resource_incremental(
            broker,
            r.resource_type,
            r.resource_name,
            [(c.name, c.value, c.config_operation) for c in r.configs],
            bool(request.validate_only),
        )

    results = await ac.alter_each_resource(request.resources, alter, Result)
    return IncrementalAlterConfigsResponse(throttle_time_ms=0, responses=results)
