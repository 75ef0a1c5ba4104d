"""Apache Kafka's own Java client (kafka-clients 4.3) against kpybroker.

Each test runs one scenario of ``tests/clients/java/JavaClientCheck.java`` in a JVM
against a fresh in-process broker; the checks are in the Java program (it throws on
the first that fails) and the figures it reports are checked here.
"""

from __future__ import annotations

from typing import Any

import pytest


def test_admin_client(broker: Any, java_client: Any) -> None:
    # Cluster and topic description, create (and TopicExists), configs (describe and
    # incremental alter), createPartitions, listOffsets (earliest, latest, max
    # timestamp), deleteRecords, deleteTopics.
    assert java_client.run("admin", broker, "java-admin") == {"admin": "ok"}


@pytest.mark.parametrize("compression", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_idempotent_producer_and_classic_group(broker: Any, java_client: Any, compression: str) -> None:
    result = java_client.run("produce-consume", broker, f"java-pc-{compression}", compression)
    assert result == {"compression": compression, "consumed": 3000, "partitions": 3,
                      "group_state": "Empty", "group_type": "Classic"}
    # What the broker stored is what the client sent, batch for batch.
    codec = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}[compression]
    rm = broker.broker.replica_manager
    stored = 0
    for p in range(3):
        log = rm.get_partition(f"java-pc-{compression}", p).log
        first = log.segments[0]
        header = first.read_header(0)
        assert header is not None and header.attributes & 0x07 == codec
        assert header.producer_id >= 0, "the Java producer is idempotent by default"
        # Kafka's own FileRecords reads the segment files (sizes, magic, CRC-32C of
        # every batch, every record decompressed and checked).
        segments = java_client.run("read-segments", broker, str(log.dir))
        assert segments["next_offset"] == log.log_end_offset
        assert segments["codecs"] == compression
        stored += segments["records"]
    assert stored == 3000


def test_consumer_group_protocol(broker: Any, java_client: Any) -> None:
    # KIP-848: group.protocol=consumer (ConsumerGroupHeartbeat, server-side assignment).
    result = java_client.run("consumer-protocol", broker, "java-kip848")
    assert result["consumed"] == 3000
    assert result["group_type"] == "Consumer"
    assert result["group_state"] == "Empty"


def test_transactions_and_fencing(broker: Any, java_client: Any) -> None:
    # Commit, abort, sendOffsetsToTransaction, a second producer fencing the first,
    # read_committed vs read_uncommitted, listTransactions / describeTransactions.
    result = java_client.run("transactions", broker, "java-txn")
    assert result == {"read_committed": 16, "read_uncommitted": 26, "txn_state": "CompleteCommit"}
    # The markers kpybroker wrote are control batches Kafka's own record classes accept:
    # per partition one per transaction that touched it (4 transactions, two partitions).
    rm = broker.broker.replica_manager
    for p in range(2):
        log = rm.get_partition("java-txn", p).log
        segments = java_client.run("read-segments", broker, str(log.dir))
        assert segments["next_offset"] == log.log_end_offset
        assert segments["control_batches"] >= 3
        assert segments["transactional_batches"] == segments["batches"]


def test_record_shapes_timestamps_and_limits(broker: Any, java_client: Any) -> None:
    # Headers (with a null value), null and empty keys and values, CreateTime,
    # offsetsForTimes, seek, and RecordTooLargeException over message.max.bytes.
    assert java_client.run("records", broker, "java-records") == {"records": 4}


def test_admin_client_groups(broker: Any, java_client: Any) -> None:
    # alterConsumerGroupOffsets (with metadata), listConsumerGroups, a member resuming
    # from altered offsets, deleteConsumerGroups refused while a member is in the group
    # (GroupNotEmptyException), deleteConsumerGroupOffsets, deleteConsumerGroups.
    result = java_client.run("admin-groups", broker, "java-admin-groups")
    assert result == {"groups": "ok", "deleted_group_state": "GroupIdNotFoundException"}


def test_admin_client_cluster_apis(broker: Any, java_client: Any) -> None:
    # describeLogDirs, describeFeatures, describeAcls (SecurityDisabledException without
    # an authorizer), broker configs, describeProducers, listPartitionReassignments.
    result = java_client.run("admin-cluster", broker, "java-admin-cluster")
    assert result["cluster"] == "ok"


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_idempotent_producer_through_broker_restart(broker_process: Any, java_client: Any, kill: bool) -> None:
    """The Java idempotent producer keeps sending while ``python -m kpybroker`` is
    stopped (or killed -9) and restarted: every record is acknowledged, and the topic
    holds each exactly once (the retried batches were recognised as duplicates)."""
    count = 20_000
    producer = java_client.start("produce-through-restart", broker_process, "java-restart", str(count))
    producer.wait_line(lambda line: line.startswith("ACKED ") and int(line.split()[1]) >= 3000)
    if kill:
        broker_process.kill()
    broker_process.restart()
    result = producer.result()
    assert result == {"acked": count, "failed": 0, "duplicates": 0, "missing": 0}


def test_cleaned_segments_read_by_kafkas_record_classes(start_broker: Any, java_client: Any) -> None:
    # Segments rewritten by the log cleaner (compaction, a tombstone) are still
    # segments Kafka's FileRecords accepts, CRCs and all.
    import time
    from pathlib import Path

    from confluent_kafka import Producer

    from storage.cleaner import LogCleaner

    broker = start_broker({"log.cleaner.backoff.ms": "100"})
    broker.call(broker.broker.create_topic, "java-compacted", 1, 1,
                {"cleanup.policy": "compact", "segment.bytes": "8192", "min.cleanable.dirty.ratio": "0.01"})
    producer = Producer({"bootstrap.servers": broker, "linger.ms": 0, "compression.type": "lz4"})
    for i in range(3000):
        producer.produce("java-compacted", key=b"key-%d" % (i % 10), value=b"value-%05d" % i)
        if i % 100 == 99:
            producer.flush(10)
    producer.produce("java-compacted", key=b"key-3", value=None)  # a tombstone
    assert producer.flush(10) == 0
    log = broker.run_sync(broker.broker.log_manager.get_log, "java-compacted", 0)
    active_base = broker.run_sync(lambda: log.active_segment.base_offset)
    deadline = time.monotonic() + 30
    while LogCleaner.read_checkpoint(Path(log.dir).parent).get(("java-compacted", 0), 0) < active_base:
        assert time.monotonic() < deadline, "the cleaner did not catch up"
        time.sleep(0.1)
    segments = java_client.run("read-segments", broker, str(log.dir))
    assert segments["next_offset"] == broker.run_sync(lambda: log.log_end_offset) == 3001
    assert segments["records"] < 3001 - active_base + 20, "the cleaned part keeps about one record per key"
    # librdkafka sends a batch uncompressed when lz4 would make it larger.
    assert "lz4" in segments["codecs"].split(",")


def test_static_members_rejoin_without_a_rebalance(broker: Any, java_client: Any) -> None:
    # KIP-345: a static member (group.instance.id) closed and restarted within the
    # session timeout takes back its partitions; the other member sees no new generation.
    result = java_client.run("static-members", broker, "java-static")
    assert result["instances"] == "instance-a,instance-b"
    assert result["generation_kept"] >= 1
