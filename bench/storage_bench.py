"""Storage benchmark: prints figures, asserts nothing.

1. Appending 1 MiB batches through ``Log.append_as_leader`` versus plain ``os.write``
   of the same bytes to a file (target ratio >= 0.7), uncompressed and compressed.
   Also the cost of validating one batch by header and CRC only versus decoding
   every record (what a compacted topic or finite timestamp bounds require).
2. Reading the log back as file slices (``Log.read``), with and without copying the
   bytes out.
3. Recovery: reopening the log as after a crash (every batch re-read and
   CRC-checked), in MB/s (target >= 200 MB/s).

Usage: ``python bench/storage_bench.py [--mib 256] [--dir /tmp/somewhere]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storage.config import LogConfig  # noqa: E402
from storage.log import Log  # noqa: E402
from storage.validator import validate_and_assign_offsets  # noqa: E402
from wire.records import COMPRESSION_LZ4, COMPRESSION_NONE, SimpleRecord, build_batch  # noqa: E402

NOW = 1_700_000_000_000


def one_mib_batch(compression: int) -> bytes:
    # 1000 records of ~1 KiB: the shape of a busy producer's batch.
    records = [
        SimpleRecord(b"key-%06d" % i, os.urandom(512) + bytes(500), timestamp=NOW + i)
        for i in range(1000)
    ]
    return build_batch(records, compression=compression)


def bench_appends(root: Path, raw: bytes, count: int, label: str, rounds: int = 3) -> None:
    """Best of ``rounds`` interleaved runs each, so page-cache warm-up and other
    load on the machine hit both sides alike."""
    plain_best = log_best = float("inf")
    for r in range(rounds):
        plain_path = root / "plain.bin"
        fd = os.open(plain_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        t0 = time.perf_counter()
        for _ in range(count):
            buf = bytearray(raw)  # the request frame the broker would hold
            os.write(fd, buf)
        plain_best = min(plain_best, time.perf_counter() - t0)
        # Untimed: write the dirty pages back so neither side is throttled by the
        # other's leftovers (the kernel slows writers down once too much is dirty).
        os.fsync(fd)
        os.close(fd)
        plain_path.unlink()

        pdir = root / f"bench-{label}-{r}"
        log = Log.open(pdir, LogConfig(), now_ms=NOW)
        # Untimed warm-up: the first append records leader epoch 0 (an fsynced
        # checkpoint write), which is not the steady state being measured.
        log.append_as_leader(bytearray(raw), leader_epoch=0, now_ms=NOW)
        t0 = time.perf_counter()
        for _ in range(count):
            log.append_as_leader(bytearray(raw), leader_epoch=0, now_ms=NOW)
        log_best = min(log_best, time.perf_counter() - t0)
        log.flush()
        log.close()
        if r:
            shutil.rmtree(pdir)
    mib = count * len(raw) / 2**20
    print(
        f"append {label:>12}: plain file {mib / plain_best:8.1f} MiB/s, Log {mib / log_best:8.1f} MiB/s, "
        f"ratio {plain_best / log_best:.2f} (target >= 0.7)"
    )


def bench_validation(raw: bytes, label: str, rounds: int = 20) -> None:
    """Cost of validating one 1 MiB batch: header/CRC path vs decoding every record."""
    for name, config in (
        ("header+CRC", LogConfig()),
        ("every record", LogConfig(cleanup_policy="compact")),
    ):
        t0 = time.perf_counter()
        for _ in range(rounds):
            validate_and_assign_offsets(
                bytearray(raw),
                config=config,
                next_offset=0,
                leader_epoch=0,
                now_ms=NOW,
                origin="client",
            )
        per = (time.perf_counter() - t0) / rounds * 1000
        print(f"validate {label:>6} 1 MiB batch, {name:>12}: {per:7.2f} ms")


def bench_reads(root: Path) -> Path:
    pdir = root / "bench-none-0"
    log = Log.open(pdir, LogConfig(), now_ms=NOW)
    log.update_high_watermark(log.log_end_offset)
    total = 0
    t0 = time.perf_counter()
    offset = 0
    while offset < log.log_end_offset:
        info = log.read(offset, max_bytes=1 << 20, max_offset=log.high_watermark)
        total += info.size
        # Each 1 MiB batch exceeds max_bytes alone, so one read returns one batch.
        last = log._segment_for(offset).translate_offset(offset)
        offset = last[1].next_offset if last else log.log_end_offset
    slices = time.perf_counter() - t0
    t0 = time.perf_counter()
    offset = 0
    copied = 0
    while offset < log.log_end_offset:
        info = log.read(offset, max_bytes=1 << 20)
        for s in info.records:
            copied += len(s.read())
        last = log._segment_for(offset).translate_offset(offset)
        offset = last[1].next_offset if last else log.log_end_offset
    reads = time.perf_counter() - t0
    log.close()
    print(
        f"read as file slices: {total / 2**20 / slices:8.1f} MiB/s (slices only), "
        f"{copied / 2**20 / reads:8.1f} MiB/s (bytes copied out)"
    )
    return pdir


def bench_recovery(pdir: Path) -> None:
    size = sum(p.stat().st_size for p in pdir.glob("*.log"))
    t0 = time.perf_counter()
    log = Log.open(pdir, LogConfig(), now_ms=NOW, clean=False, recovery_point=0)
    elapsed = time.perf_counter() - t0
    end = log.log_end_offset
    log.close()
    print(
        f"recovery scan: {size / 2**20:.0f} MiB, {end} records in {elapsed:.2f} s = "
        f"{size / 1e6 / elapsed:8.1f} MB/s (target >= 200 MB/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=256, help="data per append run, MiB")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to write (default: a temp dir)"
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kpy-storage-bench-", dir=args.dir))
    try:
        for compression, label in ((COMPRESSION_NONE, "none"), (COMPRESSION_LZ4, "lz4")):
            raw = one_mib_batch(compression)
            count = max(1, args.mib * 2**20 // len(raw))
            bench_appends(root, raw, count, label)
            bench_validation(raw, label)
        pdir = bench_reads(root)
        bench_recovery(pdir)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
