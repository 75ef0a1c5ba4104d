"""The active segment reserves disk blocks ahead of its end without changing its size.

Readers (Kafka's tools, recovery, our own scans) see a ``.log`` exactly as long as
its batches at every moment; the reserved blocks go back when the segment rolls
or closes, and truncation drops them with the cut bytes.
"""

from __future__ import annotations

import os

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
