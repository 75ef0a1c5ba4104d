"""Helpers shared by the storage tests: batches and linear scans of segment files."""

from __future__ import annotations

from pathlib import Path

from storage.config import LogConfig
from storage.log import Log
from wire.buffers import join
from wire.records import SimpleRecord, build_batch, iter_batches, verify_crc

NOW = 1_700_000_000_000


def batch(
    n: int = 3, *, value: bytes = b"v" * 20, ts: int = NOW, key: bytes | None = b"k", **kw
) -> bytearray:
    return bytearray(
        build_batch(
            [SimpleRecord(key, value + b"%d" % i, timestamp=ts + i) for i in range(n)], **kw
        )
    )


def open_log(path: Path, config: LogConfig | None = None, **kw) -> Log:
    kw.setdefault("now_ms", NOW)
    return Log.open(path, config or LogConfig(), **kw)


def scan_dir(dir: Path) -> list[tuple[int, int, int]]:
    """Linear scan of every .log in ``dir``: ``(base_offset, last_offset, size)`` per batch."""
    out = []
    for path in sorted(dir.glob("*.log")):
        data = path.read_bytes()
        end = 0
        for pos, h in iter_batches(data):
            assert verify_crc(data, pos, h)
            out.append((h.base_offset, h.last_offset, h.size))
            end = pos + h.size
        assert end == len(data), f"{path} has {len(data) - end} trailing bytes"
    return out


def read_all(log: Log, start: int | None = None) -> bytes:
    """Every batch from ``start`` to the log end offset, by repeated reads."""
    offset = log.log_start_offset if start is None else start
    out = bytearray()
    while offset < log.log_end_offset:
        info = log.read(offset, max_bytes=1 << 20)
        data = join(info.records)
        if not data:
            # Only a truncation that cut a batch leaves the end offset past the data.
            assert not any(
                True
                for _ in iter_batches(
                    b"".join(p.read_bytes() for p in sorted(log.dir.glob("*.log")))
                )
                if _[1].last_offset >= offset
            )
            break
        last = None
        for _pos, h in iter_batches(data):
            last = h
        out += data
        offset = last.next_offset
    return bytes(out)


def check_indexes_against_scan(log: Log) -> None:
    """Every offset-index entry points at a batch start whose last offset it names."""
    for seg in log.segments:
        data = seg.log_path.read_bytes()
        starts = {pos: h for pos, h in iter_batches(data)}
        for off, pos in seg.offset_index.entries():
            assert pos in starts and starts[pos].last_offset == off
        ts_entries = seg.time_index.entries()
        for ts, off in ts_entries:
            assert any(h.last_offset == off and h.max_timestamp == ts for h in starts.values())
        # Lookup of every batch's offsets from the index leads to the batch by scanning.
        for pos, h in starts.items():
            found = seg.translate_offset(h.base_offset)
            assert found is not None and found[0] == pos
