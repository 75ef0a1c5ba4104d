"""ListPartitionReassignments (API key 46), every version wire covers (0).

Kafka's controller lists only partitions with a reassignment in progress; a
topic it does not know is silently skipped (no error entry). kpybroker
completes every accepted reassignment at once (one broker: the replica set can
only be reordered), so nothing is ever in progress and the answer is always
an empty topic list with error code NONE, whatever was asked.
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.messages.list_partition_reassignments import (
    ListPartitionReassignmentsRequest,
    ListPartitionReassignmentsResponse,
)


@handler(ApiKey.LIST_PARTITION_REASSIGNMENTS)
async def handle(
    ctx: Any, header: Any, request: ListPartitionReassignmentsRequest
) -> ListPartitionReassignmentsResponse:
    return ListPartitionReassignmentsResponse(
        throttle_time_ms=0, error_code=0, error_message=None, topics=[]
    )
