"""Admin APIs driven by stock clients over real sockets: confluent-kafka's
AdminClient (librdkafka) and kafka-python's KafkaAdminClient, against the
threaded ``broker`` fixture of tests/conftest.py.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from confluent_kafka import KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from wire.errors import ErrorCode

TIMEOUT = 15

# Legacy AlterConfigs is tested on purpose (clients and tools still send it).
pytestmark = pytest.mark.filterwarnings("ignore:alter_configs has been deprecated")


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000})


def error_code(future: Any) -> ErrorCode:
    """The Kafka error code a confluent-kafka admin future failed with (NONE on success)."""
    try:
        future.result(timeout=TIMEOUT)
    except KafkaException as exc:
        return ErrorCode(exc.args[0].code())
    return ErrorCode.NONE


def produce(bootstrap: str, topic: str, n: int, partition: int = 0) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i in range(n):
        p.produce(topic, value=b"x%d" % i, partition=partition)
    assert p.flush(TIMEOUT) == 0


def test_confluent_create_topics_and_errors(broker: Any) -> None:
    a = admin(broker)
    fs = a.create_topics([NewTopic("c-ok", 3, 1, config={"retention.ms": "60000"})])
    assert error_code(fs["c-ok"]) == ErrorCode.NONE
    fs = a.create_topics([NewTopic("c-dry", 2, 1)], validate_only=True)
    assert error_code(fs["c-dry"]) == ErrorCode.NONE
    assert broker.broker.metadata.get_topic("c-dry") is None
    cases = {
        "c-ok": (NewTopic("c-ok", 1, 1), ErrorCode.TOPIC_ALREADY_EXISTS),
        "c-bad#": (NewTopic("c-bad#", 1, 1), ErrorCode.INVALID_TOPIC_EXCEPTION),
        "c-rf": (NewTopic("c-rf", 1, 3), ErrorCode.INVALID_REPLICATION_FACTOR),
        "c-cfg": (
            NewTopic("c-cfg", 1, 1, config={"no.such.config": "1"}),
            ErrorCode.INVALID_CONFIG,
        ),
        "c-val": (
            NewTopic("c-val", 1, 1, config={"cleanup.policy": "forever"}),
            ErrorCode.INVALID_CONFIG,
        ),
        "c-assign": (
            NewTopic("c-assign", 1, -1, replica_assignment=[[broker.broker.broker_id + 3]]),
            ErrorCode.INVALID_REPLICA_ASSIGNMENT,
        ),
    }
    fs = a.create_topics([t for t, _ in cases.values()])
    assert {name: error_code(f) for name, f in fs.items()} == {n: c for n, (_, c) in cases.items()}
    # librdkafka refuses 0 partitions itself; -1 means the broker default (v4+).
    fs = a.create_topics([NewTopic("c-default")])
    assert error_code(fs["c-default"]) == ErrorCode.NONE
    assert len(
        broker.broker.metadata.get_topic("c-default").partitions
    ) == broker.broker.config.get("num.partitions")
    md = a.list_topics(timeout=TIMEOUT)
    assert len(md.topics["c-ok"].partitions) == 3


def test_confluent_describe_and_alter_configs(broker: Any) -> None:
    a = admin(broker)
    assert (
        error_code(
            a.create_topics([NewTopic("cfg", 1, 1, config={"retention.ms": "60000"})])["cfg"]
        )
        == 0
    )
    res = ConfigResource(ResourceType.TOPIC, "cfg")
    configs = a.describe_configs([res])[res].result(timeout=TIMEOUT)
    assert configs["retention.ms"].value == "60000"
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["segment.bytes"].source == ConfigSource.DEFAULT_CONFIG.value
    assert configs["cleanup.policy"].value == "delete"

    # AlterConfigs replaces the whole set: retention.ms goes back to its default.
    res = ConfigResource(ResourceType.TOPIC, "cfg", set_config={"max.message.bytes": "4000"})
    assert error_code(a.alter_configs([res])[res]) == ErrorCode.NONE
    assert broker.broker.metadata.get_topic("cfg").configs == {"max.message.bytes": "4000"}
    bad = ConfigResource(ResourceType.TOPIC, "cfg", set_config={"max.message.bytes": "lots"})
    assert error_code(a.alter_configs([bad])[bad]) == ErrorCode.INVALID_CONFIG
    dry = ConfigResource(ResourceType.TOPIC, "cfg", set_config={"segment.ms": "100000"})
    assert error_code(a.alter_configs([dry], validate_only=True)[dry]) == ErrorCode.NONE
    assert broker.broker.metadata.get_topic("cfg").configs == {"max.message.bytes": "4000"}

    inc = ConfigResource(
        ResourceType.TOPIC,
        "cfg",
        incremental_configs=[
            ConfigEntry(
                "cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND
            ),
            ConfigEntry("max.message.bytes", None, incremental_operation=AlterConfigOpType.DELETE),
        ],
    )
    assert error_code(a.incremental_alter_configs([inc])[inc]) == ErrorCode.NONE
    assert broker.broker.metadata.get_topic("cfg").configs == {"cleanup.policy": "delete,compact"}
    sub = ConfigResource(
        ResourceType.TOPIC,
        "cfg",
        incremental_configs=[
            ConfigEntry(
                "cleanup.policy", "delete", incremental_operation=AlterConfigOpType.SUBTRACT
            )
        ],
    )
    assert error_code(a.incremental_alter_configs([sub])[sub]) == ErrorCode.NONE
    assert broker.broker.metadata.get_topic("cfg").configs == {"cleanup.policy": "compact"}
    wrong = ConfigResource(
        ResourceType.TOPIC,
        "cfg",
        incremental_configs=[
            ConfigEntry("retention.ms", "5", incremental_operation=AlterConfigOpType.APPEND)
        ],
    )
    assert error_code(a.incremental_alter_configs([wrong])[wrong]) == ErrorCode.INVALID_CONFIG
    missing = ConfigResource(ResourceType.TOPIC, "no-such-topic")
    assert (
        error_code(a.describe_configs([missing])[missing]) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    )

    node = ConfigResource(ResourceType.BROKER, str(broker.broker.broker_id))
    configs = a.describe_configs([node])[node].result(timeout=TIMEOUT)
    assert configs["num.partitions"].value == "1"
    assert configs["log.dirs"].is_read_only
    frozen = ConfigResource(
        ResourceType.BROKER, str(broker.broker.broker_id), set_config={"log.dirs": "/x"}
    )
    assert error_code(a.alter_configs([frozen])[frozen]) == ErrorCode.INVALID_REQUEST


def test_confluent_group_configs_as_in_kafka_4(broker: Any) -> None:
    """Kafka 4's GROUP config resources (KIP-848): any group id, existing or not,
    defaults from the broker's group.* properties, validated against its bounds."""
    a = admin(broker)
    res = ConfigResource(ResourceType.GROUP, "no-such-group-yet")
    configs = a.describe_configs([res])[res].result(timeout=TIMEOUT)
    assert {name: (c.value, c.source) for name, c in configs.items()} == {
        "consumer.session.timeout.ms": ("45000", ConfigSource.DEFAULT_CONFIG.value),
        "consumer.heartbeat.interval.ms": ("5000", ConfigSource.DEFAULT_CONFIG.value),
        "share.session.timeout.ms": ("45000", ConfigSource.DEFAULT_CONFIG.value),
        "share.heartbeat.interval.ms": ("5000", ConfigSource.DEFAULT_CONFIG.value),
        "share.record.lock.duration.ms": ("30000", ConfigSource.DEFAULT_CONFIG.value),
        "share.auto.offset.reset": ("latest", ConfigSource.DEFAULT_CONFIG.value),
    }
    assert not any(c.is_read_only for c in configs.values())

    def alter(group: str, *entries: tuple[str, str | None, AlterConfigOpType]) -> ErrorCode:
        r = ConfigResource(ResourceType.GROUP, group, incremental_configs=[
            ConfigEntry(name, value, incremental_operation=op) for name, value, op in entries])
        return error_code(a.incremental_alter_configs([r])[r])

    SET, DELETE = AlterConfigOpType.SET, AlterConfigOpType.DELETE
    assert alter("g1", ("consumer.session.timeout.ms", "50000", SET),
                 ("share.auto.offset.reset", "earliest", SET)) == ErrorCode.NONE
    assert broker.broker.metadata.group_configs("g1") == {
        "consumer.session.timeout.ms": "50000", "share.auto.offset.reset": "earliest"}
    res = ConfigResource(ResourceType.GROUP, "g1")
    configs = a.describe_configs([res])[res].result(timeout=TIMEOUT)
    assert (configs["consumer.session.timeout.ms"].value, configs["consumer.session.timeout.ms"].source) == (
        "50000", ConfigSource.GROUP_CONFIG.value)
    assert configs["consumer.heartbeat.interval.ms"].source == ConfigSource.DEFAULT_CONFIG.value
    # Refusals: outside the broker's bounds (group.consumer.max.session.timeout.ms is
    # 60000, group.consumer.min.heartbeat.interval.ms 5000,
    # group.share.max.record.lock.duration.ms 60000), an unknown name, a bad value, a
    # list operation on a number; none of them changes anything.
    for entries in [
        [("consumer.session.timeout.ms", "90000", SET)],
        [("consumer.heartbeat.interval.ms", "1000", SET)],
        [("share.record.lock.duration.ms", "70000", SET)],
        [("no.such.group.config", "1", SET)],
        [("share.auto.offset.reset", "none", SET)],
        [("consumer.session.timeout.ms", "1", AlterConfigOpType.APPEND)],
    ]:
        assert alter("g1", *entries) == ErrorCode.INVALID_CONFIG, entries
    assert broker.broker.metadata.group_configs("g1") == {
        "consumer.session.timeout.ms": "50000", "share.auto.offset.reset": "earliest"}
    # Legacy AlterConfigs replaces the group's whole set.
    legacy = ConfigResource(ResourceType.GROUP, "g1", set_config={"consumer.heartbeat.interval.ms": "6000"})
    assert error_code(a.alter_configs([legacy])[legacy]) == ErrorCode.NONE
    assert broker.broker.metadata.group_configs("g1") == {"consumer.heartbeat.interval.ms": "6000"}
    assert alter("g1", ("consumer.heartbeat.interval.ms", None, DELETE)) == ErrorCode.NONE
    assert broker.broker.metadata.group_configs("g1") == {}


