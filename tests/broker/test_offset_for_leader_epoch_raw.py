"""OffsetForLeaderEpoch over a raw socket, answered from the leader-epoch cache."""

from __future__ import annotations

from typing import Any

from tests.support.raw_client import AsyncRawClient
from tests.support.trio_broker import batch, create_topic, running_broker
from wire.errors import ErrorCode
from wire.messages.offset_for_leader_epoch import OffsetForLeaderEpochRequest
from wire.messages.produce import ProduceRequest


def request(
    topic: str, leader_epoch: int, current_leader_epoch: int = -1
) -> OffsetForLeaderEpochRequest:
    return OffsetForLeaderEpochRequest(
        replica_id=-1,
        topics=[
            OffsetForLeaderEpochRequest.OffsetForLeaderTopic(
                topic=topic,
                partitions=[
                    OffsetForLeaderEpochRequest.OffsetForLeaderPartition(
                        partition=0,
                        leader_epoch=leader_epoch,
                        current_leader_epoch=current_leader_epoch,
                    )
                ],
            )
        ],
    )


async def produce(client: AsyncRawClient, values: list[bytes]) -> None:
    body = ProduceRequest(
        acks=1,
        timeout_ms=1000,
        topic_data=[
            ProduceRequest.TopicProduceData(
                name="t",
                partition_data=[
                    ProduceRequest.PartitionProduceData(index=0, records=batch(values))
                ],
            )
        ],
    )
    response = await client.request(body, 9)
    assert response.responses[0].partition_responses[0].error_code == 0


def part_epochs(broker: Any) -> list[tuple[int, int]]:
    return list(broker.replica_manager.get_partition("t", 0).log.leader_epoch_cache.entries())


async def answer(client: AsyncRawClient, *args: Any, version: int = 4) -> Any:
    response = await client.request(request(*args), version)
    return response.topics[0].partitions[0]


async def test_end_offsets_follow_epoch_changes(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        info = await create_topic(broker, "t")
        client = await AsyncRawClient.connect(broker)
        # Nothing written yet: becoming leader already started epoch 0 at offset 0.
        empty = await answer(client, "t", 0)
        assert (empty.error_code, empty.leader_epoch, empty.end_offset) == (0, 0, 0)
        # An epoch newer than any known: undefined.
        unknown = await answer(client, "t", 7)
        assert (unknown.error_code, unknown.leader_epoch, unknown.end_offset) == (0, -1, -1)
        await produce(client, [b"a", b"b"])
        now = await answer(client, "t", 0)
        assert (now.error_code, now.leader_epoch, now.end_offset) == (0, 0, 2)
        # A new leader epoch (as after an election): epoch 0 now ends where epoch 2 began.
        broker.replica_manager.become_leader(
            "t", 0, topic_id=info.topic_id, leader_epoch=2, config=broker.topic_config("t")
        )
        await produce(client, [b"c"])
        old = await answer(client, "t", 0)
        assert (old.leader_epoch, old.end_offset) == (0, 2)
        # Epoch 1 never had a leader here: the answer is the largest epoch below it.
        gap = await answer(client, "t", 1)
        assert (gap.leader_epoch, gap.end_offset) == (0, 2)
        latest = await answer(client, "t", 2)
        assert (latest.leader_epoch, latest.end_offset) == (2, 3)
        assert part_epochs(broker) == [(0, 0), (2, 2)]
        await client.aclose()


async def test_fencing_and_unknown(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "t")
        broker.replica_manager.get_partition("t", 0).leader_epoch = 5
        client = await AsyncRawClient.connect(broker)
        assert (await answer(client, "t", 0, 4)).error_code == ErrorCode.FENCED_LEADER_EPOCH
        assert (await answer(client, "t", 0, 6)).error_code == ErrorCode.UNKNOWN_LEADER_EPOCH
        assert (await answer(client, "t", 0, 5)).error_code == 0
        assert (await answer(client, "nope", 0)).error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        # v0/v1 carry no current leader epoch: no fencing.
        assert (await answer(client, "t", 0, 4, version=1)).error_code == 0
        await client.aclose()


async def test_every_offset_for_leader_epoch_version(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "t")
        client = await AsyncRawClient.connect(broker)
        await produce(client, [b"a"])
        for version in range(0, 5):
            got = await answer(client, "t", 0, version=version)
            assert (got.error_code, got.end_offset) == (0, 1), version
            # v0 has no leader epoch in the answer.
            assert got.leader_epoch == (-1 if version == 0 else 0), version
        await client.aclose()
