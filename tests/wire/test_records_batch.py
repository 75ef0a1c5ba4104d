"""Record batch header, CRC, in-place patches, record iteration and building."""

from __future__ import annotations

import struct

import crc32c
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wire import records as R
from wire.records import (
    BATCH_HEADER_SIZE,
    ControlRecord,
    CorruptRecordError,
    InvalidRecordError,
    LegacyMessageFormatError,
    SimpleRecord,
    build_batch,
    build_control_batch,
    iter_batches,
    iter_records,
    parse_header,
    set_base_offset,
    set_log_append_time,
    set_partition_leader_epoch,
    verify_crc,
)


def _batch(n: int = 3, **kw) -> bytes:
    recs = [
        SimpleRecord(b"k%d" % i, b"value-%d" % i, [("h", b"%d" % i)], 1_000 + i) for i in range(n)
    ]
    return build_batch(recs, **kw)


def test_header_fields_of_built_batch() -> None:
    data = _batch(
        3,
        base_offset=100,
        producer_id=7,
        producer_epoch=2,
        base_sequence=40,
        is_transactional=True,
        partition_leader_epoch=5,
    )
    h = parse_header(data)
    assert h.base_offset == 100
    assert h.batch_length == len(data) - 12
    assert h.size == len(data)
    assert h.partition_leader_epoch == 5
    assert h.magic == 2
    assert h.last_offset_delta == 2
    assert h.last_offset == 102
    assert h.next_offset == 103
    assert h.base_timestamp == 1_000
    assert h.max_timestamp == 1_002
    assert (h.producer_id, h.producer_epoch, h.base_sequence) == (7, 2, 40)
    assert h.last_sequence == 42
    assert h.records_count == 3
    assert h.is_transactional and not h.is_control
    assert h.compression == 0 and h.timestamp_type == 0
    assert verify_crc(data, 0, h)


def test_header_layout_matches_kafka_offsets() -> None:
    data = bytearray(_batch(1))
    h = parse_header(data)
    assert struct.unpack_from(">I", data, 17)[0] == h.crc == crc32c.crc32c(bytes(data[21:]))
    assert data[16] == 2
    assert struct.unpack_from(">i", data, 57)[0] == 1
    assert BATCH_HEADER_SIZE == 61


def test_parse_header_at_position_and_memoryview() -> None:
    data = b"\xff" * 7 + _batch(2)
    h = parse_header(memoryview(data), 7)
    assert h.records_count == 2
    assert verify_crc(memoryview(data), 7, h)


def test_short_header_is_corrupt() -> None:
    data = _batch(1)
    with pytest.raises(CorruptRecordError):
        parse_header(data[:60])
    with pytest.raises(CorruptRecordError):
        parse_header(b"")


@pytest.mark.parametrize("magic", [0, 1])
def test_legacy_magic_is_recognised(magic: int) -> None:
    # A v0/v1 message: offset, size, crc, magic, attributes, [timestamp], key, value.
    body = (
        struct.pack(">bb", magic, 0)
        + (struct.pack(">q", 0) if magic else b"")
        + struct.pack(">ii", -1, 3)
        + b"abc"
    )
    msg = struct.pack(">qiI", 0, len(body) + 4, 0) + body
    with pytest.raises(LegacyMessageFormatError) as info:
        parse_header(msg)
    assert info.value.magic == magic
    assert isinstance(info.value, CorruptRecordError)
    with pytest.raises(LegacyMessageFormatError):
        list(iter_batches(msg))


def test_unknown_magic_is_corrupt() -> None:
    data = bytearray(_batch(1))
    data[16] = 3
    with pytest.raises(CorruptRecordError, match="Invalid magic"):
        parse_header(data)
    with pytest.raises(CorruptRecordError):
        list(iter_batches(data))


def test_iter_batches_several_and_trailing_partial() -> None:
    a, b, c = _batch(1, base_offset=0), _batch(2, base_offset=1), _batch(3, base_offset=3)
    buf = a + b + c
    got = list(iter_batches(buf))
    assert [p for p, _ in got] == [0, len(a), len(a) + len(b)]
    assert [h.base_offset for _, h in got] == [0, 1, 3]
    for cut in (1, 11, 12, 16, 17, 60, 61, len(c) - 1):
        partial = list(iter_batches(a + b + c[:cut]))
        assert [h.base_offset for _, h in partial] == [0, 1], cut
    assert list(iter_batches(b"")) == []
    assert list(iter_batches(memoryview(buf)[: len(a)])) == [(0, got[0][1])]


