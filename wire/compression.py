"""The four record-batch compression codecs, as Kafka clients write them.

Codec ids are the batch attribute values: 1 gzip, 2 snappy, 3 lz4, 4 zstd.

* gzip: a gzip stream (Java's ``GZIPOutputStream``); several members are accepted.
* snappy: Java clients and librdkafka write the *xerial* framing (magic header,
  then length-prefixed raw snappy blocks); some clients write one raw snappy block.
  Both are read; we write xerial framing with 32 KiB blocks like the Java client.
* lz4: the LZ4 frame format with a correct header checksum (KIP-57); written with
  64 KiB independent blocks and no content size, which every Kafka reader accepts.
* zstd: zstd frames, with or without the content size (streaming producers omit
  it), decompressed incrementally; several frames are accepted.

Every ``decompress`` takes ``max_output_size`` and raises ``CompressionError``
rather than produce more, so a small hostile batch cannot exhaust memory.
"""

from __future__ import annotations

import gzip as _gzip
import struct
import zlib

import cramjam
import lz4.frame as _lz4frame
import zstandard as _zstd

NONE = 0
GZIP = 1
SNAPPY = 2
LZ4 = 3
ZSTD = 4

CODEC_NAMES = {NONE: "none", GZIP: "gzip", SNAPPY: "snappy", LZ4: "lz4", ZSTD: "zstd"}

DEFAULT_MAX_OUTPUT_SIZE = 256 * 1024 * 1024

_XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER = struct.Struct(">8sii")
_XERIAL_BLOCK = 32 * 1024
_INT32 = struct.Struct(">i")
_CHUNK = 64 * 1024

Bytes = bytes | bytearray | memoryview


class CompressionError(Exception):
    """Compressed data is malformed, uses an unknown codec, or expands past the limit."""


def _too_big(limit: int) -> CompressionError:
    return CompressionError(f"decompressed data exceeds the limit of {limit} bytes")


# ---- gzip ---------------------------------------------------------------------------


def _gzip_compress(data: Bytes) -> bytes:
    # mtime=0 keeps output deterministic; level 6 is Java's Deflater default.
    return _gzip.compress(bytes(data), compresslevel=6, mtime=0)


def _gzip_decompress(data: Bytes, limit: int) -> bytes:
    out = bytearray()
    rest = bytes(data)
    while True:
        d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        chunk = rest
        while True:
            piece = d.decompress(chunk, limit + 1 - len(out))
            out += piece
            if len(out) > limit:
                raise _too_big(limit)
            chunk = d.unconsumed_tail
            if d.eof or not chunk:
                break
        if not d.eof:
            # Flush whatever is buffered; a truncated stream is an error.
            raise CompressionError("gzip stream is truncated")
        rest = d.unused_data
        if not rest:
            return bytes(out)
        if rest[:2] != b"\x1f\x8b":
            # Trailing padding after the last member (seen from some writers): ignore zeros only.
            if rest.strip(b"\x00"):
                raise CompressionError("trailing garbage after gzip stream")
            return bytes(out)


# ---- snappy -------------------------------------------------------------------------


def _snappy_raw_length(block: Bytes) -> int:
    """The uncompressed length a raw snappy block declares (a varint prefix)."""
    result = 0
    shift = 0
    for i in range(min(len(block), 5)):
        b = block[i]
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result
        shift += 7
    raise CompressionError("invalid snappy block length prefix")


def _snappy_raw_decompress(block: Bytes, limit: int) -> bytes:
    if _snappy_raw_length(block) > limit:
        raise _too_big(limit)
    return bytes(cramjam.snappy.decompress_raw(bytes(block)))


def _snappy_compress(data: Bytes) -> bytes:
    view = memoryview(data).cast("B")
    out = bytearray(_XERIAL_HEADER.pack(_XERIAL_MAGIC, 1, 1))
    for start in range(0, max(len(view), 1), _XERIAL_BLOCK):
        block = bytes(cramjam.snappy.compress_raw(bytes(view[start : start + _XERIAL_BLOCK])))
        out += _INT32.pack(len(block))
        out += block
    return bytes(out)


