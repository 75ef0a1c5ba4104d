"""The broker fsyncs rolled segments in the background, off the event loop, as
Kafka schedules a flush of the old segment at each roll (with
``log.flush.scheduler.interval.ms`` at its never-check default)."""

from __future__ import annotations

import threading
from typing import Any

import trio

from tests.support.trio_broker import batch, create_topic, running_broker
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
