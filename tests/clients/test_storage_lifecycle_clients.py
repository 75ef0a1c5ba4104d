"""Session 2's storage lifecycle changes, driven by a stock client (confluent-kafka)
over real sockets: rolled segments flushed in the background, DeleteTopics as
Kafka's rename-then-remove, internal topics refused to producers, and write-behind
(old appends leave the page cache)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def _wait(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def _record_roll_threads(monkeypatch: Any) -> list[int]:
    """From now on, the thread of every roll's file creation (PreparedRoll.create_files)."""
    import threading

    from storage.log import PreparedRoll

    made_in: list[int] = []
    real_create = PreparedRoll.create_files

    def create_files(self: Any) -> None:
        made_in.append(threading.get_ident())
        real_create(self)

    monkeypatch.setattr(PreparedRoll, "create_files", create_files)
    return made_in


def _read_values(bootstrap: str, topic: str, expected: int) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{topic}-{time.time_ns()}",
                         "enable.auto.commit": False})
    values: list[bytes] = []
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + 20
        while len(values) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                values.append(msg.value())
        # Nothing more than expected arrives.
        msg = consumer.poll(1.0)
        assert msg is None or msg.error() is not None, msg.value()
    finally:
        consumer.close()
    return values


def test_rolled_segments_are_flushed_while_a_producer_runs(broker: Any) -> None:
    admin = AdminClient({"bootstrap.servers": broker})
    admin.create_topics([NewTopic("rolling-ck", 1, 1, config={"segment.bytes": "4096"})])["rolling-ck"].result()
    producer = Producer({"bootstrap.servers": broker, "linger.ms": 0})
    errors: list[Any] = []
    for i in range(200):
        # Small batches: a batch larger than segment.bytes is refused, as in Kafka.
        producer.produce("rolling-ck", value=b"v%04d" % i + b"x" * 100,
                         on_delivery=lambda err, _msg: errors.append(err) if err else None)
        if i % 10 == 9:
            producer.flush(10)
    assert producer.flush(10) == 0 and errors == []
    log = broker.run_sync(broker.broker.log_manager.get_log, "rolling-ck", 0)
    assert broker.run_sync(lambda: len(log.segments)) > 3
    # Without any flush setting, the recovery point follows the rolls (Kafka flushes
    # the old segment after each roll): an unclean restart only rescans the active one.
    _wait(lambda: broker.run_sync(lambda: log.recovery_point == log.active_segment.base_offset))


def test_deleted_topic_name_is_reusable_at_once_and_its_files_go_later(broker: Any) -> None:
    admin = AdminClient({"bootstrap.servers": broker})
    topic = "reborn"
    admin.create_topics([NewTopic(topic, 1, 1, config={"file.delete.delay.ms": "500"})])[topic].result()
    producer = Producer({"bootstrap.servers": broker, "linger.ms": 0})
    for i in range(5):
        producer.produce(topic, value=b"old-%d" % i)
    assert producer.flush(10) == 0

    admin.delete_topics([topic])[topic].result()
    data = Path(broker.data_dir)
    renamed = [p for p in data.iterdir() if p.name.startswith(f"{topic}-0.") and p.name.endswith("-delete")]
    assert len(renamed) == 1
    _wait(lambda: topic not in admin.list_topics(timeout=10).topics)
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result()
    for i in range(3):
        producer.produce(topic, value=b"new-%d" % i)
    assert producer.flush(10) == 0
    assert _read_values(broker, topic, 3) == [b"new-0", b"new-1", b"new-2"]
    # file.delete.delay.ms later the old directory is gone; the new partition is intact.
    _wait(lambda: not renamed[0].exists())
    assert (data / f"{topic}-0" / "00000000000000000000.log").exists()
    assert _read_values(broker, topic, 3) == [b"new-0", b"new-1", b"new-2"]


def test_producers_cannot_write_share_group_state(broker: Any) -> None:
    broker.call(broker.broker.create_topic, "__share_group_state", 1, 1, {"cleanup.policy": "compact"})
    errors: list[KafkaError] = []
    producer = Producer({"bootstrap.servers": broker, "linger.ms": 0, "retries": 0})
    producer.produce("__share_group_state", key=b"k", value=b"v",
                     on_delivery=lambda err, _msg: errors.append(err))
    producer.flush(10)
    assert [e.code() for e in errors] == [KafkaError.TOPIC_EXCEPTION]


