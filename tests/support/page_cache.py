"""How much of a file the page cache holds (``mincore`` on a mapping), for the
write-behind tests."""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
from pathlib import Path

PAGE = mmap.PAGESIZE
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
_libc.mincore.restype = ctypes.c_int


def resident_fraction(path: Path | str, start: int, end: int) -> float:
    """Share of the pages of ``[start, end)`` of the file that are in the page cache."""
    start -= start % PAGE
    length = end - start
    if length <= 0:
        return 0.0
    with open(path, "rb") as f:
        mapping = mmap.mmap(f.fileno(), length, access=mmap.ACCESS_COPY, offset=start)
    try:
        pages = (length + PAGE - 1) // PAGE
        vec = (ctypes.c_ubyte * pages)()
        address = ctypes.addressof(ctypes.c_char.from_buffer(mapping))
        if _libc.mincore(ctypes.c_void_p(address), length, vec) != 0:
            raise OSError(ctypes.get_errno(), "mincore failed")
        return sum(v & 1 for v in vec) / pages
    finally:
        mapping.close()


def can_drop_cached_pages(directory: Path | str) -> bool:
    """Whether ``posix_fadvise(DONTNEED)`` empties the cache of a written file here
    (not on tmpfs, whose pages are the file)."""
    path = Path(directory) / ".page-cache-probe"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, b"x" * (64 * PAGE))
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        return resident_fraction(path, 0, 64 * PAGE) < 0.5
    finally:
        os.close(fd)
        path.unlink()