def test_iter_batches_rejects_tiny_sizes() -> None:
    data = bytearray(_batch(1))
    struct.pack_into(">i", data, 8, 13)
    with pytest.raises(CorruptRecordError, match="minimum record overhead"):
        list(iter_batches(data))
    struct.pack_into(">i", data, 8, 40)  # legal for v0 but too small for a v2 header
    with pytest.raises(CorruptRecordError, match="smaller than the minimum"):
        list(iter_batches(data))
    with pytest.raises(CorruptRecordError, match="largest allowable"):
        list(iter_batches(_batch(5), max_batch_size=20))


def test_crc_detects_any_flipped_byte_in_covered_range() -> None:
    data = _batch(3, compression=0)
    for i in range(21, len(data)):
        mutated = bytearray(data)
        mutated[i] ^= 0x40
        assert not verify_crc(mutated, 0, parse_header(mutated)), i
    with pytest.raises(CorruptRecordError, match="Record is corrupt"):
        mutated = bytearray(data)
        mutated[-1] ^= 1
        R.ensure_valid(mutated, 0, parse_header(mutated))


def test_verify_crc_on_truncated_batch_is_false() -> None:
    data = _batch(2)
    h = parse_header(data)
    assert not verify_crc(data[:-1], 0, h)


def test_patching_offset_and_epoch_keeps_crc() -> None:
    frame = bytearray(b"\x00" * 5 + _batch(4))
    view = memoryview(frame)
    set_base_offset(view, 5, 123_456_789_012)
    set_partition_leader_epoch(view, 5, 77)
    h = parse_header(view, 5)
    assert h.base_offset == 123_456_789_012
    assert h.partition_leader_epoch == 77
    assert verify_crc(view, 5, h)
    assert [r.offset for r in iter_records(view, 5, h)] == [123_456_789_012 + i for i in range(4)]


def test_set_log_append_time_updates_type_max_and_crc() -> None:
    data = bytearray(_batch(3))
    set_log_append_time(data, 0, 9_999)
    h = parse_header(data)
    assert h.timestamp_type == 1
    assert h.max_timestamp == 9_999
    assert h.base_timestamp == 1_000
    assert verify_crc(data, 0, h)
    assert [r.timestamp for r in iter_records(data, 0, h)] == [9_999] * 3


def test_records_round_trip_all_fields() -> None:
    recs = [
        SimpleRecord(None, None, (), 5),
        SimpleRecord(b"", b"", [("", b""), ("x", None)], 3),
        SimpleRecord(b"key", b"v" * 1000, [("h\u00e9", b"\x00\xff")], 2**40),
    ]
    data = build_batch(recs, base_offset=10)
    h = parse_header(data)
    assert h.base_timestamp == 5
    assert h.max_timestamp == 2**40
    out = list(iter_records(data, 0, h))
    assert [(r.key, r.value, r.headers, r.timestamp, r.offset) for r in out] == [
        (None, None, [], 5, 10),
        (b"", b"", [("", b""), ("x", None)], 3, 11),
        (b"key", b"v" * 1000, [("h\u00e9", b"\x00\xff")], 2**40, 12),
    ]
    assert [r.offset_delta for r in out] == [0, 1, 2]
    assert out[1].timestamp_delta == -2
    assert sum(r.size for r in out) == len(data) - BATCH_HEADER_SIZE


@pytest.mark.parametrize("codec", [0, 1, 2, 3, 4])
def test_compressed_round_trip(codec: int) -> None:
    recs = [SimpleRecord(b"k%d" % i, b"payload " * i, (), 50 + i) for i in range(200)]
    data = build_batch(recs, compression=codec)
    h = parse_header(data)
    assert h.compression == codec
    assert verify_crc(data, 0, h)
    assert [(r.key, r.value, r.timestamp) for r in iter_records(data, 0, h)] == [
        (r.key, r.value, r.timestamp) for r in recs
    ]


def test_build_batch_rejects_empty() -> None:
    with pytest.raises(ValueError):
        build_batch([])


def test_log_append_time_build() -> None:
    data = build_batch([SimpleRecord(b"a", b"b", (), 5)], timestamp_type=1, base_timestamp=77)
    h = parse_header(data)
    assert h.timestamp_type == 1 and h.max_timestamp == 77
    assert [r.timestamp for r in iter_records(data, 0, h)] == [77]


