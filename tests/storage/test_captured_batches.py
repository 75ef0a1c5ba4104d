"""Batches produced by real clients (kafka-python, librdkafka, aiokafka; every codec)
append through the Log and read back byte-identical but for the two patched fields.

The frames were captured once from the stock clients (tests/fixtures/frames); each
produce request carries one batch per partition.
"""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest

from storage.config import LogConfig
from tests.storage._util import open_log, read_all, scan_dir
from wire.framing import FrameReader
from wire.protocol import decode_request
from wire.records import iter_batches, iter_records, parse_header, verify_crc

FRAMES = Path(__file__).resolve().parent.parent / "fixtures" / "frames"
PRODUCE_FILES = sorted(
    p for p in FRAMES.glob("*/produce_*.bin") if not p.name.endswith("_response.bin")
)


def _captured_batches(path: Path) -> dict[tuple[str, int], list[bytes]]:
    """The batches of each partition of the captured request (sequences are per partition)."""
    reader = FrameReader()
    reader.feed(path.read_bytes())
    frame = reader.next_frame()
    assert frame is not None
    _, request = decode_request(frame)
    out: dict[tuple[str, int], list[bytes]] = {}
    for topic in request.topic_data:
        for partition in topic.partition_data:
            records = bytes(partition.records)
            out.setdefault((topic.name, partition.index), []).extend(
                records[pos : pos + h.size] for pos, h in iter_batches(records)
            )
    return out


def test_every_client_and_codec_is_covered() -> None:
    names = {(p.parent.name, p.stem.rsplit("_", 1)[1]) for p in PRODUCE_FILES}
    for client in ("kafka-python", "confluent-kafka"):
        for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
            assert (client, codec) in names


@pytest.mark.parametrize("path", PRODUCE_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_captured_batches_append_and_read_back(tmp_path: Path, path: Path) -> None:
    per_partition = _captured_batches(path)
    assert per_partition
    for (topic, partition), batches in per_partition.items():
        _append_and_read_back(tmp_path / f"{topic}-{partition}", batches)


def _append_and_read_back(log_dir: Path, batches: list[bytes]) -> None:
    # The capture is old: its timestamps must not trip message.timestamp.*.max.ms.
    log = open_log(log_dir, LogConfig(), now_ms=int(time.time() * 1000))
    expected = bytearray()
    next_offset = 0
    leader_epoch = 3
    for original in batches:
        header = parse_header(original)
        info = log.append_as_leader(bytearray(original), leader_epoch=leader_epoch,
                                    now_ms=int(time.time() * 1000))
        assert info.first_offset == next_offset
        assert info.last_offset == next_offset + header.last_offset_delta
        patched = bytearray(original)
        struct.pack_into(">q", patched, 0, next_offset)
        struct.pack_into(">i", patched, 12, leader_epoch)
        expected += patched
        next_offset += header.last_offset_delta + 1
    assert log.log_end_offset == next_offset
    stored = read_all(log, 0)
    assert stored == bytes(expected)
    # What was stored still verifies and decodes record for record.
    for pos, h in iter_batches(stored):
        assert verify_crc(stored, pos, h)
        assert len(list(iter_records(stored, pos, h))) == h.records_count
    log.close()
    assert scan_dir(log_dir)[0][0] == 0
