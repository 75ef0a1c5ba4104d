"""Golden frames captured from real clients (tools/capture_frames.py).

Each request frame must decode with ``decode_request`` and re-encode to the very
same bytes; each response frame (from librdkafka's mock broker) must decode with
``decode_response`` and re-encode identically too.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from wire import protocol
from wire.buffers import join
from wire.messages.headers import RequestHeader

FRAMES = Path(__file__).resolve().parents[1] / "fixtures" / "frames"
NAME = re.compile(r"^(?P<api>[a-z_]+)_v(?P<version>\d+)(?:_(?P<codec>none|gzip|snappy|lz4|zstd))?(?P<resp>_response)?$")

ALL = sorted(FRAMES.glob("*/*.bin"))
REQUEST_FILES = [p for p in ALL if not p.stem.endswith("_response")]
RESPONSE_FILES = [p for p in ALL if p.stem.endswith("_response")]


def _id(p: Path) -> str:
    return f"{p.parent.name}/{p.stem}"


def _frame(p: Path) -> memoryview:
    data = p.read_bytes()
    (size,) = struct.unpack_from(">i", data)
    assert size == len(data) - 4
    return memoryview(data)[4:]


def test_fixtures_cover_the_main_apis() -> None:
    names = {f"{p.parent.name}/{NAME.match(p.stem).group('api')}" for p in REQUEST_FILES}
    for client in ("confluent-kafka", "kafka-python"):
        for api in ("api_versions", "metadata", "produce", "find_coordinator"):
            assert f"{client}/{api}" in names
    assert {"confluent-kafka/fetch", "confluent-kafka/join_group", "confluent-kafka/sync_group",
            "confluent-kafka/offset_commit", "confluent-kafka/heartbeat"} <= names
    codecs = {NAME.match(p.stem).group("codec") for p in REQUEST_FILES if p.stem.startswith("produce")}
    assert codecs == {"none", "gzip", "snappy", "lz4", "zstd"}
    assert all(p.stat().st_size <= 64 * 1024 for p in ALL)


@pytest.mark.parametrize("path", REQUEST_FILES, ids=_id)
def test_request_frame_decodes_and_reencodes_identically(path: Path) -> None:
    m = NAME.match(path.stem)
    assert m is not None
    frame = _frame(path)
    header, body = protocol.decode_request(frame)
    assert header.request_api_version == int(m.group("version"))
    again = join(protocol.encode_request(body, header.request_api_version, header.correlation_id,
                                         header.client_id))
    assert again[4:] == bytes(frame)
    if m.group("api") == "produce":
        records = body.topic_data[0].partition_data[0].records
        assert isinstance(records, memoryview)
        (attributes,) = struct.unpack_from(">h", records, 21)
        codec = ["none", "gzip", "snappy", "lz4", "zstd"][attributes & 7]
        assert codec == m.group("codec")


@pytest.mark.parametrize("path", RESPONSE_FILES, ids=_id)
def test_response_frame_decodes_and_reencodes_identically(path: Path) -> None:
    request = path.with_name(path.stem[: -len("_response")] + ".bin")
    api_key, version, _ = struct.unpack_from(">hhi", request.read_bytes(), 4)
    frame = _frame(path)
    if api_key == 18 and frame[4:6] == b"\x00\x23":
        version = 0  # an UNSUPPORTED_VERSION answer always has a v0 body
    corr, body = protocol.decode_response(api_key, version, frame)
    header = RequestHeader(request_api_key=api_key, request_api_version=version, correlation_id=corr)
    again = join(protocol.encode_response(header, body))
    assert again[4:] == bytes(frame)
