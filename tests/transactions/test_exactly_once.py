"""A consume-transform-produce loop runs exactly once across crashes.

10,000 input records in two partitions are read, transformed and written to an
output topic, each batch in one transaction together with the consumer offsets
(send_offsets_to_transaction). Twice the work is interrupted in the middle of a
transaction: once the producer process "dies" (its successor with the same
transactional.id fences it), once the broker is killed with SIGKILL. At the end
a read_committed consumer sees every input transformed exactly once, in input
order per partition.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.transactions.test_clients_basic import consume_all

TIMEOUT = 30
TOTAL = 10_000
PARTITIONS = 2
BATCH = 500


def create_topics(bootstrap: str, *names: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for fut in admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names]).values():
        fut.result(TIMEOUT)


def fill_input(bootstrap: str, topic: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(TOTAL):
        producer.produce(topic, b"in-%05d" % i, partition=i % PARTITIONS)
    assert producer.flush(TIMEOUT) == 0


class Processor:
    """One incarnation of the application: a consumer and a transactional producer."""

    def __init__(self, bootstrap: str, group: str, txn_id: str, src: str, dst: str) -> None:
        self.src, self.dst = src, dst
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "auto.offset.reset": "earliest",
            }
        )
        committed = self.consumer.committed(
            [TopicPartition(src, p) for p in range(PARTITIONS)], timeout=TIMEOUT
        )
        self.consumer.assign(
            [
                TopicPartition(src, tp.partition, tp.offset if tp.offset >= 0 else 0)
                for tp in committed
            ]
        )
        self.producer = Producer(
            {"bootstrap.servers": bootstrap, "transactional.id": txn_id, "linger.ms": 5}
        )
        self.producer.init_transactions(TIMEOUT)

    def _poll_batch(self) -> list[Any]:
        msgs = self.consumer.consume(BATCH, timeout=1.0)
        return [m for m in msgs if not m.error()]

    def step(self, *, commit: bool = True) -> int:
        """Process one batch in one transaction; returns how many records it read."""
        msgs = self._poll_batch()
        if not msgs:
            return 0
        self.producer.begin_transaction()
        for m in msgs:
            self.producer.produce(
                self.dst, m.value().replace(b"in-", b"out-"), partition=m.partition()
            )
        if not commit:
            self.producer.flush(TIMEOUT)
            return len(msgs)
        positions = {}
        for m in msgs:
            positions[m.partition()] = m.offset() + 1
        self.producer.send_offsets_to_transaction(
            [TopicPartition(self.src, p, o) for p, o in positions.items()],
            self.consumer.consumer_group_metadata(),
            TIMEOUT,
        )
        self.producer.commit_transaction(TIMEOUT)
        return len(msgs)

    def abandon(self) -> None:
        """Crash: the consumer goes without committing; the producer is left mid-transaction."""
        self.consumer.close()

    def close(self) -> None:
        self.consumer.close()


def _run_until_idle(proc: Processor, limit_s: float = 40.0) -> None:
    deadline = time.monotonic() + limit_s
    idle = 0
    while idle < 3:
        assert time.monotonic() < deadline, "the processor stalled"
        idle = idle + 1 if proc.step() == 0 else 0


@pytest.mark.slow
def test_exactly_once_across_producer_and_broker_crashes(broker_process: Any) -> None:
    bootstrap = str(broker_process)
    src, dst = "in-" + uuid.uuid4().hex[:6], "out-" + uuid.uuid4().hex[:6]
    group, txn_id = "g-" + uuid.uuid4().hex[:6], "app-" + uuid.uuid4().hex[:6]
    create_topics(bootstrap, src, dst)
    fill_input(bootstrap, src)

    first = Processor(bootstrap, group, txn_id, src, dst)
    for _ in range(4):
        first.step()
    first.step(commit=False)  # the producer "dies" in the middle of this transaction
    first.abandon()
    zombie = first.producer

    second = Processor(bootstrap, group, txn_id, src, dst)  # fences the zombie
    for _ in range(4):
        second.step()
    second.step(commit=False)  # and now the broker dies in the middle of this one
    second.abandon()
    del zombie
    broker_process.kill()
    restarted = broker_process.restart()
    bootstrap = str(restarted)

    third = Processor(bootstrap, group, txn_id, src, dst)
    _run_until_idle(third)
    third.close()

    out = consume_all(bootstrap, dst, "read_committed", expect=TOTAL, partitions=PARTITIONS)
    values = [v for _, _, v in out]
    assert len(values) == TOTAL
    assert sorted(values) == sorted(b"out-%05d" % i for i in range(TOTAL))
    for p in range(PARTITIONS):
        in_partition = [v for part, _, v in out if part == p]
        assert in_partition == sorted(in_partition)
    everything = consume_all(
        bootstrap, dst, "read_uncommitted", expect=TOTAL + 2 * BATCH, partitions=PARTITIONS
    )
    assert len(everything) > TOTAL  # the two interrupted transactions are in the log, aborted
