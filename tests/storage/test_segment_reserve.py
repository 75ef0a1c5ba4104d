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


def _recording_fallocate(
    monkeypatch, hold: threading.Event | None = None, hold_fd: list[int] | None = None
) -> list[tuple[int, int]]:
    """Replace libc's fallocate with one that records (thread, fd) and, given
    ``hold``, waits for it before reserving (only for the descriptor in ``hold_fd``,
    when given)."""
    real = segment_module._libc_fallocate()
    calls: list[tuple[int, int]] = []

    def fallocate(fd: int, mode: int, offset: int, length: int) -> int:
        calls.append((threading.get_ident(), fd))
        if hold is not None and (hold_fd is None or fd in hold_fd):
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
def test_a_held_reservation_blocks_neither_appends_nor_the_roll(tmp_path, monkeypatch) -> None:
    hold = threading.Event()
    calls = _recording_fallocate(monkeypatch, hold)
    truncations: list[int] = []
    real_ftruncate = os.ftruncate

    def ftruncate(fd: int, length: int) -> None:
        truncations.append(threading.get_ident())
        real_ftruncate(fd, length)

    monkeypatch.setattr(segment_module.os, "ftruncate", ftruncate)
    log = open_log(tmp_path / "t-0")
    try:
        log.append_as_leader(batch(5, value=b"x" * 900), leader_epoch=0, now_ms=NOW)
        deadline = time.monotonic() + 10
        while not calls:
            assert time.monotonic() < deadline, "no reservation started"
            time.sleep(0.01)
        # The reservation is stuck in the file system: appends go on regardless ...
        for _ in range(20):
            log.append_as_leader(batch(5, value=b"x" * 900), leader_epoch=0, now_ms=NOW)
        first = log.active_segment
        assert os.path.getsize(first.log_path) == first.size
        # ... and so does a roll: giving the blocks back waits in the reserving thread.
        log.roll(now_ms=NOW)
        assert first is not log.active_segment
        log.append_as_leader(batch(5, value=b"x" * 900), leader_epoch=0, now_ms=NOW)
        hold.set()
        assert segment_module.wait_for_reservations()
        assert truncations and threading.get_ident() not in truncations
        assert _allocated(first.log_path) < first.size + 2 * _BLOCK
        assert os.path.getsize(first.log_path) == first.size
    finally:
        hold.set()
        log.close()
    assert [b[0] for b in scan_dir(tmp_path / "t-0")] == [5 * i for i in range(22)]


@pytest.mark.skipif(not _reserving(), reason="no fallocate here")
def test_a_truncation_into_a_rolled_segment_cancels_its_queued_release(tmp_path, monkeypatch) -> None:
    hold = threading.Event()
    held_fds: list[int] = []
    calls = _recording_fallocate(monkeypatch, hold, held_fds)
    busy = open_log(tmp_path / "busy-0")
    log = open_log(tmp_path / "t-0")
    try:
        for _ in range(4):
            log.append_as_leader(batch(5, value=b"x" * 900), leader_epoch=0, now_ms=NOW)
        assert segment_module.wait_for_reservations()
        first = log.active_segment
        assert _allocated(first.log_path) > first.size + _BLOCK
        # The reserving thread is stuck on another log, so the roll's release queues.
        held_fds.append(busy.active_segment.file.fileno())
        seen = len(calls)
        busy.append_as_leader(batch(2), leader_epoch=0, now_ms=NOW)
        deadline = time.monotonic() + 10
        while len(calls) == seen:
            assert time.monotonic() < deadline, "no reservation started"
            time.sleep(0.01)
        log.roll(now_ms=NOW)
        log.append_as_leader(batch(5, value=b"y" * 900), leader_epoch=0, now_ms=NOW)
        # A follower's truncation back into the rolled segment makes it active again;
        # it grows past the size it had when it rolled.
        assert log.truncate_to(15)
        assert log.active_segment is first
        # The release still queued must not run on a segment taking appends again:
        # reading its size and cutting the file there could race with an append (a
        # window no test can hit on purpose), so the truncation cancels it.
        assert not first._release_due
        for _ in range(3):
            log.append_as_leader(batch(5, value=b"z" * 900), leader_epoch=0, now_ms=NOW)
        hold.set()
        assert segment_module.wait_for_reservations()
        # The queued release did not cut what was appended after the truncation.
        assert os.path.getsize(first.log_path) == first.size
        assert log.log_end_offset == 30
    finally:
        hold.set()
        busy.close()
        log.close()
    assert [b[0] for b in scan_dir(tmp_path / "t-0")] == [0, 5, 10, 15, 20, 25]


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
