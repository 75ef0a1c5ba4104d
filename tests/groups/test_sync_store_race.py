"""Regression: a member joining between the leader's SyncGroup and the assignment store.

The leader's SyncGroup (group in CompletingRebalance) spawns
``_store_leader_assignment`` as a background task. If, before that task runs, a new
member joins whose protocols do not include the selected one, the group is back in
PreparingRebalance; building the GroupMetadataValue then asked the newcomer for its
"range" metadata (KeyError), and the unguarded background task took the whole
coordinator (and broker) down.
"""

from __future__ import annotations

import logging

import trio
import trio.testing

from kpybroker.group_coordinator import GroupState
from kpybroker.group_coordinator import records as rec
from wire.errors import ErrorCode

from .helpers import subscription
from .test_state_machine import join, join_new, start

BOTH = [("range", subscription("t")), ("roundrobin", subscription("t"))]
ROUNDROBIN_ONLY = [("roundrobin", subscription("t", "u"))]


def group_records(coord):
    decoded = [rec.decode_record(k, v) for k, v in coord.log.partitions.get(0, [])]
    return [d for d in decoded if isinstance(d, rec.GroupRecord)]


async def test_member_joins_before_leader_assignment_is_stored(nursery, caplog):
    caplog.set_level(logging.ERROR)
    with trio.fail_after(30):
        await _scenario(nursery, caplog)


