"""Broker.create_topic / delete_topic / create_partitions / alter_topic_config:
Kafka's validation and error codes, files on disk, persistence."""

from __future__ import annotations

import os

import pytest

from kpybroker.broker import TopicError, generate_cluster_id
from wire.errors import ErrorCode


def _code(broker, fn, *args, **kwargs):
    async def run():
        return await fn(*args, **kwargs)

    with pytest.raises(TopicError) as info:
        broker.call(run)
    return info.value.error_code


@pytest.mark.parametrize("name", ["", ".", "..", "x" * 250, "has space", "slash/", "ünï", "a:b"])
def test_invalid_names(broker, name):
    assert _code(broker, broker.broker.create_topic, name, 1, 1, {}) == ErrorCode.INVALID_TOPIC_EXCEPTION


def test_longest_legal_name_is_accepted(broker):
    name = "a-b_c." + "x" * 243
    assert len(name) == 249
    info = broker.call(broker.broker.create_topic, name, 1, 1, {})
    assert info.name == name
    assert os.path.isdir(os.path.join(broker.data_dir, f"{name}-0"))


def test_already_exists_and_dot_underscore_collision(broker):
    broker.call(broker.broker.create_topic, "a.b", 1, 1, {})
    assert _code(broker, broker.broker.create_topic, "a.b", 1, 1, {}) == ErrorCode.TOPIC_ALREADY_EXISTS
    assert _code(broker, broker.broker.create_topic, "a_b", 1, 1, {}) == ErrorCode.INVALID_TOPIC_EXCEPTION


@pytest.mark.parametrize("partitions", [0, -2])
def test_invalid_partitions(broker, partitions):
    assert _code(broker, broker.broker.create_topic, "t", partitions, 1, {}) == ErrorCode.INVALID_PARTITIONS


@pytest.mark.parametrize("rf", [0, -2, 2, 3])
def test_invalid_replication_factor(broker, rf):
    assert _code(broker, broker.broker.create_topic, "t", 1, rf, {}) == ErrorCode.INVALID_REPLICATION_FACTOR


@pytest.mark.parametrize("configs", [{"retention.mss": "1"}, {"retention.ms": "soon"},
                                     {"cleanup.policy": "shred"}, {"min.insync.replicas": "0"}])
def test_invalid_config(broker, configs):
    assert _code(broker, broker.broker.create_topic, "t", 1, 1, configs) == ErrorCode.INVALID_CONFIG
    assert broker.broker.metadata.get_topic("t") is None


def test_defaults_from_minus_one_and_validate_only(start_broker):
    b = start_broker({"num.partitions": "3"})
    info = b.call(lambda: b.broker.create_topic("dry", -1, -1, {}, validate_only=True))
    assert len(info.partitions) == 3
    assert b.broker.metadata.get_topic("dry") is None
    assert not os.path.exists(os.path.join(b.data_dir, "dry-0"))
    info = b.call(b.broker.create_topic, "real", -1, -1, {"retention.ms": "1000"})
    assert len(info.partitions) == 3
    assert b.broker.topic_config("real").retention_ms == 1000


def test_explicit_assignments(broker):
    bid = broker.broker.broker_id
    info = broker.call(lambda: broker.broker.create_topic("asg", -1, -1, {}, assignments={0: [bid], 1: [bid]}))
    assert sorted(info.partitions) == [0, 1]
    code = _code(broker, broker.broker.create_topic, "asg2", -1, -1, {}, assignments={0: [bid + 7]})
    assert code == ErrorCode.INVALID_REPLICA_ASSIGNMENT
    code = _code(broker, broker.broker.create_topic, "asg3", -1, -1, {}, assignments={1: [bid]})
    assert code == ErrorCode.INVALID_REPLICA_ASSIGNMENT
    code = _code(broker, broker.broker.create_topic, "asg4", 2, -1, {}, assignments={0: [bid]})
    assert code == ErrorCode.INVALID_REQUEST


