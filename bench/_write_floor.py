#!/usr/bin/env python3
"""What writing into the page cache costs this machine, with no broker involved.

Writes ``--mib`` MiB to a new file in ``DIR`` (1 MiB ``write`` calls, as the broker
appends a librdkafka batch), then truncates it and writes the same amount again, and
prints the CPU seconds (user + system, from ``getrusage``) per GB (1e9 bytes) of each
pass as JSON: ``{"fresh_cpu_s_per_gb": ..., "reused_cpu_s_per_gb": ...}``.

The first pass gets page-cache pages as the kernel hands them out; the second gets
the pages the truncation just freed. On a VM whose freed memory goes back to the host
(virtio-balloon free page reporting, as on the machine the benchmarks ran on), the
first touch of a page faults in the host and, when the machine has not freed memory
recently (run it after 15 s idle), the first figure is several times the second.
Nothing calls this script: it is the diagnostic behind docs/benchmarks.md, section 0
of "Where the time goes".

Usage: ``python bench/_write_floor.py DIR [--mib 512]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
from pathlib import Path

CHUNK = 1 << 20


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def write_pass(fd: int, total: int, chunk: bytes) -> float:
    """CPU seconds to append ``total`` bytes to ``fd`` in ``len(chunk)`` writes."""
    before = _cpu()
    written = 0
    while written < total:
        written += os.write(fd, chunk)
    return _cpu() - before


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--mib", type=int, default=512)
    args = ap.parse_args()
    total = args.mib * CHUNK
    chunk = os.urandom(CHUNK)
    path = args.dir / f"write-floor-{os.getpid()}.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
    try:
        fresh = write_pass(fd, total, chunk)
        os.ftruncate(fd, 0)
        reused = write_pass(fd, total, chunk)
    finally:
        os.close(fd)
        path.unlink()
    print(json.dumps({"mib": args.mib, "fresh_cpu_s_per_gb": fresh / (total / 1e9),
                      "reused_cpu_s_per_gb": reused / (total / 1e9)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
