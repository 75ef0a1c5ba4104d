"""IncrementalAlterConfigs (API key 44), every version wire covers (0-1).

Each config carries an operation: SET (0), DELETE (1), APPEND (2) or SUBTRACT (3);
APPEND and SUBTRACT edit list-typed configs such as ``cleanup.policy`` item by
item, starting from the default when the config is not set, and are INVALID_CONFIG
on any other type. Checks as AlterConfigs (duplicate resources or keys, null
values outside DELETE: INVALID_REQUEST; the resulting topic configs validated as
a whole: INVALID_CONFIG; unknown topic: UNKNOWN_TOPIC_OR_PARTITION; broker
configs Kafka cannot change at run time: INVALID_REQUEST). BROKER_LOGGER (8)
sets or resets this broker's log levels and is never persisted.
"""

from __future__ import annotations

from typing import Any

from kpybroker import admin_configs as ac
from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
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
    dups = ac.duplicate_resources(request.resources)
    results = []
    for r in request.resources:
        code, message = ErrorCode.NONE, None
        try:
            if (r.resource_type, r.resource_name) in dups:
                raise ac.AdminError(
                    ErrorCode.INVALID_REQUEST, "Each resource must appear at most once."
                )
            await ac.alter_resource_incremental(
                broker,
                r.resource_type,
                r.resource_name,
                [(c.name, c.value, c.config_operation) for c in r.configs],
                bool(request.validate_only),
            )
        except ac.AdminError as exc:
            code, message = exc.error_code, exc.message
        except Exception as exc:
            c = ac.error_code_of(exc)
            if c is None:
                raise
            code, message = c, ac.error_message_of(exc)
        results.append(
            Result(
                error_code=int(code),
                error_message=message,
                resource_type=r.resource_type,
                resource_name=r.resource_name,
            )
        )
    return IncrementalAlterConfigsResponse(throttle_time_ms=0, responses=results)
