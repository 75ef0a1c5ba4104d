#!/usr/bin/env python3
"""Client-side workloads for the broker benchmark, one workload per invocation.

``bench/run.py`` starts this script once per (workload, target) so that each
workload is bounded by a hard subprocess timeout and the client's CPU and memory
never mix with the broker's. It can also be pointed by hand at any broker::

    .venv/bin/python bench/broker_bench.py produce --bootstrap 127.0.0.1:9092 --size 1024 --acks all

Protocol with the parent: the line ``MARK start`` is printed just before the
timed region and ``MARK end`` just after it (the parent samples the broker's CPU
time at those two moments), and the last line is ``RESULT <json>``.

Workloads:

``produce``
    confluent-kafka producer, fixed value size, 4-partition topic, linger.ms=5,
    until ``--max-msgs`` are sent or ``--seconds`` have passed, then flush.
    Only failed deliveries raise callbacks (``delivery.report.only.error``) so the
    Python loop costs as little as possible per message.
``kafka-python``
    The same with kafka-python's ``KafkaProducer``.
``consume``
    Loads ``--data-mib`` of values into a fresh topic (not timed), then reads it
    back from the beginning with ``assign()`` over and over for ``--seconds``;
    the steady-state rate excludes the first (cold) pass.
``latency``
    End-to-end latency: one thread produces at a fixed rate (acks=all,
    linger.ms=0) stamping each value with ``time.monotonic_ns()``, another
    consumes with ``assign()`` at the end of the log; p50/p99/p99.9 of
    receive minus send.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import threading
import time
import uuid
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

PARTITIONS = 4
LOG_LEVEL = 3  # librdkafka: errors only, so disconnect chatter does not drown the output


def mark(what: str) -> None:
    print(f"MARK {what}", flush=True)


def result(data: dict[str, Any]) -> None:
    print("RESULT " + json.dumps(data), flush=True)


def create_topic(bootstrap: str, prefix: str) -> str:
    """A fresh topic, auto-created by a metadata request, so both targets start
    from an empty log. The mock does not answer CreateTopics but auto-creates
    4-partition topics; run.py starts kpybroker with ``num.partitions=4`` so the
    same request gives the same shape there."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": LOG_LEVEL})
    # Wait until metadata shows every partition with a leader, so the first
    # produce does not pay for a metadata refresh inside the timed region.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        md = admin.list_topics(name, timeout=5).topics.get(name)
        if md is not None and md.error is None and len(md.partitions) == PARTITIONS \
                and all(p.leader >= 0 for p in md.partitions.values()):
            return name
        if md is not None and md.error is None and md.partitions and len(md.partitions) != PARTITIONS:
            raise RuntimeError(f"topic {name} was auto-created with {len(md.partitions)} partitions, "
                               f"not {PARTITIONS}: set num.partitions={PARTITIONS}")
        time.sleep(0.05)
    raise RuntimeError(f"topic {name} did not get {PARTITIONS} led partitions")


