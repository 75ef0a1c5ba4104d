"""``bench/_floor.py``, the floor servers ``make bench`` measures beside kpybroker.

``make bench`` is not part of the suite, so the server it relies on is checked here:
a stock producer's messages are acknowledged and stored in order with offsets from
0, and a batch whose CRC does not match is refused with CORRUPT_MESSAGE.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer

from tests.support.raw_client import RawClient
from wire.messages.metadata import MetadataRequest
from wire.messages.produce import ProduceRequest
from wire.records import SimpleRecord, build_batch, iter_batches, iter_records

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def floor(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    data = tmp_path / "floor-data"
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "_floor.py"), "--dir", str(data)],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().split()
        assert line and line[0] == "FLOOR", line
        yield line[1], data
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # it serves until stdin closes
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_stock_producer_is_acknowledged_and_its_batches_stored_in_order(floor: tuple[str, Path]) -> None:
    bootstrap, data = floor
    failed: list[str] = []
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.num.messages": 50,
                         "on_delivery": lambda err, msg: failed.append(str(err)) if err else None})
    for i in range(200):
        producer.produce("floor-t", value=b"v%d" % i, partition=1)
    assert producer.flush(20) == 0
    assert failed == []
    stored = memoryview((data / "floor-t-1.log").read_bytes())
    values = []
    next_offset = 0
    for pos, header in iter_batches(stored):
        assert header.base_offset == next_offset
        next_offset += header.records_count
        values += [bytes(r.value) for r in iter_records(stored, pos, header)]
    assert values == [b"v%d" % i for i in range(200)]


def test_a_batch_with_a_wrong_crc_is_refused_and_not_stored(floor: tuple[str, Path]) -> None:
    bootstrap, data = floor
    client = RawClient(bootstrap)
    try:
        client.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name="floor-c")]), 9)
        good = bytearray(build_batch([SimpleRecord(None, b"x", [], 0)]))
        bad = bytearray(good)
        struct.pack_into(">I", bad, 17, (struct.unpack_from(">I", bad, 17)[0] + 1) & 0xFFFFFFFF)
        answers = []
        for records in (bad, good):
            body = ProduceRequest(acks=1, timeout_ms=1000, topic_data=[ProduceRequest.TopicProduceData(
                name="floor-c", partition_data=[ProduceRequest.PartitionProduceData(index=0, records=bytes(records))])])
            part = client.request(body, 9).responses[0].partition_responses[0]
            answers.append((part.error_code, part.base_offset))
    finally:
        client.close()
    assert answers == [(2, -1), (0, 0)]  # CORRUPT_MESSAGE, then offset 0 for the good one
    assert (data / "floor-c-0.log").stat().st_size == len(good)
