"""The idempotent producer with stock clients and across broker restarts.

kafka-python 3's KafkaProducer and librdkafka with ``enable.idempotence=true``
both call InitProducerId and stamp every batch with producer id, epoch and
sequence; the broker must accept them in order and keep the state per
partition. A restarted broker must never hand out a producer id again, and must
still recognise a retried batch.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from confluent_kafka import Producer

from wire.errors import ErrorCode
from wire.messages.create_topics import CreateTopicsRequest
from wire.messages.describe_producers import DescribeProducersRequest
from wire.messages.init_producer_id import InitProducerIdRequest
from wire.messages.produce import ProduceRequest
from wire.records import SimpleRecord, build_batch

TIMEOUT = 15


def describe_producers(raw: Any, topic: str, partition: int = 0) -> list[Any]:
    TR = DescribeProducersRequest.TopicRequest
    resp = raw.request(
        DescribeProducersRequest(topics=[TR(name=topic, partition_indexes=[partition])]), 0
    )
    part = resp.topics[0].partitions[0]
    assert part.error_code == 0
    return part.active_producers


def create_topic(raw: Any, name: str, partitions: int = 1) -> None:
    T = CreateTopicsRequest.CreatableTopic
    resp = raw.request(
        CreateTopicsRequest(
            topics=[T(name=name, num_partitions=partitions, replication_factor=1)], timeout_ms=5000
        ),
        5,
    )
    assert resp.topics[0].error_code == 0


def init_producer_id(raw: Any) -> int:
    resp = raw.request(
        InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=60000), 4
    )
    assert (resp.error_code, resp.producer_epoch) == (0, 0)
    return resp.producer_id


def produce(raw: Any, topic: str, pid: int, seq: int, n: int) -> Any:
    batch = build_batch(
        [SimpleRecord(None, b"r%d" % i, timestamp=int(time.time() * 1000)) for i in range(n)],
        producer_id=pid,
        producer_epoch=0,
        base_sequence=seq,
    )
    T = ProduceRequest.TopicProduceData
    P = ProduceRequest.PartitionProduceData
    resp = raw.request(
        ProduceRequest(
            acks=-1,
            timeout_ms=5000,
            topic_data=[T(name=topic, partition_data=[P(index=0, records=batch)])],
        ),
        9,
    )
    return resp.responses[0].partition_responses[0]


def test_kafka_python_producer_is_idempotent(broker: Any, raw_client: Any) -> None:
    kafka = pytest.importorskip("kafka")
    raw = raw_client(str(broker))
    create_topic(raw, "kp-idem")
    producer = kafka.KafkaProducer(
        bootstrap_servers=str(broker), enable_idempotence=True, linger_ms=5
    )
    try:
        futures = [producer.send("kp-idem", value=b"m%d" % i, partition=0) for i in range(50)]
        offsets = [f.get(timeout=TIMEOUT).offset for f in futures]
    finally:
        producer.close(timeout=TIMEOUT)
    assert offsets == list(range(50))
    (state,) = describe_producers(raw, "kp-idem")
    assert state.producer_id >= 0 and state.producer_epoch == 0
    assert state.last_sequence == 49


def test_confluent_idempotent_producer(broker: Any, raw_client: Any) -> None:
    raw = raw_client(str(broker))
    create_topic(raw, "ck-idem", 2)
    delivered: list[tuple[int, int]] = []

    def on_delivery(err: Any, msg: Any) -> None:
        assert err is None, err
        delivered.append((msg.partition(), msg.offset()))

    p = Producer(
        {
            "bootstrap.servers": str(broker),
            "enable.idempotence": True,
            "linger.ms": 5,
            "acks": "all",
        }
    )
    for i in range(40):
        p.produce("ck-idem", value=b"v%d" % i, partition=i % 2, on_delivery=on_delivery)
    assert p.flush(TIMEOUT) == 0
    assert sorted(o for part, o in delivered if part == 0) == list(range(20))
    assert sorted(o for part, o in delivered if part == 1) == list(range(20))
    states = [describe_producers(raw, "ck-idem", part) for part in (0, 1)]
    assert [len(s) for s in states] == [1, 1]
    assert states[0][0].producer_id == states[1][0].producer_id
    assert {s[0].last_sequence for s in states} == {19}


def test_producer_ids_and_dedup_survive_restart(broker_process: Any, raw_client: Any) -> None:
    raw = raw_client(str(broker_process))
    create_topic(raw, "restart-idem")
    before = {init_producer_id(raw) for _ in range(3)}
    pid = min(before)
    first = produce(raw, "restart-idem", pid, 0, 3)
    assert (first.error_code, first.base_offset) == (0, 0)
    raw.close()

    restarted = broker_process.restart()
    raw = raw_client(str(restarted))
    after = {init_producer_id(raw) for _ in range(3)}
    assert not before & after
    # The old broker's block is never reused: new ids start past it.
    assert min(after) > max(before)
    retry = produce(raw, "restart-idem", pid, 0, 3)
    assert (retry.error_code, retry.base_offset) == (ErrorCode.NONE, 0)
    nxt = produce(raw, "restart-idem", pid, 3, 1)
    assert (nxt.error_code, nxt.base_offset) == (0, 3)
    restarted.stop()
