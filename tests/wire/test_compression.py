"""Compression codecs: round trips, other writers' framings, bomb limits, garbage."""

from __future__ import annotations

import gzip
import os
import struct

import cramjam
import lz4.frame
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka import codec as kp_codec

from wire.compression import CompressionError, compress, decompress

CODECS = [1, 2, 3, 4]
PAYLOADS = [b"", b"x", os.urandom(100_000), b"abcdefgh" * 200_000]


@pytest.mark.parametrize("codec", [0, *CODECS])
@pytest.mark.parametrize("payload", PAYLOADS, ids=["empty", "one", "random", "repetitive"])
def test_round_trip(codec: int, payload: bytes) -> None:
    packed = compress(codec, payload)
    assert decompress(codec, packed) == payload
    assert decompress(codec, memoryview(packed)) == payload


def test_gzip_is_a_gzip_stream_and_multi_member_reads() -> None:
    packed = compress(1, b"hello")
    assert gzip.decompress(packed) == b"hello"
    assert decompress(1, gzip.compress(b"ab") + gzip.compress(b"cd")) == b"abcd"
    assert decompress(1, kp_codec.gzip_encode(b"from kafka-python")) == b"from kafka-python"


def test_snappy_writes_xerial_framing_like_java() -> None:
    payload = os.urandom(1000) * 100  # 100 KB: several 32 KiB blocks
    packed = compress(2, payload)
    magic, version, compat = struct.unpack_from(">8sii", packed)
    assert (magic, version, compat) == (b"\x82SNAPPY\x00", 1, 1)
    (first_block,) = struct.unpack_from(">i", packed, 16)
    assert len(bytes(cramjam.snappy.decompress_raw(packed[20 : 20 + first_block]))) == 32 * 1024
    assert kp_codec.snappy_decode(packed) == payload


def test_snappy_concatenated_xerial_streams() -> None:
    assert decompress(2, compress(2, b"first ") + compress(2, b"second")) == b"first second"


@pytest.mark.parametrize("xerial", [True, False])
def test_snappy_reads_xerial_and_raw(xerial: bool) -> None:
    payload = b"some snappy data " * 5000
    packed = kp_codec.snappy_encode(payload, xerial_compatible=xerial)
    assert decompress(2, packed) == payload


def test_lz4_frame_flags_and_other_writers() -> None:
    payload = b"lz4 " * 50_000
    packed = compress(3, payload)
    assert packed[:4] == b"\x04\x22\x4d\x18"
    flg, bd = packed[4], packed[5]
    assert flg >> 6 == 1  # frame version 01
    assert flg & 0x20  # independent blocks
    assert not flg & 0x08  # no content size
    assert (bd >> 4) & 0x7 == 4  # 64 KiB blocks
    assert lz4.frame.decompress(packed) == payload
    assert kp_codec.lz4_decode(packed) == payload
    assert decompress(3, kp_codec.lz4_encode(payload)) == payload
    linked = lz4.frame.compress(payload, block_linked=True, content_checksum=True, store_size=True)
    assert decompress(3, linked) == payload


def test_zstd_without_content_size_and_several_frames() -> None:
    payload = b"zstd stream " * 30_000
    cobj = zstandard.ZstdCompressor().compressobj()
    streamed = cobj.compress(payload) + cobj.flush()
    assert zstandard.get_frame_parameters(streamed).content_size == zstandard.CONTENTSIZE_UNKNOWN
    assert decompress(4, streamed) == payload
    two = zstandard.ZstdCompressor().compress(b"ab") + zstandard.ZstdCompressor().compress(b"cd")
    assert decompress(4, two) == b"abcd"
    assert kp_codec.zstd_decode(compress(4, payload)) == payload


@pytest.mark.parametrize("codec", [0, *CODECS])
def test_output_limit(codec: int) -> None:
    payload = b"\x00" * 2_000_000
    packed = compress(codec, payload)
    assert decompress(codec, packed, max_output_size=2_000_000) == payload
    with pytest.raises(CompressionError, match="exceeds the limit"):
        decompress(codec, packed, max_output_size=1_999_999)


def test_raw_snappy_declared_length_checked_before_decompressing() -> None:
    # A raw block that claims 1 GiB: refused from its length prefix alone.
    bogus = bytes([0x80, 0x80, 0x80, 0x80, 0x04]) + b"\x00" * 10
    with pytest.raises(CompressionError, match="exceeds the limit"):
        decompress(2, bogus, max_output_size=1 << 20)


def test_unknown_codec() -> None:
    with pytest.raises(CompressionError):
        compress(5, b"x")
    with pytest.raises(CompressionError):
        decompress(7, b"x")


@pytest.mark.parametrize("codec", CODECS)
def test_truncated_input_is_an_error(codec: int) -> None:
    packed = compress(codec, os.urandom(5000))
    with pytest.raises(CompressionError):
        decompress(codec, packed[: len(packed) // 2])


@settings(max_examples=200, deadline=None)
@given(codec=st.sampled_from(CODECS), data=st.binary(max_size=300), cut=st.integers(0, 400))
def test_garbage_raises_only_compression_error(codec: int, data: bytes, cut: int) -> None:
    valid = compress(codec, b"payload " * 50)
    for blob in (data, valid[:cut] + data, valid + data):
        try:
            out = decompress(codec, blob, max_output_size=1 << 16)
        except CompressionError:
            continue
        assert len(out) <= 1 << 16
