"""ListOffsets over a raw socket: special timestamps, lookups by time, errors."""

from __future__ import annotations

from typing import Any

from tests.support.raw_client import AsyncRawClient
from tests.support.trio_broker import batch, create_topic, running_broker
from wire.errors import ErrorCode
from wire.messages.list_offsets import ListOffsetsRequest
from wire.messages.produce import ProduceRequest

T0 = 1_700_000_000_000


def list_offsets(
    entries: list[tuple[str, int, int]],
    *,
    isolation_level: int = 0,
    current_leader_epoch: int = -1,
    max_num_offsets: int = 1,
) -> ListOffsetsRequest:
    topics: dict[str, list[Any]] = {}
    for topic, partition, ts in entries:
        topics.setdefault(topic, []).append(
            ListOffsetsRequest.ListOffsetsPartition(
                partition_index=partition,
                timestamp=ts,
                current_leader_epoch=current_leader_epoch,
                max_num_offsets=max_num_offsets,
            )
        )
    return ListOffsetsRequest(
        replica_id=-1,
        isolation_level=isolation_level,
        topics=[
            ListOffsetsRequest.ListOffsetsTopic(name=n, partitions=ps) for n, ps in topics.items()
        ],
    )


async def produce_at(client: AsyncRawClient, topic: str, timestamps: list[int]) -> None:
    request = ProduceRequest(
        acks=1,
        timeout_ms=1000,
        topic_data=[
            ProduceRequest.TopicProduceData(
                name=topic,
                partition_data=[
                    ProduceRequest.PartitionProduceData(
                        index=0,
                        records=batch([b"v"] * len(timestamps), timestamps=timestamps),
                    )
                ],
            )
        ],
    )
    response = await client.request(request, 9)
    assert response.responses[0].partition_responses[0].error_code == 0


async def one(client: AsyncRawClient, ts: int, version: int = 9, topic: str = "t", **kw: Any) -> Any:
    response = await client.request(list_offsets([(topic, 0, ts)], **kw), version)
    return response.topics[0].partitions[0]


async def test_special_and_by_time(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "t")
        client = await AsyncRawClient.connect(broker)
        # Empty log: earliest = latest = 0; no timestamp matches.
        assert (await one(client, -2)).offset == 0
        assert (await one(client, -1)).offset == 0
        empty = await one(client, T0)
        assert (empty.error_code, empty.offset, empty.timestamp) == (0, -1, -1)

        await produce_at(client, "t", [T0, T0 + 10, T0 + 20])
        await produce_at(client, "t", [T0 + 30, T0 + 5])
        earliest = await one(client, -2)
        assert (earliest.offset, earliest.timestamp, earliest.leader_epoch) == (0, -1, 0)
        latest = await one(client, -1)
        assert (latest.offset, latest.timestamp, latest.leader_epoch) == (5, -1, 0)
        by_time = await one(client, T0 + 10)
        assert (by_time.offset, by_time.timestamp) == (1, T0 + 10)
        between = await one(client, T0 + 11)
        assert (between.offset, between.timestamp) == (2, T0 + 20)
        after = await one(client, T0 + 31)
        assert (after.offset, after.timestamp) == (-1, -1)
        max_ts = await one(client, -3)
        assert (max_ts.offset, max_ts.timestamp) == (3, T0 + 30)
        local = await one(client, -4)
        assert local.offset == 0
        tiered = await one(client, -5)
        assert (tiered.error_code, tiered.offset, tiered.timestamp, tiered.leader_epoch) == (
            0,
            -1,
            -1,
            -1,
        )
        await client.aclose()


async def test_versions_gate_special_timestamps(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "t")
        client = await AsyncRawClient.connect(broker)
        assert (await one(client, -3, version=6)).error_code == ErrorCode.UNSUPPORTED_VERSION
        assert (await one(client, -4, version=7)).error_code == ErrorCode.UNSUPPORTED_VERSION
        assert (await one(client, -5, version=8)).error_code == ErrorCode.UNSUPPORTED_VERSION
        assert (await one(client, -9)).error_code == ErrorCode.UNSUPPORTED_VERSION
        # Below v4 there is no leader epoch in the answer.
        await produce_at(client, "t", [T0])
        old = await one(client, -1, version=3)
        assert old.offset == 1 and old.leader_epoch == -1
        await client.aclose()


