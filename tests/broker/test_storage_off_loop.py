"""File work that may block on the disk runs in worker threads, never on the event
loop that serves every connection: the fsync of rolled segments (Kafka schedules it
at each roll; here also with ``log.flush.scheduler.interval.ms`` at its never-check
default), the creation of new partitions' files, the removal of deleted partitions
(Kafka's rename to ``-delete`` and removal ``file.delete.delay.ms`` later), and of
segments retired by retention.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import trio

from tests.support.metadata_writes import held_metadata_writes
from tests.support.trio_broker import batch, create_topic, decode_values, running_broker
from wire.errors import ErrorCode


async def test_rolled_segments_are_flushed_off_the_event_loop(tmp_path: Any, monkeypatch: Any) -> None:
    import os

    loop_thread = threading.get_ident()
    fsync_threads: list[int] = []
    real_fsync = os.fsync

    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "rolling", 1, **{"segment.bytes": "1000"})
        rm = broker.replica_manager
        log = rm.get_partition("rolling", 0).log

        def fsync(fd: int) -> None:
            fsync_threads.append(threading.get_ident())
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", fsync)
        for _ in range(12):
            result = await rm.append_records({("rolling", 0): batch([b"x" * 200] * 2)},
                                             required_acks=1, timeout_ms=1000)
            assert result[("rolling", 0)].error_code == ErrorCode.NONE
        assert len(log.segments) > 2
        assert log.recovery_point < log.active_segment.base_offset
        with trio.fail_after(10):
            while log.recovery_point < log.active_segment.base_offset:
                await trio.sleep(0.05)
        assert fsync_threads, "the rolled segments were fsynced"
        assert loop_thread not in fsync_threads


async def test_partition_logs_are_created_off_the_event_loop(tmp_path: Any, monkeypatch: Any) -> None:
    # Creating a partition's files costs milliseconds of file-system work: a topic of
    # hundreds of partitions must not hold every connection up meanwhile.
    from storage.log import Log

    loop_thread = threading.get_ident()
    opened_in: dict[str, int] = {}
    real_open = Log.open.__func__

    def open_log(cls: Any, path: Any, *args: Any, **kwargs: Any) -> Any:
        opened_in[str(path)] = threading.get_ident()
        return real_open(cls, path, *args, **kwargs)

    dirs = [tmp_path / "a", tmp_path / "b"]
    async with running_broker(str(tmp_path / "unused"), **{"log.dirs": ",".join(map(str, dirs))}) as broker:
        monkeypatch.setattr(Log, "open", classmethod(open_log))
        await create_topic(broker, "wide", 6)
        await broker.create_partitions("wide", 8)
        rm = broker.replica_manager
        assert sorted(p.rsplit("-", 1)[1] for p in opened_in) == [str(i) for i in range(8)]
        assert loop_thread not in opened_in.values()
        # Spread over both log dirs, and served.
        parents = [rm.get_partition("wide", p).log.dir.parent for p in range(8)]
        assert {str(x) for x in parents} == {str(d.absolute()) for d in dirs}
        assert abs(parents.count(parents[0]) - 4) <= 1
        result = await rm.append_records({("wide", 7): batch([b"v"])}, required_acks=-1, timeout_ms=1000)
        assert result[("wide", 7)].error_code == ErrorCode.NONE


async def test_deleted_partitions_are_removed_later_off_the_event_loop(tmp_path: Any) -> None:
    # Kafka's async delete: the directory is renamed to <topic>-<partition>.<id>-delete
    # at once, a topic of the same name can be created right away, a fetch answer
    # already made can still be read, and the files go file.delete.delay.ms later.
    from wire.buffers import join

    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "gone", 1, **{"file.delete.delay.ms": "300"})
        rm = broker.replica_manager
        await rm.append_records({("gone", 0): batch([b"old"])}, required_acks=1, timeout_ms=1000)
        rm.get_partition("gone", 0).maybe_increment_high_watermark()
        [answer] = rm.read_all([_fetch("gone")], replica_id=-1, max_bytes=1 << 20, isolation_level=0)

        await broker.delete_topic("gone")
        renamed = [p.name for p in tmp_path.iterdir() if p.name.startswith("gone-0.")]
        assert len(renamed) == 1 and renamed[0].endswith("-delete")
        assert not (tmp_path / "gone-0").exists()
        await create_topic(broker, "gone", 1)
        await rm.append_records({("gone", 0): batch([b"new"])}, required_acks=1, timeout_ms=1000)
        # The answer read before the delete still reads the old bytes.
        assert b"old" in bytes(join(answer.records))

        with trio.fail_after(10):
            while (tmp_path / renamed[0]).exists():
                await trio.sleep(0.05)
        # The new partition's files were not touched by the removal of the old one.
        new_log = rm.get_partition("gone", 0).log
        assert new_log.log_end_offset == 1 and (tmp_path / "gone-0" / "00000000000000000000.log").exists()


def _fetch(topic: str) -> Any:
    from kpybroker.replica_manager import FetchPartitionRequest

    return FetchPartitionRequest(topic, 0, 0, 1 << 20, -1, -1, -1, None)


def test_leftover_deleted_dirs_are_removed_after_a_restart(tmp_path: Any) -> None:
    from storage.config import LogConfig
    from storage.log_manager import LogManager

    leftover = tmp_path / "t-0.0123456789abcdef0123456789abcdef-delete"
    leftover.mkdir()
    (leftover / "00000000000000000000.log").write_bytes(b"x" * 100)
    manager = LogManager([tmp_path], broker_id=1, cluster_id="c", default_config=LogConfig())
    try:
        assert manager.get_log("t", 0) is None
        due = manager.logs_due_for_removal(0)
        assert due == [leftover]
        manager.remove_deleted_logs(due)
        assert not leftover.exists()
    finally:
        manager.shutdown()


async def test_retired_segments_are_removed_off_the_event_loop(tmp_path: Any, monkeypatch: Any) -> None:
    # Retention renames expired segments to *.deleted at once and their files go
    # file.delete.delay.ms later, in a worker thread; the log start offsets it moved
    # are checkpointed (two fsyncs) in a worker thread too.
    import os
    import time

    from storage import checkpoints

    loop_thread = threading.get_ident()
    unlinked: list[tuple[str, int]] = []
    real_unlink = os.unlink
    checkpointed: list[int] = []
    real_write_atomic = checkpoints.write_atomic

    def unlink(path: Any, *args: Any, **kwargs: Any) -> None:
        unlinked.append((str(path), threading.get_ident()))
        real_unlink(path, *args, **kwargs)

    def write_atomic(path: Any, *args: Any, **kwargs: Any) -> None:
        if path.name == "log-start-offset-checkpoint":
            checkpointed.append(threading.get_ident())
        real_write_atomic(path, *args, **kwargs)

    old = int(time.time() * 1000) - 3_600_000
    async with running_broker(str(tmp_path), **{"log.retention.check.interval.ms": "100"}) as broker:
        await create_topic(broker, "expiring", 1, **{"segment.bytes": "1000", "retention.ms": "60000",
                                                     "file.delete.delay.ms": "200"})
        rm = broker.replica_manager
        for _ in range(6):
            await rm.append_records({("expiring", 0): batch([b"x" * 300], timestamps=[old])},
                                    required_acks=1, timeout_ms=1000)
        log = rm.get_partition("expiring", 0).log
        assert len(log.segments) > 2
        monkeypatch.setattr(os, "unlink", unlink)
        monkeypatch.setattr(checkpoints, "write_atomic", write_atomic)
        with trio.fail_after(10):
            while len(log.segments) > 1 or list(log.dir.glob("*.deleted")) or not unlinked:
                await trio.sleep(0.05)
        retired = [(path, thread) for path, thread in unlinked if path.endswith(".deleted")]
        assert retired, unlinked
        assert loop_thread not in {thread for _path, thread in retired}
        assert log.log_start_offset == log.segments[0].base_offset > 0
        assert checkpointed and loop_thread not in checkpointed


async def test_metadata_file_is_written_off_the_event_loop_and_answers_wait_for_it(tmp_path: Any) -> None:
    # The metadata file's write costs two fsyncs. It runs in a worker thread: while it
    # is held up, other connections are served, and the answer of the request whose
    # change it carries (CreateTopics here, IncrementalAlterConfigs through the
    # connection's own wait) does not go out before the change is on disk.
    from replication.metadata_store import LocalMetadataStore
    from tests.support.raw_client import AsyncRawClient
    from wire.messages.api_versions import ApiVersionsRequest
    from wire.messages.create_topics import CreateTopicsRequest
    from wire.messages.incremental_alter_configs import IncrementalAlterConfigsRequest

    loop_thread = threading.get_ident()
    async with running_broker(str(tmp_path)) as broker:
        store = broker.metadata
        with held_metadata_writes(store, 10) as (release, writes):
            creator = await AsyncRawClient.connect(broker)
            other = await AsyncRawClient.connect(broker)
            answers: dict[str, Any] = {}

            async def create() -> None:
                answers["create"] = await creator.request(CreateTopicsRequest(
                    topics=[CreateTopicsRequest.CreatableTopic(name="held", num_partitions=1, replication_factor=1)],
                    timeout_ms=5000), 7)

            async def alter() -> None:
                IR = IncrementalAlterConfigsRequest.AlterConfigsResource
                IC = IncrementalAlterConfigsRequest.AlterableConfig
                answers["alter"] = await creator.request(IncrementalAlterConfigsRequest(resources=[IR(
                    resource_type=2, resource_name="held",
                    configs=[IC(name="retention.ms", config_operation=0, value="12345")])]), 1)

            for step, run in (("create", create), ("alter", alter)):
                release.clear()
                count = len(writes)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(run)
                    with trio.fail_after(5):
                        while len(writes) == count:
                            await trio.sleep(0.01)
                    # The write is under way and held: the loop still answers others.
                    with trio.fail_after(2):
                        versions = await other.request(ApiVersionsRequest(), 0)
                    assert versions.error_code == ErrorCode.NONE
                    await trio.sleep(0.2)
                    assert step not in answers, f"{step} was answered before its change was on disk"
                    release.set()
                assert answers[step].topics[0].error_code == ErrorCode.NONE if step == "create" else \
                    answers[step].responses[0].error_code == ErrorCode.NONE
            assert writes and loop_thread not in {thread for thread, _ in writes}
            on_disk = LocalMetadataStore(store.path)
            assert on_disk.get_topic("held") is not None
            assert on_disk.get_topic("held").configs == {"retention.ms": "12345"}
            await creator.aclose()
            await other.aclose()


def test_metadata_changes_are_deferred_until_written(tmp_path: Any) -> None:
    from replication.metadata_store import LocalMetadataStore

    store = LocalMetadataStore.in_dir(tmp_path)
    store.set_cluster_id("c1")
    assert store.saved_version == store.version == 1
    changes: list[int] = []
    store.defer_saves = True
    store.on_change = lambda: changes.append(store.version)
    store.set_broker_configs({"log.retention.ms": "1000"})
    assert changes == [2] and store.saved_version == 1
    assert LocalMetadataStore.in_dir(tmp_path).broker_configs == {}
    store.write(store.encode())
    assert LocalMetadataStore.in_dir(tmp_path).broker_configs == {"log.retention.ms": "1000"}


async def test_no_producer_id_is_answered_before_its_block_is_on_disk(tmp_path: Any) -> None:
    # Two idempotent producers start while the write of the producer id block they
    # both draw from is held: neither gets its id before the block is on disk (a
    # crash before that would hand the same ids out again).
    from replication.metadata_store import LocalMetadataStore
    from tests.support.raw_client import AsyncRawClient
    from wire.messages.init_producer_id import InitProducerIdRequest

    async with running_broker(str(tmp_path)) as broker:
        store = broker.metadata
        with held_metadata_writes(store, 10) as (release, held):
            clients = [await AsyncRawClient.connect(broker) for _ in range(2)]
            ids: dict[int, Any] = {}

            async def init(i: int) -> None:
                ids[i] = await clients[i].request(InitProducerIdRequest(
                    transactional_id=None, transaction_timeout_ms=60000), 4)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(init, 0)
                with trio.fail_after(5):
                    while not held:
                        await trio.sleep(0.01)
                nursery.start_soon(init, 1)
                await trio.sleep(0.3)
                assert ids == {}, "a producer id was answered before its block was on disk"
                release.set()
            assert {r.error_code for r in ids.values()} == {ErrorCode.NONE}
            assert ids[0].producer_id != ids[1].producer_id
            assert LocalMetadataStore(store.path).next_producer_id > max(r.producer_id for r in ids.values())
            for c in clients:
                await c.aclose()


@pytest.mark.parametrize("rolls_by", ["size", "age"])
async def test_rolls_create_files_and_snapshots_off_the_event_loop(tmp_path: Any, monkeypatch: Any,
                                                                   rolls_by: str) -> None:
    # A roll creates a segment's three files and writes a producer-state snapshot;
    # each creation can wait on the file system's journal for tens of milliseconds.
    # By size every batch of two 300-byte records overflows 2000-byte segments
    # every few appends; by age each batch is stamped 2 s after the one before
    # (segment.ms 1000), so every append after the first rolls.
    import storage.producer_state as producer_state
    from storage.log import PreparedRoll
    from storage.segment import LogSegment
    from wire.buffers import join
    from wire.records import SimpleRecord, build_batch

    loop_thread = threading.get_ident()
    created_in: list[int] = []
    snapshots_in: list[int] = []
    real_create = PreparedRoll.create_files
    real_write_atomic = producer_state.write_atomic
    real_segment_init = LogSegment.__init__
    new_files_on_loop: list[str] = []

    def create_files(self: Any) -> None:
        created_in.append(threading.get_ident())
        real_create(self)

    def write_atomic(*args: Any, **kwargs: Any) -> Any:
        snapshots_in.append(threading.get_ident())
        return real_write_atomic(*args, **kwargs)

    def segment_init(self: Any, dir: Any, base_offset: int, **kwargs: Any) -> None:
        from storage.segment import LOG_SUFFIX, segment_file_name

        if threading.get_ident() == loop_thread and not (dir / segment_file_name(base_offset, LOG_SUFFIX)).exists():
            new_files_on_loop.append(segment_file_name(base_offset, LOG_SUFFIX))
        real_segment_init(self, dir, base_offset, **kwargs)

    async with running_broker(str(tmp_path)) as broker:
        configs = {"segment.bytes": "2000"} if rolls_by == "size" else {"segment.ms": "1000"}
        await create_topic(broker, "rolling", 1, **configs)
        rm = broker.replica_manager
        start_ms = broker.now_ms() - 60_000
        monkeypatch.setattr(PreparedRoll, "create_files", create_files)
        monkeypatch.setattr(producer_state, "write_atomic", write_atomic)
        monkeypatch.setattr(LogSegment, "__init__", segment_init)
        for i in range(10):
            # An idempotent producer's state makes every roll's snapshot non-empty.
            timestamp = start_ms + 2000 * i
            records = build_batch([SimpleRecord(None, b"x" * 300, timestamp=timestamp)] * 2,
                                  producer_id=7, producer_epoch=0, base_sequence=2 * i)
            result = await rm.append_records({("rolling", 0): records}, required_acks=-1, timeout_ms=1000)
            assert result[("rolling", 0)].error_code == ErrorCode.NONE
        log = rm.get_partition("rolling", 0).log
        assert len(log.segments) == (10 if rolls_by == "age" else len(log.segments)) >= 5
        assert len(created_in) == len(log.segments) - 1
        assert loop_thread not in created_in and loop_thread not in snapshots_in
        assert len(snapshots_in) == len(log.segments) - 1
        assert new_files_on_loop == []
        # Contiguous segments, every record still there.
        for previous, segment in zip(log.segments, log.segments[1:], strict=False):
            assert segment.base_offset == previous.next_offset
        assert log.log_end_offset == 20
        log.update_high_watermark(log.log_end_offset)
        offsets: list[int] = []
        while len(offsets) < 20:  # a read stops at the end of its segment
            request = _fetch("rolling")
            request.fetch_offset = len(offsets)
            [read] = rm.read_all([request], replica_id=-1, max_bytes=1 << 20, isolation_level=0)
            got = [offset for offset, _ in decode_values(join(read.records))]
            assert got and got[0] == len(offsets)
            offsets += got
        assert offsets == list(range(20))
        assert log.producer_state.snapshot_offsets()[-1] == log.active_segment.base_offset


async def test_appends_wait_for_a_roll_off_the_loop_and_others_do_not(tmp_path: Any, monkeypatch: Any) -> None:
    from storage.log import PreparedRoll

    real_create = PreparedRoll.create_files
    in_roll = threading.Event()
    release_roll = threading.Event()

    def slow_create(self: Any) -> None:
        in_roll.set()
        release_roll.wait(10)
        real_create(self)

    async with running_broker(str(tmp_path)) as broker:
        await create_topic(broker, "busy", 2, **{"segment.bytes": "2000"})
        rm = broker.replica_manager
        log = rm.get_partition("busy", 0).log
        first = await rm.append_records({("busy", 0): batch([b"a" * 900] * 2)}, required_acks=1, timeout_ms=1000)
        assert first[("busy", 0)].error_code == ErrorCode.NONE
        monkeypatch.setattr(PreparedRoll, "create_files", slow_create)
        offsets: dict[str, int] = {}

        async def append(name: str, partition: int, size: int = 300) -> None:
            result = await rm.append_records({("busy", partition): batch([name.encode() * size])},
                                             required_acks=1, timeout_ms=5000)
            assert result[("busy", partition)].error_code == ErrorCode.NONE
            offsets[name] = result[("busy", partition)].base_offset

        async with trio.open_nursery() as nursery:
            nursery.start_soon(append, "r", 0)  # rolls: its files are held in the thread
            with trio.fail_after(5):
                while not in_roll.is_set():
                    await trio.sleep(0.01)
            # Same partition, small enough for the old segment: still waits for the roll.
            nursery.start_soon(append, "w", 0, 1)
            await append("o", 1)  # another partition: not held up
            await trio.sleep(0.1)
            assert set(offsets) == {"o"}
            assert len(log.segments) == 1
            release_roll.set()
        assert offsets["r"] == 2 and offsets["w"] == 3
        assert [s.base_offset for s in log.segments] == [0, 2]
