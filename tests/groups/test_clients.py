"""Stock clients in groups against a real broker over sockets."""

from __future__ import annotations

import asyncio
import struct
import subprocess
import sys
import textwrap
import threading
import time

import pytest

ck = pytest.importorskip("confluent_kafka")
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402


def produce(bootstrap: str, topic: str, n: int, partitions: int = 1) -> None:
    p = Producer({"bootstrap.servers": bootstrap})
    for i in range(n):
        p.produce(topic, value=b"v%d" % i, partition=i % partitions)
    p.flush(10)


def consumer(bootstrap: str, group: str, **extra) -> Consumer:
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 300,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "topic.metadata.refresh.interval.ms": 1000,
    }
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


def parts(c) -> set[int]:
    return {tp.partition for tp in c.assignment()}


def covers_once(consumers, n) -> bool:
    sets = [parts(c) for c in consumers]
    return all(sets) and sum(len(s) for s in sets) == n and set().union(*sets) == set(range(n))


def test_three_confluent_consumers_then_clean_close(broker):
    broker.call(broker.broker.create_topic, "six", 6, 1, {})
    cs = [consumer(broker, "g3", **{"session.timeout.ms": 30000}) for _ in range(3)]
    for c in cs:
        c.subscribe(["six"])
    assert pump(cs, lambda: covers_once(cs, 6)), [parts(c) for c in cs]
    assert all(len(parts(c)) == 2 for c in cs)
    # a clean close sends LeaveGroup: the others take over long before the 30 s session
    t0 = time.monotonic()
    cs[0].close()
    rest = cs[1:]
    assert pump(rest, lambda: covers_once(rest, 6), timeout=15)
    assert time.monotonic() - t0 < 15
    for c in rest:
        c.close()


CHILD = textwrap.dedent(
    """
    import sys
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2],
                  "session.timeout.ms": 2000, "heartbeat.interval.ms": 200,
                  "auto.offset.reset": "earliest"})
    c.subscribe([sys.argv[3]])
    announced = False
    while True:
        c.poll(0.1)
        if c.assignment() and not announced:
            print("assigned", flush=True)
            announced = True
    """
)


def test_killed_consumer_reassigned_after_session_timeout(start_broker):
    b = start_broker({"group.min.session.timeout.ms": "1000"})
    b.call(b.broker.create_topic, "four", 4, 1, {})
    me = consumer(b, "gk", **{"session.timeout.ms": 2000, "heartbeat.interval.ms": 200})
    me.subscribe(["four"])
    assert pump([me], lambda: parts(me) == {0, 1, 2, 3})
    child = subprocess.Popen([sys.executable, "-c", CHILD, b, "gk", "four"], stdout=subprocess.PIPE)
    try:
        assert pump([me], lambda: len(parts(me)) == 2, timeout=30)
        child.kill()
        child.wait()
        killed_at = time.monotonic()
        assert pump([me], lambda: parts(me) == {0, 1, 2, 3}, timeout=20)
        # it took the session timeout (2 s) to notice, not a LeaveGroup
        assert time.monotonic() - killed_at > 1.0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        me.close()


def test_static_member_rejoins_without_rebalance(broker):
    broker.call(broker.broker.create_topic, "st", 4, 1, {})
    extra = {"group.instance.id": "inst-a", "session.timeout.ms": 20000}
    a = consumer(broker, "gs", **extra)
    b = consumer(broker, "gs", **{"group.instance.id": "inst-b", "session.timeout.ms": 20000})
    for c in (a, b):
        c.subscribe(["st"])
    assert pump([a, b], lambda: covers_once([a, b], 4))
    before = parts(a)
    coord = broker.broker.group_coordinator
    generation = broker.run_sync(lambda: coord.groups["gs"].generation_id)
    a.close()  # static members do not leave on close
    a2 = consumer(broker, "gs", **extra)
    a2.subscribe(["st"])
    assert pump([a2, b], lambda: parts(a2) == before)
    assert broker.run_sync(lambda: coord.groups["gs"].generation_id) == generation
    assert parts(b) == {0, 1, 2, 3} - before
    a2.close()
    b.close()


