"""TxnOffsetCommit: pending offsets, their error codes, and OffsetFetch require_stable."""

from __future__ import annotations

import uuid
from typing import Any

from tests.transactions.helpers import (
    add_offsets,
    add_partitions,
    create_topic,
    end_txn,
    find_group_coordinator,
    find_txn_coordinator,
    init_ok,
    produce_txn,
)
from wire.errors import ErrorCode as E
from wire.messages.list_offsets import ListOffsetsRequest
from wire.messages.offset_fetch import OffsetFetchRequest
from wire.messages.txn_offset_commit import TxnOffsetCommitRequest

T = TxnOffsetCommitRequest


def txn_commit(
    raw: Any,
    txn_id: str,
    group: str,
    pid: int,
    epoch: int,
    offsets: dict[tuple[str, int], int],
    version: int = 3,
    generation: int = -1,
    member: str = "",
    metadata: str | None = "",
) -> dict:
    topics: dict[str, list[Any]] = {}
    for (t, p), off in offsets.items():
        topics.setdefault(t, []).append(
            T.TxnOffsetCommitRequestPartition(
                partition_index=p, committed_offset=off, committed_metadata=metadata
            )
        )
    req = T(
        transactional_id=txn_id,
        group_id=group,
        producer_id=pid,
        producer_epoch=epoch,
        generation_id=generation,
        member_id=member,
        topics=[T.TxnOffsetCommitRequestTopic(name=t, partitions=ps) for t, ps in topics.items()],
    )
    resp = raw.request(req, version)
    return {(t.name, p.partition_index): p.error_code for t in resp.topics for p in t.partitions}


def offset_fetch(raw: Any, group: str, topic: str, require_stable: bool) -> tuple[int, int]:
    OF = OffsetFetchRequest
    resp = raw.request(
        OF(
            group_id=group,
            topics=[OF.OffsetFetchRequestTopic(name=topic, partition_indexes=[0])],
            require_stable=require_stable,
        ),
        7,
    )
    part = resp.topics[0].partitions[0]
    return part.error_code, part.committed_offset


def list_latest(raw: Any, topic: str, isolation: int) -> int:
    L = ListOffsetsRequest
    resp = raw.request(
        L(
            replica_id=-1,
            isolation_level=isolation,
            topics=[
                L.ListOffsetsTopic(
                    name=topic, partitions=[L.ListOffsetsPartition(partition_index=0, timestamp=-1)]
                )
            ],
        ),
        5,
    )
    return resp.topics[0].partitions[0].offset


def _setup(broker: Any, raw_client: Any) -> tuple[Any, str, str, str, int, int]:
    raw = raw_client(broker)
    txn_id, topic, group = (
        "tx-" + uuid.uuid4().hex[:8],
        "t-" + uuid.uuid4().hex[:8],
        "g-" + uuid.uuid4().hex[:8],
    )
    find_txn_coordinator(raw, txn_id)
    find_group_coordinator(raw, group)
    create_topic(raw, topic)
    pid, epoch = init_ok(raw, txn_id)
    return raw, txn_id, topic, group, pid, epoch


