"""Log: appends as leader and follower, reads, offsets, rolls, retention, truncation."""

from __future__ import annotations

import os
import struct
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.config import LogConfig
from storage.errors import DuplicateBatchError, StorageError
from storage.log import Log, UnexpectedAppendOffsetError
from tests.storage._util import NOW, batch, check_indexes_against_scan, open_log, read_all, scan_dir
from wire.buffers import join
from wire.errors import ErrorCode
from wire.records import (
    COMPRESSION_GZIP,
    SimpleRecord,
    build_batch,
    build_control_batch,
    iter_batches,
    iter_records,
    parse_header,
    verify_crc,
)


@pytest.fixture
def pdir(tmp_path: Path) -> Path:
    return tmp_path / "orders-0"


def test_append_assigns_offsets_in_place_and_writes_verbatim(pdir: Path) -> None:
    log = open_log(pdir)
    first = batch(3)
    view = memoryview(first)
    info = log.append_as_leader(view, leader_epoch=5, now_ms=NOW)
    assert (info.first_offset, info.last_offset, info.num_messages) == (0, 2, 3)
    assert info.log_append_time == -1 and info.log_start_offset == 0
    assert info.max_timestamp == NOW + 2 and info.offset_of_max_timestamp == 2
    second = batch(2)
    original = bytes(second)
    info2 = log.append_as_leader(memoryview(second), leader_epoch=5, now_ms=NOW)
    assert (info2.first_offset, info2.last_offset) == (3, 4)
    # Patched in the caller's buffer: base offset and epoch only, CRC untouched.
    h = parse_header(second)
    assert (h.base_offset, h.partition_leader_epoch) == (3, 5)
    assert bytes(second[12:16]) == struct.pack(">i", 5)
    assert bytes(second[16:]) == original[16:] and bytes(second[8:12]) == original[8:12]
    assert (pdir / "00000000000000000000.log").read_bytes() == bytes(first) + bytes(second)
    assert log.log_end_offset == 5
    assert log.leader_epoch_cache.entries() == [(5, 0)]
    log.close()


def test_read_returns_whole_batches_and_respects_bounds(pdir: Path) -> None:
    log = open_log(pdir)
    sizes = []
    for _ in range(10):
        b = batch(5)
        sizes.append(len(b))
        log.append_as_leader(b, leader_epoch=0, now_ms=NOW)
    log.update_high_watermark(30)
    # The batch holding the fetch offset comes whole, starting before it.
    info = log.read(7, max_bytes=10**6, max_offset=log.high_watermark)
    data = join(info.records)
    bases = [h.base_offset for _, h in iter_batches(data)]
    assert info.first_offset == 5 and bases == [5, 10, 15, 20, 25]
    # max_bytes limits, but the first batch always comes whole (KIP-74).
    info = log.read(0, max_bytes=1, max_offset=50)
    assert [h.base_offset for _, h in iter_batches(join(info.records))] == [0]
    info = log.read(0, max_bytes=1, max_offset=50, min_one_message=False)
    assert info.records == []
    info = log.read(0, max_bytes=sizes[0] + sizes[1], max_offset=50)
    assert len(join(info.records)) == sizes[0] + sizes[1]
    # At the high watermark or the log end: empty, no error.
    assert log.read(30, max_bytes=100, max_offset=30).records == []
    assert log.read(50, max_bytes=100).records == []
    for bad in (-1, 51):
        with pytest.raises(StorageError) as e:
            log.read(bad, max_bytes=100)
        assert e.value.error_code == ErrorCode.OFFSET_OUT_OF_RANGE
    log.close()


