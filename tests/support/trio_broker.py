"""A broker in the test's own trio run (where ``AsyncRawClient`` talks to it), and
the record helpers the raw data-plane tests share.

``tests/conftest.py``'s fixtures run the broker in a thread instead, for stock
(blocking) clients.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from kpybroker.config import BrokerConfig
from kpybroker.server import open_broker
from wire.records import SimpleRecord, build_batch, iter_batches, iter_records

# What ``running_broker`` adds to ``broker_config``'s defaults: the data-plane tests
# create every topic themselves and expect broker id 0 in their answers.
DATA_PLANE_DEFAULTS = {
    "broker.id": "0",
    "auto.create.topics.enable": "false",
}


def broker_config(data_dir: str, **overrides: str) -> BrokerConfig:
    """A single broker on a free 127.0.0.1 port, storing its log in ``data_dir``."""
    props = {
        "listeners": "PLAINTEXT://127.0.0.1:0",
        "log.dirs": data_dir,
        "group.initial.rebalance.delay.ms": "0",
    }
    props.update(overrides)
    return BrokerConfig(props)


@asynccontextmanager
async def running_broker(log_dir: str, **overrides: str) -> AsyncIterator[Any]:
    """A data-plane broker (``DATA_PLANE_DEFAULTS``) in this trio run."""
    config = broker_config(log_dir, **{**DATA_PLANE_DEFAULTS, **overrides})
    async with open_broker(config) as broker:
        yield broker


async def create_topic(broker: Any, name: str, partitions: int = 1, **configs: str) -> Any:
    return await broker.create_topic(name, partitions, 1, dict(configs))


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
