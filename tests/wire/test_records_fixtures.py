"""Record batches captured from real clients (golden Produce frames) parse and verify.

The frames in tests/fixtures/frames/<client>/produce_*.bin were captured once from
kafka-python, confluent-kafka (librdkafka) and aiokafka producing with each codec;
each file is one request frame including its 4-byte size.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wire.framing import FrameReader
from wire.protocol import decode_request
from wire.records import iter_batches, iter_records, verify_crc

FRAMES = Path(__file__).resolve().parent.parent / "fixtures" / "frames"
CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
PRODUCE_FILES = sorted(
    p for p in FRAMES.glob("*/produce_*.bin") if not p.name.endswith("_response.bin")
)


def test_fixtures_present_for_every_codec_of_librdkafka() -> None:
    confluent = {
        p.stem.rsplit("_", 1)[1] for p in PRODUCE_FILES if p.parent.name == "confluent-kafka"
    }
    assert confluent == set(CODEC_IDS)


@pytest.mark.parametrize("path", PRODUCE_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_captured_produce_batches(path: Path) -> None:
    reader = FrameReader()
    reader.feed(path.read_bytes())
    frame = reader.next_frame()
    assert frame is not None and reader.buffered == 0
    _, request = decode_request(frame)
    codec = CODEC_IDS[path.stem.rsplit("_", 1)[1]]
    batches = 0
    for topic in request.topic_data:
        for partition in topic.partition_data:
            records = partition.records
            assert isinstance(records, memoryview)
            found = list(iter_batches(records))
            assert found, (topic.name, partition.index)
            end = 0
            for pos, header in found:
                batches += 1
                assert pos == end
                end = pos + header.size
                assert header.magic == 2 and header.compression == codec
                assert verify_crc(records, pos, header)
                recs = list(iter_records(records, pos, header))
                assert len(recs) == header.records_count
                assert [r.offset_delta for r in recs] == list(range(header.records_count))
                assert header.max_timestamp == max(r.timestamp for r in recs)
                for r in recs:
                    # The capture scripts sent key b"k<n>" with a value made of "value-<n>".
                    n = r.key[1:].decode()
                    assert r.key == b"k" + n.encode()
                    assert r.value.startswith(b"value-" + n.encode()) or r.value.strip(b"v") == b""
                    assert r.headers in ([], [("h", b"v")])
            assert end == records.nbytes
    assert batches >= 1
