"""``decode_request`` reads the request header itself on its fast path; it must
agree with the generated ``RequestHeader`` decoder on every header shape."""

from __future__ import annotations

import pytest

from wire import protocol
from wire._codec import uvarint
from wire.buffers import join
from wire.exceptions import ProtocolError
from wire.messages.api_versions import ApiVersionsRequest
from wire.messages.controlled_shutdown import ControlledShutdownRequest
from wire.messages.headers import RequestHeader
from wire.messages.metadata import MetadataRequest

CLIENT_IDS = [None, "", "c", "kafka-python-3.0.12", "é" * 40, "x" * 255, "y" * 256, "z" * 1000]


def _frame(
    api_key: int, version: int, client_id: str | None, body: bytes, header_tags: bytes = b""
) -> bytes:
    hv = protocol.request_header_version(api_key, version)
    head = RequestHeader(
        request_api_key=api_key, request_api_version=version, correlation_id=-7, client_id=client_id
    )
    raw = join(head.encode(hv))
    if header_tags:
        assert hv == 2 and raw[-1] == 0
        raw = raw[:-1] + header_tags
    return raw + body


@pytest.mark.parametrize("client_id", CLIENT_IDS)
@pytest.mark.parametrize("version", [0, 4, 9, 12])
def test_fast_header_matches_generated_decoder(client_id: str | None, version: int) -> None:
    req = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name="a")])
    frame = _frame(3, version, client_id, join(req.encode(version)))
    header, body = protocol.decode_request(memoryview(frame))
    hv = protocol.request_header_version(3, version)
    expected, pos = RequestHeader.decode(memoryview(frame), hv)
    assert header == expected
    assert header.client_id == client_id
    assert body == MetadataRequest.decode(memoryview(frame), version, pos)[0]


def test_header_tagged_fields_are_kept() -> None:
    tags = uvarint(2) + uvarint(3) + uvarint(2) + b"ab" + uvarint(600) + uvarint(1) + b"z"
    frame = _frame(3, 12, "cid", join(MetadataRequest().encode(12)), tags)
    header, body = protocol.decode_request(frame)
    assert header.unknown_tagged_fields == {3: b"ab", 600: b"z"}
    assert header == RequestHeader.decode(memoryview(frame), 2)[0]
    assert body == MetadataRequest()


def test_controlled_shutdown_v0_has_no_client_id() -> None:
    frame = join(protocol.encode_request(ControlledShutdownRequest(broker_id=4), 0, 9, "ignored"))[
        4:
    ]
    header, body = protocol.decode_request(frame)
    assert header.correlation_id == 9 and header.client_id == ""
    assert body.broker_id == 4


@pytest.mark.parametrize("cut", range(0, 14))
def test_every_short_header_is_a_protocol_error(cut: int) -> None:
    frame = _frame(18, 3, "client", join(ApiVersionsRequest().encode(3)))
    with pytest.raises(ProtocolError) as ei:
        protocol.decode_request(memoryview(frame[:cut]))
    if cut >= 8:
        assert ei.value.correlation_id == -7 and ei.value.api_key == 18


def test_client_id_past_the_end_is_refused() -> None:
    frame = bytearray(_frame(3, 1, "abc", join(MetadataRequest().encode(1))))
    frame[8:10] = (5000).to_bytes(2, "big")
    with pytest.raises(ProtocolError) as ei:
        protocol.decode_request(frame)
    assert ei.value.api_version == 1 and ei.value.correlation_id == -7


def test_bad_utf8_client_id_is_a_protocol_error() -> None:
    frame = bytearray(_frame(3, 1, "abc", join(MetadataRequest().encode(1))))
    frame[10:13] = b"\xff\xfe\xfd"
    with pytest.raises(ProtocolError):
        protocol.decode_request(bytes(frame))
