#!/usr/bin/env python3
"""Summarise a py-spy ``--format raw`` profile (folded stacks) as two top lists.

``self``: share of samples where a function is the innermost frame (where the
CPU time is actually spent). ``inclusive``: share of samples where it is
anywhere on the stack (which path the time belongs to). Thread-name frames that
py-spy adds at the root are dropped; line numbers are folded away so one
function is one entry.

Usage: ``python bench/_profile_summary.py PROFILE.txt [--top 25] [--under SUBSTRING]``
(``--under`` keeps only samples whose stack contains SUBSTRING, e.g. a handler).

py-spy does not recognise trio's ``epoll_wait`` as idle, so samples whose
innermost frame is the event loop's wait are counted apart (``idle``) and left
out of the shares: the shares are of the time the broker was doing something.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

_LINE_NO = re.compile(r":\d+\)$")
IDLE_LEAVES = ("EpollIOManager.get_events",)


def frame_name(frame: str) -> str:
    """``handle (kpybroker/handlers/produce.py:120)`` -> ``handle (kpybroker/handlers/produce.py)``."""
    frame = _LINE_NO.sub(")", frame.strip())
    # Shorten absolute paths to the part a reader recognises.
    for marker in ("/site-packages/", "/work/main/", "/lib/python3"):
        if marker in frame:
            head, _, rest = frame.partition("(")
            path = rest[:-1]
            idx = path.find(marker)
            path = path[idx + len(marker):] if marker != "/lib/python3" else "stdlib:" + path.rsplit("/", 1)[-1]
            frame = f"{head}({path})"
            break
    return frame


def summarise(path: Path, top: int, under: str | None) -> str:
    self_counts: Counter[str] = Counter()
    incl_counts: Counter[str] = Counter()
    total = idle = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        if under is not None and under not in stack:
            continue
        count = int(count_s)
        frames = [frame_name(f) for f in stack.split(";") if "(" in f]
        if not frames:
            continue
        if frames[-1].startswith(IDLE_LEAVES):
            idle += count
            continue
        total += count
        self_counts[frames[-1]] += count
        for name in set(frames):
            incl_counts[name] += count
    if total == 0:
        return f"{path.name}: no samples"
    out = [f"{path.name}: {total} busy samples, {idle} more waiting in epoll"
           + (f" (only stacks under {under!r})" if under else "")]
    out.append("  self:")
    out += [f"    {100 * c / total:5.1f}%  {name}" for name, c in self_counts.most_common(top)]
    out.append("  inclusive:")
    out += [f"    {100 * c / total:5.1f}%  {name}" for name, c in incl_counts.most_common(top)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("profiles", nargs="+", type=Path)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--under", help="only samples whose stack contains this text")
    a = ap.parse_args(argv)
    for p in a.profiles:
        print(summarise(p, a.top, a.under))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