@pytest.mark.parametrize("commit", [True, False])
def test_control_batch(commit: bool) -> None:
    data = build_control_batch(
        commit, 42, 3, 9, 1_700_000_000_000, base_offset=8, partition_leader_epoch=2
    )
    h = parse_header(data)
    assert h.is_control and h.is_transactional
    assert (h.producer_id, h.producer_epoch, h.base_sequence) == (42, 3, -1)
    assert (h.base_offset, h.partition_leader_epoch, h.records_count) == (8, 2, 1)
    assert h.max_timestamp == h.base_timestamp == 1_700_000_000_000
    assert verify_crc(data, 0, h)
    (rec,) = iter_records(data, 0, h)
    assert rec.key == struct.pack(">hh", 0, 1 if commit else 0)
    assert rec.value == struct.pack(">hi", 0, 9)
    marker = ControlRecord.from_record(rec)
    assert marker.type == (1 if commit else 0)
    assert marker.is_commit is commit and marker.is_abort is (not commit)
    assert marker.coordinator_epoch == 9


def test_control_record_malformed() -> None:
    with pytest.raises(InvalidRecordError):
        ControlRecord.from_record(R.Record(0, 0, b"\x00", None, []))
    with pytest.raises(InvalidRecordError):
        ControlRecord.from_record(R.Record(0, 0, struct.pack(">hh", 0, 1), b"\x00", []))
    leader_change = ControlRecord.from_record(R.Record(0, 0, struct.pack(">hh", 0, 2), b"xyz", []))
    assert leader_change.type == 2 and leader_change.coordinator_epoch is None


# ---- malformed records: Kafka-like InvalidRecordError -----------------------------------


def _with_section(section: bytes, count: int, compression: int = 0) -> bytearray:
    """A batch with a hand-made records section and a correct CRC."""
    template = bytearray(_batch(1))
    payload = section if compression == 0 else R._compression.compress(compression, section)
    data = template[:BATCH_HEADER_SIZE] + payload
    struct.pack_into(">i", data, 8, len(data) - 12)
    struct.pack_into(">h", data, 21, compression)
    struct.pack_into(">i", data, 57, count)
    struct.pack_into(">I", data, 17, crc32c.crc32c(bytes(data[21:])))
    return data


def _record_bytes(key: bytes = b"k", value: bytes = b"v") -> bytes:
    out = bytearray()
    R.encode_record(out, 0, 0, key, value, ())
    return bytes(out)


def test_count_larger_than_records_is_invalid() -> None:
    data = _with_section(_record_bytes(), 2)
    with pytest.raises(InvalidRecordError, match="premature EOF"):
        list(iter_records(data, 0, parse_header(data)))


def test_trailing_bytes_after_last_record_is_invalid() -> None:
    data = _with_section(_record_bytes() + b"\x00\x00", 1)
    with pytest.raises(InvalidRecordError, match="still remaining"):
        list(iter_records(data, 0, parse_header(data)))


def test_negative_count_is_invalid() -> None:
    data = _with_section(_record_bytes(), -1)
    with pytest.raises(InvalidRecordError, match="invalid record count -1"):
        list(iter_records(data, 0, parse_header(data)))


def test_record_length_beyond_section_is_invalid() -> None:
    rec = bytearray(_record_bytes())
    rec[0] = 0x7E  # zigzag 63: claims more bytes than exist
    data = _with_section(bytes(rec), 1)
    with pytest.raises(InvalidRecordError, match="Invalid record size"):
        list(iter_records(data, 0, parse_header(data)))


def test_record_body_shorter_than_declared_is_invalid() -> None:
    body = _record_bytes()[1:] + b"\x00"  # one spare byte inside the declared body
    rec = bytes([len(body) << 1]) + body
    data = _with_section(rec, 1)
    with pytest.raises(InvalidRecordError, match="expected to read"):
        list(iter_records(data, 0, parse_header(data)))


def test_key_longer_than_body_is_invalid() -> None:
    body = bytearray(_record_bytes(b"kk", b"v")[1:])
    body[3] = 0x20  # key length 16 > body
    rec = bytes([len(body) << 1]) + bytes(body)
    data = _with_section(rec, 1)
    with pytest.raises(InvalidRecordError, match="invalid record structure"):
        list(iter_records(data, 0, parse_header(data)))