def test_group_resources_without_a_name_are_refused(broker: Any, raw_client: Any) -> None:
    """An empty group id is INVALID_REQUEST in Kafka's two wordings; the connection stays."""
    from wire.messages.describe_configs import DescribeConfigsRequest
    from wire.messages.incremental_alter_configs import IncrementalAlterConfigsRequest

    client = raw_client(broker)
    described = client.request(DescribeConfigsRequest(resources=[
        DescribeConfigsRequest.DescribeConfigsResource(resource_type=32, resource_name="", configuration_keys=None)]),
        4)
    assert (described.results[0].error_code, described.results[0].error_message) == (
        ErrorCode.INVALID_REQUEST, "Group name must not be empty")
    altered = client.request(IncrementalAlterConfigsRequest(resources=[
        IncrementalAlterConfigsRequest.AlterConfigsResource(resource_type=32, resource_name="", configs=[
            IncrementalAlterConfigsRequest.AlterableConfig(
                name="consumer.session.timeout.ms", config_operation=0, value="50000")])]), 1)
    assert (altered.responses[0].error_code, altered.responses[0].error_message) == (
        ErrorCode.INVALID_REQUEST, "Default group resources are not allowed.")


def test_list_operations_are_checked_before_the_resource_name(broker: Any, raw_client: Any) -> None:
    """Kafka's controller applies the operations before it validates the resource, so
    APPEND on a config that is not a list is INVALID_CONFIG even without a name."""
    from wire.messages.incremental_alter_configs import IncrementalAlterConfigsRequest

    client = raw_client(broker)
    append, subtract = 2, 3
    for resource_type, name, key, op in [
        (32, "", "consumer.session.timeout.ms", append),
        (2, "", "retention.ms", subtract),
        (2, "bad/name", "retention.ms", append),
        (2, "no-such-topic", "no.such.config", append),
    ]:
        altered = client.request(IncrementalAlterConfigsRequest(resources=[
            IncrementalAlterConfigsRequest.AlterConfigsResource(resource_type=resource_type, resource_name=name, configs=[
                IncrementalAlterConfigsRequest.AlterableConfig(name=key, config_operation=op, value="1")])]), 1)
        verb = "APPEND" if op == append else "SUBTRACT"
        assert (altered.responses[0].error_code, altered.responses[0].error_message) == (
            ErrorCode.INVALID_CONFIG, f"Can't {verb} to key {key} because its type is not LIST."), name
    # The same through confluent-kafka (librdkafka refuses an empty name itself).
    res = ConfigResource(ResourceType.TOPIC, "bad/name", incremental_configs=[
        ConfigEntry("retention.ms", "1", incremental_operation=AlterConfigOpType.APPEND)])
    a = admin(broker)
    with pytest.raises(KafkaException) as refused:
        a.incremental_alter_configs([res])[res].result(timeout=TIMEOUT)
    assert (refused.value.args[0].code(), refused.value.args[0].str()) == (
        ErrorCode.INVALID_CONFIG, "Can't APPEND to key retention.ms because its type is not LIST.")
    # A SET still meets the name check first.
    altered = client.request(IncrementalAlterConfigsRequest(resources=[
        IncrementalAlterConfigsRequest.AlterConfigsResource(resource_type=2, resource_name="", configs=[
            IncrementalAlterConfigsRequest.AlterableConfig(name="retention.ms", config_operation=0, value="1")])]), 1)
    assert (altered.responses[0].error_code, altered.responses[0].error_message) == (
        ErrorCode.INVALID_REQUEST, "Default topic resources are not allowed.")


