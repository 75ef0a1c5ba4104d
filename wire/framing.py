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
buffer (no copy); from then on that buffer is never written again, so the view
stays valid for as long as the caller keeps it (storage patches offsets into it).
New data goes to a fresh buffer instead. A frame larger than ``_BIG_FRAME`` that is
not yet complete gets its own ``bytearray`` of exactly its size; later bytes go
straight into it, and ``get_buffer`` lets the server ``recv_into`` it directly.

Returned frames are writable memoryviews.
"""

from __future__ import annotations

from wire.exceptions import ProtocolError

DEFAULT_MAX_FRAME_SIZE = 104_857_600
_SIZE_BYTES = 4
# Frames above this size are assembled in their own buffer; smaller ones are
# sliced from the receive buffer, which is this big at least.
_BIG_FRAME = 64 * 1024
_RECV_BUFFER = 64 * 1024


class FrameReader:
    """Reassembles size-prefixed frames from a byte stream.

    Use either ``feed(data)`` or ``get_buffer()`` + ``commit(n)`` (for ``recv_into``),
    then call ``next_frame()`` until it returns None. A negative size, or one above
    ``max_frame_size``, raises ``ProtocolError`` (close the connection).
    """

    __slots__ = ("max_frame_size", "_buf", "_start", "_end", "_exported", "_big", "_big_filled")

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        if max_frame_size < 0:
            raise ValueError("max_frame_size must be non-negative")
        self.max_frame_size = max_frame_size
        self._buf = bytearray(0)
        self._start = 0
        self._end = 0
        # True once a frame view into _buf has been handed out: _buf is then frozen.
        self._exported = False
        self._big: bytearray | None = None
        self._big_filled = 0

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

    def _reserve(self, n: int) -> None:
        """Make room for ``n`` more bytes after ``_end``."""
        buf = self._buf
        if not self._exported and len(buf) - self._end >= n:
            return
        pending = self._end - self._start
        if not self._exported and len(buf) >= pending + n:
            # Enough room once the consumed head is dropped: move the tail down.
            if pending:
                buf[0:pending] = buf[self._start : self._end]
            self._start, self._end = 0, pending
            return
        new = bytearray(max(_RECV_BUFFER, pending + n))
        if pending:
            new[0:pending] = buf[self._start : self._end]
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
        if self._end - self._start < _SIZE_BYTES:
            return None
        size = int.from_bytes(
            self._buf[self._start : self._start + _SIZE_BYTES], "big", signed=True
        )
        self._check_size(size)
        return size

    def _start_big(self, size: int) -> None:
        body = self._end - self._start - _SIZE_BYTES
        big = bytearray(size)
        if body:
            big[0:body] = self._buf[self._start + _SIZE_BYTES : self._end]
        self._big = big
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
            take = min(n, len(big) - self._big_filled)
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
        so its bytes land in place. May raise ``ProtocolError`` for a bad size prefix.
        """
        if self._big is None:
            size = self._pending_size()
            if (
                size is not None
                and size > _BIG_FRAME
                and self._end - self._start < size + _SIZE_BYTES
            ):
                self._start_big(size)
        big = self._big
        if big is not None:
            if self._big_filled < len(big):
                return memoryview(big)[self._big_filled :]
            # The big frame is complete but not yet taken: read ahead into the receive buffer.
        self._reserve(max(size_hint, 1))
        return memoryview(self._buf)[self._end :]

    def commit(self, n: int) -> None:
        """Record that ``n`` bytes were written into the last ``get_buffer`` region."""
        if n < 0:
            raise ValueError("commit needs a non-negative byte count")
        big = self._big
        if big is not None and self._big_filled < len(big):
            if n > len(big) - self._big_filled:
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
            if self._big_filled < len(big):
                return None
            self._big = None
            self._big_filled = 0
            return memoryview(big)
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
