#!/usr/bin/env python3
"""``make bench``: kpybroker side by side with librdkafka's mock cluster.

One run starts both brokers, drives the same client workloads against each
(``bench/broker_bench.py``, one bounded subprocess per workload and broker,
alternating so that load from elsewhere on the machine hits both alike),
measures the broker processes from ``/proc`` (CPU time, RSS, time to accept
connections), then runs the codec and storage micro-benchmarks
(``bench/wire_bench.py``, ``bench/storage_bench.py``) and prints everything:
one table with each figure for both brokers, the ratio kpybroker/mock and the
target from the performance issue. The same figures go to
``bench/results/<UTC timestamp>.json``.

The workloads whose targets are hardest on a small machine (the 1 KiB producers,
kafka-python) also run against two floor servers (``bench/_floor.py``): a bare
threaded Python produce sink that keeps nothing, and the same sink appending every
batch to files as kpybroker's segments do. A second table shows them beside
kpybroker and the mock, so each run says how much of a gap is storing the data on
this machine and how much is kpybroker's own work.

Exit status: 0 when every message of every workload was delivered (and
consumed, for the read-back and latency workloads); 1 otherwise, or when a
workload or the consumer-group warm-up failed or ran out of time. Missed
performance targets do not fail the run: they are figures, not tests.

Options: ``--quick`` (small counts, a smoke run of the harness itself),
``--skip-micro`` (no wire/storage micro-benchmarks), ``--only kpybroker|mock``,
``--workloads KEY,...``, ``--no-floor`` (skip the floor servers), ``--profile DIR`` (a py-spy profile of kpybroker during
each of its workloads; needs py-spy), ``--cprofile FILE`` (kpybroker under
cProfile, charged by CPU time). docs/benchmarks.md explains the method and keeps
the recorded runs.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import queue
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
RUN_BUDGET_S = 290.0
START_SAMPLES = 3  # starts per broker before the one that serves the workloads; the first is a warm-up  # the bound for the whole run is 5 minutes
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Start-up is measured the way an installed broker starts: with bytecode
# already cached. The cache goes to a directory outside the work tree, and a
# warm-up start fills it, so the environment's PYTHONDONTWRITEBYTECODE (if
# set) does not turn the figure into a measure of compiling every module.
PYCACHE = Path(tempfile.gettempdir()) / "kpybroker-bench-pycache"
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
CHILD_ENV["PYTHONPYCACHEPREFIX"] = str(PYCACHE)

KPY = "kpybroker"
MOCK = "mock"
# bench/_floor.py: a bare Python produce sink, without and with appends to files.
FLOOR = "floor"
FLOOR_DISK = "floor+disk"
FLOORS = (FLOOR, FLOOR_DISK)


# ------------------------------------------------------------------ /proc readings


def cpu_times(pid: int) -> tuple[float, float]:
    """(utime, stime) in seconds, summed over every thread of ``pid``."""
    with open(f"/proc/{pid}/stat") as f:
        # The command name may contain spaces; the fields after it are fixed.
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def machine_jiffies() -> tuple[int, int]:
    """(busy, all) clock ticks of the whole machine, from the first line of /proc/stat."""
    with open("/proc/stat") as f:
        # user nice system idle iowait irq softirq steal (guest time is already in user)
        fields = [int(x) for x in f.readline().split()[1:9]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def cpu_seconds(pid: int) -> float:
    return sum(cpu_times(pid))


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import confluent_kafka
    import kafka

    return {
        "nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(),
        "kernel": platform.release(), "loadavg_at_start": os.getloadavg(),
        "confluent_kafka": getattr(confluent_kafka, "__version__", "?"), "librdkafka": confluent_kafka.libversion()[0],
        "kafka_python": kafka.__version__,
    }


# ------------------------------------------------------------------ the two brokers


@dataclass
class Target:
    """A running broker under test and what was measured about its process."""

    name: str
    proc: subprocess.Popen[bytes]
    bootstrap: str
    start_to_accept_s: float
    note: str = ""
    idle_rss_mb: float = float("nan")
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_accepting(host: str, port: int, deadline: float, proc: subprocess.Popen[bytes]) -> None:
    while True:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"process exited with {proc.returncode} before accepting connections") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing accepted on {host}:{port} in time") from None
            time.sleep(0.002)


# Broker settings given with --set (e.g. to compare a setting's cost).
EXTRA_OVERRIDES: dict[str, str] = {}


def start_kpybroker(workdir: Path, data_name: str = "kpybroker-data", cprofile: Path | None = None) -> Target:
    port = free_port()
    overrides = {
        "listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "log.dirs": str(workdir / data_name),
        # The mock auto-creates 4-partition topics; the workloads rely on that shape.
        "num.partitions": "4",
        "auto.create.topics.enable": "true",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        **EXTRA_OVERRIDES,
    }
    cmd = [PY, "-m", "kpybroker"] if cprofile is None else [PY, str(HERE / "_cprofile_broker.py"), str(cprofile)]
    for key, value in overrides.items():
        cmd += ["--override", f"{key}={value}"]
    stderr = open(workdir / "kpybroker.stderr", "wb")  # noqa: SIM115 - handed to the child
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,
                            env=CHILD_ENV)
    stderr.close()
    try:
        wait_accepting("127.0.0.1", port, t0 + 30, proc)
    except RuntimeError as exc:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"kpybroker did not start: {exc}\n{tail(workdir / 'kpybroker.stderr')}") from None
    accept_s = time.monotonic() - t0
    # Drain stdout so a chatty broker can never block on a full pipe.
    threading.Thread(target=lambda: proc.stdout.read() if proc.stdout else None, daemon=True).start()
    return Target(KPY, proc, f"127.0.0.1:{port}", accept_s,
                  note="python -m kpybroker subprocess, writes segment files to a temp dir")


def start_announcing(workdir: Path, name: str, cmd: list[str], prefix: str) -> tuple[Target, list[str]]:
    """Start a helper that prints one line ``<prefix> host:port ...`` once it serves
    and lives until its stdin is closed (the mock's host, the floors); wait until it
    accepts connections. Returns the target and the line's other fields."""
    stderr = open(workdir / f"{name}.stderr", "wb")  # noqa: SIM115 - handed to the child
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.PIPE,
                            env=CHILD_ENV)
    stderr.close()
    assert proc.stdout is not None
    line = read_line(proc.stdout, 30)
    if not line.startswith(prefix + " "):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"{name} did not start: {line!r}\n{tail(workdir / f'{name}.stderr')}")
    _, bootstrap, *rest = line.split()
    host, port = bootstrap.rsplit(":", 1)
    wait_accepting(host, int(port), t0 + 30, proc)
    return Target(name, proc, bootstrap, time.monotonic() - t0), rest


