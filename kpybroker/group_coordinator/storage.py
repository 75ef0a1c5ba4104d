"""Where the coordinator writes and replays its records.

`ReplicaManagerOffsetsLog` is the real one: batches appended to __consumer_offsets
through the replica manager (acks=all, origin="coordinator") and read back on load.
`MemoryOffsetsLog` keeps the same records in lists, for state-machine tests that do
not need a broker.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from wire.errors import ErrorCode
from wire.records import SimpleRecord, build_batch

GROUP_METADATA_TOPIC = "__consumer_offsets"

Record = tuple[bytes, bytes | None]


class OffsetsLog(Protocol):
    """Append records to one partition of the offsets topic, and replay a partition."""

    async def append(self, partition: int, records: list[Record], now_ms: int) -> ErrorCode: ...

    def read(self, partition: int) -> Iterator[tuple[bytes | None, bytes | None]]: ...


class ReplicaManagerOffsetsLog:
    """The offsets topic as the replica manager hosts it."""

    def __init__(self, broker: Any, *, compression: int = 0, timeout_ms: int = 5000) -> None:
        self.broker = broker
        self.compression = compression
        self.timeout_ms = timeout_ms

    async def append(self, partition: int, records: list[Record], now_ms: int) -> ErrorCode:
        batch = build_batch(
            [SimpleRecord(k, v, timestamp=now_ms) for k, v in records],
            compression=self.compression,
        )
        key = (GROUP_METADATA_TOPIC, partition)
        results = await self.broker.replica_manager.append_records(
            {key: batch}, required_acks=-1, timeout_ms=self.timeout_ms, origin="coordinator"
        )
        return ErrorCode(results[key].error_code)

    def read(self, partition: int) -> Iterator[tuple[bytes | None, bytes | None]]:
        rm = self.broker.replica_manager
        # Transactional offsets count from their commit marker on; open or aborted ones
        # are left out (hook owned by kpybroker.transaction_coordinator.txn_offsets).
        from kpybroker.transaction_coordinator.txn_offsets import committed_records

        yield from committed_records(rm.read_committed_batches(GROUP_METADATA_TOPIC, partition, 0))


class MemoryOffsetsLog:
    """Records kept in memory per partition; `fail_with` makes the next appends fail."""

    def __init__(self) -> None:
        self.partitions: dict[int, list[Record]] = {}
        self.fail_with: ErrorCode | None = None

    async def append(self, partition: int, records: list[Record], now_ms: int) -> ErrorCode:
        if self.fail_with is not None:
            return self.fail_with
        self.partitions.setdefault(partition, []).extend(records)
        return ErrorCode.NONE

    def read(self, partition: int) -> Iterator[tuple[bytes | None, bytes | None]]:
        yield from list(self.partitions.get(partition, []))
