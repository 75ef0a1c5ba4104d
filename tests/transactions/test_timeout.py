"""Transactions left open past their timeout are aborted by the coordinator."""

from __future__ import annotations

import time
import uuid
from typing import Any

from confluent_kafka import KafkaException

from tests.transactions.helpers import (
    add_partitions,
    create_topic,
    end_txn,
    fetch,
    find_txn_coordinator,
    init_ok,
    produce_txn,
    visible_values,
)
from tests.transactions.test_clients_basic import consume_all, make_topic, txn_producer
from wire.errors import ErrorCode as E
from wire.messages.describe_transactions import DescribeTransactionsRequest

FAST_ABORT = {"transaction.abort.timed.out.transaction.cleanup.interval.ms": "100"}


def describe(raw: Any, txn_id: str) -> Any:
    return raw.request(
        DescribeTransactionsRequest(transactional_ids=[txn_id]), 0
    ).transaction_states[0]


def test_open_transaction_is_aborted_after_its_timeout(start_broker: Any, raw_client: Any) -> None:
    broker = start_broker(FAST_ABORT)
    raw = raw_client(broker)
    txn_id, topic = "tx-" + uuid.uuid4().hex[:8], "t-" + uuid.uuid4().hex[:8]
    find_txn_coordinator(raw, txn_id)
    create_topic(raw, topic)
    pid, epoch = init_ok(raw, txn_id, timeout_ms=500)
    assert add_partitions(raw, txn_id, pid, epoch, [(topic, 0)]) == {(topic, 0): 0}
    assert produce_txn(raw, topic, pid, epoch, 0, [b"never"], txn_id=txn_id)[0] == 0
    assert describe(raw, txn_id).transaction_state == "Ongoing"
    deadline = time.monotonic() + 10
    while describe(raw, txn_id).transaction_state != "CompleteAbort":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    state = describe(raw, txn_id)
    assert (state.producer_id, state.producer_epoch) == (pid, epoch + 1)  # the producer was fenced
    assert end_txn(raw, txn_id, pid, epoch, True) == E.PRODUCER_FENCED
    part, records = fetch(raw, topic, 1)
    assert part.last_stable_offset == 2 and visible_values(part, records) == []


def test_confluent_producer_past_its_timeout(start_broker: Any) -> None:
    broker = start_broker(FAST_ABORT)
    topic = make_topic(broker)
    producer = txn_producer(
        broker, "txn-" + uuid.uuid4().hex[:8], **{"transaction.timeout.ms": 1000}
    )
    producer.begin_transaction()
    producer.produce(topic, b"slow")
    producer.flush(30)
    time.sleep(2.0)
    try:
        producer.commit_transaction(30)
    except KafkaException as exc:
        assert exc.args[0].fatal() or exc.args[0].txn_requires_abort()
    else:
        raise AssertionError("a transaction past its timeout committed")
    assert consume_all(broker, topic, "read_committed", expect=0, idle_s=1.0) == []
    assert [v for _, _, v in consume_all(broker, topic, "read_uncommitted", expect=1)] == [b"slow"]


def test_idle_transactional_id_expires(start_broker: Any, raw_client: Any) -> None:
    """transactional.id.expiration.ms: an idle id is removed (a tombstone in the log)."""
    broker = start_broker({"transactional.id.expiration.ms": "1000"})
    raw = raw_client(broker)
    txn_id, topic = "tx-" + uuid.uuid4().hex[:8], "t-" + uuid.uuid4().hex[:8]
    find_txn_coordinator(raw, txn_id)
    create_topic(raw, topic)
    pid, epoch = init_ok(raw, txn_id)
    busy_id = "busy-" + txn_id
    find_txn_coordinator(raw, busy_id)
    bpid, bepoch = init_ok(raw, busy_id)
    assert add_partitions(raw, busy_id, bpid, bepoch, [(topic, 0)]) == {(topic, 0): 0}
    coordinator = broker.broker.transaction_coordinator
    assert broker.call(coordinator.remove_expired_transactional_ids) == 0
    time.sleep(1.2)
    # the idle one goes; an ongoing transaction never expires
    assert broker.call(coordinator.remove_expired_transactional_ids) == 1
    assert describe(raw, txn_id).error_code == E.TRANSACTIONAL_ID_NOT_FOUND
    assert describe(raw, busy_id).transaction_state == "Ongoing"
    assert end_txn(raw, txn_id, pid, epoch, True) == E.INVALID_PRODUCER_ID_MAPPING
    # the tombstone survives a reload: the id stays gone
    broker.run_sync(coordinator._load_partition, coordinator.partition_for(txn_id))
    assert describe(raw, txn_id).error_code == E.TRANSACTIONAL_ID_NOT_FOUND
    # using the id again starts afresh with a new producer id
    pid2, epoch2 = init_ok(raw, txn_id)
    assert pid2 != pid and epoch2 == 0


def test_describe_producers_shows_the_open_transaction(broker: Any, raw_client: Any) -> None:
    from wire.messages.describe_producers import DescribeProducersRequest

    raw = raw_client(broker)
    txn_id, topic = "tx-" + uuid.uuid4().hex[:8], "t-" + uuid.uuid4().hex[:8]
    find_txn_coordinator(raw, txn_id)
    create_topic(raw, topic)
    pid, epoch = init_ok(raw, txn_id)
    assert add_partitions(raw, txn_id, pid, epoch, [(topic, 0)]) == {(topic, 0): 0}
    assert produce_txn(raw, topic, pid, epoch, 0, [b"a", b"b"], txn_id=txn_id)[0] == 0
    TR = DescribeProducersRequest.TopicRequest

    def producers() -> list[Any]:
        resp = raw.request(
            DescribeProducersRequest(topics=[TR(name=topic, partition_indexes=[0])]), 0
        )
        return resp.topics[0].partitions[0].active_producers

    (state,) = producers()
    assert (state.producer_id, state.producer_epoch, state.current_txn_start_offset) == (
        pid,
        epoch,
        0,
    )
    assert end_txn(raw, txn_id, pid, epoch, True) == 0
    (state,) = producers()
    assert state.current_txn_start_offset == -1
