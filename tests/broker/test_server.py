"""The trio server and connections over real sockets: ordering, framing limits,
bad peers, handler failures, idle connections, the send path."""

from __future__ import annotations

import socket
import struct

import pytest
import trio

from kpybroker import dispatch
from kpybroker.connection import send_buffers
from wire.api_keys import ApiKey
from wire.buffers import FileSlice, join
from wire.errors import ErrorCode
from wire.messages.api_versions import ApiVersionsRequest
from wire.messages.list_offsets import ListOffsetsRequest, ListOffsetsResponse
from wire.messages.metadata import MetadataRequest
from wire.messages.produce import ProduceRequest, ProduceResponse
from wire.protocol import encode_request

dispatch.ensure_loaded()


def test_pipelined_requests_are_answered_in_order(broker, raw_client):
    client = raw_client(broker)
    bodies = [
        (ApiVersionsRequest(), 0),
        (MetadataRequest(topics=None), 12),
        (ApiVersionsRequest(client_software_name="x", client_software_version="1"), 3),
        (MetadataRequest(topics=[]), 1),
    ] * 10
    data = b"".join(join(encode_request(b, v, cid, "pipe")) for cid, (b, v) in enumerate(bodies, 1))
    client.send_bytes(data)  # everything at once, before reading anything
    for cid, (body, version) in enumerate(bodies, 1):
        got, _ = client.receive(body.API_KEY, version)
        assert got == cid


def test_requests_split_byte_by_byte_are_reassembled(broker, raw_client):
    client = raw_client(broker)
    data = join(encode_request(ApiVersionsRequest(), 2, 5, "slow"))
    for i in range(len(data)):
        client.send_bytes(data[i:i + 1])
    got, resp = client.receive(ApiKey.API_VERSIONS, 2)
    assert got == 5 and resp.error_code == 0


def test_oversized_frame_closes_connection(start_broker, raw_client):
    b = start_broker({"socket.request.max.bytes": "1000"})
    client = raw_client(b)
    client.send_bytes(struct.pack(">i", 1001) + b"\x00" * 16)
    assert client.closed()


def test_negative_frame_size_closes_connection(broker, raw_client):
    client = raw_client(broker)
    client.send_bytes(struct.pack(">i", -5))
    assert client.closed()


def test_garbage_request_closes_connection(broker, raw_client):
    client = raw_client(broker)
    # A Metadata v9 header followed by a body that is not a valid encoding.
    frame = struct.pack(">hhi", ApiKey.METADATA, 9, 1) + b"\x00\x01x\x00" + b"\xff\xff\xff"
    client.send_bytes(struct.pack(">i", len(frame)) + frame)
    assert client.closed()


def test_unknown_api_key_closes_connection(broker, raw_client):
    client = raw_client(broker)
    frame = struct.pack(">hhi", 9999, 0, 1) + b"\xff\xff"
    client.send_bytes(struct.pack(">i", len(frame)) + frame)
    assert client.closed()


def test_unserved_version_closes_connection(broker, raw_client):
    if ApiKey.FETCH not in dispatch.HANDLERS:
        pytest.skip("no Fetch handler")
    client = raw_client(broker)
    from wire.messages.fetch import FetchRequest

    client.send(FetchRequest(), 3)  # Fetch v0-v3 carry old formats: not served
    assert client.closed()


def test_other_connections_survive_a_closed_one(broker, raw_client):
    good = raw_client(broker)
    bad = raw_client(broker)
    bad.send_bytes(struct.pack(">i", -1))
    assert bad.closed()
    assert good.request(ApiVersionsRequest(), 1).error_code == 0


def test_idle_connection_is_closed(start_broker, raw_client):
    b = start_broker({"connections.max.idle.ms": "300"})
    client = raw_client(b)
    assert client.request(ApiVersionsRequest(), 0).error_code == 0
    assert client.closed(timeout=5)


@pytest.fixture
def failing_handler():
    """Register a handler that raises for an API nobody serves, remove it afterwards."""
    key = ApiKey.LIST_OFFSETS
    saved = dispatch.HANDLERS.pop(key, None)

    @dispatch.handler(key)
    async def boom(ctx, header, request):
        raise RuntimeError("deliberate failure for the test")

    yield key
    dispatch.HANDLERS.pop(key, None)
    if saved is not None:
        dispatch.HANDLERS[key] = saved


def test_handler_exception_becomes_unknown_server_error(broker, raw_client, failing_handler):
    client = raw_client(broker)
    req = ListOffsetsRequest(
        replica_id=-1,
        topics=[ListOffsetsRequest.ListOffsetsTopic(
            name="t", partitions=[ListOffsetsRequest.ListOffsetsPartition(partition_index=3, timestamp=-1)])],
    )
    resp = client.request(req, 5)
    assert isinstance(resp, ListOffsetsResponse)
    [topic] = resp.topics
    assert topic.name == "t"
    [part] = topic.partitions
    assert part.partition_index == 3
    assert part.error_code == ErrorCode.UNKNOWN_SERVER_ERROR
    # The connection keeps serving.
    assert client.request(ApiVersionsRequest(), 0).error_code == 0


