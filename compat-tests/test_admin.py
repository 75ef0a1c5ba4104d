"""Topic administration: the error codes and config answers Kafka gives AdminClient."""

from __future__ import annotations

import pytest
from compat_util import create_topic, unique, wait_for
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic


@pytest.fixture
def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def _create_error(admin: AdminClient, topic: NewTopic, **kwargs) -> int:
    future = admin.create_topics([topic], **kwargs)[topic.topic]
    with pytest.raises(KafkaException) as info:
        future.result(timeout=30)
    return info.value.args[0].code()


def test_create_existing_topic_is_topic_already_exists(admin: AdminClient, bootstrap: str) -> None:
    name = unique("dup")
    create_topic(bootstrap, name)
    assert _create_error(admin, NewTopic(name, num_partitions=1, replication_factor=1)) == 36


@pytest.mark.parametrize("name", ["bad name", "a" * 250, ".", "..", "slash/topic"])
def test_invalid_topic_names(admin: AdminClient, name: str) -> None:
    assert _create_error(admin, NewTopic(name, num_partitions=1, replication_factor=1)) == 17


def test_zero_partitions_is_invalid_partitions(admin: AdminClient) -> None:
    assert _create_error(admin, NewTopic(unique("zero"), num_partitions=0, replication_factor=1)) == 37


def test_replication_factor_above_broker_count(admin: AdminClient) -> None:
    brokers = len(admin.list_topics(timeout=10).brokers)
    topic = NewTopic(unique("rf"), num_partitions=1, replication_factor=brokers + 1)
    assert _create_error(admin, topic) == 38


def test_unknown_topic_config_is_invalid_config(admin: AdminClient) -> None:
    topic = NewTopic(unique("cfg"), num_partitions=1, replication_factor=1, config={"no.such.config": "1"})
    assert _create_error(admin, topic) == 40


def test_validate_only_creates_nothing(admin: AdminClient) -> None:
    name = unique("vo")
    admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1)], validate_only=True)[name].result(30)
    assert name not in admin.list_topics(timeout=10).topics


def test_describe_topic_configs_defaults_and_overrides(admin: AdminClient, bootstrap: str) -> None:
    name = unique("desc")
    create_topic(bootstrap, name, config={"retention.ms": "3600000"})
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    configs = admin.describe_configs([resource])[resource].result(timeout=30)
    retention = configs["retention.ms"]
    assert retention.value == "3600000"
    assert not retention.is_default
    assert retention.source == ConfigResource.Type.TOPIC.value or retention.source == 1  # DYNAMIC_TOPIC_CONFIG
    cleanup = configs["cleanup.policy"]
    assert cleanup.value == "delete"
    assert cleanup.is_default
    assert configs["max.message.bytes"].value == "1048588"


def test_incremental_alter_then_describe(admin: AdminClient, bootstrap: str) -> None:
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry

    name = unique("alter")
    create_topic(bootstrap, name)
    resource = ConfigResource(
        ConfigResource.Type.TOPIC,
        name,
        incremental_configs=[ConfigEntry("retention.ms", "12345", incremental_operation=AlterConfigOpType.SET)],
    )
    admin.incremental_alter_configs([resource])[resource].result(timeout=30)
    plain = ConfigResource(ConfigResource.Type.TOPIC, name)
    configs = admin.describe_configs([plain])[plain].result(timeout=30)
    assert configs["retention.ms"].value == "12345"


def test_create_partitions_and_delete_topic(admin: AdminClient, bootstrap: str) -> None:
    name = unique("grow")
    create_topic(bootstrap, name, partitions=1)
    admin.create_partitions([NewPartitions(name, 3)])[name].result(timeout=30)
    wait_for(lambda: len(admin.list_topics(name, timeout=10).topics[name].partitions) == 3, "3 partitions")
    # Shrinking is not allowed.
    with pytest.raises(KafkaException) as info:
        admin.create_partitions([NewPartitions(name, 2)])[name].result(timeout=30)
    assert info.value.args[0].code() == 37
    admin.delete_topics([name])[name].result(timeout=30)
    wait_for(lambda: name not in admin.list_topics(timeout=10).topics, "topic deletion")


def test_delete_unknown_topic(admin: AdminClient) -> None:
    name = unique("ghost")
    with pytest.raises(KafkaException) as info:
        admin.delete_topics([name])[name].result(timeout=30)
    assert info.value.args[0].code() == 3  # UNKNOWN_TOPIC_OR_PARTITION
