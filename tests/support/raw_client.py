"""The raw Kafka-protocol test client: requests framed with wire's codecs over a
plain TCP connection, for tests that work below the stock client libraries.

``RawClient`` is a blocking socket (for the threaded ``broker`` fixtures in
``tests/conftest.py``; the ``raw_client`` fixture hands these out and closes them).
``AsyncRawClient`` is the same client on a trio stream, for a broker running in the
test's own trio loop (``tests/support/trio_broker.py``). Both keep the protocol
state in one sans-IO ``Framing`` object, so they number, frame and split exactly
alike:

- ``request(body, version)``: send, read the answer, check its correlation id,
  return the decoded response body;
- ``send(body, version) -> correlation id`` and ``receive(api_key, version) ->
  (correlation id, body)``: pipelining and requests that get no answer (acks=0);
- ``send_bytes(data)``, ``receive_frame()`` (raises if the broker closed the
  connection), ``read_frame()`` (None instead): hand-built or captured frames;
- ``client_id`` (default ``"raw-test"``; ``None`` sends a null client id) on every
  request; reads give up after ``timeout`` seconds.
"""

from __future__ import annotations

import socket
import struct
import time
from typing import Any

import trio

from wire.buffers import join
from wire.protocol import decode_response, encode_request

CLIENT_ID = "raw-test"


class Framing:
    """Numbers and frames requests; splits received bytes into response frames."""

    def __init__(self) -> None:
        self.correlation_id = 0
        self._buf = bytearray()

    def encode(self, body: Any, version: int, client_id: str | None) -> tuple[int, bytes]:
        self.correlation_id += 1
        frame = encode_request(body, version, self.correlation_id, client_id)
        return self.correlation_id, join(frame)

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_frame(self) -> bytes | None:
        """The next whole response frame (without its size), or None until one has arrived."""
        if len(self._buf) < 4:
            return None
        (size,) = struct.unpack_from(">i", self._buf, 0)
        if len(self._buf) < 4 + size:
            return None
        frame = bytes(self._buf[4 : 4 + size])
        del self._buf[: 4 + size]
        return frame


def _check_correlation(got: int, sent: int) -> None:
    assert got == sent, f"correlation id {got} != {sent}"


def _closed_error() -> ConnectionError:
    return ConnectionError("connection closed by the broker")


class RawClient:
    """A blocking socket speaking Kafka frames."""

    def __init__(self, bootstrap: str, timeout: float = 10.0) -> None:
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.framing = Framing()

    def close(self) -> None:
        self.sock.close()

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, body: Any, version: int, client_id: str | None = CLIENT_ID) -> int:
        cid, data = self.framing.encode(body, version, client_id)
        self.sock.sendall(data)
        return cid

    def read_frame(self) -> bytes | None:
        """The next response frame, or None if the broker closed the connection."""
        while (frame := self.framing.next_frame()) is None:
            data = self.sock.recv(1 << 16)
            if not data:
                return None
            self.framing.feed(data)
        return frame

    def receive_frame(self) -> bytes:
        frame = self.read_frame()
        if frame is None:
            raise _closed_error()
        return frame

    def receive(self, api_key: int, version: int) -> tuple[int, Any]:
        return decode_response(api_key, version, self.receive_frame())

    def request(self, body: Any, version: int, client_id: str | None = CLIENT_ID) -> Any:
        cid = self.send(body, version, client_id)
        got, response = self.receive(body.API_KEY, version)
        _check_correlation(got, cid)
        return response

    def closed(self, timeout: float = 5.0) -> bool:
        """True if the broker closed the connection (EOF or reset) within ``timeout``.

        Anything the broker sends meanwhile is read and dropped."""
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if not self.sock.recv(65536):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False
        return False


class AsyncRawClient:
    """``RawClient`` on a trio stream: the same methods, awaited (``aclose`` for ``close``)."""

    def __init__(self, stream: trio.SocketStream, timeout: float | None = 30.0) -> None:
        self.stream = stream
        self.timeout = timeout
        self.framing = Framing()

    @classmethod
    async def connect(cls, broker: Any, timeout: float | None = 30.0) -> AsyncRawClient:
        """Connect to the first listener of a ``Broker`` running in this trio run."""
        _, host, port = broker.bound_addresses[0]
        return cls(await trio.open_tcp_stream(host, port), timeout)

    async def aclose(self) -> None:
        await self.stream.aclose()

    async def send_bytes(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def send(self, body: Any, version: int, client_id: str | None = CLIENT_ID) -> int:
        cid, data = self.framing.encode(body, version, client_id)
        await self.stream.send_all(data)
        return cid

    async def read_frame(self) -> bytes | None:
        """The next response frame, or None if the broker closed the connection."""
        while (frame := self.framing.next_frame()) is None:
            with trio.fail_after(self.timeout if self.timeout is not None else float("inf")):
                data = await self.stream.receive_some(1 << 16)
            if not data:
                return None
            self.framing.feed(data)
        return frame

    async def receive_frame(self) -> bytes:
        frame = await self.read_frame()
        if frame is None:
            raise _closed_error()
        return frame

    async def receive(self, api_key: int, version: int) -> tuple[int, Any]:
        return decode_response(api_key, version, await self.receive_frame())

    async def request(self, body: Any, version: int, client_id: str | None = CLIENT_ID) -> Any:
        cid = await self.send(body, version, client_id)
        got, response = await self.receive(body.API_KEY, version)
        _check_correlation(got, cid)
        return response