def start_mock(workdir: Path) -> Target:
    target, (ready_s,) = start_announcing(workdir, MOCK, [PY, str(HERE / "_mock.py")], "MOCK")
    target.note = "librdkafka mock cluster inside a Python host process (one idle client)"
    target.extra["mock_ready_in_process_s"] = float(ready_s)
    return target


def start_floor(workdir: Path, disk: bool) -> Target:
    name = FLOOR_DISK if disk else FLOOR
    cmd = [PY, str(HERE / "_floor.py")] + (["--dir", str(workdir / "floor-data")] if disk else [])
    target, _ = start_announcing(workdir, name, cmd, "FLOOR")
    target.note = ("bare threaded Python produce sink (bench/_floor.py)"
                   + (", appends to files with kpybroker's write-behind" if disk else ", keeps nothing"))
    return target


def stop(target: Target) -> None:
    proc = target.proc
    if proc.poll() is None:
        if proc.stdin is not None:
            # The helpers started with a stdin pipe (the mock's host, the floors)
            # exit at EOF on it; kpybroker gets SIGTERM.
            with contextlib.suppress(OSError):
                proc.stdin.close()
        else:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def read_line(stream: Any, timeout: float) -> str:
    box: list[bytes] = []
    t = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    t.start()
    t.join(timeout)
    return box[0].decode(errors="replace").strip() if box else ""


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ------------------------------------------------------------------ workloads


@dataclass
class Workload:
    """One row family of the table: a broker_bench.py invocation and its time bound."""

    key: str
    args: list[str]
    timeout_s: float
    # Runs per broker (alternating); the table reports the median run.
    repeat: int = 1
    # Also run against the floor servers (bench/_floor.py), in the same alternation.
    floors: bool = False


