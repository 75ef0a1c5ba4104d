#!/usr/bin/env python3
"""How long one client's requests stall while the broker creates or deletes many
partitions (the diagnostic behind the stall figures in docs/benchmarks.md).

Starts ``python -m kpybroker`` from ``--cwd`` (default: this checkout) on a free port,
runs a confluent-kafka producer sending one 100 B record at a time to a one-partition
topic, and meanwhile creates (``--mode create``) or deletes (``--mode delete``, after
loading 200 records of 1 KiB into each partition) ``--topics`` x ``--partitions``
partitions with the AdminClient. Prints p50 and the worst produce latency.

Usage: ``python bench/stall_probe.py --mode create|delete [--topics 5] [--partitions 100] [--cwd DIR]``
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("create", "delete"), required=True)
    ap.add_argument("--topics", type=int, default=5)
    ap.add_argument("--partitions", type=int, default=100)
    ap.add_argument("--cwd", default=str(ROOT), help="checkout whose kpybroker runs")
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tempfile.mkdtemp(prefix="kpybroker-stall-")
    broker = subprocess.Popen([sys.executable, "-m", "kpybroker", "--override", f"listeners=PLAINTEXT://127.0.0.1:{port}",
                               "--override", f"log.dirs={data}", "--log-level", "WARNING"],
                              cwd=args.cwd, stdout=subprocess.DEVNULL)
    try:
        bootstrap = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        admin = AdminClient({"bootstrap.servers": bootstrap})
        names = [f"many-{i}" for i in range(args.topics)]
        first = [NewTopic("steady", 1, 1)]
        if args.mode == "delete":
            first += [NewTopic(n, args.partitions, 1) for n in names]
        for f in admin.create_topics(first, request_timeout=300).values():
            f.result()
        if args.mode == "delete":
            loader = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
            for n in names:
                for p in range(args.partitions):
                    for _ in range(200):
                        loader.produce(n, b"y" * 1024, partition=p)
                    loader.poll(0)
            assert loader.flush(60) == 0
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": 1})
        producer.produce("steady", b"x")
        producer.flush(10)
        latencies: list[float] = []
        stop = threading.Event()

        def serial() -> None:
            while not stop.is_set():
                t = time.perf_counter()
                producer.produce("steady", b"x" * 100)
                producer.flush(10)
                latencies.append(time.perf_counter() - t)

        thread = threading.Thread(target=serial)
        thread.start()
        time.sleep(0.5)
        if args.mode == "create":
            futures = admin.create_topics([NewTopic(n, args.partitions, 1) for n in names], request_timeout=300)
        else:
            futures = admin.delete_topics(names, request_timeout=300)
        for f in futures.values():
            f.result()
        time.sleep(0.3)
        stop.set()
        thread.join()
        latencies.sort()
        print(f"{args.mode} {args.topics * args.partitions} partitions: produce p50 "
              f"{latencies[len(latencies) // 2] * 1000:.2f} ms, worst {latencies[-1] * 1000:.1f} ms "
              f"({len(latencies)} requests)")
    finally:
        broker.terminate()
        broker.wait()
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
