"""The transaction state machine and the __transaction_state record format, without a broker."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpybroker.group_coordinator.hashing import partition_for
from kpybroker.transaction_coordinator import records
from kpybroker.transaction_coordinator.metadata import (
    IllegalTransitionError,
    TransactionMetadata,
    TransactionState,
)

S = TransactionState


def fresh(**kw: object) -> TransactionMetadata:
    return TransactionMetadata(transactional_id="t", producer_id=1000, **kw)  # type: ignore[arg-type]


def apply(txn: TransactionMetadata, new: TransactionMetadata | None) -> TransactionMetadata:
    assert new is not None
    assert txn.pending_state == new.state
    txn.complete_transition(new)
    assert txn.pending_state is None
    return txn


def test_state_ids_and_names_are_kafkas() -> None:
    assert [(s.value, s.state_name) for s in S] == [
        (0, "Empty"),
        (1, "Ongoing"),
        (2, "PrepareCommit"),
        (3, "PrepareAbort"),
        (4, "CompleteCommit"),
        (5, "CompleteAbort"),
        (6, "Dead"),
        (7, "PrepareEpochFence"),
    ]
    assert S.from_name("Ongoing") is S.ONGOING and S.from_name("ongoing") is None


def test_partition_for_is_kafkas_hash() -> None:
    # Java: "hello".hashCode() == 99162322; "polygenelubricants".hashCode() is
    # Integer.MIN_VALUE, which Kafka's Utils.abs maps to 0
    assert partition_for("hello", 50) == 99162322 % 50
    assert partition_for("polygenelubricants", 50) == 0


def test_full_lifecycle() -> None:
    txn = fresh()
    apply(txn, txn.prepare_increment_producer_epoch(60_000, None, 10))
    assert (txn.state, txn.producer_epoch) == (S.EMPTY, 0)
    apply(txn, txn.prepare_add_partitions({("a", 0)}, 20))
    assert (txn.state, txn.txn_start_timestamp) == (S.ONGOING, 20)
    apply(txn, txn.prepare_add_partitions({("a", 1)}, 30))
    assert txn.topic_partitions == {("a", 0), ("a", 1)} and txn.txn_start_timestamp == 20
    apply(txn, txn.prepare_abort_or_commit(S.PREPARE_COMMIT, 40))
    apply(txn, txn.prepare_complete(50))
    assert (txn.state, txn.topic_partitions, txn.txn_last_update_timestamp) == (
        S.COMPLETE_COMMIT,
        set(),
        50,
    )
    apply(txn, txn.prepare_add_partitions({("b", 0)}, 60))
    assert txn.txn_start_timestamp == 60  # a new transaction starts the clock again


def test_forbidden_transitions() -> None:
    txn = fresh(state=S.EMPTY)
    with pytest.raises(IllegalTransitionError):
        txn.prepare_abort_or_commit(S.PREPARE_COMMIT, 0)
    with pytest.raises(IllegalTransitionError):
        txn.prepare_complete(0)
    txn = fresh(state=S.ONGOING)
    txn.prepare_abort_or_commit(S.PREPARE_ABORT, 0)
    with pytest.raises(IllegalTransitionError):  # one transition at a time
        txn.prepare_add_partitions({("a", 0)}, 0)
    txn.abort_transition()
    assert txn.state == S.ONGOING and txn.pending_state is None


def test_epoch_fence_bumps_once_even_after_a_failed_write() -> None:
    txn = fresh(state=S.ONGOING, producer_epoch=3, topic_partitions={("a", 0)})
    new = txn.prepare_epoch_fence_abort(5)
    assert (new.state, new.producer_epoch) == (S.PREPARE_ABORT, 4)
    txn.abort_transition()
    txn.has_failed_epoch_fence = True
    assert txn.prepare_epoch_fence_abort(6).producer_epoch == 4


def test_init_producer_id_epochs() -> None:
    txn = fresh(state=S.COMPLETE_ABORT, producer_epoch=5, last_producer_epoch=4)
    # a retry from the producer that already got epoch 5 (it sends its last one, 4)
    new = txn.prepare_increment_producer_epoch(1000, 4, 0)
    assert new is not None and new.producer_epoch == 5
    txn.abort_transition()
    assert txn.prepare_increment_producer_epoch(1000, 2, 0) is None  # a fenced epoch
    txn.abort_transition()
    new = txn.prepare_increment_producer_epoch(1000, 5, 0)
    assert new is not None and (new.producer_epoch, new.last_producer_epoch) == (6, 5)


txn_strategy = st.builds(
    TransactionMetadata,
    transactional_id=st.text(min_size=1, max_size=20),
    producer_id=st.integers(0, 2**63 - 1),
    producer_epoch=st.integers(-1, 2**15 - 1),
    txn_timeout_ms=st.integers(1, 2**31 - 1),
    state=st.sampled_from([s for s in S if s not in (S.DEAD, S.PREPARE_EPOCH_FENCE)]),
    topic_partitions=st.sets(
        st.tuples(st.text(min_size=1, max_size=10), st.integers(0, 1000)), max_size=5
    ),
    txn_start_timestamp=st.integers(-1, 2**50),
    txn_last_update_timestamp=st.integers(-1, 2**50),
)


@settings(max_examples=100, deadline=None)
@given(txn_strategy)
def test_records_round_trip(txn: TransactionMetadata) -> None:
    if txn.state == S.EMPTY:
        txn.topic_partitions = set()
    key = records.key_to_bytes(txn.transactional_id)
    value = records.value_to_bytes(txn)
    assert struct.unpack_from(">h", key)[0] == 0 and struct.unpack_from(">h", value)[0] == 0
    assert records.read_key(key) == txn.transactional_id
    back = records.read_value(txn.transactional_id, value)
    assert back is not None
    for name in (
        "producer_id",
        "producer_epoch",
        "txn_timeout_ms",
        "state",
        "topic_partitions",
        "txn_start_timestamp",
        "txn_last_update_timestamp",
    ):
        assert getattr(back, name) == getattr(txn, name)


def test_value_layout_v0() -> None:
    """Kafka's TransactionLogValue v0 layout, field by field."""
    txn = fresh(
        producer_epoch=2,
        txn_timeout_ms=60_000,
        state=S.ONGOING,
        topic_partitions={("ab", 3)},
        txn_start_timestamp=7,
        txn_last_update_timestamp=9,
    )
    expected = (
        struct.pack(">hqhi", 0, 1000, 2, 60_000)
        + b"\x01"
        + struct.pack(">i", 1)
        + struct.pack(">h", 2)
        + b"ab"
        + struct.pack(">ii", 1, 3)
        + struct.pack(">qq", 9, 7)
    )
    assert records.value_to_bytes(txn) == expected
    empty = fresh(state=S.EMPTY)
    assert records.value_to_bytes(empty)[17:21] == struct.pack(">i", -1)  # null partitions
    assert records.read_value("t", None) is None
    assert records.read_key(struct.pack(">h", 9) + b"xx") is None


