"""LocalMetadataStore: persistence, atomic rewrite, producer id blocks."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from replication.metadata_store import (
    METADATA_FILE,
    LocalMetadataStore,
    PartitionState,
    TopicMetadata,
)


def _topic(name: str, n: int = 2) -> TopicMetadata:
    return TopicMetadata(
        name=name, topic_id=uuid.uuid4(),
        partitions={p: PartitionState(1, 0, [1], [1]) for p in range(n)},
        configs={"retention.ms": "1000"},
    )


def test_round_trip_through_the_file(tmp_path):
    store = LocalMetadataStore.in_dir(tmp_path)
    t = _topic("orders", 3)
    store.put_topic(t)
    store.set_cluster_id("abcdefghijklmnopqrstuv")
    store.set_broker_configs({"log.retention.ms": "5"})
    store.set_group_configs("g", {"consumer.session.timeout.ms": "50000"})
    store.set_group_configs("gone", {"consumer.heartbeat.interval.ms": "6000"})
    store.set_group_configs("gone", {})
    reloaded = LocalMetadataStore(tmp_path / METADATA_FILE)
    assert reloaded.cluster_id == "abcdefghijklmnopqrstuv"
    assert reloaded.broker_configs == {"log.retention.ms": "5"}
    assert reloaded.group_configs("g") == {"consumer.session.timeout.ms": "50000"}
    assert reloaded.to_json()["group_configs"] == {"g": {"consumer.session.timeout.ms": "50000"}}
    got = reloaded.get_topic("orders")
    assert got == t
    assert reloaded.get_topic_by_id(t.topic_id) is got


def test_delete_and_partition_state(tmp_path):
    store = LocalMetadataStore.in_dir(tmp_path)
    a, b = _topic("a"), _topic("b")
    store.put_topic(a)
    store.put_topic(b)
    store.set_partition_state("a", 1, PartitionState(1, 4, [1], [1], 2))
    assert store.delete_topic("b") is b
    assert store.delete_topic("b") is None
    reloaded = LocalMetadataStore.in_dir(tmp_path)
    assert reloaded.topic_names() == ["a"]
    assert reloaded.get_topic("a").partitions[1].leader_epoch == 4
    assert reloaded.get_topic_by_id(b.topic_id) is None


def test_producer_id_blocks_never_repeat_across_reloads(tmp_path):
    store = LocalMetadataStore.in_dir(tmp_path)
    first = store.allocate_producer_id_block(1000)
    second = LocalMetadataStore.in_dir(tmp_path).allocate_producer_id_block(1000)
    assert (first, second) == (0, 1000)
    assert LocalMetadataStore.in_dir(tmp_path).allocate_producer_id_block(10) == 2000


def test_rewrite_is_atomic_no_temp_file_left(tmp_path):
    store = LocalMetadataStore.in_dir(tmp_path)
    for i in range(5):
        store.put_topic(_topic(f"t{i}"))
    assert sorted(os.listdir(tmp_path)) == [METADATA_FILE]
    data = json.loads((tmp_path / METADATA_FILE).read_text())
    assert sorted(data["topics"]) == [f"t{i}" for i in range(5)]


def test_unknown_format_version_is_refused(tmp_path):
    (tmp_path / METADATA_FILE).write_text(json.dumps({"version": 99}))
    with pytest.raises(ValueError, match="format version"):
        LocalMetadataStore.in_dir(tmp_path)


def test_file_matches_the_store_after_every_kind_of_change(tmp_path):
    # Saves re-encode only the topics that changed: the file must still be the whole
    # store after replacing, reconfiguring, re-electing and deleting topics.
    path = tmp_path / "m.json"
    store = LocalMetadataStore(path)
    for i in range(20):
        store.put_topic(TopicMetadata(name=f"t{i}", topic_id=uuid.uuid4(),
                                      partitions={0: PartitionState(0, 0, [0], [0])}))
    store.set_partition_state("t3", 0, PartitionState(0, 4, [0], [0], 2))
    store.set_topic_configs("t4", {"retention.ms": "1000"})
    store.put_topic(TopicMetadata(name="t5", topic_id=uuid.uuid4(), configs={"cleanup.policy": "compact"}))
    store.delete_topic("t6")
    store.set_broker_configs({"log.retention.ms": "5"})
    assert json.loads(path.read_text()) == json.loads(json.dumps(store.to_json()))
    reloaded = LocalMetadataStore(path)
    assert reloaded.to_json() == store.to_json()
    assert reloaded.get_topic("t3").partitions[0].leader_epoch == 4
    assert reloaded.get_topic("t6") is None and reloaded.get_topic("t5").configs == {"cleanup.policy": "compact"}


def test_colliding_topic_follows_puts_deletes_and_reloads(tmp_path):
    store = LocalMetadataStore.in_dir(tmp_path)
    store.put_topic(_topic("a.b"))
    store.put_topic(_topic("c_d"))
    assert store.colliding_topic("a_b") == "a.b"
    assert store.colliding_topic("a.b") is None  # a topic does not collide with itself
    assert store.colliding_topic("c.d") == "c_d"
    assert store.colliding_topic("x.y") is None
    reloaded = LocalMetadataStore(tmp_path / METADATA_FILE)
    assert reloaded.colliding_topic("a_b") == "a.b"
    reloaded.delete_topic("a.b")
    assert reloaded.colliding_topic("a_b") is None
    assert reloaded.colliding_topic("c.d") == "c_d"