def test_rolls_on_size_and_reads_across_segments(pdir: Path) -> None:
    config = LogConfig(segment_bytes=1000, index_interval_bytes=200)
    log = open_log(pdir, config)
    for _ in range(40):
        log.append_as_leader(batch(2), leader_epoch=0, now_ms=NOW)
    assert len(log.segments) == 5
    assert all(s.size <= 1000 for s in log.segments)
    assert [b for b, _, _ in scan_dir(pdir)] == list(range(0, 80, 2))
    assert read_all(log) == b"".join(p.read_bytes() for p in sorted(pdir.glob("*.log")))
    check_indexes_against_scan(log)
    log.close()


def test_rolls_on_segment_ms_and_full_index(pdir: Path) -> None:
    log = open_log(pdir, LogConfig(segment_ms=1000))
    log.append_as_leader(batch(1, ts=NOW), leader_epoch=0, now_ms=NOW)
    log.append_as_leader(batch(1, ts=NOW + 500), leader_epoch=0, now_ms=NOW)
    assert len(log.segments) == 1
    log.append_as_leader(batch(1, ts=NOW + 1500), leader_epoch=0, now_ms=NOW)
    assert [s.base_offset for s in log.segments] == [0, 2]
    log.close()
    log2 = open_log(
        pdir.with_name("full-0"), LogConfig(segment_index_bytes=16, index_interval_bytes=0)
    )
    for _ in range(6):
        log2.append_as_leader(batch(1), leader_epoch=0, now_ms=NOW)
    assert len(log2.segments) >= 2
    assert all(len(s.offset_index) <= 2 for s in log2.segments)
    log2.close()


def test_validation_errors(pdir: Path) -> None:
    log = open_log(pdir, LogConfig(max_message_bytes=500))

    def code(data, **kw) -> int:
        with pytest.raises(StorageError) as e:
            log.append_as_leader(data, leader_epoch=0, now_ms=NOW, **kw)
        return e.value.error_code

    good = batch(2)
    corrupt = bytearray(good)
    corrupt[-1] ^= 0xFF
    assert code(corrupt) == ErrorCode.CORRUPT_MESSAGE
    assert code(good[:-3]) == ErrorCode.CORRUPT_MESSAGE
    assert code(good + good[:20]) == ErrorCode.CORRUPT_MESSAGE
    assert code(batch(2) + batch(2)) == ErrorCode.INVALID_RECORD
    assert code(b"") == ErrorCode.INVALID_RECORD
    legacy = bytearray(good)
    legacy[16] = 1
    assert code(legacy) == ErrorCode.INVALID_RECORD
    assert code(batch(30)) == ErrorCode.MESSAGE_TOO_LARGE
    assert code(batch(2, base_offset=7)) == ErrorCode.INVALID_RECORD
    control = bytearray(build_control_batch(True, 5, 0, 1, NOW))
    assert code(control) == ErrorCode.INVALID_RECORD
    assert (
        code(batch(2, producer_id=5, producer_epoch=0, base_sequence=-1))
        == ErrorCode.INVALID_RECORD
    )
    # Record count that disagrees with the records section.
    bad_count = bytearray(build_batch([SimpleRecord(b"k", b"v", timestamp=NOW)] * 2))
    struct.pack_into(">i", bad_count, 57, 3)
    struct.pack_into(">i", bad_count, 23, 2)
    from wire.records import compute_crc

    struct.pack_into(">I", bad_count, 17, compute_crc(bad_count, 0, len(bad_count)))
    assert code(bad_count) == ErrorCode.INVALID_RECORD
    assert log.log_end_offset == 0 and log.size_in_bytes == 0
    log.close()
    small = open_log(pdir.with_name("small-0"), LogConfig(segment_bytes=200))
    with pytest.raises(StorageError) as e:
        small.append_as_leader(batch(5), leader_epoch=0, now_ms=NOW)
    assert e.value.error_code == ErrorCode.RECORD_LIST_TOO_LARGE
    small.close()


