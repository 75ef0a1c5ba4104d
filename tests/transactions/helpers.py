"""Raw-protocol helpers for the transaction tests."""

from __future__ import annotations

import time
from typing import Any

from wire.messages.add_offsets_to_txn import AddOffsetsToTxnRequest
from wire.messages.add_partitions_to_txn import AddPartitionsToTxnRequest
from wire.messages.create_topics import CreateTopicsRequest
from wire.messages.end_txn import EndTxnRequest
from wire.messages.fetch import FetchRequest
from wire.messages.find_coordinator import FindCoordinatorRequest
from wire.messages.init_producer_id import InitProducerIdRequest
from wire.messages.produce import ProduceRequest
from wire.records import SimpleRecord, build_batch, iter_batches, iter_records

APT = AddPartitionsToTxnRequest


def find_txn_coordinator(raw: Any, txn_id: str, timeout: float = 10.0) -> None:
    """FindCoordinator for a transactional id until it answers (creates __transaction_state)."""
    deadline = time.monotonic() + timeout
    while True:
        resp = raw.request(FindCoordinatorRequest(key=txn_id, key_type=1), 3)
        if resp.error_code == 0:
            return
        assert time.monotonic() < deadline, resp
        time.sleep(0.05)


def find_group_coordinator(raw: Any, group: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        resp = raw.request(FindCoordinatorRequest(key=group, key_type=0), 3)
        if resp.error_code == 0:
            return
        assert time.monotonic() < deadline, resp
        time.sleep(0.05)


def create_topic(raw: Any, name: str, partitions: int = 1) -> None:
    T = CreateTopicsRequest.CreatableTopic
    resp = raw.request(
        CreateTopicsRequest(
            topics=[T(name=name, num_partitions=partitions, replication_factor=1)], timeout_ms=5000
        ),
        5,
    )
    assert resp.topics[0].error_code == 0, resp


def init_pid(
    raw: Any,
    txn_id: str,
    timeout_ms: int = 60_000,
    version: int = 4,
    pid: int = -1,
    epoch: int = -1,
) -> Any:
    return raw.request(
        InitProducerIdRequest(
            transactional_id=txn_id,
            transaction_timeout_ms=timeout_ms,
            producer_id=pid,
            producer_epoch=epoch,
        ),
        version,
    )


def init_ok(raw: Any, txn_id: str, timeout_ms: int = 60_000) -> tuple[int, int]:
    deadline = time.monotonic() + 10
    while True:
        resp = init_pid(raw, txn_id, timeout_ms)
        if resp.error_code == 0:
            return resp.producer_id, resp.producer_epoch
        assert resp.error_code == 51 and time.monotonic() < deadline, (
            resp
        )  # CONCURRENT_TRANSACTIONS
        time.sleep(0.05)


def add_partitions(
    raw: Any, txn_id: str, pid: int, epoch: int, parts: list[tuple[str, int]], version: int = 3
) -> dict[tuple[str, int], int]:
    topics: dict[str, list[int]] = {}
    for t, p in parts:
        topics.setdefault(t, []).append(p)
    req = APT(
        v3_and_below_transactional_id=txn_id,
        v3_and_below_producer_id=pid,
        v3_and_below_producer_epoch=epoch,
        v3_and_below_topics=[
            APT.AddPartitionsToTxnTopic(name=t, partitions=ps) for t, ps in topics.items()
        ],
    )
    resp = raw.request(req, version)
    return {
        (t.name, p.partition_index): p.partition_error_code
        for t in resp.results_by_topic_v3_and_below
        for p in t.results_by_partition
    }


def add_offsets(raw: Any, txn_id: str, pid: int, epoch: int, group: str, version: int = 3) -> int:
    return raw.request(
        AddOffsetsToTxnRequest(
            transactional_id=txn_id, producer_id=pid, producer_epoch=epoch, group_id=group
        ),
        version,
    ).error_code


def end_txn(raw: Any, txn_id: str, pid: int, epoch: int, commit: bool, version: int = 3) -> int:
    return raw.request(
        EndTxnRequest(
            transactional_id=txn_id, producer_id=pid, producer_epoch=epoch, committed=commit
        ),
        version,
    ).error_code


def produce_txn(
    raw: Any,
    topic: str,
    pid: int,
    epoch: int,
    seq: int,
    values: list[bytes],
    partition: int = 0,
    txn_id: str | None = None,
) -> tuple[int, int]:
    """Append one transactional batch; returns (error code, base offset)."""
    batch = build_batch(
        [SimpleRecord(None, v, timestamp=int(time.time() * 1000)) for v in values],
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=seq,
        is_transactional=True,
    )
    P = ProduceRequest
    req = P(
        transactional_id=txn_id,
        acks=-1,
        timeout_ms=5000,
        topic_data=[
            P.TopicProduceData(
                name=topic, partition_data=[P.PartitionProduceData(index=partition, records=batch)]
            )
        ],
    )
    resp = raw.request(req, 9)
    part = resp.responses[0].partition_responses[0]
    return part.error_code, part.base_offset


def fetch(raw: Any, topic: str, isolation: int, partition: int = 0, offset: int = 0) -> Any:
    """One Fetch v11 of a partition: (partition response, [(offset, value, is_control)])."""
    F = FetchRequest
    req = F(
        replica_id=-1,
        max_wait_ms=0,
        min_bytes=0,
        max_bytes=1 << 20,
        isolation_level=isolation,
        topics=[
            F.FetchTopic(
                topic=topic,
                partitions=[
                    F.FetchPartition(
                        partition=partition, fetch_offset=offset, partition_max_bytes=1 << 20
                    )
                ],
            )
        ],
    )
    resp = raw.request(req, 11)
    part = resp.responses[0].partitions[0]
    data = bytes(
        b"".join(bytes(x) for x in part.records)
        if isinstance(part.records, list)
        else (part.records or b"")
    )
    out = []
    for pos, header in iter_batches(memoryview(data)):
        for rec in iter_records(memoryview(data), pos, header):
            out.append(
                (
                    rec.offset,
                    None if rec.value is None else bytes(rec.value),
                    header.is_control,
                    header.producer_id,
                )
            )
    return part, out


def visible_values(part: Any, records: list[Any]) -> list[bytes | None]:
    """What a read_committed client keeps: no control records, no aborted transactions."""
    aborted = sorted((a.first_offset, a.producer_id) for a in part.aborted_transactions or ())
    open_aborts: set[int] = set()
    out = []
    for offset, value, is_control, pid in records:
        while aborted and aborted[0][0] <= offset:
            open_aborts.add(aborted.pop(0)[1])
        if is_control:
            open_aborts.discard(pid)
            continue
        if pid not in open_aborts:
            out.append(value)
    return out