def test_error_response_mirrors_produce_request():
    req = ProduceRequest(acks=1, timeout_ms=100, topic_data=[
        ProduceRequest.TopicProduceData(name="a", partition_data=[
            ProduceRequest.PartitionProduceData(index=0), ProduceRequest.PartitionProduceData(index=2)]),
    ])
    resp = dispatch.error_response(ApiKey.PRODUCE, 9, req, ErrorCode.UNKNOWN_SERVER_ERROR)
    assert isinstance(resp, ProduceResponse)
    [t] = resp.responses
    assert t.name == "a"
    assert [(p.index, p.error_code) for p in t.partition_responses] == [(0, -1), (2, -1)]
    assert join(resp.encode(9))  # encodable at that version


def test_error_response_uses_top_level_error_code_when_present():
    from wire.messages.metadata import MetadataResponse

    resp = dispatch.error_response(ApiKey.METADATA, 13, MetadataRequest(topics=None), ErrorCode.UNKNOWN_SERVER_ERROR)
    assert isinstance(resp, MetadataResponse) and resp.error_code == -1
    resp = dispatch.error_response(
        ApiKey.METADATA, 9, MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name="x")]), -1)
    assert [(t.name, t.error_code) for t in resp.topics] == [("x", -1)]


@pytest.mark.parametrize("api_key", sorted(dispatch.HANDLERS))
def test_error_response_is_encodable_for_every_served_api(api_key):
    from wire.protocol import REQUESTS

    entry = dispatch.HANDLERS.get(api_key)
    if entry is None:
        pytest.skip("not served")
    for version in range(entry.min_version, entry.max_version + 1):
        resp = dispatch.error_response(api_key, version, REQUESTS[api_key](), ErrorCode.UNKNOWN_SERVER_ERROR)
        assert join(resp.encode(version)) is not None


async def test_send_buffers_mixes_memory_and_file_slices(tmp_path):
    path = tmp_path / "seg"
    payload = bytes(range(256)) * 4000
    path.write_bytes(payload)
    a, b = trio.socket.socketpair()
    with open(path, "rb") as f, a, b:
        parts = [b"head", bytearray(b"x" * 5000), FileSlice(f, 10, 300_000), memoryview(b"tail"),
                 FileSlice(f, 0, 7), b""]
        expected = join(parts)
        received = bytearray()

        async def reader():
            while len(received) < len(expected):
                chunk = await b.recv(65536)
                assert chunk
                received.extend(chunk)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await send_buffers(a, parts)
        assert bytes(received) == expected


def test_port_in_use_is_a_startup_error(broker, start_broker):
    from kpybroker.broker import StartupError

    with pytest.raises(StartupError, match="already in use"):
        start_broker({"listeners": f"PLAINTEXT://127.0.0.1:{broker.port}"})


def test_advertised_listener_uses_bound_port(broker):
    adv = broker.broker.advertised_listeners[0]
    assert (adv.host, adv.port) == ("127.0.0.1", broker.port)
    with socket.create_connection(("127.0.0.1", broker.port), timeout=5):
        pass


def test_acks_zero_produce_gets_no_response_and_order_holds(broker, raw_client):
    from wire.records import SimpleRecord, build_batch

    broker.call(broker.broker.create_topic, "quiet", 1, 1, {})
    client = raw_client(broker)
    batch = build_batch([SimpleRecord(b"k", b"v" * 100, timestamp=broker.broker.now_ms())])
    produce = ProduceRequest(acks=0, timeout_ms=1000, topic_data=[
        ProduceRequest.TopicProduceData(name="quiet", partition_data=[
            ProduceRequest.PartitionProduceData(index=0, records=batch)])])
    client.send(produce, 9)
    client.send(produce, 9)
    cid = client.send(ApiVersionsRequest(), 0)
    got, resp = client.receive(ApiKey.API_VERSIONS, 0)
    assert got == cid and resp.error_code == 0  # the first and only answer
    assert broker.broker.replica_manager.get_partition("quiet", 0).log_end_offset == 2
    # acks=1 on the same connection is answered.
    produce.acks = 1
    resp = client.request(produce, 9)
    assert resp.responses[0].partition_responses[0].base_offset == 2


def test_accept_survives_running_out_of_file_descriptors(tmp_path):
    import resource
    import subprocess
    import time

    from tests.conftest import ROOT, kpybroker_command

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (60, 60))

    cmd = kpybroker_command({"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": str(tmp_path / "d")})
    with open(tmp_path / "err", "wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, cwd=str(ROOT), preexec_fn=low_limit)
    try:
        line = proc.stdout.readline().decode()
        port = int(line.split("listeners=PLAINTEXT://127.0.0.1:")[1].split()[0])
        hogs = []
        for _ in range(80):  # more than the broker can hold open
            hogs.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        time.sleep(1)  # let the broker try to accept them all
        for s in hogs:
            s.close()
        from tests.support.raw_client import RawClient

        for _ in range(50):
            try:
                c = RawClient(f"127.0.0.1:{port}", timeout=2)
                assert c.request(ApiVersionsRequest(), 0).error_code == 0
                c.close()
                break
            except (OSError, ConnectionError):
                time.sleep(0.2)
        else:
            raise AssertionError("broker stopped accepting after EMFILE")
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(30)
    assert "Too many open files" in (tmp_path / "err").read_text()  # the EMFILE path ran
