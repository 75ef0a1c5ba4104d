"""AlterConfigs (API key 33), every version wire covers (0-2): the legacy API that
replaces a resource's whole set of dynamic configs.

As Kafka (ConfigAdminManager.preprocess, then the controller's
legacyAlterConfigs): a resource listed twice fails both entries with
INVALID_REQUEST; duplicate keys or a null value in one resource are
INVALID_REQUEST. TOPIC resources: an empty name is INVALID_REQUEST, an illegal
name INVALID_TOPIC_EXCEPTION, an unknown config or bad value INVALID_CONFIG, an
unknown topic UNKNOWN_TOPIC_OR_PARTITION; configs not given are removed. BROKER
resources: the name must be empty (the cluster-wide default) or this broker's
id, and only configs Kafka can change at run time are accepted
(INVALID_REQUEST otherwise). GROUP resources: a non-empty group id, Kafka's
group configs only (INVALID_CONFIG otherwise). Any other type is INVALID_REQUEST.
``validate_only`` checks without storing.
"""

from __future__ import annotations

from typing import Any

from kpybroker import admin_configs as ac
from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.messages.alter_configs import AlterConfigsRequest, AlterConfigsResponse

Result = AlterConfigsResponse.AlterConfigsResourceResponse


@handler(ApiKey.ALTER_CONFIGS)
async def handle(ctx: Any, header: Any, request: AlterConfigsRequest) -> AlterConfigsResponse:
    broker = ctx.broker

    async def alter(r: Any) -> None:
        await ac.alter_resource_legacy(
            broker,
            r.resource_type,
            r.resource_name,
            [(c.name, c.value) for c in r.configs],
            bool(request.validate_only),
        )

    results = await ac.alter_each_resource(request.resources, alter, Result)
    return AlterConfigsResponse(throttle_time_ms=0, responses=results)
