"""FetchSessionCache and fetch contexts (KIP-227), as Kafka's FetchSession.scala behaves."""

from __future__ import annotations

import random
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from kpybroker.fetch_session import (
    FINAL_EPOCH,
    INVALID_SESSION_ID,
    CachedPartition,
    FetchSessionCache,
    FullFetchContext,
    IncrementalFetchContext,
    SessionErrorContext,
    SessionlessFetchContext,
    next_epoch,
    partition_key,
)
from kpybroker.replica_manager import FetchPartitionRequest, FetchPartitionResult
from wire.errors import ErrorCode


def req(
    topic: str, partition: int, offset: int = 0, max_bytes: int = 1000
) -> FetchPartitionRequest:
    return FetchPartitionRequest(
        topic=topic, partition=partition, fetch_offset=offset, partition_max_bytes=max_bytes
    )


def data(*reqs: FetchPartitionRequest) -> dict:
    return {partition_key(r.topic, r.topic_id, r.partition): r for r in reqs}


def result(hw: int = 10, log_start: int = 0, size: int = 0, error: int = 0) -> FetchPartitionResult:
    r = FetchPartitionResult(
        error_code=error, high_watermark=hw, last_stable_offset=hw, log_start_offset=log_start
    )
    if size:
        r.records = [b"x" * size]  # a bytes stand-in has a len() like a FileSlice
    return r


def open_session(
    cache: FetchSessionCache, reqs: list, now: int = 0, follower: bool = False, hw: int = 10
) -> int:
    ctx = cache.new_context(
        version=12,
        session_id=0,
        session_epoch=0,
        is_follower=follower,
        fetch_data=data(*reqs),
        to_forget=[],
        now_ms=now,
    )
    assert isinstance(ctx, FullFetchContext)
    answer = ctx.answer([(k, r, result(hw=hw)) for k, r in ctx.partitions()])
    return answer.session_id


def test_next_epoch_wraps_and_final_stays_final() -> None:
    assert next_epoch(0) == 1
    assert next_epoch(41) == 42
    assert next_epoch(2**31 - 1) == 1
    assert next_epoch(-1) == FINAL_EPOCH


def test_full_fetch_creates_session_answering_every_partition() -> None:
    cache = FetchSessionCache(10)
    reqs = [req("a", 0), req("a", 1), req("b", 0)]
    ctx = cache.new_context(
        version=12,
        session_id=0,
        session_epoch=0,
        is_follower=False,
        fetch_data=data(*reqs),
        to_forget=[],
        now_ms=0,
    )
    answer = ctx.answer([(k, r, result()) for k, r in ctx.partitions()])
    assert answer.error_code == 0
    assert answer.session_id != INVALID_SESSION_ID
    assert [(r.topic, r.partition) for _, r, _ in answer.partitions] == [
        ("a", 0),
        ("a", 1),
        ("b", 0),
    ]
    session = cache.get(answer.session_id)
    assert session is not None and session.epoch == 1 and len(session.partitions) == 3


def test_final_epoch_is_sessionless_and_closes_named_session() -> None:
    cache = FetchSessionCache(10)
    sid = open_session(cache, [req("a", 0)])
    ctx = cache.new_context(
        version=12,
        session_id=sid,
        session_epoch=FINAL_EPOCH,
        is_follower=False,
        fetch_data=data(req("a", 0)),
        to_forget=[],
        now_ms=1,
    )
    assert isinstance(ctx, SessionlessFetchContext)
    assert cache.get(sid) is None
    answer = ctx.answer([(k, r, result()) for k, r in ctx.partitions()])
    assert answer.session_id == INVALID_SESSION_ID and len(answer.partitions) == 1


def test_unknown_session_and_wrong_epoch() -> None:
    cache = FetchSessionCache(10)
    ctx = cache.new_context(
        version=12,
        session_id=12345,
        session_epoch=1,
        is_follower=False,
        fetch_data={},
        to_forget=[],
        now_ms=0,
    )
    assert isinstance(ctx, SessionErrorContext)
    assert ctx.answer([]).error_code == ErrorCode.FETCH_SESSION_ID_NOT_FOUND
    sid = open_session(cache, [req("a", 0)])
    ctx = cache.new_context(
        version=12,
        session_id=sid,
        session_epoch=5,
        is_follower=False,
        fetch_data={},
        to_forget=[],
        now_ms=0,
    )
    answer = ctx.answer([])
    assert answer.error_code == ErrorCode.INVALID_FETCH_SESSION_EPOCH
    assert answer.session_id == INVALID_SESSION_ID and answer.partitions == []


