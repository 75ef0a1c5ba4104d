"""Write-behind (storage/write_behind.py): old appends are written back and dropped
from the page cache, the newest window stays cached, and nothing read changes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import write_behind
from storage.log import Log
from storage.log_manager import LogManager
from storage.write_behind import WriteBehind
from tests.storage._util import NOW, batch, open_log, read_all
from tests.support.page_cache import can_drop_cached_pages, resident_fraction

MIB = 1 << 20

pytestmark = pytest.mark.skipif(not write_behind.supported(), reason="needs Linux sync_file_range")


def _fill(log: Log, nbytes: int) -> bytes:
    """Append batches of about 64 KiB until ``nbytes`` are written; returns them as stored."""
    written = bytearray()
    i = 0
    while len(written) < nbytes:
        b = batch(8, value=os.urandom(8 * 1024), key=b"%d" % i)
        log.append_as_leader(memoryview(b), leader_epoch=0, now_ms=NOW)
        written += b
        i += 1
    return bytes(written)


@pytest.fixture
def behind() -> Iterator[WriteBehind]:
    wb = WriteBehind(1 * MIB, step_bytes=256 * 1024)
    wb.start()
    yield wb
    wb.stop()


def test_old_appends_leave_the_page_cache_and_the_newest_window_stays(tmp_path: Path, behind: WriteBehind) -> None:
    if not can_drop_cached_pages(tmp_path):
        pytest.skip("this file system keeps file pages in memory (tmpfs)")
    log = open_log(tmp_path / "t-0")
    log.append_tail = behind.track()
    data = _fill(log, 8 * MIB)
    assert behind.drain()
    path = log.active_segment.log_path
    size = log.active_segment.size
    assert behind.bytes_dropped >= size - (1 * MIB + 256 * 1024)
    assert log.append_tail.cached_bytes <= 1 * MIB + 256 * 1024
    # Dropped: everything but the window (and the page it starts in).
    assert resident_fraction(path, 0, size - 2 * MIB) < 0.2
    # The newest appends, where a tailing consumer reads, were left alone.
    assert resident_fraction(path, size - MIB + 4096, size - 4096) > 0.9
    # The tail knows which ranges it left cached (fetches skip probing those).
    name = log.active_segment.file.name
    assert log.append_tail.holds(name, size - 64 * 1024, size)
    assert not log.append_tail.holds(name, 0, 64 * 1024)
    assert not log.append_tail.holds(name + ".other", size - 64 * 1024, size)
    # Reads are unaffected: every byte comes back (from disk where it was dropped).
    assert read_all(log, 0) == data
    log.close()


def test_nothing_is_dropped_below_window_plus_step(tmp_path: Path, behind: WriteBehind) -> None:
    log = open_log(tmp_path / "t-0")
    log.append_tail = behind.track()
    _fill(log, 1 * MIB)
    assert behind.drain()
    assert behind.bytes_dropped == 0
    assert behind.writebacks_started >= 1  # writeback starts a step at a time
    log.close()


def test_ranges_follow_rolls_and_truncation(tmp_path: Path, behind: WriteBehind) -> None:
    from storage.config import LogConfig

    log = open_log(tmp_path / "t-0", LogConfig(segment_bytes=512 * 1024))
    log.append_tail = behind.track()
    _fill(log, 4 * MIB)
    assert len(log.segments) > 4
    assert behind.drain()
    # Across segments: the oldest segments were dropped whole, the window spans the newest.
    assert behind.bytes_dropped >= 4 * MIB - (1 * MIB + 256 * 1024) - 128 * 1024
    assert log.append_tail.cached_bytes <= 1 * MIB + 256 * 1024
    log.truncate_to(log.log_end_offset // 2)
    assert log.append_tail.cached_bytes == 0
    _fill(log, 512 * 1024)
    assert 0 < log.append_tail.cached_bytes <= 1 * MIB + 256 * 1024
    log.close()


def test_the_total_over_all_logs_drops_the_least_recently_appended_first(tmp_path: Path) -> None:
    if not can_drop_cached_pages(tmp_path):
        pytest.skip("this file system keeps file pages in memory (tmpfs)")
    # Windows far above the total: only the broker-wide bound drops anything.
    wb = WriteBehind(64 * MIB, total_bytes=3 * MIB, step_bytes=256 * 1024)
    wb.start()
    try:
        old, new = open_log(tmp_path / "old-0"), open_log(tmp_path / "new-0")
        old.append_tail, new.append_tail = wb.track(), wb.track()
        old_data = _fill(old, 3 * MIB)
        assert wb.drain()
        assert wb.bytes_dropped == 0  # at the total, not above it
        new_data = _fill(new, 3 * MIB)
        assert wb.drain()
        # The older log gave way (all but its last piece not yet in the order of
        # appends); the newer one kept what it appended.
        assert old.append_tail.cached_bytes < 1 * MIB
        assert new.append_tail.cached_bytes >= 2 * MIB
        assert wb.cached_total == old.append_tail.cached_bytes + new.append_tail.cached_bytes
        assert wb.cached_total <= 3 * MIB + 256 * 1024 + 2 * MIB
        old_path = old.active_segment.log_path
        assert resident_fraction(old_path, 0, 2 * MIB) < 0.2
        assert not old.append_tail.holds(old.active_segment.file.name, 0, 64 * 1024)
        new_size = new.active_segment.size
        assert resident_fraction(new.active_segment.log_path, new_size - 2 * MIB, new_size - 4096) > 0.9
        # Interleaved appends: both logs keep their newest data, within the total.
        for _ in range(4):
            _fill(old, MIB)
            _fill(new, MIB)
        assert wb.drain()
        assert wb.cached_total <= 3 * MIB + 256 * 1024 + 2 * MIB
        assert old.append_tail.cached_bytes >= MIB and new.append_tail.cached_bytes >= MIB
        size = old.active_segment.size
        assert old.append_tail.holds(old.active_segment.file.name, size - 64 * 1024, size)
        # Nothing read changes.
        assert read_all(old, 0)[: len(old_data)] == old_data
        assert read_all(new, 0)[: len(new_data)] == new_data
        old.close()
        new.close()
    finally:
        wb.stop()


def test_the_broker_wide_order_stays_bounded_when_windows_do_the_dropping(tmp_path: Path) -> None:
    # One log with a small window under a large total: the total is never reached,
    # so nothing is evicted through the broker-wide order; its dropped pieces must
    # not pile up there.
    wb = WriteBehind(256 * 1024, total_bytes=1 << 40, step_bytes=256 * 1024)
    tail = wb.track()
    name = str(tmp_path / "seg.log")
    for i in range(5000):
        tail.appended(name, i * MIB, (i + 1) * MIB)
    assert tail.cached_bytes <= 512 * 1024 + MIB
    assert len(wb._marks) <= 3000
    assert wb.cached_total == tail.cached_bytes


def test_truncated_and_deleted_logs_stop_counting_against_the_total(tmp_path: Path) -> None:
    from storage.config import LogConfig

    wb = WriteBehind(64 * MIB, total_bytes=64 * MIB)
    manager = LogManager([tmp_path], broker_id=0, cluster_id="c", default_config=LogConfig(), write_behind=wb)
    try:
        a, b = manager.create_log("a", 0), manager.create_log("b", 0)
        _fill(a, 2 * MIB)
        _fill(b, 2 * MIB)
        assert wb.cached_total == a.append_tail.cached_bytes + b.append_tail.cached_bytes >= 4 * MIB
        a.truncate_to(0)
        assert wb.cached_total == b.append_tail.cached_bytes
        assert manager.delete_log("b", 0)
        assert wb.cached_total == 0
        # Drops queued for a reset tail find nothing of it left.
        wb.evict()
        assert wb.cached_total == 0
    finally:
        manager.shutdown()


def test_missing_files_are_skipped_and_the_thread_carries_on(tmp_path: Path, behind: WriteBehind) -> None:
    behind.submit((True, tmp_path / "gone.log", 0, MIB))
    behind.submit((False, tmp_path / "gone.log", 0, MIB))
    assert behind.drain()
    log = open_log(tmp_path / "t-0")
    log.append_tail = behind.track()
    _fill(log, 2 * MIB)
    # The segment is renamed for deletion while drops are queued: no error, no drop.
    log.rename_for_delete()
    assert behind.drain()
    log.delete()


def test_commands_after_stop_are_ignored(tmp_path: Path) -> None:
    wb = WriteBehind(0, step_bytes=4096)
    wb.start()
    wb.stop()
    wb.submit((True, tmp_path / "x", 0, 4096))
    assert wb.drain()  # not running: nothing to wait for
    with pytest.raises(ValueError):
        WriteBehind(-1)
    with pytest.raises(ValueError):
        WriteBehind(0, total_bytes=-2)


def test_log_manager_tracks_loaded_and_created_logs_and_stops_the_thread(tmp_path: Path) -> None:
    from storage.config import LogConfig

    wb = WriteBehind(MIB)
    manager = LogManager([tmp_path], broker_id=0, cluster_id="c", default_config=LogConfig(), write_behind=wb)
    created = manager.create_log("t", 0)
    assert created.append_tail is not None
    manager.shutdown()
    assert wb._thread is None
    wb2 = WriteBehind(MIB)
    reopened = LogManager([tmp_path], broker_id=0, cluster_id="c", default_config=LogConfig(), write_behind=wb2)
    assert reopened.get_log("t", 0).append_tail is not None
    reopened.shutdown()
    plain = LogManager([tmp_path], broker_id=0, cluster_id="c", default_config=LogConfig())
    assert plain.get_log("t", 0).append_tail is None
    plain.shutdown()


def test_cold_ranges_are_detected_and_read_back_into_the_cache(tmp_path: Path) -> None:
    from storage.write_behind import may_wait_for_disk, read_into_cache

    if not can_drop_cached_pages(tmp_path):
        pytest.skip("this file system keeps file pages in memory (tmpfs)")
    path = tmp_path / "seg.log"
    path.write_bytes(os.urandom(4 * MIB))
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        assert not may_wait_for_disk(fd, 0, 4 * MIB)
        os.posix_fadvise(fd, 0, 2 * MIB, os.POSIX_FADV_DONTNEED)
        assert may_wait_for_disk(fd, 0, 4 * MIB)  # cold at its start
        assert not may_wait_for_disk(fd, 2 * MIB, 2 * MIB)
        # Both ends cached again (as reading batch headers does), the middle still cold.
        os.pread(fd, 4096, 0)
        os.pread(fd, 4096, 2 * MIB - 4096)
        assert may_wait_for_disk(fd, 0, 2 * MIB)
        read_into_cache([(fd, 0, 2 * MIB), (-1, 0, 10)])  # a closed descriptor is skipped
        assert not may_wait_for_disk(fd, 0, 4 * MIB)
        assert resident_fraction(path, 0, 4 * MIB) > 0.9
    finally:
        os.close(fd)
