"""The connection loop over real sockets: order under handlers that suspend, the
idle timeout in each of its states, and the non-blocking send path."""

from __future__ import annotations

import array
import contextlib
import os
import socket
import struct
import time

import pytest
import trio

from kpybroker import dispatch
from kpybroker.connection import IOV_MAX, send_buffers, send_nowait
from wire.api_keys import ApiKey
from wire.buffers import FileSlice, join
from wire.messages.api_versions import ApiVersionsRequest
from wire.messages.list_offsets import ListOffsetsRequest, ListOffsetsResponse
from wire.messages.metadata import MetadataRequest
from wire.protocol import encode_request

dispatch.ensure_loaded()


@pytest.fixture
def slow_handler():
    """ListOffsets answered after a pause (``timestamp`` ms): a handler that suspends."""
    key = ApiKey.LIST_OFFSETS
    saved = dispatch.HANDLERS.pop(key, None)

    @dispatch.handler(key)
    async def slow(ctx, header, request):
        pause_ms = request.topics[0].partitions[0].timestamp
        await trio.sleep(pause_ms / 1000)
        return ListOffsetsResponse(topics=[ListOffsetsResponse.ListOffsetsTopicResponse(
            name=request.topics[0].name,
            partitions=[ListOffsetsResponse.ListOffsetsPartitionResponse(partition_index=pause_ms)])])

    yield key
    dispatch.HANDLERS.pop(key, None)
    if saved is not None:
        dispatch.HANDLERS[key] = saved


def _slow_request(pause_ms: int) -> ListOffsetsRequest:
    return ListOffsetsRequest(replica_id=-1, topics=[ListOffsetsRequest.ListOffsetsTopic(
        name="t", partitions=[ListOffsetsRequest.ListOffsetsPartition(partition_index=0, timestamp=pause_ms)])])


def test_pipelined_responses_keep_order_when_handlers_suspend(broker, raw_client, slow_handler):
    client = raw_client(broker)
    bodies = [(_slow_request(150), 5), (ApiVersionsRequest(), 0), (_slow_request(20), 5),
              (MetadataRequest(topics=[]), 1), (_slow_request(0), 5), (ApiVersionsRequest(), 3)]
    data = b"".join(join(encode_request(b, v, cid, "pipe")) for cid, (b, v) in enumerate(bodies, 1))
    client.send_bytes(data)
    for cid, (body, version) in enumerate(bodies, 1):
        got, resp = client.receive(body.API_KEY, version)
        assert got == cid
        if body.API_KEY == ApiKey.LIST_OFFSETS:
            assert resp.topics[0].partitions[0].partition_index == body.topics[0].partitions[0].timestamp


def test_request_outlasting_the_idle_time_is_answered(start_broker, raw_client, slow_handler):
    b = start_broker({"connections.max.idle.ms": "200"})
    client = raw_client(b)
    resp = client.request(_slow_request(700), 5)  # processing is not idleness
    assert resp.topics[0].partitions[0].partition_index == 700
    assert client.request(ApiVersionsRequest(), 0).error_code == 0
    assert client.closed(timeout=5)  # and then the idle time applies again


def test_idle_time_restarts_with_every_request(start_broker, raw_client):
    b = start_broker({"connections.max.idle.ms": "400"})
    client = raw_client(b)
    for _ in range(6):  # 6 x 150 ms: longer than the idle time, never idle that long
        assert client.request(ApiVersionsRequest(), 0).error_code == 0
        time.sleep(0.15)
    assert client.request(ApiVersionsRequest(), 0).error_code == 0
    assert client.closed(timeout=5)


def test_half_received_frame_still_idles_out(start_broker, raw_client):
    b = start_broker({"connections.max.idle.ms": "200"})
    client = raw_client(b)
    client.send_bytes(struct.pack(">i", 100) + b"\x00\x12")
    assert client.closed(timeout=5)


def test_idle_timeout_disabled(start_broker, raw_client):
    b = start_broker({"connections.max.idle.ms": "-1"})
    client = raw_client(b)
    assert client.request(ApiVersionsRequest(), 0).error_code == 0
    assert not client.closed(timeout=0.5)
    assert client.request(ApiVersionsRequest(), 0).error_code == 0


def test_peer_that_stops_reading_is_closed_after_the_idle_time(start_broker):
    b = start_broker({"connections.max.idle.ms": "300"})
    host, port = b.rsplit(":", 1)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.settimeout(15)
    # Far more response bytes than both socket buffers hold, none read for a while.
    sent = 0
    request = join(encode_request(ApiVersionsRequest(), 3, 1, "stuck"))
    received = bytearray()
    with sock:
        try:
            for _ in range(40):
                sock.sendall(request * 1000)
                sent += 1000
            time.sleep(1.0)
            while chunk := sock.recv(1 << 20):
                received += chunk
        except (ConnectionResetError, BrokenPipeError):
            pass
    answered = 0
    pos = 0
    while pos + 4 <= len(received):
        pos += 4 + struct.unpack_from(">i", received, pos)[0]
        answered += pos <= len(received)
    # Closed while responses were still waiting to be written, not after the last one.
    assert answered < 40_000


