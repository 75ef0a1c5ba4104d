#!/usr/bin/env python3
"""Run ``python -m kpybroker`` under cProfile, charging CPU time rather than wall time.

py-spy samples wall-clock stacks; on a busy 2-core machine a broker thread that
is runnable but not running (for instance just after a loopback ``sendmsg``
woke the client) is charged to whatever frame it stopped in. Profiling with
``time.process_time`` as the clock attributes only CPU time the broker process
actually used, which is what the "CPU seconds per GB" targets are about.

Usage (``bench/run.py --cprofile FILE`` does this)::

    python bench/_cprofile_broker.py OUT.pstats [kpybroker arguments ...]

The statistics are written when the broker exits (SIGTERM shuts it down
cleanly). Only the event-loop thread is profiled. Read them with
``python bench/_cprofile_broker.py --show OUT.pstats``.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def show(path: str, top: int = 30) -> None:
    stats = pstats.Stats(path)
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"{path}: {total:.2f} CPU-s on the event-loop thread")
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def main() -> int:
    if len(sys.argv) >= 3 and sys.argv[1] == "--show":
        show(sys.argv[2])
        return 0
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        # Never take an option (e.g. --help) for the output file name.
        print(__doc__)
        return 0 if sys.argv[1:2] in (["-h"], ["--help"]) else 2
    out, argv = sys.argv[1], sys.argv[2:]
    from kpybroker.__main__ import main as broker_main

    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    try:
        return broker_main(argv)
    finally:
        profiler.disable()
        profiler.dump_stats(out)


if __name__ == "__main__":
    sys.exit(main())
