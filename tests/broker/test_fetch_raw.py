"""Fetch over a raw socket: long poll, limits, sessions, fencing, errors."""

from __future__ import annotations

import uuid
from typing import Any

import trio

from tests.support.raw_client import AsyncRawClient
from tests.support.trio_broker import batch, create_topic, decode_values, running_broker
from wire.errors import ErrorCode
from wire.messages.fetch import FetchRequest
from wire.messages.produce import ProduceRequest

VERSION = 12


def part(partition: int, offset: int = 0, max_bytes: int = 1 << 20, **kw: int) -> Any:
    return FetchRequest.FetchPartition(
        partition=partition, fetch_offset=offset, partition_max_bytes=max_bytes, **kw
    )


def fetch(
    topics: dict[str, list[Any]],
    *,
    max_wait_ms: int = 0,
    min_bytes: int = 0,
    max_bytes: int = 1 << 24,
    session_id: int = 0,
    session_epoch: int = -1,
    isolation_level: int = 0,
    forgotten: dict[str, list[int]] | None = None,
    topic_ids: dict[str, uuid.UUID] | None = None,
) -> FetchRequest:
    return FetchRequest(
        replica_id=-1,
        max_wait_ms=max_wait_ms,
        min_bytes=min_bytes,
        max_bytes=max_bytes,
        isolation_level=isolation_level,
        session_id=session_id,
        session_epoch=session_epoch,
        topics=[
            FetchRequest.FetchTopic(
                topic=name, topic_id=(topic_ids or {}).get(name, uuid.UUID(int=0)), partitions=parts
            )
            for name, parts in topics.items()
        ],
        forgotten_topics_data=[
            FetchRequest.ForgottenTopic(topic=name, partitions=ps)
            for name, ps in (forgotten or {}).items()
        ],
    )


async def produce(client: AsyncRawClient, topic: str, values: list[bytes], partition: int = 0) -> None:
    request = ProduceRequest(
        acks=-1,
        timeout_ms=5000,
        topic_data=[
            ProduceRequest.TopicProduceData(
                name=topic,
                partition_data=[
                    ProduceRequest.PartitionProduceData(index=partition, records=batch(values))
                ],
            )
        ],
    )
    response = await client.request(request, 9)
    assert response.responses[0].partition_responses[0].error_code == 0


def partitions(response: Any) -> dict[tuple[str, int], Any]:
    return {(t.topic, p.partition_index): p for t in response.responses for p in t.partitions}


async def test_fetch_returns_records_and_offsets(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "t")
        client = await AsyncRawClient.connect(broker)
        await produce(client, "t", [b"a", b"b"])
        await produce(client, "t", [b"c"])
        response = await client.request(fetch({"t": [part(0)]}), VERSION)
        p = partitions(response)[("t", 0)]
        assert p.error_code == 0
        assert (p.high_watermark, p.last_stable_offset, p.log_start_offset) == (3, 3, 0)
        assert p.aborted_transactions is None
        assert p.preferred_read_replica == -1
        assert decode_values(p.records) == [(0, b"a"), (1, b"b"), (2, b"c")]
        # From the middle of a batch: the whole batch comes back, as Kafka.
        p = partitions(await client.request(fetch({"t": [part(0, offset=1)]}), VERSION))[("t", 0)]
        assert decode_values(p.records)[0] == (0, b"a")
        # At the end: nothing, no error.
        p = partitions(await client.request(fetch({"t": [part(0, offset=3)]}), VERSION))[("t", 0)]
        assert p.error_code == 0 and decode_values(p.records) == []
        await client.aclose()


async def test_read_committed_answers_empty_aborted_list(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "t")
        client = await AsyncRawClient.connect(broker)
        await produce(client, "t", [b"a"])
        response = await client.request(fetch({"t": [part(0)]}, isolation_level=1), VERSION)
        p = partitions(response)[("t", 0)]
        assert p.aborted_transactions == [] and p.last_stable_offset == 1
        assert decode_values(p.records) == [(0, b"a")]
        await client.aclose()


async def test_offset_out_of_range(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "t")
        client = await AsyncRawClient.connect(broker)
        await produce(client, "t", [b"a"])
        p = partitions(await client.request(fetch({"t": [part(0, offset=50)]}), VERSION))[("t", 0)]
        assert p.error_code == ErrorCode.OFFSET_OUT_OF_RANGE
        assert p.high_watermark == -1
        await client.aclose()


