"""Rolls prepared ahead (``Log.prepare_roll``): the new segment's files are created
elsewhere, then rolled onto if the log is still as it was; otherwise they go, unless
a live segment took them."""

from __future__ import annotations

from storage.config import LogConfig
from storage.log import Log
from storage.producer_state import read_snapshot, snapshot_path
from storage.segment import segment_file_name
from tests.storage._util import NOW, batch, open_log, read_all, scan_dir

_SMALL = LogConfig(segment_bytes=1000)


def _filled(tmp_path) -> Log:
    log = open_log(tmp_path / "t-0", _SMALL)
    log.append_as_leader(batch(3, value=b"x" * 200), leader_epoch=0, now_ms=NOW)
    return log


def test_a_prepared_roll_ends_as_a_roll(tmp_path) -> None:
    log = _filled(tmp_path)
    try:
        assert log.roll_due(bytes(600), NOW) and not log.roll_due(bytes(10), NOW)
        assert not log.roll_due(bytes(1001), NOW)  # refused as too large, never rolled for
        prepared = log.prepare_roll()
        prepared.create_files()
        assert sorted(prepared.made) == sorted(segment_file_name(3, s) for s in (".log", ".index", ".timeindex"))
        assert log.finish_roll(prepared, NOW)
        prepared.close()
        assert [s.base_offset for s in log.segments] == [0, 3]
        log.append_as_leader(batch(3, value=b"y" * 200), leader_epoch=0, now_ms=NOW)
        assert log.log_end_offset == 6
        assert len(read_all(log)) > 0
    finally:
        log.close()
    assert [b[0] for b in scan_dir(tmp_path / "t-0")] == [0, 3]


def test_the_roll_snapshot_is_written_by_whoever_runs_its_write(tmp_path) -> None:
    log = open_log(tmp_path / "t-0", _SMALL)
    try:
        log.append_as_leader(batch(3, value=b"x" * 200, producer_id=9, producer_epoch=0, base_sequence=0),
                             leader_epoch=0, now_ms=NOW)
        prepared = log.prepare_roll()
        prepared.create_files()
        assert log.finish_roll(prepared, NOW)
        prepared.close()
        path = snapshot_path(log.dir, 3)
        # Recorded at once, written only when the returned work runs.
        assert log.producer_state.snapshot_offsets()[-1] == 3
        assert not path.exists() and prepared.snapshot_write is not None
        prepared.snapshot_write()
        assert [e.producer_id for e in read_snapshot(path)] == [9]
    finally:
        log.close()


def test_a_log_that_moved_on_is_not_rolled(tmp_path) -> None:
    log = _filled(tmp_path)
    try:
        # An append landed in the old segment meanwhile (the broker keeps them out):
        # no roll, and the files nobody uses can go.
        moved = log.prepare_roll()
        moved.create_files()
        log.append_as_leader(batch(1, value=b"w"), leader_epoch=0, now_ms=NOW)
        assert not log.finish_roll(moved, NOW)
        assert not log.has_segment(moved.base_offset)
        moved.remove_files()
        moved.close()
        assert not (log.dir / segment_file_name(3, ".log")).exists()

        # Something else rolled at the prepared base: its live segment uses the files
        # (the caller leaves them), and a file that was there is never one it made.
        taken = log.prepare_roll()
        (log.dir / segment_file_name(4, ".log")).touch()
        taken.create_files()
        assert sorted(taken.made) == sorted(segment_file_name(4, s) for s in (".index", ".timeindex"))
        log.roll(now_ms=NOW)
        assert not log.finish_roll(taken, NOW)
        assert log.has_segment(taken.base_offset)
        taken.close()
        log.append_as_leader(batch(2, value=b"z"), leader_epoch=0, now_ms=NOW)
    finally:
        log.close()
    assert [b[0] for b in scan_dir(tmp_path / "t-0")] == [0, 3, 4]


def test_a_closed_log_is_not_rolled(tmp_path) -> None:
    log = _filled(tmp_path)
    prepared = log.prepare_roll()
    prepared.create_files()
    log.close()
    assert not log.finish_roll(prepared, NOW)
    prepared.remove_files()
    prepared.close()
    assert [b[0] for b in scan_dir(tmp_path / "t-0")] == [0]
    assert not (tmp_path / "t-0" / segment_file_name(3, ".log")).exists()


def test_a_full_index_is_rolled_for_but_never_for_a_batch_too_large(tmp_path) -> None:
    # One time-index entry at most (16 bytes), taken by the second batch
    # (index.interval.bytes 0: every batch after the first).
    log = open_log(tmp_path / "t-0", LogConfig(segment_bytes=100_000, segment_index_bytes=16, index_interval_bytes=0))
    try:
        log.append_as_leader(batch(1), leader_epoch=0, now_ms=NOW)
        assert not log.roll_due(bytes(10), NOW)
        log.append_as_leader(batch(1), leader_epoch=0, now_ms=NOW)
        assert log.active_segment.time_index.is_full and len(log.segments) == 1
        assert log.roll_due(bytes(10), NOW)
        assert not log.roll_due(bytes(100_001), NOW)  # refused as too large, never rolled for
    finally:
        log.close()


