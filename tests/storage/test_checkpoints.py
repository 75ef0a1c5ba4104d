"""Checkpoint files, partition.metadata, meta.properties and the leader-epoch cache."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from storage.checkpoints import (
    CorruptCheckpointError,
    OffsetCheckpointFile,
    read_partition_metadata,
    read_properties,
    uuid_from_kafka,
    uuid_to_kafka,
    write_clean_shutdown,
    write_meta_properties,
    write_partition_metadata,
)
from storage.leader_epoch import LeaderEpochFileCache


def test_offset_checkpoint_format_and_roundtrip(tmp_path: Path) -> None:
    cp = OffsetCheckpointFile(tmp_path / "recovery-point-offset-checkpoint")
    assert cp.read() == {}
    cp.write({("orders", 1): 42, ("__consumer_offsets", 0): 7})
    text = (tmp_path / "recovery-point-offset-checkpoint").read_text()
    assert text == "0\n2\n__consumer_offsets 0 7\norders 1 42\n"
    assert cp.read() == {("orders", 1): 42, ("__consumer_offsets", 0): 7}
    assert not (tmp_path / "recovery-point-offset-checkpoint.tmp").exists()


@pytest.mark.parametrize(
    "content",
    ["", "1\n0\n", "0\n2\nt 0 1\n", "0\n1\nt 0\n", "0\n1\nt x 1\n", "zero\n0\n", "0\n1\nt 0 1 9\n"],
)
def test_corrupt_offset_checkpoint_names_the_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "replication-offset-checkpoint"
    path.write_text(content)
    with pytest.raises(CorruptCheckpointError) as info:
        OffsetCheckpointFile(path).read()
    assert str(path) in str(info.value)


def test_uuid_matches_kafka_string_form() -> None:
    # Kafka prints Uuid(0x0123456789abcdef, 0xfedcba9876543210) as base64 url-safe, unpadded.
    u = uuid.UUID("0123456789abcdeffedcba9876543210")
    assert uuid_to_kafka(u) == "ASNFZ4mrze_-3LqYdlQyEA"
    assert uuid_from_kafka("ASNFZ4mrze_-3LqYdlQyEA") == u
    with pytest.raises(ValueError):
        uuid_from_kafka("short")


def test_partition_metadata(tmp_path: Path) -> None:
    assert read_partition_metadata(tmp_path) is None
    u = uuid.uuid4()
    write_partition_metadata(tmp_path, u)
    assert (
        tmp_path / "partition.metadata"
    ).read_text() == f"version: 0\ntopic_id: {uuid_to_kafka(u)}"
    assert read_partition_metadata(tmp_path) == u
    (tmp_path / "partition.metadata").write_text("version: 3\ntopic_id: x")
    with pytest.raises(CorruptCheckpointError):
        read_partition_metadata(tmp_path)


def test_meta_properties_and_clean_shutdown(tmp_path: Path) -> None:
    write_meta_properties(tmp_path, 3, "abcDEF123")
    assert read_properties(tmp_path / "meta.properties") == {
        "version": "0",
        "broker.id": "3",
        "cluster.id": "abcDEF123",
    }
    write_clean_shutdown(tmp_path)
    assert json.loads((tmp_path / ".kafka_cleanshutdown").read_text()) == {
        "version": 0,
        "brokerEpoch": -1,
    }


def test_leader_epoch_cache_assign_and_end_offsets(tmp_path: Path) -> None:
    cache = LeaderEpochFileCache(tmp_path)
    cache.assign(0, 0)
    cache.assign(0, 5)  # same epoch, later offset: no change
    cache.assign(2, 10)
    cache.assign(4, 30)
    assert cache.entries() == [(0, 0), (2, 10), (4, 30)]
    assert (tmp_path / "leader-epoch-checkpoint").read_text() == "0\n3\n0 0\n2 10\n4 30\n"
    assert cache.end_offset_for(4, 50) == (4, 50)  # latest epoch: log end offset
    assert cache.end_offset_for(2, 50) == (2, 30)
    assert cache.end_offset_for(3, 50) == (2, 30)  # unknown epoch between: previous epoch
    assert cache.end_offset_for(-1, 50) == (-1, -1)
    assert cache.end_offset_for(7, 50) == (-1, -1)
    cache2 = LeaderEpochFileCache(tmp_path)
    assert cache2.entries() == cache.entries()
    assert cache.epoch_for_offset(12) == 2 and cache.epoch_for_offset(30) == 4
    cache.truncate_from_end(30)
    assert cache.entries() == [(0, 0), (2, 10)]
    cache.truncate_from_start(12)
    assert cache.entries() == [(2, 12)]
    assert LeaderEpochFileCache(tmp_path).entries() == [(2, 12)]
    # Truncating to where the cache already starts (every load of a log) changes
    # nothing and does not rewrite the file.
    before = (tmp_path / "leader-epoch-checkpoint").stat().st_ino
    cache.truncate_from_start(12)
    assert cache.entries() == [(2, 12)]
    assert (tmp_path / "leader-epoch-checkpoint").stat().st_ino == before
    # A lower epoch than the latest wins over conflicting later entries, as in Kafka.
    cache.assign(5, 40)
    cache.assign(3, 20)
    assert cache.entries() == [(2, 12), (3, 20)]


def test_corrupt_leader_epoch_checkpoint_starts_empty(tmp_path: Path, caplog) -> None:
    (tmp_path / "leader-epoch-checkpoint").write_text("0\n5\n1 2\n")
    cache = LeaderEpochFileCache(tmp_path)
    assert cache.entries() == []
    assert "leader-epoch-checkpoint" in caplog.text
