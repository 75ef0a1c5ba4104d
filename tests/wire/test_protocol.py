"""Header rules and the protocol entry points in ``wire/protocol.py``."""

from __future__ import annotations

import struct

import pytest

from wire import protocol
from wire.api_keys import ApiKey
from wire.buffers import join
from wire.exceptions import ProtocolError
from wire.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse
from wire.messages.fetch import FetchResponse
from wire.messages.headers import RequestHeader
from wire.messages.metadata import MetadataRequest, MetadataResponse
from wire.messages.produce import ProduceRequest


def frame_of(bufs) -> memoryview:
    data = join(bufs)
    (size,) = struct.unpack_from(">i", data)
    assert size == len(data) - 4
    return memoryview(data)[4:]


def test_api_key_names_follow_kafka() -> None:
    assert ApiKey.PRODUCE == 0 and ApiKey.FETCH == 1 and ApiKey.LIST_OFFSETS == 2
    assert ApiKey.METADATA == 3 and ApiKey.OFFSET_COMMIT == 8 and ApiKey.OFFSET_FETCH == 9
    assert ApiKey.FIND_COORDINATOR == 10 and ApiKey.JOIN_GROUP == 11 and ApiKey.HEARTBEAT == 12
    assert ApiKey.SYNC_GROUP == 14 and ApiKey.API_VERSIONS == 18 and ApiKey.CREATE_TOPICS == 19
    assert ApiKey.INIT_PRODUCER_ID == 22 and ApiKey.OFFSET_FOR_LEADER_EPOCH == 23
    assert ApiKey.ADD_PARTITIONS_TO_TXN == 24 and ApiKey.SASL_AUTHENTICATE == 36
    assert ApiKey.CONSUMER_GROUP_HEARTBEAT == 68 and ApiKey.LEADER_AND_ISR == 4
    assert set(protocol.REQUESTS) == {int(k) for k in ApiKey}


def test_version_ranges_are_the_union_of_both_definition_sets() -> None:
    assert protocol.version_range(ApiKey.PRODUCE) == (0, 13)
    assert protocol.version_range(ApiKey.FETCH)[0] == 0
    assert protocol.version_range(ApiKey.FETCH)[1] >= 17
    assert protocol.version_range(ApiKey.METADATA) == (0, 13)
    assert protocol.version_range(ApiKey.API_VERSIONS) == (0, 4)


@pytest.mark.parametrize(
    ("key", "version", "req", "resp"),
    [
        (ApiKey.PRODUCE, 8, 1, 0),
        (ApiKey.PRODUCE, 9, 2, 1),
        (ApiKey.METADATA, 8, 1, 0),
        (ApiKey.METADATA, 9, 2, 1),
        (ApiKey.API_VERSIONS, 2, 1, 0),
        (ApiKey.API_VERSIONS, 3, 2, 0),  # ApiVersions answers with header v0
        (ApiKey.CONTROLLED_SHUTDOWN, 0, 0, 0),
        (ApiKey.CONTROLLED_SHUTDOWN, 1, 1, 0),
        (ApiKey.FETCH, 12, 2, 1),
        (ApiKey.FETCH, 11, 1, 0),
    ],
)
def test_header_versions(key: int, version: int, req: int, resp: int) -> None:
    assert protocol.request_header_version(key, version) == req
    assert protocol.response_header_version(key, version) == resp


def test_client_id_is_never_compact_in_header_v2() -> None:
    bufs = protocol.encode_request(MetadataRequest(topics=None), 12, correlation_id=7, client_id="abc")
    frame = bytes(frame_of(bufs))
    # api key 3, version 12, correlation 7, then int16 length 3 and "abc", then tags
    assert frame[:8] == struct.pack(">hhi", 3, 12, 7)
    assert frame[8:13] == b"\x00\x03abc"
    assert frame[13] == 0  # empty header tag buffer
    header, body = protocol.decode_request(memoryview(frame))
    assert header.client_id == "abc" and header.correlation_id == 7
    assert header.request_api_key == 3 and header.request_api_version == 12
    assert body.topics is None


def test_null_client_id() -> None:
    frame = frame_of(protocol.encode_request(ApiVersionsRequest(), 0, 1, None))
    assert bytes(frame[8:10]) == b"\xff\xff"
    header, _ = protocol.decode_request(frame)
    assert header.client_id is None