_HOUR = 3_600_000


def _rolls_on_append(log: Log, records: bytearray, now_ms: int) -> bool:
    before = len(log.segments)
    log.append_as_leader(records, leader_epoch=0, now_ms=now_ms)
    return len(log.segments) > before


def test_an_age_roll_is_foreseen_from_the_batch_headers_as_the_append_decides_it(tmp_path) -> None:
    # CreateTime: age runs from the first batch's max timestamp to the new batches'.
    log = open_log(tmp_path / "t-0", LogConfig(segment_ms=_HOUR))
    try:
        log.append_as_leader(batch(1, ts=NOW), leader_epoch=0, now_ms=NOW)
        # The clock is not what counts, the timestamps the batches carry are.
        young = batch(2, ts=NOW + _HOUR - 1)  # max timestamp NOW + HOUR: not past segment.ms
        assert not log.roll_due(young, NOW + 10 * _HOUR)
        assert not _rolls_on_append(log, young, NOW + 10 * _HOUR)
        old = batch(1, ts=NOW + _HOUR + 1)
        two = old + batch(1, ts=NOW)  # the larger max timestamp of two batches decides
        assert log.roll_due(old, NOW + _HOUR) and log.roll_due(two, NOW + _HOUR)
        # More than message.timestamp.after.max.ms (1 h) ahead of the clock: refused
        # by the append, so not rolled for.
        assert not log.roll_due(old, NOW - 1)
        assert _rolls_on_append(log, old, NOW + _HOUR)
        assert not log.roll_due(batch(1, ts=NOW + 2 * _HOUR), NOW + _HOUR)  # the new segment is young
        assert not log.roll_due(bytes(100), NOW + _HOUR)  # not v2 batches: left to the append
    finally:
        log.close()


def test_an_age_roll_of_a_log_append_time_topic_runs_on_the_clock(tmp_path) -> None:
    log = open_log(tmp_path / "t-0", LogConfig(segment_ms=_HOUR, message_timestamp_type="LogAppendTime"))
    try:
        log.append_as_leader(batch(1, ts=0), leader_epoch=0, now_ms=NOW)
        # The batches' own timestamps (0) play no part.
        assert not log.roll_due(batch(1, ts=0), NOW + _HOUR)
        assert log.roll_due(batch(1, ts=0), NOW + _HOUR + 1)
        assert not _rolls_on_append(log, batch(1, ts=0), NOW + _HOUR)
        assert _rolls_on_append(log, batch(1, ts=0), NOW + _HOUR + 1)
    finally:
        log.close()


def test_a_compacted_log_rolls_by_max_compaction_lag(tmp_path) -> None:
    config = LogConfig(segment_ms=10 * _HOUR, max_compaction_lag_ms=_HOUR, cleanup_policy="compact")
    log = open_log(tmp_path / "t-0", config)
    try:
        log.append_as_leader(batch(1), leader_epoch=0, now_ms=NOW)
        assert not log.roll_due(batch(1, ts=NOW + _HOUR), NOW + _HOUR)
        assert log.roll_due(batch(1, ts=NOW + _HOUR + 1), NOW + _HOUR)
        assert _rolls_on_append(log, batch(1, ts=NOW + _HOUR + 1), NOW + _HOUR)
    finally:
        log.close()


def test_each_segment_draws_its_own_roll_jitter(tmp_path) -> None:
    # Kafka's randomSegmentJitter: [0, min(segment.jitter.ms, segment.ms)) per segment.
    config = LogConfig(segment_ms=_HOUR, segment_jitter_ms=10 * _HOUR, segment_bytes=1000)
    log = open_log(tmp_path / "t-0", config)
    try:
        for _ in range(40):
            log.append_as_leader(batch(1, value=b"x" * 600), leader_epoch=0, now_ms=NOW)
        jitters = [s.roll_jitter_ms for s in log.segments]
        assert len(jitters) > 30
        assert all(0 <= j < _HOUR for j in jitters)
        assert len(set(jitters)) > 1
        segment = log.active_segment
        # It rolls its own jitter early, not segment.jitter.ms early.
        due_at = NOW + _HOUR - segment.roll_jitter_ms + 1
        assert not log.roll_due(batch(1, value=b"", ts=due_at - 1), NOW + _HOUR)
        assert log.roll_due(batch(1, value=b"", ts=due_at), NOW + _HOUR)
    finally:
        log.close()
    assert LogConfig(segment_jitter_ms=0).random_segment_jitter() == 0
