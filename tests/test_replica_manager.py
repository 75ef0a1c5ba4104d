"""ReplicaManager: acks=all purgatory, high watermark over the ISR, long-poll fetch.

A real Broker (storage, metadata, replica manager) without sockets; trio's
autojump clock makes the timeouts instant.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import trio
import trio.testing

from kpybroker.broker import Broker
from kpybroker.config import BrokerConfig
from kpybroker.replica_manager import FetchPartitionRequest
from wire.errors import ErrorCode
from wire.records import SimpleRecord, build_batch, iter_records


@pytest.fixture
def broker(tmp_path: Any) -> Iterator[Broker]:
    b = Broker(
        BrokerConfig(
            {"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": str(tmp_path), "broker.id": "0"}
        )
    )
    b.start()
    yield b
    b.shutdown()


def batch(*values: bytes, producer_id: int = -1, sequence: int = -1) -> bytes:
    return build_batch(
        # Current timestamps: old ones would make every append roll a segment (segment.ms).
        [SimpleRecord(None, v, timestamp=int(time.time() * 1000)) for v in values],
        producer_id=producer_id,
        producer_epoch=0 if producer_id >= 0 else -1,
        base_sequence=sequence,
    )


async def make_topic(broker: Broker, name: str, partitions: int = 1, **configs: str) -> Any:
    return await broker.create_topic(name, partitions, 1, dict(configs))


def with_follower(broker: Broker, name: str, info: Any) -> Any:
    """Give partition 0 a second (imaginary) replica in the ISR, as after a reassignment."""
    return broker.replica_manager.become_leader(
        name,
        0,
        topic_id=info.topic_id,
        leader_epoch=1,
        config=broker.topic_config(name),
        replicas=[0, 1],
        isr=[0, 1],
    )


def req(
    topic: str, partition: int = 0, offset: int = 0, max_bytes: int = 1 << 20
) -> FetchPartitionRequest:
    return FetchPartitionRequest(
        topic=topic, partition=partition, fetch_offset=offset, partition_max_bytes=max_bytes
    )


async def test_single_replica_high_watermark_follows_appends(broker: Broker) -> None:
    await make_topic(broker, "t")
    rm = broker.replica_manager
    results = await rm.append_records(
        {("t", 0): batch(b"a", b"b")}, required_acks=-1, timeout_ms=1000
    )
    assert results[("t", 0)].error_code == 0 and results[("t", 0)].base_offset == 0
    part = rm.get_partition("t", 0)
    assert part.high_watermark == part.log_end_offset == 2


async def test_invalid_acks_and_unknown_partition(broker: Broker) -> None:
    await make_topic(broker, "t")
    rm = broker.replica_manager
    results = await rm.append_records({("t", 0): batch(b"a")}, required_acks=5, timeout_ms=10)
    assert results[("t", 0)].error_code == ErrorCode.INVALID_REQUIRED_ACKS
    results = await rm.append_records({("t", 7): batch(b"a")}, required_acks=1, timeout_ms=10)
    assert results[("t", 7)].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


async def test_acks_all_waits_for_the_follower(broker: Broker) -> None:
    info = await make_topic(broker, "t")
    rm = broker.replica_manager
    part = with_follower(broker, "t", info)
    done: list[Any] = []

    async def produce() -> None:
        done.append(
            await rm.append_records({("t", 0): batch(b"a")}, required_acks=-1, timeout_ms=30_000)
        )

    async with trio.open_nursery() as nursery:
        nursery.start_soon(produce)
        await trio.testing.wait_all_tasks_blocked()
        assert done == [] and part.log_end_offset == 1 and part.high_watermark == 0
        # The follower fetches from offset 1: it has everything, the HW moves, acks=all completes.
        await rm.fetch(
            [req("t", offset=1)], replica_id=1, max_wait_ms=0, min_bytes=0, max_bytes=1 << 20
        )
    assert part.high_watermark == 1
    assert done[0][("t", 0)].error_code == 0 and done[0][("t", 0)].base_offset == 0


async def test_acks_all_times_out(broker: Broker, autojump_clock: Any) -> None:
    info = await make_topic(broker, "t")
    with_follower(broker, "t", info)
    results = await broker.replica_manager.append_records(
        {("t", 0): batch(b"a")}, required_acks=-1, timeout_ms=5000
    )
    assert results[("t", 0)].error_code == ErrorCode.REQUEST_TIMED_OUT
    # As Kafka's DelayedProduce: the error is set, the offsets it got are kept.
    assert results[("t", 0)].base_offset == 0


async def test_acks_one_does_not_wait(broker: Broker) -> None:
    info = await make_topic(broker, "t")
    with_follower(broker, "t", info)
    with trio.fail_after(5):
        results = await broker.replica_manager.append_records(
            {("t", 0): batch(b"a")}, required_acks=1, timeout_ms=60_000
        )
    assert results[("t", 0)].error_code == 0


async def test_isr_shrinks_below_minimum_after_append(broker: Broker) -> None:
    info = await make_topic(broker, "t", **{"min.insync.replicas": "2"})
    rm = broker.replica_manager
    part = with_follower(broker, "t", info)
    done: list[Any] = []

    async def produce() -> None:
        done.append(
            await rm.append_records({("t", 0): batch(b"a")}, required_acks=-1, timeout_ms=30_000)
        )

    async with trio.open_nursery() as nursery:
        nursery.start_soon(produce)
        await trio.testing.wait_all_tasks_blocked()
        part.isr = [0]  # the follower dropped out: the leader alone sets the HW now
        part.maybe_increment_high_watermark()
    assert done[0][("t", 0)].error_code == ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND
    # And before an append, too few in-sync replicas refuse acks=all outright.
    results = await rm.append_records({("t", 0): batch(b"b")}, required_acks=-1, timeout_ms=10)
    assert results[("t", 0)].error_code == ErrorCode.NOT_ENOUGH_REPLICAS
    assert part.log_end_offset == 1


async def test_duplicate_batch_answers_original_offsets(broker: Broker) -> None:
    await make_topic(broker, "t")
    rm = broker.replica_manager
    first = await rm.append_records(
        {("t", 0): batch(b"a", b"b", producer_id=4000, sequence=0)}, required_acks=1, timeout_ms=10
    )
    await rm.append_records({("t", 0): batch(b"c")}, required_acks=1, timeout_ms=10)
    again = await rm.append_records(
        {("t", 0): batch(b"a", b"b", producer_id=4000, sequence=0)}, required_acks=-1, timeout_ms=10
    )
    assert first[("t", 0)].base_offset == 0
    assert again[("t", 0)].error_code == 0 and again[("t", 0)].base_offset == 0
    assert rm.get_partition("t", 0).log_end_offset == 3


async def test_fetch_waits_for_min_bytes_across_partitions(broker: Broker) -> None:
    await make_topic(broker, "t", 2)
    rm = broker.replica_manager
    one = batch(b"x" * 100)
    got: list[Any] = []

    async def consume() -> None:
        got.append(
            await rm.fetch(
                [req("t", 0), req("t", 1)],
                max_wait_ms=60_000,
                min_bytes=2 * len(one),
                max_bytes=1 << 20,
            )
        )

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        await trio.testing.wait_all_tasks_blocked()
        await rm.append_records({("t", 0): batch(b"x" * 100)}, required_acks=1, timeout_ms=10)
        await trio.testing.wait_all_tasks_blocked()
        assert got == []  # one partition's bytes are not enough
        await rm.append_records({("t", 1): batch(b"x" * 100)}, required_acks=1, timeout_ms=10)
    assert [r.size for r in got[0]] == [len(one), len(one)]


async def test_fetch_returns_at_max_wait(broker: Broker, autojump_clock: Any) -> None:
    await make_topic(broker, "t")
    start = trio.current_time()
    results = await broker.replica_manager.fetch(
        [req("t")], max_wait_ms=7000, min_bytes=1, max_bytes=1 << 20
    )
    assert trio.current_time() - start == pytest.approx(7.0)
    assert results[0].error_code == 0 and results[0].size == 0


async def test_fetch_errors_answer_at_once(broker: Broker) -> None:
    await make_topic(broker, "t")
    rm = broker.replica_manager
    with trio.fail_after(5):
        results = await rm.fetch(
            [req("t", offset=99)], max_wait_ms=60_000, min_bytes=1, max_bytes=1000
        )
    assert results[0].error_code == ErrorCode.OFFSET_OUT_OF_RANGE


async def test_max_bytes_shared_and_first_batch_whole(broker: Broker) -> None:
    await make_topic(broker, "t", 2)
    rm = broker.replica_manager
    for p in (0, 1):
        await rm.append_records({("t", p): batch(b"y" * 1000)}, required_acks=1, timeout_ms=10)
    results = await rm.fetch(
        [req("t", 0, max_bytes=10), req("t", 1, max_bytes=10)],
        max_wait_ms=0,
        min_bytes=0,
        max_bytes=10,
    )
    assert results[0].size > 1000 and results[1].size == 0


async def test_read_committed_batches(broker: Broker) -> None:
    await make_topic(broker, "t")
    rm = broker.replica_manager
    for value in (b"a", b"b", b"c"):
        await rm.append_records({("t", 0): batch(value)}, required_acks=1, timeout_ms=10)
    seen = []
    for base_offset, data in rm.read_committed_batches("t", 0, 1):
        from wire.records import parse_header

        header = parse_header(data)
        seen.extend((base_offset, bytes(r.value)) for r in iter_records(data, 0, header))
    assert seen == [(1, b"b"), (2, b"c")]


async def test_flush_messages_triggers_a_flush(broker: Broker) -> None:
    await make_topic(broker, "durable", **{"flush.messages": "1"})
    await make_topic(broker, "lazy")
    rm = broker.replica_manager
    for name in ("durable", "lazy"):
        await rm.append_records({(name, 0): batch(b"a", b"b")}, required_acks=1, timeout_ms=10)
    assert rm.get_partition("durable", 0).log.recovery_point == 2
    assert rm.get_partition("lazy", 0).log.recovery_point == 0


async def test_flush_on_ack_fsyncs_before_the_answer(broker: Broker) -> None:
    await make_topic(broker, "acked", **{"kpybroker.flush.on.ack": "true"})
    rm = broker.replica_manager
    part = rm.get_partition("acked", 0)
    assert part.log.auto_flush is False  # never fsync on the event loop
    for i in range(3):
        await rm.append_records({("acked", 0): batch(b"x%d" % i)}, required_acks=1, timeout_ms=10)
        assert part.log.recovery_point == i + 1


async def test_follower_fetch_from_unknown_replica(broker: Broker) -> None:
    info = await make_topic(broker, "t")
    with_follower(broker, "t", info)
    rm = broker.replica_manager
    for replica in (0, 2):  # itself, and a broker that is not a replica
        results = await rm.fetch(
            [req("t")], replica_id=replica, max_wait_ms=0, min_bytes=0, max_bytes=1000
        )
        assert results[0].error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER
    results = await rm.fetch([req("t")], replica_id=1, max_wait_ms=0, min_bytes=0, max_bytes=1000)
    assert results[0].error_code == 0


async def test_append_patches_the_callers_buffer_in_place(broker: Broker) -> None:
    from wire.records import parse_header

    await make_topic(broker, "t")
    rm = broker.replica_manager
    await rm.append_records({("t", 0): batch(b"a", b"b", b"c")}, required_acks=1, timeout_ms=10)
    frame = bytearray(b"\x00" * 7 + batch(b"d"))  # as if inside a request frame
    view = memoryview(frame)[7:]
    result = await rm.append_records({("t", 0): view}, required_acks=1, timeout_ms=10)
    assert result[("t", 0)].base_offset == 3
    # No copy was made: the offset and leader epoch were written into our buffer.
    header = parse_header(bytes(frame[7:]))
    assert header.base_offset == 3 and header.partition_leader_epoch == 0


async def test_topic_ids_follow_hosted_partitions(broker: Broker) -> None:
    info = await make_topic(broker, "t", 2)
    rm = broker.replica_manager
    assert rm.topic_name(info.topic_id) == "t"
    rm.remove_partition("t", 0, delete=True)
    assert rm.topic_name(info.topic_id) == "t"
    rm.remove_partition("t", 1, delete=True)
    assert rm.topic_name(info.topic_id) is None
    assert rm.get_partition("t", 1) is None


def test_read_limits_property(broker: Broker) -> None:
    """KIP-74 over random limits: whole batches, limits honoured except for the first batch."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from wire.buffers import join
    from wire.records import iter_batches

    rm = broker.replica_manager
    trio.run(make_topic, broker, "p", 3)
    sizes = {0: [10, 500, 40, 2000, 5], 1: [3000, 20], 2: [100, 100, 100]}
    for p, values in sizes.items():
        part = rm.get_partition("p", p)
        for n in values:
            part.log.append_as_leader(batch(b"z" * n), leader_epoch=0, now_ms=broker.now_ms())
        part.maybe_increment_high_watermark()
    # All batches of a partition sit in one segment, so one read can return several.
    whole = rm.read_all([req("p", 0)], replica_id=-1, max_bytes=1 << 20, isolation_level=0)[0]
    assert len(list(iter_batches(join(whole.records)))) == len(sizes[0])

    @settings(
        max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        offsets=st.tuples(*(st.integers(0, len(sizes[p])) for p in range(3))),
        part_limits=st.tuples(*(st.integers(0, 5000) for _ in range(3))),
        max_bytes=st.integers(0, 8000),
    )
    def check(offsets: tuple[int, ...], part_limits: tuple[int, ...], max_bytes: int) -> None:
        reqs = [req("p", p, offset=offsets[p], max_bytes=part_limits[p]) for p in range(3)]
        results = rm.read_all(reqs, replica_id=-1, max_bytes=max_bytes, isolation_level=0)
        first_data = next((i for i, r in enumerate(results) if r.size), None)
        total = 0
        for p, result in enumerate(results):
            assert result.error_code == 0
            data = join(result.records)
            batches = list(iter_batches(data))
            # Whole batches only, starting with the one holding the fetch offset.
            assert sum(h.size for _, h in batches) == len(data)
            if batches:
                assert batches[0][1].base_offset == offsets[p]
            if p == first_data:
                assert len(batches) >= 1  # never starved by the limits
                over = sum(h.size for _, h in batches[1:])
                assert over == 0 or len(data) <= min(part_limits[p], max_bytes)
            else:
                assert len(data) <= min(part_limits[p], max(0, max_bytes - total))
            total += len(data)
        # The first partition with data at its offset always gets it (minOneMessage).
        has_data = [offsets[p] < len(sizes[p]) for p in range(3)]
        assert first_data == next((p for p in range(3) if has_data[p]), None)

    check()


