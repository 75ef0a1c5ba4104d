"""Consumer groups: committed offsets and resuming, as stock consumers expect."""

from __future__ import annotations

import time

from compat_util import create_topic, unique
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient


def _fill(bootstrap: str, topic: str, n: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(n):
        producer.produce(topic, value=b"%d" % i)
    assert producer.flush(30) == 0


def _subscribe_and_read(bootstrap: str, topic: str, group: str, n: int) -> list[int]:
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 10000,
    })
    try:
        consumer.subscribe([topic])
        values: list[int] = []
        deadline = time.monotonic() + 30
        while len(values) < n and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            values.append(int(msg.value()))
        consumer.commit(asynchronous=False)
        return values
    finally:
        consumer.close()


def test_group_resumes_at_committed_offset(bootstrap: str) -> None:
    topic, group = unique("grp"), unique("g")
    create_topic(bootstrap, topic)
    _fill(bootstrap, topic, 10)
    assert _subscribe_and_read(bootstrap, topic, group, 10) == list(range(10))
    _fill(bootstrap, topic, 5)
    assert _subscribe_and_read(bootstrap, topic, group, 5) == list(range(5))


def test_committed_offsets_visible_to_admin(bootstrap: str) -> None:
    from confluent_kafka import ConsumerGroupTopicPartitions

    topic, group = unique("grpadm"), unique("g")
    create_topic(bootstrap, topic)
    _fill(bootstrap, topic, 4)
    _subscribe_and_read(bootstrap, topic, group, 4)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])
    result = admin.list_consumer_group_offsets([request])[group].result(timeout=30)
    assert [(tp.topic, tp.partition, tp.offset) for tp in result.topic_partitions] == [(topic, 0, 4)]
    listed = admin.list_consumer_groups().result(timeout=30)
    assert group in {g.group_id for g in listed.valid}
