"""Producer id allocation for idempotent and transactional producers.

Kafka hands out producer ids in blocks: the controller reserves ``BLOCK_SIZE``
ids at a time in its metadata log and a broker serves ids from its current block.
A block is recorded as taken *before* any id from it is handed out, so a broker
that restarts (or crashes) skips the rest of its old block instead of reusing an
id that a producer may still hold. We do the same through the metadata store's
``allocate_producer_id_block(size) -> first id``.
"""

from __future__ import annotations

from typing import Protocol

from wire.errors import ErrorCode

BLOCK_SIZE = 1000
# Producer ids are int64 on the wire; Kafka refuses to allocate past Long.MAX_VALUE.
MAX_PRODUCER_ID = 2**63 - 1
# An epoch is an int16; Kafka never hands out Short.MAX_VALUE itself.
MAX_PRODUCER_EPOCH = 2**15 - 1


class ProducerIdBlockSource(Protocol):
    """What a store must offer: reserve ``size`` ids persistently, return the first."""

    def allocate_producer_id_block(self, size: int) -> int: ...


class ProducerIdExhaustedError(Exception):
    """Every producer id has been handed out (Kafka: UNKNOWN_SERVER_ERROR to the client)."""

    error_code = ErrorCode.UNKNOWN_SERVER_ERROR


class ProducerIdManager:
    """Hands out unique producer ids from blocks reserved in the metadata store.

    Single-threaded by construction (the broker runs on one trio loop), so no lock:
    ``generate`` never awaits between reading and advancing the block.
    """

    def __init__(self, store: ProducerIdBlockSource, block_size: int = BLOCK_SIZE) -> None:
        self._store = store
        self._block_size = block_size
        self._next = 0
        self._end = 0  # exclusive: the block is empty until the first generate()

    @property
    def current_block(self) -> tuple[int, int]:
        """(next id to hand out, first id past the block)."""
        return self._next, self._end

    def generate(self) -> int:
        """A producer id no one has had before, on this broker or any earlier run."""
        if self._next >= self._end:
            first = self._store.allocate_producer_id_block(self._block_size)
            if first < 0 or first + self._block_size - 1 > MAX_PRODUCER_ID:
                raise ProducerIdExhaustedError("producer id space exhausted")
            self._next, self._end = first, first + self._block_size
        pid = self._next
        self._next += 1
        return pid

    # The name kpybroker.broker's own manager uses, so either serves InitProducerId.
    next_id = generate
