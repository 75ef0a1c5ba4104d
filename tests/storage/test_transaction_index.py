"""TransactionIndex: Kafka's .txnindex format, search, truncation, damage."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.transaction_index import (
    ABORTED_TXN_SIZE,
    AbortedTxn,
    CorruptIndexError,
    TransactionIndex,
    collect_aborted_transactions,
    transaction_index_path,
)


def test_file_name_and_lazy_creation(tmp_path: Path) -> None:
    index = TransactionIndex.for_segment(tmp_path, 1234)
    assert index.path == tmp_path / "00000000000000001234.txnindex"
    assert index.path == transaction_index_path(tmp_path, 1234)
    assert not index.path.exists()  # nothing aborted yet, no file, as Kafka
    assert index.all_aborted_txns() == []
    assert index.collect_aborted(0, 10_000) == []
    index.sanity_check()
    index.append(AbortedTxn(7, 1234, 1240, 1241))
    assert index.path.exists()
    index.close()


def test_entry_layout_is_kafkas(tmp_path: Path) -> None:
    index = TransactionIndex.for_segment(tmp_path, 0)
    index.append(AbortedTxn(producer_id=42, first_offset=5, last_offset=9, last_stable_offset=10))
    index.append(
        AbortedTxn(producer_id=-3 + 2**40, first_offset=11, last_offset=20, last_stable_offset=11)
    )
    index.flush()
    data = index.path.read_bytes()
    assert ABORTED_TXN_SIZE == 34
    assert len(data) == 68
    assert struct.unpack(">hqqqq", data[:34]) == (0, 42, 5, 9, 10)
    assert struct.unpack(">hqqqq", data[34:]) == (0, 2**40 - 3, 11, 20, 11)
    index.close()


def test_reopen_reads_entries_back(tmp_path: Path) -> None:
    index = TransactionIndex.for_segment(tmp_path, 100)
    entries = [
        AbortedTxn(1, 90, 100, 101),
        AbortedTxn(2, 95, 105, 106),
        AbortedTxn(1, 102, 110, 111),
    ]
    for e in entries:
        index.append(e)
    index.close()
    again = TransactionIndex.for_segment(tmp_path, 100)
    assert again.all_aborted_txns() == entries
    assert len(again) == 3 and again.last_offset() == 110
    again.sanity_check()
    again.append(AbortedTxn(3, 111, 120, 121))
    again.close()
    assert TransactionIndex.for_segment(tmp_path, 100).all_aborted_txns() == [
        *entries,
        AbortedTxn(3, 111, 120, 121),
    ]


def test_append_requires_increasing_last_offset(tmp_path: Path) -> None:
    index = TransactionIndex.for_segment(tmp_path, 0)
    index.append(AbortedTxn(1, 0, 10, 11))
    with pytest.raises(ValueError):
        index.append(AbortedTxn(2, 3, 10, 11))
    with pytest.raises(ValueError):
        index.append(AbortedTxn(2, 3, 9, 11))
    assert len(index) == 1
    index.close()


def test_collect_aborted_overlap_and_stop(tmp_path: Path) -> None:
    index = TransactionIndex.for_segment(tmp_path, 0)
    a = AbortedTxn(1, 0, 10, 3)
    b = AbortedTxn(2, 3, 13, 20)
    c = AbortedTxn(3, 15, 25, 26)
    for e in (a, b, c):
        index.append(e)
    assert index.collect_aborted(0, 5) == [a, b]
    assert index.collect_aborted(11, 30) == [b, c]
    assert index.collect_aborted(26, 40) == []
    assert index.collect_aborted(14, 15) == []
    result = index.collect_aborted_txns(0, 20)
    assert result.aborted_transactions == [a, b] and result.is_complete  # b's LSO reached 20
    result = index.collect_aborted_txns(0, 27)
    assert result.aborted_transactions == [a, b, c] and not result.is_complete
    index.close()


def test_collect_across_segments_starts_at_fetch_segment_and_stops_early(tmp_path: Path) -> None:
    # A transaction starting in segment 0 whose abort marker landed in segment 100.
    seg0 = TransactionIndex.for_segment(tmp_path, 0)
    seg100 = TransactionIndex.for_segment(tmp_path, 100)
    seg200 = TransactionIndex.for_segment(tmp_path, 200)
    seg0.append(AbortedTxn(1, 10, 20, 21))
    seg100.append(AbortedTxn(2, 50, 120, 121))
    seg100.append(AbortedTxn(3, 125, 130, 250))
    seg200.append(AbortedTxn(4, 240, 260, 261))
    # Fetching from offset 60 (segment 0) up to 150: the walk ends at segment 100
    # because txn 3's LSO (250) proves nothing later can start below 150.
    found = collect_aborted_transactions([seg0, seg100, seg200], 60, 150)
    assert found == [AbortedTxn(2, 50, 120, 121), AbortedTxn(3, 125, 130, 250)]
    found = collect_aborted_transactions([seg100, seg200], 100, 300)
    assert [t.producer_id for t in found] == [2, 3, 4]
    for i in (seg0, seg100, seg200):
        i.close()


def test_truncate_to(tmp_path: Path) -> None:
    index = TransactionIndex.for_segment(tmp_path, 0)
    entries = [AbortedTxn(1, 0, 5, 6), AbortedTxn(2, 1, 8, 9), AbortedTxn(3, 9, 12, 13)]
    for e in entries:
        index.append(e)
    index.truncate_to(13)
    assert index.all_aborted_txns() == entries
    index.truncate_to(8)  # the marker at 8 is gone, so is its entry
    assert index.all_aborted_txns() == entries[:1]
    assert index.path.stat().st_size == 34
    index.append(AbortedTxn(4, 6, 7, 8))  # appends may continue after truncation
    index.close()
    assert TransactionIndex.for_segment(tmp_path, 0).all_aborted_txns() == [
        entries[0],
        AbortedTxn(4, 6, 7, 8),
    ]


def test_reset_delete_rename(tmp_path: Path) -> None:
    index = TransactionIndex.for_segment(tmp_path, 0)
    index.append(AbortedTxn(1, 0, 5, 6))
    index.reset()
    assert index.all_aborted_txns() == [] and index.path.stat().st_size == 0
    index.append(AbortedTxn(1, 0, 3, 4))  # an earlier offset is fine after reset
    target = tmp_path / "00000000000000000000.txnindex.deleted"
    index.rename_to(target)
    assert target.exists() and not (tmp_path / "00000000000000000000.txnindex").exists()
    index.append(AbortedTxn(1, 4, 6, 7))
    assert index.delete() is True
    assert not target.exists()
    assert index.delete() is False


def test_torn_tail_fails_sanity_check_and_is_overwritten(tmp_path: Path) -> None:
    index = TransactionIndex.for_segment(tmp_path, 0)
    index.append(AbortedTxn(1, 0, 5, 6))
    index.close()
    with open(index.path, "ab") as f:
        f.write(b"\x00\x00\x00\x00\x00\x07")  # a crash mid-append
    again = TransactionIndex.for_segment(tmp_path, 0)
    assert again.all_aborted_txns() == [AbortedTxn(1, 0, 5, 6)]
    with pytest.raises(CorruptIndexError):
        again.sanity_check()
    again.append(AbortedTxn(2, 6, 9, 10))
    again.sanity_check()
    assert again.path.stat().st_size == 68
    again.close()


def test_sanity_check_rejects_entries_before_segment_and_unknown_version(tmp_path: Path) -> None:
    path = transaction_index_path(tmp_path, 100)
    path.write_bytes(AbortedTxn(1, 10, 50, 51).to_bytes())
    with pytest.raises(CorruptIndexError):
        TransactionIndex(path, 100).sanity_check()
    path.write_bytes(AbortedTxn(1, 100, 150, 151, version=1).to_bytes())
    with pytest.raises(CorruptIndexError):
        TransactionIndex(path, 100).sanity_check()
    path.write_bytes(
        AbortedTxn(1, 100, 150, 151).to_bytes() + AbortedTxn(1, 100, 140, 151).to_bytes()
    )
    with pytest.raises(CorruptIndexError):
        TransactionIndex(path, 100).sanity_check()
    path.write_bytes(AbortedTxn(1, 90, 150, 151).to_bytes())
    TransactionIndex(path, 100).sanity_check()  # a transaction may begin in an earlier segment


def _txns() -> st.SearchStrategy[list[AbortedTxn]]:
    def build(spec: list[tuple[int, int, int, int]]) -> list[AbortedTxn]:
        out, last = [], 0
        for pid, span, gap, lso_extra in spec:
            last += gap + 1
            out.append(AbortedTxn(pid, max(0, last - span), last, last + 1 + lso_extra))
        return out

    return st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 30), st.integers(0, 10), st.integers(0, 20)),
        max_size=25,
    ).map(build)


@settings(max_examples=100, deadline=None)
@given(txns=_txns(), fetch=st.integers(0, 400), length=st.integers(1, 200))
def test_collect_matches_brute_force(tmp_path_factory, txns, fetch, length) -> None:
    index = TransactionIndex.for_segment(tmp_path_factory.mktemp("txn"), 0)
    for t in txns:
        index.append(t)
    upper = fetch + length
    result = index.collect_aborted_txns(fetch, upper)
    overlapping = [t for t in txns if t.last_offset >= fetch and t.first_offset < upper]
    # Whatever is returned overlaps; it is everything up to the stopping entry.
    assert all(t in overlapping for t in result.aborted_transactions)
    if result.is_complete:
        stop = next(i for i, t in enumerate(txns) if t.last_stable_offset >= upper)
        assert result.aborted_transactions == [t for t in txns[: stop + 1] if t in overlapping]
    else:
        assert result.aborted_transactions == overlapping
    index.close()
