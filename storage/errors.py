"""Errors raised by the storage layer.

Everything a client must see as a Kafka error code travels as a ``StorageError``;
the broker copies ``error_code``, ``message`` and ``record_errors`` into its answer.
Plain ``OSError`` from the file system is not wrapped: it means the log dir is in
trouble, which Kafka treats as a storage failure of the whole directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # wire.errors is imported lazily so this module loads on its own
    from wire.errors import ErrorCode


class StorageError(Exception):
    """An operation on a log failed with a Kafka error code.

    ``record_errors`` lists ``(batch_index, message)`` pairs as Kafka's Produce
    response does (``RecordErrors``: index of the offending record and its message).
    """

    def __init__(
        self,
        error_code: ErrorCode | int,
        message: str,
        record_errors: Sequence[tuple[int, str]] = (),
    ) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.record_errors: list[tuple[int, str]] = list(record_errors)

    def __repr__(self) -> str:
        code = getattr(self.error_code, "name", self.error_code)
        return f"{type(self).__name__}({code}, {self.message!r})"


class DuplicateBatchError(StorageError):
    """A producer re-sent a batch already in the log (same producer, epoch and sequence).

    Kafka answers such a retry with success and the offsets the batch got the
    first time, so the caller turns this into a normal produce result.
    """

    def __init__(
        self,
        first_offset: int,
        last_offset: int,
        log_append_time: int = -1,
        message: str = "duplicate batch",
    ) -> None:
        super().__init__(0, message)
        self.first_offset = first_offset
        self.last_offset = last_offset
        self.log_append_time = log_append_time