def test_offsets_replay_holds_transactional_records_until_their_marker() -> None:
    from kpybroker.transaction_coordinator.txn_offsets import committed_records
    from wire.records import SimpleRecord, build_batch, build_control_batch

    def batch(key: bytes, pid: int = -1) -> tuple[int, memoryview]:
        data = build_batch(
            [SimpleRecord(key, b"v")],
            producer_id=pid,
            producer_epoch=0 if pid >= 0 else -1,
            base_sequence=0 if pid >= 0 else -1,
            is_transactional=pid >= 0,
        )
        return 0, memoryview(data)

    def marker(pid: int, commit: bool) -> tuple[int, memoryview]:
        return 0, memoryview(build_control_batch(commit, pid, 0, 0, 0))

    log = [
        batch(b"plain1"),
        batch(b"t7-a", 7),
        batch(b"t8-a", 8),
        batch(b"plain2"),
        marker(8, False),
        batch(b"t7-b", 7),
        marker(7, True),
        batch(b"t9-open", 9),
        batch(b"plain3"),
    ]
    keys = [k for k, _ in committed_records(log)]
    assert keys == [b"plain1", b"plain2", b"t7-a", b"t7-b", b"plain3"]


def test_fence_refused_while_busy_leaves_the_epoch() -> None:
    txn = fresh(state=S.ONGOING, producer_epoch=3)
    txn.prepare_abort_or_commit(S.PREPARE_COMMIT, 0)
    with pytest.raises(IllegalTransitionError):
        txn.prepare_epoch_fence_abort(1)
    assert txn.producer_epoch == 3
