"""KIP-848 consumer groups: assignors, reconciliation and the heartbeat's error codes."""

from __future__ import annotations

import uuid

import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from kpybroker.group_coordinator import (
    GroupConfig,
    GroupCoordinator,
    MemoryOffsetsLog,
    OffsetAndMetadata,
)
from kpybroker.group_coordinator.consumer_group import (
    ConsumerGroupMember,
    ConsumerGroupState,
    range_assign,
    uniform_assign,
)
from wire.errors import ErrorCode

T1, T2 = uuid.UUID(int=1), uuid.UUID(int=2)
TOPICS = {"a": (T1, 6), "b": (T2, 3)}


async def start(nursery, **kw):
    config = GroupConfig(num_partitions=1, consumer_session_timeout_ms=3000, initial_rebalance_delay_ms=0, **kw)
    coord = GroupCoordinator(config=config, log=MemoryOffsetsLog(), topic_lookup=TOPICS.get)
    await nursery.start(coord.run)
    await coord.on_partition_leader(0)
    return coord


async def hb(coord, member_id, epoch, owned=None, topics=None, **kw):
    if epoch == 0:
        topics = topics if topics is not None else ["a"]
        owned = {} if owned is None else owned
        kw.setdefault("rebalance_timeout_ms", 5000)
    return await coord.consumer_group_heartbeat("g", member_id, epoch, subscribed_topic_names=topics,
                                                owned=owned, version=1, **kw)


def total(assignment):
    return sum(len(ps) for ps in assignment.values())


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 7), st.integers(0, 20), st.booleans())
def test_assignors_cover_every_partition_once(n_members, n_parts, use_range):
    meta = {"a": (T1, n_parts)}
    members = {f"m{i}": ConsumerGroupMember(f"m{i}", subscribed_topic_names=["a"]) for i in range(n_members)}
    result = (range_assign if use_range else uniform_assign)(members, meta)
    seen = [p for a in result.values() for p in a.get(T1, ())]
    assert sorted(seen) == list(range(n_parts))
    sizes = [total(a) for a in result.values()]
    assert max(sizes) - min(sizes) <= 1


def test_uniform_is_sticky():
    meta = {"a": (T1, 6)}
    members = {m: ConsumerGroupMember(m, subscribed_topic_names=["a"]) for m in ("x", "y")}
    first = uniform_assign(members, meta)
    for m, a in first.items():
        members[m].assigned = a
    members["z"] = ConsumerGroupMember("z", subscribed_topic_names=["a"])
    second = uniform_assign(members, meta)
    # the old members only lose partitions, never swap them
    assert second["x"][T1] <= first["x"][T1] and second["y"][T1] <= first["y"][T1]
    assert [total(a) for a in second.values()] == [2, 2, 2]


async def test_join_revoke_then_hand_over(nursery):
    coord = await start(nursery)
    a = await hb(coord, "A", 0)
    assert a.error == 0 and a.member_epoch == 1 and a.assignment == {T1: set(range(6))}
    b = await hb(coord, "B", 0)
    # B's share is still owned by A: B moves to epoch 2 with nothing yet
    assert b.member_epoch == 2 and total(b.assignment) == 0
    group = coord.groups["g"]
    assert group.state is ConsumerGroupState.RECONCILING
    a2 = await hb(coord, "A", 1, owned={T1: set(range(6))})
    # A must give up three partitions before moving on: its epoch stays 1
    assert a2.member_epoch == 1 and total(a2.assignment) == 3
    kept = a2.assignment[T1]
    a3 = await hb(coord, "A", 1, owned={T1: kept})
    assert a3.member_epoch == 2 and a3.assignment is None
    b2 = await hb(coord, "B", 2, owned={})
    assert b2.assignment == {T1: set(range(6)) - kept}
    assert group.state is ConsumerGroupState.STABLE
    # ConsumerGroupDescribe data
    err, _, described = coord.consumer_group_describe("g")
    assert err == 0 and described.group_epoch == 2 and described.assignment_epoch == 2
    assert coord.list_groups()[1][0].group_type == "consumer"


