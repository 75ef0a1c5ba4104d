#!/usr/bin/env python3
"""Host process for librdkafka's built-in mock cluster (the C reference broker).

The mock lives inside whichever client creates it, so this process creates one
idle producer with ``test.mock.num.brokers=1``, learns the mock's bootstrap
address from that client's metadata, prints one line::

    MOCK 127.0.0.1:<port> <seconds from client creation to first metadata answer>

and then keeps the client (and so the mock) alive until its stdin is closed.
Tying its life to stdin means it cannot outlive the benchmark that started it,
even if that benchmark is killed.
"""

from __future__ import annotations

import sys
import time

from confluent_kafka import Producer


def main() -> int:
    t0 = time.monotonic()
    # The client's own log line about the mock goes to stderr; keep stdout for
    # the one machine-readable line.
    client = Producer({"test.mock.num.brokers": 1, "log_level": 3})
    metadata = client.list_topics(timeout=10)
    ready_s = time.monotonic() - t0
    broker = next(iter(metadata.brokers.values()))
    print(f"MOCK {broker.host}:{broker.port} {ready_s:.4f}", flush=True)
    sys.stdin.read()  # returns at EOF, i.e. when the parent closes the pipe or dies
    client.flush(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
