"""The shared raw test client (``tests/support/raw_client.py``) against a broker in
this trio run."""

from __future__ import annotations

from typing import Any

from tests.support.raw_client import AsyncRawClient
from tests.support.trio_broker import running_broker
from wire.messages.api_versions import ApiVersionsRequest


async def test_support_raw_client_talks_to_broker(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        client = await AsyncRawClient.connect(broker)
        response = await client.request(
            ApiVersionsRequest(client_software_name="raw-test", client_software_version="1.0"), 3
        )
        keys = {k.api_key: (k.min_version, k.max_version) for k in response.api_keys}
        assert (
            keys[0] == (0, 13) and keys[1] == (4, 18) and keys[2] == (0, 10) and keys[23] == (0, 4)
        )
        await client.aclose()
