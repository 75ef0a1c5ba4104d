"""Helpers shared by the compatibility tests.

Every test names its own topics and groups with a random suffix, so the suite can
run against a long-lived Apache Kafka cluster as well as a fresh kpybroker.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def unique(prefix: str) -> str:
    """A topic or group name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_topic(bootstrap: str, name: str, partitions: int = 1, config: dict | None = None) -> None:
    """Create a topic with replication factor 1 and wait until its leaders are known."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})]
    )
    futures[name].result(timeout=30)
    wait_for(lambda: _leaders_known(admin, name, partitions), f"leaders of {name}")


def _leaders_known(admin: AdminClient, name: str, partitions: int) -> bool:
    md = admin.list_topics(name, timeout=10)
    topic = md.topics.get(name)
    if topic is None or topic.error is not None or len(topic.partitions) != partitions:
        return False
    return all(p.leader >= 0 for p in topic.partitions.values())


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``predicate`` until it holds; fail the test naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except KafkaException:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def consume_all(bootstrap: str, topic: str, partition: int, expected: int, *,
                timeout: float = 30.0, extra: dict | None = None) -> list:
    """Read ``expected`` messages from the beginning of one partition with librdkafka."""
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": unique("compat-reader"),
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    }
    conf.update(extra or {})
    consumer = Consumer(conf)
    try:
        consumer.assign([TopicPartition(topic, partition, 0)])
        out: list = []
        deadline = time.monotonic() + timeout
        while len(out) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            out.append(msg)
        return out
    finally:
        consumer.close()
