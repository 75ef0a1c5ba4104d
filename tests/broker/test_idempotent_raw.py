"""The idempotent producer's broker side over raw sockets: InitProducerId, the
sequence checks of Produce, DescribeProducers; plus DeleteRecords.

A "retry" here is the same Produce request sent twice with the same producer id,
epoch and base sequence, exactly what a client does after a lost response.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from kpybroker.server import open_broker
from tests.support.raw_client import AsyncRawClient
from tests.support.trio_broker import broker_config
from wire.errors import ErrorCode
from wire.messages.delete_records import DeleteRecordsRequest
from wire.messages.describe_producers import DescribeProducersRequest
from wire.messages.fetch import FetchRequest
from wire.messages.init_producer_id import InitProducerIdRequest
from wire.messages.produce import ProduceRequest
from wire.records import SimpleRecord, build_batch, iter_batches

PRODUCE_VERSION = 9
FETCH_VERSION = 12


@pytest.fixture
async def broker(tmp_path: Any) -> Any:
    async with open_broker(broker_config(str(tmp_path / "data"))) as b:
        yield b


@pytest.fixture
async def client(broker: Any) -> Any:
    c = await AsyncRawClient.connect(broker)
    yield c
    await c.aclose()


def records(n: int, *, pid: int = -1, epoch: int = -1, seq: int = -1, tag: str = "v") -> bytes:
    now = int(time.time() * 1000)
    return build_batch(
        [SimpleRecord(None, f"{tag}{i}".encode(), timestamp=now) for i in range(n)],
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=seq,
    )


async def produce(
    client: AsyncRawClient, topic: str, data: bytes, partition: int = 0, acks: int = -1
) -> Any:
    T = ProduceRequest.TopicProduceData
    P = ProduceRequest.PartitionProduceData
    resp = await client.request(
        ProduceRequest(
            acks=acks,
            timeout_ms=5000,
            topic_data=[T(name=topic, partition_data=[P(index=partition, records=data)])],
        ),
        PRODUCE_VERSION,
    )
    return resp.responses[0].partition_responses[0]


async def fetch_batches(client: AsyncRawClient, topic: str, partition: int = 0) -> list[Any]:
    T = FetchRequest.FetchTopic
    P = FetchRequest.FetchPartition
    resp = await client.request(
        FetchRequest(
            replica_id=-1,
            max_wait_ms=0,
            min_bytes=0,
            max_bytes=10_000_000,
            isolation_level=0,
            topics=[
                T(
                    topic=topic,
                    partitions=[
                        P(partition=partition, fetch_offset=0, partition_max_bytes=10_000_000)
                    ],
                )
            ],
        ),
        FETCH_VERSION,
    )
    data = resp.responses[0].partitions[0].records
    return [h for _, h in iter_batches(bytes(data or b""))]


async def init_pid(client: AsyncRawClient) -> tuple[int, int]:
    r = await client.request(
        InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=60000), 4
    )
    assert r.error_code == 0
    return r.producer_id, r.producer_epoch


async def new_topic(broker: Any, name: str, partitions: int = 1, **configs: str) -> None:
    await broker.create_topic(
        name, partitions, 1, {k.replace("_", "."): v for k, v in configs.items()}
    )


async def test_retried_batch_is_written_once(broker: Any, client: AsyncRawClient) -> None:
    await new_topic(broker, "idem")
    pid, epoch = await init_pid(client)
    first = await produce(client, "idem", records(3, pid=pid, epoch=epoch, seq=0))
    assert (first.error_code, first.base_offset) == (0, 0)
    second = await produce(client, "idem", records(2, pid=pid, epoch=epoch, seq=3, tag="w"))
    assert (second.error_code, second.base_offset) == (0, 3)

    retry = await produce(client, "idem", records(3, pid=pid, epoch=epoch, seq=0))
    assert retry.error_code == ErrorCode.NONE
    assert retry.base_offset == 0
    retry2 = await produce(client, "idem", records(2, pid=pid, epoch=epoch, seq=3, tag="w"))
    assert (retry2.error_code, retry2.base_offset) == (0, 3)

    batches = await fetch_batches(client, "idem")
    assert [(b.base_offset, b.records_count, b.base_sequence) for b in batches] == [
        (0, 3, 0),
        (3, 2, 3),
    ]
    assert broker.replica_manager.get_partition("idem", 0).log_end_offset == 5


async def test_out_of_order_sequence(broker: Any, client: AsyncRawClient) -> None:
    await new_topic(broker, "ooo")
    pid, epoch = await init_pid(client)
    assert (await produce(client, "ooo", records(2, pid=pid, epoch=epoch, seq=0))).error_code == 0
    gap = await produce(client, "ooo", records(1, pid=pid, epoch=epoch, seq=5))
    assert gap.error_code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    replayed_gap = await produce(client, "ooo", records(1, pid=pid, epoch=epoch, seq=1))
    assert replayed_gap.error_code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert (await produce(client, "ooo", records(1, pid=pid, epoch=epoch, seq=2))).error_code == 0
    # A producer the partition has no state for may start anywhere (Kafka since KIP-360:
    # its state may have expired), so only a known producer's gaps are refused.
    pid2, epoch2 = await init_pid(client)
    assert (await produce(client, "ooo", records(1, pid=pid2, epoch=epoch2, seq=7))).error_code == 0
    assert broker.replica_manager.get_partition("ooo", 0).log_end_offset == 4


async def test_old_epoch_is_fenced(broker: Any, client: AsyncRawClient) -> None:
    await new_topic(broker, "fence")
    pid, _ = await init_pid(client)
    assert (await produce(client, "fence", records(1, pid=pid, epoch=3, seq=0))).error_code == 0
    stale = await produce(client, "fence", records(1, pid=pid, epoch=2, seq=1))
    assert stale.error_code == ErrorCode.INVALID_PRODUCER_EPOCH
    # A bumped epoch restarts the sequence at 0.
    assert (await produce(client, "fence", records(1, pid=pid, epoch=4, seq=0))).error_code == 0
    assert broker.replica_manager.get_partition("fence", 0).log_end_offset == 2


async def test_describe_producers(broker: Any, client: AsyncRawClient) -> None:
    await new_topic(broker, "dp", 2)
    pid, epoch = await init_pid(client)
    await produce(client, "dp", records(4, pid=pid, epoch=epoch, seq=0))
    await produce(client, "dp", records(2, pid=pid, epoch=epoch, seq=4))
    TR = DescribeProducersRequest.TopicRequest
    resp = await client.request(
        DescribeProducersRequest(
            topics=[
                TR(name="dp", partition_indexes=[0, 1, 9]),
                TR(name="nope", partition_indexes=[0]),
                TR(name="bad name", partition_indexes=[0]),
            ]
        ),
        0,
    )
    dp, nope, bad = resp.topics
    p0, p1, p9 = dp.partitions
    assert p0.error_code == 0
    (state,) = p0.active_producers
    assert (state.producer_id, state.producer_epoch, state.last_sequence) == (pid, epoch, 5)
    assert state.last_timestamp > 0 and state.current_txn_start_offset == -1
    assert state.coordinator_epoch == -1
    assert (p1.error_code, p1.active_producers) == (0, [])
    assert p9.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert nope.partitions[0].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert bad.partitions[0].error_code == ErrorCode.INVALID_TOPIC_EXCEPTION


async def test_delete_records(broker: Any, client: AsyncRawClient) -> None:
    await new_topic(broker, "dr", 2)
    await new_topic(broker, "compacted", 1, cleanup_policy="compact")
    for _ in range(3):
        await produce(client, "dr", records(2))
    await produce(client, "compacted", records(1))
    T = DeleteRecordsRequest.DeleteRecordsTopic
    P = DeleteRecordsRequest.DeleteRecordsPartition

    async def delete(*items: tuple[str, int, int]) -> list[tuple[int, int]]:
        by_topic: dict[str, list[Any]] = {}
        for name, part, offset in items:
            by_topic.setdefault(name, []).append(P(partition_index=part, offset=offset))
        resp = await client.request(
            DeleteRecordsRequest(
                topics=[T(name=n, partitions=ps) for n, ps in by_topic.items()], timeout_ms=5000
            ),
            2,
        )
        return [(p.low_watermark, p.error_code) for t in resp.topics for p in t.partitions]

    assert await delete(("dr", 0, 2)) == [(2, 0)]
    assert broker.replica_manager.get_partition("dr", 0).log_start_offset == 2
    assert await delete(("dr", 0, 1)) == [(2, 0)]  # never moves backwards
    assert await delete(("dr", 0, 7)) == [(-1, ErrorCode.OFFSET_OUT_OF_RANGE)]
    assert await delete(("dr", 0, -5)) == [(-1, ErrorCode.OFFSET_OUT_OF_RANGE)]
    assert await delete(("dr", 0, -1)) == [(6, 0)]  # -1: up to the high watermark
    assert await delete(("dr", 1, -1)) == [(0, 0)]
    assert await delete(("dr", 4, 0)) == [(-1, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)]
    assert await delete(("ghost", 0, 0)) == [(-1, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)]
    assert await delete(("compacted", 0, 1)) == [(-1, ErrorCode.POLICY_VIOLATION)]

    batches = await fetch_batches(client, "dr")
    assert batches == []  # nothing left below the high watermark
    # The next append continues after the deleted records.
    assert (await produce(client, "dr", records(1))).base_offset == 6