async def test_read_committed_stops_at_open_transactions_and_lists_aborts(broker: Broker) -> None:
    from wire.records import build_control_batch

    await make_topic(broker, "tx")
    rm = broker.replica_manager
    part = rm.get_partition("tx", 0)
    # Current timestamps: an old one would roll a new segment (segment.ms), and a
    # read returns one segment's batches only.
    plain = build_batch([SimpleRecord(None, b"before", timestamp=broker.now_ms())])
    txn = build_batch(
        [SimpleRecord(None, b"in-txn", timestamp=broker.now_ms())],
        producer_id=900,
        producer_epoch=0,
        base_sequence=0,
        is_transactional=True,
    )
    for data in (plain, txn):
        result = await rm.append_records({("tx", 0): data}, required_acks=1, timeout_ms=10)
        assert result[("tx", 0)].error_code == 0
    # The open transaction holds the last stable offset at its first offset.
    assert (part.high_watermark, part.last_stable_offset) == (2, 1)
    committed = rm.read_all([req("tx")], replica_id=-1, max_bytes=1 << 20, isolation_level=1)[0]
    uncommitted = rm.read_all([req("tx")], replica_id=-1, max_bytes=1 << 20, isolation_level=0)[0]
    assert committed.size == len(plain) and committed.aborted_transactions == []
    assert uncommitted.size == len(plain) + len(txn) and uncommitted.aborted_transactions is None

    marker = build_control_batch(False, 900, 0, 0, broker.now_ms())
    result = await rm.append_records(
        {("tx", 0): marker}, required_acks=-1, timeout_ms=10, origin="coordinator"
    )
    assert result[("tx", 0)].error_code == 0
    assert part.last_stable_offset == 3
    committed = rm.read_all([req("tx")], replica_id=-1, max_bytes=1 << 20, isolation_level=1)[0]
    assert [(a.producer_id, a.first_offset) for a in committed.aborted_transactions] == [(900, 1)]


async def test_small_reads_come_as_bytes_large_ones_as_file_slices(broker: Broker) -> None:
    from kpybroker.replica_manager import INLINE_READ_BYTES
    from wire.buffers import FileSlice, join

    await make_topic(broker, "t", partitions=2)
    rm = broker.replica_manager
    small = batch(b"s" * 100)
    large = batch(b"L" * (INLINE_READ_BYTES + 1))
    appended = await rm.append_records(
        {("t", 0): small, ("t", 1): large}, required_acks=1, timeout_ms=10
    )
    assert all(r.error_code == 0 for r in appended.values())
    got = await rm.fetch([req("t", 0), req("t", 1)], max_wait_ms=0, min_bytes=1, max_bytes=1 << 20)
    assert [type(r.records[0]) for r in got] == [bytes, FileSlice]
    # Same bytes either way: the batch as stored (offsets assigned), whole.
    stored = [join(rm.get_partition("t", p).log.read(0, max_bytes=1 << 20).records) for p in (0, 1)]
    assert [join(r.records) for r in got] == stored
    assert [r.size for r in got] == [len(small), len(large)]
