"""Produce/consume round trips with stock clients: kafka-python and confluent-kafka.

The broker runs in a background thread (the ``broker`` / ``start_broker``
fixtures of tests/conftest.py); the clients are the unmodified libraries.
Consumers use ``assign()`` and never commit: this exercises the data plane only.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

confluent_kafka = pytest.importorskip("confluent_kafka")

T0 = 1_700_000_000_000


def create(broker: Any, name: str, partitions: int = 1, **configs: str) -> None:
    broker.call(broker.broker.create_topic, name, partitions, 1, dict(configs))


def kp_producer(bootstrap: str, **kw: Any) -> KafkaProducer:
    # Idempotence off: this module tests the data plane, not InitProducerId.
    return KafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=False, acks="all", linger_ms=5, **kw
    )


def kp_consumer(bootstrap: str, **kw: Any) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=10_000,
        **kw,
    )


def drain(consumer: KafkaConsumer, count: int, timeout_s: float = 30.0) -> list[Any]:
    out: list[Any] = []
    deadline = time.monotonic() + timeout_s
    while len(out) < count and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            out.extend(records)
    return out


RECORDS = [
    (b"k1", b"v1", [("h", b"x")]),
    (None, b"no key", []),
    (b"k3", None, [("h1", b"a"), ("h2", None)]),
    (b"", b"", []),
]
# kafka-python refuses null header values; librdkafka sends them.
RECORDS_KP = [(k, v, [(n, b"" if hv is None else hv) for n, hv in h]) for k, v, h in RECORDS]


@pytest.mark.parametrize("codec", [None, "gzip", "snappy", "lz4", "zstd"])
def test_kafka_python_round_trip(broker: Any, codec: str | None) -> None:
    create(broker, "rt")
    producer = kp_producer(broker, compression_type=codec)
    futures = [
        producer.send("rt", key=k, value=v, headers=h, partition=0) for k, v, h in RECORDS_KP
    ]
    producer.flush()
    offsets = [f.get(timeout=10).offset for f in futures]
    producer.close()
    assert offsets == [0, 1, 2, 3]

    consumer = kp_consumer(broker)
    tp = TopicPartition("rt", 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    got = drain(consumer, len(RECORDS_KP))
    consumer.close()
    assert [(r.offset, r.key, r.value) for r in got] == [
        (i, k, v) for i, (k, v, _) in enumerate(RECORDS_KP)
    ]
    assert [list(r.headers) for r in got] == [h for _, _, h in RECORDS_KP]


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_confluent_round_trip(broker: Any, codec: str) -> None:
    create(broker, "rt")
    producer = confluent_kafka.Producer(
        {"bootstrap.servers": str(broker), "compression.type": codec, "linger.ms": 5}
    )
    for k, v, h in RECORDS:
        producer.produce("rt", key=k, value=v, headers=h, partition=0)
    assert producer.flush(30) == 0

    consumer = confluent_kafka.Consumer(
        {
            "bootstrap.servers": str(broker),
            "group.id": "not-used",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.assign([confluent_kafka.TopicPartition("rt", 0, 0)])
    got: list[Any] = []
    deadline = time.monotonic() + 30
    while len(got) < len(RECORDS) and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None:
            assert msg.error() is None, msg.error()
            got.append(msg)
    consumer.close()
    assert [(m.offset(), m.key(), m.value()) for m in got] == [
        (i, k, v) for i, (k, v, _) in enumerate(RECORDS)
    ]
    # librdkafka gives None for "no headers".
    assert [list(m.headers() or []) for m in got] == [h for _, _, h in RECORDS]


def test_large_messages_both_clients(broker: Any) -> None:
    create(broker, "big")
    payload = bytes(range(256)) * (900 * 1024 // 256)
    producer = confluent_kafka.Producer(
        {"bootstrap.servers": str(broker), "message.max.bytes": 1_000_000}
    )
    producer.produce("big", value=payload, partition=0)
    assert producer.flush(30) == 0
    kp = kp_producer(broker, max_request_size=1_048_576)
    assert kp.send("big", value=payload[::-1], partition=0).get(timeout=10).offset == 1
    kp.close()

    consumer = kp_consumer(broker, max_partition_fetch_bytes=100_000, fetch_max_bytes=100_000)
    tp = TopicPartition("big", 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    got = drain(consumer, 2)
    consumer.close()
    # Limits below one message: the first batch still comes whole (KIP-74).
    assert [r.value for r in got] == [payload, payload[::-1]]


def test_order_and_contiguous_offsets_over_three_partitions(broker: Any) -> None:
    create(broker, "three", 3)
    producer = kp_producer(broker)
    sent: dict[int, list[bytes]] = {0: [], 1: [], 2: []}
    futures = []
    for i in range(300):
        p = i % 3
        value = b"m%d" % i
        sent[p].append(value)
        futures.append((p, producer.send("three", value=value, partition=p)))
    producer.flush()
    for p, f in futures:
        assert f.get(timeout=10).partition == p
    producer.close()

    consumer = kp_consumer(broker)
    tps = [TopicPartition("three", p) for p in range(3)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    got = drain(consumer, 300)
    consumer.close()
    # kafka-python fetched through an incremental fetch session (KIP-227).
    assert broker.run_sync(lambda: len(broker.broker.replica_manager.fetch_sessions)) >= 1
    by_partition: dict[int, list[Any]] = {0: [], 1: [], 2: []}
    for r in got:
        by_partition[r.partition].append(r)
    for p in range(3):
        assert [r.offset for r in by_partition[p]] == list(range(100))
        assert [r.value for r in by_partition[p]] == sent[p]


def test_blocked_poll_gets_a_later_message(broker: Any) -> None:
    create(broker, "wake")
    # fetch_max_wait_ms beyond the poll timeout: only an append can end the fetch in time.
    consumer = kp_consumer(broker, fetch_max_wait_ms=30_000, request_timeout_ms=60_000)
    tp = TopicPartition("wake", 0)
    consumer.assign([tp])
    consumer.seek(tp, 0)
    consumer.poll(timeout_ms=200)  # the long-poll fetch is now in flight

    def produce_later() -> None:
        time.sleep(0.5)
        producer = kp_producer(broker)
        producer.send("wake", value=b"hello", partition=0).get(timeout=10)
        producer.close()

    thread = threading.Thread(target=produce_later)
    thread.start()
    got = drain(consumer, 1, timeout_s=15)
    thread.join()
    consumer.close()
    assert [r.value for r in got] == [b"hello"]


def test_offsets_for_times(broker: Any) -> None:
    create(broker, "times")
    producer = kp_producer(broker)
    for i in range(5):
        producer.send("times", value=b"%d" % i, partition=0, timestamp_ms=T0 + 1000 * i)
    producer.flush()
    producer.close()
    consumer = kp_consumer(broker)
    tp = TopicPartition("times", 0)
    found = consumer.offsets_for_times({tp: T0 + 1500})[tp]
    assert (found.offset, found.timestamp) == (2, T0 + 2000)
    assert consumer.offsets_for_times({tp: T0 + 10_000})[tp] is None
    assert consumer.beginning_offsets([tp]) == {tp: 0}
    assert consumer.end_offsets([tp]) == {tp: 5}
    consumer.close()


def test_confluent_acks_all_below_min_insync_replicas(broker: Any) -> None:
    create(broker, "strict", **{"min.insync.replicas": "2"})
    errors: list[Any] = []
    producer = confluent_kafka.Producer(
        {"bootstrap.servers": str(broker), "acks": "all", "message.timeout.ms": 3000, "retries": 0}
    )
    producer.produce(
        "strict", value=b"x", partition=0, on_delivery=lambda err, msg: errors.append(err)
    )
    producer.flush(30)
    assert len(errors) == 1 and errors[0] is not None
    assert errors[0].code() == confluent_kafka.KafkaError.NOT_ENOUGH_REPLICAS


def test_aiokafka_round_trip(broker: Any) -> None:
    import asyncio

    aiokafka = pytest.importorskip("aiokafka")
    create(broker, "aio", 2)

    async def main() -> list[Any]:
        producer = aiokafka.AIOKafkaProducer(bootstrap_servers=str(broker), compression_type="gzip")
        await producer.start()
        try:
            for i in range(10):
                await producer.send_and_wait(
                    "aio", key=b"k%d" % i, value=b"v%d" % i, partition=i % 2
                )
        finally:
            await producer.stop()
        consumer = aiokafka.AIOKafkaConsumer(
            bootstrap_servers=str(broker), enable_auto_commit=False, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            consumer.assign([aiokafka.TopicPartition("aio", p) for p in (0, 1)])
            got: list[Any] = []
            async with asyncio.timeout(30):
                while len(got) < 10:
                    batches = await consumer.getmany(timeout_ms=500)
                    for records in batches.values():
                        got.extend(records)
            return got
        finally:
            await consumer.stop()

    got = asyncio.run(main())
    assert sorted((r.partition, r.offset, r.value) for r in got) == sorted(
        (i % 2, i // 2, b"v%d" % i) for i in range(10)
    )