def _snappy_decompress(data: Bytes, limit: int) -> bytes:
    view = memoryview(data).cast("B")
    if len(view) >= 16 and view[:8] == _XERIAL_MAGIC:
        out = bytearray()
        pos = 16
        end = len(view)
        while pos < end:
            if view[pos : pos + 8] == _XERIAL_MAGIC and end - pos >= 16:
                # snappy-java accepts concatenated streams, each with its own header.
                pos += 16
                continue
            if end - pos < 4:
                raise CompressionError("truncated xerial snappy block length")
            (size,) = _INT32.unpack_from(view, pos)
            pos += 4
            if size < 0 or size > end - pos:
                raise CompressionError(f"invalid xerial snappy block length {size}")
            out += _snappy_raw_decompress(view[pos : pos + size], limit - len(out))
            pos += size
        return bytes(out)
    return _snappy_raw_decompress(view, limit)


# ---- lz4 ----------------------------------------------------------------------------


def _lz4_compress(data: Bytes) -> bytes:
    return _lz4frame.compress(
        bytes(data),
        block_size=_lz4frame.BLOCKSIZE_MAX64KB,
        block_linked=False,
        content_checksum=False,
        store_size=False,
    )


def _lz4_decompress(data: Bytes, limit: int) -> bytes:
    out = bytearray()
    rest = bytes(data)
    while rest:
        d = _lz4frame.LZ4FrameDecompressor()
        chunk = rest
        while True:
            piece = d.decompress(chunk, max_length=min(_CHUNK, limit + 1 - len(out)))
            out += piece
            if len(out) > limit:
                raise _too_big(limit)
            if d.eof:
                break
            if d.needs_input:
                raise CompressionError("lz4 frame is truncated")
            chunk = b""
        rest = d.unused_data
    return bytes(out)


# ---- zstd ---------------------------------------------------------------------------

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ZSTD_STEP = 1024


def _zstd_compress(data: Bytes) -> bytes:
    # Level 3 is the default of the Java client (zstd-jni).
    return _zstd.ZstdCompressor(level=3).compress(bytes(data))


def _zstd_decompress(data: Bytes, limit: int) -> bytes:
    raw = bytes(data)
    out = bytearray()
    dctx = _zstd.ZstdDecompressor()
    while raw:
        if raw[:4] != _ZSTD_MAGIC:
            raise CompressionError("not a zstd frame")
        d = dctx.decompressobj()
        pos = 0
        # Small input steps bound how far one call can overshoot the limit: a
        # 4-byte RLE block yields at most 128 KiB, so 1 KiB of input at most 32 MiB.
        while pos < len(raw) and not d.eof:
            out += d.decompress(raw[pos : pos + _ZSTD_STEP])
            pos += _ZSTD_STEP
            if len(out) > limit:
                raise _too_big(limit)
        if not d.eof:
            raise CompressionError("zstd frame is truncated")
        raw = d.unused_data + raw[pos:]
    return bytes(out)


# ---- entry points -------------------------------------------------------------------

_COMPRESSORS = {
    GZIP: _gzip_compress,
    SNAPPY: _snappy_compress,
    LZ4: _lz4_compress,
    ZSTD: _zstd_compress,
}
_DECOMPRESSORS = {
    GZIP: _gzip_decompress,
    SNAPPY: _snappy_decompress,
    LZ4: _lz4_decompress,
    ZSTD: _zstd_decompress,
}


def compress(codec: int, data: Bytes) -> bytes:
    """Compress ``data`` with ``codec`` (0 returns the bytes unchanged)."""
    if codec == NONE:
        return bytes(data)
    try:
        fn = _COMPRESSORS[codec]
    except KeyError:
        raise CompressionError(f"unknown compression codec {codec}") from None
    return fn(data)


def decompress(codec: int, data: Bytes, max_output_size: int = DEFAULT_MAX_OUTPUT_SIZE) -> bytes:
    """Decompress ``data``; ``CompressionError`` if malformed or larger than ``max_output_size``."""
    if codec == NONE:
        if len(data) > max_output_size:
            raise _too_big(max_output_size)
        return bytes(data)
    try:
        fn = _DECOMPRESSORS[codec]
    except KeyError:
        raise CompressionError(f"unknown compression codec {codec}") from None
    try:
        return fn(data, max_output_size)
    except CompressionError:
        raise
    except Exception as exc:  # each library has its own error types; callers need one
        raise CompressionError(f"invalid {CODEC_NAMES[codec]} data: {exc}") from None