def test_unknown_operation_types_are_refused_before_any_list_check(broker: Any, raw_client: Any) -> None:
    """An unknown operation type anywhere in a resource's list is INVALID_REQUEST, even
    after an APPEND that would be INVALID_CONFIG (Kafka reads every type first)."""
    from wire.messages.incremental_alter_configs import IncrementalAlterConfigsRequest

    Alter = IncrementalAlterConfigsRequest.AlterableConfig
    client = raw_client(broker)
    for resource_type, name, key in [(2, "no-such-topic", "retention.ms"), (32, "g1", "consumer.session.timeout.ms"),
                                     (4, "", "log.retention.ms")]:
        altered = client.request(IncrementalAlterConfigsRequest(resources=[
            IncrementalAlterConfigsRequest.AlterConfigsResource(resource_type=resource_type, resource_name=name, configs=[
                Alter(name=key, config_operation=2, value="1"),
                Alter(name="other", config_operation=9, value="1")])]), 1)
        assert (altered.responses[0].error_code, altered.responses[0].error_message) == (
            ErrorCode.INVALID_REQUEST, "Unknown operations type 9"), resource_type
    # the connection still answers; a list check alone still gets INVALID_CONFIG
    altered = client.request(IncrementalAlterConfigsRequest(resources=[
        IncrementalAlterConfigsRequest.AlterConfigsResource(resource_type=4, resource_name="", configs=[
            Alter(name="log.retention.ms", config_operation=2, value="1")])]), 1)
    assert (altered.responses[0].error_code, altered.responses[0].error_message) == (
        ErrorCode.INVALID_CONFIG, "Config value append is not allowed for config key: log.retention.ms")


