"""Property test of log compaction against a model: the latest value per key, offsets kept."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.cleaner import LogCleaner
from tests.storage._util import check_indexes_against_scan
from tests.storage.test_cleaner import COMPACT, NOW, all_records, open_log, put_many

keys = st.sampled_from([b"a", b"b", b"c", b"d", b"e", b"f"])
values = st.one_of(st.none(), st.binary(min_size=1, max_size=40))
batches = st.lists(
    st.tuples(
        st.lists(st.tuples(keys, values), min_size=1, max_size=6), st.sampled_from([0, 1, 4])
    ),
    min_size=1,
    max_size=80,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches, st.integers(min_value=1, max_value=3))
def test_cleaning_matches_model(spec: list, rounds: int) -> None:
    tmp = Path(tempfile.mkdtemp())
    try:
        log = open_log(tmp)
        written: dict[int, tuple[bytes, bytes | None]] = {}
        for records, codec in spec:
            first = put_many(log, records, compression=codec)
            for i, rec in enumerate(records):
                written[first + i] = rec
        cleaner = LogCleaner()
        for r in range(rounds):
            # Tombstones may go only once delete.retention.ms has passed since a round.
            cleaner.clean_logs([(tmp, log)], NOW + r * 10 * COMPACT.delete_retention_ms)
        checkpoint = LogCleaner.read_checkpoint(tmp).get(("t", 0), 0)
        got = all_records(log)
        assert [o for o, _k, _v in got] == sorted(o for o, _k, _v in got)
        for offset, key, value in got:
            assert written[offset] == (key, value)
        latest: dict[bytes, int] = {}
        for offset in sorted(written):
            latest[written[offset][0]] = offset
        got_offsets = {o for o, _k, _v in got}
        for offset in latest.values():
            if written[offset][1] is not None:
                assert offset in got_offsets  # a live key's newest value is never lost
        for offset, key, _value in got:
            if offset < checkpoint:
                # Cleaned part: only the newest record of a key below the checkpoint.
                newest_below = max(o for o in written if o < checkpoint and written[o][0] == key)
                assert offset == newest_below
        # Everything from the checkpoint on is untouched.
        assert sorted(o for o in got_offsets if o >= checkpoint) == [
            o for o in sorted(written) if o >= checkpoint
        ]
        check_indexes_against_scan(log)
        assert log.log_end_offset == max(written) + 1
        log.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
