"""Offset and time indexes: lookups agree with a linear scan; bad files are refused."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.index import CorruptIndexError, OffsetIndex, TimeIndex


def _offset_entries(draw_deltas: list[tuple[int, int]], base: int) -> list[tuple[int, int]]:
    entries, off, pos = [], base, 0
    for d_off, d_pos in draw_deltas:
        off += d_off
        pos += d_pos
        entries.append((off, pos))
    return entries


deltas = st.lists(st.tuples(st.integers(1, 1000), st.integers(1, 5000)), max_size=60)


@settings(max_examples=100, deadline=None)
@given(
    deltas=deltas,
    base=st.integers(0, 2**40),
    targets=st.lists(st.integers(-10, 70_000), max_size=20),
)
def test_offset_lookup_matches_linear_scan(tmp_path_factory, deltas, base, targets) -> None:
    path = tmp_path_factory.mktemp("idx") / "0.index"
    index = OffsetIndex(path, base, max_entries=1000)
    entries = _offset_entries(deltas, base)
    for off, pos in entries:
        index.append(off, pos)
    reloaded = OffsetIndex(path, base, max_entries=1000)
    reloaded.load()
    assert reloaded.entries() == entries
    for t in targets:
        target = base + t
        expected = (base, 0)
        for off, pos in entries:
            if off <= target:
                expected = (off, pos)
        assert index.lookup(target) == expected
        assert reloaded.lookup(target) == expected
    index.close()


@settings(max_examples=100, deadline=None)
@given(
    steps=st.lists(st.tuples(st.integers(-5, 100), st.integers(0, 50)), max_size=60),
    targets=st.lists(st.integers(-10, 3000), max_size=20),
    cut=st.integers(0, 3000),
)
def test_time_lookup_and_truncate_match_linear_scan(tmp_path_factory, steps, targets, cut) -> None:
    path = tmp_path_factory.mktemp("tidx") / "0.timeindex"
    base = 100
    index = TimeIndex(path, base, max_entries=1000)
    accepted: list[tuple[int, int]] = []
    ts, off = 0, base
    for d_ts, d_off in steps:
        ts += d_ts
        off += d_off
        index.maybe_append(ts, off)
        if not accepted or (ts > accepted[-1][0] and off >= accepted[-1][1]):
            accepted.append((ts, off))
    assert index.entries() == accepted
    for t in targets:
        expected = (-1, base)
        for e in accepted:
            if e[0] <= t:
                expected = e
        assert index.lookup(t) == expected
    index.truncate_to(base + cut)
    kept = [e for e in accepted if e[1] < base + cut]
    assert index.entries() == kept
    reloaded = TimeIndex(path, base, max_entries=1000)
    reloaded.load()
    assert reloaded.entries() == kept
    index.close()


def test_offset_index_file_format_is_kafkas(tmp_path: Path) -> None:
    index = OffsetIndex(tmp_path / "00000000000000000100.index", 100, max_entries=10)
    index.append(105, 4200)
    index.append(300, 9000)
    index.close()
    assert (tmp_path / "00000000000000000100.index").read_bytes() == struct.pack(
        ">iiii", 5, 4200, 200, 9000
    )
    tindex = TimeIndex(tmp_path / "t.timeindex", 100, max_entries=10)
    tindex.maybe_append(1_700_000_000_000, 105)
    tindex.close()
    assert (tmp_path / "t.timeindex").read_bytes() == struct.pack(">qi", 1_700_000_000_000, 5)


@pytest.mark.parametrize(
    "content",
    [
        struct.pack(">ii", 5, 100) + b"\x00\x00",  # torn entry
        struct.pack(">iiii", 5, 100, 5, 200),  # offsets not increasing
        struct.pack(">iiii", 5, 100, 6, 100),  # positions not increasing
        struct.pack(">iiii", 5, 100, 0, 0),  # preallocated zero tail
    ],
)
def test_corrupt_offset_index_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.index"
    path.write_bytes(content)
    with pytest.raises(CorruptIndexError):
        OffsetIndex(path, 0, max_entries=10).load()


def test_index_sanity_check_against_segment(tmp_path: Path) -> None:
    index = OffsetIndex(tmp_path / "x.index", 0, max_entries=10)
    index.append(10, 500)
    index.sanity_check(next_offset=11, log_size=600)
    with pytest.raises(CorruptIndexError):
        index.sanity_check(next_offset=10, log_size=600)
    with pytest.raises(CorruptIndexError):
        index.sanity_check(next_offset=11, log_size=500)
    index.close()


def test_full_index(tmp_path: Path) -> None:
    index = OffsetIndex(tmp_path / "x.index", 0, max_entries=2)
    index.append(1, 10)
    assert not index.is_full
    index.append(2, 20)
    assert index.is_full
    with pytest.raises(ValueError):
        index.append(3, 30)
    index.truncate_to(2)
    assert index.entries() == [(1, 10)] and not index.is_full
    index.close()