def test_mixed_kafka_python_and_confluent(broker):
    from kafka import KafkaConsumer

    broker.call(broker.broker.create_topic, "mix", 4, 1, {})
    c = consumer(broker, "gm")
    c.subscribe(["mix"])
    kp = KafkaConsumer(bootstrap_servers=broker, group_id="gm", session_timeout_ms=6000,
                       heartbeat_interval_ms=300, enable_auto_commit=False)
    # kafka-python's range assignor assigns nothing for a topic missing from its own
    # metadata; under load its first metadata answer can lag the join, so fetch it first.
    deadline = time.monotonic() + 20
    while not kp.partitions_for_topic("mix") and time.monotonic() < deadline:
        time.sleep(0.1)
    kp.subscribe(["mix"])
    stop = threading.Event()

    def run_kp():
        while not stop.is_set():
            kp.poll(timeout_ms=50)

    t = threading.Thread(target=run_kp)
    t.start()
    try:
        def ok():
            kp_parts = {tp.partition for tp in kp.assignment()}
            ck_parts = parts(c)
            return kp_parts and ck_parts and kp_parts | ck_parts == {0, 1, 2, 3} and not kp_parts & ck_parts

        assert pump([c], ok, timeout=40)
    finally:
        stop.set()
        t.join()
        kp.close()
        c.close()


def _resume_confluent(bootstrap, topic, group):
    c = consumer(bootstrap, group)
    c.subscribe([topic])
    got = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(got) < 6:
        m = c.poll(0.2)
        if m is not None and not m.error():
            got.append(m.value())
    c.close()
    return got


def test_confluent_commit_resume_across_restart(broker_process):
    produce(broker_process, "rs", 10)
    c = consumer(broker_process, "gr")
    c.subscribe(["rs"])
    got = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(got) < 4:
        m = c.poll(0.2)
        if m is not None and not m.error():
            got.append(m)
    c.commit(message=got[3], asynchronous=False)
    c.close()
    restarted = broker_process.restart()
    rest = _resume_confluent(restarted, "rs", "gr")
    assert rest == [b"v%d" % i for i in range(4, 10)]


def test_kafka_python_resume_across_restart(broker_process):
    from kafka import KafkaConsumer

    produce(broker_process, "kr", 6)
    kc = KafkaConsumer("kr", bootstrap_servers=broker_process, group_id="gk", auto_offset_reset="earliest",
                       enable_auto_commit=False, consumer_timeout_ms=5000)
    got = []
    for m in kc:
        got.append(m.value)
        if len(got) == 2:
            break
    kc.commit()
    kc.close()
    restarted = broker_process.restart()
    kc = KafkaConsumer("kr", bootstrap_servers=restarted, group_id="gk", auto_offset_reset="earliest",
                       enable_auto_commit=False, consumer_timeout_ms=4000)
    assert [m.value for m in kc] == [b"v%d" % i for i in range(2, 6)]
    kc.close()


def test_aiokafka_commit_and_resume(broker):
    aiokafka = pytest.importorskip("aiokafka")
    produce(broker, "ak", 8)

    async def read(n):
        c = aiokafka.AIOKafkaConsumer("ak", bootstrap_servers=str(broker), group_id="ga",
                                      auto_offset_reset="earliest", enable_auto_commit=False)
        await c.start()
        out = []
        try:
            while len(out) < n:
                batch = await asyncio.wait_for(c.getmany(timeout_ms=500), 20)
                for msgs in batch.values():
                    out.extend(m.value for m in msgs)
            out = out[:n]
            tp = aiokafka.TopicPartition("ak", 0)
            await c.commit({tp: int(out[-1][1:]) + 1})
        finally:
            await c.stop()
        return out

    first = asyncio.run(read(3))
    assert first == [b"v0", b"v1", b"v2"]
    second = asyncio.run(read(5))
    assert second == [b"v%d" % i for i in range(3, 8)]


