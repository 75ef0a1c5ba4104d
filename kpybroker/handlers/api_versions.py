"""ApiVersions (key 18), v0-v4.

The answer is built from the dispatch table, so the advertised ranges are exactly
what the registered handlers serve. An ApiVersions version newer than ours never
reaches this module: the connection answers it with ``UNSUPPORTED_VERSION`` and
a v0 body naming our ApiVersions range (KIP-511), which is how clients discover
the version to retry with.

v3+ requests carry the client's software name and version; Kafka answers
``INVALID_REQUEST`` (with no API list) when either is not of the form
``[a-zA-Z0-9](?:[a-zA-Z0-9\\-.]*[a-zA-Z0-9])?``. Feature negotiation fields (v3+)
are left empty: a single kpybroker has no finalized features.
"""

from __future__ import annotations

import re
from typing import Any

from kpybroker.context import RequestContext
from kpybroker.dispatch import handler, supported_versions
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse

_SOFTWARE = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$")


def _valid_software(value: str | None) -> bool:
    return value is not None and bool(_SOFTWARE.match(value))


@handler(ApiKey.API_VERSIONS, 0, 4)
async def handle(ctx: RequestContext, header: Any, request: ApiVersionsRequest) -> ApiVersionsResponse:
    if header.request_api_version >= 3 and not (
        _valid_software(request.client_software_name) and _valid_software(request.client_software_version)
    ):
        return ApiVersionsResponse(error_code=ErrorCode.INVALID_REQUEST)
    keys = [
        ApiVersionsResponse.ApiVersion(api_key=key, min_version=lo, max_version=hi)
        for key, lo, hi in supported_versions()
    ]
    return ApiVersionsResponse(error_code=ErrorCode.NONE, api_keys=keys, throttle_time_ms=0)
