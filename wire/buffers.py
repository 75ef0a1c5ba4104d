"""Buffer types shared by encoders and the server's send path.

Encoders return a list of *buffers*: ``bytes``, ``bytearray``, ``memoryview`` or
``FileSlice``. Small pieces are joined while encoding; large record payloads
travel by reference so that the server can send them without copying, and
``FileSlice`` parts go out with ``sendfile``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import BinaryIO


class FileSlice:
    """A byte range of an open file: ``length`` bytes starting at ``position``.

    The server sends it with ``os.sendfile``; everything else can materialise it
    with ``read()``. The file object stays owned by storage: a slice never closes it.
    """

    __slots__ = ("file", "position", "length")

    def __init__(self, file: BinaryIO, position: int, length: int) -> None:
        if position < 0 or length < 0:
            raise ValueError("FileSlice position and length must be non-negative")
        self.file = file
        self.position = position
        self.length = length

    def __len__(self) -> int:
        return self.length

    def fileno(self) -> int:
        return self.file.fileno()

    def read(self) -> bytes:
        """Return the slice's bytes (a short read means the file was truncated under us)."""
        data = os.pread(self.file.fileno(), self.length, self.position)
        if len(data) != self.length:
            raise OSError(
                f"short read from file slice: wanted {self.length} bytes at {self.position}, got {len(data)}"
            )
        return data

    def __repr__(self) -> str:
        name = getattr(self.file, "name", self.file)
        return f"FileSlice({name!r}, position={self.position}, length={self.length})"


Buffer = bytes | bytearray | memoryview | FileSlice


def buffer_length(buf: Buffer) -> int:
    """Length in bytes of one buffer (memoryviews counted by bytes, not items)."""
    if isinstance(buf, memoryview):
        return buf.nbytes
    return len(buf)


def total_length(bufs: Iterable[Buffer]) -> int:
    """Sum of the lengths of ``bufs``."""
    return sum(buffer_length(b) for b in bufs)


def join(bufs: Iterable[Buffer]) -> bytes:
    """Concatenate buffers into one ``bytes`` (reads file slices). For tests and clients."""
    out = bytearray()
    for b in bufs:
        if isinstance(b, FileSlice):
            out += b.read()
        else:
            out += b
    return bytes(out)
