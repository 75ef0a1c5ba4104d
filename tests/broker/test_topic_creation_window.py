"""Requests that reach a topic while it is being created.

The topic is in the metadata store (leader: this broker) from the moment its creation
starts, but its partitions exist only once the metadata is on disk and their logs are
created. In that window:

* a second FindCoordinator must not name this broker as the coordinator of an
  internal topic being created: the client's next request (OffsetFetch,
  InitProducerId) would reach a coordinator that has no partition yet and get
  NOT_COORDINATOR, which librdkafka's ``committed()`` does not retry. Kafka answers
  COORDINATOR_NOT_AVAILABLE until the coordinator can serve, and clients retry that;
* Produce, Fetch, ListOffsets and OffsetForLeaderEpoch get NOT_LEADER_OR_FOLLOWER,
  as from Kafka's ReplicaManager for a partition its metadata knows but the broker
  does not host; a partition the topic does not have stays
  UNKNOWN_TOPIC_OR_PARTITION.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

from tests.support.metadata_writes import held_metadata_writes
from tests.support.raw_client import AsyncRawClient
from tests.support.trio_broker import batch, running_broker
from wire.errors import ErrorCode
from wire.messages.create_topics import CreateTopicsRequest
from wire.messages.fetch import FetchRequest
from wire.messages.find_coordinator import FindCoordinatorRequest
from wire.messages.init_producer_id import InitProducerIdRequest
from wire.messages.list_offsets import ListOffsetsRequest
from wire.messages.offset_fetch import OffsetFetchRequest
from wire.messages.offset_for_leader_epoch import OffsetForLeaderEpochRequest
from wire.messages.produce import ProduceRequest

GROUP, TRANSACTION = 0, 1


async def _find(client: AsyncRawClient, key_type: int, key: str) -> Any:
    return await client.request(FindCoordinatorRequest(key_type=key_type, key=key), 3)


async def _ask_after_coordinator(client: AsyncRawClient, key_type: int, key: str) -> Any:
    """Retry FindCoordinator as clients do, then send the request the key is for."""
    with trio.fail_after(10):
        while (await _find(client, key_type, key)).error_code != ErrorCode.NONE:
            await trio.sleep(0.02)
    if key_type == GROUP:
        answer = await client.request(OffsetFetchRequest(group_id=key, topics=[
            OffsetFetchRequest.OffsetFetchRequestTopic(name="t", partition_indexes=[0])]), 5)
        return answer.error_code, answer.topics[0].partitions[0].committed_offset
    answer = await client.request(InitProducerIdRequest(transactional_id=key, transaction_timeout_ms=60000), 3)
    return answer.error_code, None


@pytest.mark.parametrize("key_type", [GROUP, TRANSACTION])
async def test_coordinator_is_not_named_before_its_topic_is_created(tmp_path: Any, key_type: int) -> None:
    async with running_broker(str(tmp_path)) as broker:
        with held_metadata_writes(broker.metadata, 10) as (release, writes):
            creator = await AsyncRawClient.connect(broker)
            other = await AsyncRawClient.connect(broker)
            answers: dict[str, Any] = {}

            async def first() -> None:
                answers["first"] = await _find(creator, key_type, "k")

            async with trio.open_nursery() as nursery:
                nursery.start_soon(first)
                with trio.fail_after(5):
                    while not writes:
                        await trio.sleep(0.01)
                # The topic exists in the store, its partitions do not yet.
                during = await _find(other, key_type, "k")
                assert (during.error_code, during.node_id) == (ErrorCode.COORDINATOR_NOT_AVAILABLE, -1)
                release.set()
            assert answers["first"].error_code == ErrorCode.COORDINATOR_NOT_AVAILABLE
            expected = (ErrorCode.NONE, -1) if key_type == GROUP else (ErrorCode.NONE, None)
            assert await _ask_after_coordinator(other, key_type, "k") == expected
            await creator.aclose()
            await other.aclose()


async def _data_plane_codes(client: AsyncRawClient, topic: str, partition: int) -> tuple[int, int, int, int]:
    """(Produce, Fetch, ListOffsets, OffsetForLeaderEpoch) error codes for one partition."""
    produced = await client.request(ProduceRequest(acks=-1, timeout_ms=5000, topic_data=[
        ProduceRequest.TopicProduceData(name=topic, partition_data=[
            ProduceRequest.PartitionProduceData(index=partition, records=batch([b"v"]))])]), 9)
    fetched = await client.request(FetchRequest(
        replica_id=-1, max_wait_ms=0, min_bytes=0, max_bytes=1 << 20, isolation_level=0,
        session_id=0, session_epoch=-1, forgotten_topics_data=[],
        topics=[FetchRequest.FetchTopic(topic=topic, partitions=[FetchRequest.FetchPartition(
            partition=partition, fetch_offset=0, partition_max_bytes=1 << 20)])]), 12)
    listed = await client.request(ListOffsetsRequest(replica_id=-1, isolation_level=0, topics=[
        ListOffsetsRequest.ListOffsetsTopic(name=topic, partitions=[
            ListOffsetsRequest.ListOffsetsPartition(partition_index=partition, timestamp=-1)])]), 7)
    epochs = await client.request(OffsetForLeaderEpochRequest(replica_id=-1, topics=[
        OffsetForLeaderEpochRequest.OffsetForLeaderTopic(topic=topic, partitions=[
            OffsetForLeaderEpochRequest.OffsetForLeaderPartition(
                partition=partition, current_leader_epoch=-1, leader_epoch=0)])]), 4)
    return (produced.responses[0].partition_responses[0].error_code,
            fetched.responses[0].partitions[0].error_code,
            listed.topics[0].partitions[0].error_code,
            epochs.topics[0].partitions[0].error_code)


async def test_data_requests_while_a_topic_is_created(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        with held_metadata_writes(broker.metadata, 10) as (release, writes):
            creator = await AsyncRawClient.connect(broker)
            other = await AsyncRawClient.connect(broker)
            created: list[Any] = []

            async def create() -> None:
                created.append(await creator.request(CreateTopicsRequest(topics=[
                    CreateTopicsRequest.CreatableTopic(name="new", num_partitions=2, replication_factor=1)],
                    timeout_ms=5000), 7))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(create)
                with trio.fail_after(5):
                    while not writes:
                        await trio.sleep(0.01)
                not_hosted = ErrorCode.NOT_LEADER_OR_FOLLOWER
                assert await _data_plane_codes(other, "new", 1) == (not_hosted,) * 4
                assert await _data_plane_codes(other, "new", 2) == (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,) * 4
                release.set()
            assert created[0].topics[0].error_code == ErrorCode.NONE
            assert await _data_plane_codes(other, "new", 1) == (ErrorCode.NONE,) * 4
            await creator.aclose()
            await other.aclose()
