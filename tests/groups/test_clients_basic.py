"""Stock clients against a real broker: commit, close, reopen, resume."""

from __future__ import annotations

import pytest

kafka = pytest.importorskip("kafka")


def produce(bootstrap: str, topic: str, n: int, partitions: int = 1) -> None:
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(n):
        p.send(topic, value=b"v%d" % i, partition=i % partitions)
    p.flush()
    p.close()


def test_kafka_python_commit_and_resume(broker):
    from kafka import KafkaConsumer

    broker.call(broker.broker.create_topic, "kp", 1, 1, {})
    produce(broker, "kp", 10)
    c = KafkaConsumer("kp", bootstrap_servers=broker, group_id="g1", auto_offset_reset="earliest",
                      enable_auto_commit=False, consumer_timeout_ms=5000)
    got = []
    for msg in c:
        got.append(msg.value)
        if len(got) == 4:
            break
    c.commit()
    c.close()
    c = KafkaConsumer("kp", bootstrap_servers=broker, group_id="g1", auto_offset_reset="earliest",
                      enable_auto_commit=False, consumer_timeout_ms=3000)
    rest = [m.value for m in c]
    c.close()
    assert rest == [b"v%d" % i for i in range(4, 10)]