def test_group_configs_reach_consumer_protocol_members(start_broker: Any, raw_client: Any) -> None:
    """A consumer-protocol (KIP-848) group's heartbeat interval and session timeout
    come from its group configs once set, as Kafka's GroupConfigManager has them."""
    from wire.messages.consumer_group_heartbeat import ConsumerGroupHeartbeatRequest
    from wire.messages.find_coordinator import FindCoordinatorRequest

    b = start_broker({"group.consumer.min.session.timeout.ms": "500",
                      "group.consumer.min.heartbeat.interval.ms": "100"})
    b.call(b.broker.create_topic, "cg-topic", 2, 1, {})
    client = raw_client(b)

    def heartbeat(member_id: str = "", epoch: int = 0) -> Any:
        join = epoch == 0
        return client.request(ConsumerGroupHeartbeatRequest(
            group_id="cfg-group", member_id=member_id, member_epoch=epoch,
            rebalance_timeout_ms=5000 if join else -1,
            subscribed_topic_names=["cg-topic"] if join else None,
            topic_partitions=[] if join else None), 0)

    # The first FindCoordinator creates __consumer_offsets; retried as clients do.
    deadline = time.monotonic() + TIMEOUT
    find = FindCoordinatorRequest(key_type=0, coordinator_keys=["cfg-group"])
    while client.request(find, 4).coordinators[0].error_code != ErrorCode.NONE:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    while (first := heartbeat()).error_code == ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert first.error_code == 0 and first.heartbeat_interval_ms == 5000
    r = ConfigResource(ResourceType.GROUP, "cfg-group", incremental_configs=[
        ConfigEntry("consumer.heartbeat.interval.ms", "200", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("consumer.session.timeout.ms", "800", incremental_operation=AlterConfigOpType.SET)])
    a = admin(b)
    assert error_code(a.incremental_alter_configs([r])[r]) == ErrorCode.NONE
    member = heartbeat()
    assert member.error_code == 0 and member.heartbeat_interval_ms == 200
    again = heartbeat(member.member_id, member.member_epoch)
    assert again.error_code == 0 and again.heartbeat_interval_ms == 200
    # Silent for longer than the group's 800 ms session timeout (the broker's is 45 s).
    time.sleep(1.5)
    gone = heartbeat(member.member_id, again.member_epoch)
    assert gone.error_code == ErrorCode.UNKNOWN_MEMBER_ID


def test_confluent_partitions_records_delete(broker: Any) -> None:
    a = admin(broker)
    assert error_code(a.create_topics([NewTopic("grow", 2, 1)])["grow"]) == ErrorCode.NONE
    assert error_code(a.create_partitions([NewPartitions("grow", 4)])["grow"]) == ErrorCode.NONE
    assert len(broker.broker.metadata.get_topic("grow").partitions) == 4
    assert (
        error_code(a.create_partitions([NewPartitions("grow", 3)])["grow"])
        == ErrorCode.INVALID_PARTITIONS
    )
    fs = a.create_partitions([NewPartitions("grow", 9)], validate_only=True)
    assert error_code(fs["grow"]) == ErrorCode.NONE
    assert (
        error_code(a.create_partitions([NewPartitions("nope", 3)])["nope"])
        == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    )

    produce(broker, "grow", 5)
    fs = a.delete_records([TopicPartition("grow", 0, 3)])
    (f,) = fs.values()
    assert f.result(timeout=TIMEOUT).low_watermark == 3
    (f,) = a.delete_records([TopicPartition("grow", 0, 50)]).values()
    assert error_code(f) == ErrorCode.OFFSET_OUT_OF_RANGE

    cluster = a.describe_cluster().result(timeout=TIMEOUT)
    assert [n.id for n in cluster.nodes] == [broker.broker.broker_id]
    assert cluster.controller.id == broker.broker.broker_id

    assert error_code(a.delete_topics(["grow"])["grow"]) == ErrorCode.NONE
    assert error_code(a.delete_topics(["grow"])["grow"]) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    deadline = time.monotonic() + TIMEOUT
    while "grow" in a.list_topics(timeout=TIMEOUT).topics and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "grow" not in a.list_topics(timeout=TIMEOUT).topics


def test_kafka_python_admin(broker: Any) -> None:
    kafka_admin = pytest.importorskip("kafka.admin")
    client = kafka_admin.KafkaAdminClient(bootstrap_servers=str(broker), request_timeout_ms=10000)
    try:
        result = client.create_topics(
            {
                "kp": {
                    "num_partitions": 2,
                    "replication_factor": 1,
                    "configs": {"retention.ms": "60000"},
                }
            }
        )
        (created,) = result["topics"]
        assert created["error_code"] == 0 and created["num_partitions"] == 2
        result = client.create_topics(
            {"kp": {"num_partitions": 1}, "bad topic": {}}, raise_errors=False
        )
        codes = {t["name"]: t["error_code"] for t in result["topics"]}
        assert codes == {
            "kp": ErrorCode.TOPIC_ALREADY_EXISTS,
            "bad topic": ErrorCode.INVALID_TOPIC_EXCEPTION,
        }

        described = client.describe_configs(
            [kafka_admin.ConfigResource("TOPIC", "kp")], config_filter="all"
        )
        topic_configs = described["topic"]["kp"]
        assert topic_configs["retention.ms"]["value"] == "60000"
        assert topic_configs["segment.bytes"]["value"] == "1073741824"

        client.create_partitions({"kp": 3})
        assert len(broker.broker.metadata.get_topic("kp").partitions) == 3

        from kafka import KafkaProducer
        from kafka import TopicPartition as KTopicPartition

        producer = KafkaProducer(bootstrap_servers=str(broker))
        try:
            for i in range(4):
                producer.send("kp", value=b"%d" % i, partition=0).get(timeout=TIMEOUT)
        finally:
            producer.close(timeout=TIMEOUT)
        tp = KTopicPartition("kp", 0)
        deleted = client.delete_records({tp: 2})
        assert deleted[tp]["low_watermark"] == 2
        producers = client.describe_producers([tp])
        (state,) = producers[tp].active_producers
        assert state.last_sequence == 3

        dirs = client.describe_log_dirs()
        assert dirs  # one entry per log dir of the one broker

        result = client.delete_topics(["kp"])
        assert broker.broker.metadata.get_topic("kp") is None
        assert result
    finally:
        client.close()


def test_confluent_empty_cleanup_policy_accepted(broker: Any) -> None:
    """Kafka's cleanup.policy is a list whose items must be delete or compact, but the
    list may be empty (neither time/size retention nor compaction; only DeleteRecords'
    log start offset removes data). Subtracting ``delete`` from the default leaves it
    empty; confluent-kafka-python's integration test_incremental_alter_configs expects
    that to succeed and DescribeConfigs to report ``cleanup.policy=""``."""
    a = admin(broker)
    fs = a.create_topics([NewTopic("empty-policy-new", 1, 1, config={"cleanup.policy": ""}),
                          NewTopic("empty-policy", 1, 1)])
    assert {n: error_code(f) for n, f in fs.items()} == {
        "empty-policy-new": ErrorCode.NONE, "empty-policy": ErrorCode.NONE}
    sub = ConfigResource(ResourceType.TOPIC, "empty-policy", incremental_configs=[
        ConfigEntry("cleanup.policy", "delete", incremental_operation=AlterConfigOpType.SUBTRACT)])
    assert error_code(a.incremental_alter_configs([sub])[sub]) == ErrorCode.NONE
    for name in ("empty-policy", "empty-policy-new"):
        res = ConfigResource(ResourceType.TOPIC, name)
        configs = a.describe_configs([res])[res].result(timeout=TIMEOUT)
        assert (configs["cleanup.policy"].value, configs["cleanup.policy"].source) == (
            "", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
    # Still a working topic; DeleteRecords needs ``delete`` in the policy, as in Kafka.
    produce(broker, "empty-policy", 3)
    fs = a.delete_records([TopicPartition("empty-policy", 0, 1)])
    assert error_code(next(iter(fs.values()))) == ErrorCode.POLICY_VIOLATION
    # An item other than delete/compact is still refused.
    bad = ConfigResource(ResourceType.TOPIC, "empty-policy", set_config={"cleanup.policy": "delete,keep"})
    assert error_code(a.alter_configs([bad])[bad]) == ErrorCode.INVALID_CONFIG


def test_confluent_create_topics_over_kafkas_batch_bound(broker: Any) -> None:
    # Kafka's controller writes one CreateTopics as at most 10,000 metadata records;
    # a stock AdminClient asking for more gets PolicyViolation on every topic and
    # nothing is created. 9,998 partitions (plus the topic record) still fit.
    a = admin(broker)
    fs = a.create_topics([NewTopic("huge-a", 6000, 1), NewTopic("huge-b", 4000, 1)])
    for name in ("huge-a", "huge-b"):
        assert error_code(fs[name]) == ErrorCode.POLICY_VIOLATION
        with pytest.raises(KafkaException, match="excessively large batch"):
            fs[name].result(10)
    assert not {"huge-a", "huge-b"} & set(a.list_topics(timeout=10).topics)
    fs = a.create_topics([NewTopic("fits", 9998, 1)], validate_only=True)
    assert fs["fits"].result(10) is None
