"""aiokafka (asyncio client) against kpybroker: data plane, groups, admin.

The tests are plain functions that run an asyncio loop; the broker runs in its
own trio thread (the ``broker`` / ``start_broker`` fixtures).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

aiokafka = pytest.importorskip("aiokafka")
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic, RecordsToDelete  # noqa: E402
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType  # noqa: E402
from aiokafka.errors import (  # noqa: E402
    InvalidPartitionsError,
    InvalidReplicationFactorError,
    InvalidTopicError,
    TopicAlreadyExistsError,
)

from wire.records import iter_batches  # noqa: E402

T = TypeVar("T")
CODEC_IDS = {None: 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def run(coro_fn: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro_fn(), timeout)

    return asyncio.run(bounded())


def create(broker: Any, name: str, partitions: int = 1) -> None:
    broker.call(broker.broker.create_topic, name, partitions, 1, {})


async def drain(consumer: AIOKafkaConsumer, count: int) -> list[Any]:
    got: list[Any] = []
    while len(got) < count:
        batch = await consumer.getmany(timeout_ms=500)
        for records in batch.values():
            got.extend(records)
    return got


def log_batches(broker: Any, partition_dir: str) -> list[Any]:
    data = b"".join(p.read_bytes() for p in sorted((Path(broker.data_dir) / partition_dir).glob("*.log")))
    return [h for _, h in iter_batches(data)]


@pytest.mark.parametrize("codec", [None, "gzip", "snappy", "lz4", "zstd"])
def test_round_trip_each_codec(broker: Any, codec: str | None) -> None:
    create(broker, "ai-rt")
    records = [(b"k1", b"v" * 500, [("h", b"x")]), (None, b"no key", []),
               (b"k3", None, [("a", b"1"), ("b", b"")]), (b"", b"", [])]

    async def main() -> tuple[list[Any], list[Any]]:
        producer = AIOKafkaProducer(bootstrap_servers=broker, compression_type=codec,
                                    enable_idempotence=True, linger_ms=20)
        await producer.start()
        try:
            futures = [await producer.send("ai-rt", value=v, key=k, headers=h, partition=0)
                       for k, v, h in records]
            metas = [await f for f in futures]
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=broker, enable_auto_commit=False,
                                    auto_offset_reset="earliest", isolation_level="read_committed")
        await consumer.start()
        try:
            consumer.assign([TopicPartition("ai-rt", 0)])
            got = await drain(consumer, len(records))
        finally:
            await consumer.stop()
        return metas, got

    metas, got = run(main)
    assert [m.offset for m in metas] == [0, 1, 2, 3]
    assert [(r.offset, r.key, r.value, list(r.headers)) for r in got] == [
        (i, k, v, h) for i, (k, v, h) in enumerate(records)]
    # linger_ms batched the four sends: one batch, compressed as asked, idempotent.
    (header,) = log_batches(broker, "ai-rt-0")
    assert (header.records_count, header.compression, header.base_sequence) == (4, CODEC_IDS[codec], 0)
    assert header.producer_id >= 0


def test_acks_and_offset_queries(broker: Any) -> None:
    create(broker, "ai-acks", 2)
    t0 = 1_700_000_000_000

    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {}
        for acks in (0, 1, "all"):
            producer = AIOKafkaProducer(bootstrap_servers=broker, acks=acks)
            await producer.start()
            try:
                meta = await producer.send_and_wait("ai-acks", b"acks=%s" % str(acks).encode(),
                                                    partition=0, timestamp_ms=t0 + len(out) * 1000)
            finally:
                await producer.stop()
            out[str(acks)] = None if meta is None else meta.offset
        consumer = AIOKafkaConsumer(bootstrap_servers=broker, enable_auto_commit=False)
        await consumer.start()
        try:
            tps = [TopicPartition("ai-acks", 0), TopicPartition("ai-acks", 1)]
            out["beginning"] = await consumer.beginning_offsets(tps)
            out["end"] = await consumer.end_offsets(tps)
            out["times"] = await consumer.offsets_for_times({tps[0]: t0 + 500, tps[1]: t0})
            out["late"] = await consumer.offsets_for_times({tps[0]: t0 + 10_000})
        finally:
            await consumer.stop()
        return out

    out = run(main)
    # acks=0 gets no response (aiokafka returns no metadata) but the record is written.
    assert (out["0"], out["1"], out["all"]) == (None, 1, 2)
    tp0, tp1 = TopicPartition("ai-acks", 0), TopicPartition("ai-acks", 1)
    assert out["beginning"] == {tp0: 0, tp1: 0}
    assert out["end"] == {tp0: 3, tp1: 0}
    assert out["times"][tp0].offset == 1 and out["times"][tp0].timestamp == t0 + 1000
    assert out["times"][tp1] is None
    assert out["late"][tp0] is None


def test_group_commit_and_resume_across_restart(start_broker: Any, tmp_path: Path) -> None:
    data_dir = str(tmp_path / "restart-data")
    first = start_broker(data_dir=data_dir)
    create(first, "ai-group", 2)

    async def produce(bootstrap: str, start: int, stop: int) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for i in range(start, stop):
                await producer.send("ai-group", b"m%d" % i, partition=i % 2)
            await producer.flush()
        finally:
            await producer.stop()

    async def consume(bootstrap: str, count: int, commit: bool) -> list[tuple[int, int, bytes]]:
        consumer = AIOKafkaConsumer("ai-group", bootstrap_servers=bootstrap, group_id="ai-g",
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    session_timeout_ms=10_000, heartbeat_interval_ms=500)
        await consumer.start()
        try:
            got = await drain(consumer, count)
            if commit:
                await consumer.commit()
        finally:
            await consumer.stop()
        return sorted((r.partition, r.offset, r.value) for r in got)

    async def phase_one() -> list[tuple[int, int, bytes]]:
        await produce(first, 0, 10)
        return await consume(first, 10, commit=True)

    got = run(phase_one)
    assert got == sorted((i % 2, i // 2, b"m%d" % i) for i in range(10))
    first.stop()

    second = start_broker(data_dir=data_dir)

    async def phase_two() -> tuple[list[tuple[int, int, bytes]], Any, Any]:
        await produce(second, 10, 14)
        resumed = await consume(second, 4, commit=False)
        admin = AIOKafkaAdminClient(bootstrap_servers=second)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets("ai-g")
            groups = await admin.describe_consumer_groups(["ai-g"])
        finally:
            await admin.close()
        return resumed, offsets, groups

    resumed, offsets, groups = run(phase_two)
    # Only the records after the offsets committed before the restart.
    assert resumed == sorted((i % 2, i // 2, b"m%d" % i) for i in range(10, 14))
    assert {tp.partition: om.offset for tp, om in offsets.items()} == {0: 5, 1: 5}
    (group,) = groups[0].groups
    assert (group[0], group[1], group[2], group[3]) == (0, "ai-g", "Empty", "consumer")


def test_two_aiokafka_members_split_partitions(broker: Any) -> None:
    create(broker, "ai-two", 4)

    async def main() -> list[set[int]]:
        consumers = [AIOKafkaConsumer("ai-two", bootstrap_servers=broker, group_id="ai-two-g",
                                      session_timeout_ms=10_000, heartbeat_interval_ms=300,
                                      enable_auto_commit=False) for _ in range(2)]
        for c in consumers:
            await c.start()
        try:
            for _ in range(60):
                await asyncio.gather(*(c.getmany(timeout_ms=100) for c in consumers))
                sets = [{tp.partition for tp in c.assignment()} for c in consumers]
                if all(sets) and sum(map(len, sets)) == 4:
                    break
            return sets
        finally:
            for c in consumers:
                await c.stop()

    sets = run(main)
    assert all(sets) and sorted(sets[0] | sets[1]) == [0, 1, 2, 3] and not (sets[0] & sets[1])


def test_admin_client(broker: Any) -> None:
    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {}
        admin = AIOKafkaAdminClient(bootstrap_servers=broker)
        await admin.start()
        try:
            resp = await admin.create_topics([NewTopic("ai-admin", 2, 1, topic_configs={"retention.ms": "12345"})])
            out["create"] = [tuple(t[:2]) for t in resp.topic_errors]
            # aiokafka hands back per-topic errors in the response instead of raising.
            resp = await admin.create_topics([NewTopic("ai-admin", 1, 1), NewTopic("bad name", 1, 1),
                                              NewTopic("ai-zero", 0, 1), NewTopic("ai-rf", 1, 3)])
            out["create_errors"] = [tuple(t[:2]) for t in resp.topic_errors]
            out["topics"] = await admin.list_topics()
            out["describe_topics"] = await admin.describe_topics(["ai-admin"])
            out["cluster"] = await admin.describe_cluster()
            topic_res = ConfigResource(ConfigResourceType.TOPIC, "ai-admin")
            out["configs"] = await admin.describe_configs([topic_res])
            await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "ai-admin",
                                                      configs={"retention.ms": "5000"})])
            out["configs_after"] = await admin.describe_configs([topic_res])
            broker_res = ConfigResource(ConfigResourceType.BROKER, "1")
            out["broker_configs"] = await admin.describe_configs([broker_res])
            await admin.create_partitions({"ai-admin": NewPartitions(3)})
            try:
                await admin.create_partitions({"ai-admin": NewPartitions(1)})
                out["shrink"] = None
            except Exception as e:  # noqa: BLE001
                out["shrink"] = type(e)
            out["describe_after"] = await admin.describe_topics(["ai-admin"])

            producer = AIOKafkaProducer(bootstrap_servers=broker)
            await producer.start()
            try:
                for i in range(6):
                    await producer.send_and_wait("ai-admin", b"%d" % i, partition=0)
            finally:
                await producer.stop()
            out["deleted_records"] = await admin.delete_records({TopicPartition("ai-admin", 0): RecordsToDelete(4)})
            consumer = AIOKafkaConsumer(bootstrap_servers=broker)
            await consumer.start()
            try:
                out["low"] = await consumer.beginning_offsets([TopicPartition("ai-admin", 0)])
            finally:
                await consumer.stop()
            await admin.delete_topics(["ai-admin"])
            out["topics_after"] = await admin.list_topics()
        finally:
            await admin.close()
        return out

    out = run(main)
    assert out["create"] == [("ai-admin", 0)]
    assert out["create_errors"] == [
        ("ai-admin", TopicAlreadyExistsError.errno), ("bad name", InvalidTopicError.errno),
        ("ai-zero", InvalidPartitionsError.errno), ("ai-rf", InvalidReplicationFactorError.errno)]
    assert "ai-admin" in out["topics"]
    (topic,) = out["describe_topics"]
    assert (topic["error_code"], topic["topic"], topic["is_internal"]) == (0, "ai-admin", False)
    assert sorted(p["partition"] for p in topic["partitions"]) == [0, 1]
    assert out["cluster"]["controller_id"] == 1
    assert out["cluster"]["brokers"] == [{"node_id": 1, "host": "127.0.0.1", "port": broker.port, "rack": None}]

    def entries(resp: Any) -> dict[str, tuple[Any, ...]]:
        (resource,) = resp[0].resources
        assert resource[0] == 0, resource
        return {e[0]: tuple(e[1:]) for e in resource[4]}

    configs = entries(out["configs"])
    assert configs["retention.ms"][:4] == ("12345", False, 1, False)  # value, read-only, DYNAMIC_TOPIC, sensitive
    assert configs["cleanup.policy"][:4] == ("delete", False, 5, False)
    assert entries(out["configs_after"])["retention.ms"][0] == "5000"
    assert "log.retention.hours" in entries(out["broker_configs"])
    assert out["shrink"] is InvalidPartitionsError
    assert sorted(p["partition"] for p in out["describe_after"][0]["partitions"]) == [0, 1, 2]
    assert out["deleted_records"] == {TopicPartition("ai-admin", 0): 4}
    assert out["low"] == {TopicPartition("ai-admin", 0): 4}
    assert "ai-admin" not in out["topics_after"]


def test_log_append_time_batches_pass_crc_checks(broker: Any) -> None:
    """The broker stamps LogAppendTime into compressed batches and recomputes the
    CRC; aiokafka checks CRCs on fetch (``check_crcs=True``)."""
    broker.call(broker.broker.create_topic, "ai-lat", 1, 1, {"message.timestamp.type": "LogAppendTime"})

    async def main() -> tuple[list[Any], list[Any]]:
        producer = AIOKafkaProducer(bootstrap_servers=broker, compression_type="gzip", linger_ms=20)
        await producer.start()
        try:
            futures = [await producer.send("ai-lat", b"x" * 100, partition=0, timestamp_ms=1000)
                       for _ in range(3)]
            metas = [await f for f in futures]
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=broker, check_crcs=True, auto_offset_reset="earliest")
        await consumer.start()
        try:
            consumer.assign([TopicPartition("ai-lat", 0)])
            got = await drain(consumer, 3)
        finally:
            await consumer.stop()
        return metas, got

    before = int(time.time() * 1000)
    metas, got = run(main)
    after = int(time.time() * 1000)
    stamps = {m.timestamp for m in metas}
    assert len(stamps) == 1 and before <= stamps.pop() <= after
    assert all(m.timestamp_type == 1 for m in metas)
    assert [(r.offset, r.timestamp, r.timestamp_type) for r in got] == [
        (i, metas[0].timestamp, 1) for i in range(3)]
