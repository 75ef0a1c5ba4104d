"""The classic group state machine, driven directly on trio's mock clock."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import trio

from kpybroker.group_coordinator import (
    GroupConfig,
    GroupCoordinator,
    GroupState,
    MemoryOffsetsLog,
    OffsetAndMetadata,
    java_string_hash,
    partition_for,
)
from kpybroker.group_coordinator import records as rec
from kpybroker.group_coordinator.coordinator import map_offsets_append_error
from kpybroker.replica_manager import AppendResult
from kpybroker.transaction_coordinator.txn_offsets import PendingTxnOffsets
from wire.errors import ErrorCode

from .helpers import subscription

PROTO = [("range", subscription("t"))]


def make_config(**kw) -> GroupConfig:
    base = dict(num_partitions=1, initial_rebalance_delay_ms=0, min_session_timeout_ms=100)
    base.update(kw)
    return GroupConfig(**base)


async def start(nursery, log=None, **kw) -> GroupCoordinator:
    coord = GroupCoordinator(config=make_config(**kw), log=log or MemoryOffsetsLog())
    await nursery.start(coord.run)
    for p in range(coord.config.num_partitions):
        await coord.on_partition_leader(p)
    return coord


async def join(coord, group="g", member_id="", instance=None, protocols=PROTO, session=10_000,
               rebalance=20_000, protocol_type="consumer", **kw):
    return await coord.join_group(group, member_id, instance, "client", "/127.0.0.1", rebalance,
                                  session, protocol_type, protocols, **kw)


async def join_new(coord, group="g", **kw):
    """The v4+ dance: MEMBER_ID_REQUIRED, then join with the given id."""
    first = await join(coord, group, **kw)
    assert first.error == ErrorCode.MEMBER_ID_REQUIRED
    return await join(coord, group, member_id=first.member_id, **kw)


def test_java_string_hash_matches_java():
    assert java_string_hash("") == 0
    assert java_string_hash("a") == 97
    assert java_string_hash("Aa") == java_string_hash("BB") == 2112
    assert java_string_hash("hello") == 99162322
    # the famous string whose hashCode is Integer.MIN_VALUE: Utils.abs maps it to 0
    assert java_string_hash("polygenelubricants") == -(2**31)
    assert partition_for("polygenelubricants", 50) == 0
    assert partition_for("hello", 50) == 99162322 % 50
    # negative hashes are folded by absolute value, non-ASCII by UTF-16 units
    assert java_string_hash("é😀") == ((0xE9 * 31 + 0xD83D) * 31 + 0xDE00)
    assert partition_for("zzzzzzzzzzzz", 7) == abs(java_string_hash("zzzzzzzzzzzz")) % 7


async def test_two_members_rebalance_and_sync(nursery):
    coord = await start(nursery)
    results = {}

    async def member(name):
        results[name] = await join_new(coord)

    async with trio.open_nursery() as n:
        n.start_soon(member, "a")
        n.start_soon(member, "b")
    a, b = results["a"], results["b"]
    assert a.error == b.error == ErrorCode.NONE
    assert a.generation_id == b.generation_id == 1
    assert a.leader_id == b.leader_id
    assert a.protocol_name == "range" and a.protocol_type == "consumer"
    leader, follower = (a, b) if a.leader_id == a.member_id else (b, a)
    assert {m[0] for m in leader.members} == {a.member_id, b.member_id}
    assert follower.members == []
    group = coord.groups["g"]
    assert group.state is GroupState.COMPLETING_REBALANCE

    synced = {}

    async def sync(res, assignments):
        synced[res.member_id] = await coord.sync_group("g", 1, res.member_id, None, "consumer",
                                                       "range", assignments)

    async with trio.open_nursery() as n:
        # the follower arrives first and waits for the leader's assignment
        n.start_soon(sync, follower, {})
        await trio.sleep(1)
        assert follower.member_id not in synced
        n.start_soon(sync, leader, {leader.member_id: b"L", follower.member_id: b"F"})
    assert synced[leader.member_id].assignment == b"L"
    assert synced[follower.member_id].assignment == b"F"
    assert group.state is GroupState.STABLE
    assert coord.heartbeat("g", follower.member_id, None, 1) == ErrorCode.NONE
    # the group was persisted with its assignment
    records = coord.log.partitions[0]
    decoded = [rec.decode_record(k, v) for k, v in records]
    last = [d for d in decoded if isinstance(d, rec.GroupRecord)][-1]
    assert last.value.generation == 1
    assert {bytes(m.assignment) for m in last.value.members} == {b"L", b"F"}


async def test_sync_checks(nursery):
    coord = await start(nursery)
    r = await join_new(coord)
    assert (await coord.sync_group("g", 2, r.member_id, None, None, None, {})).error == ErrorCode.ILLEGAL_GENERATION
    assert (await coord.sync_group("g", 1, "nobody", None, None, None, {})).error == ErrorCode.UNKNOWN_MEMBER_ID
    assert (await coord.sync_group("nogroup", 1, "x", None, None, None, {})).error == ErrorCode.UNKNOWN_MEMBER_ID
    assert (await coord.sync_group("g", 1, r.member_id, None, "other", None, {})).error == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    assert (await coord.sync_group("g", 1, r.member_id, None, None, "roundrobin", {})).error == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    ok = await coord.sync_group("g", 1, r.member_id, None, "consumer", "range", {r.member_id: b"x"})
    assert ok.error == ErrorCode.NONE and ok.assignment == b"x"
    # a stable group just hands back the current assignment
    again = await coord.sync_group("g", 1, r.member_id, None, None, None, {})
    assert again.assignment == b"x"


async def test_join_errors(nursery):
    coord = await start(nursery, max_size=1, max_session_timeout_ms=60_000)
    assert (await join(coord, group="")).error == ErrorCode.INVALID_GROUP_ID
    assert (await join(coord, session=50)).error == ErrorCode.INVALID_SESSION_TIMEOUT
    assert (await join(coord, session=60_001)).error == ErrorCode.INVALID_SESSION_TIMEOUT
    assert (await join(coord, member_id="ghost")).error == ErrorCode.UNKNOWN_MEMBER_ID
    assert (await join(coord, protocol_type="")).error == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    r = await join_new(coord)
    assert r.error == ErrorCode.NONE
    # a group of max size 1 refuses a second member
    full = await join(coord, require_known_member_id=False)
    assert full.error == ErrorCode.GROUP_MAX_SIZE_REACHED and full.member_id == ""
    # the known member rejoining is fine and the old generation's id is still valid
    assert coord.heartbeat("g", r.member_id, None, 1) == ErrorCode.NONE


async def test_inconsistent_protocol(nursery):
    coord = await start(nursery)
    r = await join_new(coord)
    assert r.error == ErrorCode.NONE
    bad = await join(coord, protocols=[("roundrobin", b"")])
    assert bad.error == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    bad_type = await join(coord, protocol_type="connect")
    assert bad_type.error == ErrorCode.INCONSISTENT_GROUP_PROTOCOL


async def test_protocol_chosen_by_votes(nursery):
    coord = await start(nursery)
    results = []

    async def member(protocols):
        results.append(await join(coord, protocols=protocols, require_known_member_id=False))

    async with trio.open_nursery() as n:
        n.start_soon(member, [("a", b""), ("b", b"")])
        n.start_soon(member, [("b", b""), ("a", b""), ("c", b"")])
        n.start_soon(member, [("b", b""), ("a", b"")])
    assert {r.protocol_name for r in results} == {"b"}


async def test_heartbeat_errors_and_rebalance(nursery):
    coord = await start(nursery)
    a = await join_new(coord)
    await coord.sync_group("g", 1, a.member_id, None, None, None, {})
    assert coord.heartbeat("g", "ghost", None, 1) == ErrorCode.UNKNOWN_MEMBER_ID
    assert coord.heartbeat("g", a.member_id, None, 7) == ErrorCode.ILLEGAL_GENERATION
    assert coord.heartbeat("other", a.member_id, None, 1) == ErrorCode.UNKNOWN_MEMBER_ID
    assert coord.heartbeat("", a.member_id, None, 1) == ErrorCode.INVALID_GROUP_ID
    b_result = {}

    async def b():
        b_result["r"] = await join_new(coord)

    nursery.start_soon(b)
    await trio.sleep(0.01)
    assert coord.groups["g"].state is GroupState.PREPARING_REBALANCE
    assert coord.heartbeat("g", a.member_id, None, 1) == ErrorCode.REBALANCE_IN_PROGRESS
    # commits are still allowed while preparing
    res = await coord.commit_offsets("g", a.member_id, None, 1, {("t", 0): OffsetAndMetadata(5)})
    assert res == {("t", 0): ErrorCode.NONE}
    a2 = await join(coord, member_id=a.member_id)
    await trio.sleep(0.01)
    assert a2.generation_id == 2 and b_result["r"].generation_id == 2
    assert coord.groups["g"].state is GroupState.COMPLETING_REBALANCE
    res = await coord.commit_offsets("g", a.member_id, None, 2, {("t", 0): OffsetAndMetadata(6)})
    assert res == {("t", 0): ErrorCode.REBALANCE_IN_PROGRESS}


async def test_session_expiry_removes_member(nursery, autojump_clock):
    coord = await start(nursery)
    a = await join_new(coord, session=1000)
    await coord.sync_group("g", 1, a.member_id, None, None, None, {})
    group = coord.groups["g"]
    for _ in range(5):
        await trio.sleep(0.5)
        assert coord.heartbeat("g", a.member_id, None, 1) == ErrorCode.NONE
    await trio.sleep(1.1)
    assert not group.has(a.member_id)
    # the last member leaving moves the group through a rebalance to Empty
    await trio.sleep(0.1)
    assert group.state is GroupState.EMPTY and group.generation_id == 2
    assert coord.heartbeat("g", a.member_id, None, 1) == ErrorCode.UNKNOWN_MEMBER_ID


async def test_pending_member_expires(nursery, autojump_clock):
    coord = await start(nursery)
    first = await join(coord, session=1000)
    assert first.error == ErrorCode.MEMBER_ID_REQUIRED
    group = coord.groups["g"]
    assert group.is_pending_member(first.member_id)
    await trio.sleep(1.1)
    assert not group.is_pending_member(first.member_id)


async def test_member_not_rejoining_is_dropped_after_rebalance_timeout(nursery, autojump_clock):
    coord = await start(nursery)
    results = {}

    async def member(name):
        results[name] = await join_new(coord, session=30_000, rebalance=2000)

    async with trio.open_nursery() as n:
        n.start_soon(member, "a")
        n.start_soon(member, "b")
    a, b = results["a"], results["b"]
    leader = a if a.leader_id == a.member_id else b
    other = b if leader is a else a
    async with trio.open_nursery() as n:
        n.start_soon(coord.sync_group, "g", 1, other.member_id, None, None, None, {})
        n.start_soon(coord.sync_group, "g", 1, leader.member_id, None, None, None, {})
    # the leader rejoins to force a rebalance; the other never does
    start_t = trio.current_time()
    r = await join(coord, member_id=leader.member_id, session=30_000, rebalance=2000)
    assert trio.current_time() - start_t == pytest.approx(2.0, abs=0.01)
    assert r.generation_id == 2 and r.members and len(r.members) == 1
    assert not coord.groups["g"].has(other.member_id)


async def test_initial_rebalance_delay(nursery, autojump_clock):
    coord = await start(nursery, initial_rebalance_delay_ms=3000)
    t0 = trio.current_time()
    r = await join_new(coord)
    assert r.error == ErrorCode.NONE
    assert trio.current_time() - t0 == pytest.approx(3.0, abs=0.01)


async def test_pending_sync_members_removed(nursery, autojump_clock):
    coord = await start(nursery)
    results = {}

    async def member(name):
        results[name] = await join_new(coord, session=30_000, rebalance=2000)

    async with trio.open_nursery() as n:
        n.start_soon(member, "a")
        n.start_soon(member, "b")
    a = results["a"]
    # only a syncs (and a may be the follower, in which case it waits)
    with trio.move_on_after(5):
        s = await coord.sync_group("g", 1, a.member_id, None, None, None, {a.member_id: b"x"})
        assert s.error in (ErrorCode.NONE, ErrorCode.REBALANCE_IN_PROGRESS)
    await trio.sleep(2.5)
    assert not coord.groups["g"].has(results["b"].member_id)


async def test_leave_group(nursery):
    coord = await start(nursery)
    a = await join_new(coord)
    await coord.sync_group("g", 1, a.member_id, None, None, None, {})
    err, per_member = coord.leave_group("g", [(a.member_id, None), ("ghost", None)])
    assert err == ErrorCode.NONE
    assert per_member == [ErrorCode.NONE, ErrorCode.UNKNOWN_MEMBER_ID]
    await trio.sleep(0.01)
    assert coord.groups["g"].state is GroupState.EMPTY
    assert coord.leave_group("nogroup", [("x", None)]) == (ErrorCode.NONE, [ErrorCode.UNKNOWN_MEMBER_ID])


async def test_static_member_rejoin_keeps_assignment(nursery):
    coord = await start(nursery)
    a = await join(coord, instance="i1")
    assert a.error == ErrorCode.NONE and a.member_id.startswith("i1-")
    s = await coord.sync_group("g", 1, a.member_id, "i1", None, None, {a.member_id: b"A"})
    assert s.assignment == b"A"
    # restart: joins with no member id, same instance id, same metadata
    again = await join(coord, instance="i1")
    assert again.error == ErrorCode.NONE
    assert again.member_id != a.member_id
    assert again.generation_id == 1  # no rebalance
    assert coord.groups["g"].state is GroupState.STABLE
    s2 = await coord.sync_group("g", 1, again.member_id, "i1", None, None, {})
    assert s2.assignment == b"A"
    # the old incarnation is fenced
    assert coord.heartbeat("g", a.member_id, "i1", 1) == ErrorCode.FENCED_INSTANCE_ID
    assert (await join(coord, member_id=a.member_id, instance="i1")).error == ErrorCode.FENCED_INSTANCE_ID
    res = await coord.commit_offsets("g", a.member_id, "i1", 1, {("t", 0): OffsetAndMetadata(1)})
    assert res[("t", 0)] == ErrorCode.FENCED_INSTANCE_ID
    assert coord.leave_group("g", [(a.member_id, "i1")])[1] == [ErrorCode.FENCED_INSTANCE_ID]
    # an admin removes it by instance id alone
    assert coord.leave_group("g", [("", "i1")])[1] == [ErrorCode.NONE]


async def test_static_member_session_expiry(nursery, autojump_clock):
    coord = await start(nursery)
    a = await join(coord, instance="i1", session=1000)
    await coord.sync_group("g", 1, a.member_id, "i1", None, None, {})
    await trio.sleep(1.5)
    assert not coord.groups["g"].has(a.member_id)


async def test_commit_and_fetch_offsets(nursery):
    coord = await start(nursery, offset_metadata_max_bytes=10)
    # a simple consumer: generation -1, no member id, unknown group
    res = await coord.commit_offsets("simple", "", None, -1, {
        ("t", 0): OffsetAndMetadata(10, metadata="m"),
        ("t", 1): OffsetAndMetadata(11, metadata="x" * 11),
    })
    assert res == {("t", 0): ErrorCode.NONE, ("t", 1): ErrorCode.OFFSET_METADATA_TOO_LARGE}
    err, got = coord.fetch_offsets("simple", [("t", 0), ("t", 1), ("u", 0)])
    assert err == ErrorCode.NONE
    assert got[("t", 0)][0].offset == 10 and got[("t", 0)][0].metadata == "m"
    assert got[("t", 1)][0] is None and got[("u", 0)][0] is None
    err, everything = coord.fetch_offsets("simple", None)
    assert list(everything) == [("t", 0)]
    assert coord.fetch_offsets("nobody", None) == (ErrorCode.NONE, {})
    # a positive generation for a group that does not exist is stale
    res = await coord.commit_offsets("gone", "m", None, 3, {("t", 0): OffsetAndMetadata(1)})
    assert res == {("t", 0): ErrorCode.ILLEGAL_GENERATION}
    res = await coord.commit_offsets("gone", "m", None, 3, {("t", 0): OffsetAndMetadata(1)}, api_version=9)
    assert res == {("t", 0): ErrorCode.GROUP_ID_NOT_FOUND}
    # a live group refuses unknown members and stale generations
    a = await join_new(coord)
    res = await coord.commit_offsets("g", "ghost", None, 1, {("t", 0): OffsetAndMetadata(1)})
    assert res == {("t", 0): ErrorCode.UNKNOWN_MEMBER_ID}
    res = await coord.commit_offsets("g", a.member_id, None, 1, {("t", 0): OffsetAndMetadata(1)})
    assert res == {("t", 0): ErrorCode.REBALANCE_IN_PROGRESS}
    await coord.sync_group("g", 1, a.member_id, None, None, None, {})
    res = await coord.commit_offsets("g", a.member_id, None, 0, {("t", 0): OffsetAndMetadata(1)})
    assert res == {("t", 0): ErrorCode.ILLEGAL_GENERATION}
    res = await coord.commit_offsets("g", a.member_id, None, 1, {("t", 0): OffsetAndMetadata(1)})
    assert res == {("t", 0): ErrorCode.NONE}


async def test_failed_append_leaves_offsets_invisible(nursery):
    log = MemoryOffsetsLog()
    coord = await start(nursery, log=log)
    log.fail_with = ErrorCode.NOT_ENOUGH_REPLICAS
    res = await coord.commit_offsets("g", "", None, -1, {("t", 0): OffsetAndMetadata(3)})
    assert res == {("t", 0): ErrorCode.COORDINATOR_NOT_AVAILABLE}
    assert coord.fetch_offsets("g", [("t", 0)])[1][("t", 0)][0] is None
    log.fail_with = ErrorCode.NOT_LEADER_OR_FOLLOWER
    res = await coord.commit_offsets("g", "", None, -1, {("t", 0): OffsetAndMetadata(3)})
    assert res == {("t", 0): ErrorCode.NOT_COORDINATOR}


# Kafka 4's new group coordinator maps a failed __consumer_offsets append the same way
# for every write (CoordinatorOperationExceptionHelper.handleOperationException and
# GroupMetadataManager.appendGroupMetadataErrorToResponseError).
APPEND_ERRORS = [
    (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.COORDINATOR_NOT_AVAILABLE),
    (ErrorCode.NOT_ENOUGH_REPLICAS, ErrorCode.COORDINATOR_NOT_AVAILABLE),
    # acks=-1 here; Kafka 4 (acks=1 + high-watermark wait) sees this case as a timeout
    (ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND, ErrorCode.COORDINATOR_NOT_AVAILABLE),
    (ErrorCode.REQUEST_TIMED_OUT, ErrorCode.COORDINATOR_NOT_AVAILABLE),
    (ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.NOT_COORDINATOR),
    (ErrorCode.KAFKA_STORAGE_ERROR, ErrorCode.NOT_COORDINATOR),
    (ErrorCode.MESSAGE_TOO_LARGE, ErrorCode.UNKNOWN_SERVER_ERROR),
    (ErrorCode.RECORD_LIST_TOO_LARGE, ErrorCode.UNKNOWN_SERVER_ERROR),
    (ErrorCode.INVALID_FETCH_SIZE, ErrorCode.UNKNOWN_SERVER_ERROR),
    (ErrorCode.UNKNOWN_SERVER_ERROR, ErrorCode.UNKNOWN_SERVER_ERROR),
    (ErrorCode.INVALID_PRODUCER_EPOCH, ErrorCode.INVALID_PRODUCER_EPOCH),
    (ErrorCode.NONE, ErrorCode.NONE),
]


@pytest.mark.parametrize(("append", "expected"), APPEND_ERRORS)
def test_append_error_mapping(append, expected):
    assert map_offsets_append_error(append) == expected


@pytest.mark.parametrize(("append", "expected"), APPEND_ERRORS[:-1])
async def test_offset_commit_append_errors(nursery, append, expected):
    log = MemoryOffsetsLog()
    coord = await start(nursery, log=log)
    log.fail_with = append
    res = await coord.commit_offsets("g", "", None, -1, {("t", 0): OffsetAndMetadata(3)})
    assert res == {("t", 0): expected}


@pytest.mark.parametrize(("append", "expected"), APPEND_ERRORS[:-1])
async def test_sync_group_store_append_errors(nursery, append, expected):
    log = MemoryOffsetsLog()
    coord = await start(nursery, log=log)
    a = await join_new(coord)
    log.fail_with = append
    res = await coord.sync_group("g", 1, a.member_id, None, None, None, {a.member_id: b"x"})
    assert res.error == expected


@pytest.mark.parametrize(("append", "expected"), APPEND_ERRORS[:-1])
async def test_txn_offset_commit_append_errors(append, expected):
    async def append_records(batches, **kw):
        return {key: AppendResult(error_code=append) for key in batches}

    broker = SimpleNamespace(
        now_ms=lambda: 0,
        group_coordinator=SimpleNamespace(partition_for=lambda group_id: 0),
        replica_manager=SimpleNamespace(append_records=append_records),
    )
    pending = PendingTxnOffsets(broker)
    code = await pending.commit("g", 7, 0, {("t", 0): OffsetAndMetadata(3)})
    assert code == expected
    assert not pending.has_pending("g", ("t", 0))


async def test_reload_from_log(nursery):
    log = MemoryOffsetsLog()
    coord = await start(nursery, log=log, num_partitions=3)
    a = await join_new(coord, session=30_000)
    await coord.sync_group("g", 1, a.member_id, None, None, None, {a.member_id: b"asg"})
    await coord.commit_offsets("g", a.member_id, None, 1, {("t", 0): OffsetAndMetadata(42, 7, "meta", 1000)})
    await coord.commit_offsets("s", "", None, -1, {("t", 1): OffsetAndMetadata(5)})
    await coord.commit_offsets("d", "", None, -1, {("t", 1): OffsetAndMetadata(5)})
    assert (await coord.delete_groups(["d"])) == {"d": ErrorCode.NONE}

    fresh = await start(nursery, log=log, num_partitions=3)
    g = fresh.groups["g"]
    assert g.state is GroupState.STABLE and g.generation_id == 1
    assert g.get(a.member_id).assignment == b"asg"
    om = g.offsets[("t", 0)]
    assert (om.offset, om.leader_epoch, om.metadata) == (42, 7, "meta")
    assert fresh.groups["s"].offsets[("t", 1)].offset == 5
    assert "d" not in fresh.groups
    # the restored member keeps its generation and can carry on
    assert fresh.heartbeat("g", a.member_id, None, 1) == ErrorCode.NONE


async def test_coordinator_ownership_errors(nursery):
    coord = GroupCoordinator(config=make_config(num_partitions=2), log=MemoryOffsetsLog())
    assert (await join(coord)).error == ErrorCode.COORDINATOR_NOT_AVAILABLE
    await nursery.start(coord.run)
    assert (await join(coord)).error == ErrorCode.NOT_COORDINATOR
    p = coord.partition_for("g")
    coord._partitions[p] = "loading"
    assert (await join(coord)).error == ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
    assert coord.fetch_offsets("g", None)[0] == ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
    assert (await coord.sync_group("g", 1, "m", None, None, None, {})).error == ErrorCode.REBALANCE_IN_PROGRESS
    assert coord.heartbeat("g", "m", None, 1) == ErrorCode.NONE


async def test_delete_groups_and_describe(nursery):
    coord = await start(nursery)
    a = await join_new(coord)
    await coord.sync_group("g", 1, a.member_id, None, None, None, {a.member_id: b"asg"})
    d = coord.describe_group("g")
    assert d.state == "Stable" and d.protocol == "range" and d.protocol_type == "consumer"
    assert d.members[0].assignment == b"asg" and d.members[0].metadata == PROTO[0][1]
    assert coord.describe_group("nope").error == ErrorCode.GROUP_ID_NOT_FOUND
    await coord.commit_offsets("e", "", None, -1, {("t", 0): OffsetAndMetadata(1)})
    err, listed = coord.list_groups()
    assert {g.group_id: g.state for g in listed} == {"g": "Stable", "e": "Empty"}
    assert [g.group_id for g in coord.list_groups(states=["empty"])[1]] == ["e"]
    assert coord.list_groups(types=["consumer"])[1] == []
    res = await coord.delete_groups(["g", "e", "nope"])
    assert res == {"g": ErrorCode.NON_EMPTY_GROUP, "e": ErrorCode.NONE, "nope": ErrorCode.GROUP_ID_NOT_FOUND}
    assert coord.fetch_offsets("e", [("t", 0)])[1][("t", 0)][0] is None
    tomb = coord.log.partitions[0][-2:]
    assert tomb[0][1] is None and tomb[1] == (rec.group_metadata_key("e"), None)


async def test_offset_delete(nursery):
    coord = await start(nursery)
    a = await join_new(coord)
    await coord.sync_group("g", 1, a.member_id, None, None, None, {})
    await coord.commit_offsets("g", a.member_id, None, 1, {
        ("t", 0): OffsetAndMetadata(1), ("other", 0): OffsetAndMetadata(2)})
    err, res = await coord.delete_offsets("g", [("t", 0), ("other", 0)])
    assert err == ErrorCode.NONE
    assert res == {("t", 0): ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC, ("other", 0): ErrorCode.NONE}
    assert set(coord.groups["g"].offsets) == {("t", 0)}
    assert (await coord.delete_offsets("nope", [("t", 0)]))[0] == ErrorCode.GROUP_ID_NOT_FOUND
    # a non-consumer group that is not empty refuses outright
    await join(coord, group="c", protocol_type="connect", require_known_member_id=False)
    assert (await coord.delete_offsets("c", [("t", 0)]))[0] == ErrorCode.NON_EMPTY_GROUP


async def test_offset_retention(nursery, autojump_clock):
    coord = await start(nursery, offsets_retention_ms=60_000, offsets_retention_check_interval_ms=10_000)
    now = coord.now_ms()
    await coord.commit_offsets("s", "", None, -1, {("t", 0): OffsetAndMetadata(1, commit_timestamp=now)})
    await trio.sleep(30)
    assert "s" in coord.groups
    await trio.sleep(40)
    assert "s" not in coord.groups
    assert coord.log.partitions[0][-1] == (rec.group_metadata_key("s"), None)


async def test_topic_deletion_drops_offsets(nursery):
    coord = await start(nursery)
    await coord.commit_offsets("s", "", None, -1, {("t", 0): OffsetAndMetadata(1), ("u", 0): OffsetAndMetadata(2)})
    await coord.on_topic_deleted("t")
    assert set(coord.groups["s"].offsets) == {("u", 0)}
    assert coord.log.partitions[0][-1] == (rec.offset_commit_key("s", "t", 0), None)
