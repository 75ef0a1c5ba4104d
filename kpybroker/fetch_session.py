"""Incremental fetch sessions (KIP-227), with Kafka's cache and eviction rules.

A client opens a session with a full fetch (``session_id`` 0, ``epoch`` 0); the
broker answers with every requested partition and a new session id. Later
fetches name the session and the next epoch and list only partitions whose fetch
parameters changed (plus ``forgotten_topics_data`` to drop some); the broker
answers only partitions with something new: records, a moved high watermark or log
start offset, an error, a diverging epoch. Epoch -1 closes the session.

The cache holds at most ``max.incremental.fetch.session.cache.slots`` sessions.
When full, a new session may take a slot from (in this order): any session unused
for ``eviction_ms``; otherwise the "least valuable" evictable session, ordered by
(privileged, partition count, id), provided the newcomer is not less valuable.
Sessions younger than ``eviction_ms`` can be taken only by a privileged
(follower) newcomer, and only if they are not privileged themselves. Eligibility
is decided when a session is touched, as in Kafka.

This module is pure state: time comes in as ``now_ms`` and nothing awaits.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wire.errors import ErrorCode

if TYPE_CHECKING:
    from kpybroker.replica_manager import FetchPartitionRequest, FetchPartitionResult

INVALID_SESSION_ID = 0
INITIAL_EPOCH = 0
FINAL_EPOCH = -1
# Kafka's MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS.
DEFAULT_EVICTION_MS = 120_000
INT32_MAX = 2**31 - 1
ZERO_UUID = uuid.UUID(int=0)

# A partition is named by topic id when the session uses ids (v13+), else by name.
PartitionKey = tuple[object, int]


def next_epoch(prev_epoch: int) -> int:
    """The epoch that follows ``prev_epoch`` (wrapping to 1; negative stays final)."""
    if prev_epoch < 0:
        return FINAL_EPOCH
    if prev_epoch == INT32_MAX:
        return 1
    return prev_epoch + 1


def partition_key(topic: str | None, topic_id: uuid.UUID | None, partition: int) -> PartitionKey:
    """How a session identifies a partition: the topic id when there is one."""
    if topic_id is not None and topic_id != ZERO_UUID:
        return (topic_id, partition)
    return (topic, partition)


class CachedPartition:
    """A partition's last fetch parameters and last answered offsets in a session."""

    __slots__ = (
        "request",
        "high_watermark",
        "local_log_start_offset",
    )

    def __init__(
        self, request: FetchPartitionRequest, result: FetchPartitionResult | None = None
    ) -> None:
        self.request = request
        self.high_watermark = result.high_watermark if result is not None else -1
        self.local_log_start_offset = result.log_start_offset if result is not None else -1

    def maybe_update_response_data(self, result: FetchPartitionResult, update: bool) -> bool:
        """Whether an incremental answer must include this partition (and remember it)."""
        must_respond = False
        if result.size > 0:
            must_respond = True
        if self.high_watermark != result.high_watermark:
            must_respond = True
            if update:
                self.high_watermark = result.high_watermark
        if self.local_log_start_offset != result.log_start_offset:
            must_respond = True
            if update:
                self.local_log_start_offset = result.log_start_offset
        if result.preferred_read_replica >= 0:
            must_respond = True
        if result.error_code != ErrorCode.NONE:
            if update:
                self.high_watermark = -1
            must_respond = True
        if result.diverging_epoch is not None:
            must_respond = True
        return must_respond


class FetchSession:
    """One client's session: its cached partitions in round-robin order, epoch, timing."""

    def __init__(
        self,
        session_id: int,
        *,
        privileged: bool,
        partitions: dict[PartitionKey, CachedPartition],
        uses_topic_ids: bool,
        creation_ms: int,
        epoch: int,
    ) -> None:
        self.id = session_id
        self.privileged = privileged
        self.partitions = partitions
        self.uses_topic_ids = uses_topic_ids
        self.creation_ms = creation_ms
        self.last_used_ms = creation_ms
        self.epoch = epoch
        self.cached_size = -1
        # Decided at each touch, as Kafka's evictableByAll / evictableByPrivileged maps.
        self.evictable_by_all = False
        self.evictable_by_privileged = False

    def evictable_key(self) -> tuple[bool, int, int]:
        return (self.privileged, self.cached_size, self.id)

    def update(
        self,
        fetch_data: dict[PartitionKey, FetchPartitionRequest],
        to_forget: Iterable[PartitionKey],
    ) -> tuple[list[PartitionKey], list[PartitionKey], list[PartitionKey]]:
        """Apply an incremental request: returns (added, updated, removed)."""
        added, updated, removed = [], [], []
        for key, req in fetch_data.items():
            cached = self.partitions.get(key)
            if cached is None:
                self.partitions[key] = CachedPartition(req)
                added.append(key)
            else:
                cached.request = req
                updated.append(key)
        for key in to_forget:
            if self.partitions.pop(key, None) is not None:
                removed.append(key)
        return added, updated, removed

    def __repr__(self) -> str:
        return (
            f"FetchSession(id={self.id}, privileged={self.privileged}, partitions={len(self.partitions)}, "
            f"uses_topic_ids={self.uses_topic_ids}, epoch={self.epoch})"
        )