def test_timestamp_validation_and_log_append_time(pdir: Path) -> None:
    log = open_log(
        pdir, LogConfig(message_timestamp_before_max_ms=1000, message_timestamp_after_max_ms=1000)
    )
    with pytest.raises(StorageError) as e:
        log.append_as_leader(batch(3, ts=NOW - 5000), leader_epoch=0, now_ms=NOW)
    assert e.value.error_code == ErrorCode.INVALID_TIMESTAMP
    assert [i for i, _ in e.value.record_errors] == [0, 1, 2]
    with pytest.raises(StorageError) as e:
        log.append_as_leader(
            batch(3, ts=NOW + 5000, compression=COMPRESSION_GZIP), leader_epoch=0, now_ms=NOW
        )
    assert e.value.error_code == ErrorCode.INVALID_TIMESTAMP
    info = log.append_as_leader(batch(3, ts=NOW), leader_epoch=0, now_ms=NOW)
    assert info.first_offset == 0
    log.close()

    lat = open_log(pdir.with_name("lat-0"), LogConfig(message_timestamp_type="LogAppendTime"))
    b = batch(3, ts=5)
    info = lat.append_as_leader(b, leader_epoch=0, now_ms=NOW + 77)
    assert info.log_append_time == NOW + 77 and info.max_timestamp == NOW + 77
    h = parse_header(b)
    assert h.timestamp_type == 1 and h.max_timestamp == NOW + 77 and verify_crc(b, 0, h)
    stored = (lat.dir / "00000000000000000000.log").read_bytes()
    assert stored == bytes(b)
    assert [r.timestamp for r in iter_records(stored, 0, parse_header(stored))] == [NOW + 77] * 3
    lat.close()


def test_compacted_topic_requires_keys(pdir: Path) -> None:
    log = open_log(pdir, LogConfig(cleanup_policy="compact"))
    with pytest.raises(StorageError) as e:
        log.append_as_leader(
            batch(2, key=None, compression=COMPRESSION_GZIP), leader_epoch=0, now_ms=NOW
        )
    assert e.value.error_code == ErrorCode.INVALID_RECORD
    assert e.value.record_errors[0] == (0, "Compacted topic cannot accept message without key")
    assert log.append_as_leader(batch(2), leader_epoch=0, now_ms=NOW).first_offset == 0
    log.close()


