"""Random operation sequences on a Log agree with a simple list-of-batches model."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from storage.config import LogConfig
from tests.storage._util import NOW, batch, check_indexes_against_scan, open_log, read_all, scan_dir
from wire.records import iter_batches

ops = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 5), st.integers(0, 3)),
        st.tuples(st.just("truncate"), st.integers(0, 60), st.just(0)),
        st.tuples(st.just("reopen"), st.booleans(), st.just(0)),
        st.tuples(st.just("delete_records"), st.integers(0, 60), st.just(0)),
        st.tuples(st.just("retention"), st.just(0), st.just(0)),
    ),
    max_size=30,
)


@settings(max_examples=40, deadline=None)
@given(ops=ops, segment_bytes=st.sampled_from([400, 900, 1 << 20]))
def test_log_matches_model(tmp_path_factory, ops, segment_bytes) -> None:
    pdir = tmp_path_factory.mktemp("model") / "m-0"
    config = LogConfig(segment_bytes=segment_bytes, index_interval_bytes=100, retention_bytes=500)
    log = open_log(pdir, config)
    model: list[tuple[int, int, int]] = []  # (base, last, epoch)
    start = 0
    epoch = 0
    end = 0  # the model's log end offset
    for op, a, b in ops:
        if op == "append":
            epoch = max(epoch, b)
            info = log.append_as_leader(batch(a, value=b"m" * 40), leader_epoch=epoch, now_ms=NOW)
            assert info.first_offset == end
            model.append((end, end + a - 1, epoch))
            end += a
        elif op == "truncate":
            target = min(a, end)
            log.truncate_to(target)
            model = [m for m in model if m[1] < target]
            if target < start:
                start = target
            # Kafka semantics: the log end offset becomes the target itself, even
            # when that cuts a batch (the whole batch goes).
            end = target
        elif op == "reopen":
            log.flush()
            log.close()
            log = open_log(pdir, config, clean=a, log_start_offset=start, recovery_point=0)
            # After a restart the end offset is where the stored batches end.
            if model:
                end = model[-1][1] + 1
            else:
                end = log.log_end_offset
            start = min(start, end)
        elif op == "delete_records":
            log.update_high_watermark(log.log_end_offset)
            target = min(a, log.high_watermark)
            log.maybe_increment_log_start_offset(target)
            start = max(start, target)
        else:
            log.update_high_watermark(log.log_end_offset)
            log.delete_old_segments(NOW)
            first_base = log.segments[0].base_offset
            model = [m for m in model if m[1] >= first_base]
            start = max(start, first_base)
        assert log.log_end_offset == end
        assert log.log_start_offset == start
        on_disk = [(b0, l0) for b0, l0, _ in scan_dir(pdir)]
        assert on_disk == [(m[0], m[1]) for m in model]
        if model:
            data = read_all(log, max(start, model[0][0]) if start <= model[-1][1] else None)
            got = [(h.base_offset, h.partition_leader_epoch) for _, h in iter_batches(data)]
            assert got == [(m[0], m[2]) for m in model if m[1] >= start]
        cache = log.leader_epoch_cache.entries()
        assert all(e[1] <= log.log_end_offset for e in cache)
        check_indexes_against_scan(log)
    log.close()
