"""Recovery after an unclean shutdown: torn tails, garbage, and kill -9 of a writer."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from storage.config import LogConfig
from storage.log_manager import LogManager
from tests.storage._util import NOW, batch, check_indexes_against_scan, open_log, read_all, scan_dir
from wire.records import iter_batches, iter_records

REPO = Path(__file__).resolve().parents[2]


def _make_log(pdir: Path, n: int, config: LogConfig) -> list[tuple[int, int, int]]:
    log = open_log(pdir, config)
    for i in range(n):
        log.append_as_leader(
            batch(1 + i % 4, value=b"x" * (10 + i)), leader_epoch=i // 5, now_ms=NOW
        )
    log.flush()
    log.close()
    return scan_dir(pdir)


def test_torn_last_batch_at_every_byte(tmp_path: Path) -> None:
    config = LogConfig(index_interval_bytes=64)
    pristine = tmp_path / "pristine" / "t-0"
    batches = _make_log(pristine, 12, config)
    seg = pristine / "00000000000000000000.log"
    full = seg.read_bytes()
    last_base, _, last_size = batches[-1]
    start = len(full) - last_size
    work = tmp_path / "work" / "t-0"
    for cut in range(start, len(full)):
        shutil.rmtree(work.parent, ignore_errors=True)
        shutil.copytree(pristine.parent, work.parent)
        with open(work / seg.name, "r+b") as f:
            f.truncate(cut)
        log = open_log(work, config, clean=(cut % 7 == 0))
        assert log.log_end_offset == last_base
        assert scan_dir(work) == batches[:-1]
        assert (work / seg.name).stat().st_size == start
        assert log.leader_epoch_cache.entries()[-1][1] < last_base
        check_indexes_against_scan(log)
        # The log takes appends again right after the cut.
        assert log.append_as_leader(batch(1), leader_epoch=9, now_ms=NOW).first_offset == last_base
        log.close()


@pytest.mark.parametrize("garbage", [b"\x00" * 40, os.urandom(7), os.urandom(300), b"\xff" * 100])
def test_garbage_after_last_batch_is_cut(tmp_path: Path, garbage: bytes) -> None:
    config = LogConfig(index_interval_bytes=64)
    pdir = tmp_path / "t-0"
    batches = _make_log(pdir, 8, config)
    seg = pdir / "00000000000000000000.log"
    good = seg.read_bytes()
    seg.write_bytes(good + garbage)
    log = open_log(pdir, config, clean=False)
    assert scan_dir(pdir) == batches and seg.read_bytes() == good
    assert log.log_end_offset == batches[-1][1] + 1
    log.close()


def test_corrupt_batch_in_middle_cuts_log_and_later_segments(tmp_path: Path) -> None:
    config = LogConfig(segment_bytes=500, index_interval_bytes=64)
    pdir = tmp_path / "t-0"
    batches = _make_log(pdir, 30, config)
    segments = sorted(pdir.glob("*.log"))
    assert len(segments) >= 3
    victim = segments[1]
    data = bytearray(victim.read_bytes())
    first = next(iter_batches(bytes(data)))[1]
    second_pos = first.size
    data[second_pos + 70] ^= 0x55  # inside the second batch's records: CRC mismatch
    victim.write_bytes(bytes(data))
    log = open_log(pdir, config, clean=False)
    assert log.log_end_offset == first.next_offset
    assert scan_dir(pdir) == [b for b in batches if b[0] < first.next_offset]
    assert not any(p.exists() for p in segments[2:])
    check_indexes_against_scan(log)
    log.close()


def test_recovery_point_limits_the_rescan(tmp_path: Path) -> None:
    config = LogConfig(segment_bytes=500)
    pdir = tmp_path / "t-0"
    batches = _make_log(pdir, 30, config)
    segments = sorted(pdir.glob("*.log"))
    last_base = int(segments[-1].name[:20])
    with open(segments[-1], "ab") as f:
        f.write(b"torn")
    log = open_log(pdir, config, clean=False, recovery_point=last_base)
    assert scan_dir(pdir) == batches
    assert log.recovery_point == last_base
    log.close()


_CHILD = textwrap.dedent(
    """
    import sys
    from storage.config import LogConfig
    from storage.log_manager import LogManager
    from wire.records import SimpleRecord, build_batch

    def payload(offset, n):
        return [SimpleRecord(b"%d" % offset, (b"%d-%d:" % (offset, i)) * (200 + offset % 97), timestamp=1000 + offset)
                for i in range(n)]

    manager = LogManager([sys.argv[1]], broker_id=1, cluster_id="c1",
                         default_config=LogConfig(flush_on_ack=True, segment_bytes=200_000, index_interval_bytes=2048))
    log = manager.create_log("t", 0)
    i = 0
    while True:
        n = 1 + (log.log_end_offset % 5)
        data = bytearray(build_batch(payload(log.log_end_offset, n), compression=(i % 3) and 1))
        info = log.append_as_leader(data, leader_epoch=log.log_end_offset // 100, now_ms=1000)
        sys.stdout.write("%d %d\\n" % (info.first_offset, info.last_offset))
        sys.stdout.flush()
        i += 1
        if i % 7 == 0:
            manager.checkpoint()
    """
)


def _verify(log, acked: list[tuple[int, int]]) -> None:
    data = read_all(log, 0)
    seen = {}
    expected_next = 0
    for pos, h in iter_batches(data):
        assert h.base_offset == expected_next, "offsets must be contiguous"
        expected_next = h.next_offset
        records = list(iter_records(data, pos, h))
        assert len(records) == 1 + (h.base_offset % 5)
        for i, r in enumerate(records):
            assert r.key == b"%d" % h.base_offset
            assert r.value == (b"%d-%d:" % (h.base_offset, i)) * (200 + h.base_offset % 97)
        seen[h.base_offset] = h.last_offset
    assert expected_next == log.log_end_offset
    # No partial batch anywhere on disk: every .log is whole, CRC-valid batches.
    assert [b for b, _, _ in scan_dir(log.dir)] == sorted(seen)
    for first, last in acked:
        assert seen.get(first) == last, f"acknowledged batch {first}..{last} is missing"
    check_indexes_against_scan(log)


@pytest.mark.slow
def test_kill_minus_nine_loses_no_acknowledged_batch(tmp_path: Path) -> None:
    rng = random.Random(1234)
    log_dir = tmp_path / "logs"
    acked: list[tuple[int, int]] = []
    kills = 0
    for round_ in range(55):
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(log_dir)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            want = rng.randint(0, 25)
            got = 0
            while got < want:
                line = proc.stdout.readline()
                if not line:
                    break
                first, last = map(int, line.split())
                acked.append((first, last))
                got += 1
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
            # Anything printed before the kill landed was acknowledged too.
            for line in proc.stdout.read().splitlines():
                first, last = map(int, line.split())
                acked.append((first, last))
            err = proc.stderr.read()
        finally:
            proc.kill()
            proc.wait()
        assert b"Traceback" not in err, err.decode()
        # Alternate: sometimes verify and shut down cleanly, sometimes leave the
        # dir unclean for the next writer to recover.
        if round_ % 3 == 0 or round_ == 54:
            manager = LogManager(
                [log_dir], broker_id=1, cluster_id="c1", default_config=LogConfig()
            )
            assert manager.had_clean_shutdown[log_dir.absolute()] is False
            log = manager.get_log("t", 0)
            if log is not None:
                _verify(log, acked)
            manager.shutdown()
    assert kills >= 50 and len(acked) > 100
