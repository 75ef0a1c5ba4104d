"""Metadata and DescribeCluster as stock clients and raw requests see them."""

from __future__ import annotations

import uuid

import pytest

from wire.errors import ErrorCode
from wire.messages.describe_cluster import DescribeClusterRequest
from wire.messages.metadata import MetadataRequest

ZERO = uuid.UUID(int=0)


def _topics(*names, auto=True):
    return MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=n) for n in names],
                           allow_auto_topic_creation=auto)


def test_kafka_python_admin_and_client_connect(broker):
    from kafka import KafkaAdminClient, KafkaConsumer

    admin = KafkaAdminClient(bootstrap_servers=broker, request_timeout_ms=10_000)
    try:
        broker.call(broker.broker.create_topic, "kp-topic", 3, 1, {})
        assert "kp-topic" in admin.list_topics()
        cluster = admin.describe_cluster()
        assert cluster["controller_id"] == broker.broker.broker_id
        assert cluster["cluster_id"] == broker.broker.cluster_id
        [b] = cluster["brokers"]
        assert (b["host"], b["port"]) == ("127.0.0.1", broker.port)
    finally:
        admin.close()
    consumer = KafkaConsumer(bootstrap_servers=broker, request_timeout_ms=10_000)
    try:
        assert "kp-topic" in consumer.topics()
        assert consumer.partitions_for_topic("kp-topic") == {0, 1, 2}
    finally:
        consumer.close()


def test_confluent_list_topics_and_describe_cluster(broker):
    from confluent_kafka.admin import AdminClient

    broker.call(broker.broker.create_topic, "cf-topic", 2, 1, {})
    admin = AdminClient({"bootstrap.servers": broker})
    md = admin.list_topics(timeout=10)
    assert md.cluster_id == broker.broker.cluster_id
    assert md.controller_id == broker.broker.broker_id
    assert list(md.brokers) == [broker.broker.broker_id]
    t = md.topics["cf-topic"]
    assert t.error is None
    assert sorted(t.partitions) == [0, 1]
    for p in t.partitions.values():
        assert p.leader == broker.broker.broker_id
        assert p.replicas == [broker.broker.broker_id] and p.isrs == [broker.broker.broker_id]
    desc = admin.describe_cluster().result(timeout=10)
    assert desc.cluster_id == broker.broker.cluster_id
    assert desc.controller.id == broker.broker.broker_id
    assert [n.port for n in desc.nodes] == [broker.port]


@pytest.mark.parametrize("version", range(0, 14))
def test_every_version_describes_a_topic(broker, raw_client, version):
    broker.call(broker.broker.create_topic, "every", 2, 1, {})
    topic_id = broker.broker.metadata.get_topic("every").topic_id
    client = raw_client(broker)
    resp = client.request(_topics("every", auto=False), version)
    [b] = resp.brokers
    assert (b.node_id, b.host, b.port) == (broker.broker.broker_id, "127.0.0.1", broker.port)
    if version >= 1:
        assert resp.controller_id == broker.broker.broker_id
    if version >= 2:
        assert resp.cluster_id == broker.broker.cluster_id
    [t] = resp.topics
    assert (t.error_code, t.name) == (0, "every")
    if version >= 10:
        assert t.topic_id == topic_id
    assert [p.partition_index for p in t.partitions] == [0, 1]
    for p in t.partitions:
        assert p.leader_id == broker.broker.broker_id
        assert p.replica_nodes == [broker.broker.broker_id] == p.isr_nodes
        if version >= 7:
            assert p.leader_epoch == 0


def test_null_topics_means_all_and_empty_list_means_none(broker, raw_client):
    for name in ("a1", "a2"):
        broker.call(broker.broker.create_topic, name, 1, 1, {})
    client = raw_client(broker)
    assert sorted(t.name for t in client.request(MetadataRequest(topics=None), 12).topics) == ["a1", "a2"]
    assert client.request(MetadataRequest(topics=[]), 12).topics == []
    # v0 has no null: an empty list means every topic.
    assert sorted(t.name for t in client.request(MetadataRequest(topics=[]), 0).topics) == ["a1", "a2"]


def test_auto_create_answers_leader_not_available_then_topic_exists(broker, raw_client):
    client = raw_client(broker)
    [t] = client.request(_topics("auto-made"), 9).topics
    assert t.error_code == ErrorCode.LEADER_NOT_AVAILABLE
    assert t.partitions == []
    [t] = client.request(_topics("auto-made"), 9).topics
    assert t.error_code == ErrorCode.NONE
    assert len(t.partitions) == 1  # num.partitions default


def test_auto_create_uses_num_partitions(start_broker, raw_client):
    b = start_broker({"num.partitions": "4"})
    client = raw_client(b)
    client.request(_topics("four"), 4)
    [t] = client.request(_topics("four"), 4).topics
    assert len(t.partitions) == 4


def test_v0_to_v3_always_auto_create(broker, raw_client):
    client = raw_client(broker)
    [t] = client.request(_topics("old-client", auto=False), 3).topics
    assert t.error_code == ErrorCode.LEADER_NOT_AVAILABLE


def test_no_auto_create_when_request_disallows(broker, raw_client):
    client = raw_client(broker)
    [t] = client.request(_topics("not-made", auto=False), 12).topics
    assert t.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert broker.broker.metadata.get_topic("not-made") is None


def test_no_auto_create_when_broker_disables_it(start_broker, raw_client):
    b = start_broker({"auto.create.topics.enable": "false"})
    client = raw_client(b)
    [t] = client.request(_topics("not-made"), 12).topics
    assert t.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert b.broker.metadata.get_topic("not-made") is None