def value_of(size: int) -> bytes:
    # Incompressible-looking but cheap: clients are not compressing anyway.
    return (os.urandom(64) * (size // 64 + 1))[:size]


# ---------------------------------------------------------------- confluent producer


def produce(bootstrap: str, size: int, acks: str, max_msgs: int, seconds: float) -> dict[str, Any]:
    topic = create_topic(bootstrap, f"bench-p{size}-acks{acks}")
    errors: list[str] = []

    def on_error(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    producer = Producer({
        "bootstrap.servers": bootstrap,
        "acks": acks,
        "linger.ms": 5,
        "delivery.report.only.error": True,
        "on_delivery": on_error,
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 512 * 1024,
        "log_level": LOG_LEVEL,
    })
    value = value_of(size)
    # Warm the connection and this topic's metadata outside the timed region.
    producer.produce(topic, value)
    producer.flush(15)

    sent = 0
    mark("start")
    t0 = time.monotonic()
    stop_at = t0 + seconds
    produce_one = producer.produce
    while sent < max_msgs:
        for _ in range(1000):
            try:
                produce_one(topic, value)
            except BufferError:
                producer.poll(0.001)
                continue
            sent += 1
        if time.monotonic() >= stop_at:
            break
    remaining = producer.flush(30)
    elapsed = time.monotonic() - t0
    mark("end")
    delivered = sent - remaining - len(errors)
    return {
        "sent": sent, "delivered": delivered, "undelivered": sent - delivered,
        "errors": errors[:5], "seconds": elapsed, "bytes": delivered * size,
        "msgs_per_s": delivered / elapsed, "mb_per_s": delivered * size / elapsed / 1e6,
    }


# ---------------------------------------------------------------- one request at a time


def serial_produce(bootstrap: str, size: int, acks: str, max_msgs: int, seconds: float) -> dict[str, Any]:
    """Each message is flushed before the next is produced: one request in flight,
    one record per request. The broker's CPU per request here is its fixed
    per-request cost (framing, decode, handler, append, encode, scheduling)."""
    topic = create_topic(bootstrap, f"bench-serial{size}")
    errors: list[str] = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 0,
                         "max.in.flight": 1, "log_level": LOG_LEVEL,
                         "on_delivery": lambda err, _m: errors.append(str(err)) if err else None})
    value = value_of(size)
    producer.produce(topic, value)
    producer.flush(15)
    sent = remaining = 0
    mark("start")
    t0 = time.monotonic()
    stop_at = t0 + seconds
    while sent < max_msgs and time.monotonic() < stop_at:
        producer.produce(topic, value, partition=sent % PARTITIONS)
        sent += 1
        remaining = producer.flush(10)
        if remaining:
            break
    elapsed = time.monotonic() - t0
    mark("end")
    undelivered = remaining + len(errors)
    return {"sent": sent, "undelivered": undelivered, "errors": errors[:5], "seconds": elapsed,
            "requests_per_s": sent / elapsed, "msgs_per_s": sent / elapsed}


# ---------------------------------------------------------------- kafka-python producer


def kafka_python_produce(bootstrap: str, size: int, acks: str, max_msgs: int, seconds: float) -> dict[str, Any]:
    from kafka import KafkaProducer

    topic = create_topic(bootstrap, f"bench-kp{size}-acks{acks}")
    # Pinned: kafka-python 3.0's ApiVersions v4 probe cannot parse the mock's
    # UNSUPPORTED_VERSION fallback answer; both targets get the same pin.
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=(-1 if acks == "all" else int(acks)),
                             linger_ms=5, api_version=(2, 3, 0))
    value = value_of(size)
    producer.send(topic, value).get(timeout=15)
    ok = [0]
    errors: list[str] = []

    def on_ok(_md: Any) -> None:
        ok[0] += 1

    def on_err(exc: BaseException) -> None:
        errors.append(repr(exc))

    sent = 0
    mark("start")
    t0 = time.monotonic()
    stop_at = t0 + seconds
    while sent < max_msgs:
        for _ in range(200):
            producer.send(topic, value).add_callback(on_ok).add_errback(on_err)
        sent += 200
        if time.monotonic() >= stop_at:
            break
    producer.flush(timeout=30)
    elapsed = time.monotonic() - t0
    mark("end")
    producer.close(timeout=5)
    delivered = ok[0]
    return {
        "sent": sent, "delivered": delivered, "undelivered": sent - delivered,
        "errors": errors[:5], "seconds": elapsed, "bytes": delivered * size,
        "msgs_per_s": delivered / elapsed, "mb_per_s": delivered * size / elapsed / 1e6,
    }


# ---------------------------------------------------------------- consumer


def load(bootstrap: str, topic: str, size: int, count: int) -> None:
    errors: list[str] = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                         "delivery.report.only.error": True, "log_level": LOG_LEVEL,
                         "on_delivery": lambda err, _m: errors.append(str(err)) if err else None})
    value = value_of(size)
    for i in range(count):
        while True:
            try:
                producer.produce(topic, value, partition=i % PARTITIONS)
                break
            except BufferError:
                producer.poll(0.005)
    if producer.flush(60) or errors:
        raise RuntimeError(f"loading the consume topic failed: {errors[:3]}")