async def test_errors(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "t")
        broker.replica_manager.get_partition("t", 0).leader_epoch = 2
        client = await AsyncRawClient.connect(broker)
        assert (
            await one(client, -1, topic="nope")
        ).error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        assert (
            await one(client, -1, current_leader_epoch=1)
        ).error_code == ErrorCode.FENCED_LEADER_EPOCH
        assert (
            await one(client, -1, current_leader_epoch=3)
        ).error_code == ErrorCode.UNKNOWN_LEADER_EPOCH
        ok = await one(client, -1, current_leader_epoch=2)
        assert ok.error_code == 0 and ok.leader_epoch == 2
        response = await client.request(list_offsets([("t", 0, -1), ("t", 0, -2)]), 9)
        (answer,) = response.topics[0].partitions
        assert answer.error_code == ErrorCode.INVALID_REQUEST
        await client.aclose()


async def test_v0_old_style_offsets(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "t")
        client = await AsyncRawClient.connect(broker)
        await produce_at(client, "t", [T0, T0])
        latest = await one(client, -1, version=0)
        assert latest.error_code == 0 and latest.old_style_offsets == [2]
        earliest = await one(client, -2, version=0)
        assert earliest.old_style_offsets == [0]
        none = await one(client, -1, version=0, max_num_offsets=0)
        assert none.old_style_offsets == []
        # By time: segment start offsets (and the end) whose file is not newer, newest first.
        future = await one(client, 4_000_000_000_000, version=0, max_num_offsets=10)
        assert future.old_style_offsets == [2, 0]
        past = await one(client, 1000, version=0, max_num_offsets=10)
        assert past.old_style_offsets == []
        await client.aclose()


async def test_new_leader_behind_its_epoch_start(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        info = await create_topic(broker, "t")
        rm = broker.replica_manager
        config = broker.topic_config("t")
        rm.become_leader(
            "t",
            0,
            topic_id=info.topic_id,
            leader_epoch=1,
            config=config,
            replicas=[0, 1],
            isr=[0, 1],
        )
        client = await AsyncRawClient.connect(broker)
        await produce_at(client, "t", [T0])  # acks=1: the follower has not fetched it
        part = rm.get_partition("t", 0)
        assert (part.log_end_offset, part.high_watermark) == (1, 0)
        rm.become_leader("t", 0, topic_id=info.topic_id, leader_epoch=2, config=config)
        assert (await one(client, -1)).error_code == ErrorCode.OFFSET_NOT_AVAILABLE
        assert (await one(client, -1, version=4)).error_code == ErrorCode.LEADER_NOT_AVAILABLE
        assert (await one(client, T0)).error_code == ErrorCode.OFFSET_NOT_AVAILABLE
        assert (await one(client, -2)).error_code == 0
        # Once the follower catches up, the high watermark passes the epoch start.
        part.update_follower_fetch_state(1, 1)
        latest = await one(client, -1)
        assert (latest.error_code, latest.offset, latest.leader_epoch) == (0, 1, 2)
        await client.aclose()


async def test_every_list_offsets_version(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "t")
        client = await AsyncRawClient.connect(broker)
        await produce_at(client, "t", [T0, T0 + 1])
        # v11 is unstable in Kafka 4.1 and not advertised.
        for version in range(0, 11):
            latest = await one(client, -1, version=version)
            assert latest.error_code == 0, version
            if version == 0:
                assert latest.old_style_offsets == [2]
            else:
                assert latest.offset == 2, version
                by_time = await one(client, T0 + 1, version=version)
                assert (by_time.offset, by_time.timestamp) == (1, T0 + 1), version
        await client.aclose()