async def _scenario(nursery, caplog):
    coord = await start(nursery)
    group_name = "g"
    results = {}

    async def member(name):
        results[name] = await join_new(coord, protocols=BOTH)

    async with trio.open_nursery() as n:
        n.start_soon(member, "a")
        n.start_soon(member, "b")
    a, b = results["a"], results["b"]
    assert a.error == b.error == ErrorCode.NONE
    assert a.generation_id == b.generation_id == 1
    assert a.protocol_name == b.protocol_name == "range"
    leader, follower = (a, b) if a.leader_id == a.member_id else (b, a)
    group = coord.groups[group_name]
    assert group.state is GroupState.COMPLETING_REBALANCE

    # the newcomer's first (v4+) JoinGroup only gets it a member id: no rebalance yet
    first = await join(coord, protocols=ROUNDROBIN_ONLY)
    assert first.error == ErrorCode.MEMBER_ID_REQUIRED
    newcomer_id = first.member_id
    assert group.state is GroupState.COMPLETING_REBALANCE and group.generation_id == 1
    stored_before = len(group_records(coord))

    synced = {}

    async def sync(res, assignments):
        synced[res.member_id] = await coord.sync_group(
            group_name, 1, res.member_id, None, "consumer", "range", assignments
        )

    # The store task the leader's SyncGroup spawns is queued but must not have run when
    # the newcomer joins. trio's run order within a batch is shuffled under pytest-trio,
    # so rather than hope for it, hold the spawned task at its start until we let it go
    # (the same ordering the scheduler may pick: spawned, newcomer joins, task runs).
    gate = trio.Event()
    held = []
    real_spawn = coord._spawn

    def spawn(fn, *args):
        if getattr(fn, "__name__", "") != "_store_leader_assignment":
            return real_spawn(fn, *args)

        async def _store_leader_assignment(*a):
            await gate.wait()
            await fn(*a)

        held.append(args)
        return real_spawn(_store_leader_assignment, *args)

    coord._spawn = spawn
    joined = {}

    async def newcomer():
        joined["r"] = await join(coord, member_id=newcomer_id, protocols=ROUNDROBIN_ONLY)

    async with trio.open_nursery() as n:
        # the follower waits for the leader's assignment
        n.start_soon(sync, follower, {})
        await trio.testing.wait_all_tasks_blocked()
        assert follower.member_id not in synced
        n.start_soon(sync, leader, {leader.member_id: b"L", follower.member_id: b"F"})
        await trio.testing.wait_all_tasks_blocked()
        # the leader's SyncGroup spawned the store, which has not run yet
        assert len(held) == 1 and held[0][1] == 1
        assert group.state is GroupState.COMPLETING_REBALANCE and group.generation_id == 1
        assert len(group_records(coord)) == stored_before
        assert not synced
        # the newcomer supports only "roundrobin": the group goes back to PreparingRebalance
        n.start_soon(newcomer)
        await trio.testing.wait_all_tasks_blocked()
        assert group.state is GroupState.PREPARING_REBALANCE
        assert group.has(newcomer_id)
        # now the store task runs, against a group that moved on
        gate.set()
        await trio.testing.wait_all_tasks_blocked()
        coord._spawn = real_spawn
        # the pending SyncGroups were answered with REBALANCE_IN_PROGRESS
        assert synced[leader.member_id].error == ErrorCode.REBALANCE_IN_PROGRESS
        assert synced[follower.member_id].error == ErrorCode.REBALANCE_IN_PROGRESS
        assert group.state is GroupState.PREPARING_REBALANCE
        assert coord.heartbeat(group_name, follower.member_id, None, 1) == ErrorCode.REBALANCE_IN_PROGRESS
        # the old members rejoin; the newcomer's JoinGroup is still waiting in `newcomer`
        rejoined = {}

        async def rejoin(res):
            rejoined[res.member_id] = await join(coord, member_id=res.member_id, protocols=BOTH)

        async with trio.open_nursery() as rn:
            rn.start_soon(rejoin, leader)
            rn.start_soon(rejoin, follower)
    # the newcomer's join task finished with its nursery
    new = joined["r"]
    everyone = [rejoined[leader.member_id], rejoined[follower.member_id], new]
    assert all(r.error == ErrorCode.NONE for r in everyone)
    assert {r.generation_id for r in everyone} == {2}
    assert {r.protocol_name for r in everyone} == {"roundrobin"}
    assert group.protocol_name == "roundrobin"
    assert group.state is GroupState.COMPLETING_REBALANCE
    leader2 = [r for r in everyone if r.leader_id == r.member_id]
    assert len(leader2) == 1
    leader2 = leader2[0]
    all_ids = {leader.member_id, follower.member_id, newcomer_id}
    assert {m[0] for m in leader2.members} == all_ids

    # generation 2 completes normally
    assignments = {mid: mid.encode() for mid in all_ids}
    final = {}

    async def sync2(mid, asg):
        final[mid] = await coord.sync_group(group_name, 2, mid, None, "consumer", "roundrobin", asg)

    async with trio.open_nursery() as n:
        for mid in all_ids:
            n.start_soon(sync2, mid, assignments if mid == leader2.member_id else {})
    for mid in all_ids:
        assert final[mid].error == ErrorCode.NONE
        assert final[mid].protocol_name == "roundrobin"
        assert final[mid].assignment == mid.encode()
    assert group.state is GroupState.STABLE and group.generation_id == 2
    for mid in all_ids:
        assert coord.heartbeat(group_name, mid, None, 2) == ErrorCode.NONE

    # the coordinator is still serving, with a consistent picture of the group
    assert coord.active and coord._nursery is not None
    d = coord.describe_group(group_name)
    assert d.error == ErrorCode.NONE
    assert d.state == "Stable" and d.protocol == "roundrobin" and d.protocol_type == "consumer"
    by_id = {m.member_id: m for m in d.members}
    assert set(by_id) == all_ids
    assert by_id[newcomer_id].metadata == ROUNDROBIN_ONLY[0][1]
    assert by_id[leader.member_id].metadata == BOTH[1][1]
    records = group_records(coord)
    # the stale generation-1 assignment was never written; generation 2 was
    assert all(r.value.generation != 1 for r in records[stored_before:])
    last = records[-1]
    assert last.value.generation == 2 and last.value.protocol == "roundrobin"
    assert {m.member_id for m in last.value.members} == all_ids
    # another group is still served too
    other = await join_new(coord, group="other", protocols=BOTH)
    assert other.error == ErrorCode.NONE and other.protocol_name == "range"
    # and nothing blew up in the background
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
