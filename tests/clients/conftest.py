"""Fixtures for driving kpybroker with stock clients that are not Python libraries.

``kafkajs``
    A ``KafkaJs`` runner: ``kafkajs.run(scenario, bootstrap, topic) -> dict`` runs
    one scenario of ``tests/clients/kafkajs/scenarios.js`` with node and returns
    the JSON it printed. Skips when ``node`` is not installed; installs the locked
    kafkajs (``npm ci``) on first use if ``node_modules`` is missing.

``kcat``
    The path of the ``kcat`` (or older ``kafkacat``) binary; skips when neither is
    installed.

``java_client``
    A ``JavaClient`` runner for ``tests/clients/java/JavaClientCheck.java``: Apache
    Kafka's own Java client (kafka-clients, put in ``tests/clients/java/lib`` by
    ``make clients``), compiled once per session. Skips when ``javac`` or the jars
    are missing.

``recording_proxy``
    A factory for ``RecordingProxy``: a TCP relay in front of a broker that notes
    every request and response header passing through it, per connection.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

KAFKAJS_DIR = Path(__file__).resolve().parent / "kafkajs"
NODE_TIMEOUT_S = 60.0

_npm_lock = threading.Lock()
# Long-running kafkajs processes, stopped after each test whatever its outcome.
_RUNNING: list[KafkaJsProcess] = []


class KafkaJs:
    """Runs kafkajs scenarios (``scenarios.js``) with node."""

    def __init__(self, node: str) -> None:
        self.node = node

    def run(self, scenario: str, bootstrap: str, topic: str | None = None,
            timeout: float = NODE_TIMEOUT_S) -> dict[str, Any]:
        cmd = [self.node, str(KAFKAJS_DIR / "scenarios.js"), scenario, bootstrap]
        if topic is not None:
            cmd.append(topic)
        proc = subprocess.run(cmd, cwd=KAFKAJS_DIR, capture_output=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            pytest.fail(f"kafkajs scenario {scenario} exited {proc.returncode}:\n"
                        f"{proc.stderr.decode(errors='replace')}")
        lines = proc.stdout.decode().strip().splitlines()
        assert lines, f"kafkajs scenario {scenario} printed nothing"
        return json.loads(lines[-1])

    def start(self, scenario: str, bootstrap: str, topic: str, env: dict[str, str] | None = None) -> KafkaJsProcess:
        """Start a long-running scenario; its JSON lines are collected as they come."""
        cmd = [self.node, str(KAFKAJS_DIR / "scenarios.js"), scenario, bootstrap, topic]
        proc = subprocess.Popen(cmd, cwd=KAFKAJS_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
        handle = KafkaJsProcess(proc)
        _RUNNING.append(handle)
        return handle


class KafkaJsProcess:
    """A running kafkajs scenario: ``events`` fills from its stdout; ``stop()``
    closes its stdin (the scenario's signal to leave) and waits for it."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip():
                self.events.append(json.loads(line))

    def send_line(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def wait_event(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30.0) -> dict[str, Any]:
        """The first event matching ``predicate``, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in list(self.events):
                if predicate(event):
                    return event
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.02)
        died = f"; it exited {self.proc.returncode}:\n{self.stderr_text()}" if self.proc.poll() is not None else ""
        pytest.fail(f"kafkajs never reported the awaited event; last events: {self.events[-5:]}{died}")

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):  # the process may be gone already
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(5)
        return self.proc.returncode

    def stderr_text(self) -> str:
        """What the process wrote to stderr; only once it has exited (reading a live
        process's pipe could block)."""
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""


def _ensure_kafkajs_installed() -> None:
    with _npm_lock:
        if (KAFKAJS_DIR / "node_modules" / "kafkajs" / "package.json").exists():
            return
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("kafkajs is not installed and npm is missing: "
                        "run `npm ci` in tests/clients/kafkajs")
        proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=KAFKAJS_DIR,
                              capture_output=True, timeout=300, check=False)
        if proc.returncode != 0:
            pytest.fail(f"`npm ci` in tests/clients/kafkajs failed:\n{proc.stderr.decode(errors='replace')}")


@pytest.fixture(scope="session")
def kafkajs() -> KafkaJs:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (kafkajs tests need node and npm)")
    _ensure_kafkajs_installed()
    return KafkaJs(node)


@pytest.fixture(autouse=True)
def _stop_kafkajs_processes() -> Iterator[None]:
    yield
    while _RUNNING:
        _RUNNING.pop().stop(timeout=10)


@pytest.fixture(scope="session")
def kcat() -> str:
    path = shutil.which("kcat") or shutil.which("kafkacat")
    if path is None:
        pytest.skip("kcat is not installed (Debian/Ubuntu: apt-get install -y kcat)")
    return path


# -- the Java client ---------------------------------------------------------------------

JAVA_DIR = Path(__file__).resolve().parent / "java"
JAVA_TIMEOUT_S = 180.0
# A small, quick-starting JVM: the scenarios are short and the machine has two cores.
JVM_FLAGS = ["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto"]


class JavaClient:
    """Runs ``JavaClientCheck`` scenarios; each returns the JSON of its RESULT line."""

    def __init__(self, java: str, classpath: str) -> None:
        self.java = java
        self.classpath = classpath

    def _command(self, scenario: str, bootstrap: str, topic: str, extra: tuple[str, ...]) -> list[str]:
        return [self.java, *JVM_FLAGS, "-cp", self.classpath, "JavaClientCheck", str(bootstrap), scenario, topic, *extra]

    def run(self, scenario: str, bootstrap: str, topic: str, *extra: str) -> dict[str, Any]:
        proc = subprocess.run(self._command(scenario, bootstrap, topic, extra), capture_output=True, timeout=JAVA_TIMEOUT_S, check=False)
        out = proc.stdout.decode(errors="replace")
        if proc.returncode != 0:
            err = proc.stderr.decode(errors="replace")
            pytest.fail(f"Java client scenario {scenario} exited {proc.returncode}:\n{out[-2000:]}\n{err[-4000:]}")
        results = [line[len("RESULT "):] for line in out.splitlines() if line.startswith("RESULT ")]
        assert results, f"no RESULT line from the Java client:\n{out[-2000:]}"
        return dict(json.loads(results[-1]))

    def start(self, scenario: str, bootstrap: str, topic: str, *extra: str) -> JavaProcess:
        """Start a scenario and return at once; read its lines with ``JavaProcess``."""
        proc = subprocess.Popen(self._command(scenario, bootstrap, topic, extra), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        running = JavaProcess(proc)
        _RUNNING_JAVA.append(running)
        return running


class JavaProcess:
    """A running ``JavaClientCheck`` scenario: its stdout as lines, and its RESULT."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.put(raw.decode(errors="replace").rstrip("\n"))
        self.lines.put(None)

    def wait_line(self, predicate: Callable[[str], bool], timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"the Java client printed no matching line in {timeout} s: {self.output[-5:]}")
            if line is None:
                pytest.fail(f"the Java client exited {self.proc.wait()}:\n{self._stderr()}")
            self.output.append(line)
            if predicate(line):
                return line

    def new_lines(self) -> list[str]:
        """The lines printed since the last call, without waiting."""
        fresh = []
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return fresh
            if line is None:
                self.lines.put(None)  # keep the end visible to wait_line
                return fresh
            self.output.append(line)
            fresh.append(line)

    def close_stdin(self) -> None:
        """Scenarios that run until their stdin closes (group-member) then finish."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()

    def result(self, timeout: float = JAVA_TIMEOUT_S) -> dict[str, Any]:
        """Wait for the scenario to end; its RESULT, or the test fails with its output."""
        line = self.wait_line(lambda text: text.startswith("RESULT "), timeout)
        self.proc.wait(30)
        return dict(json.loads(line[len("RESULT "):]))

    def _stderr(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")[-4000:]

    def stop(self) -> None:
        self.close_stdin()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


_RUNNING_JAVA: list[JavaProcess] = []


@pytest.fixture(autouse=True)
def _stop_java_processes() -> Iterator[None]:
    yield
    while _RUNNING_JAVA:
        _RUNNING_JAVA.pop().stop()


@pytest.fixture(scope="session")
def java_client(tmp_path_factory: pytest.TempPathFactory) -> JavaClient:
    java, javac = shutil.which("java"), shutil.which("javac")
    lib = JAVA_DIR / "lib"
    jars = sorted(lib.glob("*.jar"))
    if java is None or javac is None:
        pytest.skip("no JDK (Debian/Ubuntu: apt-get install -y default-jdk-headless; `make clients` does it)")
    if not any(j.name.startswith("kafka-clients-") for j in jars):
        pytest.skip("kafka-clients is not in tests/clients/java/lib (run `make clients`)")
    classes = tmp_path_factory.mktemp("java-classes")
    classpath = os.pathsep.join([*(str(j) for j in jars), str(classes)])
    proc = subprocess.run([javac, "-Xlint:-removal", "-d", str(classes), "-cp", classpath,
                           str(JAVA_DIR / "JavaClientCheck.java")],
                          capture_output=True, timeout=JAVA_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        pytest.fail(f"javac failed:\n{proc.stderr.decode(errors='replace')}")
    return JavaClient(java, classpath)


# -- recording proxy --------------------------------------------------------------------


@dataclass
class ProxiedConnection:
    """What one client connection carried, in order."""

    requests: list[tuple[int, int, int]] = field(default_factory=list)  # api key, version, correlation id
    request_frames: list[bytes] = field(default_factory=list)  # each whole, without the size prefix
    responses: list[int] = field(default_factory=list)  # correlation ids


class RecordingProxy:
    """Relays TCP connections to ``target`` and records Kafka frame headers.

    The proxy listens first (so a broker can advertise its port), then
    ``set_target`` names the broker. Request frames are parsed for their header
    (api key, version, correlation id); response frames for their correlation id.
    """

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.target: tuple[str, int] | None = None
        self.connections: list[ProxiedConnection] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._accept_thread.start()

    def set_target(self, address: str) -> None:
        host, port = address.rsplit(":", 1)
        self.target = (host, int(port))

    def close(self) -> None:
        self._closed = True
        # shutdown() wakes the accept() blocked in the other thread; close() alone does not.
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        with self._lock:
            for s in self._sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
        self._accept_thread.join(5)

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            assert self.target is not None, "RecordingProxy used before set_target"
            upstream = socket.create_connection(self.target)
            record = ProxiedConnection()
            with self._lock:
                self.connections.append(record)
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, record, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, record, False), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, record: ProxiedConnection, is_request: bool) -> None:
        pending = bytearray()
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                pending += data
                while len(pending) >= 4:
                    size = struct.unpack_from(">i", pending)[0]
                    if len(pending) < 4 + size:
                        break
                    if is_request:
                        record.requests.append(struct.unpack_from(">hhi", pending, 4))
                        record.request_frames.append(bytes(pending[4: 4 + size]))
                    else:
                        record.responses.append(struct.unpack_from(">i", pending, 4)[0])
                    del pending[: 4 + size]
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass


@pytest.fixture
def recording_proxy() -> Iterator[Callable[[], RecordingProxy]]:
    proxies: list[RecordingProxy] = []

    def make() -> RecordingProxy:
        p = RecordingProxy()
        proxies.append(p)
        return p

    yield make
    for p in proxies:
        p.close()
