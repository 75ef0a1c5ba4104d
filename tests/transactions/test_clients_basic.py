"""Transactional producers from stock clients against a real in-process broker.

confluent-kafka (librdkafka) and kafka-python run whole transactions: commit,
abort, offsets sent to the transaction. read_committed consumers must see
exactly the committed records, in order; read_uncommitted consumers see all.
"""

from __future__ import annotations

import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TIMEOUT = 30


def make_topic(bootstrap: str, partitions: int = 1) -> str:
    name = "t-" + uuid.uuid4().hex[:10]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for fut in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        fut.result(TIMEOUT)
    return name


def txn_producer(bootstrap: str, txn_id: str, **extra: Any) -> Producer:
    conf = {"bootstrap.servers": bootstrap, "transactional.id": txn_id, "linger.ms": 5}
    conf.update(extra)
    producer = Producer(conf)
    producer.init_transactions(TIMEOUT)
    return producer


def consume_all(
    bootstrap: str,
    topic: str,
    isolation: str,
    expect: int | None = None,
    partitions: int = 1,
    idle_s: float = 2.0,
) -> list[tuple[int, int, bytes]]:
    """Every (partition, offset, value) readable with ``isolation``, polling until idle."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "g-" + uuid.uuid4().hex[:8],
            "isolation.level": isolation,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out: list[tuple[int, int, bytes]] = []
    import time

    deadline = time.monotonic() + TIMEOUT
    last = time.monotonic()
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                if (expect is None or len(out) >= expect) and time.monotonic() - last > idle_s:
                    break
                continue
            if msg.error():
                continue
            out.append((msg.partition(), msg.offset(), msg.value()))
            last = time.monotonic()
    finally:
        consumer.close()
    return out


def test_confluent_commit_and_abort(broker: Any) -> None:
    topic = make_topic(broker)
    producer = txn_producer(broker, "txn-" + uuid.uuid4().hex[:8])
    producer.begin_transaction()
    for i in range(5):
        producer.produce(topic, b"c%d" % i)
    producer.commit_transaction(TIMEOUT)
    producer.begin_transaction()
    for i in range(3):
        producer.produce(topic, b"a%d" % i)
    producer.flush(TIMEOUT)
    producer.abort_transaction(TIMEOUT)
    producer.begin_transaction()
    producer.produce(topic, b"c5")
    producer.commit_transaction(TIMEOUT)

    committed = consume_all(broker, topic, "read_committed", expect=6)
    assert [v for _, _, v in committed] == [b"c0", b"c1", b"c2", b"c3", b"c4", b"c5"]
    everything = consume_all(broker, topic, "read_uncommitted", expect=9)
    assert [v for _, _, v in everything] == [
        b"c0",
        b"c1",
        b"c2",
        b"c3",
        b"c4",
        b"a0",
        b"a1",
        b"a2",
        b"c5",
    ]
    # 5 records + commit marker, 3 + abort marker: the last record sits at offset 10
    assert committed[-1][1] == 10


def committed_offset(bootstrap: str, group: str, topic: str, partition: int = 0) -> int:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
    )
    try:
        (tp,) = consumer.committed([TopicPartition(topic, partition)], timeout=TIMEOUT)
        return tp.offset
    finally:
        consumer.close()


def test_confluent_offsets_follow_the_transaction(broker: Any) -> None:
    """send_offsets_to_transaction: the group's offset moves on commit only."""
    topic = make_topic(broker)
    group = "g-" + uuid.uuid4().hex[:8]
    producer = txn_producer(broker, "txn-" + uuid.uuid4().hex[:8])
    consumer = Consumer(
        {"bootstrap.servers": broker, "group.id": group, "enable.auto.commit": False}
    )
    try:
        metadata = consumer.consumer_group_metadata()
        producer.begin_transaction()
        producer.produce(topic, b"x")
        producer.send_offsets_to_transaction([TopicPartition(topic, 0, 7)], metadata, TIMEOUT)
        producer.abort_transaction(TIMEOUT)
        assert committed_offset(broker, group, topic) < 0  # nothing committed

        producer.begin_transaction()
        producer.produce(topic, b"y")
        producer.send_offsets_to_transaction([TopicPartition(topic, 0, 42)], metadata, TIMEOUT)
        producer.commit_transaction(TIMEOUT)
        assert committed_offset(broker, group, topic) == 42
    finally:
        consumer.close()


