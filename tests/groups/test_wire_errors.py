"""Every group error code provoked over a real socket, with wire's codecs."""

from __future__ import annotations

import time

import pytest

from kpybroker.group_coordinator import partition_for
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.delete_groups import DeleteGroupsRequest
from wire.messages.describe_groups import DescribeGroupsRequest
from wire.messages.find_coordinator import FindCoordinatorRequest
from wire.messages.heartbeat import HeartbeatRequest
from wire.messages.join_group import JoinGroupRequest
from wire.messages.leave_group import LeaveGroupRequest
from wire.messages.list_groups import ListGroupsRequest
from wire.messages.offset_commit import OffsetCommitRequest
from wire.messages.offset_delete import OffsetDeleteRequest
from wire.messages.offset_fetch import OffsetFetchRequest
from wire.messages.sync_group import SyncGroupRequest

from .helpers import subscription


def find(client, key="g", key_type=0, version=3):
    for _ in range(50):
        r = client.request(FindCoordinatorRequest(key=key, key_type=key_type), version)
        if r.error_code != ErrorCode.COORDINATOR_NOT_AVAILABLE:
            return r
        time.sleep(0.1)
    return r


RANGE_T = (("range", subscription("t")),)


def join_req(group="g", member_id="", instance=None, protocols=RANGE_T,
             session=10_000, protocol_type="consumer"):
    return JoinGroupRequest(
        group_id=group, session_timeout_ms=session, rebalance_timeout_ms=10_000,
        member_id=member_id, group_instance_id=instance, protocol_type=protocol_type,
        protocols=[JoinGroupRequest.JoinGroupRequestProtocol(name=n, metadata=m) for n, m in protocols],
    )


def join(client, version=5, **kw):
    """Join until not loading; follows MEMBER_ID_REQUIRED."""
    for _ in range(50):
        r = client.request(join_req(**kw), version)
        if r.error_code == ErrorCode.MEMBER_ID_REQUIRED:
            kw["member_id"] = r.member_id
            continue
        if r.error_code != ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
            return r
        time.sleep(0.1)
    return r


def sync(client, group, gen, member, assignments=None, version=3, instance=None):
    return client.request(SyncGroupRequest(
        group_id=group, generation_id=gen, member_id=member, group_instance_id=instance,
        assignments=[SyncGroupRequest.SyncGroupRequestAssignment(member_id=m, assignment=a)
                     for m, a in (assignments or {}).items()]), version)


def commit(client, group, offsets, gen=-1, member="", metadata="", version=8, instance=None):
    topics = {}
    for (t, p), off in offsets.items():
        topics.setdefault(t, []).append(OffsetCommitRequest.OffsetCommitRequestPartition(
            partition_index=p, committed_offset=off, committed_metadata=metadata))
    r = client.request(OffsetCommitRequest(
        group_id=group, generation_id_or_member_epoch=gen, member_id=member, group_instance_id=instance,
        topics=[OffsetCommitRequest.OffsetCommitRequestTopic(name=t, partitions=ps) for t, ps in topics.items()]),
        version)
    return {(t.name, p.partition_index): p.error_code for t in r.topics for p in t.partitions}


@pytest.fixture
def gbroker(start_broker):
    b = start_broker({"group.min.session.timeout.ms": "1000", "group.max.size": "3",
                      "offset.metadata.max.bytes": "20"})
    b.call(b.broker.create_topic, "t", 2, 1, {})
    b.call(b.broker.create_topic, "u", 1, 1, {})
    return b


def test_find_coordinator_versions(gbroker, raw_client):
    c = raw_client(gbroker)
    first = c.request(FindCoordinatorRequest(key="g", key_type=0), 2)
    # the first lookup creates __consumer_offsets and is told to retry, as in Kafka
    assert first.error_code == ErrorCode.COORDINATOR_NOT_AVAILABLE
    r = find(c, version=0)
    assert r.error_code == 0 and r.node_id == gbroker.broker.broker_id and r.port == gbroker.port
    meta = gbroker.broker.metadata.get_topic("__consumer_offsets")
    assert meta.internal and len(meta.partitions) == 4
    assert meta.configs["cleanup.policy"] == "compact"
    batched = None
    for _ in range(50):
        batched = c.request(FindCoordinatorRequest(key_type=1, coordinator_keys=["a", "b"]), 4)
        if all(x.error_code == 0 for x in batched.coordinators):
            break
        time.sleep(0.1)
    assert [x.key for x in batched.coordinators] == ["a", "b"]
    assert all(x.error_code == 0 and x.port == gbroker.port for x in batched.coordinators)
    bad = c.request(FindCoordinatorRequest(key="g", key_type=7), 3)
    assert bad.error_code == ErrorCode.INVALID_REQUEST
    bad4 = c.request(FindCoordinatorRequest(key_type=5, coordinator_keys=["x"]), 4)
    assert bad4.coordinators[0].error_code == ErrorCode.INVALID_REQUEST


