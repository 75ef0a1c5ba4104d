"""ProducerStateManager: idempotence checks, transactions, snapshots, loading, expiry."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import crc32c
import pytest

from storage.errors import DuplicateBatchError, StorageError
from storage.producer_state import (
    INT32_MAX,
    NUM_BATCHES_TO_RETAIN,
    BatchMetadata,
    CompletedTxn,
    CorruptSnapshotError,
    ProducerStateEntry,
    ProducerStateManager,
    decode_snapshot,
    decrement_sequence,
    encode_snapshot,
    increment_sequence,
    read_snapshot,
    snapshot_path,
)
from storage.transaction_index import AbortedTxn, TransactionIndex
from wire.errors import ErrorCode
from wire.records import (
    SimpleRecord,
    build_batch,
    build_control_batch,
    parse_header,
    set_base_offset,
)

PID = 1000
NOW = 1_700_000_000_000


def data_batch(
    pid: int = PID,
    epoch: int = 0,
    seq: int = 0,
    count: int = 1,
    *,
    txn: bool = False,
    ts: int = NOW,
) -> bytes:
    records = [SimpleRecord(b"k", b"v%d" % i, timestamp=ts + i) for i in range(count)]
    return build_batch(
        records,
        producer_id=pid,
        producer_epoch=epoch if pid != -1 else -1,
        base_sequence=seq if pid != -1 else -1,
        is_transactional=txn,
    )


def marker(
    pid: int = PID, epoch: int = 0, *, commit: bool, coordinator_epoch: int = 0, ts: int = NOW
) -> bytes:
    return build_control_batch(commit, pid, epoch, coordinator_epoch, ts)


class MiniLog:
    """Just enough of a partition log to drive the manager as the Log does: offsets
    assigned in order, segments rolled on demand, aborts routed to the segment's
    transaction index, a replay source for loading."""

    def __init__(self, directory: Path, psm: ProducerStateManager | None = None) -> None:
        self.dir = directory
        self.psm = psm or ProducerStateManager(directory)
        # (batch bytes, control type, coordinator epoch)
        self.batches: list[tuple[bytes, int | None, int]] = []
        self.log_end_offset = 0
        self.log_start_offset = 0
        self.high_watermark = 0
        self.segments: dict[int, TransactionIndex] = {0: TransactionIndex.for_segment(directory, 0)}

    def roll(self) -> None:
        self.psm.take_snapshot(self.log_end_offset)
        base = self.log_end_offset
        self.segments[base] = TransactionIndex.for_segment(self.dir, base)

    def segment_for(self, offset: int) -> TransactionIndex:
        return self.segments[max(b for b in self.segments if b <= offset)]

    def append(
        self,
        raw: bytes,
        *,
        origin: str = "client",
        coordinator_epoch: int = 0,
        append_time_ms: int = -1,
        transaction_version: int = 0,
    ) -> tuple[int, int]:
        header = parse_header(raw)
        control = None
        if header.is_control:
            control = 1 if _is_commit(raw) else 0
        self.psm.check_batch(
            header,
            origin=origin,
            now_ms=NOW,
            coordinator_epoch=coordinator_epoch if header.is_control else None,
            transaction_version=transaction_version,
        )
        buf = bytearray(raw)
        set_base_offset(buf, 0, self.log_end_offset)
        header = parse_header(buf)
        first = header.base_offset
        done = self.psm.on_batch_appended(
            header,
            first_offset=first,
            append_time_ms=append_time_ms,
            control_type=control,
            coordinator_epoch=coordinator_epoch,
        )
        if done is not None and done.is_aborted:
            self.segment_for(done.last_offset).append(done.to_aborted_txn())
        self.batches.append((bytes(buf), control, coordinator_epoch))
        self.log_end_offset = header.last_offset + 1
        self.high_watermark = self.log_end_offset
        self.psm.on_high_watermark_updated(self.high_watermark)
        return first, header.last_offset

    def replay(self, from_offset: int):
        for raw, control, coordinator_epoch in self.batches:
            header = parse_header(raw)
            if header.last_offset >= from_offset:
                yield header, control, coordinator_epoch

    def truncate_to(self, offset: int) -> None:
        self.batches = [b for b in self.batches if parse_header(b[0]).last_offset < offset]
        self.log_end_offset = (
            parse_header(self.batches[-1][0]).last_offset + 1 if self.batches else 0
        )
        self.high_watermark = min(self.high_watermark, self.log_end_offset)
        for index in self.segments.values():
            index.truncate_to(offset)
        self.psm.truncate(self.log_start_offset, self.log_end_offset)
        self.psm.load(self.log_start_offset, self.log_end_offset, self.replay)
        self.psm.on_high_watermark_updated(self.high_watermark)


def _is_commit(raw: bytes) -> bool:
    from wire.records import ControlRecord, iter_records

    header = parse_header(raw)
    record = next(iter(iter_records(raw, 0, header)))
    return ControlRecord.from_record(record).is_commit


def error_code(exc: pytest.ExceptionInfo[StorageError]) -> int:
    return exc.value.error_code


@pytest.fixture
def mlog(tmp_path: Path) -> MiniLog:
    return MiniLog(tmp_path)


# -- sequence arithmetic ------------------------------------------------------------


def test_sequence_arithmetic_wraps_at_int32() -> None:
    assert increment_sequence(5, 3) == 8
    assert increment_sequence(INT32_MAX, 1) == 0
    assert increment_sequence(INT32_MAX - 1, 3) == 1
    assert decrement_sequence(1, 3) == INT32_MAX - 1
    assert decrement_sequence(0, 1) == INT32_MAX
    assert (
        BatchMetadata(last_seq=1, last_offset=10, offset_delta=3, timestamp=0).first_seq
        == INT32_MAX - 1
    )


# -- idempotent producer -------------------------------------------------------------


def test_batches_without_producer_id_pass_and_move_map_end(mlog: MiniLog) -> None:
    assert mlog.append(data_batch(pid=-1, count=3)) == (0, 2)
    assert mlog.append(data_batch(pid=-1, count=2)) == (3, 4)
    assert mlog.psm.active_producers() == []
    assert mlog.psm.map_end_offset == 5


def test_in_order_sequences_are_accepted_and_tracked(mlog: MiniLog) -> None:
    mlog.append(data_batch(seq=0, count=3))
    mlog.append(data_batch(seq=3, count=2))
    entry = mlog.psm.last_entry(PID)
    assert entry is not None
    assert entry.producer_epoch == 0
    assert entry.last_sequence == 4
    assert entry.first_seq == 0
    assert entry.last_data_offset == 4
    assert entry.last_timestamp == NOW + 1  # the batch's max timestamp, as Kafka keeps it
    assert entry.current_txn_start_offset == -1


@pytest.mark.parametrize("back", range(1, NUM_BATCHES_TO_RETAIN + 1))
def test_duplicate_of_each_of_last_five_batches_returns_original_offsets(
    mlog: MiniLog, back: int
) -> None:
    appended = []
    seq = 0
    for i in range(8):
        count = 1 + i % 3
        first, last = mlog.append(data_batch(seq=seq, count=count, ts=NOW + 100 * i))
        appended.append((seq, count, first, last, NOW + 100 * i + count - 1))
        seq += count
    end_before = mlog.log_end_offset
    seq0, count, first, last, ts = appended[-back]
    with pytest.raises(DuplicateBatchError) as exc:
        mlog.append(data_batch(seq=seq0, count=count, ts=NOW + 99999))
    assert (exc.value.first_offset, exc.value.last_offset) == (first, last)
    assert exc.value.log_append_time == ts
    assert mlog.log_end_offset == end_before


def test_duplicate_reports_log_append_time_when_topic_stamps_it(mlog: MiniLog) -> None:
    mlog.append(data_batch(seq=0, count=2), append_time_ms=NOW + 777)
    with pytest.raises(DuplicateBatchError) as exc:
        mlog.append(data_batch(seq=0, count=2))
    assert (exc.value.first_offset, exc.value.last_offset, exc.value.log_append_time) == (
        0,
        1,
        NOW + 777,
    )


def test_sixth_oldest_batch_is_out_of_order_not_duplicate(mlog: MiniLog) -> None:
    for seq in range(NUM_BATCHES_TO_RETAIN + 1):
        mlog.append(data_batch(seq=seq))
    with pytest.raises(StorageError) as exc:
        mlog.append(data_batch(seq=0))
    assert not isinstance(exc.value, DuplicateBatchError)
    assert error_code(exc) == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER


def test_partial_overlap_is_not_a_duplicate(mlog: MiniLog) -> None:
    mlog.append(data_batch(seq=0, count=4))
    with pytest.raises(StorageError) as exc:
        mlog.append(data_batch(seq=0, count=2))
    assert error_code(exc) == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER


@pytest.mark.parametrize("next_seq", [5, 2, -7 % (INT32_MAX + 1)])
def test_gap_or_step_back_is_out_of_order(mlog: MiniLog, next_seq: int) -> None:
    mlog.append(data_batch(seq=0, count=3))
    with pytest.raises(StorageError) as exc:
        mlog.append(data_batch(seq=next_seq))
    assert error_code(exc) == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert mlog.log_end_offset == 3


def test_sequence_wraps_after_int32_max(mlog: MiniLog) -> None:
    # The producer is new here, so it may start anywhere (Kafka 4).
    mlog.append(data_batch(seq=INT32_MAX - 1, count=2))
    assert mlog.psm.last_entry(PID).last_sequence == INT32_MAX
    mlog.append(data_batch(seq=0, count=1))
    mlog.append(data_batch(seq=1, count=1))
    with pytest.raises(StorageError) as exc:
        mlog.append(data_batch(seq=3))
    assert error_code(exc) == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER


def test_batch_spanning_the_wrap_is_tracked_and_deduplicated(mlog: MiniLog) -> None:
    mlog.append(data_batch(seq=INT32_MAX - 1, count=4))  # sequences MAX-1, MAX, 0, 1
    assert mlog.psm.last_entry(PID).last_sequence == 1
    with pytest.raises(DuplicateBatchError) as exc:
        mlog.append(data_batch(seq=INT32_MAX - 1, count=4))
    assert (exc.value.first_offset, exc.value.last_offset) == (0, 3)
    assert mlog.append(data_batch(seq=2)) == (4, 4)


def test_unknown_producer_may_start_at_any_sequence(mlog: MiniLog) -> None:
    # Kafka 4 no longer answers UNKNOWN_PRODUCER_ID: with no state, any sequence goes.
    assert mlog.append(data_batch(pid=77, seq=42)) == (0, 0)
    assert mlog.append(data_batch(pid=77, seq=43)) == (1, 1)


def test_epoch_bump_restarts_sequence_at_zero(mlog: MiniLog) -> None:
    mlog.append(data_batch(epoch=0, seq=0, count=3))
    mlog.append(data_batch(epoch=1, seq=0, count=2))
    entry = mlog.psm.last_entry(PID)
    assert (entry.producer_epoch, entry.last_sequence, len(entry.batch_metadata)) == (1, 1, 1)
    mlog.append(data_batch(epoch=1, seq=2))


def test_new_epoch_must_start_at_zero(mlog: MiniLog) -> None:
    mlog.append(data_batch(epoch=0, seq=0, count=3))
    with pytest.raises(StorageError) as exc:
        mlog.append(data_batch(epoch=1, seq=3))
    assert error_code(exc) == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER


def test_old_epoch_is_fenced(mlog: MiniLog) -> None:
    mlog.append(data_batch(epoch=3, seq=0))
    with pytest.raises(StorageError) as exc:
        mlog.append(data_batch(epoch=2, seq=1))
    assert error_code(exc) == ErrorCode.INVALID_PRODUCER_EPOCH


def test_retry_from_an_older_epoch_is_fenced_not_deduplicated(mlog: MiniLog) -> None:
    mlog.append(data_batch(epoch=0, seq=0))
    mlog.append(data_batch(epoch=1, seq=0))
    with pytest.raises(StorageError) as exc:
        mlog.append(data_batch(epoch=0, seq=0))
    assert not isinstance(exc.value, DuplicateBatchError)
    assert error_code(exc) == ErrorCode.INVALID_PRODUCER_EPOCH


def test_replication_origin_skips_client_checks(mlog: MiniLog) -> None:
    mlog.append(data_batch(epoch=2, seq=0), origin="replication")
    mlog.append(data_batch(epoch=2, seq=10), origin="replication")  # a gap: the leader decided
    mlog.append(data_batch(epoch=1, seq=0), origin="replication")  # older epoch: only logged
    mlog.append(data_batch(epoch=1, seq=0), origin="replication")  # same again: no dedup
    assert mlog.log_end_offset == 4
    assert mlog.psm.last_entry(PID).producer_epoch == 1


def test_coordinator_origin_checks_epoch_but_not_sequence(mlog: MiniLog) -> None:
    mlog.append(data_batch(epoch=2, seq=-1), origin="coordinator")
    mlog.append(data_batch(epoch=2, seq=-1), origin="coordinator")
    with pytest.raises(StorageError) as exc:
        mlog.append(data_batch(epoch=1, seq=-1), origin="coordinator")
    assert error_code(exc) == ErrorCode.INVALID_PRODUCER_EPOCH


def test_unknown_origin_is_a_programming_error(mlog: MiniLog) -> None:
    with pytest.raises(ValueError):
        mlog.psm.check_batch(parse_header(data_batch()), origin="leader", now_ms=NOW)


def test_producers_are_independent(mlog: MiniLog) -> None:
    mlog.append(data_batch(pid=1, seq=0))
    mlog.append(data_batch(pid=2, seq=0))
    mlog.append(data_batch(pid=1, seq=1))
    with pytest.raises(DuplicateBatchError) as exc:
        mlog.append(data_batch(pid=2, seq=0))
    assert exc.value.first_offset == 1
    assert [e.producer_id for e in mlog.psm.active_producers()] == [1, 2]


# -- transactions -------------------------------------------------------------------


def test_transaction_sets_first_unstable_offset_until_marker_is_replicated(mlog: MiniLog) -> None:
    mlog.append(data_batch(pid=-1, count=2))
    assert mlog.psm.first_unstable_offset() is None
    mlog.append(data_batch(seq=0, count=2, txn=True))  # offsets 2..3
    mlog.append(data_batch(seq=2, count=1, txn=True))
    assert mlog.psm.first_unstable_offset() == 2
    assert mlog.psm.has_ongoing_transaction(PID, 0)
    assert not mlog.psm.has_ongoing_transaction(PID, 1)
    assert mlog.psm.last_entry(PID).current_txn_start_offset == 2
    # Write the commit marker without moving the high watermark past it.
    header = parse_header(marker(commit=True))
    mlog.psm.check_batch(header, origin="coordinator", now_ms=NOW, coordinator_epoch=0)
    header.base_offset = 5
    done = mlog.psm.on_batch_appended(
        header, first_offset=5, append_time_ms=-1, control_type=1, coordinator_epoch=0
    )
    assert done == CompletedTxn(PID, 2, 5, False, 6)
    assert mlog.psm.ongoing_transactions() == []
    assert mlog.psm.first_undecided_offset() is None
    assert mlog.psm.first_unstable_offset() == 2  # marker not yet below the high watermark
    mlog.psm.on_high_watermark_updated(5)
    assert mlog.psm.first_unstable_offset() == 2
    mlog.psm.on_high_watermark_updated(6)
    assert mlog.psm.first_unstable_offset() is None


def test_abort_is_recorded_in_the_transaction_index(mlog: MiniLog) -> None:
    mlog.append(data_batch(pid=1, seq=0, count=2, txn=True))  # 0..1
    mlog.append(data_batch(pid=2, seq=0, count=1, txn=True))  # 2
    mlog.append(data_batch(pid=1, seq=2, count=1, txn=True))  # 3
    mlog.append(marker(pid=1, commit=False))  # 4: abort pid 1, pid 2 still open at 2
    assert mlog.psm.first_unstable_offset() == 2
    mlog.roll()
    mlog.append(marker(pid=2, commit=False))  # 5: abort pid 2, nothing else open
    assert mlog.psm.first_unstable_offset() is None
    assert mlog.segments[0].all_aborted_txns() == [AbortedTxn(1, 0, 4, 2)]
    assert mlog.segments[5].all_aborted_txns() == [AbortedTxn(2, 2, 5, 6)]


def test_commit_returns_completed_txn_but_writes_no_index_entry(mlog: MiniLog) -> None:
    mlog.append(data_batch(seq=0, txn=True))
    mlog.append(marker(commit=True))
    assert mlog.segments[0].all_aborted_txns() == []
    assert mlog.psm.last_entry(PID).current_txn_first_offset is None


def test_marker_without_transaction_data_completes_nothing(mlog: MiniLog) -> None:
    mlog.append(data_batch(seq=0))
    header = parse_header(marker(commit=False, coordinator_epoch=4))
    mlog.psm.check_batch(header, origin="coordinator", now_ms=NOW, coordinator_epoch=4)
    header.base_offset = 1
    assert (
        mlog.psm.on_batch_appended(
            header, first_offset=1, append_time_ms=-1, control_type=0, coordinator_epoch=4
        )
        is None
    )
    assert mlog.psm.last_entry(PID).coordinator_epoch == 4


def test_non_transactional_write_during_transaction_is_invalid_txn_state(mlog: MiniLog) -> None:
    mlog.append(data_batch(seq=0, txn=True))
    with pytest.raises(StorageError) as exc:
        mlog.append(data_batch(seq=1, txn=False))
    assert error_code(exc) == ErrorCode.INVALID_TXN_STATE
    # Also after an epoch bump: the open transaction must end first.
    with pytest.raises(StorageError) as exc:
        mlog.append(data_batch(epoch=1, seq=0, txn=False))
    assert error_code(exc) == ErrorCode.INVALID_TXN_STATE
    mlog.append(marker(commit=True))
    mlog.append(data_batch(seq=1, txn=False))


def test_next_transaction_starts_after_marker(mlog: MiniLog) -> None:
    mlog.append(data_batch(seq=0, txn=True))
    mlog.append(marker(commit=True))
    mlog.append(data_batch(seq=1, txn=True))
    assert mlog.psm.first_unstable_offset() == 2
    assert [(t.producer_id, t.first_offset) for t in mlog.psm.ongoing_transactions()] == [(PID, 2)]


def test_marker_with_older_epoch_is_fenced(mlog: MiniLog) -> None:
    mlog.append(data_batch(epoch=5, seq=0, txn=True))
    with pytest.raises(StorageError) as exc:
        mlog.append(marker(epoch=4, commit=True), origin="coordinator")
    assert error_code(exc) == ErrorCode.INVALID_PRODUCER_EPOCH
    mlog.append(marker(epoch=5, commit=True), origin="coordinator")


def test_marker_from_older_coordinator_is_fenced(mlog: MiniLog) -> None:
    mlog.append(data_batch(seq=0, txn=True))
    mlog.append(marker(commit=True, coordinator_epoch=7), origin="coordinator", coordinator_epoch=7)
    mlog.append(data_batch(seq=1, txn=True))
    with pytest.raises(StorageError) as exc:
        mlog.append(
            marker(commit=True, coordinator_epoch=6), origin="coordinator", coordinator_epoch=6
        )
    assert error_code(exc) == ErrorCode.TRANSACTION_COORDINATOR_FENCED
    # A follower copies what the leader wrote.
    mlog.append(marker(commit=True, coordinator_epoch=6), origin="replication", coordinator_epoch=6)


def test_transaction_version_2_markers_need_a_bumped_epoch(mlog: MiniLog) -> None:
    mlog.append(data_batch(epoch=3, seq=0, txn=True))
    with pytest.raises(StorageError) as exc:
        mlog.append(marker(epoch=3, commit=True), origin="coordinator", transaction_version=2)
    assert error_code(exc) == ErrorCode.INVALID_PRODUCER_EPOCH
    mlog.append(marker(epoch=4, commit=True), origin="coordinator", transaction_version=2)
    # A retry of the marker once the transaction is over is accepted.
    mlog.append(marker(epoch=4, commit=True), origin="coordinator", transaction_version=2)
    assert mlog.psm.last_entry(PID).producer_epoch == 4


def test_last_stable_offset_of_completed_txn_skips_own_producer(tmp_path: Path) -> None:
    psm = ProducerStateManager(tmp_path)
    log = MiniLog(tmp_path, psm)
    log.append(data_batch(pid=1, seq=0, txn=True))  # 0
    log.append(data_batch(pid=2, seq=0, txn=True))  # 1
    assert psm.last_stable_offset(CompletedTxn(1, 0, 9, True, -1)) == 1
    assert psm.last_stable_offset(CompletedTxn(2, 1, 9, True, -1)) == 0
    assert psm.last_stable_offset(CompletedTxn(3, 5, 9, True, -1)) == 0


# -- expiry ---------------------------------------------------------------------------


def test_expired_producers_are_removed_except_with_open_transaction(tmp_path: Path) -> None:
    psm = ProducerStateManager(tmp_path, producer_id_expiration_ms=1000)
    log = MiniLog(tmp_path, psm)
    log.append(data_batch(pid=1, seq=0, ts=NOW))
    log.append(data_batch(pid=2, seq=0, ts=NOW + 500))
    log.append(data_batch(pid=3, seq=0, ts=NOW, txn=True))
    psm.remove_expired_producers(NOW + 999)
    assert [e.producer_id for e in psm.active_producers()] == [1, 2, 3]
    psm.remove_expired_producers(NOW + 1000)
    assert [e.producer_id for e in psm.active_producers()] == [2, 3]
    psm.remove_expired_producers(NOW + 10_000_000)
    assert [e.producer_id for e in psm.active_producers()] == [3]
    # An expired producer is unknown again: any sequence is accepted.
    log.append(data_batch(pid=1, seq=17))


def test_load_drops_expired_producers_from_snapshot(tmp_path: Path) -> None:
    psm = ProducerStateManager(tmp_path, producer_id_expiration_ms=1000)
    log = MiniLog(tmp_path, psm)
    log.append(data_batch(pid=1, seq=0, ts=NOW))
    log.append(data_batch(pid=2, seq=0, ts=NOW + 5000))
    psm.take_snapshot(log.log_end_offset)
    fresh = ProducerStateManager(tmp_path, producer_id_expiration_ms=1000)
    fresh.load(0, log.log_end_offset, log.replay, now_ms=NOW + 3000)
    assert [e.producer_id for e in fresh.active_producers()] == [2]


# -- snapshots ------------------------------------------------------------------------


def test_snapshot_file_has_kafka_layout(mlog: MiniLog) -> None:
    mlog.append(data_batch(pid=5, epoch=2, seq=0, count=3, ts=NOW))
    mlog.append(data_batch(pid=9, epoch=1, seq=0, txn=True, ts=NOW + 10))
    mlog.psm.take_snapshot(mlog.log_end_offset)
    path = mlog.dir / "00000000000000000004.snapshot"
    assert path == snapshot_path(mlog.dir, 4)
    data = path.read_bytes()
    version, crc, count = struct.unpack_from(">hIi", data, 0)
    assert (version, count) == (1, 2)
    assert crc == crc32c.crc32c(data[6:])
    assert len(data) == 10 + 2 * 46
    first = struct.unpack_from(">qhiqiqiq", data, 10)
    second = struct.unpack_from(">qhiqiqiq", data, 56)
    # producer id, epoch, last sequence, last offset, offset delta, timestamp,
    # coordinator epoch, current transaction first offset
    assert first == (5, 2, 2, 2, 2, NOW + 2, -1, -1)
    assert second == (9, 1, 0, 3, 0, NOW + 10, -1, 3)


def test_snapshot_round_trip_and_dedup_after_restart(mlog: MiniLog) -> None:
    for seq in range(0, 12, 2):
        mlog.append(data_batch(seq=seq, count=2))
    mlog.append(data_batch(pid=2, seq=0, txn=True))
    mlog.psm.take_snapshot(mlog.log_end_offset)
    restarted = MiniLog(mlog.dir)
    restarted.batches, restarted.log_end_offset = mlog.batches, mlog.log_end_offset
    restarted.psm.load(0, mlog.log_end_offset, restarted.replay)
    entry = restarted.psm.last_entry(PID)
    assert entry.last_sequence == 11 and entry.last_data_offset == 11
    assert restarted.psm.first_unstable_offset() == 12
    # The last batch is still recognised as a duplicate.
    with pytest.raises(DuplicateBatchError) as exc:
        restarted.append(data_batch(seq=10, count=2))
    assert (exc.value.first_offset, exc.value.last_offset) == (10, 11)
    # Only the last batch is in a snapshot, as in Kafka: an older retry is out of order.
    with pytest.raises(StorageError) as exc:
        restarted.append(data_batch(seq=8, count=2))
    assert error_code(exc) == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    restarted.append(data_batch(seq=12))


def test_encode_decode_entries() -> None:
    entries = [
        ProducerStateEntry(1, 3, 7, NOW, 40, [BatchMetadata(9, 44, 2, NOW)]),
        ProducerStateEntry(2, 0, -1, NOW + 1, None, []),  # only ever wrote markers
    ]
    assert decode_snapshot(encode_snapshot(entries)) == entries


@pytest.mark.parametrize(
    "damage",
    ["flip_body", "flip_crc", "version", "truncate", "extend", "empty"],
)
def test_corrupt_snapshot_is_detected(tmp_path: Path, damage: str) -> None:
    data = bytearray(
        encode_snapshot([ProducerStateEntry(1, 0, -1, NOW, None, [BatchMetadata(0, 0, 0, NOW)])])
    )
    if damage == "flip_body":
        data[20] ^= 0x40
    elif damage == "flip_crc":
        data[3] ^= 0x01
    elif damage == "version":
        data[1] = 2
    elif damage == "truncate":
        del data[-5:]
    elif damage == "extend":
        data += b"\x00"
    else:
        data = bytearray()
    path = tmp_path / "00000000000000000001.snapshot"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptSnapshotError):
        read_snapshot(path)


def test_corrupt_snapshot_is_skipped_deleted_and_logged(
    mlog: MiniLog, caplog: pytest.LogCaptureFixture
) -> None:
    mlog.append(data_batch(seq=0, count=2))
    mlog.roll()  # snapshot at 2
    mlog.append(data_batch(seq=2, count=2))
    mlog.roll()  # snapshot at 4
    mlog.append(data_batch(seq=4, count=1))
    bad = snapshot_path(mlog.dir, 4)
    data = bytearray(bad.read_bytes())
    data[-1] ^= 0xFF
    bad.write_bytes(bytes(data))

    replayed_from: list[int] = []

    def replay(offset: int):
        replayed_from.append(offset)
        return mlog.replay(offset)

    fresh = ProducerStateManager(mlog.dir)
    with caplog.at_level(logging.WARNING, logger="storage.producer_state"):
        fresh.load(0, mlog.log_end_offset, replay)
    assert str(bad) in caplog.text
    assert not bad.exists()
    assert replayed_from == [2]
    assert fresh.last_entry(PID).last_sequence == 4
    assert fresh.snapshot_offsets() == [2, 5]


def test_interrupted_snapshot_write_is_ignored(tmp_path: Path) -> None:
    tmp = tmp_path / "00000000000000000007.snapshot.tmp"
    tmp.write_bytes(b"half written")
    psm = ProducerStateManager(tmp_path)
    assert psm.snapshot_offsets() == []
    assert not tmp.exists()


def test_snapshots_are_bounded(tmp_path: Path) -> None:
    psm = ProducerStateManager(tmp_path, max_snapshots=3)
    log = MiniLog(tmp_path, psm)
    for seq in range(6):
        log.append(data_batch(seq=seq))
        log.roll()
    assert psm.snapshot_offsets() == [4, 5, 6]
    assert sorted(p.name for p in tmp_path.glob("*.snapshot")) == [
        "00000000000000000004.snapshot",
        "00000000000000000005.snapshot",
        "00000000000000000006.snapshot",
    ]
    psm.delete_snapshots_before(6)
    assert psm.snapshot_offsets() == [6]


def test_snapshot_is_not_rewritten_when_nothing_changed(mlog: MiniLog) -> None:
    mlog.append(data_batch(seq=0))
    mlog.psm.take_snapshot(1)
    path = snapshot_path(mlog.dir, 1)
    path.write_bytes(path.read_bytes())  # same content, new mtime irrelevant
    before = path.stat().st_mtime_ns
    mlog.psm.take_snapshot(1)
    assert path.stat().st_mtime_ns == before
    with pytest.raises(ValueError):
        mlog.psm.take_snapshot(0)


# -- loading and truncation -------------------------------------------------------------


def _state(psm: ProducerStateManager) -> list[tuple]:
    """What survives a snapshot: per producer, the last batch and the txn fields."""
    return [
        (
            e.producer_id,
            e.producer_epoch,
            e.last_sequence,
            e.last_data_offset,
            e.last_offset_delta,
            e.last_timestamp,
            e.coordinator_epoch,
            e.current_txn_start_offset,
        )
        for e in psm.active_producers()
    ]


def _workload(log: MiniLog) -> list[int]:
    """A mixed workload; returns the log end offsets after each append."""
    ends = []
    steps = [
        data_batch(pid=1, seq=0, count=2),
        data_batch(pid=2, seq=0, txn=True),
        data_batch(pid=-1, count=3),
        data_batch(pid=1, seq=2, count=1),
        marker(pid=2, commit=False, coordinator_epoch=1),
        data_batch(pid=3, epoch=4, seq=0, count=2, txn=True),
        data_batch(pid=1, epoch=1, seq=0),
        data_batch(pid=2, seq=1, txn=True),
        marker(pid=3, epoch=4, commit=True, coordinator_epoch=1),
        data_batch(pid=1, epoch=1, seq=1, count=4),
    ]
    for i, raw in enumerate(steps):
        if i in (3, 7):
            log.roll()
        log.append(
            raw,
            origin="coordinator" if parse_header(raw).is_control else "client",
            coordinator_epoch=1,
        )
        ends.append(log.log_end_offset)
    return ends


def test_load_replays_after_snapshot_to_same_state(tmp_path: Path) -> None:
    log = MiniLog(tmp_path)
    _workload(log)
    expected = _state(log.psm)
    expected_unstable = log.psm.first_unstable_offset()
    fresh = ProducerStateManager(tmp_path)
    completed = fresh.load(0, log.log_end_offset, log.replay)
    fresh.on_high_watermark_updated(log.log_end_offset)
    assert _state(fresh) == expected
    assert fresh.first_unstable_offset() == expected_unstable == 11  # pid 2's second txn
    # The replay started at the newest snapshot and saw pid 3's commit.
    assert [c.producer_id for c in completed] == [3]
    assert fresh.latest_snapshot_offset() == log.log_end_offset


def test_load_without_snapshots_replays_from_log_start(tmp_path: Path) -> None:
    log = MiniLog(tmp_path)
    _workload(log)
    expected = _state(log.psm)
    for offset in log.psm.snapshot_offsets():
        snapshot_path(tmp_path, offset).unlink()
    fresh = ProducerStateManager(tmp_path)
    completed = fresh.load(0, log.log_end_offset, log.replay)
    assert _state(fresh) == expected
    # Rebuilding the transaction index of recovered segments is possible from the result.
    aborted = [c.to_aborted_txn() for c in completed if c.is_aborted]
    assert aborted == [
        t for base in sorted(log.segments) for t in log.segments[base].all_aborted_txns()
    ]
    assert aborted == [AbortedTxn(2, 2, 7, 8)]


@pytest.mark.parametrize("cut", range(1, 10))
def test_truncate_then_load_equals_state_of_the_prefix(tmp_path: Path, cut: int) -> None:
    full = MiniLog(tmp_path / "full")
    (tmp_path / "full").mkdir()
    ends = _workload(full)
    target = ends[cut - 1]
    (tmp_path / "prefix").mkdir()
    prefix = MiniLog(tmp_path / "prefix")
    for raw, _control, coordinator_epoch in full.batches[:cut]:
        buf = bytearray(raw)
        set_base_offset(buf, 0, 0)
        prefix.append(bytes(buf), origin="replication", coordinator_epoch=coordinator_epoch)
    full.truncate_to(target)
    assert full.log_end_offset == target
    assert _state(full.psm) == _state(prefix.psm)
    assert full.psm.first_unstable_offset() == prefix.psm.first_unstable_offset()
    assert all(o <= target for o in full.psm.snapshot_offsets())
    assert full.psm.map_end_offset == target


def test_truncate_drops_snapshots_beyond_end_and_clears_state(mlog: MiniLog) -> None:
    mlog.append(data_batch(seq=0, count=3))
    mlog.roll()
    mlog.append(data_batch(seq=3, count=3))
    mlog.roll()
    assert mlog.psm.snapshot_offsets() == [3, 6]
    mlog.psm.truncate(0, 4)
    assert mlog.psm.snapshot_offsets() == [3]
    assert mlog.psm.active_producers() == []


def test_load_removes_snapshots_at_or_below_log_start(mlog: MiniLog) -> None:
    mlog.append(data_batch(seq=0, count=3))
    mlog.roll()
    mlog.append(data_batch(seq=3, count=3))
    mlog.roll()
    mlog.append(data_batch(pid=2, seq=0))
    fresh = ProducerStateManager(mlog.dir)
    fresh.load(3, mlog.log_end_offset, mlog.replay)
    assert fresh.snapshot_offsets() == [6, 7]
    assert [e.producer_id for e in fresh.active_producers()] == [2, PID]


def test_truncate_fully_and_start_at(mlog: MiniLog) -> None:
    mlog.append(data_batch(seq=0, txn=True))
    mlog.roll()
    mlog.psm.truncate_fully_and_start_at(100)
    assert mlog.psm.snapshot_offsets() == []
    assert list(mlog.dir.glob("*.snapshot")) == []
    assert mlog.psm.active_producers() == []
    assert mlog.psm.first_unstable_offset() is None
    assert mlog.psm.map_end_offset == 100


def test_log_start_offset_increment_releases_completed_txns(mlog: MiniLog) -> None:
    mlog.append(data_batch(seq=0, txn=True))
    header = parse_header(marker(commit=False))
    header.base_offset = 1
    mlog.psm.on_batch_appended(header, first_offset=1, append_time_ms=-1, control_type=0)
    assert mlog.psm.first_unstable_offset() == 0
    mlog.psm.on_log_start_offset_incremented(2)
    assert mlog.psm.first_unstable_offset() is None
    assert mlog.psm.map_end_offset == 2


def test_replay_accepts_control_record_objects(tmp_path: Path) -> None:
    from wire.records import ControlRecord

    log = MiniLog(tmp_path)
    log.append(data_batch(seq=0, txn=True))
    log.append(marker(commit=False, coordinator_epoch=3), origin="coordinator", coordinator_epoch=3)

    def replay(offset: int):
        for header, control, _ in log.replay(offset):
            yield header, None if control is None else ControlRecord(control, 3)

    for offset in log.psm.snapshot_offsets():
        snapshot_path(tmp_path, offset).unlink()
    fresh = ProducerStateManager(tmp_path)
    completed = fresh.load(0, log.log_end_offset, replay)
    assert completed == [CompletedTxn(PID, 0, 1, True, 2)]
    assert fresh.last_entry(PID).coordinator_epoch == 3


def test_describe_producers_fields(mlog: MiniLog) -> None:
    mlog.append(data_batch(pid=4, epoch=2, seq=0, count=3, ts=NOW))
    mlog.append(data_batch(pid=8, epoch=0, seq=0, txn=True, ts=NOW + 1))
    rows = [
        (
            e.producer_id,
            e.producer_epoch,
            e.last_sequence,
            e.last_timestamp,
            e.coordinator_epoch,
            e.current_txn_start_offset,
        )
        for e in mlog.psm.active_producers()
    ]
    assert rows == [(4, 2, 2, NOW + 2, -1, -1), (8, 0, 0, NOW + 1, -1, 3)]


def test_follower_batches_are_checked_before_any_is_applied(mlog: MiniLog) -> None:
    # A fetch from the leader can carry the marker and the producer's next,
    # non-transactional batch together; all are checked before the first is applied.
    mlog.append(data_batch(seq=0, txn=True), origin="replication")
    follow_up = [parse_header(marker(commit=True)), parse_header(data_batch(seq=1))]
    for header in follow_up:
        mlog.psm.check_batch(header, origin="replication", now_ms=NOW)
    for offset, (header, control) in enumerate(zip(follow_up, (1, None), strict=True), start=1):
        header.base_offset = offset
        mlog.psm.on_batch_appended(
            header, first_offset=offset, append_time_ms=-1, control_type=control
        )
    assert mlog.psm.first_undecided_offset() is None
    assert mlog.psm.last_entry(PID).last_sequence == 1
