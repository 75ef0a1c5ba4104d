"""The produce validator's cheap structural walk agrees with a plain varint decoder."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.config import LogConfig
from storage.errors import StorageError
from storage.validator import validate_and_assign_offsets, walk_uncompressed
from wire.errors import ErrorCode
from wire.records import (
    COMPRESSION_GZIP,
    COMPRESSION_NONE,
    TIMESTAMP_CREATE_TIME,
    InvalidRecordError,
    SimpleRecord,
    build_batch,
    compute_crc,
    parse_header,
    set_max_timestamp,
    verify_crc,
)


def _tiles(data: bytes, count: int) -> bool:
    """Reference: do ``count`` zigzag-varint-prefixed records exactly fill ``data[61:]``?"""
    p = 61
    for _ in range(count):
        raw = shift = 0
        while True:
            if p >= len(data) or shift > 28:
                return False
            b = data[p]
            p += 1
            raw |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        length = (raw >> 1) ^ -(raw & 1)
        if length <= 0:
            return False
        p += length
        if p > len(data):
            return False
    return p == len(data)


@settings(max_examples=150, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 9000), min_size=1, max_size=8),
    flips=st.lists(st.tuples(st.integers(61, 100_000), st.integers(1, 255)), max_size=2),
    count_delta=st.sampled_from([0, 0, 0, 1, -1]),
)
def test_walk_matches_reference(sizes, flips, count_delta) -> None:
    data = bytearray(build_batch([SimpleRecord(b"k", b"v" * n, timestamp=5) for n in sizes]))
    for where, xor in flips:
        data[where % len(data) if where % len(data) >= 61 else 61] ^= xor
    count = len(sizes) + count_delta
    struct.pack_into(">i", data, 57, count)
    header = parse_header(data)
    expected = _tiles(bytes(data), count)
    try:
        walk_uncompressed(memoryview(data), 0, header)
        got = True
    except InvalidRecordError:
        got = False
    assert got == expected


def test_mangled_length_is_invalid_record() -> None:
    data = bytearray(build_batch([SimpleRecord(b"k", b"v" * 10, timestamp=5)] * 3))
    data[61] = 0x7F  # first record's length prefix: negative
    struct.pack_into(">I", data, 17, compute_crc(data, 0, len(data)))
    with pytest.raises(StorageError) as e:
        validate_and_assign_offsets(
            data, config=LogConfig(), next_offset=0, leader_epoch=0, now_ms=5, origin="client"
        )
    assert e.value.error_code == ErrorCode.INVALID_RECORD


@settings(max_examples=120, deadline=None)
@given(
    runs=st.lists(st.tuples(st.integers(0, 300), st.integers(1, 400)), min_size=1, max_size=4),
    flips=st.lists(st.tuples(st.integers(61, 200_000), st.integers(1, 255)), max_size=2),
    count_delta=st.sampled_from([0, 0, 0, 1, -1, -5]),
)
def test_walk_over_runs_of_equal_records_matches_reference(runs, flips, count_delta) -> None:
    # Long runs of equal-size records take the strided fast path; flipped bytes land
    # inside a run as often as not, and must be caught exactly as the plain walk does.
    sizes = [n for n, repeat in runs for _ in range(repeat)]
    data = bytearray(build_batch([SimpleRecord(None, b"v" * n, timestamp=5) for n in sizes]))
    for where, xor in flips:
        data[max(61, where % len(data))] ^= xor
    count = max(0, len(sizes) + count_delta)
    struct.pack_into(">i", data, 57, count)
    header = parse_header(data)
    expected = _tiles(bytes(data), count)
    try:
        walk_uncompressed(memoryview(data), 0, header)
        got = True
    except InvalidRecordError:
        got = False
    assert got == expected


@pytest.mark.parametrize("value_size", [10, 100, 1000, 20_000])
def test_walk_detects_a_record_of_another_size_deep_in_a_run(value_size) -> None:
    records = [SimpleRecord(None, b"x" * value_size, timestamp=5)] * 300
    good = bytearray(build_batch(records))
    walk_uncompressed(memoryview(good), 0, parse_header(good))
    # Shorten record 217 by one byte and lengthen record 218 by one: the batch size
    # and count still agree, only the record boundaries do not.
    odd = list(records)
    odd[217] = SimpleRecord(None, b"x" * (value_size - 1), timestamp=5)
    odd[218] = SimpleRecord(None, b"x" * (value_size + 1), timestamp=5)
    shifted = bytearray(build_batch(odd))
    assert len(shifted) == len(good)
    walk_uncompressed(memoryview(shifted), 0, parse_header(shifted))  # still tiles
    # Now corrupt one length prefix in the middle of the run.
    pos = 61
    for _ in range(150):
        b = shifted[pos]
        raw, k = b & 0x7F, 1
        while b & 0x80:
            b = shifted[pos + k]
            raw |= (b & 0x7F) << (7 * k)
            k += 1
        pos += k + (raw >> 1)
    shifted[pos] ^= 0x02  # +-1 in the zigzag length
    with pytest.raises(InvalidRecordError):
        walk_uncompressed(memoryview(shifted), 0, parse_header(shifted))


@pytest.mark.parametrize("record_index", [5, 70, 700, 1999])
@pytest.mark.parametrize("value_size", [150, 1000])
def test_walk_checks_every_prefix_byte_of_long_runs(value_size, record_index) -> None:
    # Two-byte length prefixes: change only the second byte of one record's prefix
    # (its length grows by 64). The batch keeps its size and count; only that prefix
    # is wrong, and a walk that compared first bytes only would tile the batch.
    records = [SimpleRecord(None, b"x" * value_size, timestamp=5)] * 2000
    data = bytearray(build_batch(records))
    pos = 61
    for _ in range(record_index):
        raw = (data[pos] & 0x7F) | (data[pos + 1] << 7)
        pos += 2 + (raw >> 1)
    assert data[pos] & 0x80 and not data[pos + 1] & 0x80
    data[pos + 1] += 1  # raw value +128: length +64
    with pytest.raises(InvalidRecordError):
        walk_uncompressed(memoryview(data), 0, parse_header(data))


@pytest.mark.parametrize("compression", [COMPRESSION_NONE, COMPRESSION_GZIP])
def test_records_without_timestamps_get_the_records_max_as_kafka_stores_it(compression) -> None:
    # librdkafka's shape for messages produced with timestamp -1: first timestamp -1,
    # records without timestamps, but MaxTimestamp 0 in the header. Kafka recomputes
    # the max from the records (-1) and stores that, so retention goes by the file's
    # time; keeping the header's 0 would date the batch to 1970.
    records = [SimpleRecord(None, b"v%d" % i, timestamp=-1) for i in range(3)]
    data = bytearray(build_batch(records, compression=compression))
    set_max_timestamp(data, 0, TIMESTAMP_CREATE_TIME, 0)
    assert parse_header(data).base_timestamp == -1 and parse_header(data).max_timestamp == 0
    view, result = validate_and_assign_offsets(
        data, config=LogConfig(), next_offset=40, leader_epoch=3, now_ms=1_700_000_000_000, origin="client"
    )
    stored = parse_header(view)
    assert stored.max_timestamp == -1 and stored.timestamp_type == TIMESTAMP_CREATE_TIME
    assert verify_crc(view, 0, stored) and stored.base_offset == 40
    assert result.max_timestamp == -1 and result.offset_of_max_timestamp == -1


def test_a_max_timestamp_below_the_first_is_replaced_by_the_records_max() -> None:
    now = 1_700_000_000_000
    records = [SimpleRecord(None, b"x", timestamp=now - 10 + i) for i in range(5)]
    data = bytearray(build_batch(records))
    set_max_timestamp(data, 0, TIMESTAMP_CREATE_TIME, 0)
    view, result = validate_and_assign_offsets(
        data, config=LogConfig(), next_offset=0, leader_epoch=0, now_ms=now, origin="client"
    )
    assert parse_header(view).max_timestamp == now - 6 == result.max_timestamp
    assert verify_crc(view, 0, parse_header(view))
