"""Size-prefixed framing of the Kafka protocol, sans-IO.

Every request and response is a 4-byte big-endian signed size followed by that many
bytes. ``FrameReader`` turns a byte stream, delivered in any chunking, into whole
frames.

Theory of operation
-------------------
Bytes collect in a receive buffer between ``_start`` and ``_end``. Once four bytes
are present the size is read and checked against ``max_frame_size`` (Kafka's
``socket.request.max.bytes``) before anything is allocated for the frame. A frame
that is complete in the receive buffer is handed out as a memoryview into that
buffer (no copy). New bytes are only ever written after ``_end``, never over a
frame already handed out; the bytes before ``_start`` are reclaimed (the unread
tail moved to the front) only once no view of the buffer is alive any more.
"Alive" is decided by the buffer's reference count: every memoryview, slice of
one, or other buffer export holds a reference to the ``bytearray``, so a count
of ours alone proves nobody can see the bytes we are about to overwrite. Storage
keeps frames (patched offsets, ``acks=all`` waits) exactly as long as it wants.

A frame larger than ``_BIG_FRAME`` that is not yet complete is assembled in a
buffer of its own; ``get_buffer`` offers exactly the rest of that frame, so the
server's ``recv_into`` lands its bytes in place. That buffer is kept after the
frame is handed out and reused for the next large frame once it is released,
which spares allocating and zero-filling a megabyte per produce request.

Returned frames are writable memoryviews.
"""

from __future__ import annotations

import sys

from wire.exceptions import ProtocolError

DEFAULT_MAX_FRAME_SIZE = 104_857_600
_SIZE_BYTES = 4
# Frames above this size are assembled in their own buffer; smaller ones are
# sliced from the receive buffer, which is this big at least.
_BIG_FRAME = 64 * 1024
_RECV_BUFFER = 64 * 1024
# get_buffer never offers less than this (unless the frame needs less): reading a
# few bytes at a time from the end of a nearly full buffer costs a syscall each.
_MIN_READ = 16 * 1024
# Large-frame buffers up to this size are kept for reuse; larger ones are dropped
# with their frame so that one huge request does not pin its memory.
_KEEP_BIG = 8 * 1024 * 1024
# Kept buffers are rounded up so frames of similar size share one.
_BIG_ROUND = 256 * 1024

_getrefcount = getattr(sys, "getrefcount", None)


def _unshared(refcount: int) -> bool:
    """True when a reference count of an attribute, taken by ``getrefcount`` (one
    for the attribute, one for the call's argument), shows no other holder."""
    return refcount <= 2