def test_api_versions_response_header_is_v0_even_when_flexible() -> None:
    header = RequestHeader(request_api_key=18, request_api_version=3, correlation_id=99, client_id="c")
    body = ApiVersionsResponse(api_keys=[ApiVersionsResponse.ApiVersion(api_key=0, min_version=0, max_version=11)])
    frame = bytes(frame_of(protocol.encode_response(header, body)))
    # correlation id, then the body straight away (error code 0): no header tag buffer
    assert frame[:4] == struct.pack(">i", 99)
    assert frame[4:6] == b"\x00\x00"
    corr, decoded = protocol.decode_response(18, 3, frame)
    assert corr == 99 and decoded == body


def test_flexible_response_header_has_tag_buffer() -> None:
    header = RequestHeader(request_api_key=3, request_api_version=12, correlation_id=5, client_id="c")
    frame = bytes(frame_of(protocol.encode_response(header, MetadataResponse())))
    assert frame[:5] == struct.pack(">i", 5) + b"\x00"
    header0 = RequestHeader(request_api_key=3, request_api_version=8, correlation_id=5, client_id="c")
    frame0 = bytes(frame_of(protocol.encode_response(header0, MetadataResponse())))
    assert frame0[:4] == struct.pack(">i", 5)
    # v8 body starts right after the correlation id: throttle_time_ms, then brokers
    assert frame0[4:12] == b"\x00" * 8
    for version, f in ((12, frame), (8, frame0)):
        corr, body = protocol.decode_response(3, version, f)
        assert corr == 5 and body == MetadataResponse()


def test_request_round_trip_through_frames() -> None:
    req = ProduceRequest(acks=-1, timeout_ms=1000, topic_data=[ProduceRequest.TopicProduceData(
        name="t", partition_data=[ProduceRequest.PartitionProduceData(index=2, records=b"x" * 10000)])])
    for version in (3, 7, 9, 11):
        frame = frame_of(protocol.encode_request(req, version, 42, "client"))
        header, body = protocol.decode_request(frame)
        assert header.correlation_id == 42
        assert body == req


def test_encode_response_passes_large_records_by_reference() -> None:
    payload = bytes(70000)
    resp = FetchResponse(responses=[FetchResponse.FetchableTopicResponse(topic="t", partitions=[
        FetchResponse.PartitionData(partition_index=0, high_watermark=5, records=payload)])])
    header = RequestHeader(request_api_key=1, request_api_version=12, correlation_id=3)
    bufs = protocol.encode_response(header, resp)
    assert any(b is payload for b in bufs)
    corr, decoded = protocol.decode_response(1, 12, frame_of(bufs))
    assert corr == 3 and decoded.responses[0].partitions[0].records == payload


def test_unsupported_api_versions_version_is_answered_not_closed() -> None:
    frame = struct.pack(">hhi", 18, 99, 1234) + b"\x00\x01c\x00" + b"\x00\x00"
    with pytest.raises(ProtocolError) as ei:
        protocol.decode_request(memoryview(frame))
    e = ei.value
    assert e.error_code == 35 and e.close is False
    assert (e.api_key, e.api_version, e.correlation_id) == (18, 99, 1234)


def test_unsupported_version_of_other_api_closes() -> None:
    frame = struct.pack(">hhi", 0, 99, 5) + b"\x00\x00"
    with pytest.raises(ProtocolError) as ei:
        protocol.decode_request(memoryview(frame))
    assert ei.value.error_code == 35 and ei.value.close is True
    assert ei.value.correlation_id == 5


def test_unknown_api_key() -> None:
    frame = struct.pack(">hhi", 9999, 0, 6) + b"\x00\x00"
    with pytest.raises(ProtocolError) as ei:
        protocol.decode_request(memoryview(frame))
    assert ei.value.error_code == 35 and ei.value.close is True
    assert ei.value.api_key == 9999 and ei.value.correlation_id == 6


def test_short_frame_has_no_header() -> None:
    with pytest.raises(ProtocolError) as ei:
        protocol.decode_request(memoryview(b"\x00\x03\x00"))
    assert ei.value.correlation_id is None and ei.value.close is True


def test_malformed_body_carries_header_fields() -> None:
    good = bytes(frame_of(protocol.encode_request(MetadataRequest(topics=[
        MetadataRequest.MetadataRequestTopic(name="abc")]), 4, 77, "c")))
    with pytest.raises(ProtocolError) as ei:
        protocol.decode_request(memoryview(good[:-3]))
    assert ei.value.correlation_id == 77 and ei.value.api_key == 3 and ei.value.api_version == 4
    assert ei.value.close is True


def test_every_request_type_decodes_its_own_default_frame() -> None:
    for key, cls in protocol.REQUESTS.items():
        for version in range(cls.MIN_VERSION, cls.MAX_VERSION + 1):
            frame = frame_of(protocol.encode_request(cls(), version, 1, "x"))
            header, body = protocol.decode_request(frame)
            assert header.request_api_key == key and body == cls()
