"""Log compaction (storage/cleaner.py): what survives a cleaning round, on disk."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from kafka.record.default_records import DefaultRecordBatch
from kafka.record.memory_records import MemoryRecords

from storage.cleaner import (
    CLEANER_CHECKPOINT,
    Cleaner,
    CleanerConfig,
    LogCleaner,
    OffsetMap,
    is_cleanable,
    log_to_clean,
    rename_cleaned_to_swap,
)
from storage.config import LogConfig
from storage.log import Log
from storage.segment import DELETED_SUFFIX
from storage.transaction_index import TransactionIndex
from tests.storage._util import NOW, check_indexes_against_scan
from wire.records import (
    SimpleRecord,
    build_batch,
    build_control_batch,
    iter_batches,
    iter_records,
)

COMPACT = LogConfig(
    cleanup_policy="compact",
    segment_bytes=2048,
    min_cleanable_dirty_ratio=0.01,
    delete_retention_ms=1000,
    index_interval_bytes=200,
    file_delete_delay_ms=0,
)


def open_log(tmp_path: Path, config: LogConfig = COMPACT, **kw) -> Log:
    kw.setdefault("now_ms", NOW)
    return Log.open(tmp_path / "t-0", config, **kw)


def put(log: Log, key: bytes | None, value: bytes | None, *, now: int = NOW, **kw) -> int:
    data = bytearray(build_batch([SimpleRecord(key, value, timestamp=now)], **kw))
    info = log.append_as_leader(data, leader_epoch=0, now_ms=now, origin=kw.pop("origin", "client"))
    log.update_high_watermark(log.log_end_offset)
    return info.first_offset


def put_many(log: Log, records: list[tuple[bytes, bytes | None]], *, now: int = NOW, **kw) -> int:
    data = bytearray(
        build_batch(
            [SimpleRecord(k, v, timestamp=now + i) for i, (k, v) in enumerate(records)], **kw
        )
    )
    info = log.append_as_leader(data, leader_epoch=0, now_ms=now)
    log.update_high_watermark(log.log_end_offset)
    return info.first_offset


def marker(log: Log, commit: bool, pid: int, epoch: int = 0, now: int = NOW) -> int:
    data = bytearray(build_control_batch(commit, pid, epoch, 0, now))
    info = log.append_as_leader(data, leader_epoch=0, now_ms=now, origin="coordinator")
    log.update_high_watermark(log.log_end_offset)
    return info.first_offset


def clean(log: Log, now: int = NOW, config: CleanerConfig | None = None) -> int:
    """One cleaner pass over ``log`` (its parent dir holds the checkpoint)."""
    return LogCleaner(config).clean_logs([(log.dir.parent, log)], now)


def all_batches(log: Log):
    """Linear scan of every segment file: (header, records) per batch, in offset order."""
    out = []
    for seg in log.segments:
        data = seg.log_path.read_bytes()
        for pos, h in iter_batches(data):
            out.append((h, list(iter_records(data, pos, h))))
    return out


def all_records(log: Log) -> list[tuple[int, bytes | None, bytes | None]]:
    return [
        (r.offset, r.key, r.value) for h, recs in all_batches(log) if not h.is_control for r in recs
    ]


def test_latest_value_per_key_survives_with_its_offset(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    written: dict[int, tuple[bytes, bytes]] = {}
    for i in range(300):
        key, value = b"k%d" % (i % 5), b"value-%04d" % i
        written[put(log, key, value)] = (key, value)
    assert len(log.segments) > 5
    active_bytes = log.active_segment.log_path.read_bytes()
    active_base = log.active_segment.base_offset
    size_before = log.size_in_bytes

    assert clean(log) == 1
    records = all_records(log)
    cleaned = [r for r in records if r[0] < active_base]
    # Offsets stay those assigned at produce time, and each record is what was written there.
    for offset, key, value in records:
        assert written[offset] == (key, value)
    latest = {}
    for offset, (key, _value) in written.items():
        if offset < active_base:
            latest[key] = offset
    assert sorted(o for o, _k, _v in cleaned) == sorted(latest.values())
    assert log.active_segment.log_path.read_bytes() == active_bytes
    assert log.size_in_bytes < size_before
    assert log.log_end_offset == 300
    check_indexes_against_scan(log)
    # Reads through the log (index lookups) find every surviving record.
    for offset, key, value in records:
        info = log.read(offset, max_bytes=1 << 20)
        data = b"".join(bytes(s.read()) for s in info.records)
        found = [
            (r.key, r.value)
            for p, h in iter_batches(data)
            for r in iter_records(data, p, h)
            if r.offset == offset
        ]
        assert found == [(key, value)]
    # A fetch from an offset that was cleaned away gets the next surviving batch,
    # past segments the cleaner emptied.
    first_left = records[0][0]
    assert first_left > 0
    info = log.read(0, max_bytes=1 << 20, max_offset=log.high_watermark)
    assert info.first_offset <= first_left and info.size > 0
    checkpoint = (tmp_path / CLEANER_CHECKPOINT).read_text().splitlines()
    assert checkpoint[:2] == ["0", "1"]
    assert checkpoint[2] == f"t 0 {active_base}"
    log.close()


@pytest.mark.parametrize("codec", [0, 1, 2, 3, 4])
def test_compressed_batches_keep_codec_and_offsets(tmp_path: Path, codec: int) -> None:
    log = open_log(tmp_path, dataclasses.replace(COMPACT, segment_bytes=4096))
    for round_ in range(12):
        put_many(
            log,
            [(b"k%d" % (i % 4), b"r%d-%d" % (round_, i) * 5) for i in range(8)],
            compression=codec,
        )
    active_base = log.active_segment.base_offset
    clean(log)
    batches = [(h, recs) for h, recs in all_batches(log) if h.base_offset < active_base]
    assert all(h.compression == codec for h, recs in batches if recs)
    seen = {}
    for h, recs in batches:
        for r in recs:
            assert h.base_offset <= r.offset <= h.last_offset
            seen.setdefault(r.key, []).append(r.offset)
    # One survivor per key in the cleaned part, the newest below the active segment.
    assert all(len(v) == 1 for v in seen.values())
    for key, (offset,) in seen.items():
        expected_round = offset // 8
        index = offset % 8
        assert int(key[1:]) == index % 4
        assert [r.value for h, rs in batches for r in rs if r.offset == offset] == [
            b"r%d-%d" % (expected_round, index) * 5
        ]
    log.close()


def test_tombstone_kept_until_delete_horizon_then_removed(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    put(log, b"gone", b"first")
    tomb = put(log, b"gone", None)
    for i in range(60):
        put(log, b"other%d" % (i % 3), b"x" * 50)
    t0 = NOW + 10
    clean(log, t0)
    tombs = [(h, r) for h, recs in all_batches(log) for r in recs if r.key == b"gone"]
    assert [(r.offset, r.value) for _h, r in tombs] == [(tomb, None)]
    header = tombs[0][0]
    assert header.has_delete_horizon
    assert header.base_timestamp == t0 + COMPACT.delete_retention_ms
    assert tombs[0][1].timestamp == NOW  # the record's own timestamp is unchanged

    def dirty_again() -> None:
        for i in range(40):
            put(log, b"other%d" % (i % 3), b"y" * 50)

    dirty_again()
    clean(log, t0 + COMPACT.delete_retention_ms - 1)
    assert [r.offset for h, recs in all_batches(log) for r in recs if r.key == b"gone"] == [tomb]
    dirty_again()
    clean(log, t0 + COMPACT.delete_retention_ms + 1)
    assert [r for h, recs in all_batches(log) for r in recs if r.key == b"gone"] == []
    check_indexes_against_scan(log)
    log.close()


def test_aborted_records_removed_and_committed_kept(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    txn = {"producer_id": 5, "producer_epoch": 0, "is_transactional": True}
    put(log, b"a", b"aborted-1", base_sequence=0, **txn)
    put(log, b"b", b"aborted-2", base_sequence=1, **txn)
    marker(log, False, 5)
    put(log, b"c", b"committed", base_sequence=2, **txn)
    marker(log, True, 5)
    for i in range(60):
        put(log, b"filler%d" % (i % 2), b"f" * 50)
    active_base = log.active_segment.base_offset
    clean(log)
    values = {v for _o, _k, v in all_records(log)}
    assert b"aborted-1" not in values and b"aborted-2" not in values
    assert b"committed" in values
    # The abort marker stays while the producer's batches remain in the log (an empty
    # one is kept for its sequence numbers), and its transaction index entry with it.
    aborts = [h for h, recs in all_batches(log) if h.is_control and h.base_offset == 2]
    assert len(aborts) == 1
    first_seg = log.segments[0]
    assert first_seg.base_offset < active_base
    aborted = log.collect_aborted_transactions(0, active_base)
    assert [(t.producer_id, t.first_offset, t.last_offset) for t in aborted] == [(5, 0, 2)]
    log.close()


def test_last_batch_of_each_producer_kept_for_producer_state(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    for seq in range(3):
        put(
            log, b"same", b"idempotent-%d" % seq, producer_id=9, producer_epoch=2, base_sequence=seq
        )
    last_idempotent = log.log_end_offset - 1
    for i in range(80):
        put(log, b"same", b"plain-%d" % i)
    clean(log)
    by_pid = [(h, recs) for h, recs in all_batches(log) if h.producer_id == 9]
    # Overwritten records are gone but the producer's last batch stays, emptied.
    assert len(by_pid) == 1
    header, recs = by_pid[0]
    assert recs == [] and header.records_count == 0
    assert header.base_offset == last_idempotent and header.base_sequence == 2
    assert header.producer_epoch == 2
    log.close()
    # Producer state rebuilt from the cleaned log alone (no snapshots) still knows it.
    for snap in (tmp_path / "t-0").glob("*.snapshot"):
        snap.unlink()
    log = open_log(tmp_path, clean=False)
    entry = log.producer_state.last_entry(9)
    assert entry is not None and entry.last_seq == 2 and entry.producer_epoch == 2
    # A retry of the last batch is still recognised as a duplicate.
    with pytest.raises(Exception) as exc_info:
        put(log, b"same", b"idempotent-2", producer_id=9, producer_epoch=2, base_sequence=2)
    assert type(exc_info.value).__name__ == "DuplicateBatchError"
    log.close()


def test_segments_grouped_by_segment_bytes(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    for i in range(400):
        put(log, b"k%d" % i, b"unique" * 10)  # nothing to remove: groups keep their size
    before = [s.base_offset for s in log.segments]
    clean(log)
    assert all(s.size <= COMPACT.segment_bytes for s in log.segments)
    assert [s.base_offset for s in log.segments] == before
    assert [r[0] for r in all_records(log)] == list(range(400))
    log.close()


def test_small_segments_merged_into_one_group(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    for i in range(200):
        put(log, b"k%d" % (i % 2), b"v%d" % i)
    n_before = len(log.segments)
    clean(log)
    # Groups are formed from the sizes before cleaning: the emptied segments merge
    # in the next round.
    for i in range(30):
        put(log, b"k%d" % (i % 2), b"w%d" % i)
    clean(log)
    assert len(log.segments) < n_before
    assert sorted(k for _o, k, _v in all_records(log) if _o < log.active_segment.base_offset) == [
        b"k0",
        b"k1",
    ]
    check_indexes_against_scan(log)
    log.close()


def test_nothing_above_high_watermark_or_in_active_segment_is_cleaned(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    for i in range(120):
        put(log, b"k", b"v%d" % i)
    log.update_high_watermark(30)
    to_clean = log_to_clean(log, None, NOW)
    assert to_clean.first_uncleanable_offset == 30
    clean(log)
    offsets = [o for o, _k, _v in all_records(log)]
    assert all(o in offsets for o in range(30, 120))
    log.close()


def test_min_compaction_lag_and_ratio(tmp_path: Path) -> None:
    log = open_log(tmp_path, dataclasses.replace(COMPACT, min_compaction_lag_ms=60_000))
    for i in range(100):
        put(log, b"k", b"v%d" % i)
    # Every segment is younger than the lag: nothing is cleanable yet.
    assert not is_cleanable(log_to_clean(log, None, NOW + 1000))
    assert clean(log, NOW + 1000) == 0
    assert is_cleanable(log_to_clean(log, None, NOW + 120_000))
    assert clean(log, NOW + 120_000) == 1
    checkpoint = LogCleaner.read_checkpoint(tmp_path)[("t", 0)]
    assert checkpoint == log.active_segment.base_offset
    for i in range(40):  # one more segment's worth of dirty data
        put(log, b"k", b"w%d" % i)
    to_clean = log_to_clean(log, checkpoint, NOW + 240_000)
    assert 0 < to_clean.cleanable_ratio < 0.99
    assert is_cleanable(to_clean)
    log.config = dataclasses.replace(log.config, min_cleanable_dirty_ratio=0.99)
    assert not is_cleanable(log_to_clean(log, checkpoint, NOW + 240_000))
    log.config = dataclasses.replace(log.config, cleanup_policy="delete")
    assert clean(log, NOW + 120_000) == 0
    log.close()


def test_bounded_offset_map_makes_progress_over_rounds(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    for i in range(300):
        put(log, b"k%d" % (i % 120), b"v%d" % i)
    active_base = log.active_segment.base_offset
    tiny = CleanerConfig(dedupe_buffer_size=24 * 60)  # 54 map entries per round
    assert tiny.max_map_entries == 54
    rounds = 0
    while clean(log, config=tiny):
        rounds += 1
        assert rounds < 20
    assert rounds > 1
    latest: dict[bytes, int] = {}
    for i in range(active_base):
        latest[b"k%d" % (i % 120)] = i
    cleaned = sorted(o for o, _k, _v in all_records(log) if o < active_base)
    assert cleaned == sorted(latest.values())
    log.close()


def test_offset_map() -> None:
    m = OffsetMap(2)
    m.put(b"a", 1)
    m.put(b"a", 4)
    assert m.get(b"a") == 4 and m.get(b"b") == -1 and len(m) == 1 and not m.full
    m.put(b"b", 7)
    assert m.full and m.latest_offset == 7
    with pytest.raises(ValueError):
        OffsetMap(0)


def test_kafka_python_reads_cleaned_segments(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    for i in range(150):
        put_many(
            log,
            [
                (b"k%d" % (i % 3), b"a%d" % i),
                (b"j%d" % (i % 2), None if i % 7 == 0 else b"b%d" % i),
            ],
            compression=1 if i % 2 else 0,
        )
    clean(log)
    ours = all_records(log)
    theirs = []
    for seg in log.segments:
        records = MemoryRecords(seg.log_path.read_bytes())
        while records.has_next():
            b = records.next_batch()
            assert isinstance(b, DefaultRecordBatch)
            b.validate_crc()
            for r in b:
                theirs.append((r.offset, r.key, r.value))
    assert theirs == ours
    log.close()


def _prepare_only(log: Log):
    to_clean = log_to_clean(log, None, NOW)
    cleaner = Cleaner()
    prepared = cleaner.prepare(Cleaner.plan(to_clean, NOW))
    assert prepared is not None and len(prepared.groups) >= 1
    return prepared


def _filled_log(tmp_path: Path) -> tuple[Log, list, list]:
    log = open_log(tmp_path)
    for i in range(200):
        put(log, b"k%d" % (i % 4), b"v%d" % i)
    before = all_records(log)
    return log, before, []


@pytest.mark.parametrize("stage", ["cleaned", "swap", "swap_old_deleted", "half_swapped"])
def test_crash_during_swap_recovers(tmp_path: Path, stage: str) -> None:
    log, before, _ = _filled_log(tmp_path)
    active_base = log.active_segment.base_offset
    prepared = _prepare_only(log)
    # The expected outcome of a finished clean, computed on a copy of the same round.
    latest = {}
    for o, k, _v in before:
        if o < active_base:
            latest[k] = o
    cleaned_view = sorted(latest.values()) + [o for o, _k, _v in before if o >= active_base]
    log.close()
    d = tmp_path / "t-0"
    group = prepared.groups[0]
    base = group.writer.base_offset
    if stage != "cleaned":
        rename_cleaned_to_swap(d, base)
    if stage in ("swap_old_deleted", "half_swapped"):
        for seg in group.old_segments:
            for p in (seg.log_path, seg.offset_index.path, seg.time_index.path):
                if p.exists():
                    os.replace(p, p.with_name(p.name + DELETED_SUFFIX))
    if stage == "half_swapped":
        os.replace(d / f"{base:020d}.log.swap", d / f"{base:020d}.log")
    log = open_log(tmp_path, clean=False)
    assert (
        not list(d.glob("*.cleaned"))
        and not list(d.glob("*.swap"))
        and not list(d.glob("*.deleted"))
    )
    offsets = [o for o, _k, _v in all_records(log)]
    if stage == "cleaned":
        assert all_records(log) == before
    else:
        # The first group is swapped in; later groups (not swapped) keep their data.
        group_end = group.old_segments[-1].next_offset
        expected_first = [o for o in cleaned_view if o < group_end]
        assert [o for o in offsets if o < group_end] == expected_first
        assert [o for o in offsets if o >= group_end] == [
            o for o, _k, _v in before if o >= group_end
        ]
    check_indexes_against_scan(log)
    assert log.log_end_offset == 200
    log.close()


def test_swap_refused_when_log_changed_meanwhile(tmp_path: Path) -> None:
    log, before, _ = _filled_log(tmp_path)
    prepared = _prepare_only(log)
    log.truncate_to(5)  # a follower truncation while the round was running
    assert not Cleaner.swap(prepared, NOW)
    assert not list((tmp_path / "t-0").glob("*.cleaned"))
    assert all_records(log) == before[:5]
    log.close()


def test_log_manager_clean_entry_point(tmp_path: Path) -> None:
    from storage.log_manager import LogManager

    lm = LogManager(
        [tmp_path / "d"], broker_id=0, cluster_id="c", default_config=COMPACT, now_ms=NOW
    )
    try:
        log = lm.create_log("t", 0, now_ms=NOW)
        other = lm.create_log(
            "plain", 0, dataclasses.replace(COMPACT, cleanup_policy="delete"), now_ms=NOW
        )
        for i in range(100):
            put(log, b"k", b"v%d" % i)
            put(other, b"k", b"v%d" % i)
        calls = []

        def run_in_loop(fn):
            calls.append(fn)
            return fn()

        assert lm.clean(NOW, run_in_loop=run_in_loop) == 1
        assert calls  # planning and swapping went through the loop hook
        assert len(all_records(other)) == 100
        assert len([r for r in all_records(log) if r[0] < log.active_segment.base_offset]) == 1
        assert lm.clean(NOW, CleanerConfig(enable_cleaner=False)) == 0
        text = (tmp_path / "d" / CLEANER_CHECKPOINT).read_text().splitlines()
        assert text[1] == "1" and text[2].startswith("t 0 ")
    finally:
        lm.shutdown()


def test_txn_index_of_cleaned_segment(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    txn = {"producer_id": 11, "producer_epoch": 0, "is_transactional": True}
    put(log, b"a", b"x", base_sequence=0, **txn)
    marker(log, False, 11)
    put(log, b"a", b"y", base_sequence=1, **txn)
    marker(log, True, 11)
    for _ in range(60):
        put(log, b"z", b"f" * 60)
    clean(log)
    d = tmp_path / "t-0"
    first = log.segments[0]
    idx = TransactionIndex.for_segment(d, first.base_offset)
    assert [(t.producer_id, t.first_offset, t.last_offset) for t in idx.all_aborted_txns()] == [
        (11, 0, 1)
    ]
    log.close()


def test_markers_removed_once_their_transaction_is_gone(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    txn = {"producer_id": 5, "producer_epoch": 0, "is_transactional": True}
    put(log, b"a", b"aborted", base_sequence=0, **txn)  # 0
    marker(log, False, 5)  # 1
    put(log, b"b", b"committed", base_sequence=1, **txn)  # 2
    marker(log, True, 5)  # 3
    put(log, b"c", b"last", base_sequence=2, **txn)  # 4: the producer's last batch
    marker(log, True, 5)  # 5

    def dirty_again(tag: bytes) -> None:
        for i in range(40):
            put(log, b"abc"[i % 3 : i % 3 + 1], tag + b"%d" % i + b"." * 50)

    def markers() -> dict[int, bool]:
        return {h.base_offset: h.has_delete_horizon for h, _r in all_batches(log) if h.is_control}

    dirty_again(b"x")
    t1 = NOW + 100
    clean(log, t1)
    # Data of the aborted transaction is gone but its marker (and index entry) stay.
    assert markers() == {1: False, 3: False, 5: False}
    assert [b.base_offset for b, _r in all_batches(log)][:4] == [1, 3, 4, 5]
    assert [t.last_offset for t in log.collect_aborted_transactions(0, 10)] == [1]

    dirty_again(b"y")
    t2 = t1 + 100
    clean(log, t2)
    # Nothing of the first two transactions is left: their markers get a delete horizon.
    assert markers() == {1: True, 3: True, 5: False}
    horizons = {h.base_offset: h.base_timestamp for h, _r in all_batches(log) if h.is_control}
    assert horizons[1] == horizons[3] == t2 + COMPACT.delete_retention_ms

    dirty_again(b"z")
    clean(log, t2 + COMPACT.delete_retention_ms + 1)
    assert markers() == {5: False}
    # The producer's last (now empty) batch keeps its state for a reload.
    last = [h for h, _r in all_batches(log) if h.base_offset == 4]
    assert len(last) == 1 and last[0].records_count == 0 and last[0].base_sequence == 2
    log.close()


def test_retired_segment_files_removed_after_delay(tmp_path: Path) -> None:
    log = open_log(tmp_path, dataclasses.replace(COMPACT, file_delete_delay_ms=60_000))
    for i in range(100):
        put(log, b"k", b"v%d" % i)
    old = log.segments[0]
    slice_before = log.read(0, max_bytes=1 << 20).records[0]
    data_before = bytes(slice_before.read())
    clean(log)
    d = tmp_path / "t-0"
    assert list(d.glob("*.log.deleted"))
    # A file slice handed out before the swap still reads the old bytes.
    assert bytes(slice_before.read()) == data_before
    assert old is not log.segments[0]
    log.delete_old_segments(NOW + 61_000)
    assert not list(d.glob("*.deleted"))
    # The live segment at the same base offset as a retired one is untouched.
    assert (d / "00000000000000000000.log").exists()
    assert all_records(log)[-1] == (99, b"k", b"v99")
    log.close()


def test_max_compaction_lag_rolls_and_forces_cleaning(tmp_path: Path) -> None:
    config = dataclasses.replace(
        COMPACT, segment_bytes=1 << 20, max_compaction_lag_ms=1000, min_cleanable_dirty_ratio=1.0
    )
    log = open_log(tmp_path, config)
    for i in range(20):
        put(log, b"k", b"v%d" % i, now=NOW + i)
    assert len(log.segments) == 1
    put(log, b"k", b"late", now=NOW + 5000)  # older than the lag: the segment rolls
    assert len(log.segments) == 2
    # A dirty ratio can never exceed 1.0: only the lag rule can pick this log.
    to_clean = log_to_clean(log, None, NOW + 5000)
    assert to_clean.needs_compaction_now and is_cleanable(to_clean)
    assert not is_cleanable(dataclasses.replace(to_clean, needs_compaction_now=False))
    assert clean(log, NOW + 5000) == 1
    assert [v for _o, _k, v in all_records(log)] == [b"v19", b"late"]
    log.close()


def test_retention_during_a_round_gives_it_up_cleanly(tmp_path: Path) -> None:
    log, before, _ = _filled_log(tmp_path)
    plan = Cleaner.plan(log_to_clean(log, None, NOW), NOW)
    # Retention removes the first segments while the worker thread would be reading.
    log.maybe_increment_log_start_offset(log.segments[2].base_offset)
    assert log.delete_old_segments(NOW) == 2
    with pytest.raises(FileNotFoundError):
        Cleaner().prepare(plan)
    assert not list((tmp_path / "t-0").glob("*.cleaned"))
    start = log.log_start_offset
    assert all_records(log) == [r for r in before if r[0] >= start]
    # The next pass starts from the new log start offset and succeeds.
    assert clean(log) == 1
    log.close()


def test_a_log_the_cleaner_fails_on_is_marked_uncleanable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Kafka's markPartitionUncleanable: an unexpected failure is not retried every pass.
    from storage import cleaner as cleaner_module
    from storage.log_manager import LogManager

    lm = LogManager([tmp_path / "d"], broker_id=0, cluster_id="c", default_config=COMPACT, now_ms=NOW)
    try:
        broken = lm.create_log("broken", 0, now_ms=NOW)
        fine = lm.create_log("fine", 0, now_ms=NOW)
        for i in range(100):
            put(broken, b"k", b"v%d" % i)
            put(fine, b"k", b"v%d" % i)
        real = cleaner_module.LogCleaner.clean_one
        attempts: list[str] = []

        def clean_one(self, to_clean, now_ms, run):
            attempts.append(to_clean.log.topic)
            if to_clean.log.topic == "broken":
                raise ValueError("a corrupt batch")
            return real(self, to_clean, now_ms, run)

        monkeypatch.setattr(cleaner_module.LogCleaner, "clean_one", clean_one)
        assert lm.clean(NOW) == 1
        assert sorted(attempts) == ["broken", "fine"]
        assert lm.uncleanable_partitions() == {("broken", 0)}
        attempts.clear()
        for i in range(100):
            put(fine, b"k", b"w%d" % i)
        assert lm.clean(NOW) == 1
        assert attempts == ["fine"], "the uncleanable log is skipped"

        # A recreated partition is a new log and is cleaned again.
        monkeypatch.setattr(cleaner_module.LogCleaner, "clean_one", real)
        assert lm.delete_log("broken", 0)
        again = lm.create_log("broken", 0, now_ms=NOW)
        for i in range(100):
            put(again, b"k", b"v%d" % i)
        assert lm.uncleanable_partitions() == set()
        assert lm.clean(NOW) == 1
    finally:
        lm.shutdown()


def test_deleting_a_log_with_retired_segments_pending(tmp_path: Path) -> None:
    # DeleteTopics while the cleaner's retired segments (and retention's) still wait
    # for file.delete.delay.ms: the renamed directory goes whole, nothing raises.
    log = open_log(tmp_path, dataclasses.replace(COMPACT, file_delete_delay_ms=60_000))
    for i in range(100):
        put(log, b"k", b"v%d" % i)
    clean(log)
    log.update_high_watermark(log.log_end_offset)
    assert log.maybe_increment_log_start_offset(log.segments[1].base_offset)
    assert log.delete_old_segments(NOW) >= 1
    assert list((tmp_path / "t-0").glob("*.deleted"))
    renamed = log.rename_for_delete()
    assert not (tmp_path / "t-0").exists()
    log.delete()
    assert not renamed.exists()