def test_connections_are_served_while_another_floods(broker, raw_client):
    """A client that always has the next request waiting never gets the loop to itself."""
    import threading

    from wire.messages.produce import ProduceRequest
    from wire.records import SimpleRecord, build_batch

    broker.call(broker.broker.create_topic, "flood", 1, 1, {})
    flood = raw_client(broker)
    # acks=0 requests are never answered: the broker never waits to write, only reads.
    produce = ProduceRequest(acks=0, timeout_ms=1000, topic_data=[
        ProduceRequest.TopicProduceData(name="flood", partition_data=[
            ProduceRequest.PartitionProduceData(index=0, records=build_batch([SimpleRecord(b"k", b"v")]))])])
    chunk = join(encode_request(produce, 9, 1, "flood")) * 200
    stop = threading.Event()

    def pump() -> None:
        try:
            while not stop.is_set():
                flood.sock.sendall(chunk)
        except OSError:
            pass

    def drain() -> None:
        try:
            while not stop.is_set() and flood.sock.recv(1 << 20):
                pass
        except OSError:
            pass

    threads = [threading.Thread(target=pump, daemon=True), threading.Thread(target=drain, daemon=True)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        other = raw_client(broker)
        other.sock.settimeout(5)
        assert other.request(MetadataRequest(topics=[]), 1).brokers
    finally:
        stop.set()
        with contextlib.suppress(OSError):
            flood.sock.shutdown(socket.SHUT_RDWR)
        for t in threads:
            t.join(10)


# -- the send path ----------------------------------------------------------------------


async def _send_and_collect(parts: list, *, sndbuf: int | None = None) -> bytes:
    a, b = trio.socket.socketpair()
    with a, b:
        if sndbuf:
            a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        expected_len = sum(p.length if isinstance(p, FileSlice) else memoryview(p).nbytes for p in parts)
        received = bytearray()

        async def reader():
            while len(received) < expected_len:
                await trio.sleep(0)  # a slow reader: the sender meets a full socket
                chunk = await b.recv(65536)
                assert chunk
                received.extend(chunk)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await send_buffers(a, parts)
        return bytes(received)


async def test_send_buffers_survives_partial_writes_of_every_kind(tmp_path):
    path = tmp_path / "seg"
    payload = os.urandom(700_000)
    path.write_bytes(payload)
    wide = array.array("I", range(100_000))  # a memoryview whose items are 4 bytes
    with open(path, "rb") as f:
        parts = [b"h", memoryview(wide), FileSlice(f, 5, 600_000), bytearray(b"m" * 300_000),
                 memoryview(payload)[1000:2000], FileSlice(f, 0, 0), FileSlice(f, 699_990, 10), b""]
        expected = join([bytes(memoryview(p).cast("B")) if isinstance(p, memoryview) else p for p in parts])
        assert await _send_and_collect(parts, sndbuf=4096) == expected


async def test_send_buffers_more_pieces_than_one_writev_takes():
    parts = [bytes([i % 256]) * (i % 7) for i in range(3 * IOV_MAX + 5)]
    assert await _send_and_collect(parts) == b"".join(parts)


def test_send_nowait_returns_what_did_not_fit():
    a, b = socket.socketpair()
    with a, b:
        a.setblocking(False)
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        data = os.urandom(2_000_000)
        rest = send_nowait(a.fileno(), [b"head", data])
        assert rest is not None
        left = sum(memoryview(p).nbytes for p in rest)
        assert 0 < left < len(data)
        assert send_nowait(a.fileno(), []) is None


def test_truncated_file_slice_is_an_error(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(b"x" * 10)
    a, b = socket.socketpair()
    with a, b, open(path, "rb") as f:
        a.setblocking(False)
        with pytest.raises(OSError, match="ended inside"):
            send_nowait(a.fileno(), [FileSlice(f, 5, 100)])



def _answered_connection(bootstrap: str) -> socket.socket:
    """A connection the broker has answered a request on: set up, options applied."""
    host, port = bootstrap.rsplit(":", 1)
    client = socket.create_connection((host, int(port)), timeout=10)
    client.sendall(join(encode_request(ApiVersionsRequest(), 0, 1, "buffers")))
    size = struct.unpack(">i", client.recv(4, socket.MSG_WAITALL))[0]
    assert len(client.recv(size, socket.MSG_WAITALL)) == size
    return client


def _server_side_buffer(client: socket.socket, option: int) -> int:
    """The broker's (same process) socket for this client connection: its buffer size."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for name in os.listdir("/proc/self/fd"):
            try:
                with socket.socket(fileno=os.dup(int(name))) as s:
                    if s.type == socket.SOCK_STREAM and s.getpeername() == client.getsockname():
                        return s.getsockopt(socket.SOL_SOCKET, option)
            except OSError:
                continue
        time.sleep(0.02)
    raise AssertionError("server side of the connection not found")


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_socket_buffer_sizes_apply_when_set_and_autotuning_stays_otherwise(start_broker):
    tuned = start_broker({"socket.send.buffer.bytes": "65536", "socket.receive.buffer.bytes": "32768"})
    with _answered_connection(tuned) as client:
        # Linux reports twice what was set (its bookkeeping overhead).
        assert _server_side_buffer(client, socket.SO_SNDBUF) in (65536, 131072)
        assert _server_side_buffer(client, socket.SO_RCVBUF) in (32768, 65536)
    plain = start_broker()
    with _answered_connection(plain) as client:
        # Unset: not Kafka's fixed 102400, the kernel's own (autotuned) size.
        assert _server_side_buffer(client, socket.SO_SNDBUF) not in (102400, 204800)