def test_delete_removes_files_and_metadata(broker):
    broker.call(broker.broker.create_topic, "gone", 2, 1, {})
    assert os.path.isdir(os.path.join(broker.data_dir, "gone-1"))
    broker.call(broker.broker.delete_topic, "gone")
    assert broker.broker.metadata.get_topic("gone") is None
    assert broker.broker.replica_manager.get_partition("gone", 0) is None
    leftovers = [d for d in os.listdir(broker.data_dir) if d.startswith("gone-") and not d.endswith("-delete")]
    assert leftovers == []
    assert _code(broker, broker.broker.delete_topic, "gone") == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


def test_delete_disabled(start_broker):
    b = start_broker({"delete.topic.enable": "false"})
    b.call(b.broker.create_topic, "stay", 1, 1, {})
    assert _code(b, b.broker.delete_topic, "stay") == ErrorCode.TOPIC_DELETION_DISABLED


def test_create_partitions(broker):
    broker.call(broker.broker.create_topic, "grow", 1, 1, {})
    broker.call(broker.broker.create_partitions, "grow", 3)
    assert sorted(broker.broker.metadata.get_topic("grow").partitions) == [0, 1, 2]
    assert broker.broker.replica_manager.get_partition("grow", 2) is not None
    assert _code(broker, broker.broker.create_partitions, "grow", 3) == ErrorCode.INVALID_PARTITIONS
    assert _code(broker, broker.broker.create_partitions, "grow", 2) == ErrorCode.INVALID_PARTITIONS
    assert _code(broker, broker.broker.create_partitions, "nope", 2) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    code = _code(broker, broker.broker.create_partitions, "grow", 5, [[broker.broker.broker_id]])
    assert code == ErrorCode.INVALID_REPLICA_ASSIGNMENT


def test_alter_topic_config(broker):
    broker.call(broker.broker.create_topic, "cfg", 1, 1, {"retention.ms": "1000"})
    broker.call(broker.broker.alter_topic_config, "cfg", {"segment.bytes": "100000"})
    assert broker.broker.metadata.get_topic("cfg").configs == {"segment.bytes": "100000"}
    cfg = broker.broker.topic_config("cfg")
    assert cfg.segment_bytes == 100000 and cfg.retention_ms == 604_800_000
    assert broker.broker.replica_manager.get_partition("cfg", 0).log.config.segment_bytes == 100000
    assert _code(broker, broker.broker.alter_topic_config, "cfg", {"bogus": "1"}) == ErrorCode.INVALID_CONFIG


def test_topics_survive_an_in_process_restart(start_broker, tmp_path):
    data = str(tmp_path / "shared")
    b = start_broker(data_dir=data)
    info = b.call(b.broker.create_topic, "kept", 2, 1, {"retention.ms": "5000"})
    cluster_id = b.broker.cluster_id
    b.stop()
    b2 = start_broker(data_dir=data)
    again = b2.broker.metadata.get_topic("kept")
    assert again.topic_id == info.topic_id and sorted(again.partitions) == [0, 1]
    assert b2.broker.cluster_id == cluster_id
    part = b2.broker.replica_manager.get_partition("kept", 1)
    assert part.log.topic_id == info.topic_id
    assert part.log.config.retention_ms == 5000
    with open(os.path.join(data, "meta.properties")) as f:
        assert f"cluster.id={cluster_id}" in f.read()


def test_cluster_id_form():
    for _ in range(50):
        cid = generate_cluster_id()
        assert len(cid) == 22 and not cid.startswith("-")


def test_dynamic_broker_configs_reach_topics_without_overrides(broker):
    broker.call(broker.broker.create_topic, "plain", 1, 1, {})
    broker.call(broker.broker.create_topic, "own", 1, 1, {"retention.ms": "5"})

    def change():
        broker.broker.metadata.set_broker_configs({"log.retention.ms": "777"})
        broker.broker.refresh_topic_configs()

    broker.run_sync(change)
    assert broker.broker.topic_config("plain").retention_ms == 777
    assert broker.broker.replica_manager.get_partition("plain", 0).log.config.retention_ms == 777
    assert broker.broker.topic_config("own").retention_ms == 5
    assert broker.broker.topic_properties("plain")["retention.ms"] == "777"


def test_second_broker_on_the_same_data_dir_is_refused(start_broker, tmp_path):
    from kpybroker.broker import StartupError

    data = str(tmp_path / "one")
    start_broker(data_dir=data)
    with pytest.raises(StartupError, match="log dirs"):
        start_broker(data_dir=data)
