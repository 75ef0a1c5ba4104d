"""Fuzzing the frame reader: random and mutated streams only ever raise ProtocolError,
and memory stays bounded by the frame limit whatever sizes the stream claims."""

from __future__ import annotations

import struct
import tracemalloc

from hypothesis import example, given, settings
from hypothesis import strategies as st

from wire.exceptions import ProtocolError
from wire.framing import FrameReader

LIMIT = 256 * 1024

_frames = st.lists(st.binary(max_size=2_000), max_size=8)
_chunks = st.lists(st.integers(min_value=1, max_value=5_000), min_size=1, max_size=30)


def _stream(frames: list[bytes]) -> bytes:
    return b"".join(struct.pack(">i", len(f)) + f for f in frames)


def _run(reader: FrameReader, data: bytes, chunks: list[int], recv_into: bool) -> list[bytes]:
    out: list[bytes] = []
    pos = 0
    i = 0
    while pos < len(data):
        n = chunks[i % len(chunks)]
        i += 1
        if recv_into:
            region = reader.get_buffer()
            n = min(n, len(region), len(data) - pos)
            region[:n] = data[pos : pos + n]
            del region
            reader.commit(n)
        else:
            reader.feed(data[pos : pos + n])
            n = min(n, len(data) - pos)
        pos += n
        while (frame := reader.next_frame()) is not None:
            assert frame.nbytes <= reader.max_frame_size
            out.append(bytes(frame))
    return out


@settings(max_examples=150, deadline=None)
@given(frames=_frames, chunks=_chunks, recv_into=st.booleans())
def test_valid_streams_any_chunking(
    frames: list[bytes], chunks: list[int], recv_into: bool
) -> None:
    reader = FrameReader(max_frame_size=LIMIT)
    assert _run(reader, _stream(frames), chunks, recv_into) == frames
    assert reader.buffered == 0


@settings(max_examples=150, deadline=None)
@given(
    frames=_frames,
    chunks=_chunks,
    recv_into=st.booleans(),
    mutations=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=6),
    junk=st.binary(max_size=64),
)
def test_mutated_streams_raise_only_protocol_error(
    frames: list[bytes],
    chunks: list[int],
    recv_into: bool,
    mutations: list[tuple[int, int]],
    junk: bytes,
) -> None:
    data = bytearray(_stream(frames) + junk)
    for where, value in mutations:
        if data:
            data[where % len(data)] = value
    reader = FrameReader(max_frame_size=LIMIT)
    try:
        _run(reader, bytes(data), chunks, recv_into)
    except ProtocolError:
        pass


def _claims_bad_size(data: bytes) -> bool:
    """Whether a frame of ``data`` whose 4-byte size arrived claims one out of range."""
    pos = 0
    while pos + 4 <= len(data):
        size = struct.unpack_from(">i", data, pos)[0]
        if size < 0 or size > LIMIT:
            return True
        pos += 4 + size
    return False


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(min_value=-(2**31), max_value=2**31 - 1),
    body=st.binary(max_size=3_000),
    recv_into=st.booleans(),
)
# An empty first frame: the next size comes from the body (negative, then too large).
@example(size=0, body=b"\x80\x00\x00\x00", recv_into=False)
@example(size=0, body=b"\x00\x04\x00\x01", recv_into=True)
def test_claimed_sizes_never_drive_allocation(size: int, body: bytes, recv_into: bool) -> None:
    data = struct.pack(">i", size) + body
    reader = FrameReader(max_frame_size=LIMIT)
    tracemalloc.start()
    try:
        _run(reader, data, [1_000], recv_into)
        if not recv_into:
            reader.get_buffer()
    except ProtocolError:
        # The body may hold further frames, each with a size of its own.
        assert _claims_bad_size(data)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    # At most one frame of the limit plus a receive buffer and bookkeeping.
    assert peak < LIMIT + 256 * 1024


def test_random_bytes_streams() -> None:
    import random

    rng = random.Random(1234)
    for _ in range(300):
        data = rng.randbytes(rng.randint(0, 3_000))
        reader = FrameReader(max_frame_size=LIMIT)
        try:
            _run(reader, data, [rng.randint(1, 700)], rng.random() < 0.5)
        except ProtocolError:
            continue


@settings(max_examples=100, deadline=None)
@given(
    sizes=st.lists(st.sampled_from([0, 1, 50, 3_000, 20_000, 65_536, 70_000, 150_000]),
                   min_size=1, max_size=25),
    keep=st.lists(st.booleans(), min_size=1, max_size=25),
    release=st.lists(st.integers(min_value=-3, max_value=5), max_size=10),
    chunk=st.sampled_from([7, 1_000, 16_384, 65_536, 1 << 20]),
)
def test_frames_held_by_the_caller_stay_intact(sizes: list[int], keep: list[bool], release: list[int],
                                               chunk: int) -> None:
    """Whatever the caller holds and releases, a view it holds never changes, while
    the reader recycles the buffers nobody refers to any more."""
    reader = FrameReader(max_frame_size=LIMIT)
    held: list[tuple[bytes, memoryview]] = []
    for i, size in enumerate(sizes):
        body = bytes([(i * 37 + j) % 256 for j in range(min(size, 64))]) * (size // 64 + 1)
        body = body[:size]
        data = _stream([body])
        pos = 0
        got = []
        while pos < len(data):
            region = reader.get_buffer()
            n = min(len(region), chunk, len(data) - pos)
            region[:n] = data[pos : pos + n]
            del region
            reader.commit(n)
            pos += n
            while (frame := reader.next_frame()) is not None:
                got.append(frame)
        assert len(got) == 1 and bytes(got[0]) == body
        if keep[i % len(keep)]:
            held.append((body, got[0]))
        del got, frame
        victim = release[i % len(release)] if release else -1
        if victim >= 0 and held:
            del held[victim % len(held)]
        for expected, view in held:
            assert bytes(view) == expected
