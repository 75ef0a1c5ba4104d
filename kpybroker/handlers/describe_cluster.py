"""DescribeCluster (key 60), v0-v2.

Answered by a broker as Kafka does: this broker's advertised endpoint for the
listener the request arrived on, the cluster id, this broker as controller.
``endpoint_type`` (v1+) other than 1 (brokers) gets ``UNSUPPORTED_ENDPOINT_TYPE``:
a broker does not describe controller endpoints. Authorized operations are
reported when asked (no authorizer: every cluster operation is allowed).
"""

from __future__ import annotations

from typing import Any

from kpybroker.context import RequestContext
from kpybroker.dispatch import handler
from kpybroker.handlers.metadata import CLUSTER_OPERATIONS, OPERATIONS_OMITTED, advertised_endpoint
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.describe_cluster import DescribeClusterRequest, DescribeClusterResponse

BROKER_ENDPOINT_TYPE = 1


@handler(ApiKey.DESCRIBE_CLUSTER)
async def handle(ctx: RequestContext, header: Any, request: DescribeClusterRequest) -> DescribeClusterResponse:
    broker = ctx.broker
    version = header.request_api_version
    if version >= 1 and request.endpoint_type != BROKER_ENDPOINT_TYPE:
        return DescribeClusterResponse(
            error_code=ErrorCode.UNSUPPORTED_ENDPOINT_TYPE,
            error_message="The broker does not describe controller endpoints.",
            endpoint_type=request.endpoint_type,
        )
    host, port = advertised_endpoint(ctx)
    return DescribeClusterResponse(
        throttle_time_ms=0,
        error_code=ErrorCode.NONE,
        error_message=None,
        endpoint_type=BROKER_ENDPOINT_TYPE,
        cluster_id=broker.cluster_id,
        controller_id=broker.broker_id,
        brokers=[DescribeClusterResponse.DescribeClusterBroker(
            broker_id=broker.broker_id, host=host, port=port, rack=broker.config.get("broker.rack"),
            is_fenced=False)],
        cluster_authorized_operations=(
            CLUSTER_OPERATIONS if request.include_cluster_authorized_operations else OPERATIONS_OMITTED
        ),
    )