def test_offsets_by_timestamp(pdir: Path) -> None:
    log = open_log(pdir, LogConfig(segment_bytes=600, index_interval_bytes=100))
    for i in range(30):
        # Batch i holds timestamps NOW + 10*i .. NOW + 10*i + 2, except one out-of-order peak.
        ts = NOW + 10 * i if i != 12 else NOW + 10_000
        log.append_as_leader(batch(3, ts=ts), leader_epoch=i // 10, now_ms=NOW)
    assert len(log.segments) > 3
    assert log.fetch_offset_by_timestamp(NOW + 51) == (16, NOW + 51, 0)
    assert log.fetch_offset_by_timestamp(NOW + 53) == (18, NOW + 60, 0)
    assert log.fetch_offset_by_timestamp(NOW) == (0, NOW, 0)
    assert log.fetch_offset_by_timestamp(NOW + 10_002) == (38, NOW + 10_002, 1)
    assert log.fetch_offset_by_timestamp(NOW + 20_000) is None
    assert log.fetch_offset_by_timestamp(-2) == (0, -1, 0)
    assert log.fetch_offset_by_timestamp(-1) == (90, -1, 2)
    assert log.fetch_offset_by_timestamp(-3) == (38, NOW + 10_002, 1)
    # Linear-scan oracle for many targets.
    records = []
    for path in sorted(pdir.glob("*.log")):
        data = path.read_bytes()
        for pos, h in iter_batches(data):
            records += [(r.offset, r.timestamp) for r in iter_records(data, pos, h)]
    for target in range(NOW - 5, NOW + 320, 7):
        expected = next(((o, t) for o, t in records if t >= target), None)
        got = log.fetch_offset_by_timestamp(target)
        assert (got[:2] if got else None) == expected
    log.close()


def test_leader_epochs_and_end_offset_for_epoch(pdir: Path) -> None:
    log = open_log(pdir)
    for epoch in (0, 0, 2, 2, 5):
        log.append_as_leader(batch(2), leader_epoch=epoch, now_ms=NOW)
    assert log.leader_epoch_cache.entries() == [(0, 0), (2, 4), (5, 8)]
    assert log.latest_epoch == 5
    assert log.end_offset_for_epoch(0) == (0, 4)
    assert log.end_offset_for_epoch(1) == (0, 4)
    assert log.end_offset_for_epoch(2) == (2, 8)
    assert log.end_offset_for_epoch(5) == (5, 10)
    assert log.truncate_to(6)
    assert log.log_end_offset == 6 and log.leader_epoch_cache.entries() == [(0, 0), (2, 4)]
    assert [b for b, _, _ in scan_dir(pdir)] == [0, 2, 4]
    assert not log.truncate_to(10)
    log.close()


def test_follower_append_keeps_offsets_and_rejects_gaps(tmp_path: Path) -> None:
    leader = open_log(tmp_path / "t-0")
    for epoch in (1, 1, 3):
        leader.append_as_leader(batch(3), leader_epoch=epoch, now_ms=NOW)
    data = join(leader.read(0, max_bytes=10**6).records)
    follower = open_log(tmp_path / "f" / "t-0")
    info = follower.append_as_follower(bytearray(data))
    assert (info.first_offset, info.last_offset) == (0, 8)
    assert (follower.dir / "00000000000000000000.log").read_bytes() == data
    assert follower.leader_epoch_cache.entries() == [(1, 0), (3, 6)]
    with pytest.raises(UnexpectedAppendOffsetError):
        follower.append_as_follower(bytearray(data))  # overlap
    more = batch(2, base_offset=20, partition_leader_epoch=3)
    with pytest.raises(UnexpectedAppendOffsetError):
        follower.append_as_follower(more)  # gap
    corrupt = batch(2, base_offset=9, partition_leader_epoch=3)
    corrupt[-1] ^= 1
    with pytest.raises(StorageError) as e:
        follower.append_as_follower(corrupt)
    assert e.value.error_code == ErrorCode.CORRUPT_MESSAGE
    assert follower.log_end_offset == 9
    leader.close()
    follower.close()


def test_truncate_fully_and_delete_records(pdir: Path) -> None:
    log = open_log(pdir, LogConfig(segment_bytes=500))
    for _ in range(20):
        log.append_as_leader(batch(2), leader_epoch=0, now_ms=NOW)
    log.update_high_watermark(30)
    with pytest.raises(StorageError) as e:
        log.maybe_increment_log_start_offset(31)
    assert e.value.error_code == ErrorCode.OFFSET_OUT_OF_RANGE
    assert log.maybe_increment_log_start_offset(13)
    assert log.log_start_offset == 13
    with pytest.raises(StorageError):
        log.read(12, max_bytes=100)
    assert join(log.read(13, max_bytes=100).records)
    assert log.fetch_offset_by_timestamp(-2)[0] == 13
    deleted = log.delete_old_segments(NOW)
    assert deleted >= 1 and log.segments[0].base_offset <= 13
    assert log.log_start_offset == 13
    log.truncate_fully_and_start_at(100)
    assert (log.log_start_offset, log.log_end_offset, log.high_watermark) == (100, 100, 100)
    assert [s.base_offset for s in log.segments] == [100]
    assert log.append_as_leader(batch(1), leader_epoch=1, now_ms=NOW).first_offset == 100
    log.close()


def test_retention_by_time_and_size(pdir: Path) -> None:
    config = LogConfig(segment_bytes=400, retention_ms=10_000, file_delete_delay_ms=1000)
    log = open_log(pdir, config)
    for i in range(12):
        log.append_as_leader(batch(2, ts=NOW + i * 1000), leader_epoch=0, now_ms=NOW)
    log.update_high_watermark(log.log_end_offset)
    segs = [(s.base_offset, s.largest_timestamp()) for s in log.segments]
    assert len(segs) >= 4
    now = NOW + 17_000
    expired = [b for b, ts in segs[:-1] if now - ts > 10_000]
    assert log.delete_old_segments(now) == len(expired) >= 1
    assert log.log_start_offset == log.segments[0].base_offset
    # Files wait for file.delete.delay.ms under a .deleted name.
    assert list(pdir.glob("*.log.deleted"))
    log.delete_old_segments(now + 1000)
    assert not list(pdir.glob("*.deleted"))
    # Everything expired: as in Kafka the active segment goes too, after a roll
    # (a log always keeps one segment), and the log starts at its end.
    end = log.log_end_offset
    before = len(log.segments)
    assert log.delete_old_segments(NOW + 10**9) == before
    assert [(s.base_offset, s.size) for s in log.segments] == [(end, 0)]
    assert (log.log_start_offset, log.log_end_offset) == (end, end)
    # An empty active segment is never rolled away again.
    assert log.delete_old_segments(NOW + 2 * 10**9) == 0
    assert [s.base_offset for s in log.segments] == [end]
    assert log.append_as_leader(batch(1, ts=NOW + 10**9), leader_epoch=0, now_ms=NOW + 10**9).first_offset == end
    log.close()

    sized = open_log(pdir.with_name("sized-0"), LogConfig(segment_bytes=400, retention_bytes=800))
    for _ in range(12):
        sized.append_as_leader(batch(2), leader_epoch=0, now_ms=NOW)
    sized.update_high_watermark(sized.log_end_offset)
    sized.delete_old_segments(NOW)
    assert sized.size_in_bytes - sized.segments[0].size < 800 <= sized.size_in_bytes + 400
    sized.close()


def test_retention_stops_at_high_watermark(pdir: Path) -> None:
    log = open_log(pdir, LogConfig(segment_bytes=300, retention_bytes=0))
    for _ in range(10):
        log.append_as_leader(batch(2), leader_epoch=0, now_ms=NOW)
    log.update_high_watermark(0)
    assert log.delete_old_segments(NOW) == 0
    log.close()


def test_retention_of_the_active_segment_waits_for_the_high_watermark_and_can_leave_the_roll(pdir: Path) -> None:
    log = open_log(pdir, LogConfig(retention_ms=1000))
    log.append_as_leader(batch(2, ts=NOW), leader_epoch=0, now_ms=NOW)
    log.update_high_watermark(1)  # one record not yet replicated: the segment stays
    assert log.delete_old_segments(NOW + 5000) == 0 and not log.retention_roll_due
    log.update_high_watermark(2)
    # roll_active=False: the caller rolls (the broker does it off the event loop).
    assert log.delete_old_segments(NOW + 5000, roll_active=False) == 0
    assert log.retention_roll_due and len(log.segments) == 1
    log.roll(now_ms=NOW + 5000)
    assert not log.retention_roll_due
    assert log.delete_old_segments(NOW + 5000, roll_active=False) == 1
    assert [s.base_offset for s in log.segments] == [2] and log.log_start_offset == 2
    assert not log.retention_roll_due
    log.close()


def test_reopen_clean_and_unclean_give_same_log(pdir: Path) -> None:
    config = LogConfig(segment_bytes=700, index_interval_bytes=100)
    log = open_log(pdir, config, topic_id=uuid.UUID(int=7))
    for i in range(25):
        log.append_as_leader(batch(3, ts=NOW + i), leader_epoch=i // 10, now_ms=NOW)
    before = read_all(log)
    entries = [
        (s.base_offset, s.offset_index.entries(), s.time_index.entries()) for s in log.segments
    ]
    log.flush()
    log.close()
    for clean in (True, False):
        again = open_log(pdir, config, clean=clean)
        assert again.topic_id == uuid.UUID(int=7)
        assert again.log_end_offset == 75 and read_all(again) == before
        got = [
            (s.base_offset, s.offset_index.entries(), s.time_index.entries())
            for s in again.segments
        ]
        assert [(b, o) for b, o, _ in got] == [(b, o) for b, o, _ in entries]
        assert again.leader_epoch_cache.entries() == [(0, 0), (1, 30), (2, 60)]
        assert again.fetch_offset_by_timestamp(NOW + 12) == (32, NOW + 12, 1)
        check_indexes_against_scan(again)
        again.append_as_leader(batch(1), leader_epoch=2, now_ms=NOW)
        again.truncate_to(75)
        again.close()


@pytest.mark.parametrize("damage", ["delete", "truncate", "garbage", "zeros", "past_end"])
def test_damaged_index_is_rebuilt(pdir: Path, damage: str) -> None:
    config = LogConfig(index_interval_bytes=100)
    log = open_log(pdir, config)
    for _ in range(20):
        log.append_as_leader(batch(3), leader_epoch=0, now_ms=NOW)
    good = log.segments[0].offset_index.entries()
    assert len(good) > 3
    log.close()
    index = pdir / "00000000000000000000.index"
    data = index.read_bytes()
    if damage == "delete":
        index.unlink()
    elif damage == "truncate":
        index.write_bytes(data[:-3])
    elif damage == "garbage":
        index.write_bytes(data[:8] + os.urandom(16) + data[24:])
    elif damage == "zeros":
        index.write_bytes(data + bytes(80))
    else:
        index.write_bytes(data + struct.pack(">ii", 10_000, 10**6))
    again = open_log(pdir, config)
    assert again.segments[0].offset_index.entries() == good
    assert again.log_end_offset == 60
    check_indexes_against_scan(again)
    again.close()


def test_producer_duplicates_and_sequence(pdir: Path) -> None:
    log = open_log(pdir)
    kw = {"producer_id": 9, "producer_epoch": 0}
    first = log.append_as_leader(batch(2, base_sequence=0, **kw), leader_epoch=0, now_ms=NOW)
    log.append_as_leader(batch(2, base_sequence=2, **kw), leader_epoch=0, now_ms=NOW)
    with pytest.raises(DuplicateBatchError) as e:
        log.append_as_leader(batch(2, base_sequence=0, **kw), leader_epoch=0, now_ms=NOW)
    assert (e.value.first_offset, e.value.last_offset) == (first.first_offset, first.last_offset)
    with pytest.raises(StorageError) as e2:
        log.append_as_leader(batch(2, base_sequence=9, **kw), leader_epoch=0, now_ms=NOW)
    assert e2.value.error_code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert log.log_end_offset == 4
    log.close()
    again = open_log(pdir)
    with pytest.raises(DuplicateBatchError):
        again.append_as_leader(batch(2, base_sequence=2, **kw), leader_epoch=0, now_ms=NOW)
    again.close()


def test_transactions_last_stable_offset_and_aborted_index(pdir: Path) -> None:
    log = open_log(pdir)
    kw = {"producer_id": 4, "producer_epoch": 0, "is_transactional": True}
    log.append_as_leader(batch(1), leader_epoch=0, now_ms=NOW)
    log.append_as_leader(batch(2, base_sequence=0, **kw), leader_epoch=0, now_ms=NOW)
    log.update_high_watermark(log.log_end_offset)
    assert log.last_stable_offset == 1
    marker = bytearray(build_control_batch(False, 4, 0, 0, NOW))
    log.append_as_leader(marker, leader_epoch=0, now_ms=NOW, origin="coordinator")
    log.update_high_watermark(log.log_end_offset)
    assert log.last_stable_offset == 4
    aborted = log.collect_aborted_transactions(0, 4)
    assert [(a.producer_id, a.first_offset, a.last_offset) for a in aborted] == [(4, 1, 3)]
    log.close()
    again = open_log(pdir, clean=False)
    assert [(a.producer_id, a.first_offset) for a in again.collect_aborted_transactions(0, 4)] == [
        (4, 1)
    ]
    again.close()


def test_flush_on_ack_moves_recovery_point(pdir: Path) -> None:
    log = open_log(pdir, LogConfig(flush_on_ack=True))
    log.append_as_leader(batch(2), leader_epoch=0, now_ms=NOW)
    assert log.recovery_point == 2
    log.close()
    lazy = open_log(pdir.with_name("lazy-0"))
    lazy.append_as_leader(batch(2), leader_epoch=0, now_ms=NOW)
    assert lazy.recovery_point == 0
    lazy.flush()
    assert lazy.recovery_point == 2
    flush3 = open_log(pdir.with_name("f3-0"), LogConfig(flush_messages=3))
    flush3.append_as_leader(batch(2), leader_epoch=0, now_ms=NOW)
    assert flush3.recovery_point == 0
    flush3.append_as_leader(batch(2), leader_epoch=0, now_ms=NOW)
    assert flush3.recovery_point == 4
    lazy.close()
    flush3.close()


def test_closed_log_refuses_work(pdir: Path) -> None:
    log = open_log(pdir)
    log.close()
    with pytest.raises(StorageError) as e:
        log.append_as_leader(batch(1), leader_epoch=0, now_ms=NOW)
    assert e.value.error_code == ErrorCode.KAFKA_STORAGE_ERROR


def test_log_requires_partition_dir_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Log.open(tmp_path / "nopartition", LogConfig(), now_ms=0)


def test_follower_gaps_allowed_on_request(tmp_path: Path) -> None:
    follower = open_log(tmp_path / "t-0")
    follower.append_as_follower(batch(2, base_offset=0, partition_leader_epoch=1))
    info = follower.append_as_follower(
        batch(2, base_offset=10, partition_leader_epoch=1), allow_gaps=True
    )
    assert (info.first_offset, follower.log_end_offset) == (10, 12)
    with pytest.raises(UnexpectedAppendOffsetError):
        follower.append_as_follower(batch(1, base_offset=11), allow_gaps=True)
    assert join(follower.read(5, max_bytes=100).records)[:8] == (10).to_bytes(8, "big")
    follower.close()


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(1, 6), min_size=1, max_size=40),
    value_size=st.integers(0, 300),
    interval=st.sampled_from([0, 50, 400, 4096]),
    segment_bytes=st.sampled_from([3000, 6000, 1 << 20]),
    data=st.data(),
)
def test_read_agrees_with_linear_scan(
    tmp_path_factory, counts, value_size, interval, segment_bytes, data
) -> None:
    pdir = tmp_path_factory.mktemp("prop") / "p-0"
    log = open_log(pdir, LogConfig(index_interval_bytes=interval, segment_bytes=segment_bytes))
    for n in counts:
        log.append_as_leader(batch(n, value=b"z" * value_size), leader_epoch=0, now_ms=NOW)
    scan = scan_dir(pdir)
    for _ in range(10):
        offset = data.draw(st.integers(0, log.log_end_offset))
        max_offset = data.draw(st.integers(0, log.log_end_offset + 1))
        got = log.read(offset, max_bytes=data.draw(st.integers(1, 3000)), max_offset=max_offset)
        got_bases = [h.base_offset for _, h in iter_batches(join(got.records))]
        holding = [b for b in scan if b[1] >= offset and b[1] < max_offset]
        if not holding or offset >= min(max_offset, log.log_end_offset):
            assert got_bases == []
        else:
            assert got_bases and got_bases[0] == holding[0][0]
            assert got_bases == [b[0] for b in holding[: len(got_bases)]]
    check_indexes_against_scan(log)
    log.close()


