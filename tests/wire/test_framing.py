"""FrameReader: any chunking, recv_into style, limits checked before allocation."""

from __future__ import annotations

import random
import struct

import pytest

from wire.exceptions import ProtocolError
from wire.framing import FrameReader

FRAMES = [b"", b"a", b"hello world" * 3, bytes(range(256)) * 300, b"z" * 200_000, b"tail"]


def _stream(frames: list[bytes]) -> bytes:
    return b"".join(struct.pack(">i", len(f)) + f for f in frames)


def _drain(reader: FrameReader) -> list[bytes]:
    out = []
    while (frame := reader.next_frame()) is not None:
        out.append(bytes(frame))
    return out


def _feed_in_chunks(reader: FrameReader, data: bytes, sizes) -> list[bytes]:
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        n = next(sizes)
        reader.feed(data[pos : pos + n])
        pos += n
        out += _drain(reader)
    return out


def test_whole_stream_at_once() -> None:
    reader = FrameReader()
    reader.feed(_stream(FRAMES))
    assert _drain(reader) == FRAMES
    assert reader.buffered == 0 and not reader.in_frame


def test_byte_at_a_time() -> None:
    frames = FRAMES[:4] + [b"q" * 70_000]
    reader = FrameReader()
    data = _stream(frames)
    out = []
    for i in range(len(data)):
        reader.feed(data[i : i + 1])
        out += _drain(reader)
    assert out == frames


@pytest.mark.parametrize("seed", range(5))
def test_random_chunking(seed: int) -> None:
    rng = random.Random(seed)
    reader = FrameReader()
    sizes = iter(lambda: rng.choice([1, 2, 3, 4, 5, 17, 1000, 65_536, 100_000]), None)
    assert _feed_in_chunks(reader, _stream(FRAMES * 2), sizes) == FRAMES * 2


def test_trailing_partial_data_stays_buffered() -> None:
    reader = FrameReader()
    data = _stream([b"one", b"two"])
    reader.feed(data + b"\x00\x00")
    assert _drain(reader) == [b"one", b"two"]
    assert reader.buffered == 2 and reader.in_frame
    reader.feed(b"\x00\x03ab")
    assert reader.next_frame() is None
    reader.feed(b"c")
    assert _drain(reader) == [b"abc"]


def test_several_frames_in_one_chunk_stay_valid() -> None:
    reader = FrameReader()
    reader.feed(_stream([b"first", b"second", b"third"]))
    views = [reader.next_frame(), reader.next_frame(), reader.next_frame()]
    reader.feed(_stream([b"fourth"] * 50))  # must not disturb the views handed out
    assert [bytes(v) for v in views] == [b"first", b"second", b"third"]
    assert len(_drain(reader)) == 50


def test_frames_are_writable_views() -> None:
    reader = FrameReader()
    reader.feed(_stream([b"abcd", b"x" * 100_000]))
    small, big = reader.next_frame(), reader.next_frame()
    small[0:1] = b"Z"
    big[0:1] = b"Y"
    assert bytes(small) == b"Zbcd" and bytes(big[:2]) == b"Yx"


def test_big_frame_is_assembled_in_one_buffer() -> None:
    body = bytes(range(256)) * 1000
    reader = FrameReader()
    data = _stream([body, b"after"])
    reader.feed(data[:10])
    assert reader.next_frame() is None
    buf = reader.get_buffer()
    # Once the size is known the region offered is exactly the rest of the frame.
    assert len(buf) == len(body) - 6
    buf[:] = data[10 : 4 + len(body)]
    reader.commit(len(buf))
    reader.feed(data[4 + len(body) :])
    frame = reader.next_frame()
    assert frame is not None and frame.nbytes == len(body) and bytes(frame) == body
    # The bytes received into the region are the frame's: one buffer, no copy.
    assert frame.obj is buf.obj
    assert _drain(reader) == [b"after"]


@pytest.mark.parametrize("chunk", [1, 7, 4096, 65_536, 1 << 20])
def test_recv_into_style(chunk: int) -> None:
    data = _stream(FRAMES)
    reader = FrameReader()
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        region = reader.get_buffer()
        n = min(len(region), chunk, len(data) - pos)
        region[:n] = data[pos : pos + n]
        del region
        reader.commit(n)
        pos += n
        out += _drain(reader)
    assert out == FRAMES


def test_commit_more_than_offered() -> None:
    reader = FrameReader()
    region = reader.get_buffer(16)
    with pytest.raises(ValueError):
        reader.commit(len(region) + 1)


