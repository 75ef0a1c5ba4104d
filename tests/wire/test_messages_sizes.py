"""Sizes at the edges of the generated codecs' fast paths.

The generated code takes shortcuts for the common case (strings shorter than
``STRING_FAST`` read with a prebuilt unpacker, primitive arrays shorter than
``ARRAY_FAST`` packed with prebuilt packers, strings and UUIDs encoded from a
cache, the zero tag count written together with a fixed-size tail, a fixed-size
run read together with the next length byte) and the general code otherwise.
These tests put values on both sides of each boundary and require the bytes to
match kafka-python's independent encoder and to decode back to the same value.
"""

from __future__ import annotations

import struct
import uuid

import pytest

from wire import _codec, protocol
from wire.buffers import join
from wire.exceptions import ProtocolError
from wire.messages.fetch import FetchResponse
from wire.messages.metadata import MetadataRequest, MetadataResponse
from wire.messages.produce import ProduceRequest

kp_metadata = pytest.importorskip("kafka.protocol.metadata.metadata")

STRING_SIZES = [0, 1, 126, 127, 128, 255, 256, 257, 300, 16_383, 16_384]
ARRAY_SIZES = [0, 1, 2, 62, 63, 64, 65, 126, 127, 128, 300]
UUIDS = [
    uuid.UUID(int=0),
    uuid.UUID(int=1),
    uuid.UUID(int=2**64),
    uuid.UUID(int=2**128 - 1),
    uuid.uuid4(),
]


def _metadata_response(name_len: int, n_replicas: int, topic_id: uuid.UUID) -> MetadataResponse:
    part = MetadataResponse.MetadataResponsePartition(
        partition_index=7,
        leader_id=3,
        leader_epoch=9,
        replica_nodes=list(range(n_replicas)),
        isr_nodes=[-(2**31), 2**31 - 1][: min(n_replicas, 2)],
        offline_replicas=list(range(n_replicas, 0, -1)),
    )
    topic = MetadataResponse.MetadataResponseTopic(
        name="t" * name_len, topic_id=topic_id, is_internal=bool(name_len % 2), partitions=[part]
    )
    broker = MetadataResponse.MetadataResponseBroker(
        node_id=1, host="h" * max(name_len, 1), port=9092, rack="r" * name_len
    )
    return MetadataResponse(
        brokers=[broker], cluster_id="c" * name_len, controller_id=1, topics=[topic]
    )


def _kafka_python_bytes(data: bytes, version: int) -> bytes:
    obj = kp_metadata.MetadataResponse.decode(data, version=version)
    obj._header = None
    obj._min_version = obj._max_version = None
    return bytes(obj.encode(version=version))


@pytest.mark.parametrize("version", [0, 1, 9, 12])
@pytest.mark.parametrize("name_len", STRING_SIZES)
def test_string_lengths_agree_with_kafka_python(version: int, name_len: int) -> None:
    if version < 9 and name_len > 16_000:
        name_len = 300  # keep classic frames small; int16 lengths are covered below
    resp = _metadata_response(name_len, 3, UUIDS[4])
    data = join(resp.encode(version))
    assert _kafka_python_bytes(data, version) == data
    back, end = MetadataResponse.decode(memoryview(data), version)
    assert end == len(data)
    again = join(back.encode(version))
    assert again == data
    assert back.topics[0].name == "t" * name_len


@pytest.mark.parametrize("version", [5, 12])
@pytest.mark.parametrize("n", ARRAY_SIZES)
def test_int_array_lengths_agree_with_kafka_python(version: int, n: int) -> None:
    resp = _metadata_response(5, n, UUIDS[1])
    data = join(resp.encode(version))
    assert _kafka_python_bytes(data, version) == data
    back, _ = MetadataResponse.decode(memoryview(data), version)
    p = back.topics[0].partitions[0]
    assert p.replica_nodes == list(range(n))
    assert p.offline_replicas == list(range(n, 0, -1))
    assert back == MetadataResponse.decode(memoryview(join(back.encode(version))), version)[0]


@pytest.mark.parametrize("topic_id", UUIDS, ids=str)
def test_uuids_round_trip_and_agree(topic_id: uuid.UUID) -> None:
    resp = _metadata_response(3, 1, topic_id)
    for _ in range(2):  # the second time the 16 bytes come from the cache
        data = join(resp.encode(12))
        assert data.count(topic_id.bytes) == 1
        assert _kafka_python_bytes(data, 12) == data
        back, _ = MetadataResponse.decode(memoryview(data), 12)
        assert back.topics[0].topic_id == topic_id
        assert back.topics[0].topic_id.int == topic_id.int


def test_request_topic_ids_and_names_round_trip() -> None:
    topics = [
        MetadataRequest.MetadataRequestTopic(topic_id=u, name="x" * (i * 70))
        for i, u in enumerate(UUIDS)
    ]
    req = MetadataRequest(
        topics=topics, allow_auto_topic_creation=False, include_topic_authorized_operations=True
    )
    frame = memoryview(join(protocol.encode_request(req, 12, 5, "c" * 300)))[4:]
    header, body = protocol.decode_request(frame)
    assert header.client_id == "c" * 300 and header.correlation_id == 5
    assert body == req
    assert body.topics[0].topic_id is _codec.ZERO_UUID


