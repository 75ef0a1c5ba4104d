"""Sparse per-segment indexes: ``.index`` (offset -> file position) and ``.timeindex``.

File formats are Kafka's: ``.index`` holds 8-byte entries (int32 offset relative to
the segment's base offset, int32 byte position in the ``.log``), ``.timeindex`` holds
12-byte entries (int64 timestamp, int32 relative offset), big-endian, no header.

Entries live in memory (two arrays) and are appended to the file as they are
made, so the file never has a preallocated zero tail: Kafka's tools read it as is,
and "how many entries" is simply the file size. Loading checks every entry; an
index that fails the check raises ``CorruptIndexError`` and the segment rebuilds
it from the log instead of trusting it.
"""

from __future__ import annotations

import errno
import os
import struct
import sys
from array import array
from bisect import bisect_right
from pathlib import Path

from storage.checkpoints import fsync_file

_OFFSET_ENTRY = struct.Struct(">ii")
_TIME_ENTRY = struct.Struct(">qi")
INT32_MAX = 2**31 - 1


class CorruptIndexError(Exception):
    """An index file failed its sanity check; the caller rebuilds it from the log."""


class _IndexFile:
    """Append-only entry file shared by both index kinds."""

    ENTRY_SIZE = 0

    def __init__(self, path: Path, base_offset: int, max_entries: int) -> None:
        self.path = Path(path)
        self.base_offset = base_offset
        self.max_entries = max(1, max_entries)
        self._fd: int | None = None
        # Written since the last fsync (also after the descriptor was closed at a roll).
        self._unsynced = False

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        return self._fd

    def create(self) -> None:
        """Make sure the file exists (empty if new)."""
        self._open()

    def _write(self, data: bytes) -> None:
        os.write(self._open(), data)
        self._unsynced = True

    def _truncate_file(self, entries: int) -> None:
        os.ftruncate(self._open(), entries * self.ENTRY_SIZE)
        self._unsynced = True

    def _read_file(self) -> bytes:
        try:
            with open(self.path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def relative(self, offset: int) -> int:
        rel = offset - self.base_offset
        if rel < 0 or rel > INT32_MAX:
            raise ValueError(
                f"offset {offset} does not fit the index of segment {self.base_offset}"
            )
        return rel

    def flush(self) -> None:
        """fsync what was written, also after ``close`` (a rolled segment's indexes are
        closed at the roll and flushed later with its ``.log``)."""
        if not self._unsynced:
            return
        # Cleared first: an entry appended while the fsync runs marks it again.
        self._unsynced = False
        # May run in a worker thread while the event loop closes the descriptor at a
        # roll; then the file is fsynced by path instead.
        fd = self._fd
        if fd is not None:
            try:
                os.fsync(fd)
                return
            except OSError as exc:
                if exc.errno != errno.EBADF:
                    raise
        fsync_file(self.path)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def rename(self, new_path: Path) -> None:
        if self.path.exists():
            os.replace(self.path, new_path)
        self.path = Path(new_path)

    def delete(self) -> None:
        self.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


class OffsetIndex(_IndexFile):
    """Maps offsets to byte positions in the segment's ``.log`` (Kafka's OffsetIndex).

    An entry ``(offset, position)`` says the batch starting at ``position`` ends at or
    before ``offset`` is covered: Kafka records the last offset of the appended batch
    together with the batch's start position.
    """

    ENTRY_SIZE = 8

    def __init__(self, path: Path, base_offset: int, max_entries: int) -> None:
        super().__init__(path, base_offset, max_entries)
        self._offsets = array("i")  # relative offsets
        self._positions = array("i")

    def __len__(self) -> int:
        return len(self._offsets)

    @property
    def is_full(self) -> bool:
        return len(self._offsets) >= self.max_entries

    def load(self) -> None:
        """Read and check the file; raises ``CorruptIndexError`` if it cannot be trusted."""
        data = self._read_file()
        self._offsets = array("i")
        self._positions = array("i")
        if len(data) % self.ENTRY_SIZE:
            raise CorruptIndexError(f"{self.path}: size {len(data)} is not a multiple of 8")
        both = array("i")
        both.frombytes(data)
        if sys.byteorder == "little":
            both.byteswap()  # the file is big-endian
        offsets, positions = both[0::2], both[1::2]
        # Strictly increasing and non-negative; a preallocated zero tail fails here too.
        if (
            (offsets and (offsets[0] < 0 or positions[0] < 0))
            or not all(a < b for a, b in zip(offsets, offsets[1:], strict=False))
            or not all(a < b for a, b in zip(positions, positions[1:], strict=False))
        ):
            raise CorruptIndexError(f"{self.path}: entries do not increase")
        self._offsets, self._positions = offsets, positions
        if len(self._offsets) > self.max_entries:
            raise CorruptIndexError(f"{self.path}: more entries than segment.index.bytes allows")

    def sanity_check(self, next_offset: int, log_size: int) -> None:
        """Entries must lie inside the segment (below its next offset and its size)."""
        if self._offsets and (
            self.base_offset + self._offsets[-1] >= next_offset or self._positions[-1] >= log_size
        ):
            raise CorruptIndexError(f"{self.path}: last entry lies past the end of the segment")

    def append(self, offset: int, position: int) -> None:
        rel = self.relative(offset)
        if self._offsets and (rel <= self._offsets[-1] or position <= self._positions[-1]):
            # Kafka refuses out-of-order entries; skipping keeps the index sparse-but-valid.
            return
        if self.is_full:
            raise ValueError(f"offset index {self.path} is full")
        self._write(_OFFSET_ENTRY.pack(rel, position))
        self._offsets.append(rel)
        self._positions.append(position)

    def lookup(self, target_offset: int) -> tuple[int, int]:
        """The entry with the largest offset <= target, or ``(base_offset, 0)``."""
        i = bisect_right(self._offsets, target_offset - self.base_offset) - 1
        if i < 0:
            return self.base_offset, 0
        return self.base_offset + self._offsets[i], self._positions[i]

    def floor_position(self, position: int) -> int:
        """The largest indexed batch position <= ``position``, or 0 (a batch starts there).

        Positions increase with offsets, so the index also answers "which batch
        boundary lies just below this byte": what a size-limited read needs.
        """
        i = bisect_right(self._positions, position) - 1
        return self._positions[i] if i >= 0 else 0

    def last_entry(self) -> tuple[int, int]:
        if not self._offsets:
            return self.base_offset, 0
        return self.base_offset + self._offsets[-1], self._positions[-1]

    def entries(self) -> list[tuple[int, int]]:
        return [
            (self.base_offset + o, p) for o, p in zip(self._offsets, self._positions, strict=True)
        ]

    def truncate_to(self, offset: int) -> None:
        """Drop every entry whose offset is >= ``offset``."""
        keep = bisect_right(self._offsets, offset - self.base_offset - 1)
        if keep < len(self._offsets):
            del self._offsets[keep:]
            del self._positions[keep:]
            self._truncate_file(keep)

    def reset(self) -> None:
        self._offsets = array("i")
        self._positions = array("i")
        self._truncate_file(0)


class TimeIndex(_IndexFile):
    """Maps timestamps to offsets (Kafka's TimeIndex): timestamps strictly increase."""

    ENTRY_SIZE = 12

    def __init__(self, path: Path, base_offset: int, max_entries: int) -> None:
        super().__init__(path, base_offset, max_entries)
        self._timestamps = array("q")
        self._offsets = array("i")

    def __len__(self) -> int:
        return len(self._timestamps)

    @property
    def is_full(self) -> bool:
        return len(self._timestamps) >= self.max_entries

    def load(self) -> None:
        data = self._read_file()
        self._timestamps = array("q")
        self._offsets = array("i")
        if len(data) % self.ENTRY_SIZE:
            raise CorruptIndexError(f"{self.path}: size {len(data)} is not a multiple of 12")
        last_ts = -(2**63)
        last_off = -1
        for ts, rel in _TIME_ENTRY.iter_unpack(data):
            if ts <= last_ts or rel < last_off or rel < 0:
                raise CorruptIndexError(f"{self.path}: entry ({ts}, {rel}) is out of order")
            self._timestamps.append(ts)
            self._offsets.append(rel)
            last_ts, last_off = ts, rel
        if len(self._timestamps) > self.max_entries:
            raise CorruptIndexError(f"{self.path}: more entries than segment.index.bytes allows")

    def sanity_check(self, next_offset: int) -> None:
        if self._offsets and self.base_offset + self._offsets[-1] >= next_offset:
            raise CorruptIndexError(f"{self.path}: last entry lies past the end of the segment")

    def maybe_append(self, timestamp: int, offset: int, skip_full_check: bool = False) -> None:
        """Add ``(timestamp, offset)`` if the timestamp is newer than the last entry's."""
        rel = self.relative(offset)
        if self._timestamps and (timestamp <= self._timestamps[-1] or rel < self._offsets[-1]):
            return
        if not skip_full_check and self.is_full:
            raise ValueError(f"time index {self.path} is full")
        self._write(_TIME_ENTRY.pack(timestamp, rel))
        self._timestamps.append(timestamp)
        self._offsets.append(rel)

    def lookup(self, target_timestamp: int) -> tuple[int, int]:
        """The entry with the largest timestamp <= target, or ``(-1, base_offset)``."""
        i = bisect_right(self._timestamps, target_timestamp) - 1
        if i < 0:
            return -1, self.base_offset
        return self._timestamps[i], self.base_offset + self._offsets[i]

    def last_entry(self) -> tuple[int, int]:
        if not self._timestamps:
            return -1, self.base_offset
        return self._timestamps[-1], self.base_offset + self._offsets[-1]

    def entries(self) -> list[tuple[int, int]]:
        return [
            (t, self.base_offset + o) for t, o in zip(self._timestamps, self._offsets, strict=True)
        ]

    def truncate_to(self, offset: int) -> None:
        """Drop every entry whose offset is >= ``offset``."""
        keep = bisect_right(self._offsets, offset - self.base_offset - 1)
        if keep < len(self._offsets):
            del self._timestamps[keep:]
            del self._offsets[keep:]
            self._truncate_file(keep)

    def reset(self) -> None:
        self._timestamps = array("q")
        self._offsets = array("i")
        self._truncate_file(0)