async def test_heartbeat_errors(nursery):
    coord = await start(nursery)
    assert (await hb(coord, "", 0)).error == ErrorCode.INVALID_REQUEST
    r = await coord.consumer_group_heartbeat("", "A", 0, subscribed_topic_names=["a"], owned={},
                                             rebalance_timeout_ms=1, version=1)
    assert r.error == ErrorCode.INVALID_REQUEST
    r = await coord.consumer_group_heartbeat("g", "A", 0, subscribed_topic_names=None, owned={},
                                             rebalance_timeout_ms=1, version=1)
    assert r.error == ErrorCode.INVALID_REQUEST
    assert (await hb(coord, "A", 0, server_assignor="sticky")).error == ErrorCode.UNSUPPORTED_ASSIGNOR
    assert (await hb(coord, "ghost", 3, owned={})).error == ErrorCode.GROUP_ID_NOT_FOUND
    a = await hb(coord, "A", 0)
    assert (await hb(coord, "ghost", 3, owned={})).error == ErrorCode.UNKNOWN_MEMBER_ID
    assert (await hb(coord, "A", a.member_epoch + 1, owned={})).error == ErrorCode.FENCED_MEMBER_EPOCH
    # v0 lets the coordinator pick the member id
    v0 = await coord.consumer_group_heartbeat("g", "", 0, subscribed_topic_names=["a"], owned={},
                                              rebalance_timeout_ms=1000, version=0)
    assert v0.error == 0 and v0.member_id
    # a classic group with members whose metadata is no consumer subscription cannot be
    # upgraded online, so it is not a consumer group
    await coord.join_group("c", "", None, "c", "/h", 1000, 10_000, "consumer", [("range", b"")],
                           require_known_member_id=False)
    r = await coord.consumer_group_heartbeat("c", "A", 0, subscribed_topic_names=["a"], owned={},
                                             rebalance_timeout_ms=1, version=1)
    assert r.error == ErrorCode.GROUP_ID_NOT_FOUND
    # classic members may join a consumer group that has members, but only with the
    # consumer protocol type
    j = await coord.join_group("g", "", None, "c", "/h", 1000, 10_000, "connect", [("range", b"")])
    assert j.error == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    j = await coord.join_group("g", "", None, "c", "/h", 1000, 10_000, "consumer", [("range", b"")])
    assert j.error == ErrorCode.MEMBER_ID_REQUIRED


async def test_offsets_with_member_epochs(nursery):
    coord = await start(nursery)
    a = await hb(coord, "A", 0)
    om = {("a", 0): OffsetAndMetadata(4)}
    assert await coord.commit_offsets("g", "A", None, a.member_epoch, om, api_version=9) == {("a", 0): 0}
    assert await coord.commit_offsets("g", "A", None, a.member_epoch, om, api_version=8) == {
        ("a", 0): ErrorCode.UNSUPPORTED_VERSION}
    assert await coord.commit_offsets("g", "A", None, 9, om, api_version=9) == {
        ("a", 0): ErrorCode.STALE_MEMBER_EPOCH}
    assert await coord.commit_offsets("g", "Z", None, 1, om) == {("a", 0): ErrorCode.UNKNOWN_MEMBER_ID}
    assert coord.fetch_offsets("g", None, member_id="A", member_epoch=0)[0] == ErrorCode.STALE_MEMBER_EPOCH
    err, got = coord.fetch_offsets("g", [("a", 0)], member_id="A", member_epoch=a.member_epoch)
    assert err == 0 and got[("a", 0)][0].offset == 4
    err, res = await coord.delete_offsets("g", [("a", 0)])
    assert res == {("a", 0): ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC}
    assert (await coord.delete_groups(["g"])) == {"g": ErrorCode.NON_EMPTY_GROUP}
    left = await hb(coord, "A", -1)
    assert left.member_epoch == -1 and not coord.groups["g"].members
    assert (await coord.delete_groups(["g"])) == {"g": ErrorCode.NONE}