def test_offsets_pending_until_commit(broker: Any, raw_client: Any) -> None:
    raw, txn_id, topic, group, pid, epoch = _setup(broker, raw_client)
    tp = (topic, 0)
    # the group's partition must be in the transaction first
    assert txn_commit(raw, txn_id, group, pid, epoch, {tp: 5}) == {tp: E.INVALID_TXN_STATE}
    assert txn_commit(raw, txn_id, group, pid, epoch, {tp: 5}, version=4) == {
        tp: E.TRANSACTION_ABORTABLE
    }
    assert add_offsets(raw, txn_id, pid, epoch, group) == 0
    assert add_partitions(raw, txn_id, pid, epoch, [tp]) == {tp: 0}
    assert produce_txn(raw, topic, pid, epoch, 0, [b"v"], txn_id=txn_id)[0] == 0
    assert txn_commit(raw, txn_id, group, pid, epoch, {tp: 5, ("nope-" + topic, 0): 1}) == {
        tp: 0,
        ("nope-" + topic, 0): E.UNKNOWN_TOPIC_OR_PARTITION,
    }
    assert txn_commit(raw, txn_id, group, pid, epoch, {tp: 6}, metadata="m" * 5000) == {
        tp: E.OFFSET_METADATA_TOO_LARGE
    }
    # a simple group takes no generation
    assert txn_commit(raw, txn_id, group, pid, epoch, {tp: 6}, generation=3, member="m") == {
        tp: E.ILLEGAL_GENERATION
    }
    assert offset_fetch(raw, group, topic, require_stable=True) == (E.UNSTABLE_OFFSET_COMMIT, -1)
    assert offset_fetch(raw, group, topic, require_stable=False) == (0, -1)
    # ListOffsets latest: read_committed stops at the open transaction
    assert list_latest(raw, topic, 0) == 1 and list_latest(raw, topic, 1) == 0
    assert end_txn(raw, txn_id, pid, epoch, True) == 0
    assert offset_fetch(raw, group, topic, require_stable=True) == (0, 5)
    assert list_latest(raw, topic, 1) == 2

    # an aborted transaction leaves the committed offset alone
    assert add_offsets(raw, txn_id, pid, epoch, group) == 0
    assert txn_commit(raw, txn_id, group, pid, epoch, {tp: 9}) == {tp: 0}
    assert end_txn(raw, txn_id, pid, epoch, False) == 0
    assert offset_fetch(raw, group, topic, require_stable=True) == (0, 5)


def test_fenced_producer_cannot_commit_offsets(broker: Any, raw_client: Any) -> None:
    raw, txn_id, topic, group, pid, epoch = _setup(broker, raw_client)
    tp = (topic, 0)
    assert add_offsets(raw, txn_id, pid, epoch, group) == 0
    assert txn_commit(raw, txn_id, group, pid, epoch + 1, {tp: 1}) == {tp: E.INVALID_PRODUCER_EPOCH}
    assert txn_commit(raw, txn_id, group, pid + 1, epoch, {tp: 1}) == {
        tp: E.INVALID_PRODUCER_ID_MAPPING
    }
    assert txn_commit(raw, txn_id, "", pid, epoch, {tp: 1}) == {tp: E.INVALID_GROUP_ID}


def test_offsets_survive_a_restart(start_broker: Any, raw_client: Any, tmp_path: Any) -> None:
    """Committed transactional offsets are replayed at their marker; open ones stay pending."""
    data_dir = str(tmp_path / "data-offsets")
    broker = start_broker(data_dir=data_dir)
    raw, txn_id, topic, group, pid, epoch = _setup(broker, raw_client)
    tp = (topic, 0)
    assert add_offsets(raw, txn_id, pid, epoch, group) == 0
    assert txn_commit(raw, txn_id, group, pid, epoch, {tp: 11}) == {tp: 0}
    assert end_txn(raw, txn_id, pid, epoch, True) == 0
    assert add_offsets(raw, txn_id, pid, epoch, group) == 0
    assert txn_commit(raw, txn_id, group, pid, epoch, {tp: 20}) == {tp: 0}
    raw.close()
    broker._runner.stop()

    broker = start_broker(data_dir=data_dir)
    raw = raw_client(broker)
    find_group_coordinator(raw, group)
    assert offset_fetch(raw, group, topic, require_stable=False) == (0, 11)
    assert offset_fetch(raw, group, topic, require_stable=True) == (E.UNSTABLE_OFFSET_COMMIT, -1)
    # the producer is still the current one: it can finish what it started
    assert end_txn(raw, txn_id, pid, epoch, True) == 0
    assert offset_fetch(raw, group, topic, require_stable=True) == (0, 20)