def test_confluent_zombie_is_fenced(broker: Any) -> None:
    topic = make_topic(broker)
    txn_id = "txn-" + uuid.uuid4().hex[:8]
    zombie = txn_producer(broker, txn_id)
    zombie.begin_transaction()
    zombie.produce(topic, b"zombie")
    zombie.flush(TIMEOUT)
    successor = txn_producer(broker, txn_id)  # aborts the zombie's transaction
    successor.begin_transaction()
    successor.produce(topic, b"fresh")
    successor.commit_transaction(TIMEOUT)
    try:
        zombie.produce(topic, b"late")
        zombie.commit_transaction(TIMEOUT)
    except KafkaException as exc:
        error = exc.args[0]
        assert error.fatal()
        assert "fenced" in str(error).lower()
    else:
        raise AssertionError("the zombie committed after being fenced")
    assert [v for _, _, v in consume_all(broker, topic, "read_committed", expect=1)] == [b"fresh"]


def test_kafka_python_commit_abort_and_offsets(broker: Any) -> None:
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KTP
    from kafka.structs import OffsetAndMetadata

    topic = make_topic(broker)
    group = "g-" + uuid.uuid4().hex[:8]
    producer = KafkaProducer(
        bootstrap_servers=broker, transactional_id="kp-" + uuid.uuid4().hex[:8]
    )
    try:
        producer.init_transactions()
        producer.begin_transaction()
        for i in range(3):
            producer.send(topic, b"c%d" % i)
        producer.send_offsets_to_transaction({KTP(topic, 0): OffsetAndMetadata(3, "", -1)}, group)
        producer.commit_transaction()
        producer.begin_transaction()
        producer.send(topic, b"aborted").get(TIMEOUT)
        producer.send_offsets_to_transaction({KTP(topic, 0): OffsetAndMetadata(99, "", -1)}, group)
        producer.abort_transaction()
    finally:
        producer.close()
    assert [v for _, _, v in consume_all(broker, topic, "read_committed", expect=3)] == [
        b"c0",
        b"c1",
        b"c2",
    ]
    assert [v for _, _, v in consume_all(broker, topic, "read_uncommitted", expect=4)] == [
        b"c0",
        b"c1",
        b"c2",
        b"aborted",
    ]
    assert committed_offset(broker, group, topic) == 3

    consumer = KafkaConsumer(
        bootstrap_servers=broker,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    consumer.assign([KTP(topic, 0)])
    try:
        assert [m.value for m in consumer] == [b"c0", b"c1", b"c2"]
    finally:
        consumer.close()


def test_kafka_python_zombie_is_fenced(broker: Any) -> None:
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    topic = make_topic(broker)
    txn_id = "kp-" + uuid.uuid4().hex[:8]
    zombie = KafkaProducer(bootstrap_servers=broker, transactional_id=txn_id)
    successor = KafkaProducer(bootstrap_servers=broker, transactional_id=txn_id)
    try:
        zombie.init_transactions()
        zombie.begin_transaction()
        zombie.send(topic, b"zombie").get(TIMEOUT)
        successor.init_transactions()
        try:
            zombie.commit_transaction()
        except KafkaError as exc:
            assert "Fenced" in type(exc).__name__ or "fenced" in str(exc).lower()
        else:
            raise AssertionError("the zombie committed after being fenced")
    finally:
        zombie.close(timeout=5)
        successor.close(timeout=5)
    assert consume_all(broker, topic, "read_committed", expect=0, idle_s=1.0) == []