@pytest.mark.parametrize(
    ("topic_codec", "sent", "stored"), [("gzip", 0, 1), ("uncompressed", 3, 0), ("zstd", 4, 4)]
)
def test_topic_compression_type_rewrites_batches(
    pdir: Path, topic_codec: str, sent: int, stored: int
) -> None:
    log = open_log(pdir, LogConfig(compression_type=topic_codec))
    b = batch(4, compression=sent, producer_id=3, producer_epoch=0, base_sequence=0)
    original = bytes(b)
    info = log.append_as_leader(b, leader_epoch=2, now_ms=NOW)
    assert (info.first_offset, info.last_offset) == (0, 3)
    data = read_all(log)
    h = parse_header(data)
    assert h.compression == stored and (
        h.producer_id,
        h.base_sequence,
        h.partition_leader_epoch,
    ) == (3, 0, 2)
    assert verify_crc(data, 0, h)
    src = parse_header(original)
    assert [(r.key, r.value, r.timestamp) for r in iter_records(data, 0, h)] == [
        (r.key, r.value, r.timestamp) for r in iter_records(original, 0, src)
    ]
    if sent == stored:
        assert data[16:] == original[16:]
    log.close()


def test_rolled_segments_are_flushed_by_periodic_flush(pdir: Path) -> None:
    log = open_log(pdir, LogConfig(segment_bytes=500))
    for _ in range(12):
        log.append_as_leader(batch(2), leader_epoch=0, now_ms=NOW)
    assert len(log.segments) > 2 and log.recovery_point == 0
    assert log.maybe_flush(NOW)
    assert log.recovery_point == log.active_segment.base_offset < log.log_end_offset
    assert not log.maybe_flush(NOW)
    log.flush(up_to=log.log_end_offset + 10)
    assert log.recovery_point == log.log_end_offset
    log.close()