def test_admin_client_groups_and_offsets(broker):
    from confluent_kafka import ConsumerGroupTopicPartitions
    from confluent_kafka.admin import AdminClient
    from kafka.admin import KafkaAdminClient

    broker.call(broker.broker.create_topic, "ad", 2, 1, {})
    c = consumer(broker, "gadm", **{"client.id": "cid-1"})
    c.subscribe(["ad"])
    assert pump([c], lambda: parts(c) == {0, 1})
    c.commit(offsets=[TopicPartition("ad", 0, 5), TopicPartition("ad", 1, 6)], asynchronous=False)
    admin = AdminClient({"bootstrap.servers": broker})
    listed = admin.list_consumer_groups().result(10)
    assert [(g.group_id, str(g.state)) for g in listed.valid] == [("gadm", "ConsumerGroupState.STABLE")]
    desc = admin.describe_consumer_groups(["gadm"])["gadm"].result(10)
    assert str(desc.state) == "ConsumerGroupState.STABLE"
    assert desc.partition_assignor == "range"
    assert [m.client_id for m in desc.members] == ["cid-1"]
    assigned = {tp.partition for tp in desc.members[0].assignment.topic_partitions}
    assert assigned == {0, 1}
    res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions("gadm")])["gadm"].result(10)
    assert sorted((tp.topic, tp.partition, tp.offset) for tp in res.topic_partitions) == [("ad", 0, 5), ("ad", 1, 6)]
    # deleting a group with members fails; after close it works
    with pytest.raises(ck.KafkaException) as err:
        admin.delete_consumer_groups(["gadm"])["gadm"].result(10)
    assert err.value.args[0].code() == ck.KafkaError.NON_EMPTY_GROUP
    c.close()
    alter = admin.alter_consumer_group_offsets(
        [ConsumerGroupTopicPartitions("gadm", [TopicPartition("ad", 0, 1)])])["gadm"].result(10)
    assert alter.topic_partitions[0].offset == 1
    kadmin = KafkaAdminClient(bootstrap_servers=broker)
    try:
        deleted = kadmin.delete_group_offsets("gadm", [ck_tp("ad", 1)])
        assert all(err is None or getattr(err, "errno", 0) == 0 for err in _errors(deleted))
    finally:
        kadmin.close()
    res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions("gadm")])["gadm"].result(10)
    assert sorted((tp.partition, tp.offset) for tp in res.topic_partitions) == [(0, 1)]
    admin.delete_consumer_groups(["gadm"])["gadm"].result(10)
    assert admin.list_consumer_groups().result(10).valid == []


def ck_tp(topic, partition):
    from kafka import TopicPartition as KTP

    return KTP(topic, partition)


def _errors(result):
    if isinstance(result, dict):
        return list(result.values())
    return []