@pytest.mark.parametrize("name", ["bad name", "a/b", "x" * 250, ".", "..", "é"])
@pytest.mark.parametrize("auto", [True, False])
def test_invalid_topic_names(broker, raw_client, name, auto):
    client = raw_client(broker)
    [t] = client.request(_topics(name, auto=auto), 12).topics
    assert t.error_code == ErrorCode.INVALID_TOPIC_EXCEPTION
    assert t.name == name
    assert len(broker.broker.metadata) == 0


def test_topic_ids_lookup(broker, raw_client):
    broker.call(broker.broker.create_topic, "by-id", 1, 1, {})
    tid = broker.broker.metadata.get_topic("by-id").topic_id
    client = raw_client(broker)
    unknown = uuid.uuid4()
    req = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(topic_id=tid, name=None),
                                  MetadataRequest.MetadataRequestTopic(topic_id=unknown, name=None)])
    found, missing = client.request(req, 12).topics
    assert (found.error_code, found.name, found.topic_id) == (0, "by-id", tid)
    assert (missing.error_code, missing.topic_id) == (ErrorCode.UNKNOWN_TOPIC_ID, unknown)


@pytest.mark.parametrize("version", [10, 11])
def test_null_names_and_topic_ids_before_v12_are_invalid_requests(broker, raw_client, version):
    # Kafka's handler throws InvalidRequestException before looking anything up: every
    # topic of the request comes back with INVALID_REQUEST, a null name as "".
    broker.call(broker.broker.create_topic, "named", 1, 1, {})
    client = raw_client(broker)
    T = MetadataRequest.MetadataRequestTopic
    resp = client.request(MetadataRequest(topics=[T(name="named"), T(name=None)]), version)
    assert [(t.name, t.error_code, t.partitions) for t in resp.topics] == [
        ("named", ErrorCode.INVALID_REQUEST, []), ("", ErrorCode.INVALID_REQUEST, [])]
    tid = broker.broker.metadata.get_topic("named").topic_id
    resp = client.request(MetadataRequest(topics=[T(name="named", topic_id=tid)]), version)
    assert [(t.name, t.error_code) for t in resp.topics] == [("named", ErrorCode.INVALID_REQUEST)]
    # The connection keeps serving.
    [ok] = client.request(_topics("named"), version).topics
    assert (ok.name, ok.error_code, len(ok.partitions)) == ("named", 0, 1)


def test_names_beside_topic_ids_are_ignored(broker, raw_client):
    broker.call(broker.broker.create_topic, "by-id2", 1, 1, {})
    broker.call(broker.broker.create_topic, "by-name2", 1, 1, {})
    tid = broker.broker.metadata.get_topic("by-id2").topic_id
    client = raw_client(broker)
    T = MetadataRequest.MetadataRequestTopic
    unknown = uuid.uuid4()
    resp = client.request(MetadataRequest(topics=[
        T(name="by-name2"), T(topic_id=tid, name=None), T(topic_id=unknown, name=None),
        T(topic_id=unknown, name=None)]), 12)
    assert sorted((t.name or "", t.error_code) for t in resp.topics) == [
        ("", ErrorCode.UNKNOWN_TOPIC_ID), ("by-id2", 0)]


def test_authorized_operations(broker, raw_client):
    broker.call(broker.broker.create_topic, "ops", 1, 1, {})
    client = raw_client(broker)
    req = _topics("ops")
    req.include_topic_authorized_operations = True
    req.include_cluster_authorized_operations = True
    resp = client.request(req, 10)
    assert resp.topics[0].topic_authorized_operations > 0
    assert resp.cluster_authorized_operations > 0
    resp = client.request(_topics("ops"), 10)
    assert resp.topics[0].topic_authorized_operations == -(2**31)
    assert resp.cluster_authorized_operations == -(2**31)


def test_internal_topics_are_flagged(broker, raw_client):
    broker.call(broker.broker.auto_create_topic, "__consumer_offsets")
    client = raw_client(broker)
    [t] = client.request(_topics("__consumer_offsets"), 9).topics
    assert t.is_internal
    assert len(t.partitions) == 4  # offsets.topic.num.partitions in the test defaults


@pytest.mark.parametrize("version", range(0, 3))
def test_describe_cluster(broker, raw_client, version):
    client = raw_client(broker)
    resp = client.request(DescribeClusterRequest(include_cluster_authorized_operations=True), version)
    assert resp.error_code == 0
    assert resp.cluster_id == broker.broker.cluster_id
    assert resp.controller_id == broker.broker.broker_id
    [b] = resp.brokers
    assert (b.broker_id, b.host, b.port) == (broker.broker.broker_id, "127.0.0.1", broker.port)
    assert resp.cluster_authorized_operations > 0


def test_describe_cluster_controller_endpoints_unsupported(broker, raw_client):
    client = raw_client(broker)
    resp = client.request(DescribeClusterRequest(endpoint_type=2), 1)
    assert resp.error_code == ErrorCode.UNSUPPORTED_ENDPOINT_TYPE


def test_aiokafka_reads_metadata(broker):
    import asyncio

    from aiokafka import AIOKafkaProducer

    broker.call(broker.broker.create_topic, "aio-topic", 3, 1, {})

    async def main():
        producer = AIOKafkaProducer(bootstrap_servers=broker, request_timeout_ms=10_000)
        await producer.start()
        try:
            return await producer.partitions_for("aio-topic")
        finally:
            await producer.stop()

    assert asyncio.run(main()) == {0, 1, 2}


def test_auto_create_that_cannot_succeed_still_answers_leader_not_available(start_broker, raw_client):
    b = start_broker({"default.replication.factor": "3"})
    client = raw_client(b)
    [t] = client.request(_topics("needs-three"), 12).topics
    assert t.error_code == ErrorCode.LEADER_NOT_AVAILABLE
    assert b.broker.metadata.get_topic("needs-three") is None