async def test_session_expiry_and_static_rejoin(nursery, autojump_clock):
    coord = await start(nursery)
    a = await hb(coord, "A", 0, instance_id="i1")
    b = await hb(coord, "B", 0)
    await hb(coord, "A", a.member_epoch, owned=a.assignment)
    group = coord.groups["g"]
    # A steps away as a static member: it keeps its partitions meanwhile
    assert (await hb(coord, "A", -2, instance_id="i1")).member_epoch == -2
    a_parts = group.members["A"].assigned
    back = await hb(coord, "A2", 0, instance_id="i1")
    assert back.error == 0 and back.assignment == a_parts and "A" not in group.members
    # a second live incarnation of the same instance is refused
    dup = await hb(coord, "A3", 0, instance_id="i1")
    assert dup.error == ErrorCode.UNRELEASED_INSTANCE_ID
    # B stops heartbeating: after the session timeout it is gone
    for _ in range(5):
        await trio.sleep(1)
        await hb(coord, "A2", group.members["A2"].member_epoch, owned=group.members["A2"].assigned)
    assert "B" not in group.members and b.member_id == "B"


async def test_regex_subscription(nursery):
    config = GroupConfig(num_partitions=1, initial_rebalance_delay_ms=0)
    names = ["a", "b", "__consumer_offsets"]
    coord = GroupCoordinator(config=config, log=MemoryOffsetsLog(), topic_lookup=TOPICS.get,
                             topic_names=lambda: names)
    await nursery.start(coord.run)
    await coord.on_partition_leader(0)
    # As in Kafka, a regex new to the group is resolved after the heartbeat that
    # brought it: that heartbeat assigns nothing, the next one the matching topics.
    r = await coord.consumer_group_heartbeat("g", "A", 0, subscribed_topic_regex="[ab]", owned={},
                                             rebalance_timeout_ms=1000, version=1)
    assert r.error == 0 and r.assignment == {}
    await trio.sleep(0.01)
    r = await coord.consumer_group_heartbeat("g", "A", r.member_epoch, owned={}, version=1)
    assert r.error == 0 and r.assignment == {T1: set(range(6)), T2: {0, 1, 2}}
    assert coord.groups["g"].group_epoch == r.member_epoch == 2


async def test_regex_and_names_assign_the_names_first(nursery):
    # librdkafka's 0045_resubscribe_with_regex relies on this: subscribing to a
    # literal topic and a new regex gets the literal topic's partitions first.
    config = GroupConfig(num_partitions=1, initial_rebalance_delay_ms=0)
    names = ["a", "b"]
    coord = GroupCoordinator(config=config, log=MemoryOffsetsLog(), topic_lookup=TOPICS.get,
                             topic_names=lambda: names)
    await nursery.start(coord.run)
    await coord.on_partition_leader(0)
    r = await coord.consumer_group_heartbeat("g", "A", 0, subscribed_topic_names=["b"],
                                             subscribed_topic_regex="^a$", owned={},
                                             rebalance_timeout_ms=1000, version=1)
    assert r.error == 0 and r.assignment == {T2: {0, 1, 2}}
    await trio.sleep(0.01)
    r = await coord.consumer_group_heartbeat("g", "A", r.member_epoch, owned=r.assignment, version=1)
    assert r.assignment == {T1: set(range(6)), T2: {0, 1, 2}}
    # A second member with the same regex finds it resolved: no wait.
    r2 = await coord.consumer_group_heartbeat("g", "B", 0, subscribed_topic_regex="^a$", owned={},
                                              rebalance_timeout_ms=1000, version=1)
    assert r2.error == 0 and "^a$" not in coord.groups["g"].pending_regexes
    assert coord.groups["g"].members["B"].regex_topics == {"a"}


