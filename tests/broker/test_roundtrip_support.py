"""Shared helpers for the data-plane tests: a broker on a free port and a raw client.

Collected by pytest like any test module (it holds one smoke test); the other
data-plane modules import it by name.
"""

from __future__ import annotations

import struct
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from kpybroker.config import BrokerConfig
from kpybroker.server import open_broker
from wire.buffers import join
from wire.protocol import decode_response, encode_request
from wire.records import SimpleRecord, build_batch, iter_batches, iter_records


def broker_config(log_dir: str, **overrides: str) -> BrokerConfig:
    props = {
        "listeners": "PLAINTEXT://127.0.0.1:0",
        "log.dirs": log_dir,
        "broker.id": "0",
        "auto.create.topics.enable": "false",
        "group.initial.rebalance.delay.ms": "0",
    }
    props.update(overrides)
    return BrokerConfig(props)


@asynccontextmanager
async def running_broker(log_dir: str, **overrides: str) -> AsyncIterator[Any]:
    """A broker in this trio run, bound to a free port on 127.0.0.1."""
    async with open_broker(broker_config(log_dir, **overrides)) as broker:
        yield broker


def address(broker: Any) -> tuple[str, int]:
    _, host, port = broker.bound_addresses[0]
    return host, port


class RawClient:
    """Sends requests built with wire's codecs and reads responses, in order."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.correlation_id = 0
        self._buf = bytearray()

    @classmethod
    async def connect(cls, broker: Any) -> RawClient:
        host, port = address(broker)
        return cls(await trio.open_tcp_stream(host, port))

    async def send(self, body: Any, version: int) -> int:
        self.correlation_id += 1
        await self.stream.send_all(
            join(encode_request(body, version, self.correlation_id, "raw-test"))
        )
        return self.correlation_id

    async def read_frame(self) -> bytes | None:
        """The next response frame, or None if the broker closed the connection."""
        while True:
            if len(self._buf) >= 4:
                (size,) = struct.unpack_from(">i", self._buf, 0)
                if len(self._buf) >= 4 + size:
                    frame = bytes(self._buf[4 : 4 + size])
                    del self._buf[: 4 + size]
                    return frame
            data = await self.stream.receive_some(1 << 20)
            if not data:
                return None
            self._buf += data

    async def receive(self, api_key: int, version: int) -> tuple[int, Any]:
        frame = await self.read_frame()
        assert frame is not None, "connection closed by the broker"
        return decode_response(api_key, version, frame)

    async def request(self, body: Any, version: int) -> Any:
        cid = await self.send(body, version)
        got, response = await self.receive(body.API_KEY, version)
        assert got == cid
        return response

    async def aclose(self) -> None:
        await self.stream.aclose()


def batch(
    values: list[bytes | None],
    *,
    keys: list[bytes | None] | None = None,
    timestamps: list[int] | None = None,
    compression: int = 0,
) -> bytes:
    now = int(time.time() * 1000)
    recs = [
        SimpleRecord(
            keys[i] if keys else None,
            v,
            timestamp=timestamps[i] if timestamps else now,
        )
        for i, v in enumerate(values)
    ]
    return build_batch(recs, compression=compression)


def decode_values(records: Any) -> list[tuple[int, bytes | None]]:
    """(offset, value) of every record in a Fetch partition's records bytes."""
    if records is None:
        return []
    data = bytes(records)
    out = []
    for pos, header in iter_batches(data):
        for rec in iter_records(data, pos, header):
            value = None if rec.value is None else bytes(rec.value)
            out.append((header.base_offset + rec.offset_delta, value))
    return out


async def create_topic(broker: Any, name: str, partitions: int = 1, **configs: str) -> Any:
    return await broker.create_topic(name, partitions, 1, dict(configs))


async def test_support_raw_client_talks_to_broker(tmp_path: Any) -> None:
    from wire.messages.api_versions import ApiVersionsRequest

    async with running_broker(str(tmp_path)) as broker:
        client = await RawClient.connect(broker)
        response = await client.request(
            ApiVersionsRequest(client_software_name="raw-test", client_software_version="1.0"), 3
        )
        keys = {k.api_key: (k.min_version, k.max_version) for k in response.api_keys}
        assert (
            keys[0] == (0, 13) and keys[1] == (4, 18) and keys[2] == (0, 10) and keys[23] == (0, 4)
        )
        await client.aclose()