class FrameReader:
    """Reassembles size-prefixed frames from a byte stream.

    Use either ``feed(data)`` or ``get_buffer()`` + ``commit(n)`` (for ``recv_into``),
    then call ``next_frame()`` until it returns None. A negative size, or one above
    ``max_frame_size``, raises ``ProtocolError`` (close the connection).
    """

    __slots__ = ("max_frame_size", "_buf", "_start", "_end", "_exported", "_big", "_big_size",
                 "_big_filled", "_spare")

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        if max_frame_size < 0:
            raise ValueError("max_frame_size must be non-negative")
        self.max_frame_size = max_frame_size
        self._buf = bytearray(0)
        self._start = 0
        self._end = 0
        # True once a frame view into _buf has been handed out: the head of _buf is
        # then reclaimed only after a reference count check.
        self._exported = False
        # The large frame being assembled (its buffer may be longer than the frame).
        self._big: bytearray | None = None
        self._big_size = 0
        self._big_filled = 0
        # The last large-frame buffer, for reuse once nothing refers to it.
        self._spare: bytearray | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as frames (size prefixes included)."""
        pending = self._end - self._start
        if self._big is not None:
            pending += self._big_filled
        return pending

    @property
    def in_frame(self) -> bool:
        """True when part of a frame (or a size prefix) has been received."""
        return self.buffered > 0

    def _head_reusable(self) -> bool:
        if not self._exported:
            return True
        if _getrefcount is None:
            return False
        return _unshared(_getrefcount(self._buf))

    def _reserve(self, n: int) -> None:
        """Make room for ``n`` more bytes after ``_end``."""
        if len(self._buf) - self._end >= n:
            # Writing past _end never touches a frame already handed out.
            return
        pending = self._end - self._start
        if len(self._buf) >= pending + n and self._head_reusable():
            # Enough room once the consumed head is dropped: move the tail down.
            buf = self._buf
            if pending:
                buf[0:pending] = buf[self._start : self._end]
            self._start, self._end = 0, pending
            self._exported = False
            return
        new = bytearray(max(_RECV_BUFFER, pending + n))
        if pending:
            new[0:pending] = self._buf[self._start : self._end]
        self._buf = new
        self._start, self._end = 0, pending
        self._exported = False

    def _check_size(self, size: int) -> None:
        if size < 0:
            raise ProtocolError(f"Invalid frame size {size}: sizes must not be negative")
        if size > self.max_frame_size:
            raise ProtocolError(
                f"Invalid frame size {size}: larger than the limit of {self.max_frame_size} bytes"
            )

    def _pending_size(self) -> int | None:
        """The size prefix of the next frame if all four bytes are here (checked)."""
        start = self._start
        if self._end - start < _SIZE_BYTES:
            return None
        size = int.from_bytes(self._buf[start : start + _SIZE_BYTES], "big", signed=True)
        if size < 0 or size > self.max_frame_size:
            self._check_size(size)
        return size

    def _big_buffer(self, size: int) -> bytearray:
        """A buffer of at least ``size`` bytes nobody else refers to: the spare one
        when it is large enough and released, else a new one."""
        spare = self._spare
        if spare is not None:
            # Our local, the attribute and getrefcount's argument.
            if (len(spare) >= size and _getrefcount is not None
                    and _getrefcount(spare) <= 3):
                return spare
            self._spare = spare = None
        rounded = -(-size // _BIG_ROUND) * _BIG_ROUND
        if rounded <= _KEEP_BIG:
            # Never more than the limit: a claimed size must not drive allocation past it.
            return bytearray(max(size, min(rounded, self.max_frame_size)))
        return bytearray(size)

    def _start_big(self, size: int) -> None:
        body = self._end - self._start - _SIZE_BYTES
        big = self._big_buffer(size)
        if body:
            big[0:body] = self._buf[self._start + _SIZE_BYTES : self._end]
        self._big = big
        self._big_size = size
        self._big_filled = body
        self._start = self._end
        self._maybe_reset()

    def _maybe_reset(self) -> None:
        if self._start == self._end and not self._exported:
            self._start = self._end = 0

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Add received bytes (any amount, any chunking)."""
        view = memoryview(data).cast("B") if not isinstance(data, bytes) else memoryview(data)
        n = len(view)
        if not n:
            return
        big = self._big
        if big is not None:
            take = min(n, self._big_size - self._big_filled)
            big[self._big_filled : self._big_filled + take] = view[:take]
            self._big_filled += take
            if take == n:
                return
            view = view[take:]
            n -= take
        self._reserve(n)
        self._buf[self._end : self._end + n] = view
        self._end += n

    def get_buffer(self, size_hint: int = _RECV_BUFFER) -> memoryview:
        """A writable region to ``recv_into``; report how much was written with ``commit``.

        While a large frame is being assembled the region is the rest of that frame,
        so its bytes land in place. Otherwise the region is all free space at the
        end of the receive buffer, made at least ``min(size_hint, 16 KiB)`` long and
        long enough for the rest of the current frame. May raise ``ProtocolError``
        for a bad size prefix.
        """
        big = self._big
        if big is None:
            size = self._pending_size()
            want = size_hint if size_hint < _MIN_READ else _MIN_READ
            if size is not None:
                rest = size + _SIZE_BYTES - (self._end - self._start)
                if rest > 0:
                    if size > _BIG_FRAME:
                        self._start_big(size)
                        big = self._big
                    elif rest > want:
                        want = rest
        if big is not None:
            if self._big_filled < self._big_size:
                return memoryview(big)[self._big_filled : self._big_size]
            # The big frame is complete but not yet taken: read ahead into the receive buffer.
            want = size_hint if size_hint < _MIN_READ else _MIN_READ
        self._reserve(want if want > 0 else 1)
        return memoryview(self._buf)[self._end :]

    def commit(self, n: int) -> None:
        """Record that ``n`` bytes were written into the last ``get_buffer`` region."""
        if n < 0:
            raise ValueError("commit needs a non-negative byte count")
        big = self._big
        if big is not None and self._big_filled < self._big_size:
            if n > self._big_size - self._big_filled:
                raise ValueError("commit of more bytes than the buffer offered")
            self._big_filled += n
            return
        if n > len(self._buf) - self._end:
            raise ValueError("commit of more bytes than the buffer offered")
        self._end += n

    def next_frame(self) -> memoryview | None:
        """The next complete frame without its size prefix, or None if more bytes are needed."""
        big = self._big
        if big is not None:
            size = self._big_size
            if self._big_filled < size:
                return None
            self._big = None
            self._big_filled = 0
            if len(big) <= _KEEP_BIG:
                self._spare = big
            return memoryview(big)[:size] if len(big) != size else memoryview(big)
        size = self._pending_size()
        if size is None:
            return None
        start = self._start + _SIZE_BYTES
        if self._end - start >= size:
            self._start = start + size
            self._exported = True
            return memoryview(self._buf)[start : start + size]
        if size > _BIG_FRAME:
            self._start_big(size)
        return None
