"""Log compaction end to end: stock clients against a broker whose cleaner runs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from storage.cleaner import CLEANER_CHECKPOINT, LogCleaner

CLEANER_OVERRIDES = {"log.cleaner.backoff.ms": "100"}


def _wait_for(predicate: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def _log(broker: Any, topic: str, partition: int) -> Any:
    return broker.run_sync(broker.broker.log_manager.get_log, topic, partition)


def _checkpoint(broker: Any, topic: str, partition: int) -> int | None:
    log = _log(broker, topic, partition)
    path = Path(log.dir).parent / CLEANER_CHECKPOINT
    if not path.exists():
        return None
    return LogCleaner.read_checkpoint(path.parent).get((topic, partition))


def test_compacted_topic_keeps_latest_value_per_key(start_broker: Any) -> None:
    broker = start_broker(CLEANER_OVERRIDES)
    topic = "compacted"
    broker.call(
        broker.broker.create_topic,
        topic,
        1,
        1,
        # Held back while producing, so that the size before cleaning is really measured.
        {"cleanup.policy": "compact", "segment.bytes": "8192", "min.cleanable.dirty.ratio": "0.01",
         "min.compaction.lag.ms": "3600000"},
    )
    written: dict[int, tuple[bytes, bytes]] = {}

    def on_delivery(err: Any, msg: Any) -> None:
        assert err is None, err
        written[msg.offset()] = (msg.key(), msg.value())

    producer = Producer({"bootstrap.servers": broker, "linger.ms": 0, "enable.idempotence": True})
    for i in range(3000):
        producer.produce(
            topic, key=b"key-%d" % (i % 10), value=b"value-%05d" % i, on_delivery=on_delivery
        )
        if i % 50 == 49:
            producer.flush(10)
    assert producer.flush(10) == 0
    assert len(written) == 3000 and sorted(written) == list(range(3000))

    log = _log(broker, topic, 0)
    size_before = sum(p.stat().st_size for p in Path(log.dir).glob("*.log"))
    active_base = broker.run_sync(lambda: log.active_segment.base_offset)
    assert active_base > 1000  # many segments to clean
    assert _checkpoint(broker, topic, 0) in (None, 0)  # nothing cleaned yet
    broker.call(
        broker.broker.alter_topic_config,
        topic,
        {"cleanup.policy": "compact", "segment.bytes": "8192", "min.cleanable.dirty.ratio": "0.01"},
    )
    # The cleaner catches up with everything below the active segment.
    _wait_for(lambda: _checkpoint(broker, topic, 0) == active_base)
    checkpoint = active_base
    size_after = broker.run_sync(lambda: log.size_in_bytes)
    assert size_after < size_before / 3

    consumer = Consumer(
        {
            "bootstrap.servers": broker,
            "group.id": "reader",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        seen: list[tuple[int, bytes, bytes]] = []
        deadline = time.monotonic() + 30
        while (not seen or seen[-1][0] < 2999) and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            seen.append((msg.offset(), msg.key(), msg.value()))
    finally:
        consumer.close()
    assert seen and seen[-1][0] == 2999
    # Offsets are those the producer was given, each holding what was written there.
    for offset, key, value in seen:
        assert written[offset] == (key, value)
    latest_below: dict[bytes, int] = {}
    for offset, (key, _v) in written.items():
        if offset < checkpoint:
            latest_below[key] = max(offset, latest_below.get(key, -1))
    cleaned = sorted(o for o, _k, _v in seen if o < checkpoint)
    assert cleaned == sorted(latest_below.values())
    # Everything not yet cleanable (the active segment) is still there as produced.
    assert [o for o, _k, _v in seen if o >= checkpoint] == list(range(checkpoint, 3000))


def test_consumer_offsets_shrink_after_many_commits(start_broker: Any) -> None:
    broker = start_broker({**CLEANER_OVERRIDES, "offsets.topic.segment.bytes": "2048"})
    broker.call(broker.broker.create_topic, "plain", 1, 1, {})
    consumer = Consumer(
        {"bootstrap.servers": broker, "group.id": "committer", "enable.auto.commit": False}
    )
    try:
        for i in range(400):
            consumer.commit(offsets=[TopicPartition("plain", 0, i + 1)], asynchronous=False)
        partition = broker.broker.group_coordinator.partition_for("committer")
        log = _log(broker, "__consumer_offsets", partition)
        committed_bytes = 400 * 60  # a lower bound on what 400 commit records take
        _wait_for(lambda: _checkpoint(broker, "__consumer_offsets", partition) is not None)
        _wait_for(lambda: broker.run_sync(lambda: log.size_in_bytes) < committed_bytes / 4)
        assert broker.run_sync(lambda: len(log.segments)) >= 2
        assert broker.run_sync(lambda: log.log_end_offset) >= 400
        got = consumer.committed([TopicPartition("plain", 0)], timeout=10)
        assert got[0].offset == 400
    finally:
        consumer.close()


def test_committed_offsets_survive_restart_after_cleaning(
    start_broker: Any, tmp_path: Path
) -> None:
    data_dir = str(tmp_path / "restart")
    overrides = {**CLEANER_OVERRIDES, "offsets.topic.segment.bytes": "2048"}
    broker = start_broker(overrides, data_dir=data_dir)
    broker.call(broker.broker.create_topic, "plain", 1, 1, {})
    consumer = Consumer({"bootstrap.servers": broker, "group.id": "g", "enable.auto.commit": False})
    for i in range(200):
        consumer.commit(offsets=[TopicPartition("plain", 0, i + 1)], asynchronous=False)
    consumer.close()
    partition = broker.broker.group_coordinator.partition_for("g")
    _wait_for(lambda: _checkpoint(broker, "__consumer_offsets", partition) is not None)
    broker.stop()
    again = start_broker(overrides, data_dir=data_dir)
    consumer = Consumer({"bootstrap.servers": again, "group.id": "g", "enable.auto.commit": False})
    try:
        got = consumer.committed([TopicPartition("plain", 0)], timeout=10)
        assert got[0].offset == 200
    finally:
        consumer.close()


def test_cleaner_disabled_leaves_logs_alone(start_broker: Any) -> None:
    broker = start_broker({**CLEANER_OVERRIDES, "log.cleaner.enable": "false"})
    topic = "kept"
    broker.call(
        broker.broker.create_topic,
        topic,
        1,
        1,
        {"cleanup.policy": "compact", "segment.bytes": "4096", "min.cleanable.dirty.ratio": "0.01"},
    )
    producer = Producer({"bootstrap.servers": broker, "linger.ms": 0})
    for i in range(300):
        producer.produce(topic, key=b"k", value=b"v%d" % i)
        if i % 20 == 19:
            producer.flush(10)
    assert producer.flush(10) == 0
    log = _log(broker, topic, 0)
    size = broker.run_sync(lambda: log.size_in_bytes)
    time.sleep(1.0)  # ten backoff periods
    assert _checkpoint(broker, topic, 0) is None
    assert broker.run_sync(lambda: log.size_in_bytes) == size
