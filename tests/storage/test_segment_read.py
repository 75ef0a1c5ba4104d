"""Log reads take both slice ends from the sparse index; they must match a plain walk.

The reference reads every batch header of the segment files from disk and applies
the rule directly: start at the batch holding the fetch offset, add whole batches
while their last offset is below ``max_offset`` and the total stays within
``max_bytes`` (the first batch alone may exceed it when ``min_one_message``).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from storage.config import LogConfig
from tests.storage._util import NOW, batch, open_log
from wire.buffers import join
from wire.records import iter_batches


def _reference(log, fetch_offset, max_bytes, max_offset, min_one_message):
    headers = []
    for path in sorted(log.dir.glob("*.log")):
        headers.extend(h for _, h in iter_batches(path.read_bytes()))
    limit = min(max_offset, log.log_end_offset)
    chosen = []
    total = 0
    for h in headers:
        if h.last_offset < fetch_offset:
            continue
        if h.last_offset >= limit:
            break
        if chosen and h.base_offset < chosen[0].base_offset:
            break
        if total + h.size > max_bytes and not (not chosen and min_one_message):
            break
        # A read never crosses a segment: stop at the first batch of the next one.
        if chosen and any(h.base_offset == s.base_offset for s in log.segments[1:]):
            break
        chosen.append(h)
        total += h.size
    return [(h.base_offset, h.last_offset) for h in chosen]


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(
        st.tuples(st.integers(1, 12), st.sampled_from([10, 200, 3000])), min_size=1, max_size=40
    ),
    index_interval=st.sampled_from([0, 100, 4096]),
    segment_bytes=st.sampled_from([40_000, 1 << 20]),
    reads=st.lists(
        st.tuples(
            st.floats(0, 1),
            st.integers(0, 150_000),
            st.floats(0, 1.2),
            st.booleans(),
        ),
        min_size=1,
        max_size=12,
    ),
)
def test_read_matches_a_header_walk(
    tmp_path_factory, sizes, index_interval, segment_bytes, reads
) -> None:
    d = tmp_path_factory.mktemp("segread") / "t-0"
    log = open_log(d, LogConfig(index_interval_bytes=index_interval, segment_bytes=segment_bytes))
    try:
        for n, value_size in sizes:
            log.append_as_leader(
                batch(n, value=b"v" * value_size, ts=NOW), leader_epoch=0, now_ms=NOW
            )
        leo = log.log_end_offset
        for where, max_bytes, hw_frac, min_one in reads:
            fetch_offset = min(int(where * leo), leo - 1)
            max_offset = max(1, int(hw_frac * leo))
            info = log.read(
                fetch_offset, max_bytes=max_bytes, max_offset=max_offset, min_one_message=min_one
            )
            got = [(h.base_offset, h.last_offset) for _, h in iter_batches(join(info.records))]
            assert got == _reference(log, fetch_offset, max_bytes, max_offset, min_one)
            if got:
                assert info.first_offset == got[0][0]
    finally:
        log.close()


def test_a_batch_too_large_for_the_budget_does_not_skip_to_the_next_segment(tmp_path) -> None:
    # Offsets 0-1 and 2-12 fill the first segment, 13 rolls a second one. A read at 0
    # whose budget cannot hold the first batch (a later partition of a fetch, KIP-74)
    # must return nothing, never batch 13: the consumer would skip offsets 0-12.
    log = open_log(tmp_path / "t-0", LogConfig(index_interval_bytes=0, segment_bytes=40_000))
    try:
        for n in (2, 11, 1):
            log.append_as_leader(batch(n, value=b"v" * 3000), leader_epoch=0, now_ms=NOW)
        assert len(log.segments) == 2
        info = log.read(0, max_bytes=3072, max_offset=log.log_end_offset, min_one_message=False)
        assert info.records == [] and info.first_offset == 0
        info = log.read(0, max_bytes=3072, max_offset=log.log_end_offset, min_one_message=True)
        assert [h.base_offset for _, h in iter_batches(join(info.records))] == [0]
    finally:
        log.close()


def test_reads_remember_where_the_next_batch_starts(tmp_path) -> None:
    # Sequential reads hit the remembered position; a truncation forgets it, so a read
    # after new appends at the same offsets finds the new batches.
    log = open_log(tmp_path / "t-0", LogConfig(index_interval_bytes=1 << 20))
    try:
        for _ in range(6):
            log.append_as_leader(batch(3), leader_epoch=0, now_ms=NOW)
        seen = []
        offset = 0
        while offset < log.log_end_offset:
            info = log.read(offset, max_bytes=200, max_offset=log.log_end_offset)
            headers = [h for _, h in iter_batches(join(info.records))]
            seen.extend(h.base_offset for h in headers)
            offset = headers[-1].next_offset
        assert seen == [0, 3, 6, 9, 12, 15]
        assert log.truncate_to(9)
        log.append_as_leader(batch(5, value=b"new" * 40), leader_epoch=1, now_ms=NOW)
        # Offset 12 now lies inside the new batch 9-13, not where batch 12 was.
        info = log.read(12, max_bytes=1 << 20, max_offset=log.log_end_offset)
        headers = [h for _, h in iter_batches(join(info.records))]
        assert [(h.base_offset, h.last_offset, h.partition_leader_epoch) for h in headers] == [
            (9, 13, 1)
        ]
    finally:
        log.close()