async def test_consumer_group_survives_reload(nursery):
    log = MemoryOffsetsLog()
    config = GroupConfig(num_partitions=1, initial_rebalance_delay_ms=0)
    coord = GroupCoordinator(config=config, log=log, topic_lookup=TOPICS.get)
    await nursery.start(coord.run)
    await coord.on_partition_leader(0)
    a = await hb(coord, "A", 0)
    b = await hb(coord, "B", 0, topics=["a", "b"])
    a2 = await hb(coord, "A", a.member_epoch, owned=a.assignment)
    await coord.commit_offsets("g", "A", None, a2.member_epoch, {("a", 1): OffsetAndMetadata(9)}, api_version=9)
    await hb(coord, "C", 0)
    await hb(coord, "C", -1)
    await trio.sleep(0.01)
    old = coord.groups["g"]

    fresh = GroupCoordinator(config=config, log=log, topic_lookup=TOPICS.get)
    await nursery.start(fresh.run)
    await fresh.on_partition_leader(0)
    g = fresh.groups["g"]
    assert (g.group_epoch, g.assignment_epoch) == (old.group_epoch, old.assignment_epoch)
    assert set(g.members) == {"A", "B"}
    for mid in ("A", "B"):
        assert g.members[mid].assigned == old.members[mid].assigned
        assert g.members[mid].pending_revocation == old.members[mid].pending_revocation
        assert g.members[mid].member_epoch == old.members[mid].member_epoch
        assert g.members[mid].state == old.members[mid].state
        assert g.target[mid] == old.target[mid]
    assert g.members["B"].subscribed_topic_names == ["a", "b"]
    assert g.offsets[("a", 1)].offset == 9
    assert g.subscription_metadata == old.subscription_metadata
    # the restored member carries on with its epoch
    r = await fresh.consumer_group_heartbeat("g", "B", b.member_epoch, owned=None, version=1)
    assert r.error == 0


async def _simulate(ops):
    config = GroupConfig(num_partitions=1, initial_rebalance_delay_ms=0, consumer_session_timeout_ms=60_000)
    coord = GroupCoordinator(config=config, log=MemoryOffsetsLog(), topic_lookup=TOPICS.get)
    # what each simulated client believes it owns, and its epoch
    clients: dict[str, tuple[int, dict]] = {}
    async with trio.open_nursery() as nursery:
        await nursery.start(coord.run)
        await coord.on_partition_leader(0)

        async def beat(mid, topics=None):
            epoch, owned = clients[mid]
            r = await coord.consumer_group_heartbeat(
                "g", mid, epoch, owned={t: set(p) for t, p in owned.items()},
                subscribed_topic_names=topics, version=1)
            assert r.error == 0, r
            if r.assignment is not None:
                owned = r.assignment
            clients[mid] = (r.member_epoch, owned)

        def check():
            group = coord.groups.get("g")
            if group is None:
                return
            seen: dict = {}
            for m in group.members.values():
                for t, ps in list(m.assigned.items()) + list(m.pending_revocation.items()):
                    for p in ps:
                        assert (t, p) not in seen, f"{(t, p)} owned by {seen[(t, p)]} and {m.member_id}"
                        seen[(t, p)] = m.member_id
            # what clients believe they own never overlaps either
            believed: dict = {}
            for mid, (_, owned) in clients.items():
                for t, ps in owned.items():
                    for p in ps:
                        assert (t, p) not in believed
                        believed[(t, p)] = mid

        for op, idx, topics in ops:
            names = sorted(clients)
            if op == "join" or not names:
                mid = f"m{len(clients) + idx}"
                if mid in clients:
                    continue
                r = await coord.consumer_group_heartbeat(
                    "g", mid, 0, subscribed_topic_names=topics, owned={}, rebalance_timeout_ms=60_000,
                    version=1)
                clients[mid] = (r.member_epoch, r.assignment or {})
            elif op == "leave":
                mid = names[idx % len(names)]
                await coord.consumer_group_heartbeat("g", mid, -1, version=1)
                del clients[mid]
            elif op == "resubscribe":
                await beat(names[idx % len(names)], topics)
            else:
                await beat(names[idx % len(names)])
            check()
        # every client keeps heartbeating: the group settles with each partition owned once
        for _ in range(6):
            for mid in sorted(clients):
                await beat(mid)
                check()
        group = coord.groups.get("g")
        if clients:
            assert group.state is ConsumerGroupState.STABLE
            wanted = set()
            for m in group.members.values():
                wanted |= m.topics()
            owned = sorted((t, p) for _, o in clients.values() for t, ps in o.items() for p in ps)
            expected = sorted((TOPICS[n][0], p) for n in wanted for p in range(TOPICS[n][1]))
            assert owned == expected
        nursery.cancel_scope.cancel()


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["join", "leave", "beat", "beat", "resubscribe"]),
                          st.integers(0, 4), st.sampled_from([["a"], ["b"], ["a", "b"]])),
                min_size=1, max_size=30))
