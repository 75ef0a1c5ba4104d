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
from wire.records import InvalidRecordError, SimpleRecord, build_batch, compute_crc, parse_header


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