def test_topic_id_use_must_not_change_within_a_session() -> None:
    cache = FetchSessionCache(10)
    sid = open_session(cache, [req("a", 0)])  # v12: names
    ctx = cache.new_context(
        version=13,
        session_id=sid,
        session_epoch=1,
        is_follower=False,
        fetch_data={},
        to_forget=[],
        now_ms=0,
    )
    assert ctx.answer([]).error_code == ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR


def test_incremental_answers_only_changed_partitions_and_rotates() -> None:
    cache = FetchSessionCache(10)
    sid = open_session(cache, [req("a", 0), req("a", 1), req("a", 2)], hw=10)
    ctx = cache.new_context(
        version=12,
        session_id=sid,
        session_epoch=1,
        is_follower=False,
        fetch_data={},
        to_forget=[],
        now_ms=5,
    )
    assert isinstance(ctx, IncrementalFetchContext)
    # Every session partition is read, in session order.
    keys = [k for k, _ in ctx.partitions()]
    assert keys == [("a", 0), ("a", 1), ("a", 2)]
    updates = [
        (keys[0], ctx.partitions()[0][1], result(hw=10)),  # nothing new
        (keys[1], ctx.partitions()[1][1], result(hw=12, size=100)),  # records
        (keys[2], ctx.partitions()[2][1], result(hw=10, log_start=3)),  # log start moved
    ]
    answer = ctx.answer(updates)
    assert answer.error_code == 0 and answer.session_id == sid
    assert [k for k, _, _ in answer.partitions] == [("a", 1), ("a", 2)]
    # The partition that returned data moved to the back.
    assert list(cache.get(sid).partitions) == [("a", 0), ("a", 2), ("a", 1)]
    # Same state again: nothing to say.
    ctx = cache.new_context(
        version=12,
        session_id=sid,
        session_epoch=2,
        is_follower=False,
        fetch_data={},
        to_forget=[],
        now_ms=6,
    )
    answer = ctx.answer(
        [
            (k, r, result(hw=12 if k == ("a", 1) else 10, log_start=3 if k == ("a", 2) else 0))
            for k, r in ctx.partitions()
        ]
    )
    assert answer.partitions == []


def test_incremental_errors_are_always_answered() -> None:
    cache = FetchSessionCache(10)
    sid = open_session(cache, [req("a", 0)])
    ctx = cache.new_context(
        version=12,
        session_id=sid,
        session_epoch=1,
        is_follower=False,
        fetch_data={},
        to_forget=[],
        now_ms=1,
    )
    ((k, r),) = ctx.partitions()
    answer = ctx.answer([(k, r, result(hw=-1, error=ErrorCode.OFFSET_OUT_OF_RANGE))])
    assert len(answer.partitions) == 1


def test_incremental_add_update_forget() -> None:
    cache = FetchSessionCache(10)
    sid = open_session(cache, [req("a", 0, offset=5), req("a", 1)])
    ctx = cache.new_context(
        version=12,
        session_id=sid,
        session_epoch=1,
        is_follower=False,
        fetch_data=data(req("a", 0, offset=7), req("b", 0)),
        to_forget=[("a", 1)],
        now_ms=1,
    )
    parts = dict(ctx.partitions())
    assert set(parts) == {("a", 0), ("b", 0)}
    assert parts[("a", 0)].fetch_offset == 7
    # Forgetting the last partitions closes the session.
    ctx = cache.new_context(
        version=12,
        session_id=sid,
        session_epoch=2,
        is_follower=False,
        fetch_data={},
        to_forget=[("a", 0), ("b", 0)],
        now_ms=2,
    )
    assert isinstance(ctx, SessionlessFetchContext)
    assert cache.get(sid) is None