def test_string_cache_stays_bounded_and_right() -> None:
    n = _codec.STRING_CACHE_ENTRIES + 10
    for i in range(n):
        s = f"topic-{i}"
        b = bytearray()
        b += _codec.COMPACT_STRINGS.get(s) or _codec.compact_string(s)
        assert bytes(b) == bytes([len(s) + 1]) + s.encode()
        assert _codec.string16(s) == struct.pack(">h", len(s)) + s.encode()
    assert len(_codec.COMPACT_STRINGS) <= _codec.STRING_CACHE_ENTRIES
    assert len(_codec.STRINGS16) <= _codec.STRING_CACHE_ENTRIES
    long = "é" * (_codec.STRING_CACHE_MAX_CHARS + 1)
    data = _codec.compact_string(long)
    assert long not in _codec.COMPACT_STRINGS
    assert data == _codec.uvarint(len(long.encode()) + 1) + long.encode()


def test_non_string_is_still_refused() -> None:
    resp = MetadataResponse(brokers=[MetadataResponse.MetadataResponseBroker(host=None)])  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        resp.encode(12)


@pytest.mark.parametrize(
    "n", [0, 1, 127, 128, 2**14 - 1, 2**14, 2**21 - 1, 2**21, 2**28, 2**32 - 1]
)
def test_uvarint_boundaries(n: int) -> None:
    expected = bytearray()
    m = n
    while m >= 0x80:
        expected.append((m & 0x7F) | 0x80)
        m >>= 7
    expected.append(m)
    assert _codec.uvarint(n) == expected
    assert _codec.read_uvarint(memoryview(b"\x00" + expected), 1) == (n, 1 + len(expected))


def test_six_byte_uvarint_is_refused() -> None:
    with pytest.raises(ProtocolError):
        _codec.read_uvarint(memoryview(b"\xff\xff\xff\xff\xff\x01"), 0)


def test_unknown_tags_after_a_fixed_tail_survive() -> None:
    # the partition ends with fixed fields in Fetch v12: with no tags they go out
    # with the zero count in one pack, with tags the general path runs
    p = FetchResponse.AbortedTransaction(
        producer_id=5, first_offset=6, unknown_tagged_fields={9: b"zz"}
    )
    part = FetchResponse.PartitionData(
        partition_index=1, aborted_transactions=[p, FetchResponse.AbortedTransaction()]
    )
    resp = FetchResponse(
        responses=[FetchResponse.FetchableTopicResponse(topic="t", partitions=[part])]
    )
    data = join(resp.encode(12))
    back, _ = FetchResponse.decode(memoryview(data), 12)
    assert back == resp
    assert back.responses[0].partitions[0].aborted_transactions[0].unknown_tagged_fields == {
        9: b"zz"
    }
    assert back.responses[0].partitions[0].aborted_transactions[1].unknown_tagged_fields is None


def test_tagged_fields_written_only_when_set() -> None:
    plain = FetchResponse.PartitionData(partition_index=1)
    tagged = FetchResponse.PartitionData(
        partition_index=1,
        current_leader=FetchResponse.LeaderIdAndEpoch(leader_id=4, leader_epoch=2),
    )
    for part, extra in ((plain, 0), (tagged, 1)):
        resp = FetchResponse(
            responses=[FetchResponse.FetchableTopicResponse(topic="t", partitions=[part])]
        )
        data = join(resp.encode(12))
        back, _ = FetchResponse.decode(memoryview(data), 12)
        assert back == resp
        assert (back.responses[0].partitions[0].current_leader.leader_id == 4) == bool(extra)
    assert len(
        join(
            FetchResponse(
                responses=[FetchResponse.FetchableTopicResponse(topic="t", partitions=[tagged])]
            ).encode(12)
        )
    ) > len(
        join(
            FetchResponse(
                responses=[FetchResponse.FetchableTopicResponse(topic="t", partitions=[plain])]
            ).encode(12)
        )
    )


@pytest.mark.parametrize("size", [0, 1, 127, 128, 4095, 4096, 70_000])
def test_record_lengths_round_trip(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    req = ProduceRequest(
        acks=-1,
        timeout_ms=1,
        topic_data=[
            ProduceRequest.TopicProduceData(
                name="p",
                partition_data=[
                    ProduceRequest.PartitionProduceData(index=i, records=payload) for i in range(3)
                ],
            )
        ],
    )
    for version in (3, 9):
        frame = memoryview(join(protocol.encode_request(req, version, 1, "c")))[4:]
        _, body = protocol.decode_request(frame)
        got = [bytes(p.records) for p in body.topic_data[0].partition_data]
        assert got == [payload] * 3
        assert [p.index for p in body.topic_data[0].partition_data] == [0, 1, 2]


def test_truncated_long_string_is_a_protocol_error() -> None:
    req = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name="n" * 300)])
    frame = bytes(join(protocol.encode_request(req, 12, 1, "c")))[4:]
    for cut in (len(frame) - 2, len(frame) - 200, 40):
        with pytest.raises(ProtocolError):
            protocol.decode_request(memoryview(frame[:cut]))