def test_reconciliation_never_double_assigns(ops):
    trio.run(_simulate, ops)


async def test_online_upgrade_and_downgrade_survive_reload(nursery):
    """Kafka 4's group.consumer.migration.policy (bidirectional by default): a heartbeat
    of the consumer protocol upgrades a classic group with members, the classic member
    staying on with its session timeout and protocols (persisted in its member record);
    when the last consumer-protocol member leaves, the group is classic again."""
    from kpybroker.group_coordinator.consumer_group import ConsumerGroup
    from kpybroker.group_coordinator.group import ClassicGroup, GroupState
    from kpybroker.group_coordinator.migration import encode_assignment

    from .helpers import subscription

    log = MemoryOffsetsLog()
    config = GroupConfig(num_partitions=1, initial_rebalance_delay_ms=0)
    coord = GroupCoordinator(config=config, log=log, topic_lookup=TOPICS.get)
    await nursery.start(coord.run)
    await coord.on_partition_leader(0)
    protocols = [("range", subscription("a"))]
    j = await coord.join_group("g", "", None, "c", "/h", 1000, 10_000, "consumer", protocols,
                               require_known_member_id=False)
    cid = j.member_id
    s = await coord.sync_group("g", j.generation_id, cid, None, "consumer", "range",
                               {cid: encode_assignment(0, [("a", list(range(6)))])})
    assert s.error == ErrorCode.NONE
    r = await hb(coord, "A", 0)
    assert r.error == ErrorCode.NONE
    g = coord.groups["g"]
    assert isinstance(g, ConsumerGroup) and set(g.members) == {cid, "A"}
    member = g.members[cid]
    assert member.classic is not None and member.classic.session_timeout_ms == 10_000
    assert member.classic.protocols == protocols
    # the classic member held everything; the new member waits for half of it, and the
    # classic member is told to rejoin
    assert member.assigned == {T1: set(range(6))}
    assert coord.heartbeat("g", cid, None, j.generation_id) == ErrorCode.REBALANCE_IN_PROGRESS
    await trio.sleep(0.01)

    fresh = GroupCoordinator(config=config, log=log, topic_lookup=TOPICS.get)
    await nursery.start(fresh.run)
    await fresh.on_partition_leader(0)
    restored = fresh.groups["g"]
    assert isinstance(restored, ConsumerGroup)
    assert restored.members[cid].classic == member.classic
    assert restored.members["A"].classic is None

    assert (await hb(coord, "A", -1)).error == ErrorCode.NONE
    down = coord.groups["g"]
    assert isinstance(down, ClassicGroup) and set(down.members) == {cid}
    assert down.is_in(GroupState.PREPARING_REBALANCE) and down.protocol_name == "range"
    await trio.sleep(0.01)
    fresh2 = GroupCoordinator(config=config, log=log, topic_lookup=TOPICS.get)
    await nursery.start(fresh2.run)
    await fresh2.on_partition_leader(0)
    again = fresh2.groups["g"]
    assert isinstance(again, ClassicGroup) and set(again.members) == {cid}


async def test_migration_policy_disabled_refuses_upgrade(nursery):
    from .helpers import subscription

    coord = await start(nursery, consumer_migration_policy="disabled")
    await coord.join_group("c", "", None, "c", "/h", 1000, 10_000, "consumer", [("range", subscription("a"))],
                           require_known_member_id=False)
    r = await coord.consumer_group_heartbeat("c", "A", 0, subscribed_topic_names=["a"], owned={},
                                             rebalance_timeout_ms=1000, version=1)
    assert r.error == ErrorCode.GROUP_ID_NOT_FOUND
