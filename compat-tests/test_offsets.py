"""Watermarks, ListOffsets by time, DeleteRecords: offset semantics as Kafka defines them."""

from __future__ import annotations

import time

from compat_util import create_topic, unique
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient


def _consumer(bootstrap: str) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": unique("offsets"), "enable.auto.commit": False})


def test_watermarks_of_new_and_written_partition(bootstrap: str) -> None:
    topic = unique("wm")
    create_topic(bootstrap, topic)
    consumer = _consumer(bootstrap)
    try:
        assert consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (0, 0)
        producer = Producer({"bootstrap.servers": bootstrap})
        for i in range(7):
            producer.produce(topic, value=b"%d" % i)
        assert producer.flush(30) == 0
        assert consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (0, 7)
    finally:
        consumer.close()


def test_offsets_for_times_finds_first_offset_at_or_after(bootstrap: str) -> None:
    topic = unique("bytime")
    create_topic(bootstrap, topic)
    base = int(time.time() * 1000) - 60_000
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i in range(10):
        producer.produce(topic, value=b"v", timestamp=base + i * 1000)
        producer.flush(10)
    consumer = _consumer(bootstrap)
    try:
        def lookup(ts: int) -> int:
            [tp] = consumer.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=10)
            return tp.offset

        assert lookup(base) == 0
        assert lookup(base + 4500) == 5
        assert lookup(base + 9000) == 9
        assert lookup(base + 60_000) == -1  # no record that late: Kafka answers -1
    finally:
        consumer.close()


def test_delete_records_moves_log_start_offset(bootstrap: str) -> None:
    topic = unique("delrec")
    create_topic(bootstrap, topic)
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(10):
        producer.produce(topic, value=b"%d" % i)
    assert producer.flush(30) == 0
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.delete_records([TopicPartition(topic, 0, 4)])
    result = next(iter(futures.values())).result(timeout=30)
    assert result.low_watermark == 4
    consumer = _consumer(bootstrap)
    try:
        assert consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (4, 10)
    finally:
        consumer.close()
