"""One consumer group, five client libraries (issue 5's client matrix).

kafka-python, confluent-kafka, aiokafka, kafkajs and Apache Kafka's Java client
share a group on one topic: after the rebalances settle, every partition is owned
by exactly one member, and every record is consumed. kafkajs's own assigner has a name no
other client speaks, so with it the broker answers INCONSISTENT_GROUP_PROTOCOL,
as Kafka does.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

confluent_kafka = pytest.importorskip("confluent_kafka")
aiokafka = pytest.importorskip("aiokafka")
from aiokafka import AIOKafkaConsumer  # noqa: E402
from confluent_kafka import Consumer, Producer  # noqa: E402
from kafka import KafkaConsumer  # noqa: E402

PARTITIONS = 8
INCONSISTENT_GROUP_PROTOCOL = 23


def produce(bootstrap: str, topic: str, n: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(n):
        producer.produce(topic, value=b"r%d" % i, partition=i % PARTITIONS)
    assert producer.flush(10) == 0


class AioMember:
    """An aiokafka consumer polled by its own asyncio loop on a thread."""

    def __init__(self, bootstrap: str, topic: str, group: str) -> None:
        self.bootstrap, self.topic, self.group = bootstrap, topic, group
        self.assignment: set[int] = set()
        self.values: list[bytes] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(20)

    async def _main(self) -> None:
        consumer = AIOKafkaConsumer(self.topic, bootstrap_servers=self.bootstrap, group_id=self.group,
                                    auto_offset_reset="earliest", session_timeout_ms=10_000,
                                    heartbeat_interval_ms=300, max_poll_interval_ms=30_000)
        try:
            await consumer.start()
            while not self._stop.is_set():
                batch = await consumer.getmany(timeout_ms=100)
                for records in batch.values():
                    self.values.extend(r.value for r in records)
                self.assignment = {tp.partition for tp in consumer.assignment()}
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self.error = exc
        finally:
            await consumer.stop()


def wait_for(predicate: Callable[[], bool], pump: Callable[[], None], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pump()
        if predicate():
            return True
    return False


def test_five_client_libraries_share_one_group(broker: Any, kafkajs: Any, java_client: Any) -> None:
    topic, group = "mixed", "mixed-g"
    broker.call(broker.broker.create_topic, topic, PARTITIONS, 1, {})
    produce(broker, topic, 80)

    kp = KafkaConsumer(topic, bootstrap_servers=str(broker), group_id=group, auto_offset_reset="earliest",
                       session_timeout_ms=10_000, heartbeat_interval_ms=300, enable_auto_commit=True)
    ck = Consumer({"bootstrap.servers": str(broker), "group.id": group, "auto.offset.reset": "earliest",
                   "session.timeout.ms": 10_000, "heartbeat.interval.ms": 300,
                   "partition.assignment.strategy": "range,roundrobin"})
    ck.subscribe([topic])
    aio = AioMember(broker, topic, group)
    js = kafkajs.start("member", broker, topic, env={"GROUP_ID": group})
    java = java_client.start("group-member", broker, topic, group)
    java_owned: set[int] = set()
    values: list[bytes] = []

    def pump() -> None:
        for records in kp.poll(timeout_ms=50).values():
            values.extend(r.value for r in records)
        msg = ck.poll(0.05)
        if msg is not None and msg.error() is None:
            values.append(msg.value())
        for line in java.new_lines():
            if line.startswith("ASSIGNED "):
                java_owned.clear()
                java_owned.update(int(p) for p in line.split(" ", 1)[1].split(",") if p)
            elif line.startswith("VALUE "):
                values.append(line.split(" ", 1)[1].encode())

    def js_assignment() -> set[int]:
        joins = [e for e in js.events if e.get("event") == "join"]
        return set(joins[-1]["partitions"]) if joins else set()

    def owners() -> list[set[int]]:
        return [{tp.partition for tp in kp.assignment()}, {tp.partition for tp in ck.assignment()},
                aio.assignment, js_assignment(), set(java_owned)]

    def settled() -> bool:
        sets = owners()
        return all(sets) and sum(map(len, sets)) == PARTITIONS and set().union(*sets) == set(range(PARTITIONS))

    def all_consumed() -> bool:
        js_values = [e["value"].encode() for e in js.events if e.get("event") == "message"]
        return len(set(values) | set(aio.values) | set(js_values)) == 80

    try:
        aio.start()
        ok = wait_for(settled, pump, 40)
        assert ok, f"assignments never covered the topic once: {owners()} js={js.events[-3:]}"
        # Whatever the rebalances replayed, every record reached some member.
        assert wait_for(all_consumed, pump, 20)
        assert {e["protocol"] for e in js.events if e.get("event") == "join"} == {"roundrobin"}
        assert aio.error is None
    finally:
        ck.close()
        kp.close()
        aio.stop()
        js.stop()
        java.stop()


def test_kafkajs_default_assigner_is_an_inconsistent_protocol(broker: Any, kafkajs: Any) -> None:
    topic, group = "incons", "incons-g"
    broker.call(broker.broker.create_topic, topic, 2, 1, {})
    ck = Consumer({"bootstrap.servers": str(broker), "group.id": group, "auto.offset.reset": "earliest",
                   "session.timeout.ms": 10_000, "heartbeat.interval.ms": 300})
    ck.subscribe([topic])
    try:
        assert wait_for(lambda: len(ck.assignment()) == 2, lambda: ck.poll(0.05), 20)
        out = kafkajs.run("inconsistent", broker, topic)
        assert out["error"] is not None
        assert (out["error"]["type"], out["error"]["code"]) == ("INCONSISTENT_GROUP_PROTOCOL",
                                                                INCONSISTENT_GROUP_PROTOCOL)
        # The existing member keeps its partitions.
        assert wait_for(lambda: len(ck.assignment()) == 2, lambda: ck.poll(0.05), 5)
    finally:
        ck.close()


def test_killed_kafkajs_member_expires_and_the_other_takes_over(broker: Any, kafkajs: Any) -> None:
    """SIGKILL one of two kafkajs members: after its session times out (6 s) the
    survivor is assigned every partition."""
    topic, group = "js-expiry", "js-expiry-g"
    broker.call(broker.broker.create_topic, topic, 4, 1, {})
    env = {"GROUP_ID": group, "SESSION_TIMEOUT_MS": "6000"}
    a = kafkajs.start("member", broker, topic, env=env)
    b = kafkajs.start("member", broker, topic, env=env)

    def latest(p: Any) -> set[int]:
        joins = [e for e in p.events if e.get("event") == "join"]
        return set(joins[-1]["partitions"]) if joins else set()

    def split() -> bool:
        sa, sb = latest(a), latest(b)
        return bool(sa) and bool(sb) and sa | sb == {0, 1, 2, 3} and not sa & sb

    assert wait_for(split, lambda: time.sleep(0.05), 30), (a.events, b.events)
    killed_at = time.monotonic()
    b.proc.kill()
    b.proc.wait()
    assert wait_for(lambda: latest(a) == {0, 1, 2, 3}, lambda: time.sleep(0.05), 30), a.events
    # Not before the session timeout: the broker waited for the missing heartbeats.
    assert time.monotonic() - killed_at > 4.0