class FetchSessionCache:
    """All sessions of this broker, bounded by ``max_entries`` (Kafka's FetchSessionCacheShard)."""

    def __init__(
        self,
        max_entries: int = 1000,
        eviction_ms: int = DEFAULT_EVICTION_MS,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.max_entries = max_entries
        self.eviction_ms = eviction_ms
        self.sessions: dict[int, FetchSession] = {}
        self.evictions = 0
        self._rng = rng or random.Random()

    def __len__(self) -> int:
        return len(self.sessions)

    def get(self, session_id: int) -> FetchSession | None:
        return self.sessions.get(session_id)

    @property
    def total_partitions(self) -> int:
        return sum(max(s.cached_size, 0) for s in self.sessions.values())

    def _new_session_id(self) -> int:
        while True:
            sid = self._rng.randint(1, INT32_MAX - 1)
            if sid not in self.sessions:
                return sid

    def maybe_create_session(
        self,
        now_ms: int,
        privileged: bool,
        partitions: dict[PartitionKey, CachedPartition],
        uses_topic_ids: bool,
    ) -> int:
        """A new session's id, or ``INVALID_SESSION_ID`` when no slot can be had."""
        size = len(partitions)
        if len(self.sessions) < self.max_entries or self._try_evict(
            privileged, (privileged, size, 0), now_ms
        ):
            session = FetchSession(
                self._new_session_id(),
                privileged=privileged,
                partitions=partitions,
                uses_topic_ids=uses_topic_ids,
                creation_ms=now_ms,
                epoch=next_epoch(INITIAL_EPOCH),
            )
            self.sessions[session.id] = session
            self.touch(session, now_ms)
            return session.id
        return INVALID_SESSION_ID

    def _try_evict(self, privileged: bool, key: tuple[bool, int, int], now_ms: int) -> bool:
        if not self.sessions:
            return False
        stalest = min(self.sessions.values(), key=lambda s: (s.last_used_ms, s.id))
        if now_ms - stalest.last_used_ms > self.eviction_ms:
            self.remove(stalest.id)
            self.evictions += 1
            return True
        if privileged:
            candidates = [s for s in self.sessions.values() if s.evictable_by_privileged]
        else:
            candidates = [s for s in self.sessions.values() if s.evictable_by_all]
        if not candidates:
            return False
        victim = min(candidates, key=FetchSession.evictable_key)
        if key < victim.evictable_key():
            return False
        self.remove(victim.id)
        self.evictions += 1
        return True

    def remove(self, session_id: int) -> FetchSession | None:
        return self.sessions.pop(session_id, None)

    def touch(self, session: FetchSession, now_ms: int) -> None:
        """Mark a session used now, and re-decide who may evict it."""
        session.last_used_ms = now_ms
        session.cached_size = len(session.partitions)
        old_enough = now_ms - session.creation_ms > self.eviction_ms
        session.evictable_by_privileged = (not session.privileged) or old_enough
        session.evictable_by_all = old_enough

    def new_context(
        self,
        *,
        version: int,
        session_id: int,
        session_epoch: int,
        is_follower: bool,
        fetch_data: dict[PartitionKey, FetchPartitionRequest],
        to_forget: list[PartitionKey],
        now_ms: int,
    ) -> FetchContext:
        """Pick how to answer a Fetch request (Kafka's FetchManager.newContext)."""
        if session_epoch in (INITIAL_EPOCH, FINAL_EPOCH):
            if session_id != INVALID_SESSION_ID:
                self.remove(session_id)
            if session_epoch == FINAL_EPOCH:
                return SessionlessFetchContext(fetch_data)
            return FullFetchContext(
                self,
                fetch_data,
                uses_topic_ids=version >= 13,
                is_follower=is_follower,
                now_ms=now_ms,
            )
        session = self.sessions.get(session_id)
        if session is None:
            return SessionErrorContext(ErrorCode.FETCH_SESSION_ID_NOT_FOUND)
        if session.epoch != session_epoch:
            return SessionErrorContext(ErrorCode.INVALID_FETCH_SESSION_EPOCH)
        if session.uses_topic_ids != (version >= 13):
            return SessionErrorContext(ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR)
        session.update(fetch_data, to_forget)
        if not session.partitions:
            self.remove(session.id)
            return SessionlessFetchContext(fetch_data)
        self.touch(session, now_ms)
        session.epoch = next_epoch(session.epoch)
        return IncrementalFetchContext(session, session_epoch)


@dataclass
class FetchAnswer:
    """The session part of a Fetch response: top-level error, session id, partitions to send."""

    error_code: int
    session_id: int
    partitions: list[tuple[PartitionKey, FetchPartitionRequest, FetchPartitionResult]]


class FetchContext:
    """How one Fetch request relates to sessions; subclasses follow Kafka's contexts."""

    def partitions(self) -> list[tuple[PartitionKey, FetchPartitionRequest]]:
        """The partitions to read, in answer order."""
        raise NotImplementedError

    def answer(
        self, updates: list[tuple[PartitionKey, FetchPartitionRequest, FetchPartitionResult]]
    ) -> FetchAnswer:
        """Turn what was read into the answer (creating or advancing the session)."""
        raise NotImplementedError


class SessionErrorContext(FetchContext):
    """The request named a session that is gone or at another epoch: answer only the error."""

    def __init__(self, error: ErrorCode) -> None:
        self.error = error

    def partitions(self) -> list[tuple[PartitionKey, FetchPartitionRequest]]:
        return []

    def answer(self, updates: list) -> FetchAnswer:
        return FetchAnswer(int(self.error), INVALID_SESSION_ID, [])


class SessionlessFetchContext(FetchContext):
    """No session (old versions, or epoch -1): answer every requested partition."""

    def __init__(self, fetch_data: dict[PartitionKey, FetchPartitionRequest]) -> None:
        self.fetch_data = fetch_data

    def partitions(self) -> list[tuple[PartitionKey, FetchPartitionRequest]]:
        return list(self.fetch_data.items())

    def answer(self, updates: list) -> FetchAnswer:
        return FetchAnswer(0, INVALID_SESSION_ID, list(updates))


class FullFetchContext(FetchContext):
    """A full fetch: answer every requested partition and try to open a session on them."""

    def __init__(
        self,
        cache: FetchSessionCache,
        fetch_data: dict[PartitionKey, FetchPartitionRequest],
        *,
        uses_topic_ids: bool,
        is_follower: bool,
        now_ms: int,
    ) -> None:
        self.cache = cache
        self.fetch_data = fetch_data
        self.uses_topic_ids = uses_topic_ids
        self.is_follower = is_follower
        self.now_ms = now_ms

    def partitions(self) -> list[tuple[PartitionKey, FetchPartitionRequest]]:
        return list(self.fetch_data.items())

    def answer(self, updates: list) -> FetchAnswer:
        cached = {key: CachedPartition(req, result) for key, req, result in updates}
        session_id = self.cache.maybe_create_session(
            self.now_ms, self.is_follower, cached, self.uses_topic_ids
        )
        return FetchAnswer(0, session_id, list(updates))


class IncrementalFetchContext(FetchContext):
    """An incremental fetch: read every session partition, answer only those that changed."""

    def __init__(self, session: FetchSession, request_epoch: int) -> None:
        self.session = session
        self.request_epoch = request_epoch

    def partitions(self) -> list[tuple[PartitionKey, FetchPartitionRequest]]:
        return [(key, cached.request) for key, cached in self.session.partitions.items()]

    def answer(self, updates: list) -> FetchAnswer:
        session = self.session
        if session.epoch != next_epoch(self.request_epoch):
            # Another request on this session got in between: a duplicate or reordered fetch.
            return FetchAnswer(int(ErrorCode.INVALID_FETCH_SESSION_EPOCH), session.id, [])
        chosen = []
        for key, req, result in updates:
            cached = session.partitions.get(key)
            if cached is None:  # forgotten meanwhile
                continue
            if cached.maybe_update_response_data(result, True):
                chosen.append((key, req, result))
                if result.size > 0:
                    # Partitions that returned data go to the back, so others get a turn.
                    session.partitions[key] = session.partitions.pop(key)
        return FetchAnswer(0, session.id, chosen)
