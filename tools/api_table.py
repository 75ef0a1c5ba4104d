"""Print the supported APIs and versions as a Markdown table, from the dispatch table.

    python tools/api_table.py            # the table README.md shows
    python tools/api_table.py --wire     # plus the versions wire could decode

Run from the repository root (or with the package installed). The rows are what
ApiVersions advertises, so the README cannot drift from what the broker serves.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kpybroker import dispatch  # noqa: E402
from kpybroker.handlers import failed  # noqa: E402
from wire.protocol import version_range  # noqa: E402


def table(*, wire_column: bool = False) -> str:
    """The Markdown table; ``wire_column`` adds the range the wire layer covers."""
    head = "| API | key | versions |" + (" wire covers |" if wire_column else "")
    rule = "|---|---:|---|" + ("---|" if wire_column else "")
    rows = [head, rule]
    for key, lo, hi in dispatch.supported_versions():
        row = f"| {dispatch.api_name(key)} | {key} | {lo}-{hi} |"
        if wire_column:
            wlo, whi = version_range(key)
            row += f" {wlo}-{whi} |"
        rows.append(row)
    return "\n".join(rows)


def main() -> int:
    print(table(wire_column="--wire" in sys.argv[1:]))
    for module, exc in failed.items():
        print(f"warning: {module} did not load: {exc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