def test_flush_due_and_deferred_flushing(pdir: Path) -> None:
    log = open_log(pdir, LogConfig(flush_on_ack=True))
    log.auto_flush = False
    assert not log.flush_due
    log.append_as_leader(batch(2), leader_epoch=0, now_ms=NOW)
    assert log.flush_due and log.recovery_point == 0
    log.flush()
    assert not log.flush_due and log.recovery_point == 2
    log.maybe_assign_epoch_start_offset(4, 2)
    assert log.latest_epoch == 4 and log.end_offset_for_epoch(0) == (0, 2)
    log.close()


def _record_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the files fsynced from now on (directories as their own names)."""
    import os

    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc to name descriptors")
def test_roll_does_not_fsync_on_the_append_path(pdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Kafka's roll takes the producer snapshot without an fsync and flushes it, with
    # the rolled segment and its indexes, in the background: an fsync must never
    # stall the appends behind it.
    log = open_log(pdir, LogConfig(segment_bytes=500, index_interval_bytes=1))
    # The first append of an epoch writes the leader-epoch checkpoint (once per epoch).
    log.append_as_leader(batch(2), leader_epoch=0, now_ms=NOW)
    synced = _record_fsyncs(monkeypatch)
    for _ in range(11):
        log.append_as_leader(batch(2), leader_epoch=0, now_ms=NOW)
    assert len(log.segments) > 2
    assert synced == []
    snapshots = sorted(p.name for p in pdir.glob("*.snapshot"))
    assert snapshots, "a roll writes a producer snapshot"

    assert log.maybe_flush(NOW)
    rolled = [s.base_offset for s in log.segments[:-1]]
    for base in rolled:
        for suffix in (".log", ".index", ".timeindex"):
            assert f"{base:020d}{suffix}" in synced
    assert set(snapshots) <= set(synced)
    assert pdir.name in synced  # the directory, for the snapshots' renames
    synced.clear()
    assert not log.maybe_flush(NOW)
    assert synced == []
    log.close()
