"""Shared test harness: real kpybroker instances on free ports, temp data dirs.

Fixtures (all function-scoped: every test gets a fresh broker and data dir):

``broker``
    An in-process broker: trio runs in a background thread, so synchronous stock
    clients (kafka-python, confluent-kafka) can be used directly from the test.
    Yields a ``RunningBroker``: a ``str`` equal to the bootstrap address
    ``"127.0.0.1:<port>"`` with extras: ``.broker`` (the ``Broker`` object),
    ``.port``, ``.data_dir``, ``.call(async_fn, *args)`` (run a coroutine function
    in the broker's trio thread and return its result, e.g.
    ``broker.call(broker.broker.create_topic, "t", 3, 1, {})``),
    ``.run_sync(fn, *args)`` (same for a plain function).

``start_broker``
    A factory for in-process brokers with config overrides:
    ``b = start_broker({"auto.create.topics.enable": "false"})``; the brokers are
    stopped when the test ends. ``data_dir=`` reuses a directory (restarts).

``broker_process``
    A ``python -m kpybroker`` subprocess (for restart, SIGTERM and kill tests).
    Yields a ``BrokerProcess``: a ``str`` bootstrap address with ``.proc``,
    ``.port``, ``.data_dir``, ``.stderr_path``, ``.stop(sig=SIGTERM) -> returncode``,
    ``.kill()`` (SIGKILL) and ``.restart(extra_overrides=None)`` (same port and data
    dir; returns the new ``BrokerProcess``).

``raw_client``
    ``raw_client(bootstrap) -> RawClient``: a plain blocking socket speaking the
    Kafka protocol with wire's codecs (``.request(body, version)``, ``.send(body,
    version) -> correlation id``, ``.receive(api_key, version)``, ``.send_bytes``,
    ``.receive_frame()``, ``.closed()``), for frame-level tests. Closed at the end
    of the test. The client itself (and its trio twin, ``AsyncRawClient``) lives in
    ``tests/support/raw_client.py``.

Brokers bind 127.0.0.1 port 0 and advertise the bound port. Pass overrides as
Kafka property strings.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import trio

if TYPE_CHECKING:
    from tests.support.raw_client import RawClient

# Brokers started as subprocesses would otherwise recompile every module on each
# start when the environment forbids bytecode caches (about a second each).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_S = 30.0
_LISTENER_RE = re.compile(r"listeners=[A-Z_]+://([^\s,]+):(\d+)")

# Defaults that keep tests fast and single-node friendly.
TEST_DEFAULTS = {
    "listeners": "PLAINTEXT://127.0.0.1:0",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "4",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "4",
    "group.initial.rebalance.delay.ms": "0",
}


class RunningBroker(str):
    """The bootstrap address of an in-process broker, with handles on it."""

    broker: Any
    port: int
    data_dir: str
    _runner: InProcessBroker

    def call(self, async_fn: Callable[..., Any], *args: Any) -> Any:
        return trio.from_thread.run(async_fn, *args, trio_token=self._runner.token)

    def run_sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        return trio.from_thread.run_sync(fn, *args, trio_token=self._runner.token)

    def stop(self) -> None:
        self._runner.stop()


class InProcessBroker:
    """Runs ``run_broker`` in a trio loop on a daemon thread."""

    def __init__(self, overrides: dict[str, str], data_dir: str) -> None:
        from kpybroker.config import BrokerConfig

        props = dict(TEST_DEFAULTS)
        props["log.dirs"] = data_dir
        props.update(overrides)
        self.config = BrokerConfig(props)
        self.data_dir = data_dir
        self.token: Any = None
        self.broker: Any = None
        self._cancel: trio.CancelScope | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._thread_main, name="kpybroker-test", daemon=True)

    def _thread_main(self) -> None:
        from kpybroker.server import leaf_error

        try:
            trio.run(self._main)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            self._error = leaf_error(exc)
        finally:
            self._ready.set()

    async def _main(self) -> None:
        from kpybroker.server import run_broker

        self.token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            self._cancel = nursery.cancel_scope
            self.broker = await nursery.start(run_broker, self.config)
            self._ready.set()

    def start(self) -> RunningBroker:
        self._thread.start()
        self._ready.wait(STARTUP_TIMEOUT_S)
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        if self.broker is None:
            raise RuntimeError("in-process broker did not start")
        _, host, port = self.broker.bound_addresses[0]
        handle = RunningBroker(f"{host}:{port}")
        handle.broker = self.broker
        handle.port = port
        handle.data_dir = self.data_dir
        handle._runner = self
        return handle

    def stop(self) -> None:
        if self._thread.is_alive() and self._cancel is not None:
            with contextlib.suppress(RuntimeError, trio.RunFinishedError):
                trio.from_thread.run_sync(self._cancel.cancel, trio_token=self.token)
            self._thread.join(STARTUP_TIMEOUT_S)
        if self._error is not None and not isinstance(self._error, trio.Cancelled):
            raise self._error


@pytest.fixture
def start_broker(tmp_path: Path) -> Iterator[Callable[..., RunningBroker]]:
    runners: list[InProcessBroker] = []

    def start(overrides: dict[str, str] | None = None, *, data_dir: str | None = None) -> RunningBroker:
        d = data_dir or str(tmp_path / f"data{len(runners)}")
        runner = InProcessBroker(dict(overrides or {}), d)
        runners.append(runner)
        return runner.start()

    yield start
    for runner in reversed(runners):
        runner.stop()


@pytest.fixture
def broker(start_broker: Callable[..., RunningBroker]) -> RunningBroker:
    return start_broker()


# -- subprocess brokers ------------------------------------------------------------------


class BrokerProcess(str):
    """The bootstrap address of a ``python -m kpybroker`` subprocess."""

    proc: subprocess.Popen[bytes]
    port: int
    data_dir: str
    stderr_path: str
    startup_line: str
    overrides: dict[str, str]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> int:
        return self.stop(signal.SIGKILL)

    def restart(self, extra_overrides: dict[str, str] | None = None) -> BrokerProcess:
        self.stop()
        overrides = dict(self.overrides)
        overrides["listeners"] = f"PLAINTEXT://127.0.0.1:{self.port}"
        overrides.update(extra_overrides or {})
        return launch_broker_process(overrides, self.data_dir, self.stderr_path + ".restart")

    def stderr_text(self) -> str:
        try:
            return Path(self.stderr_path).read_text(errors="replace")
        except OSError:
            return ""


def kpybroker_command(overrides: dict[str, str], config_file: str | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "kpybroker"]
    if config_file:
        cmd.append(config_file)
    for key, value in overrides.items():
        cmd += ["--override", f"{key}={value}"]
    return cmd


def launch_broker_process(overrides: dict[str, str], data_dir: str, stderr_path: str,
                          config_file: str | None = None) -> BrokerProcess:
    """Start ``python -m kpybroker`` and wait for its startup line."""
    props = dict(TEST_DEFAULTS)
    props["log.dirs"] = data_dir
    props.update(overrides)
    stderr = open(stderr_path, "wb")  # noqa: SIM115 - the child owns it
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(kpybroker_command(props, config_file), stdout=subprocess.PIPE, stderr=stderr,
                            cwd=str(ROOT), env=env)
    stderr.close()
    assert proc.stdout is not None
    line = _read_line(proc, STARTUP_TIMEOUT_S)
    m = _LISTENER_RE.search(line or "")
    if m is None:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"kpybroker did not start: {line!r}\n{Path(stderr_path).read_text(errors='replace')}")
    host, port = m.group(1), int(m.group(2))
    handle = BrokerProcess(f"{host}:{port}")
    handle.proc = proc
    handle.port = port
    handle.data_dir = data_dir
    handle.stderr_path = stderr_path
    handle.startup_line = line
    handle.overrides = dict(overrides)
    return handle


def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    result: list[bytes] = []

    def reader() -> None:
        assert proc.stdout is not None
        result.append(proc.stdout.readline())

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    t.join(timeout)
    return result[0].decode(errors="replace").strip() if result else ""


@pytest.fixture
def broker_process(tmp_path: Path) -> Iterator[BrokerProcess]:
    handles: list[BrokerProcess] = []
    data_dir = str(tmp_path / "data")
    handle = launch_broker_process({}, data_dir, str(tmp_path / "broker.stderr"))
    handles.append(handle)
    original_restart = BrokerProcess.restart

    def tracking_restart(self: BrokerProcess, extra: dict[str, str] | None = None) -> BrokerProcess:
        new = original_restart(self, extra)
        handles.append(new)
        return new

    handle.restart = tracking_restart.__get__(handle)  # type: ignore[method-assign]
    yield handle
    for h in handles:
        if h.proc.poll() is None:
            h.stop(signal.SIGKILL)


# -- raw protocol client -----------------------------------------------------------------------


@pytest.fixture
def raw_client() -> Iterator[Callable[[str], RawClient]]:
    from tests.support.raw_client import RawClient

    clients: list[RawClient] = []

    def connect(bootstrap: str) -> RawClient:
        c = RawClient(bootstrap)
        clients.append(c)
        return c

    yield connect
    for c in clients:
        c.close()