def consume(bootstrap: str, size: int, data_mib: int, seconds: float, max_passes: int) -> dict[str, Any]:
    topic = create_topic(bootstrap, f"bench-c{size}")
    count = data_mib * 1024 * 1024 // size
    load(bootstrap, topic, size, count)

    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"bench-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        # The end of each pass leaves a fetch waiting at the log end; the mock
        # holds an empty fetch for the full wait, which would stall the next
        # pass behind it. A short wait keeps passes back to back on both.
        "fetch.wait.max.ms": 10,
        "log_level": LOG_LEVEL,
    })
    # What the target actually holds (the mock trims each partition to a few MiB):
    # a pass is complete when every offset between low and high was seen.
    expected = 0
    for p in range(PARTITIONS):
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        expected += high - low
    if expected <= 0:
        raise RuntimeError("consume topic is empty")

    passes: list[tuple[int, int, float]] = []  # (messages, value bytes, seconds)
    mark("start")
    t_all = time.monotonic()
    stop_at = t_all + seconds
    while len(passes) < max_passes and (len(passes) < 2 or time.monotonic() < stop_at):
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        got = nbytes = 0
        t0 = time.monotonic()
        pass_deadline = t0 + 30
        while got < expected:
            if time.monotonic() > pass_deadline:
                raise RuntimeError(f"pass {len(passes)} stalled at {got}/{expected} messages")
            # consume() waits for the full count or the timeout, so never ask for
            # more than what is left of this pass.
            for msg in consumer.consume(min(2000, expected - got), 0.5):
                if msg.error() is not None:
                    raise KafkaException(msg.error())
                got += 1
                nbytes += len(msg.value())
        passes.append((got, nbytes, time.monotonic() - t0))
        consumer.unassign()
    total_s = time.monotonic() - t_all
    mark("end")
    consumer.close()
    warm = passes[1:]
    warm_msgs = sum(p[0] for p in warm)
    warm_bytes = sum(p[1] for p in warm)
    warm_s = sum(p[2] for p in warm)
    return {
        "loaded": count, "held": expected, "passes": len(passes), "seconds": total_s,
        "bytes": sum(p[1] for p in passes), "first_pass_s": passes[0][2],
        "msgs_per_s": warm_msgs / warm_s, "mb_per_s": warm_bytes / warm_s / 1e6,
        "undelivered": 0,
    }


# ---------------------------------------------------------------- warm-up


def warmup(bootstrap: str) -> dict[str, Any]:
    """One-time broker work that a consumer group triggers (Kafka creates
    ``__consumer_offsets`` on the first FindCoordinator), done before any timed
    region so it is not charged to the fetch figures."""
    topic = create_topic(bootstrap, "bench-warmup")
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "log_level": LOG_LEVEL})
    t0 = time.monotonic()
    consumer.committed([TopicPartition(topic, 0)], timeout=30)
    consumer.close()
    return {"seconds": time.monotonic() - t0, "undelivered": 0}


# ---------------------------------------------------------------- end-to-end latency