def test_duplicate_incremental_request_gets_invalid_epoch() -> None:
    cache = FetchSessionCache(10)
    sid = open_session(cache, [req("a", 0)])
    first = cache.new_context(
        version=12,
        session_id=sid,
        session_epoch=1,
        is_follower=False,
        fetch_data={},
        to_forget=[],
        now_ms=1,
    )
    second = cache.new_context(
        version=12,
        session_id=sid,
        session_epoch=2,
        is_follower=False,
        fetch_data={},
        to_forget=[],
        now_ms=1,
    )
    # The first one's answer comes after the second advanced the epoch.
    ((k, r),) = first.partitions()
    assert first.answer([(k, r, result())]).error_code == ErrorCode.INVALID_FETCH_SESSION_EPOCH
    assert second.answer([(k, r, result())]).error_code == 0


def test_topic_id_sessions_key_by_id() -> None:
    tid = uuid.uuid4()
    assert partition_key("a", tid, 3) == (tid, 3)
    assert partition_key("a", uuid.UUID(int=0), 3) == ("a", 3)
    assert partition_key(None, tid, 0) == (tid, 0)


def test_full_cache_refuses_new_young_sessions() -> None:
    cache = FetchSessionCache(2, eviction_ms=1000, rng=random.Random(1))
    assert open_session(cache, [req("a", 0)], now=0) != 0
    assert open_session(cache, [req("a", 0), req("a", 1)], now=0) != 0
    # Both are young and unprivileged: a consumer cannot take their slot.
    assert (
        open_session(cache, [req("a", 0)] * 1 + [req("b", i) for i in range(5)], now=10)
        == INVALID_SESSION_ID
    )
    assert len(cache) == 2


def test_stale_session_is_evicted_first() -> None:
    cache = FetchSessionCache(2, eviction_ms=1000)
    s1 = open_session(cache, [req("a", 0)], now=0)
    s2 = open_session(cache, [req("a", 0)], now=500)
    s3 = open_session(cache, [req("a", 0)], now=1200)  # s1 unused for 1200 ms > 1000
    assert s3 != 0 and cache.get(s1) is None and cache.get(s2) is not None
    assert cache.evictions == 1


def test_privileged_newcomer_evicts_young_consumer_session() -> None:
    cache = FetchSessionCache(1, eviction_ms=1000)
    consumer = open_session(cache, [req("a", 0), req("a", 1)], now=0)
    follower = open_session(cache, [req("a", 0)], now=10, follower=True)
    assert follower != 0 and cache.get(consumer) is None
    # A consumer cannot push out a young follower session.
    assert open_session(cache, [req("a", i) for i in range(50)], now=20) == INVALID_SESSION_ID


def test_old_sessions_evicted_by_size_order() -> None:
    cache = FetchSessionCache(2, eviction_ms=1000)
    small = open_session(cache, [req("a", 0)], now=0)
    big = open_session(cache, [req("a", i) for i in range(3)], now=0)
    # Touch both after they are old enough to become evictable by anyone, but not stale.
    for sid in (small, big):
        session = cache.get(sid)
        cache.touch(session, 1500)
    # A newcomer smaller than the smallest evictable session is refused.
    assert open_session(cache, [], now=1600) == INVALID_SESSION_ID
    # One at least as large as the smallest takes its slot.
    newcomer = open_session(cache, [req("b", 0), req("b", 1)], now=1600)
    assert newcomer != 0 and cache.get(small) is None and cache.get(big) is not None


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.booleans(), st.integers(0, 3000)), max_size=40))
def test_cache_never_exceeds_slots_and_ids_are_unique(ops: list) -> None:
    cache = FetchSessionCache(3, eviction_ms=1000, rng=random.Random(7))
    now = 0
    for size, follower, dt in ops:
        now += dt
        sid = open_session(cache, [req("t", i) for i in range(size)], now=now, follower=follower)
        assert len(cache) <= 3
        if sid:
            assert cache.get(sid) is not None
        assert all(sid != INVALID_SESSION_ID for sid in cache.sessions)


def test_cached_partition_remembers_offsets() -> None:
    cp = CachedPartition(req("a", 0), result(hw=5, log_start=1))
    assert not cp.maybe_update_response_data(result(hw=5, log_start=1), True)
    assert cp.maybe_update_response_data(result(hw=6, log_start=1), False)
    assert cp.high_watermark == 5  # not updated when asked not to
    assert cp.maybe_update_response_data(result(hw=6, log_start=1), True)
    assert cp.high_watermark == 6
