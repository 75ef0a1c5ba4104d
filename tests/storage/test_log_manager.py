"""LogManager: layout of a log dir, checkpoints, clean-shutdown marker, locking."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest

from storage.checkpoints import OffsetCheckpointFile, read_properties
from storage.config import LogConfig
from storage.log_manager import LogDirError, LogManager
from tests.storage._util import NOW, batch, read_all


def _manager(dirs, **kw) -> LogManager:
    kw.setdefault("default_config", LogConfig(segment_bytes=600))
    return LogManager(dirs, broker_id=1, cluster_id="cluster-A", **kw)


def test_layout_checkpoints_and_clean_restart(tmp_path: Path) -> None:
    d1, d2 = tmp_path / "a", tmp_path / "b"
    m = _manager([d1, d2])
    assert read_properties(d1 / "meta.properties") == {
        "version": "0",
        "broker.id": "1",
        "cluster.id": "cluster-A",
    }
    logs = {}
    for p in range(4):
        logs[p] = m.create_log("orders", p, topic_id=uuid.UUID(int=5))
        for _ in range(10):
            logs[p].append_as_leader(batch(2), leader_epoch=0, now_ms=NOW)
        logs[p].update_high_watermark(15)
    assert sorted(str(lg.dir.parent) for lg in m.all_logs()) == sorted(
        [str(d1)] * 2 + [str(d2)] * 2
    )
    logs[0].maybe_increment_log_start_offset(5)
    data = {p: read_all(lg) for p, lg in logs.items()}
    m.shutdown()
    for d in (d1, d2):
        assert (d / ".kafka_cleanshutdown").exists()
        assert (d / "recovery-point-offset-checkpoint").read_text().startswith("0\n2\n")
    in_a = {p for (t, p) in OffsetCheckpointFile(d1 / "replication-offset-checkpoint").read()}
    hw = OffsetCheckpointFile((d1 if 0 in in_a else d2) / "replication-offset-checkpoint").read()
    assert hw[("orders", 0)] == 15
    starts = OffsetCheckpointFile((d1 if 0 in in_a else d2) / "log-start-offset-checkpoint").read()
    assert starts == {("orders", 0): 5}

    m2 = _manager([d1, d2])
    assert all(m2.had_clean_shutdown.values())
    assert not (d1 / ".kafka_cleanshutdown").exists()  # a crash from now on is unclean
    for p in range(4):
        lg = m2.get_log("orders", p)
        assert lg.log_end_offset == 20 and lg.high_watermark == 15
        assert lg.topic_id == uuid.UUID(int=5)
        assert read_all(lg) == data[p]
    assert m2.get_log("orders", 0).log_start_offset == 5
    assert m2.delete_log("orders", 3)
    assert m2.get_log("orders", 3) is None
    assert not any((d / "orders-3").exists() for d in (d1, d2))
    m2.shutdown()


def test_lock_prevents_second_manager(tmp_path: Path) -> None:
    m = _manager([tmp_path / "a"])
    with pytest.raises(LogDirError):
        _manager([tmp_path / "a"])
    m.shutdown()
    m.shutdown()  # idempotent
    _manager([tmp_path / "a"]).shutdown()


def test_meta_properties_mismatch(tmp_path: Path) -> None:
    _manager([tmp_path]).shutdown()
    with pytest.raises(LogDirError):
        LogManager([tmp_path], broker_id=2, cluster_id="cluster-A", default_config=LogConfig())
    with pytest.raises(LogDirError):
        LogManager([tmp_path], broker_id=1, cluster_id="other", default_config=LogConfig())


def test_unclean_start_recovers_and_corrupt_checkpoint_is_reported(tmp_path: Path, caplog) -> None:
    m = _manager([tmp_path])
    lg = m.create_log("t", 0)
    for _ in range(10):
        lg.append_as_leader(batch(2), leader_epoch=0, now_ms=NOW)
    lg.flush()
    m.checkpoint()
    seg = sorted(lg.dir.glob("*.log"))[-1]
    # Simulate a crash: no shutdown, a torn write at the end, a mangled checkpoint.
    for d in m._dirs:
        d.unlock()
    with open(seg, "ab") as f:
        f.write(b"\x00\x00\x00\x00\x00\x00\x00\x63\x00\x00")
    (tmp_path / "recovery-point-offset-checkpoint").write_text("0\n7\nt 0")
    caplog.set_level(logging.ERROR)
    m2 = _manager([tmp_path])
    assert str(tmp_path / "recovery-point-offset-checkpoint") in caplog.text
    assert m2.had_clean_shutdown[tmp_path.absolute()] is False
    lg2 = m2.get_log("t", 0)
    assert lg2.log_end_offset == 20
    assert lg2.recovery_point == 0  # recovered conservatively from the start
    m2.shutdown()


def test_cleanup_applies_retention_and_checkpoints_start(tmp_path: Path) -> None:
    m = _manager([tmp_path], default_config=LogConfig(segment_bytes=400, retention_bytes=400))
    lg = m.create_log("t", 0)
    for _ in range(20):
        lg.append_as_leader(batch(2), leader_epoch=0, now_ms=NOW)
    lg.update_high_watermark(lg.log_end_offset)
    assert m.cleanup(NOW) > 0
    assert lg.log_start_offset > 0
    m.shutdown()
    m2 = _manager([tmp_path], default_config=LogConfig(segment_bytes=400, retention_bytes=400))
    assert m2.get_log("t", 0).log_start_offset == lg.log_start_offset
    m2.shutdown()


def test_flush_ms(tmp_path: Path) -> None:
    m = _manager([tmp_path], default_config=LogConfig(flush_ms=1000))
    lg = m.create_log("t", 0, now_ms=NOW)
    lg.append_as_leader(batch(2), leader_epoch=0, now_ms=NOW)
    assert m.flush_dirty_logs(NOW + 500) == 0 and lg.recovery_point == 0
    assert m.flush_dirty_logs(NOW + 1000) == 1 and lg.recovery_point == 2
    m.shutdown()


def test_an_older_checkpoint_state_never_rewinds_log_start_offsets(tmp_path: Path) -> None:
    # The broker reads the checkpoint state on the event loop and writes it in a worker
    # thread; a retention pass meanwhile may write newer log start offsets from
    # another worker thread, finishing first.
    m = _manager([tmp_path])
    lg = m.create_log("t", 0)
    for _ in range(20):
        lg.append_as_leader(batch(2), leader_epoch=0, now_ms=NOW)
    lg.update_high_watermark(lg.log_end_offset)
    stale = m.checkpoint_state()
    assert lg.maybe_increment_log_start_offset(7)
    m.write_checkpoints(m.checkpoint_state(), log_start_offsets_only=True)
    m.write_checkpoints(stale)
    lso = OffsetCheckpointFile(tmp_path / "log-start-offset-checkpoint").read()
    assert lso == {("t", 0): 7}
    # The stale state still wrote its recovery points and high watermarks.
    hw = OffsetCheckpointFile(tmp_path / "replication-offset-checkpoint").read()
    assert hw[("t", 0)] == lg.high_watermark
    m.shutdown()
