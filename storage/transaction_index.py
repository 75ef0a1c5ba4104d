"""The transaction index: aborted transactions per log segment (``.txnindex``).

Theory of operation
-------------------
A ``read_committed`` consumer receives aborted records together with a list of the
aborted transactions (producer id, first offset) that overlap its fetch, and drops
their records itself. The broker finds that list in the transaction index that
sits beside every segment: one fixed-size entry per aborted transaction whose
abort marker was written into that segment.

Entry layout (big-endian, 34 bytes, the same bytes Kafka writes)::

    0  version             int16   (0)
    2  producer_id         int64
    10 first_offset        int64   first offset of the transaction's data
    18 last_offset         int64   offset of the abort marker
    26 last_stable_offset  int64   the partition's LSO right after the abort

Because a transaction may begin in an earlier segment than its marker, a search
starts at the segment holding the fetch offset and walks forward; an entry whose
``last_stable_offset`` reaches the fetch's upper bound proves no later segment can
hold an overlapping transaction, so the walk stops there
(``collect_aborted_transactions``).

The file is created on the first append only, as Kafka does: most segments never
see an abort and keep no ``.txnindex`` at all. Entries are few, so they are kept in
memory beside the file; the file is the record that survives a restart.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "ABORTED_TXN_SIZE",
    "AbortedTxn",
    "CorruptIndexError",
    "TransactionIndex",
    "TxnIndexSearchResult",
    "collect_aborted_transactions",
    "transaction_index_path",
]

log = logging.getLogger(__name__)

TXN_INDEX_SUFFIX = ".txnindex"
CURRENT_VERSION = 0
_ENTRY = struct.Struct(">hqqqq")
ABORTED_TXN_SIZE = _ENTRY.size  # 34


class CorruptIndexError(Exception):
    """An index file failed its sanity check; the Log rebuilds it from the segment."""


@dataclass(frozen=True, slots=True)
class AbortedTxn:
    """One aborted transaction as stored in the index and sent in Fetch responses."""

    producer_id: int
    first_offset: int
    last_offset: int
    last_stable_offset: int
    version: int = CURRENT_VERSION

    def to_bytes(self) -> bytes:
        return _ENTRY.pack(
            self.version,
            self.producer_id,
            self.first_offset,
            self.last_offset,
            self.last_stable_offset,
        )

    @classmethod
    def from_bytes(cls, buf: bytes | bytearray | memoryview, pos: int = 0) -> AbortedTxn:
        version, producer_id, first_offset, last_offset, lso = _ENTRY.unpack_from(buf, pos)
        return cls(producer_id, first_offset, last_offset, lso, version)


@dataclass(frozen=True, slots=True)
class TxnIndexSearchResult:
    """The overlapping aborted transactions found in one index, and whether the
    search may stop here (``is_complete``) instead of going on to the next segment."""

    aborted_transactions: list[AbortedTxn]
    is_complete: bool


def transaction_index_path(directory: Path, base_offset: int) -> Path:
    """``<dir>/<20-digit base offset>.txnindex``, Kafka's name for a segment's index."""
    return Path(directory) / f"{base_offset:020d}{TXN_INDEX_SUFFIX}"


class TransactionIndex:
    """The ``.txnindex`` file of one segment whose base offset is ``start_offset``.

    ``append`` requires the markers' offsets to increase, as Kafka does; after a
    crash the Log either trusts the file (it passed ``sanity_check``) or calls
    ``reset`` and appends the aborted transactions again while it re-scans the
    segment.
    """

    def __init__(self, path: Path | str, start_offset: int) -> None:
        self.path = Path(path)
        self.start_offset = start_offset
        self._file: BinaryIO | None = None
        self._entries: list[AbortedTxn] = []
        # Bytes of a torn trailing entry (a crash mid-append); sanity_check reports it.
        self._partial_tail = 0
        if self.path.exists():
            self._load()

    @classmethod
    def for_segment(cls, directory: Path | str, base_offset: int) -> TransactionIndex:
        """The index beside the segment with ``base_offset`` in ``directory``."""
        return cls(transaction_index_path(Path(directory), base_offset), base_offset)

    def _load(self) -> None:
        data = self.path.read_bytes()
        whole = len(data) - len(data) % ABORTED_TXN_SIZE
        self._entries = [
            AbortedTxn.from_bytes(data, pos) for pos in range(0, whole, ABORTED_TXN_SIZE)
        ]
        self._partial_tail = len(data) - whole

    def _handle(self) -> BinaryIO:
        if self._file is None:
            # "a+b" would create the file too, but positioned writes need r+b.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            self._file = os.fdopen(fd, "r+b", buffering=0)
        return self._file

    # -- writing ---------------------------------------------------------------

    def append(self, aborted: AbortedTxn) -> None:
        """Add an entry; its ``last_offset`` must exceed the previous entry's."""
        if self._entries and self._entries[-1].last_offset >= aborted.last_offset:
            raise ValueError(
                f"aborted transaction ending at {aborted.last_offset} does not come after "
                f"the last entry (ending at {self._entries[-1].last_offset}) of {self.path}"
            )
        f = self._handle()
        # Write after the last whole entry so a torn tail from a crash is overwritten.
        f.seek(len(self._entries) * ABORTED_TXN_SIZE)
        f.write(aborted.to_bytes())
        if self._partial_tail:
            f.truncate(f.tell())
            self._partial_tail = 0
        self._entries.append(aborted)

    def flush(self) -> None:
        if self._file is not None:
            os.fsync(self._file.fileno())

    def reset(self) -> None:
        """Drop every entry (the file stays, empty), before a rebuild."""
        if self._file is not None:
            self._file.truncate(0)
        elif self.path.exists():
            os.truncate(self.path, 0)
        self._entries = []
        self._partial_tail = 0

    def truncate_to(self, offset: int) -> None:
        """Remove the entries whose abort marker is at ``offset`` or later."""
        keep = len(self._entries)
        for i, entry in enumerate(self._entries):
            if entry.last_offset >= offset:
                keep = i
                break
        if keep == len(self._entries) and not self._partial_tail:
            return
        size = keep * ABORTED_TXN_SIZE
        if self._file is not None:
            self._file.truncate(size)
        elif self.path.exists():
            os.truncate(self.path, size)
        del self._entries[keep:]
        self._partial_tail = 0

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def delete(self) -> bool:
        """Close and remove the file; False if there was none."""
        self.close()
        self._entries = []
        self._partial_tail = 0
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True

    def rename_to(self, path: Path | str) -> None:
        """Move the file (e.g. to a ``.deleted`` or ``.swap`` name) and keep using it."""
        target = Path(path)
        if self.path.exists():
            os.replace(self.path, target)
        self.path = target

    # -- reading ---------------------------------------------------------------

    def all_aborted_txns(self) -> list[AbortedTxn]:
        return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def last_offset(self) -> int | None:
        """Marker offset of the last entry, None when the index is empty."""
        return self._entries[-1].last_offset if self._entries else None

    def collect_aborted_txns(
        self, fetch_offset: int, upper_bound_offset: int
    ) -> TxnIndexSearchResult:
        """Aborted transactions overlapping ``[fetch_offset, upper_bound_offset)``."""
        found: list[AbortedTxn] = []
        for entry in self._entries:
            if entry.last_offset >= fetch_offset and entry.first_offset < upper_bound_offset:
                found.append(entry)
            if entry.last_stable_offset >= upper_bound_offset:
                return TxnIndexSearchResult(found, True)
        return TxnIndexSearchResult(found, False)

    def collect_aborted(self, fetch_offset: int, upper_bound_offset: int) -> list[AbortedTxn]:
        """Like ``collect_aborted_txns`` without the stop flag."""
        return self.collect_aborted_txns(fetch_offset, upper_bound_offset).aborted_transactions

    def sanity_check(self) -> None:
        """Raise ``CorruptIndexError`` when the file cannot be trusted."""
        if self._partial_tail:
            raise CorruptIndexError(
                f"transaction index {self.path} ends with a partial entry of "
                f"{self._partial_tail} bytes"
            )
        previous: int | None = None
        for entry in self._entries:
            if entry.version > CURRENT_VERSION:
                raise CorruptIndexError(
                    f"unexpected aborted transaction version {entry.version} in {self.path}"
                )
            if entry.last_offset < self.start_offset:
                raise CorruptIndexError(
                    f"last offset of aborted transaction {entry} in {self.path} is less "
                    f"than start offset {self.start_offset}"
                )
            if previous is not None and entry.last_offset <= previous:
                raise CorruptIndexError(
                    f"aborted transactions in {self.path} are not in offset order at {entry}"
                )
            previous = entry.last_offset

    def __repr__(self) -> str:
        return f"TransactionIndex({str(self.path)!r}, start_offset={self.start_offset}, entries={len(self._entries)})"


def collect_aborted_transactions(
    indexes: Iterable[TransactionIndex], fetch_offset: int, upper_bound_offset: int
) -> list[AbortedTxn]:
    """Aborted transactions overlapping a fetch, from segment indexes in offset order.

    ``indexes`` starts with the index of the segment holding ``fetch_offset`` and
    goes forward; the walk stops as soon as one index proves nothing later matters.
    """
    found: list[AbortedTxn] = []
    for index in indexes:
        result = index.collect_aborted_txns(fetch_offset, upper_bound_offset)
        found.extend(result.aborted_transactions)
        if result.is_complete:
            break
    return found
