"""The leader-epoch cache of a partition (Kafka's LeaderEpochFileCache).

It maps each leader epoch to the first offset written in that epoch, is persisted
to ``leader-epoch-checkpoint`` and answers OffsetForLeaderEpoch: "where did epoch
E end?", which a follower uses to find the point where its log diverges.
"""

from __future__ import annotations

import logging
from pathlib import Path

from storage.checkpoints import (
    LEADER_EPOCH_CHECKPOINT,
    CorruptCheckpointError,
    LeaderEpochCheckpointFile,
)

log = logging.getLogger(__name__)

UNDEFINED_EPOCH = -1
UNDEFINED_EPOCH_OFFSET = -1


class LeaderEpochFileCache:
    """Ordered ``(epoch, start_offset)`` entries, epochs and offsets both increasing.

    Every change is written to the checkpoint file at once (fsynced), because
    truncation decisions after a crash depend on it; on load the log trims the
    cache to its own range, so a stale file is harmless.
    """

    def __init__(self, partition_dir: Path) -> None:
        self._file = LeaderEpochCheckpointFile(Path(partition_dir) / LEADER_EPOCH_CHECKPOINT)
        self._entries: list[tuple[int, int]] = []
        try:
            loaded = self._file.read()
        except CorruptCheckpointError as e:
            # The cache only narrows truncation; starting empty is safe and Kafka-like
            # (the log re-learns epochs from the batches it recovers).
            log.error("%s; starting with an empty leader epoch cache", e)
            loaded = []
        for epoch, start in loaded:
            self._assign(epoch, start)

    @property
    def path(self) -> Path:
        return self._file.path

    def entries(self) -> list[tuple[int, int]]:
        return list(self._entries)

    @property
    def latest_epoch(self) -> int | None:
        return self._entries[-1][0] if self._entries else None

    def latest_entry(self) -> tuple[int, int] | None:
        return self._entries[-1] if self._entries else None

    def earliest_entry(self) -> tuple[int, int] | None:
        return self._entries[0] if self._entries else None

    def _assign(self, epoch: int, start_offset: int) -> bool:
        if epoch < 0 or start_offset < 0:
            raise ValueError(f"invalid leader epoch entry ({epoch}, {start_offset})")
        if self._entries:
            last_epoch, last_start = self._entries[-1]
            if epoch == last_epoch and start_offset >= last_start:
                return False
        # A new entry wins over any later-or-equal epoch or offset already cached.
        while self._entries and (
            self._entries[-1][0] >= epoch or self._entries[-1][1] >= start_offset
        ):
            self._entries.pop()
        self._entries.append((epoch, start_offset))
        return True

    def assign(self, epoch: int, start_offset: int) -> None:
        """Record that ``epoch`` starts at ``start_offset`` (no-op if already known)."""
        if self._assign(epoch, start_offset):
            self.flush()

    def flush(self) -> None:
        self._file.write(self._entries)

    def end_offset_for(self, requested_epoch: int, log_end_offset: int) -> tuple[int, int]:
        """Kafka's ``endOffsetFor``: ``(epoch, end offset)`` for OffsetForLeaderEpoch."""
        if requested_epoch == UNDEFINED_EPOCH or not self._entries:
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if self._entries[-1][0] == requested_epoch:
            return requested_epoch, log_end_offset
        higher = next((e for e in self._entries if e[0] > requested_epoch), None)
        if higher is None:
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        floor = None
        for e in self._entries:
            if e[0] <= requested_epoch:
                floor = e
            else:
                break
        if floor is None:
            return requested_epoch, higher[1]
        return floor[0], higher[1]

    def epoch_for_offset(self, offset: int) -> int | None:
        """The epoch in which ``offset`` was written, as far as the cache knows."""
        previous = None
        for epoch, start in self._entries:
            if start == offset:
                return epoch
            if start > offset:
                return previous
            previous = epoch
        return previous

    def truncate_from_end(self, end_offset: int) -> None:
        """Forget epochs that start at or after ``end_offset`` (log truncated to it)."""
        if end_offset < 0 or not self._entries or self._entries[-1][1] < end_offset:
            return
        while self._entries and self._entries[-1][1] >= end_offset:
            self._entries.pop()
        self.flush()

    def truncate_from_start(self, start_offset: int) -> None:
        """Drop epochs wholly before ``start_offset``; the one covering it now starts there."""
        if self._entries and self._entries[0][1] == start_offset:
            # Already so (every load of a log whose start was never moved): the file
            # has it, since every change is written at once; no rewrite and fsync.
            return
        removed = None
        while self._entries and self._entries[0][1] <= start_offset:
            removed = self._entries.pop(0)
        if removed is not None:
            self._entries.insert(0, (removed[0], start_offset))
            self.flush()

    def clear_and_flush(self) -> None:
        self._entries = []
        self.flush()
