"""ApiVersions over a raw socket: every version, the unsupported-version answer, and
that the advertised table is the dispatch table."""

from __future__ import annotations

import struct

import pytest

from kpybroker import dispatch
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse
from wire.protocol import version_range


@pytest.mark.parametrize("version", range(0, 5))
def test_every_version_lists_the_dispatch_table(broker, raw_client, version):
    client = raw_client(broker)
    resp = client.request(
        ApiVersionsRequest(client_software_name="kpybroker-test", client_software_version="1.0"), version
    )
    assert resp.error_code == ErrorCode.NONE
    advertised = {k.api_key: (k.min_version, k.max_version) for k in resp.api_keys}
    expected = {key: (lo, hi) for key, lo, hi in dispatch.supported_versions()}
    assert advertised == expected
    assert advertised[ApiKey.API_VERSIONS] == (0, 4)
    assert advertised[ApiKey.METADATA] == version_range(ApiKey.METADATA)
    assert advertised[ApiKey.DESCRIBE_CLUSTER] == version_range(ApiKey.DESCRIBE_CLUSTER)
    if ApiKey.FETCH in advertised:
        assert advertised[ApiKey.FETCH][0] == 4
    if ApiKey.PRODUCE in advertised:
        assert advertised[ApiKey.PRODUCE] == (0, version_range(ApiKey.PRODUCE)[1])


@pytest.mark.parametrize("version", [5, 7, 32767])
def test_unsupported_version_gets_v0_error_body(broker, raw_client, version):
    client = raw_client(broker)
    # Hand-built: a v5 request our encoder cannot produce. Header v2 (flexible) as a
    # newer client would send it; the broker must still answer with a v0 body.
    body = struct.pack(">hhi", ApiKey.API_VERSIONS, version, 77) + struct.pack(">h", 4) + b"test" + b"\x00"
    body += b"\x02a\x021\x00"
    client.send_bytes(struct.pack(">i", len(body)) + body)
    frame = client.receive_frame()
    correlation_id, error_code, n = struct.unpack_from(">ihi", frame, 0)
    assert correlation_id == 77
    assert error_code == ErrorCode.UNSUPPORTED_VERSION
    assert n == 1
    api_key, lo, hi = struct.unpack_from(">hhh", frame, 10)
    assert (api_key, lo, hi) == (ApiKey.API_VERSIONS, 0, 4)
    assert len(frame) == 16  # exactly the v0 layout: nothing after the one entry
    # The connection stays usable, as clients retry on it at a version we have.
    resp = client.request(ApiVersionsRequest(), 0)
    assert resp.error_code == ErrorCode.NONE


def test_v3_with_invalid_client_software_name_is_invalid_request(broker, raw_client):
    client = raw_client(broker)
    resp = client.request(ApiVersionsRequest(client_software_name="bad name!", client_software_version="1"), 3)
    assert resp.error_code == ErrorCode.INVALID_REQUEST
    assert resp.api_keys == []


def test_response_round_trips_through_kio_style_decode(broker, raw_client):
    client = raw_client(broker)
    cid = client.send(ApiVersionsRequest(client_software_name="a", client_software_version="1"), 3)
    frame = client.receive_frame()
    # ApiVersions always uses response header v0: correlation id then the body.
    assert struct.unpack_from(">i", frame, 0)[0] == cid
    body, _ = ApiVersionsResponse.decode(memoryview(frame), 3, 4)
    assert body.error_code == 0 and body.api_keys


def test_not_required_as_first_request(broker, raw_client):
    from wire.messages.metadata import MetadataRequest

    client = raw_client(broker)
    resp = client.request(MetadataRequest(topics=[]), 12)
    assert resp.brokers and resp.topics == []


def test_readme_table_matches_the_dispatch_table():
    import subprocess
    import sys

    from tests.conftest import ROOT

    table = subprocess.run([sys.executable, str(ROOT / "tools" / "api_table.py")], capture_output=True,
                           text=True, check=True, cwd=str(ROOT)).stdout.strip()
    assert table.count("\n") == len(dispatch.supported_versions()) + 1
    readme = (ROOT / "README.md").read_text()
    assert table in readme, "README.md's API table is stale: paste the output of `make api-table`"
