"""Shared helpers for the admin, config and idempotent-producer tests.

``RawClient`` speaks the Kafka protocol over a trio stream with wire's codecs, so
a test can send any API at any version and read the exact answer from a broker
running in the test's own trio loop. Stock clients use ``tests/conftest.py``'s
threaded ``broker`` fixture instead. The module holds no tests.
"""

from __future__ import annotations

from typing import Any

import trio

from kpybroker.config import BrokerConfig
from wire.buffers import join
from wire.protocol import decode_response, encode_request


def broker_config(data_dir: str, **overrides: str) -> BrokerConfig:
    props = {
        "listeners": "PLAINTEXT://127.0.0.1:0",
        "log.dirs": data_dir,
        "group.initial.rebalance.delay.ms": "0",
    }
    props.update(overrides)
    return BrokerConfig(props)


class RawClient:
    """One connection speaking raw Kafka requests (tests only)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self._correlation_id = 0
        self._buf = bytearray()

    @classmethod
    async def connect(cls, broker: Any) -> RawClient:
        _, host, port = broker.bound_addresses[0]
        return cls(await trio.open_tcp_stream(host, port))

    async def send(self, body: Any, version: int) -> int:
        self._correlation_id += 1
        await self.stream.send_all(
            join(encode_request(body, version, self._correlation_id, "raw-test"))
        )
        return self._correlation_id

    async def receive(self, api_key: int, version: int) -> Any:
        while True:
            if len(self._buf) >= 4:
                size = int.from_bytes(self._buf[:4], "big")
                if len(self._buf) >= 4 + size:
                    frame = bytes(self._buf[4 : 4 + size])
                    del self._buf[: 4 + size]
                    return decode_response(api_key, version, frame)[1]
            with trio.fail_after(30):
                data = await self.stream.receive_some(1 << 16)
            if not data:
                raise ConnectionError("broker closed the connection")
            self._buf += data

    async def call(self, body: Any, version: int) -> Any:
        await self.send(body, version)
        return await self.receive(body.API_KEY, version)

    async def aclose(self) -> None:
        await self.stream.aclose()
