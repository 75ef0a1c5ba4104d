"""What we store is what clients sent, and client libraries read our segments."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka.record.memory_records import MemoryRecords, MemoryRecordsBuilder

from storage.config import LogConfig
from tests.storage._util import NOW, batch, open_log, read_all
from wire.buffers import join


def _kafka_python_batch(codec: int, n: int, *, producer_id: int = -1, seq: int = -1) -> bytes:
    builder = MemoryRecordsBuilder(
        magic=2,
        compression_type=codec,
        batch_size=1 << 20,
        producer_id=producer_id,
        producer_epoch=0 if producer_id >= 0 else -1,
        base_sequence=seq,
    )
    for i in range(n):
        builder.append(NOW + i, b"key-%d" % i, b"value-%d-" % i * 30, headers=[("h", b"x")])
    builder.close()
    return bytes(builder.buffer())


@pytest.mark.parametrize("codec", [0, 1, 2, 3, 4], ids=["none", "gzip", "snappy", "lz4", "zstd"])
def test_kafka_python_batches_round_trip_byte_identical(tmp_path: Path, codec: int) -> None:
    log = open_log(
        tmp_path / "t-0", LogConfig(cleanup_policy="compact" if codec == 3 else "delete")
    )
    sent = []
    for k in range(4):
        raw = _kafka_python_batch(codec, 5 + k, producer_id=7, seq=sum(5 + j for j in range(k)))
        sent.append(raw)
        info = log.append_as_leader(bytearray(raw), leader_epoch=3, now_ms=NOW)
        assert info.num_messages == 5 + k
    stored = read_all(log)
    pos = 0
    offset = 0
    for raw in sent:
        got = stored[pos : pos + len(raw)]
        # Only baseOffset (0..8) and partitionLeaderEpoch (12..16) differ.
        assert got[8:12] == raw[8:12] and got[16:] == raw[16:]
        assert int.from_bytes(got[0:8], "big") == offset
        assert int.from_bytes(got[12:16], "big") == 3
        pos += len(raw)
        offset += int.from_bytes(raw[57:61], "big")
    assert pos == len(stored)
    log.close()


def test_segments_parse_with_kafka_python(tmp_path: Path) -> None:
    pdir = tmp_path / "t-0"
    log = open_log(pdir, LogConfig(segment_bytes=2000, index_interval_bytes=100))
    expected = []
    for i in range(30):
        log.append_as_leader(
            batch(3, value=b"val%d-" % i, compression=i % 5), leader_epoch=1, now_ms=NOW
        )
        expected += [(b"k", b"val%d-%d" % (i, j), NOW + j) for j in range(3)]
    log.flush()
    got = []
    offsets = []
    for path in sorted(pdir.glob("*.log")):
        records = MemoryRecords(path.read_bytes())
        while records.has_next():
            b = records.next_batch()
            assert b.validate_crc()
            for r in b:
                offsets.append(r.offset)
                got.append((r.key, r.value, r.timestamp))
    assert len(list(pdir.glob("*.log"))) > 1
    assert got == expected and offsets == list(range(90))
    # Reads return slices kafka-python parses the same way.
    data = join(log.read(0, max_bytes=10**6).records)
    assert MemoryRecords(data).next_batch().validate_crc()
    log.close()
