"""Random sequences of group operations keep the group's bookkeeping consistent."""

from __future__ import annotations

import trio
import trio.testing
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kpybroker.group_coordinator import GroupConfig, GroupCoordinator, GroupState, MemoryOffsetsLog
from wire.errors import ErrorCode

from .helpers import subscription

OPS = st.lists(
    st.tuples(
        st.sampled_from(["join", "join_static", "rejoin", "sync", "heartbeat", "leave", "commit", "sleep"]),
        st.integers(0, 3),
        st.sampled_from([("range", "rr"), ("rr",), ("range",)]),
    ),
    min_size=1,
    max_size=25,
)


def check_invariants(coord: GroupCoordinator) -> None:
    for group_id, group in coord.groups.items():
        if group.state is GroupState.PREPARING_REBALANCE:
            # only the join deadline (or everyone rejoining) ends a rebalance: without
            # it a member that never comes back holds the group there forever
            assert coord.timers.is_scheduled(("join", group_id))
        awaiting = sum(1 for m in group.members.values() if m.join_waiter is not None)
        assert group.num_members_awaiting_join == awaiting
        if group.members:
            assert group.leader_id in group.members
        else:
            assert group.state in (GroupState.EMPTY, GroupState.PREPARING_REBALANCE, GroupState.DEAD)
        counts: dict[str, int] = {}
        for m in group.members.values():
            for name in m.protocol_names():
                counts[name] = counts.get(name, 0) + 1
        assert {k: v for k, v in group.supported_protocols.items() if v} == counts
        for instance, member_id in group.static_members.items():
            assert group.members[member_id].group_instance_id == instance
        assert not (group.pending_members & set(group.members))
        if group.state in (GroupState.COMPLETING_REBALANCE, GroupState.STABLE):
            assert group.protocol_name in group.candidate_protocols()
        if group.state is GroupState.COMPLETING_REBALANCE:
            assert all(m.join_waiter is None for m in group.members.values())
        if group.state is GroupState.STABLE:
            # A static member rejoining a stable group under a new member id waits
            # while that id is stored, without a rebalance (Kafka's
            # updateStaticMemberAndRebalance); nobody else waits in Stable.
            assert all(m.join_waiter is None or m.group_instance_id is not None
                       for m in group.members.values())
        if group.state is not GroupState.COMPLETING_REBALANCE:
            assert all(m.sync_waiter is None for m in group.members.values())


async def run_ops(ops) -> None:
    config = GroupConfig(num_partitions=1, initial_rebalance_delay_ms=100, min_session_timeout_ms=100)
    coord = GroupCoordinator(config=config, log=MemoryOffsetsLog())
    known: list[tuple[str, str | None]] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(coord.run)
        await coord.on_partition_leader(0)

        async def join(member_id, instance, names, topic="t"):
            protocols = [(n, subscription(topic)) for n in names]
            r = await coord.join_group("g", member_id, instance, "c", "/h", 500, 1000, "consumer",
                                       protocols, require_known_member_id=instance is None)
            if r.error == ErrorCode.MEMBER_ID_REQUIRED:
                r = await coord.join_group("g", r.member_id, None, "c", "/h", 500, 1000, "consumer",
                                           protocols)
            if r.error == ErrorCode.NONE and (r.member_id, instance) not in known:
                known.append((r.member_id, instance))

        async def sync(member_id, instance):
            group = coord.groups.get("g")
            gen = group.generation_id if group else 0
            await coord.sync_group("g", gen, member_id, instance, None, None,
                                   {member_id: b"a"})

        for op, idx, names in ops:
            if op == "join":
                nursery.start_soon(join, "", None, names)
            elif op == "join_static":
                nursery.start_soon(join, "", f"i{idx}", names)
            elif op == "sleep":
                await trio.sleep(idx * 0.4)
            elif known:
                member_id, instance = known[idx % len(known)]
                group = coord.groups.get("g")
                gen = group.generation_id if group else 0
                if op == "rejoin":
                    # a known member joins again, its subscription changed or not
                    nursery.start_soon(join, member_id, instance, names, "tu"[idx % 2])
                elif op == "sync":
                    nursery.start_soon(sync, member_id, instance)
                elif op == "heartbeat":
                    coord.heartbeat("g", member_id, instance, gen)
                elif op == "leave":
                    coord.leave_group("g", [(member_id, instance)])
                elif op == "commit":
                    from kpybroker.group_coordinator import OffsetAndMetadata

                    nursery.start_soon(coord.commit_offsets, "g", member_id, instance, gen,
                                       {("t", 0): OffsetAndMetadata(1)})
            await trio.sleep(0)
            check_invariants(coord)
        # let every timer run out: all sessions expire, the group ends Empty
        await trio.sleep(10)
        check_invariants(coord)
        group = coord.groups.get("g")
        if group is not None:
            assert group.state is GroupState.EMPTY and not group.members
        nursery.cancel_scope.cancel()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
# Found by hypothesis: the static member's third join lands in Stable.
@example([("join_static", 0, ("range", "rr")), ("join_static", 0, ("range", "rr")), ("sleep", 1, ("range", "rr")),
          ("sync", 0, ("range", "rr")), ("join_static", 0, ("range", "rr"))])
# Members of a stable group rejoin one by one: the rebalance waits on the join deadline.
@example([("join", 0, ("range",)), ("join", 1, ("range",)), ("join", 2, ("range",)), ("sleep", 1, ("range",)),
          ("sync", 0, ("range",)), ("sync", 1, ("range",)), ("sync", 2, ("range",)),
          ("rejoin", 0, ("range",)), ("rejoin", 1, ("range",)), ("sleep", 3, ("range",))])
def test_random_operations_keep_invariants(ops):
    trio.run(run_ops, ops, clock=trio.testing.MockClock(autojump_threshold=0))