def test_negative_header_count_is_invalid() -> None:
    body = bytearray(_record_bytes()[1:])
    body[-1] = 0x03  # zigzag -2
    rec = bytes([len(body) << 1]) + bytes(body)
    data = _with_section(rec, 1)
    with pytest.raises(InvalidRecordError, match="number of record headers -2"):
        list(iter_records(data, 0, parse_header(data)))


def test_premature_eof_in_compressed_batch() -> None:
    data = _with_section(_record_bytes(), 3, compression=1)
    with pytest.raises(InvalidRecordError, match="premature EOF"):
        list(iter_records(data, 0, parse_header(data)))


def test_garbage_compressed_section_is_invalid() -> None:
    data = _with_section(b"", 1)
    data += b"not gzip at all"
    struct.pack_into(">i", data, 8, len(data) - 12)
    struct.pack_into(">h", data, 21, 1)
    with pytest.raises(InvalidRecordError, match="decompress"):
        list(iter_records(data, 0, parse_header(data)))


def test_decompression_bomb_is_refused() -> None:
    data = build_batch([SimpleRecord(None, b"\x00" * 1_000_000)], compression=4)
    assert len(data) < 1_000
    with pytest.raises(InvalidRecordError, match="exceeds the limit"):
        list(iter_records(data, 0, parse_header(data), max_decompressed_size=100_000))


# ---- property-based round trip ----------------------------------------------------------

_bytes_or_none = st.none() | st.binary(max_size=300)
_records = st.lists(
    st.builds(
        SimpleRecord,
        _bytes_or_none,
        _bytes_or_none,
        st.lists(st.tuples(st.text(max_size=10), _bytes_or_none), max_size=3),
        st.integers(min_value=-1, max_value=2**45),
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=100, deadline=None)
@given(
    recs=_records,
    codec=st.sampled_from([0, 1, 2, 3, 4]),
    base_offset=st.integers(min_value=0, max_value=2**62),
    pid=st.integers(min_value=-1, max_value=2**62),
)
def test_property_round_trip(
    recs: list[SimpleRecord], codec: int, base_offset: int, pid: int
) -> None:
    data = build_batch(recs, base_offset=base_offset, compression=codec, producer_id=pid)
    ((pos, h),) = list(iter_batches(data))
    assert pos == 0 and h.size == len(data)
    assert verify_crc(data, 0, h)
    assert h.producer_id == pid and h.records_count == len(recs)
    assert h.max_timestamp == max(r.timestamp for r in recs)
    out = list(iter_records(data, 0, h))
    assert [
        (r.key, r.value, [tuple(x) for x in r.headers], r.timestamp, r.offset) for r in out
    ] == [
        (
            None if r.key is None else bytes(r.key),
            None if r.value is None else bytes(r.value),
            [tuple(x) for x in r.headers],
            r.timestamp,
            base_offset + i,
        )
        for i, r in enumerate(recs)
    ]


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=400), seed_batch=st.integers(min_value=0, max_value=3))
def test_garbage_only_raises_record_errors(data: bytes, seed_batch: int) -> None:
    # Random bytes, alone or spliced into a valid batch, must only produce our errors.
    base = bytearray(_batch(seed_batch + 1, compression=seed_batch))
    for buf in (data, base[: len(base) // 2] + data, base[:BATCH_HEADER_SIZE] + data):
        try:
            for pos, h in iter_batches(buf):
                verify_crc(buf, pos, h)
                list(iter_records(buf, pos, h, max_decompressed_size=1 << 20))
        except (CorruptRecordError, InvalidRecordError):
            pass


def test_set_max_timestamp_both_types() -> None:
    data = bytearray(_batch(2))
    R.set_max_timestamp(data, 0, 1, 5_000)
    h = parse_header(data)
    assert (h.timestamp_type, h.max_timestamp) == (1, 5_000) and verify_crc(data, 0, h)
    R.set_max_timestamp(data, 0, 0, 1_001)
    h = parse_header(data)
    assert (h.timestamp_type, h.max_timestamp) == (0, 1_001) and verify_crc(data, 0, h)
    assert [r.timestamp for r in iter_records(data, 0, h)] == [1_000, 1_001]


def test_invalid_utf8_header_key_is_accepted_like_java() -> None:
    rec = bytearray()
    R.encode_record(rec, 0, 0, b"k", b"v", [("ab", b"x")])
    body = rec.replace(b"\x04ab", b"\x04\xff\xfe")
    data = _with_section(bytes(body), 1)
    (out,) = iter_records(data, 0, parse_header(data))
    assert out.headers == [("\ufffd\ufffd", b"x")]