def test_consumer_offsets_records_are_well_formed(broker):
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP

    broker.call(broker.broker.create_topic, "wf", 1, 1, {})
    c = consumer(broker, "gwf")
    c.subscribe(["wf"])
    assert pump([c], lambda: parts(c) == {0})
    c.commit(offsets=[TopicPartition("wf", 0, 3, "meta")], asynchronous=False)
    c.close()
    reader = KafkaConsumer(bootstrap_servers=broker, consumer_timeout_ms=2000, auto_offset_reset="earliest",
                           enable_auto_commit=False)
    tps = [KTP("__consumer_offsets", p) for p in reader.partitions_for_topic("__consumer_offsets")]
    reader.assign(tps)
    reader.seek_to_beginning()
    records = list(reader)
    reader.close()
    offsets, groups = [], []
    for r in records:
        (kver,) = struct.unpack_from(">h", r.key)
        if kver == 1:
            pos = 2
            fields = []
            for _ in range(2):
                (n,) = struct.unpack_from(">h", r.key, pos)
                fields.append(r.key[pos + 2 : pos + 2 + n].decode())
                pos += 2 + n
            (partition,) = struct.unpack_from(">i", r.key, pos)
            assert pos + 4 == len(r.key)
            vver, offset, epoch, mlen = struct.unpack_from(">hqih", r.value)
            # librdkafka sends the metadata string with its C terminator
            meta = r.value[16 : 16 + mlen].decode().rstrip("\x00")
            (ts,) = struct.unpack_from(">q", r.value, 16 + mlen)
            assert 16 + mlen + 8 == len(r.value)
            offsets.append((fields[0], fields[1], partition, vver, offset, meta))
            assert abs(ts - time.time() * 1000) < 60_000
        elif kver == 2:
            (n,) = struct.unpack_from(">h", r.key, 2)
            groups.append((r.key[4 : 4 + n].decode(), struct.unpack_from(">h", r.value)[0] if r.value else None))
    assert ("gwf", "wf", 0, 3, 3, "meta") in offsets
    assert ("gwf", 3) in groups


def test_cooperative_sticky_incremental_rebalance(broker):
    broker.call(broker.broker.create_topic, "coop", 6, 1, {})
    extra = {"partition.assignment.strategy": "cooperative-sticky"}
    cs = [consumer(broker, "gcoop", **extra) for _ in range(2)]
    for c in cs:
        c.subscribe(["coop"])
    assert pump(cs, lambda: covers_once(cs, 6))
    before = [parts(c) for c in cs]
    third = consumer(broker, "gcoop", **extra)
    third.subscribe(["coop"])
    cs.append(third)
    assert pump(cs, lambda: covers_once(cs, 6) and all(len(parts(c)) == 2 for c in cs))
    # sticky: the first two only gave partitions away
    assert parts(cs[0]) <= before[0] and parts(cs[1]) <= before[1]
    for c in cs:
        c.close()


def test_incompatible_protocols_with_stock_clients(broker):
    from kafka import KafkaConsumer
    from kafka.coordinator.assignors.range import RangePartitionAssignor

    broker.call(broker.broker.create_topic, "inc", 2, 1, {})
    kp = KafkaConsumer("inc", bootstrap_servers=broker, group_id="ginc", session_timeout_ms=6000,
                       heartbeat_interval_ms=300, partition_assignment_strategy=[RangePartitionAssignor])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not kp.assignment():
        kp.poll(timeout_ms=100)
    assert {tp.partition for tp in kp.assignment()} == {0, 1}
    errors = []
    c = consumer(broker, "ginc", **{"partition.assignment.strategy": "roundrobin",
                                    "error_cb": lambda e: errors.append(e)})
    c.subscribe(["inc"])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        m = c.poll(0.1)
        if m is not None and m.error():
            errors.append(m.error())
        kp.poll(timeout_ms=10)
        if any(e.code() == ck.KafkaError.INCONSISTENT_GROUP_PROTOCOL for e in errors):
            break
    assert any(e.code() == ck.KafkaError.INCONSISTENT_GROUP_PROTOCOL for e in errors), errors
    assert not c.assignment()
    c.close()
    kp.close()


def test_committed_offsets_on_a_fresh_broker(start_broker):
    # The first group request creates __consumer_offsets; librdkafka retries
    # FindCoordinator meanwhile but gives up on a NOT_COORDINATOR to its OffsetFetch,
    # so the broker must not name itself coordinator before the partition exists.
    # Kafka's default 50 partitions make the creation outlast librdkafka's retry.
    broker = start_broker({"offsets.topic.num.partitions": "50"})
    c = consumer(broker, "fresh-group")
    try:
        committed = c.committed([TopicPartition("never-produced", 0)], timeout=30)
    finally:
        c.close()
    assert [(tp.partition, tp.offset, tp.error) for tp in committed] == [(0, ck.OFFSET_INVALID, None)]
