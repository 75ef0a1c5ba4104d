"""The active segment reserves disk blocks ahead of its end without changing its size.

Readers (Kafka's tools, recovery, our own scans) see a ``.log`` exactly as long as
its batches at every moment; the reserved blocks go back when the segment rolls
or closes, and truncation drops them with the cut bytes. Reserving runs in a
thread of its own, never in the append (so never on the broker's event loop).
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from storage import segment as segment_module
from storage.config import LogConfig
from tests.storage._util import NOW, batch, open_log, scan_dir

_BLOCK = 4096


def _allocated(path) -> int:
    return os.stat(path).st_blocks * 512


def _reserving() -> bool:
    return bool(segment_module._libc_fallocate())


def test_size_stays_exact_while_blocks_are_reserved(tmp_path) -> None:
    log = open_log(tmp_path / "t-0", LogConfig(segment_bytes=100_000))
    try:
        for _ in range(40):
            log.append_as_leader(batch(5, value=b"x" * 900), leader_epoch=0, now_ms=NOW)
            active = log.active_segment
            assert os.path.getsize(active.log_path) == active.size
        assert segment_module.wait_for_reservations()
        assert len(log.segments) > 1, "the test wants at least one roll"
        # Rolled segments gave their reservation back.
        for seg in log.segments[:-1]:
            assert _allocated(seg.log_path) < seg.size + 2 * _BLOCK
        active = log.active_segment
        if _reserving():
            assert _allocated(active.log_path) > active.size + _BLOCK
        # Truncation frees the cut bytes and whatever was reserved past them.
        offset = active.base_offset + 2
        assert log.truncate_to(offset)
        assert segment_module.wait_for_reservations()
        assert os.path.getsize(active.log_path) == active.size
        assert _allocated(active.log_path) < active.size + 2 * _BLOCK
        log.append_as_leader(batch(3), leader_epoch=0, now_ms=NOW)
        assert os.path.getsize(active.log_path) == active.size
    finally:
        log.close()
    path = log.segments[-1].log_path
    assert _allocated(path) < os.path.getsize(path) + 2 * _BLOCK
    # Every byte on disk is a whole, valid batch: reservation never leaks into the data.
    assert [b[0] for b in scan_dir(tmp_path / "t-0")][-1] == offset


def test_appends_work_where_blocks_cannot_be_reserved(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(segment_module, "_fallocate", False)
    log = open_log(tmp_path / "t-0")
    try:
        for _ in range(5):
            log.append_as_leader(batch(2), leader_epoch=0, now_ms=NOW)
        seg = log.active_segment
        assert seg._reserved_end == segment_module._NO_RESERVE
        assert os.path.getsize(seg.log_path) == seg.size
    finally:
        log.close()
    assert len(scan_dir(tmp_path / "t-0")) == 5


@pytest.mark.skipif(not _reserving(), reason="no fallocate here")
def test_a_reopened_log_appends_after_its_end(tmp_path) -> None:
    log = open_log(tmp_path / "t-0")
    for _ in range(3):
        log.append_as_leader(batch(2), leader_epoch=0, now_ms=NOW)
    log.close()
    log = open_log(tmp_path / "t-0")
    try:
        log.append_as_leader(batch(2), leader_epoch=0, now_ms=NOW)
        assert log.log_end_offset == 8
    finally:
        log.close()
    assert [b[0] for b in scan_dir(tmp_path / "t-0")] == [0, 2, 4, 6]


def _recording_fallocate(monkeypatch, hold: threading.Event | None = None) -> list[tuple[int, int]]:
    """Replace libc's fallocate with one that records (thread, fd) and, given
    ``hold``, waits for it before reserving."""
    real = segment_module._libc_fallocate()
    calls: list[tuple[int, int]] = []

    def fallocate(fd: int, mode: int, offset: int, length: int) -> int:
        calls.append((threading.get_ident(), fd))
        if hold is not None:
            assert hold.wait(20)
        return real(fd, mode, offset, length)

    monkeypatch.setattr(segment_module, "_fallocate", fallocate)
    return calls


@pytest.mark.skipif(not _reserving(), reason="no fallocate here")
def test_appends_never_reserve_on_the_appending_thread(tmp_path, monkeypatch) -> None:
    calls = _recording_fallocate(monkeypatch)
    log = open_log(tmp_path / "t-0")
    try:
        for _ in range(50):
            log.append_as_leader(batch(5, value=b"x" * 4000), leader_epoch=0, now_ms=NOW)
        assert segment_module.wait_for_reservations()
        active = log.active_segment
        assert calls, "nothing was reserved"
        assert all(ident != threading.get_ident() for ident, _ in calls)
        assert _allocated(active.log_path) > active.size + _BLOCK
        assert os.path.getsize(active.log_path) == active.size
    finally:
        log.close()


@pytest.mark.skipif(not _reserving(), reason="no fallocate here")
def test_a_held_reservation_neither_blocks_appends_nor_outlives_the_roll(tmp_path, monkeypatch) -> None:
    hold = threading.Event()
    calls = _recording_fallocate(monkeypatch, hold)
    log = open_log(tmp_path / "t-0")
    try:
        log.append_as_leader(batch(5, value=b"x" * 900), leader_epoch=0, now_ms=NOW)
        deadline = time.monotonic() + 10
        while not calls:
            assert time.monotonic() < deadline, "no reservation started"
            time.sleep(0.01)
        # The reservation is stuck in the file system: appends go on regardless.
        for _ in range(20):
            log.append_as_leader(batch(5, value=b"x" * 900), leader_epoch=0, now_ms=NOW)
        first = log.active_segment
        assert os.path.getsize(first.log_path) == first.size
        # A roll waits for the reservation in flight, then frees what it reserved.
        rolled = threading.Thread(target=log.roll, kwargs={"now_ms": NOW})
        rolled.start()
        rolled.join(0.3)
        assert rolled.is_alive(), "the roll did not wait for the reservation in flight"
        hold.set()
        rolled.join(10)
        assert not rolled.is_alive()
        assert segment_module.wait_for_reservations()
        assert first is not log.active_segment
        assert _allocated(first.log_path) < first.size + 2 * _BLOCK
    finally:
        hold.set()
        log.close()


@pytest.mark.skipif(not _reserving(), reason="no fallocate here")
def test_a_queued_reservation_finds_its_segment_rolled(tmp_path, monkeypatch) -> None:
    hold = threading.Event()
    calls = _recording_fallocate(monkeypatch, hold)
    busy = open_log(tmp_path / "busy-0")
    log = open_log(tmp_path / "t-0")
    try:
        # The reserving thread is stuck on another log's segment ...
        busy.append_as_leader(batch(2), leader_epoch=0, now_ms=NOW)
        deadline = time.monotonic() + 10
        while not calls:
            assert time.monotonic() < deadline, "no reservation started"
            time.sleep(0.01)
        # ... so this segment's request waits in the queue while the segment rolls.
        log.append_as_leader(batch(5, value=b"x" * 900), leader_epoch=0, now_ms=NOW)
        first = log.active_segment
        log.roll(now_ms=NOW)
        log.append_as_leader(batch(5, value=b"x" * 900), leader_epoch=0, now_ms=NOW)
        hold.set()
        assert segment_module.wait_for_reservations()
        # Nothing was reserved for the rolled segment after its release ...
        assert all(fd != first.file.fileno() for _, fd in calls[1:])
        assert _allocated(first.log_path) < first.size + 2 * _BLOCK
        # ... and the new active segment got its reservation.
        active = log.active_segment
        assert _allocated(active.log_path) > active.size + _BLOCK
    finally:
        hold.set()
        busy.close()
        log.close()