def test_write_behind_drops_old_appends_from_the_page_cache(start_broker: Any, monkeypatch: Any) -> None:
    """With a 1 MiB window, a producer's older data is written back and leaves the
    page cache while the newest stays; a consumer from offset 0 still reads it all,
    and the dropped data is read back into the cache in a worker thread, not by
    sendfile on the event loop."""
    import threading

    from kpybroker import replica_manager
    from storage import write_behind
    from tests.support.page_cache import can_drop_cached_pages, resident_fraction

    if not write_behind.supported():
        pytest.skip("write-behind needs Linux")
    broker = start_broker({"kpybroker.log.page.cache.window.bytes": str(1 << 20)})
    if not can_drop_cached_pages(broker.data_dir):
        pytest.skip("this file system keeps file pages in memory (tmpfs)")
    admin = AdminClient({"bootstrap.servers": broker})
    topic = "behind"
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result()
    producer = Producer({"bootstrap.servers": broker, "linger.ms": 5})
    errors: list[Any] = []
    count = 1600  # 16 KiB each: 25 MiB
    for i in range(count):
        producer.produce(topic, value=b"%06d" % i + os.urandom(16 * 1024 - 6),
                         on_delivery=lambda err, _msg: errors.append(err) if err else None)
        producer.poll(0)
    assert producer.flush(20) == 0 and errors == []
    segment = Path(broker.data_dir) / f"{topic}-0" / "00000000000000000000.log"
    size = segment.stat().st_size
    assert size > 25 * 1024 * 1024
    _wait(lambda: resident_fraction(segment, 0, size // 2) < 0.2)
    assert resident_fraction(segment, size - (1 << 20) + 4096, size - 4096) > 0.9

    warmed_in: list[str] = []
    original = replica_manager.read_into_cache

    def recording(ranges: Any) -> None:
        warmed_in.append(threading.current_thread().name)
        original(ranges)

    monkeypatch.setattr(replica_manager, "read_into_cache", recording)
    consumer = Consumer({"bootstrap.servers": broker, "group.id": "behind-reader",
                         "enable.auto.commit": False, "fetch.message.max.bytes": 1 << 20})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        seen = 0
        deadline = time.monotonic() + 30
        while seen < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            assert msg.offset() == seen and msg.value()[:6] == b"%06d" % seen
            seen += 1
        assert seen == count
    finally:
        consumer.close()
    assert warmed_in and "kpybroker-test" not in warmed_in  # the broker's event-loop thread


def test_the_broker_wide_page_cache_bound_drops_the_older_topic_first(start_broker: Any) -> None:
    """kpybroker.log.page.cache.total.bytes: with windows far above it, two topics
    produced one after the other keep at most the bound cached together, the older
    topic's data going first; both still read back whole."""
    from storage import write_behind
    from tests.support.page_cache import can_drop_cached_pages, resident_fraction

    if not write_behind.supported():
        pytest.skip("write-behind needs Linux")
    broker = start_broker({"kpybroker.log.page.cache.window.bytes": str(64 << 20),
                           "kpybroker.log.page.cache.total.bytes": str(4 << 20)})
    if not can_drop_cached_pages(broker.data_dir):
        pytest.skip("this file system keeps file pages in memory (tmpfs)")
    admin = AdminClient({"bootstrap.servers": broker})
    for topic in ("older", "newer"):
        admin.create_topics([NewTopic(topic, 1, 1)])[topic].result()
    producer = Producer({"bootstrap.servers": broker, "linger.ms": 5})
    errors: list[Any] = []
    count = 768  # 16 KiB each: 12 MiB per topic, 24 MiB in all: over the bound plus a step (16 MiB)
    sent: dict[str, list[bytes]] = {}
    for topic in ("older", "newer"):
        sent[topic] = [b"%06d" % i + os.urandom(16 * 1024 - 6) for i in range(count)]
        for value in sent[topic]:
            producer.produce(topic, value=value, on_delivery=lambda err, _msg: errors.append(err) if err else None)
            producer.poll(0)
        assert producer.flush(20) == 0 and errors == []
    older = Path(broker.data_dir) / "older-0" / "00000000000000000000.log"
    newer = Path(broker.data_dir) / "newer-0" / "00000000000000000000.log"
    older_size, newer_size = older.stat().st_size, newer.stat().st_size
    # The older topic left the cache whole (its window alone would have kept it all).
    _wait(lambda: resident_fraction(older, 0, older_size) < 0.2)
    # The newest appends of the newer topic stayed.
    assert resident_fraction(newer, newer_size - (2 << 20), newer_size - 4096) > 0.9
    # Its oldest appends go too, once the write-behind thread reaches their drop
    # (queued after the older topic's, and waiting for their writeback).
    _wait(lambda: resident_fraction(newer, 0, 4 << 20) < 0.2)
    assert _read_values(broker, "older", count) == sent["older"]
    assert _read_values(broker, "newer", count) == sent["newer"]


def test_metadata_writes_are_off_the_loop_and_answers_wait_for_them(broker: Any) -> None:
    # confluent-kafka over real sockets, with the metadata file's write held in its
    # worker thread: CreateTopics and an idempotent producer's InitProducerId are
    # not answered before their change is on disk, while a plain producer to an
    # existing topic is served meanwhile (the event loop is not blocked).
    from replication.metadata_store import LocalMetadataStore
    from tests.support.metadata_writes import held_metadata_writes

    bootstrap = str(broker)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic("meta-live", 1, 1)])["meta-live"].result(20)
    store = broker.broker.metadata
    with held_metadata_writes(store, 20) as (release, held):
        plain = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
        plain.produce("meta-live", b"warm")
        assert plain.flush(20) == 0
        # CreateTopics waits for the write; the plain producer does not.
        created = admin.create_topics([NewTopic("meta-held", 1, 1)])["meta-held"]
        _wait(lambda: len(held) == 1)
        delivered: list[Any] = []
        plain.produce("meta-live", b"during", on_delivery=lambda err, msg: delivered.append(err))
        assert plain.flush(10) == 0 and delivered == [None]
        time.sleep(0.3)
        assert not created.done(), "CreateTopics was answered before the topic was on disk"
        release.set()
        created.result(20)
        assert LocalMetadataStore(store.path).get_topic("meta-held") is not None

        # The first idempotent producer reserves a producer id block: no record of
        # it is acknowledged before the block is on disk.
        release.clear()
        idempotent = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 0})
        acked: list[Any] = []
        idempotent.produce("meta-live", b"idem", on_delivery=lambda err, msg: acked.append(err))
        _wait(lambda: len(held) == 2)
        idempotent.poll(0.5)
        assert acked == [], "a record was acknowledged before its producer id block was on disk"
        release.set()
        assert idempotent.flush(20) == 0 and acked == [None]
        assert LocalMetadataStore(store.path).next_producer_id > 0