def workloads(quick: bool) -> list[Workload]:
    secs = "1.5" if quick else "6"
    small = ["--max-msgs", "100000" if quick else "2000000", "--seconds", secs]
    large = ["--max-msgs", "20000" if quick else "500000", "--seconds", secs]
    # The producer runs last a second or two and spread by 10-20% from one run to
    # the next on a shared 2-core machine (docs/benchmarks.md), so each is run
    # three times per broker and the median run reported.
    reps = 1 if quick else 3
    return [
        Workload("produce_100B_acks1", ["produce", "--size", "100", "--acks", "1", *small], 60, reps),
        Workload("produce_100B_acksall", ["produce", "--size", "100", "--acks", "all", *small], 60, reps),
        # The floors show, run by run, what a bare Python server reaches with and
        # without storing: the two rows whose targets kpybroker misses.
        Workload("produce_1KiB_acks1", ["produce", "--size", "1024", "--acks", "1", *large], 60, reps, True),
        Workload("produce_1KiB_acksall", ["produce", "--size", "1024", "--acks", "all", *large], 60, reps, True),
        Workload("kafka_python_1KiB_acks1",
                 ["kafka-python", "--size", "1024", "--acks", "1",
                  "--max-msgs", "5000" if quick else "60000", "--seconds", secs], 60, reps, True),
        Workload("serial_produce_100B",
                 ["serial", "--size", "100", "--acks", "1", "--max-msgs", "500" if quick else "3000",
                  "--seconds", "5"], 40),
        # Its CPU per GB spread over 0.27-0.46 between single runs of the same code
        # (docs/benchmarks.md, section 0h): the median of three, like the producers.
        Workload("consume_1KiB",
                 ["consume", "--size", "1024", "--data-mib", "4" if quick else "16",
                  "--seconds", "1" if quick else "4"], 60, reps),
        Workload("latency_fetchwait5",
                 ["latency", "--size", "100", "--rate", "1000", "--fetch-wait-ms", "5",
                  "--seconds", "2" if quick else "8", "--warmup", "0.5" if quick else "1"], 60),
        Workload("latency_fetchwait500",
                 ["latency", "--size", "100", "--rate", "1000", "--fetch-wait-ms", "500",
                  "--seconds", "1" if quick else "4", "--warmup", "0.5"], 45),
    ]