class RequestCounter:
    """Counts the requests a client sent to the brokers, from librdkafka's statistics.

    Used to express the broker's CPU time per request: at 1000 msg/s with
    linger.ms=0 nearly every message is a request of its own, so this is the
    fixed per-request cost of the broker, not its per-byte cost."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []

    def __call__(self, stats_json: str) -> None:
        stats = json.loads(stats_json)
        tx = sum(b["tx"] for b in stats["brokers"].values() if b.get("nodeid", -1) >= 0)
        self.samples.append((time.monotonic(), tx))

    def between(self, t0: float, t1: float) -> int:
        inside = [tx for t, tx in self.samples if t0 <= t <= t1]
        return inside[-1] - inside[0] if len(inside) >= 2 else 0


def latency(bootstrap: str, size: int, rate: int, seconds: float, warmup_s: float,
            fetch_wait_ms: int) -> dict[str, Any]:
    topic = create_topic(bootstrap, "bench-lat")
    counters = (RequestCounter(), RequestCounter())
    consumer = Consumer({
        "statistics.interval.ms": 100,
        "stats_cb": counters[0],
        "bootstrap.servers": bootstrap,
        "group.id": f"bench-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        # The mock answers an empty fetch only after the full wait (it has no
        # wake-up on append), so a short wait is what makes it comparable; with
        # Kafka's default of 500 ms the figure shows whether appends wake fetches.
        "fetch.wait.max.ms": fetch_wait_ms,
        "log_level": LOG_LEVEL,
    })
    consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in range(PARTITIONS)])
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0,
                         "statistics.interval.ms": 100, "stats_cb": counters[1], "log_level": LOG_LEVEL})
    pad = bytes(max(0, size - 12))
    samples: list[int] = []
    received = [0]
    stop = threading.Event()
    failure: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            # poll() hands back each message as soon as it arrives; consume(n)
            # would wait for n of them and add that wait to every sample.
            msg = consumer.poll(0.05)
            if msg is None:
                continue
            now = time.monotonic_ns()
            if msg.error() is not None:
                failure.append(str(msg.error()))
                continue
            seq, sent_ns = struct.unpack_from(">iq", msg.value())
            received[0] += 1
            if seq >= 0:
                samples.append(now - sent_ns)

    # Until the consumer has fetched once, OFFSET_END is not resolved; probe
    # with sequence -1 messages until one comes back.
    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while received[0] == 0:
        if time.monotonic() > deadline:
            raise RuntimeError("latency consumer never received its probe message")
        producer.produce(topic, struct.pack(">iq", -1, time.monotonic_ns()) + pad)
        producer.flush(5)
        time.sleep(0.2)

    errors: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    total = int((seconds + warmup_s) * rate)
    warm_n = int(warmup_s * rate)
    interval = 1.0 / rate
    mark("start")
    t0 = time.monotonic()
    for i in range(total):
        target = t0 + i * interval
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        seq = i if i >= warm_n else -1 - i
        producer.produce(topic, struct.pack(">iq", seq, time.monotonic_ns()) + pad, on_delivery=on_delivery)
        producer.poll(0)
    remaining = producer.flush(30)
    wait_until = time.monotonic() + 10
    while len(samples) < total - warm_n and time.monotonic() < wait_until:
        time.sleep(0.01)
    t_end = time.monotonic()
    elapsed = t_end - t0
    mark("end")
    stop.set()
    thread.join(5)
    consumer.close()
    want = total - warm_n
    samples.sort()

    def pct(q: float) -> float | None:
        if not samples:
            return None
        return samples[min(len(samples) - 1, int(q * len(samples)))] / 1e6

    return {
        # Requests per second of the timed region (stats come every 100 ms, the
        # producer's only from its poll() calls, so this is a close estimate).
        "requests_per_s": sum(c.between(t0, t_end) for c in counters) / elapsed,
        "rate": rate, "measured": want, "received": len(samples), "seconds": elapsed,
        "undelivered": remaining + len(errors) + (want - len(samples)), "errors": (errors + failure)[:5],
        "p50_ms": pct(0.50), "p99_ms": pct(0.99), "p999_ms": pct(0.999), "max_ms": pct(1.0),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workload", choices=["produce", "serial", "kafka-python", "consume", "latency", "warmup"])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--size", type=int, default=1024, help="value bytes per message")
    ap.add_argument("--acks", default="1", choices=["0", "1", "all"])
    ap.add_argument("--max-msgs", type=int, default=500_000)
    ap.add_argument("--seconds", type=float, default=8.0, help="time cap (produce) or duration (consume, latency)")
    ap.add_argument("--data-mib", type=int, default=16, help="consume: MiB of values loaded (4 partitions)")
    ap.add_argument("--max-passes", type=int, default=200, help="consume: cap on read-back passes")
    ap.add_argument("--rate", type=int, default=1000, help="latency: messages per second")
    ap.add_argument("--warmup", type=float, default=1.0, help="latency: seconds not measured")
    ap.add_argument("--fetch-wait-ms", type=int, default=5, help="latency: consumer fetch.wait.max.ms")
    a = ap.parse_args(argv)
    try:
        if a.workload == "produce":
            out = produce(a.bootstrap, a.size, a.acks, a.max_msgs, a.seconds)
        elif a.workload == "serial":
            out = serial_produce(a.bootstrap, a.size, a.acks, a.max_msgs, a.seconds)
        elif a.workload == "kafka-python":
            out = kafka_python_produce(a.bootstrap, a.size, a.acks, a.max_msgs, a.seconds)
        elif a.workload == "consume":
            out = consume(a.bootstrap, a.size, a.data_mib, a.seconds, a.max_passes)
        elif a.workload == "warmup":
            out = warmup(a.bootstrap)
        else:
            out = latency(a.bootstrap, a.size, a.rate, a.seconds, a.warmup, a.fetch_wait_ms)
    except Exception as exc:  # noqa: BLE001 - reported to the parent as a failed workload
        result({"failed": f"{type(exc).__name__}: {exc}", "undelivered": None})
        return 1
    result(out)
    return 0 if out.get("undelivered") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