def test_block_reservation_is_off_the_loop(broker: Any, monkeypatch: Any) -> None:
    # confluent-kafka over real sockets, with the file system's block reservation
    # for a new segment stuck in its thread: the producer's records are still
    # appended and acknowledged, and the segments still roll (the event loop waits
    # neither for fallocate nor for the truncation that gives reserved blocks back);
    # the blocks are reserved, and the rolled segments' given back, once the file
    # system answers.
    import threading

    from storage import segment as segment_module

    real = segment_module._libc_fallocate()
    if not real:
        pytest.skip("no fallocate here")
    hold = threading.Event()
    threads: list[int] = []

    def held_fallocate(fd: int, mode: int, offset: int, length: int) -> int:
        threads.append(threading.get_ident())
        hold.wait(20)
        return real(fd, mode, offset, length)

    bootstrap = str(broker)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic("reserve-live", 1, 1, config={"segment.bytes": "65536"})])["reserve-live"].result(20)
    monkeypatch.setattr(segment_module, "_fallocate", held_fallocate)
    # Batches well under segment.bytes: a larger one is refused (RECORD_LIST_TOO_LARGE),
    # as by Kafka, and librdkafka may gather the 50 records into one.
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "batch.size": 16384})
    try:
        delivered: list[Any] = []
        producer.produce("reserve-live", b"first" * 100, on_delivery=lambda err, msg: delivered.append(err))
        assert producer.flush(10) == 0
        _wait(lambda: len(threads) >= 1)
        for i in range(50):
            producer.produce("reserve-live", b"%04d" % i + b"x" * 2000,
                             on_delivery=lambda err, msg: delivered.append(err))
        assert producer.flush(10) == 0, "records waited for the reservation"
        assert delivered == [None] * 51
        assert broker.run_sync(threading.get_ident) not in threads
        log = broker.run_sync(broker.broker.log_manager.get_log, "reserve-live", 0)
        assert broker.run_sync(lambda: len(log.segments)) > 1, "no roll while the reservation was held"
        hold.set()
        assert segment_module.wait_for_reservations()
        segments = broker.run_sync(lambda: list(log.segments))
        for rolled in segments[:-1]:
            size = broker.run_sync(lambda seg=rolled: seg.size)
            assert os.stat(rolled.log_path).st_blocks * 512 < size + 8192, "a rolled segment kept its reservation"
        segment = segments[-1]
        size = broker.run_sync(lambda: segment.size)
        assert os.stat(segment.log_path).st_blocks * 512 > size, "no blocks were reserved past the end"
        assert os.path.getsize(segment.log_path) == size
    finally:
        hold.set()
        producer.flush(10)
    assert len(_read_values(bootstrap, "reserve-live", 51)) == 51


