"""The KIP-848 consumer protocol with librdkafka (group.protocol=consumer)."""

from __future__ import annotations

import dataclasses
import time

import pytest

ck = pytest.importorskip("confluent_kafka")
from confluent_kafka import Consumer, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

from kpybroker.group_coordinator.consumer_group import ConsumerGroup  # noqa: E402


def fast_heartbeats(b, interval_ms=200, session_ms=3000):
    coord = b.broker.group_coordinator

    def tweak():
        coord.config = dataclasses.replace(
            coord.config, consumer_heartbeat_interval_ms=interval_ms, consumer_session_timeout_ms=session_ms)

    b.run_sync(tweak)


def consumer(bootstrap, group, **extra):
    conf = {"bootstrap.servers": bootstrap, "group.id": group, "group.protocol": "consumer",
            "auto.offset.reset": "earliest", "enable.auto.commit": False,
            "topic.metadata.refresh.interval.ms": 1000}
    conf.update(extra)
    return Consumer(conf)


def pump(consumers, until, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in consumers:
            c.poll(0.05)
        if until():
            return True
    return False


def parts(c):
    return {tp.partition for tp in c.assignment()}


def covers_once(cs, n):
    sets = [parts(c) for c in cs]
    return all(sets) and sum(len(s) for s in sets) == n and set().union(*sets) == set(range(n))


def test_three_consumers_share_six_partitions(broker):
    fast_heartbeats(broker)
    broker.call(broker.broker.create_topic, "k6", 6, 1, {})
    cs = [consumer(broker, "kg") for _ in range(3)]
    for c in cs:
        c.subscribe(["k6"])
    # partitions move in steps (revoke first, then hand over): wait for the even split
    ok = pump(cs, lambda: covers_once(cs, 6) and all(len(parts(c)) == 2 for c in cs))
    assert ok, [parts(c) for c in cs]
    coord = broker.broker.group_coordinator
    group = broker.run_sync(lambda: coord.groups["kg"])
    assert isinstance(group, ConsumerGroup)
    # ConsumerGroupDescribe and ListGroups see a consumer-protocol group
    admin = AdminClient({"bootstrap.servers": broker})
    listed = admin.list_consumer_groups().result(10)
    assert [(g.group_id, str(g.type)) for g in listed.valid] == [("kg", "ConsumerGroupType.CONSUMER")]
    desc = None
    for _ in range(50):  # the last acknowledgement may still be on its way
        desc = admin.describe_consumer_groups(["kg"])["kg"].result(10)
        if str(desc.state) == "ConsumerGroupState.STABLE":
            break
        pump(cs, lambda: False, timeout=0.1)
    assert str(desc.state) == "ConsumerGroupState.STABLE"
    assert len(desc.members) == 3
    assert sorted(len(m.assignment.topic_partitions) for m in desc.members) == [2, 2, 2]
    cs[0].close()
    rest = cs[1:]
    assert pump(rest, lambda: covers_once(rest, 6), timeout=20), [parts(c) for c in rest]
    for c in rest:
        c.close()


def test_commit_and_resume(broker):
    fast_heartbeats(broker)
    p = Producer({"bootstrap.servers": broker})
    for i in range(6):
        p.produce("kr", value=b"v%d" % i)
    p.flush(10)
    c = consumer(broker, "kres")
    c.subscribe(["kr"])
    got = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(got) < 2:
        m = c.poll(0.1)
        if m is not None and not m.error():
            got.append(m)
    c.commit(message=got[1], asynchronous=False)
    c.close()
    c = consumer(broker, "kres")
    c.subscribe(["kr"])
    rest = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(rest) < 4:
        m = c.poll(0.1)
        if m is not None and not m.error():
            rest.append(m.value())
    c.close()
    assert rest == [b"v2", b"v3", b"v4", b"v5"]


def _read(c, n, timeout=20):
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(out) < n:
        m = c.poll(0.1)
        if m is not None and not m.error():
            out.append(m)
    return out


def test_resume_across_broker_restart(broker_process):
    p = Producer({"bootstrap.servers": broker_process})
    for i in range(5):
        p.produce("kx", value=b"v%d" % i)
    p.flush(10)
    c = consumer(broker_process, "kx-g")
    c.subscribe(["kx"])
    got = _read(c, 3)
    c.commit(message=got[2], asynchronous=False)
    c.close()
    restarted = broker_process.restart()
    c = consumer(restarted, "kx-g")
    c.subscribe(["kx"])
    rest = [m.value() for m in _read(c, 2)]
    c.close()
    assert rest == [b"v3", b"v4"]


def test_a_new_regex_is_assigned_after_the_named_topics(broker):
    # Kafka resolves a regex new to the group after the heartbeat that brought it:
    # librdkafka gets the literally named topic first, the regex's matches on a
    # later heartbeat (its own 0045_resubscribe_with_regex checks this).
    fast_heartbeats(broker)
    for name in ("lit", "rx-a", "rx-b"):
        broker.call(broker.broker.create_topic, name, 2, 1, {})
    seen = []
    c = consumer(broker, "rxg")
    try:
        c.subscribe(["lit", "^rx-.*"], on_assign=lambda _c, tps: seen.append({tp.topic for tp in tps}))
        all_topics = {"lit", "rx-a", "rx-b"}
        assert pump([c], lambda: {tp.topic for tp in c.assignment()} == all_topics), c.assignment()
        assert [s for s in seen if s][0] == {"lit"}, seen
    finally:
        c.close()


def _group_type(admin, group):
    return admin.describe_consumer_groups([group])[group].result(timeout=10).type


@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_online_upgrade_and_downgrade_with_a_classic_member(broker, strategy):
    """Kafka 4's default group.consumer.migration.policy (bidirectional), as
    confluent-kafka-python's test_consumer_upgrade_downgrade drives it: a consumer of
    the new protocol joins a classic group that has a member and the group becomes a
    consumer group with both (the classic member rejoining to give up half); the
    classic member commits with its generation; when the new member leaves, the group
    is classic again and the classic member gets everything back."""
    fast_heartbeats(broker)
    broker.call(broker.broker.create_topic, "kmig", 4, 1, {})
    admin = AdminClient({"bootstrap.servers": broker})
    classic = Consumer({"bootstrap.servers": broker, "group.id": "kmig", "group.protocol": "classic",
                        "partition.assignment.strategy": strategy, "session.timeout.ms": 6000,
                        "heartbeat.interval.ms": 300, "auto.offset.reset": "earliest",
                        "enable.auto.commit": False})
    classic.subscribe(["kmig"])
    assert pump([classic], lambda: len(parts(classic)) == 4)
    assert _group_type(admin, "kmig") == ck.ConsumerGroupType.CLASSIC

    new = consumer(broker, "kmig")
    new.subscribe(["kmig"])
    assert pump([classic, new], lambda: covers_once([classic, new], 4) and len(parts(new)) == 2, timeout=40)
    assert _group_type(admin, "kmig") == ck.ConsumerGroupType.CONSUMER
    committed = [ck.TopicPartition("kmig", p, 1) for p in sorted(parts(classic))]
    assert all(tp.error is None for tp in classic.commit(offsets=committed, asynchronous=False))

    new.close()
    assert pump([classic], lambda: len(parts(classic)) == 4, timeout=40)
    assert _group_type(admin, "kmig") == ck.ConsumerGroupType.CLASSIC
    got = classic.committed([ck.TopicPartition("kmig", p) for p in range(4)], timeout=10)
    assert {tp.partition for tp in got if tp.offset == 1} == {tp.partition for tp in committed}
    classic.close()