def test_oversize_frame_rejected_from_prefix() -> None:
    reader = FrameReader(max_frame_size=1000)
    reader.feed(struct.pack(">i", 1001))
    with pytest.raises(ProtocolError, match="larger than the limit"):
        reader.next_frame()
    reader2 = FrameReader(max_frame_size=1000)
    reader2.feed(struct.pack(">i", 1000) + b"x" * 1000)
    assert reader2.next_frame().nbytes == 1000


def test_default_limit_is_kafkas() -> None:
    reader = FrameReader()
    assert reader.max_frame_size == 104_857_600
    reader.feed(struct.pack(">i", 104_857_601))
    with pytest.raises(ProtocolError):
        reader.next_frame()


@pytest.mark.parametrize("size", [-1, -(2**31)])
def test_negative_size_rejected(size: int) -> None:
    reader = FrameReader()
    reader.feed(struct.pack(">i", size))
    with pytest.raises(ProtocolError, match="negative"):
        reader.next_frame()


def test_get_buffer_checks_prefix_too() -> None:
    reader = FrameReader(max_frame_size=10)
    reader.feed(struct.pack(">i", 2**31 - 1))
    with pytest.raises(ProtocolError):
        reader.get_buffer()


def test_error_means_close() -> None:
    reader = FrameReader(max_frame_size=10)
    reader.feed(struct.pack(">i", 11))
    with pytest.raises(ProtocolError) as info:
        reader.next_frame()
    assert info.value.close and info.value.error_code is None


# -- buffer reuse: only once every view of a buffer is gone ------------------------------


class _Counting(bytearray):
    """A bytearray that counts how many were made (the reader's allocations)."""

    made = 0

    def __init__(self, *args: object) -> None:
        type(self).made += 1
        super().__init__(*args)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> type[_Counting]:
    import wire.framing

    _Counting.made = 0
    monkeypatch.setattr(wire.framing, "bytearray", _Counting, raising=False)
    return _Counting


def _recv_into(reader: FrameReader, data: bytes, chunk: int = 65_536) -> list[memoryview]:
    frames = []
    pos = 0
    while pos < len(data):
        region = reader.get_buffer()
        n = min(len(region), chunk, len(data) - pos)
        region[:n] = data[pos : pos + n]
        del region
        reader.commit(n)
        pos += n
        while (frame := reader.next_frame()) is not None:
            frames.append(frame)
    return frames


def test_released_receive_buffer_is_reused(counting: type[_Counting]) -> None:
    reader = FrameReader()
    total = 0
    for i in range(3_000):  # about 900 KB through a 64 KiB buffer
        body = bytes([i % 251]) * 300
        [frame] = _recv_into(reader, _stream([body]))
        assert bytes(frame) == body
        total += frame.nbytes
        del frame
    assert total == 900_000
    assert counting.made <= 2  # the empty initial buffer and one receive buffer


def test_held_frames_are_never_overwritten(counting: type[_Counting]) -> None:
    reader = FrameReader()
    held = []
    for i in range(3_000):
        body = bytes([i % 251]) * 300
        [frame] = _recv_into(reader, _stream([body]))
        if i % 100 == 0:
            held.append((body, frame))
        del frame
    assert all(bytes(view) == body for body, view in held)
    # A held frame pins its buffer, so new ones were needed (900 KB through 64 KiB
    # buffers), but not one per frame.
    assert 900_000 // 65_536 <= counting.made < 100


def test_released_big_frame_buffer_is_reused(counting: type[_Counting]) -> None:
    reader = FrameReader()
    first = b"a" * 300_000
    second = b"b" * 290_000
    [frame] = _recv_into(reader, _stream([first]))
    assert bytes(frame) == first
    obj_count = counting.made
    del frame
    [frame] = _recv_into(reader, _stream([second]))
    assert bytes(frame) == second and frame.nbytes == len(second)
    assert counting.made == obj_count  # no new buffer, no zero-fill


def test_held_big_frame_keeps_its_buffer(counting: type[_Counting]) -> None:
    reader = FrameReader()
    first = b"a" * 300_000
    [held] = _recv_into(reader, _stream([first]))
    obj_count = counting.made
    [frame] = _recv_into(reader, _stream([b"b" * 290_000]))
    assert counting.made == obj_count + 1
    assert bytes(held) == first and frame.obj is not held.obj


def test_big_buffer_never_exceeds_the_limit() -> None:
    reader = FrameReader(max_frame_size=70_000)
    [frame] = _recv_into(reader, _stream([b"x" * 70_000]))
    assert len(frame.obj) == 70_000