def test_segment_files_for_rolls_are_made_off_the_loop(broker: Any, monkeypatch: Any) -> None:
    # confluent-kafka over real sockets, with small segments: each roll's files are
    # created (and its producer snapshot written) in a worker thread, never on the
    # event loop, and every record is acknowledged once and read back in order.
    import threading

    import storage.producer_state as producer_state

    snapshots_in: list[int] = []
    real_write = producer_state.write_snapshot

    def write_snapshot(*args: Any, **kwargs: Any) -> None:
        snapshots_in.append(threading.get_ident())
        real_write(*args, **kwargs)

    bootstrap = str(broker)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic("roll-live", 1, 1, config={"segment.bytes": "16384"})])["roll-live"].result(20)
    made_in = _record_roll_threads(monkeypatch)
    monkeypatch.setattr(producer_state, "write_snapshot", write_snapshot)
    # Idempotent: the producer state each roll's snapshot describes is not empty.
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "batch.size": 4096,
                         "enable.idempotence": True})
    delivered: list[Any] = []
    for i in range(60):
        producer.produce("roll-live", b"%04d" % i + b"x" * 1000, on_delivery=lambda err, msg: delivered.append(err))
    assert producer.flush(20) == 0
    assert delivered == [None] * 60
    log = broker.run_sync(broker.broker.log_manager.get_log, "roll-live", 0)
    segments = broker.run_sync(lambda: len(log.segments))
    assert segments > 2
    loop_thread = broker.run_sync(threading.get_ident)
    assert len(made_in) == segments - 1 and loop_thread not in made_in
    assert snapshots_in and loop_thread not in snapshots_in
    values = _read_values(bootstrap, "roll-live", 60)
    assert [v[:4] for v in values] == [b"%04d" % i for i in range(60)]


def test_lowering_retention_empties_an_idle_topic_as_in_kafka(start_broker: Any, monkeypatch: Any) -> None:
    # The usual way to purge a topic: set retention.ms low and wait. Kafka's
    # retention takes the active segment too (rolling first, since a log keeps one
    # segment), so the whole topic empties; the roll's files are made off the loop.
    import threading

    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

    broker = start_broker({"log.retention.check.interval.ms": "200"})
    bootstrap = str(broker)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic("purge-me", 1, 1)])["purge-me"].result(20)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i in range(10):
        producer.produce("purge-me", b"m%d" % i)
    assert producer.flush(20) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "purge-watch"})
    try:
        assert consumer.get_watermark_offsets(TopicPartition("purge-me", 0), timeout=10) == (0, 10)
        made_in = _record_roll_threads(monkeypatch)
        resource = ConfigResource(ConfigResource.Type.TOPIC, "purge-me", incremental_configs=[
            ConfigEntry("retention.ms", "100", incremental_operation=AlterConfigOpType.SET)])
        admin.incremental_alter_configs([resource])[resource].result(20)
        _wait(lambda: consumer.get_watermark_offsets(TopicPartition("purge-me", 0), timeout=10) == (10, 10))
        loop_thread = broker.run_sync(threading.get_ident)
        assert made_in and loop_thread not in made_in
        log = broker.run_sync(broker.broker.log_manager.get_log, "purge-me", 0)
        assert broker.run_sync(lambda: [(s.base_offset, s.size) for s in log.segments]) == [(10, 0)]
        # The topic goes on from where it was.
        producer.produce("purge-me", b"after")
        assert producer.flush(20) == 0
        assert consumer.get_watermark_offsets(TopicPartition("purge-me", 0), timeout=10) == (10, 11)
    finally:
        consumer.close()


