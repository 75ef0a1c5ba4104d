"""Every error code of the transaction APIs, provoked over a real socket.

A raw client speaks the protocol with wire's codecs so each request and answer
is exactly the one under test.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.transactions.helpers import (
    add_offsets,
    add_partitions,
    create_topic,
    end_txn,
    fetch,
    find_txn_coordinator,
    init_ok,
    init_pid,
    produce_txn,
    visible_values,
)
from wire.errors import ErrorCode as E
from wire.messages.add_partitions_to_txn import AddPartitionsToTxnRequest
from wire.messages.describe_transactions import DescribeTransactionsRequest
from wire.messages.list_transactions import ListTransactionsRequest
from wire.messages.write_txn_markers import WriteTxnMarkersRequest

APT = AddPartitionsToTxnRequest


def _setup(broker: Any, raw_client: Any, partitions: int = 1) -> tuple[Any, str, str]:
    raw = raw_client(broker)
    txn_id = "tx-" + uuid.uuid4().hex[:8]
    topic = "t-" + uuid.uuid4().hex[:8]
    find_txn_coordinator(raw, txn_id)
    create_topic(raw, topic, partitions)
    return raw, txn_id, topic


def test_init_producer_id_errors(broker: Any, raw_client: Any) -> None:
    raw, txn_id, _ = _setup(broker, raw_client)
    assert init_pid(raw, "").error_code == E.INVALID_REQUEST
    assert init_pid(raw, txn_id, timeout_ms=0).error_code == E.INVALID_TRANSACTION_TIMEOUT
    assert init_pid(raw, txn_id, timeout_ms=900_001).error_code == E.INVALID_TRANSACTION_TIMEOUT
    assert init_pid(raw, txn_id, timeout_ms=900_000).error_code == E.NONE
    first = init_pid(raw, txn_id)
    second = init_pid(raw, txn_id)
    # each InitProducerId on an idle id bumps the epoch of the same producer id
    assert (second.producer_id, second.producer_epoch) == (
        first.producer_id,
        first.producer_epoch + 1,
    )
    # v3+: a producer id that is not this id's is fenced (INVALID_PRODUCER_EPOCH before v4)
    assert (
        init_pid(raw, txn_id, pid=first.producer_id + 1000, epoch=0).error_code == E.PRODUCER_FENCED
    )
    assert (
        init_pid(raw, txn_id, version=3, pid=first.producer_id + 1000, epoch=0).error_code
        == E.INVALID_PRODUCER_EPOCH
    )
    # the current producer re-initialising keeps its id and bumps the epoch
    again = init_pid(raw, txn_id, pid=second.producer_id, epoch=second.producer_epoch)
    assert (again.error_code, again.producer_id, again.producer_epoch) == (
        0,
        second.producer_id,
        second.producer_epoch + 1,
    )


def test_fencing_an_ongoing_transaction(broker: Any, raw_client: Any) -> None:
    raw, txn_id, topic = _setup(broker, raw_client)
    pid, epoch = init_ok(raw, txn_id)
    assert add_partitions(raw, txn_id, pid, epoch, [(topic, 0)]) == {(topic, 0): 0}
    assert produce_txn(raw, topic, pid, epoch, 0, [b"zombie"], txn_id=txn_id)[0] == 0
    # a new producer: the ongoing transaction is aborted first, the caller retries
    assert init_pid(raw, txn_id).error_code == E.CONCURRENT_TRANSACTIONS
    pid2, epoch2 = init_ok(raw, txn_id)
    assert pid2 == pid and epoch2 == epoch + 2  # one bump to fence, one for the new producer
    # the old producer is fenced everywhere
    assert add_partitions(raw, txn_id, pid, epoch, [(topic, 0)]) == {(topic, 0): E.PRODUCER_FENCED}
    assert add_partitions(raw, txn_id, pid, epoch, [(topic, 0)], version=1) == {
        (topic, 0): E.INVALID_PRODUCER_EPOCH
    }
    assert end_txn(raw, txn_id, pid, epoch, True) == E.PRODUCER_FENCED
    assert end_txn(raw, txn_id, pid, epoch, True, version=1) == E.INVALID_PRODUCER_EPOCH
    assert add_offsets(raw, txn_id, pid, epoch, "g") == E.PRODUCER_FENCED
    assert add_offsets(raw, txn_id, pid, epoch, "g", version=1) == E.INVALID_PRODUCER_EPOCH
    assert (
        produce_txn(raw, topic, pid, epoch, 1, [b"late"], txn_id=txn_id)[0]
        == E.INVALID_PRODUCER_EPOCH
    )
    # its records were aborted: read_committed sees nothing, read_uncommitted the record and marker
    part, records = fetch(raw, topic, 1)
    assert visible_values(part, records) == []
    assert [(a.producer_id, a.first_offset) for a in part.aborted_transactions] == [(pid, 0)]
    _, records = fetch(raw, topic, 0)
    assert [(r[1], r[2]) for r in records][:1] == [(b"zombie", False)]
    assert records[-1][2] is True


def test_add_partitions_and_end_txn_errors(broker: Any, raw_client: Any) -> None:
    raw, txn_id, topic = _setup(broker, raw_client)
    pid, epoch = init_ok(raw, txn_id)
    # no such id / wrong producer id
    assert add_partitions(raw, "never-" + txn_id, pid, epoch, [(topic, 0)]) == {
        (topic, 0): E.INVALID_PRODUCER_ID_MAPPING
    }
    assert add_partitions(raw, txn_id, pid + 1, epoch, [(topic, 0)]) == {
        (topic, 0): E.INVALID_PRODUCER_ID_MAPPING
    }
    assert end_txn(raw, txn_id, pid + 1, epoch, True) == E.INVALID_PRODUCER_ID_MAPPING
    assert end_txn(raw, "", pid, epoch, True) == E.INVALID_REQUEST
    # an unknown topic fails the whole request; the others were not attempted
    assert add_partitions(raw, txn_id, pid, epoch, [(topic, 0), ("nope-" + topic, 0)]) == {
        (topic, 0): E.OPERATION_NOT_ATTEMPTED,
        ("nope-" + topic, 0): E.UNKNOWN_TOPIC_OR_PARTITION,
    }
    # nothing to end yet
    assert end_txn(raw, txn_id, pid, epoch, True) == E.INVALID_TXN_STATE
    assert add_partitions(raw, txn_id, pid, epoch, [(topic, 0)]) == {(topic, 0): 0}
    assert end_txn(raw, txn_id, pid, epoch, False) == E.NONE
    # a retried abort is fine; a commit after the abort is not
    assert end_txn(raw, txn_id, pid, epoch, False) == E.NONE
    assert end_txn(raw, txn_id, pid, epoch, True) == E.INVALID_TXN_STATE
    assert add_partitions(raw, txn_id, pid, epoch, [(topic, 0)]) == {(topic, 0): 0}
    assert end_txn(raw, txn_id, pid, epoch, True) == E.NONE
    assert end_txn(raw, txn_id, pid, epoch, True) == E.NONE
    assert end_txn(raw, txn_id, pid, epoch, False) == E.INVALID_TXN_STATE


def test_concurrent_transactions_while_completing(broker: Any, raw_client: Any) -> None:
    """While an end is being written, other requests for the id are told to retry."""
    raw, txn_id, topic = _setup(broker, raw_client)
    pid, epoch = init_ok(raw, txn_id)
    assert add_partitions(raw, txn_id, pid, epoch, [(topic, 0)]) == {(topic, 0): 0}
    coordinator = broker.broker.transaction_coordinator

    def hold() -> None:
        txn = coordinator.get_transaction(txn_id)
        txn.pending_state = txn.state  # a transition in flight

    def release() -> None:
        coordinator.get_transaction(txn_id).pending_state = None

    broker.run_sync(hold)
    try:
        assert init_pid(raw, txn_id).error_code == E.CONCURRENT_TRANSACTIONS
        assert add_partitions(raw, txn_id, pid, epoch, [(topic, 0)]) == {
            (topic, 0): E.CONCURRENT_TRANSACTIONS
        }
        assert end_txn(raw, txn_id, pid, epoch, True) == E.CONCURRENT_TRANSACTIONS
    finally:
        broker.run_sync(release)


def test_verify_only_and_admin(broker: Any, raw_client: Any) -> None:
    raw, txn_id, topic = _setup(broker, raw_client, partitions=2)
    pid, epoch = init_ok(raw, txn_id)
    assert add_partitions(raw, txn_id, pid, epoch, [(topic, 0)]) == {(topic, 0): 0}

    def verify(p: int, e: int) -> dict[tuple[str, int], int]:
        req = APT(
            transactions=[
                APT.AddPartitionsToTxnTransaction(
                    transactional_id=txn_id,
                    producer_id=p,
                    producer_epoch=e,
                    verify_only=True,
                    topics=[APT.AddPartitionsToTxnTopic(name=topic, partitions=[0, 1])],
                )
            ]
        )
        resp = raw.request(req, 4)
        assert resp.error_code == 0 and resp.results_by_transaction[0].transactional_id == txn_id
        return {
            (t.name, r.partition_index): r.partition_error_code
            for t in resp.results_by_transaction[0].topic_results
            for r in t.results_by_partition
        }

    assert verify(pid, epoch) == {(topic, 0): 0, (topic, 1): E.TRANSACTION_ABORTABLE}
    assert verify(pid, epoch + 1) == {(topic, 0): E.PRODUCER_FENCED, (topic, 1): E.PRODUCER_FENCED}

    desc = raw.request(
        DescribeTransactionsRequest(transactional_ids=[txn_id, "none-" + txn_id, ""]), 0
    )
    found, missing, empty = desc.transaction_states
    assert (found.error_code, found.transaction_state, found.producer_id, found.producer_epoch) == (
        0,
        "Ongoing",
        pid,
        epoch,
    )
    assert [(t.topic, list(t.partitions)) for t in found.topics] == [(topic, [0])]
    assert found.transaction_timeout_ms == 60_000 and found.transaction_start_time_ms > 0
    assert missing.error_code == E.TRANSACTIONAL_ID_NOT_FOUND
    assert empty.error_code == E.INVALID_REQUEST

    def listed(version: int = 1, **kw: Any) -> Any:
        return raw.request(ListTransactionsRequest(**kw), version)

    resp = listed(state_filters=["Ongoing", "Bogus"])
    assert resp.error_code == 0 and list(resp.unknown_state_filters) == ["Bogus"]
    assert [
        (s.transactional_id, s.producer_id, s.transaction_state) for s in resp.transaction_states
    ] == [(txn_id, pid, "Ongoing")]
    assert listed(state_filters=["CompleteCommit"]).transaction_states == []
    assert [s.transactional_id for s in listed(producer_id_filters=[pid]).transaction_states] == [
        txn_id
    ]
    assert listed(producer_id_filters=[pid + 7]).transaction_states == []
    assert [s.transactional_id for s in listed(duration_filter=0).transaction_states] in (
        [txn_id],
        [],
    )
    assert listed(duration_filter=3_600_000).transaction_states == []
    assert [
        s.transactional_id for s in listed(2, transactional_id_pattern="tx-.*").transaction_states
    ] == [txn_id]
    assert listed(2, transactional_id_pattern="x").transaction_states == []
    assert listed(2, transactional_id_pattern="(").error_code == E.INVALID_REGULAR_EXPRESSION


def test_write_txn_markers(broker: Any, raw_client: Any) -> None:
    """The inter-broker API closes a transaction written by hand, as a tool would."""
    raw, txn_id, topic = _setup(broker, raw_client)
    pid, epoch = init_ok(raw, txn_id)
    assert add_partitions(raw, txn_id, pid, epoch, [(topic, 0)]) == {(topic, 0): 0}
    assert produce_txn(raw, topic, pid, epoch, 0, [b"one", b"two"], txn_id=txn_id)[0] == 0
    assert fetch(raw, topic, 1)[0].last_stable_offset == 0
    W = WriteTxnMarkersRequest
    req = W(
        markers=[
            W.WritableTxnMarker(
                producer_id=pid,
                producer_epoch=epoch,
                transaction_result=True,
                coordinator_epoch=0,
                topics=[
                    W.WritableTxnMarkerTopic(name=topic, partition_indexes=[0]),
                    W.WritableTxnMarkerTopic(name="nope-" + topic, partition_indexes=[0]),
                ],
            )
        ]
    )
    resp = raw.request(req, 1)
    results = {
        (t.name, p.partition_index): p.error_code
        for t in resp.markers[0].topics
        for p in t.partitions
    }
    assert results == {(topic, 0): 0, ("nope-" + topic, 0): E.UNKNOWN_TOPIC_OR_PARTITION}
    part, records = fetch(raw, topic, 1)
    assert part.last_stable_offset == 3
    assert visible_values(part, records) == [b"one", b"two"] and part.aborted_transactions == []
    # an older epoch's marker is refused by the partition's producer state
    req.markers[0].producer_epoch = epoch - 1 if epoch > 0 else epoch
    if epoch > 0:
        resp = raw.request(req, 1)
        assert resp.markers[0].topics[0].partitions[0].error_code == E.INVALID_PRODUCER_EPOCH


def test_not_coordinator_before_the_state_topic_exists(broker: Any, raw_client: Any) -> None:
    raw = raw_client(broker)
    assert init_pid(raw, "early").error_code == E.NOT_COORDINATOR
    desc = raw.request(DescribeTransactionsRequest(transactional_ids=["early"]), 0)
    assert desc.transaction_states[0].error_code == E.NOT_COORDINATOR
    listed = raw.request(ListTransactionsRequest(), 0)
    assert (listed.error_code, listed.transaction_states) == (0, [])


def test_produce_is_verified_against_the_transaction(broker: Any, raw_client: Any) -> None:
    """KIP-890: a transactional batch for a partition outside the transaction, or from
    a fenced epoch, is refused before it can open a transaction nobody will close."""
    raw, txn_id, topic = _setup(broker, raw_client, partitions=2)
    pid, epoch = init_ok(raw, txn_id)
    assert add_partitions(raw, txn_id, pid, epoch, [(topic, 0)]) == {(topic, 0): 0}
    assert produce_txn(raw, topic, pid, epoch, 0, [b"in"], partition=0, txn_id=txn_id)[0] == 0
    assert (
        produce_txn(raw, topic, pid, epoch, 0, [b"out"], partition=1, txn_id=txn_id)[0]
        == E.INVALID_TXN_STATE
    )
    assert end_txn(raw, txn_id, pid, epoch, True) == 0
    old = epoch
    pid, epoch = init_ok(raw, txn_id)
    # the zombie writes to a partition the new epoch has not touched yet
    assert (
        produce_txn(raw, topic, pid, old, 0, [b"zombie"], partition=1, txn_id=txn_id)[0]
        == E.INVALID_PRODUCER_EPOCH
    )
    part, _ = fetch(raw, topic, 1, partition=1)
    assert part.last_stable_offset == part.high_watermark == 0


def test_produce_verification_can_be_switched_off(start_broker: Any, raw_client: Any) -> None:
    broker = start_broker({"transaction.partition.verification.enable": "false"})
    raw, txn_id, topic = _setup(broker, raw_client)
    pid, epoch = init_ok(raw, txn_id)
    # without verification the broker takes it (and the transaction hangs, as in old Kafka)
    assert produce_txn(raw, topic, pid, epoch, 0, [b"unverified"], txn_id=txn_id)[0] == 0
    assert fetch(raw, topic, 1)[0].last_stable_offset == 0


def test_markers_from_an_older_coordinator_epoch_are_fenced(broker: Any, raw_client: Any) -> None:
    raw, txn_id, topic = _setup(broker, raw_client)
    pid, epoch = init_ok(raw, txn_id)
    W = WriteTxnMarkersRequest

    def marker(coordinator_epoch: int) -> int:
        assert add_partitions(raw, txn_id, pid, epoch, [(topic, 0)]) == {(topic, 0): 0}
        req = W(
            markers=[
                W.WritableTxnMarker(
                    producer_id=pid,
                    producer_epoch=epoch,
                    transaction_result=False,
                    coordinator_epoch=coordinator_epoch,
                    topics=[W.WritableTxnMarkerTopic(name=topic, partition_indexes=[0])],
                )
            ]
        )
        return raw.request(req, 1).markers[0].topics[0].partitions[0].error_code

    assert marker(5) == 0
    assert end_txn(raw, txn_id, pid, epoch, False) == 0  # the coordinator's own marker (epoch 0) is refused,
    assert marker(3) == E.TRANSACTION_COORDINATOR_FENCED  # as is any older epoch
    assert marker(5) == 0


def test_client_asking_for_too_long_a_timeout(broker: Any) -> None:
    from confluent_kafka import KafkaException, Producer

    producer = Producer(
        {
            "bootstrap.servers": broker,
            "transactional.id": "long-" + uuid.uuid4().hex[:6],
            "transaction.timeout.ms": 900_001,
        }
    )
    try:
        producer.init_transactions(20)
    except KafkaException as exc:
        assert exc.args[0].code() == E.INVALID_TRANSACTION_TIMEOUT
    else:
        raise AssertionError("a timeout above transaction.max.timeout.ms was accepted")