def median_run(outs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median message rate (the lower middle one of an even count),
    whole, so that every figure of a row family comes from one run; the rates of
    all runs go with it. A failed run is reported instead, so that it shows."""
    if len(outs) == 1:
        return outs[0]
    failed = [o for o in outs if o.get("failed") or not isinstance(o.get("msgs_per_s"), (int, float))]
    if failed:
        return failed[0]
    ranked = sorted(outs, key=lambda o: o["msgs_per_s"])
    chosen = dict(ranked[(len(ranked) - 1) // 2])
    chosen["runs_msgs_per_s"] = [o["msgs_per_s"] for o in outs]
    return chosen


def run_workload(target: Target, wl: Workload, timeout_s: float, profile_dir: Path | None) -> dict[str, Any]:
    """Run one workload against one broker, sampling the broker's CPU time at
    the child's MARK lines so that set-up (topic creation, loading data) is not
    charged to the timed region."""
    cmd = [PY, str(HERE / "broker_bench.py"), *wl.args, "--bootstrap", target.bootstrap]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=CHILD_ENV)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.put(raw.decode(errors="replace").rstrip("\n"))
        lines.put(None)

    stderr_box: list[bytes] = []
    threading.Thread(target=pump, daemon=True).start()
    threading.Thread(target=lambda: stderr_box.append(proc.stderr.read() if proc.stderr else b""),
                     daemon=True).start()
    deadline = time.monotonic() + timeout_s
    cpu: dict[str, tuple[float, float]] = {}
    out: dict[str, Any] | None = None
    spy: subprocess.Popen[bytes] | None = None
    try:
        while True:
            try:
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                out = {"failed": f"timed out after {timeout_s:.0f} s", "undelivered": None}
                break
            if line is None:
                break
            if line == "MARK start":
                cpu["start"] = cpu_times(target.pid)
                cpu["client_start"] = cpu_times(proc.pid)
                cpu["machine_start"] = machine_jiffies()
                if profile_dir is not None and target.name == KPY:
                    spy = start_profile(target.pid, profile_dir / f"{wl.key}.txt")
            elif line == "MARK end":
                cpu["end"] = cpu_times(target.pid)
                cpu["client_end"] = cpu_times(proc.pid)
                cpu["machine_end"] = machine_jiffies()
                if spy is not None:
                    stop_profile(spy)
                    spy = None
            elif line.startswith("RESULT "):
                out = json.loads(line[len("RESULT "):])
    finally:
        if spy is not None:
            stop_profile(spy)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    if out is None:
        err = b"".join(stderr_box).decode(errors="replace")[-800:]
        out = {"failed": f"exited {proc.returncode} without a result: {err}", "undelivered": None}
    if "start" in cpu and "end" in cpu:
        # user vs system time tells Python work apart from syscalls and copies.
        out["broker_cpu_user_s"] = cpu["end"][0] - cpu["start"][0]
        out["broker_cpu_sys_s"] = cpu["end"][1] - cpu["start"][1]
        out["broker_cpu_s"] = out["broker_cpu_user_s"] + out["broker_cpu_sys_s"]
        if out.get("requests_per_s"):
            out["broker_cpu_us_per_request"] = 1e6 * out["broker_cpu_s"] / (out["requests_per_s"] * out["seconds"])
        # The client shares the machine's cores with the broker: its CPU and the
        # machine's busy cores show whether a throughput gap is the broker's CPU.
        out["client_cpu_s"] = sum(cpu["client_end"]) - sum(cpu["client_start"])
        busy0, all0 = cpu["machine_start"]
        busy1, all1 = cpu["machine_end"]
        if all1 > all0:
            out["machine_busy_cores"] = (os.cpu_count() or 1) * (busy1 - busy0) / (all1 - all0)
        if out.get("bytes"):
            gb = out["bytes"] / 1e9
            out["client_cpu_s_per_gb"] = out["client_cpu_s"] / gb
            out["broker_cpu_s_per_gb"] = out["broker_cpu_s"] / gb
            out["broker_cpu_user_s_per_gb"] = out["broker_cpu_user_s"] / gb
            out["broker_cpu_sys_s_per_gb"] = out["broker_cpu_sys_s"] / gb
    return out


def start_profile(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    spy = shutil.which("py-spy") or str(Path(PY).parent / "py-spy")
    if not Path(spy).exists():
        return None
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
                             "--nonblocking", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_profile(spy: subprocess.Popen[bytes]) -> None:
    # py-spy writes its output on SIGINT.
    spy.send_signal(signal.SIGINT)
    try:
        spy.wait(20)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy.wait()


def run_micro(script: str, args: list[str], timeout_s: float) -> dict[str, Any]:
    """A micro-benchmark owned by another area, run as-is; its output is kept verbatim."""
    path = HERE / script
    if not path.exists():
        return {"output": f"({script} not found)", "returncode": None}
    t0 = time.monotonic()
    try:
        done = subprocess.run([PY, str(path), *args], cwd=ROOT, capture_output=True, timeout=timeout_s,
                              stdin=subprocess.DEVNULL, env=CHILD_ENV)
    except subprocess.TimeoutExpired as exc:
        partial = (exc.stdout or b"").decode(errors="replace")
        return {"output": partial + f"\n({script}: stopped after {timeout_s:.0f} s)", "returncode": None,
                "seconds": timeout_s}
    text = done.stdout.decode(errors="replace")
    if done.returncode != 0:
        text += "\n" + done.stderr.decode(errors="replace")[-1500:]
    return {"output": text.rstrip(), "returncode": done.returncode, "seconds": time.monotonic() - t0}


# ------------------------------------------------------------------ the table


@dataclass
class Row:
    """One figure for both brokers; ``higher`` says which direction is better."""

    label: str
    kpy: float | None
    mock: float | None
    unit: str
    target: str = ""
    ok: bool | None = None
    ratio_meaningful: bool = True

    @property
    def ratio(self) -> float | None:
        if not self.ratio_meaningful or self.kpy is None or self.mock is None or self.mock == 0:
            return None
        return self.kpy / self.mock


def get(results: dict[str, dict[str, Any]], target: str, key: str, field_name: str) -> float | None:
    value = results.get(target, {}).get(key, {}).get(field_name)
    return value if isinstance(value, (int, float)) else None


def build_rows(results: dict[str, dict[str, Any]], targets: dict[str, Target],
               rss_after: dict[str, float], stored_mb: float) -> list[Row]:
    rows: list[Row] = []

    def ratio_row(label: str, key: str, fld: str, unit: str, want: float | None, higher: bool = True) -> Row:
        row = Row(label, get(results, KPY, key, fld), get(results, MOCK, key, fld), unit)
        if want is not None and row.ratio is not None:
            row.target = f"{'>=' if higher else '<='} {want:g}x mock"
            row.ok = row.ratio >= want if higher else row.ratio <= want
        rows.append(row)
        return row

    for key, label in [("produce_100B_acks1", "producer 100 B acks=1"),
                       ("produce_100B_acksall", "producer 100 B acks=all"),
                       ("produce_1KiB_acks1", "producer 1 KiB acks=1"),
                       ("produce_1KiB_acksall", "producer 1 KiB acks=all")]:
        ratio_row(f"{label}", key, "msgs_per_s", "msg/s", 0.95)
        ratio_row(f"{label}", key, "mb_per_s", "MB/s", None)
    ratio_row("kafka-python producer 1 KiB acks=1", "kafka_python_1KiB_acks1", "msgs_per_s", "msg/s", 1.0)
    ratio_row("consumer steady state 1 KiB", "consume_1KiB", "mb_per_s", "MB/s", 1.0)
    ratio_row("consumer steady state 1 KiB", "consume_1KiB", "msgs_per_s", "msg/s", None)
    for q in ("p50", "p99", "p999"):
        want = 1.0 if q == "p99" else None
        ratio_row(f"e2e latency {q} (1000 msg/s, acks=all, fetch.wait.max.ms=5)",
                  "latency_fetchwait5", f"{q}_ms", "ms", want, higher=False)
    for q in ("p50", "p99"):
        row = ratio_row(f"e2e latency {q} (fetch.wait.max.ms=500: wake-up on append)",
                        "latency_fetchwait500", f"{q}_ms", "ms", None, higher=False)
        if q == "p99" and row.kpy is not None:
            # The mock has no wake-up, so only kpybroker's own figure is judged:
            # a broker that long-polls properly answers within a few ms.
            row.target, row.ok = "<= 50 ms (no timer-driven wake)", row.kpy <= 50
    for key, label, limit in [("produce_1KiB_acks1", "broker CPU s/GB produced (1 KiB acks=1)", 1.0),
                              ("produce_1KiB_acksall", "broker CPU s/GB produced (1 KiB acks=all)", 1.0),
                              ("produce_100B_acks1", "broker CPU s/GB produced (100 B acks=1)", None),
                              ("consume_1KiB", "broker CPU s/GB fetched (1 KiB)", 0.3)]:
        row = Row(label, get(results, KPY, key, "broker_cpu_s_per_gb"),
                  get(results, MOCK, key, "broker_cpu_s_per_gb"), "CPU-s/GB")
        if limit is not None and row.kpy is not None:
            row.target, row.ok = f"<= {limit:g}", row.kpy <= limit
        rows.append(row)
        if key.startswith("produce_1KiB") or key == "consume_1KiB":
            for part in ("user", "sys"):
                rows.append(Row(f"  of which {'user' if part == 'user' else 'system'} time",
                                get(results, KPY, key, f"broker_cpu_{part}_s_per_gb"),
                                get(results, MOCK, key, f"broker_cpu_{part}_s_per_gb"), "CPU-s/GB"))
        if key.startswith("produce_1KiB"):
            # Client and broker share two cores: when both runs keep the machine
            # busy, the throughput ratio is set by the sum of the two CPU costs.
            rows.append(Row("  client CPU in the same run", get(results, KPY, key, "client_cpu_s_per_gb"),
                            get(results, MOCK, key, "client_cpu_s_per_gb"), "CPU-s/GB"))
            rows.append(Row("  machine busy in the same run", get(results, KPY, key, "machine_busy_cores"),
                            get(results, MOCK, key, "machine_busy_cores"), "cores"))
    rows.append(Row("broker CPU per produce request (serial, 1 record each)",
                    get(results, KPY, "serial_produce_100B", "broker_cpu_us_per_request"),
                    get(results, MOCK, "serial_produce_100B", "broker_cpu_us_per_request"), "CPU-us"))
    ratio_row("serial produce requests (1 in flight)", "serial_produce_100B", "requests_per_s", "req/s", None)
    rows.append(Row("broker CPU per request (latency run, fetch.wait.max.ms=5)",
                    get(results, KPY, "latency_fetchwait5", "broker_cpu_us_per_request"),
                    get(results, MOCK, "latency_fetchwait5", "broker_cpu_us_per_request"), "CPU-us"))
    kpy, mock = targets.get(KPY), targets.get(MOCK)
    row = Row("start to accepting connections", kpy.start_to_accept_s if kpy else None,
              mock.start_to_accept_s if mock else None, "s")
    if row.kpy is not None:
        row.target, row.ok = "<= 0.5 s", row.kpy <= 0.5
    rows.append(row)
    row = Row("idle RSS", kpy.idle_rss_mb if kpy else None, mock.idle_rss_mb if mock else None, "MB")
    if row.kpy is not None:
        row.target, row.ok = "<= 80 MB", row.kpy <= 80
    rows.append(row)
    row = Row(f"RSS after produce runs ({stored_mb:.0f} MB stored)", rss_after.get(KPY), rss_after.get(MOCK), "MB")
    if row.kpy is not None and kpy is not None:
        # "Does not grow with data stored": allow some working-set slack over idle.
        row.target, row.ok = "<= idle + 64 MB", row.kpy <= kpy.idle_rss_mb + 64
    rows.append(row)
    return rows


def fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def markdown_table(header: tuple[str, ...], body: list[tuple[str, ...]]) -> str:
    widths = [max(len(str(x[i])) for x in [header, *body]) for i in range(len(header))]
    out = []
    for i, line in enumerate([header, *body]):
        out.append("| " + " | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) + " |")
        if i == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def render(rows: list[Row]) -> str:
    header = ("figure", "unit", "kpybroker", "mock", "ratio", "target", "")
    body = [(r.label, r.unit, fmt(r.kpy), fmt(r.mock), f"{r.ratio:.2f}x" if r.ratio is not None else "",
             r.target, "" if r.ok is None else ("ok" if r.ok else "MISS")) for r in rows]
    return markdown_table(header, body)


def floor_table(results: dict[str, dict[str, Any]], quick: bool) -> tuple[str, list[dict[str, Any]]]:
    """The workloads run against the floors: each server's median run, its ratio to
    the mock and its CPU per GB, one line per server."""
    lines: list[dict[str, Any]] = []
    for wl in workloads(quick):
        if not wl.floors:
            continue
        mock_rate = get(results, MOCK, wl.key, "msgs_per_s")
        for name in (FLOOR, FLOOR_DISK, KPY, MOCK):
            rate = get(results, name, wl.key, "msgs_per_s")
            if rate is None:
                continue
            lines.append({"workload": wl.key, "server": name, "msgs_per_s": rate,
                          "ratio": rate / mock_rate if mock_rate else None,
                          "cpu_s_per_gb": get(results, name, wl.key, "broker_cpu_s_per_gb"),
                          "user_s_per_gb": get(results, name, wl.key, "broker_cpu_user_s_per_gb"),
                          "sys_s_per_gb": get(results, name, wl.key, "broker_cpu_sys_s_per_gb")})
    if not any(line["server"] in FLOORS for line in lines):
        return "", []
    header = ("workload", "server", "msg/s", "x mock", "CPU-s/GB", "user", "system")
    body = [(line["workload"], line["server"], fmt(line["msgs_per_s"]),
             f"{line['ratio']:.2f}x" if line["ratio"] is not None else "",
             fmt(line["cpu_s_per_gb"]), fmt(line["user_s_per_gb"]), fmt(line["sys_s_per_gb"]))
            for line in lines]
    return markdown_table(header, body), lines


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small counts: a smoke run of the harness")
    ap.add_argument("--skip-micro", action="store_true", help="skip wire_bench.py and storage_bench.py")
    ap.add_argument("--profile", metavar="DIR", help="py-spy profile of kpybroker per workload into DIR")
    ap.add_argument("--cprofile", metavar="FILE", help="run kpybroker under cProfile (CPU time) into FILE")
    ap.add_argument("--only", choices=[KPY, MOCK], help="run against one broker only (e.g. while optimising)")
    ap.add_argument("--workloads", metavar="KEY,...", help="run only these workloads (keys as printed)")
    ap.add_argument("--no-floor", action="store_true",
                    help="do not run the floor servers (bench/_floor.py); --only implies it")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a broker setting for kpybroker (repeatable), as --override of the broker")
    ap.add_argument("--results", default=str(HERE / "results"), help="directory for the JSON file")
    args = ap.parse_args(argv)
    for setting in args.set:
        key, sep, value = setting.partition("=")
        if not sep:
            ap.error(f"--set wants KEY=VALUE, not {setting!r}")
        EXTRA_OVERRIDES[key] = value
    profile_dir = Path(args.profile) if args.profile else None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)

    # SIGTERM unwinds like Ctrl-C, so the finally below still stops both brokers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    stamp = dt.datetime.now(dt.UTC)
    info = machine()
    print(f"kpybroker vs librdkafka mock - {stamp:%Y-%m-%d %H:%M} UTC - {info['nproc']} x {info['cpu']}, "
          f"Python {info['python']}, librdkafka {info['librdkafka']}, load {info['loadavg_at_start'][0]:.2f}",
          flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="kpybroker-bench-"))
    targets: dict[str, Target] = {}
    # The floor servers: not brokers, so outside the start-up, RSS and warm-up figures.
    floors: dict[str, Target] = {}
    results: dict[str, dict[str, Any]] = {KPY: {}, MOCK: {}}
    rss_after: dict[str, float] = {}
    failures: list[str] = []
    micro: dict[str, Any] = {}
    stored_bytes = 0
    try:
        # The first start of each fills the bytecode cache and is not counted; then
        # START_SAMPLES starts are timed (the last one stays up for the workloads)
        # and the median is reported, since one start on a busy machine is noisy.
        names = [n for n in (KPY, MOCK) if args.only in (None, n)]
        cprofile = Path(args.cprofile).resolve() if args.cprofile else None
        starters = {KPY: lambda w: start_kpybroker(w, cprofile=cprofile), MOCK: start_mock}
        start_times: dict[str, list[float]] = {n: [] for n in names}
        for name in names:
            for i in range(START_SAMPLES):
                try:
                    t = (start_kpybroker(workdir, f"start-{i}") if name == KPY else start_mock(workdir))
                    if i:
                        start_times[name].append(t.start_to_accept_s)
                    stop(t)
                except RuntimeError:
                    break  # the real start below reports the problem
        for name in names:
            try:
                targets[name] = starters[name](workdir)
            except RuntimeError as exc:
                failures.append(f"{name}: {exc}")
                print(f"!! {name} did not start: {exc}", flush=True)
        for name, t in targets.items():
            samples = [*start_times[name], t.start_to_accept_s]
            t.extra["start_to_accept_samples_s"] = samples
            t.start_to_accept_s = statistics.median(samples)
        time.sleep(1.0)  # let start-up work (checkpoint threads, imports) settle before "idle"
        for t in targets.values():
            t.idle_rss_mb = rss_mb(t.pid)
            print(f"{t.name}: {t.bootstrap}, accepting {t.start_to_accept_s:.3f} s after start (median), "
                  f"idle RSS {t.idle_rss_mb:.1f} MB", flush=True)

        for name, t in targets.items():
            out = run_workload(t, Workload("warmup", ["warmup"], 45), 45, None)
            if out.get("failed"):
                # A consumer group's first request failing is a broker bug, not noise.
                print(f"  warm-up on {name} failed: {out['failed']}", flush=True)
                failures.append(f"{name} warm-up: {out['failed']}")
        if args.only is None and not args.no_floor:
            for disk in (False, True):
                try:
                    floor = start_floor(workdir, disk)
                    floors[floor.name] = floor
                    results[floor.name] = {}
                except RuntimeError as exc:
                    failures.append(str(exc))
                    print(f"!! {exc}", flush=True)
        chosen = set(args.workloads.split(",")) if args.workloads else None
        for index, wl in enumerate(workloads(args.quick)):
            if chosen is not None and wl.key not in chosen:
                continue
            serving = {**targets, **floors} if wl.floors else targets
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in serving}
            for rep in range(wl.repeat):
                # Alternate who goes first, so drift in the machine's load does not
                # always favour the same broker.
                order = list(serving.items())
                if (index + rep) % 2:
                    order.reverse()
                for name, t in order:
                    remaining = RUN_BUDGET_S - (time.monotonic() - started) - (0 if args.skip_micro else 45)
                    if remaining < 10:
                        out: dict[str, Any] = {"failed": "skipped: run time budget spent", "undelivered": None}
                    else:
                        if t.proc.poll() is not None:
                            out = {"failed": f"broker exited with {t.proc.returncode}", "undelivered": None}
                        else:
                            out = run_workload(t, wl, min(wl.timeout_s, remaining), profile_dir)
                    runs[name].append(out)
                    summary = out.get("failed") or ", ".join(
                        f"{k}={fmt(v)}" for k, v in out.items()
                        if k in ("msgs_per_s", "mb_per_s", "p50_ms", "p99_ms", "p999_ms", "broker_cpu_s_per_gb"))
                    run_no = f" {rep + 1}/{wl.repeat}" if wl.repeat > 1 else ""
                    print(f"  {wl.key:<26} {name:<10}{run_no} {summary}", flush=True)
                    if out.get("undelivered") != 0:
                        reason = out.get("failed") or f"{out.get('undelivered')} undelivered {out.get('errors', '')}"
                        failures.append(f"{name} {wl.key}: {reason}")
                    if name == KPY and wl.key.startswith(("produce", "kafka_python")):
                        stored_bytes += int(out.get("bytes") or 0)
            for name, outs in runs.items():
                if outs:
                    results[name][wl.key] = median_run(outs)
            if wl.key == "kafka_python_1KiB_acks1":
                rss_after = {name: rss_mb(t.pid) for name, t in targets.items() if t.proc.poll() is None}
        for t in [*targets.values(), *floors.values()]:
            t.extra["cpu_s_total"] = cpu_seconds(t.pid) if t.proc.poll() is None else None
    finally:
        for t in [*targets.values(), *floors.values()]:
            stop(t)
        if KPY in targets and targets[KPY].proc.returncode not in (0, None):
            failures.append(f"kpybroker exited with {targets[KPY].proc.returncode}:\n"
                            f"{tail(workdir / 'kpybroker.stderr')}")
        shutil.rmtree(workdir, ignore_errors=True)

    if not args.skip_micro:
        left = RUN_BUDGET_S - (time.monotonic() - started)
        micro["wire_bench"] = run_micro("wire_bench.py", ["--seconds", "0.3" if args.quick else "0.5"],
                                        max(10.0, min(60.0, left / 2)))
        left = RUN_BUDGET_S - (time.monotonic() - started)
        micro["storage_bench"] = run_micro("storage_bench.py", ["--mib", "16" if args.quick else "64"],
                                           max(10.0, min(90.0, left)))

    rows = build_rows(results, targets, rss_after, stored_bytes / 1e6)
    table = render(rows)
    print()
    print(table)
    print("\nratio = kpybroker / mock. Mock CPU and RSS are its whole host process (Python + librdkafka "
          "client + mock threads); the mock keeps data in memory, kpybroker writes segment files.")
    floor_text, floor_lines = floor_table(results, args.quick)
    if floor_text:
        print("\nThe floor in the same runs (bench/_floor.py): a bare threaded Python server that decodes "
              "produce requests, checks each batch's CRC and answers; floor+disk also appends every batch "
              "to files as kpybroker's segments do (fallocate ahead, pwrite, the same write-behind). "
              "Medians of the same alternating runs; x mock = msg/s against the mock's.")
        print(floor_text)
    repeated = [wl.key for wl in workloads(args.quick) if wl.repeat > 1 and
                any(len(results[n].get(wl.key, {}).get("runs_msgs_per_s", [])) > 1 for n in results)]
    if repeated:
        print("Producer and consumer rows (and their CPU rows): the median of "
              f"{max(wl.repeat for wl in workloads(args.quick))} alternating runs per broker; every run:")
        for key in repeated:
            for name in results:
                rates = results[name].get(key, {}).get("runs_msgs_per_s")
                if rates:
                    print(f"  {key:<26} {name:<10} " + ", ".join(f"{r:,.0f}" for r in rates) + " msg/s")
    for name, m in micro.items():
        print(f"\n== {name} ==\n{m['output']}")
    elapsed = time.monotonic() - started
    print(f"\nwhole run: {elapsed:.0f} s")

    out_dir = Path(args.results)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{stamp:%Y%m%dT%H%M%SZ}.json"
    json_path.write_text(json.dumps({
        "date": stamp.isoformat(), "machine": info, "quick": args.quick, "seconds": elapsed,
        "targets": {n: {"bootstrap": t.bootstrap, "note": t.note, "start_to_accept_s": t.start_to_accept_s,
                        "idle_rss_mb": t.idle_rss_mb, "rss_after_produce_mb": rss_after.get(n), **t.extra}
                    for n, t in targets.items()},
        "floors": {n: {"bootstrap": t.bootstrap, "note": t.note, **t.extra} for n, t in floors.items()},
        "workloads": results,
        "table": [{"figure": r.label, "unit": r.unit, "kpybroker": r.kpy, "mock": r.mock, "ratio": r.ratio,
                   "target": r.target, "ok": r.ok} for r in rows],
        "floor_table": floor_lines,
        "micro": micro, "failures": failures,
    }, indent=2))
    print(f"JSON: {json_path.relative_to(ROOT) if json_path.is_relative_to(ROOT) else json_path}")
    if failures:
        print("\nFAILED (undelivered messages or failed workloads):", file=sys.stderr)
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