async def test_leader_epoch_fencing(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "t")
        broker.replica_manager.get_partition("t", 0).leader_epoch = 3
        client = await AsyncRawClient.connect(broker)
        older = partitions(
            await client.request(fetch({"t": [part(0, current_leader_epoch=2)]}), VERSION)
        )[("t", 0)]
        assert older.error_code == ErrorCode.FENCED_LEADER_EPOCH
        newer = partitions(
            await client.request(fetch({"t": [part(0, current_leader_epoch=4)]}), VERSION)
        )[("t", 0)]
        assert newer.error_code == ErrorCode.UNKNOWN_LEADER_EPOCH
        same = partitions(
            await client.request(fetch({"t": [part(0, current_leader_epoch=3)]}), VERSION)
        )[("t", 0)]
        assert same.error_code == 0
        await client.aclose()


async def test_unknown_topic_and_topic_ids(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        info = await create_topic(broker, "t")
        client = await AsyncRawClient.connect(broker)
        await produce(client, "t", [b"a"])
        p = partitions(await client.request(fetch({"nope": [part(0)]}), VERSION))[("nope", 0)]
        assert p.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        response = await client.request(fetch({"t": [part(0)]}, topic_ids={"t": info.topic_id}), 13)
        (topic,) = response.responses
        assert topic.topic_id == info.topic_id
        assert decode_values(topic.partitions[0].records) == [(0, b"a")]
        response = await client.request(fetch({"t": [part(0)]}, topic_ids={"t": uuid.uuid4()}), 16)
        assert response.responses[0].partitions[0].error_code == ErrorCode.UNKNOWN_TOPIC_ID
        await client.aclose()


async def test_first_batch_is_whole_even_above_limits(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "t", 2)
        client = await AsyncRawClient.connect(broker)
        await produce(client, "t", [b"x" * 5000])
        await produce(client, "t", [b"y" * 5000])
        await produce(client, "t", [b"z" * 5000], partition=1)
        response = await client.request(
            fetch({"t": [part(0, max_bytes=100), part(1, max_bytes=100)]}, max_bytes=100), VERSION
        )
        ps = partitions(response)
        # One whole batch for the first partition with data; nothing after the limit.
        assert [o for o, _ in decode_values(ps[("t", 0)].records)] == [0]
        assert decode_values(ps[("t", 1)].records) == []
        await client.aclose()


async def test_max_wait_is_honoured_when_nothing_arrives(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "t")
        client = await AsyncRawClient.connect(broker)
        start = trio.current_time()
        with trio.fail_after(20):
            response = await client.request(
                fetch({"t": [part(0)]}, max_wait_ms=300, min_bytes=1), VERSION
            )
        assert trio.current_time() - start >= 0.29
        assert decode_values(partitions(response)[("t", 0)].records) == []
        await client.aclose()


async def test_long_poll_is_woken_by_produce(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "t")
        consumer = await AsyncRawClient.connect(broker)
        producer = await AsyncRawClient.connect(broker)
        results: list[Any] = []

        async def poll() -> None:
            results.append(
                await consumer.request(
                    fetch({"t": [part(0)]}, max_wait_ms=60_000, min_bytes=1), VERSION
                )
            )

        with trio.fail_after(30):  # far below max_wait: only a wake-up can finish in time
            async with trio.open_nursery() as nursery:
                nursery.start_soon(poll)
                await trio.sleep(0.2)
                assert results == []
                await produce(producer, "t", [b"wake"])
        assert decode_values(partitions(results[0])[("t", 0)].records) == [(0, b"wake")]
        await consumer.aclose()
        await producer.aclose()


async def test_fetch_session_incremental(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "t", 3)
        client = await AsyncRawClient.connect(broker)
        for p in range(3):
            await produce(client, "t", [b"v%d" % p], partition=p)
        # Full fetch, epoch 0: a new session answering exactly the requested partitions.
        full = await client.request(
            fetch({"t": [part(0), part(1), part(2)]}, session_epoch=0), VERSION
        )
        assert full.error_code == 0 and full.session_id != 0
        assert sorted(partitions(full)) == [("t", 0), ("t", 1), ("t", 2)]
        sid = full.session_id
        # Incremental, nothing new: no partitions at all.
        inc = await client.request(
            fetch({"t": [part(0, 1), part(1, 1), part(2, 1)]}, session_id=sid, session_epoch=1),
            VERSION,
        )
        assert inc.error_code == 0 and inc.session_id == sid
        assert partitions(inc) == {}
        # New data in partition 1 only.
        await produce(client, "t", [b"more"], partition=1)
        inc = await client.request(fetch({}, session_id=sid, session_epoch=2), VERSION)
        ps = partitions(inc)
        assert list(ps) == [("t", 1)]
        assert decode_values(ps[("t", 1)].records) == [(1, b"more")]
        # Forget partition 1; bump its offset elsewhere: it is not answered any more.
        inc = await client.request(
            fetch({}, session_id=sid, session_epoch=3, forgotten={"t": [1]}), VERSION
        )
        assert inc.error_code == 0
        await produce(client, "t", [b"later"], partition=1)
        inc = await client.request(fetch({}, session_id=sid, session_epoch=4), VERSION)
        assert partitions(inc) == {}
        # A wrong epoch, then an unknown session.
        bad = await client.request(fetch({}, session_id=sid, session_epoch=9), VERSION)
        assert bad.error_code == ErrorCode.INVALID_FETCH_SESSION_EPOCH and bad.responses == []
        gone = await client.request(fetch({}, session_id=sid + 1, session_epoch=1), VERSION)
        assert gone.error_code == ErrorCode.FETCH_SESSION_ID_NOT_FOUND
        # Epoch -1 closes the session and answers without one.
        close = await client.request(
            fetch({"t": [part(0)]}, session_id=sid, session_epoch=-1), VERSION
        )
        assert close.session_id == 0 and list(partitions(close)) == [("t", 0)]
        after = await client.request(fetch({}, session_id=sid, session_epoch=5), VERSION)
        assert after.error_code == ErrorCode.FETCH_SESSION_ID_NOT_FOUND
        await client.aclose()


async def test_diverging_epoch_for_a_stale_last_fetched_epoch(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "t")
        client = await AsyncRawClient.connect(broker)
        await produce(client, "t", [b"a", b"b"])  # written in epoch 0
        # Claims epoch 0 reached offset 5: the leader's epoch 0 ends at 2.
        response = await client.request(
            fetch({"t": [part(0, offset=5, last_fetched_epoch=0)]}), VERSION
        )
        p = partitions(response)[("t", 0)]
        assert p.error_code == 0
        assert (p.diverging_epoch.epoch, p.diverging_epoch.end_offset) == (0, 2)
        assert decode_values(p.records) == []
        await client.aclose()


async def test_fenced_fetch_names_the_leader_from_v16(tmp_path: Any) -> None:
    from kpybroker.context import RequestContext
    from kpybroker.handlers.fetch import handle
    from wire.messages.headers import RequestHeader

    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "t")
        broker.replica_manager.get_partition("t", 0).leader_epoch = 3
        ids = {"t": broker.replica_manager.get_partition("t", 0).topic_id}
        ctx = RequestContext(
            broker=broker, client_id="t", client_host="127.0.0.1", connection_id="c"
        )
        request = fetch({"t": [part(0, current_leader_epoch=1)]}, topic_ids=ids)
        # Called directly: the answer object itself is what is checked here.
        for version, hinted in ((15, False), (16, True)):
            header = RequestHeader(request_api_key=1, request_api_version=version)
            response = await handle(ctx, header, request)
            p = response.responses[0].partitions[0]
            assert p.error_code == ErrorCode.FENCED_LEADER_EPOCH
            leader = (p.current_leader.leader_id, p.current_leader.leader_epoch)
            _, host, port = broker.bound_addresses[0]
            if hinted:
                assert leader == (0, 3)
                assert [(n.node_id, n.host, n.port) for n in response.node_endpoints] == [
                    (0, host, port)
                ]
            else:
                assert leader == (-1, -1) and response.node_endpoints == []
        # And the same over the wire, as a v16 client decodes it.
        client = await AsyncRawClient.connect(broker)
        response = await client.request(request, 16)
        p = response.responses[0].partitions[0]
        assert (p.current_leader.leader_id, p.current_leader.leader_epoch) == (0, 3)
        assert [n.port for n in response.node_endpoints] == [port]
        await client.aclose()


async def test_every_fetch_version(tmp_path: Any) -> None:
    async with running_broker(str(tmp_path)) as broker:
        info = await create_topic(broker, "t")
        client = await AsyncRawClient.connect(broker)
        await produce(client, "t", [b"a", b"b"])
        for version in range(4, 19):
            request = fetch({"t": [part(0, offset=1)]}, topic_ids={"t": info.topic_id})
            response = await client.request(request, version)
            (topic,) = response.responses
            if version >= 13:
                assert topic.topic_id == info.topic_id
            else:
                assert topic.topic == "t"
            p = topic.partitions[0]
            assert (p.error_code, p.high_watermark) == (0, 2), version
            assert decode_values(p.records) == [(0, b"a"), (1, b"b")], version
        await client.aclose()