def test_join_sync_heartbeat_errors(gbroker, raw_client):
    a, b = raw_client(gbroker), raw_client(gbroker)
    find(a)
    assert a.request(join_req(group=""), 5).error_code == ErrorCode.INVALID_GROUP_ID
    assert join(a, session=999).error_code == ErrorCode.INVALID_SESSION_TIMEOUT
    assert join(a, member_id="ghost").error_code == ErrorCode.UNKNOWN_MEMBER_ID
    first = a.request(join_req(), 4)
    assert first.error_code == ErrorCode.MEMBER_ID_REQUIRED and first.member_id
    ra = join(a, member_id=first.member_id)
    assert ra.error_code == 0 and ra.generation_id == 1 and ra.leader == ra.member_id
    assert [m.member_id for m in ra.members] == [ra.member_id]
    s = sync(a, "g", 1, ra.member_id, {ra.member_id: b"A"})
    assert s.error_code == 0 and bytes(s.assignment) == b"A"
    assert sync(a, "g", 9, ra.member_id).error_code == ErrorCode.ILLEGAL_GENERATION
    assert sync(a, "g", 1, "ghost").error_code == ErrorCode.UNKNOWN_MEMBER_ID
    inconsistent = a.request(SyncGroupRequest(group_id="g", generation_id=1, member_id=ra.member_id,
                                              protocol_type="consumer", protocol_name="roundrobin"), 5)
    assert inconsistent.error_code == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    hb = a.request(HeartbeatRequest(group_id="g", generation_id=1, member_id=ra.member_id), 2)
    assert hb.error_code == 0
    assert a.request(HeartbeatRequest(group_id="g", generation_id=0, member_id=ra.member_id), 2).error_code \
        == ErrorCode.ILLEGAL_GENERATION
    assert a.request(HeartbeatRequest(group_id="g", generation_id=1, member_id="x"), 2).error_code \
        == ErrorCode.UNKNOWN_MEMBER_ID
    # incompatible protocols cannot join
    bad = join(b, protocols=(("roundrobin", b""),))
    assert bad.error_code == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    # b joins properly: a must rejoin, and hears so from its heartbeat
    first_b = b.request(join_req(), 5)
    b.send(join_req(member_id=first_b.member_id), 5)
    time.sleep(0.2)
    hb = a.request(HeartbeatRequest(group_id="g", generation_id=1, member_id=ra.member_id), 2)
    assert hb.error_code == ErrorCode.REBALANCE_IN_PROGRESS
    ra2 = join(a, member_id=ra.member_id)
    _, rb = b.receive(ApiKey.JOIN_GROUP, 5)
    assert ra2.generation_id == rb.generation_id == 2
    # commits in CompletingRebalance are refused
    assert commit(a, "g", {("t", 0): 1}, gen=2, member=ra.member_id) == {("t", 0): ErrorCode.REBALANCE_IN_PROGRESS}
    # the follower's SyncGroup waits for the leader
    leader, follower = (a, b) if ra2.leader == ra2.member_id else (b, a)
    lres, fres = (ra2, rb) if leader is a else (rb, ra2)
    follower.send(SyncGroupRequest(group_id="g", generation_id=2, member_id=fres.member_id), 3)
    ls = sync(leader, "g", 2, lres.member_id, {fres.member_id: b"F", lres.member_id: b"L"})
    _, fs = follower.receive(ApiKey.SYNC_GROUP, 3)
    assert bytes(ls.assignment) == b"L" and bytes(fs.assignment) == b"F"
    # DescribeGroups shows the stable group
    d = a.request(DescribeGroupsRequest(groups=["g", "nope"], include_authorized_operations=True), 5)
    g, nope = d.groups
    assert g.group_state == "Stable" and g.protocol_type == "consumer" and g.protocol_data == "range"
    assert sorted(bytes(m.member_assignment) for m in g.members) == [b"F", b"L"]
    assert {m.client_host for m in g.members} == {"/127.0.0.1"}
    assert g.authorized_operations == (1 << 3) | (1 << 6) | (1 << 8)
    assert nope.group_state == "Dead" and nope.error_code == 0
    nope6 = a.request(DescribeGroupsRequest(groups=["nope"]), 6).groups[0]
    assert nope6.error_code == ErrorCode.GROUP_ID_NOT_FOUND
    # group deletion refused while members remain; OffsetDelete refuses subscribed topics
    dg = a.request(DeleteGroupsRequest(groups_names=["g", "nope"]), 2)
    assert [(r.group_id, r.error_code) for r in dg.results] == [
        ("g", ErrorCode.NON_EMPTY_GROUP), ("nope", ErrorCode.GROUP_ID_NOT_FOUND)]
    assert commit(a, "g", {("t", 0): 5, ("u", 0): 6}, gen=2, member=ra.member_id) == {
        ("t", 0): 0, ("u", 0): 0}
    od = a.request(OffsetDeleteRequest(group_id="g", topics=[
        OffsetDeleteRequest.OffsetDeleteRequestTopic(name=t, partitions=[
            OffsetDeleteRequest.OffsetDeleteRequestPartition(partition_index=0)]) for t in ("t", "u")]), 0)
    assert od.error_code == 0
    assert {t.name: t.partitions[0].error_code for t in od.topics} == {
        "t": ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC, "u": 0}
    od2 = a.request(OffsetDeleteRequest(group_id="nope", topics=[]), 0)
    assert od2.error_code == ErrorCode.GROUP_ID_NOT_FOUND
    # leave: v3 batch with per-member errors; v0 single member
    lv = a.request(LeaveGroupRequest(group_id="g", members=[
        LeaveGroupRequest.MemberIdentity(member_id=ra.member_id),
        LeaveGroupRequest.MemberIdentity(member_id="ghost")]), 3)
    assert lv.error_code == 0 and [m.error_code for m in lv.members] == [0, ErrorCode.UNKNOWN_MEMBER_ID]
    lv0 = a.request(LeaveGroupRequest(group_id="g", member_id="ghost"), 0)
    assert lv0.error_code == ErrorCode.UNKNOWN_MEMBER_ID


