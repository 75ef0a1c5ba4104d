"""Produce over a raw socket: Kafka's per-partition answers and error codes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import trio

from tests.support.raw_client import AsyncRawClient
from tests.support.trio_broker import batch, create_topic, decode_values, running_broker
from wire.errors import ErrorCode
from wire.messages.fetch import FetchRequest
from wire.messages.metadata import MetadataRequest
from wire.messages.produce import ProduceRequest


def produce_request(
    topic: str,
    records: Any,
    *,
    partition: int = 0,
    acks: int = -1,
    topic_id: uuid.UUID | None = None,
) -> ProduceRequest:
    return ProduceRequest(
        acks=acks,
        timeout_ms=5000,
        topic_data=[
            ProduceRequest.TopicProduceData(
                name=topic,
                topic_id=topic_id or uuid.UUID(int=0),
                partition_data=[
                    ProduceRequest.PartitionProduceData(index=partition, records=records)
                ],
            )
        ],
    )


def only_partition(response: Any) -> Any:
    (topic,) = response.responses
    (partition,) = topic.partition_responses
    return partition


async def fetch_values(client: AsyncRawClient, topic: str, partition: int = 0, offset: int = 0) -> list:
    request = FetchRequest(
        replica_id=-1,
        max_wait_ms=0,
        min_bytes=0,
        topics=[
            FetchRequest.FetchTopic(
                topic=topic,
                partitions=[
                    FetchRequest.FetchPartition(
                        partition=partition, fetch_offset=offset, partition_max_bytes=1 << 20
                    )
                ],
            )
        ],
    )
    response = await client.request(request, 11)
    return decode_values(response.responses[0].partitions[0].records)


async def test_produce_assigns_contiguous_offsets(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "t")
        client = await AsyncRawClient.connect(broker)
        first = only_partition(await client.request(produce_request("t", batch([b"a", b"b"])), 9))
        second = only_partition(await client.request(produce_request("t", batch([b"c"])), 9))
        assert (first.error_code, first.base_offset) == (0, 0)
        assert (second.error_code, second.base_offset) == (0, 2)
        assert first.log_append_time_ms == -1 and first.log_start_offset == 0
        assert first.record_errors == [] and first.error_message is None
        assert await fetch_values(client, "t") == [(0, b"a"), (1, b"b"), (2, b"c")]
        await client.aclose()


async def test_log_append_time_topic_reports_the_time(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "lat", **{"message.timestamp.type": "LogAppendTime"})
        client = await AsyncRawClient.connect(broker)
        answer = only_partition(
            await client.request(produce_request("lat", batch([b"x"], timestamps=[5])), 9)
        )
        assert answer.error_code == 0 and answer.log_append_time_ms > 1_600_000_000_000
        await client.aclose()


async def test_acks_zero_gets_no_response(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "t")
        client = await AsyncRawClient.connect(broker)
        await client.send(produce_request("t", batch([b"kept"]), acks=0), 9)
        await client.send(produce_request("t", batch([b"also"]), acks=0), 9)
        cid = await client.send(MetadataRequest(topics=[]), 9)
        got, _ = await client.receive(MetadataRequest.API_KEY, 9)
        assert got == cid
        assert await fetch_values(client, "t") == [(0, b"kept"), (1, b"also")]
        await client.aclose()


async def test_acks_zero_failure_closes_the_connection(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        client = await AsyncRawClient.connect(broker)
        await client.send(produce_request("nope", batch([b"lost"]), acks=0), 9)
        with trio.fail_after(10):
            assert await client.read_frame() is None
        await client.aclose()


async def test_invalid_required_acks(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "t")
        client = await AsyncRawClient.connect(broker)
        answer = only_partition(
            await client.request(produce_request("t", batch([b"x"]), acks=2), 9)
        )
        assert answer.error_code == ErrorCode.INVALID_REQUIRED_ACKS
        assert answer.base_offset == -1
        assert await fetch_values(client, "t") == []
        await client.aclose()


async def test_unknown_topic_is_not_created(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path), **{"auto.create.topics.enable": "true"}) as broker:
        client = await AsyncRawClient.connect(broker)
        answer = only_partition(await client.request(produce_request("ghost", batch([b"x"])), 9))
        assert answer.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        assert broker.replica_manager.get_partition("ghost", 0) is None
        await create_topic(broker, "one")
        answer = only_partition(
            await client.request(produce_request("one", batch([b"x"]), partition=3), 9)
        )
        assert answer.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        await client.aclose()


async def test_corrupt_crc_is_corrupt_message(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "t")
        client = await AsyncRawClient.connect(broker)
        data = bytearray(batch([b"hello world"]))
        data[-1] ^= 0xFF  # a payload byte, covered by the CRC
        answer = only_partition(await client.request(produce_request("t", bytes(data)), 9))
        assert answer.error_code == ErrorCode.CORRUPT_MESSAGE
        assert await fetch_values(client, "t") == []
        await client.aclose()


async def test_two_batches_or_legacy_magic_are_invalid_record(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "t")
        client = await AsyncRawClient.connect(broker)
        two = batch([b"a"]) + batch([b"b"])
        answer = only_partition(await client.request(produce_request("t", two), 9))
        assert answer.error_code == ErrorCode.INVALID_RECORD
        legacy = bytearray(batch([b"a"]))
        legacy[16] = 1
        answer = only_partition(await client.request(produce_request("t", bytes(legacy)), 9))
        assert answer.error_code == ErrorCode.INVALID_RECORD
        answer = only_partition(await client.request(produce_request("t", None), 9))
        assert answer.error_code == ErrorCode.INVALID_RECORD
        await client.aclose()


async def test_too_large_is_message_too_large(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "small", **{"max.message.bytes": "1000"})
        client = await AsyncRawClient.connect(broker)
        answer = only_partition(
            await client.request(produce_request("small", batch([b"x" * 2000])), 9)
        )
        assert answer.error_code == ErrorCode.MESSAGE_TOO_LARGE
        answer = only_partition(
            await client.request(produce_request("small", batch([b"x" * 10])), 9)
        )
        assert answer.error_code == 0
        await client.aclose()


async def test_acks_all_below_min_insync_replicas(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "strict", **{"min.insync.replicas": "2"})
        client = await AsyncRawClient.connect(broker)
        answer = only_partition(await client.request(produce_request("strict", batch([b"x"])), 9))
        assert answer.error_code == ErrorCode.NOT_ENOUGH_REPLICAS
        # acks=1 does not care about min.insync.replicas.
        answer = only_partition(
            await client.request(produce_request("strict", batch([b"x"]), acks=1), 9)
        )
        assert answer.error_code == 0 and answer.base_offset == 0
        await client.aclose()


async def test_v13_names_topics_by_id(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        info = await create_topic(broker, "t")
        topic_id = info.topic_id
        client = await AsyncRawClient.connect(broker)
        response = await client.request(produce_request("", batch([b"x"]), topic_id=topic_id), 13)
        assert response.responses[0].topic_id == topic_id
        assert only_partition(response).error_code == 0
        response = await client.request(
            produce_request("", batch([b"x"]), topic_id=uuid.uuid4()), 13
        )
        assert only_partition(response).error_code == ErrorCode.UNKNOWN_TOPIC_ID
        await client.aclose()


async def test_old_versions_close_the_connection(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "t")
        client = await AsyncRawClient.connect(broker)
        await client.send(produce_request("t", batch([b"x"])), 2)
        with trio.fail_after(10):
            assert await client.read_frame() is None
        await client.aclose()


async def test_many_partitions_answer_in_request_order(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "p3", 3)
        client = await AsyncRawClient.connect(broker)
        request = ProduceRequest(
            acks=1,
            timeout_ms=1000,
            topic_data=[
                ProduceRequest.TopicProduceData(
                    name="p3",
                    partition_data=[
                        ProduceRequest.PartitionProduceData(
                            index=p, records=batch([b"v"] * (p + 1))
                        )
                        for p in (2, 0, 1)
                    ],
                )
            ],
        )
        response = await client.request(request, 9)
        parts = response.responses[0].partition_responses
        assert [p.index for p in parts] == [2, 0, 1]
        assert all(p.error_code == 0 and p.base_offset == 0 for p in parts)
        for p in range(3):
            assert len(await fetch_values(client, "p3", p)) == p + 1
        await client.aclose()


async def test_transactional_batch_without_transactional_id(tmp_path: Any) -> None:
    from wire.records import SimpleRecord, build_batch

    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "t")
        client = await AsyncRawClient.connect(broker)
        txn = build_batch(
            [SimpleRecord(None, b"x", timestamp=1)],
            producer_id=7,
            producer_epoch=0,
            base_sequence=0,
            is_transactional=True,
        )
        answer = only_partition(await client.request(produce_request("t", txn), 9))
        assert answer.error_code == ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        assert await fetch_values(client, "t") == []
        await client.aclose()


async def test_zstd_needs_v7(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "t")
        client = await AsyncRawClient.connect(broker)
        zstd = batch([b"squeeze me"] * 10, compression=4)
        answer = only_partition(await client.request(produce_request("t", zstd), 6))
        assert answer.error_code == ErrorCode.UNSUPPORTED_COMPRESSION_TYPE
        answer = only_partition(await client.request(produce_request("t", zstd), 7))
        assert answer.error_code == 0
        await client.aclose()


@pytest.mark.parametrize("topic", ["__consumer_offsets", "__transaction_state", "__share_group_state"])
async def test_clients_cannot_write_internal_topics(tmp_path: Any, topic: str) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await broker.create_topic(topic, 1, 1, {"cleanup.policy": "compact"})
        client = await AsyncRawClient.connect(broker)
        keyed = batch([b"v"], keys=[b"k"])
        answer = only_partition(await client.request(produce_request(topic, keyed), 9))
        assert answer.error_code == ErrorCode.INVALID_TOPIC_EXCEPTION
        await client.aclose()


async def test_partition_named_twice_is_answered_once(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "t")
        client = await AsyncRawClient.connect(broker)
        request = ProduceRequest(
            acks=1,
            timeout_ms=1000,
            topic_data=[
                ProduceRequest.TopicProduceData(
                    name="t",
                    partition_data=[
                        ProduceRequest.PartitionProduceData(index=0, records=batch([b"1"]))
                    ],
                ),
                ProduceRequest.TopicProduceData(
                    name="t",
                    partition_data=[
                        ProduceRequest.PartitionProduceData(index=0, records=batch([b"2"]))
                    ],
                ),
            ],
        )
        response = await client.request(request, 9)
        assert [(p.index, p.error_code, p.base_offset) for p in only_topic(response)] == [(0, 0, 0)]
        assert await fetch_values(client, "t") == [(0, b"2")]
        await client.aclose()


def only_topic(response: Any) -> list[Any]:
    (topic,) = response.responses
    return topic.partition_responses


async def test_every_produce_version(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        info = await create_topic(broker, "t")
        client = await AsyncRawClient.connect(broker)
        for offset, version in enumerate(range(3, 14)):
            request = produce_request("t", batch([b"v%d" % version]), topic_id=info.topic_id)
            answer = only_partition(await client.request(request, version))
            assert (answer.error_code, answer.base_offset) == (0, offset), version
        values = await fetch_values(client, "t")
        assert [v for _, v in values] == [b"v%d" % v for v in range(3, 14)]
        await client.aclose()
