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