def test_static_member_fenced_and_max_size(gbroker, start_broker, raw_client):
    a = raw_client(gbroker)
    find(a)
    r1 = join(a, instance="i1")
    assert r1.error_code == 0
    sync(a, "g", 1, r1.member_id, {r1.member_id: b"X"})
    r2 = join(a, instance="i1")
    assert r2.error_code == 0 and r2.member_id != r1.member_id and r2.generation_id == 1
    hb = a.request(HeartbeatRequest(group_id="g", generation_id=1, member_id=r1.member_id,
                                    group_instance_id="i1"), 3)
    assert hb.error_code == ErrorCode.FENCED_INSTANCE_ID
    assert sync(a, "g", 1, r2.member_id, instance="i1").assignment == b"X"
    # group.max.size=1: a second member is turned away from the stable group
    small = start_broker({"group.max.size": "1"})
    c = raw_client(small)
    find(c)
    only = join(c)
    sync(c, "g", 1, only.member_id)
    full = c.request(join_req(instance="x9"), 5)
    assert full.error_code == ErrorCode.GROUP_MAX_SIZE_REACHED


def test_offsets_over_the_wire(gbroker, raw_client):
    c = raw_client(gbroker)
    find(c, key="simple")
    for _ in range(50):
        res = commit(c, "simple", {("t", 0): 7, ("t", 1): 8, ("nosuch", 0): 1, ("t", 5): 1})
        if res[("t", 0)] != ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
            break
        time.sleep(0.1)
    assert res == {("t", 0): 0, ("t", 1): 0, ("nosuch", 0): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                   ("t", 5): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION}
    assert commit(c, "simple", {("t", 0): 9}, metadata="m" * 21) == {("t", 0): ErrorCode.OFFSET_METADATA_TOO_LARGE}
    assert commit(c, "gone", {("t", 0): 9}, gen=4, member="m") == {("t", 0): ErrorCode.ILLEGAL_GENERATION}
    # v2 carries a retention time (stored as an explicit expire timestamp)
    r2 = c.request(OffsetCommitRequest(group_id="simple", generation_id_or_member_epoch=-1,
                                       retention_time_ms=60_000, topics=[
        OffsetCommitRequest.OffsetCommitRequestTopic(name="u", partitions=[
            OffsetCommitRequest.OffsetCommitRequestPartition(partition_index=0, committed_offset=3)])]), 2)
    assert r2.topics[0].partitions[0].error_code == 0
    stored = gbroker.run_sync(lambda: gbroker.broker.group_coordinator.groups["simple"].offsets[("u", 0)])
    assert stored.expire_timestamp == stored.commit_timestamp + 60_000
    # A retention time past the end of a Java long wraps, as in Kafka: the commit
    # succeeds with an expire time in the past instead of failing the request.
    r2 = c.request(OffsetCommitRequest(group_id="v1g", generation_id_or_member_epoch=-1,
                                       retention_time_ms=2**63 - 1, topics=[
        OffsetCommitRequest.OffsetCommitRequestTopic(name="t", partitions=[
            OffsetCommitRequest.OffsetCommitRequestPartition(partition_index=0, committed_offset=4)])]), 2)
    assert r2.topics[0].partitions[0].error_code == 0
    stored = gbroker.run_sync(lambda: gbroker.broker.group_coordinator.groups["v1g"].offsets[("t", 0)])
    assert stored.expire_timestamp == stored.commit_timestamp + 2**63 - 1 - 2**64
    # v1 carries a commit timestamp per partition
    r1 = c.request(OffsetCommitRequest(group_id="v1g", generation_id_or_member_epoch=-1, topics=[
        OffsetCommitRequest.OffsetCommitRequestTopic(name="u", partitions=[
            OffsetCommitRequest.OffsetCommitRequestPartition(partition_index=0, committed_offset=1,
                                                             commit_timestamp=1234)])]), 1)
    assert r1.topics[0].partitions[0].error_code == 0
    stored = gbroker.run_sync(lambda: gbroker.broker.group_coordinator.groups["v1g"].offsets[("u", 0)])
    assert stored.commit_timestamp == 1234
    f = c.request(OffsetFetchRequest(group_id="simple", topics=[
        OffsetFetchRequest.OffsetFetchRequestTopic(name="t", partition_indexes=[0, 1])]), 1)
    assert [(p.partition_index, p.committed_offset) for p in f.topics[0].partitions] == [(0, 7), (1, 8)]
    f_all = c.request(OffsetFetchRequest(group_id="simple", topics=None), 7)
    assert sorted((t.name, p.partition_index, p.committed_offset) for t in f_all.topics for p in t.partitions) \
        == [("t", 0, 7), ("t", 1, 8), ("u", 0, 3)]
    multi = c.request(OffsetFetchRequest(groups=[
        OffsetFetchRequest.OffsetFetchRequestGroup(group_id="simple", topics=[
            OffsetFetchRequest.OffsetFetchRequestTopics(name="t", partition_indexes=[1, 0])]),
        OffsetFetchRequest.OffsetFetchRequestGroup(group_id="unknown", topics=None)]), 8)
    g1, g2 = multi.groups
    assert [(p.partition_index, p.committed_offset) for p in g1.topics[0].partitions] == [(1, 8), (0, 7)]
    assert g2.error_code == 0 and g2.topics == []
    # v10 (topics by id) is not served: Kafka 4.1, whose ranges we advertise, stops at v9.
    lg = c.request(ListGroupsRequest(states_filter=["Empty"]), 4)
    assert sorted((g.group_id, g.group_state) for g in lg.groups) == [("simple", "Empty"), ("v1g", "Empty")]
    lg5 = c.request(ListGroupsRequest(types_filter=["consumer"]), 5)
    assert lg5.groups == []
    dg = c.request(DeleteGroupsRequest(groups_names=["simple"]), 1)
    assert dg.results[0].error_code == 0
    f2 = c.request(OffsetFetchRequest(group_id="simple", topics=None), 7)
    assert f2.topics == []


def test_partition_count_comes_from_the_existing_topic(start_broker, raw_client, tmp_path):
    data = str(tmp_path / "reuse")
    b = start_broker({"offsets.topic.num.partitions": "3"}, data_dir=data)
    c = raw_client(b)
    find(c, key="grp")
    b2_overrides = {"offsets.topic.num.partitions": "7"}
    b.stop()
    b2 = start_broker(b2_overrides, data_dir=data)
    c2 = raw_client(b2)
    assert find(c2, key="grp").error_code == 0
    assert len(b2.broker.metadata.get_topic("__consumer_offsets").partitions) == 3
    assert b2.broker.group_coordinator.partition_for("grp") == partition_for("grp", 3)