def test_age_rolls_are_made_off_the_loop(broker: Any, monkeypatch: Any) -> None:
    # segment.ms 1000 and records stamped 2 s apart (CreateTime, set by the client):
    # every batch after the first rolls by age, with its files made in a worker
    # thread; the records are all there, in order, one per segment.
    import threading

    bootstrap = str(broker)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic("age-roll", 1, 1, config={"segment.ms": "1000"})])["age-roll"].result(20)
    made_in = _record_roll_threads(monkeypatch)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    start_ms = int(time.time() * 1000) - 60_000
    for i in range(6):
        producer.produce("age-roll", b"a%d" % i, timestamp=start_ms + 2000 * i)
        assert producer.flush(20) == 0  # one batch each
    log = broker.run_sync(broker.broker.log_manager.get_log, "age-roll", 0)
    assert broker.run_sync(lambda: [s.base_offset for s in log.segments]) == list(range(6))
    loop_thread = broker.run_sync(threading.get_ident)
    assert len(made_in) == 5 and loop_thread not in made_in
    # Stamped two hours ahead: refused (message.timestamp.after.max.ms is 1 h), and
    # no segment is rolled for it.
    errors: list[Any] = []
    producer.produce("age-roll", b"late", timestamp=int(time.time() * 1000) + 7_200_000,
                     on_delivery=lambda err, _msg: errors.append(err))
    producer.flush(20)
    assert [e.code() for e in errors] == [KafkaError.INVALID_TIMESTAMP]
    assert broker.run_sync(lambda: len(log.segments)) == 6 and len(made_in) == 5
    assert _read_values(bootstrap, "age-roll", 6) == [b"a%d" % i for i in range(6)]


def test_messages_without_timestamps_survive_retention(start_broker: Any) -> None:
    # confluent-kafka with timestamp -1: librdkafka sends records without timestamps
    # under a MaxTimestamp of 0. Kafka stores the records' max (-1), so time-based
    # retention goes by the segment file's time and keeps them; a stored 0 would make
    # the next retention pass delete acknowledged messages as 56 years old.
    broker = start_broker({"log.retention.check.interval.ms": "100"})
    bootstrap = str(broker)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for name in ("no-ts", "eight-days-old"):
        admin.create_topics([NewTopic(name, 1, 1)])[name].result(20)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i in range(3):
        producer.produce("no-ts", b"n%d" % i, timestamp=-1)
        assert producer.flush(20) == 0
    # The control: stamped past the default retention.ms (7 days), so retention does
    # delete these; once it has, it has looked at the other topic too.
    producer.produce("eight-days-old", b"old", timestamp=int(time.time() * 1000) - 8 * 86_400_000)
    assert producer.flush(20) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "no-ts-watch"})
    try:
        _wait(lambda: consumer.get_watermark_offsets(TopicPartition("eight-days-old", 0), timeout=10) == (1, 1))
        time.sleep(0.3)  # a few more passes
        assert consumer.get_watermark_offsets(TopicPartition("no-ts", 0), timeout=10) == (0, 3)
    finally:
        consumer.close()
    log = broker.run_sync(broker.broker.log_manager.get_log, "no-ts", 0)
    assert broker.run_sync(lambda: log.segments[-1].max_timestamp_so_far) == -1
    assert _read_values(bootstrap, "no-ts", 3) == [b"n0", b"n1", b"n2"]
