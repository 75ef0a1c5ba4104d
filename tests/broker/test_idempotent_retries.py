"""Forced retries with a stock client: a proxy between librdkafka and the broker
forwards Produce requests but drops their responses and cuts the connection, so
the producer cannot know whether its batches were written and sends them again
with the same producer id, epoch and sequence. The broker must recognise the
retries: every message is in the log exactly once, in order.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer

TIMEOUT = 30
PRODUCE = 0


def _read_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _read_frame(sock: socket.socket) -> bytes | None:
    head = _read_exact(sock, 4)
    if head is None:
        return None
    body = _read_exact(sock, struct.unpack(">i", head)[0])
    return None if body is None else head + body


class DroppingProxy:
    """Forwards Kafka connections to ``target_port``; the first ``drops`` Produce
    responses are swallowed and their connection closed."""

    def __init__(self, drops: int) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.target_port = 0
        self.drops_left = drops
        self.dropped = 0
        self.produce_requests = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._closed = False

    def start(self, target_port: int) -> None:
        self.target_port = target_port
        self._spawn(self._accept_loop)

    def _spawn(self, fn: Any, *args: Any) -> None:
        t = threading.Thread(target=fn, args=args, daemon=True)
        self._threads.append(t)
        t.start()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets += [client, upstream]
            api_keys: dict[int, int] = {}
            self._spawn(self._client_to_broker, client, upstream, api_keys)
            self._spawn(self._broker_to_client, upstream, client, api_keys)

    def _client_to_broker(
        self, client: socket.socket, upstream: socket.socket, api_keys: dict[int, int]
    ) -> None:
        with contextlib.suppress(OSError):
            while (frame := _read_frame(client)) is not None:
                api_key, _version, correlation_id = struct.unpack_from(">hhi", frame, 4)
                api_keys[correlation_id] = api_key
                if api_key == PRODUCE:
                    with self._lock:
                        self.produce_requests += 1
                upstream.sendall(frame)
        self._close(client, upstream)

    def _broker_to_client(
        self, upstream: socket.socket, client: socket.socket, api_keys: dict[int, int]
    ) -> None:
        with contextlib.suppress(OSError):
            while (frame := _read_frame(upstream)) is not None:
                (correlation_id,) = struct.unpack_from(">i", frame, 4)
                if api_keys.pop(correlation_id, None) == PRODUCE:
                    with self._lock:
                        drop = self.drops_left > 0
                        if drop:
                            self.drops_left -= 1
                            self.dropped += 1
                    if drop:
                        break
                client.sendall(frame)
        self._close(client, upstream)

    @staticmethod
    def _close(*socks: socket.socket) -> None:
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self._closed = True
        # shutdown() wakes the thread blocked in accept(); close() alone does not.
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self._close(*self._sockets)
        for t in self._threads:
            t.join(5)


@pytest.fixture
def proxy() -> Iterator[DroppingProxy]:
    p = DroppingProxy(drops=2)
    yield p
    p.close()


def test_lost_produce_responses_do_not_duplicate(start_broker: Any, proxy: DroppingProxy) -> None:
    # Clients learn the broker's address from Metadata: advertise the proxy.
    running = start_broker({"advertised.listeners": f"PLAINTEXT://127.0.0.1:{proxy.port}"})
    proxy.start(running.port)
    running.call(running.broker.create_topic, "retried", 1, 1, {})

    delivered: list[int] = []
    errors: list[Any] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(err)
        else:
            delivered.append(msg.offset())

    producer = Producer(
        {
            "bootstrap.servers": f"127.0.0.1:{proxy.port}",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "retry.backoff.ms": 50,
            "reconnect.backoff.ms": 20,
            "message.timeout.ms": TIMEOUT * 1000,
        }
    )
    for batch in range(3):
        for i in range(10):
            producer.produce(
                "retried", value=b"%d-%d" % (batch, i), partition=0, on_delivery=on_delivery
            )
        producer.flush(TIMEOUT)
    assert producer.flush(TIMEOUT) == 0

    assert errors == []
    assert proxy.dropped == 2 and proxy.produce_requests > 2  # retries did happen
    assert sorted(delivered) == list(range(30))
    part = running.run_sync(running.broker.replica_manager.get_partition, "retried", 0)
    assert part.log_end_offset == 30
