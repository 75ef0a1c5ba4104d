"""Produce and consume with stock clients: what any Kafka broker must preserve."""

from __future__ import annotations

import pytest
from compat_util import consume_all, create_topic, unique
from confluent_kafka import Producer
from kafka import KafkaConsumer, KafkaProducer, TopicPartition


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_librdkafka_round_trip_keeps_keys_values_headers(bootstrap: str, codec: str) -> None:
    topic = unique(f"rt-{codec}")
    create_topic(bootstrap, topic)
    producer = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 5})
    sent = [
        (b"k1", b"v1", [("h", b"x")]),
        (None, b"no key", []),
        (b"tombstone", None, []),
        (b"k4", b"", [("a", b"1"), ("a", b"2"), ("empty", None)]),
    ]
    for key, value, headers in sent:
        producer.produce(topic, key=key, value=value, headers=headers)
    assert producer.flush(30) == 0

    got = consume_all(bootstrap, topic, 0, len(sent))
    assert [(m.key(), m.value()) for m in got] == [(k, v) for k, v, _ in sent]
    assert [m.offset() for m in got] == [0, 1, 2, 3]
    assert got[0].headers() == [("h", b"x")]
    assert got[3].headers() == [("a", b"1"), ("a", b"2"), ("empty", None)]


@pytest.mark.parametrize("codec", [None, "gzip", "snappy", "lz4", "zstd"])
def test_kafka_python_round_trip(bootstrap: str, codec: str | None) -> None:
    topic = unique(f"kp-{codec}")
    create_topic(bootstrap, topic)
    producer = KafkaProducer(bootstrap_servers=bootstrap, compression_type=codec, linger_ms=5)
    futures = [
        producer.send(topic, key=f"k{i}".encode(), value=f"value-{i}".encode() * 10, headers=[("i", str(i).encode())])
        for i in range(50)
    ]
    offsets = [f.get(timeout=30).offset for f in futures]
    producer.close(timeout=10)
    assert offsets == list(range(50))

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=15000)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    records = []
    for record in consumer:
        records.append(record)
        if len(records) == 50:
            break
    consumer.close()
    assert [r.offset for r in records] == list(range(50))
    assert records[7].key == b"k7"
    assert records[7].value == b"value-7" * 10
    assert records[7].headers == [("i", b"7")]


def test_offsets_are_contiguous_per_partition_and_ordered(bootstrap: str) -> None:
    topic = unique("order")
    create_topic(bootstrap, topic, partitions=3)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2})
    for i in range(300):
        producer.produce(topic, value=str(i).encode(), partition=i % 3)
    assert producer.flush(30) == 0
    for p in range(3):
        got = consume_all(bootstrap, topic, p, 100)
        assert [m.offset() for m in got] == list(range(100))
        assert [int(m.value()) for m in got] == list(range(p, 300, 3))


def test_large_message_near_the_default_limit(bootstrap: str) -> None:
    topic = unique("big")
    create_topic(bootstrap, topic)
    payload = bytes(range(256)) * 3600  # ~900 KB, under message.max.bytes=1048588
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topic, value=payload)
    assert producer.flush(30) == 0
    got = consume_all(bootstrap, topic, 0, 1, extra={"fetch.max.bytes": 2_000_000})
    assert got[0].value() == payload


def test_broker_rejects_batch_over_topic_max_message_bytes(bootstrap: str) -> None:
    topic = unique("toolarge")
    create_topic(bootstrap, topic, config={"max.message.bytes": "2000"})
    errors: list = []
    producer = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 100_000, "retries": 0})
    producer.produce(topic, value=b"x" * 10_000, on_delivery=lambda err, msg: errors.append(err))
    producer.flush(30)
    assert len(errors) == 1 and errors[0] is not None
    assert errors[0].code() == 10  # MESSAGE_TOO_LARGE
