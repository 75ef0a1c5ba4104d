"""Compatibility tests run against a bootstrap address.

``--bootstrap host:port`` points the suite at any Kafka-compatible cluster (for
instance a real Apache Kafka, to confirm a test encodes Kafka's behaviour).
Without it, one fresh kpybroker subprocess is started for the session on a free
port with a temporary data dir, and stopped (SIGTERM) at the end.

Fixture: ``bootstrap`` (session-scoped ``str``).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

# Brokers started as subprocesses would otherwise recompile every module on each
# start when the environment forbids bytecode caches (about a second each).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # compat_util

_STARTUP_RE = re.compile(r"listeners=[A-Z_]+://([^\s,]+):(\d+)")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--bootstrap", default=None,
                     help="host:port of the cluster to test (default: start a fresh kpybroker)")


def _start_kpybroker(data_dir: str, log_path: str) -> tuple[subprocess.Popen[bytes], str]:
    overrides = {
        "listeners": "PLAINTEXT://127.0.0.1:0",
        "log.dirs": data_dir,
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
    }
    cmd = [sys.executable, "-m", "kpybroker"]
    for key, value in overrides.items():
        cmd += ["--override", f"{key}={value}"]
    with open(log_path, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, cwd=str(ROOT),
                                env=dict(os.environ, PYTHONUNBUFFERED="1"))
    line: list[bytes] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(60)
    m = _STARTUP_RE.search(line[0].decode(errors="replace") if line else "")
    if m is None:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"kpybroker did not start:\n{Path(log_path).read_text(errors='replace')}")
    return proc, f"{m.group(1)}:{m.group(2)}"


@pytest.fixture(scope="session")
def bootstrap(request: pytest.FixtureRequest) -> Iterator[str]:
    given = request.config.getoption("--bootstrap")
    if given:
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="kpybroker-compat-") as tmp:
        proc, address = _start_kpybroker(os.path.join(tmp, "data"), os.path.join(tmp, "broker.log"))
        try:
            yield address
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
