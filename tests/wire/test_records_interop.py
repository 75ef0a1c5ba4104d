"""Record batches agree with an independent implementation: kafka-python's record module."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords, MemoryRecordsBuilder

from wire.records import (
    ControlRecord,
    SimpleRecord,
    build_batch,
    build_control_batch,
    iter_batches,
    iter_records,
    parse_header,
    set_base_offset,
    verify_crc,
)

CODECS = [0, 1, 2, 3, 4]


def _kp_batch(
    codec: int, n: int, *, transactional: bool = False, pid: int = -1
) -> tuple[bytes, list]:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=codec,
        is_transactional=transactional,
        producer_id=pid,
        producer_epoch=0 if pid >= 0 else -1,
        base_sequence=0 if pid >= 0 else -1,
        batch_size=1 << 22,
    )
    expected = []
    for i in range(n):
        key = None if i % 3 == 0 else b"key-%d" % i
        value = None if i % 7 == 6 else (b"value %d " % i) * (i % 50)
        headers = [("trace", b"%d" % i), ("empty", None)] if i % 2 else []
        ts = 1_700_000_000_000 + i * 13
        builder.append(i, timestamp=ts, key=key, value=value, headers=headers)
        expected.append((i, ts, key, value, headers))
    return bytes(builder.build()), expected


@pytest.mark.parametrize("codec", CODECS)
def test_kafka_python_batches_parse_and_verify(codec: int) -> None:
    data, expected = _kp_batch(codec, 120, transactional=True, pid=5)
    ((pos, h),) = list(iter_batches(data))
    assert h.compression == codec
    assert h.size == len(data)
    assert h.records_count == 120 and h.last_offset_delta == 119
    assert h.is_transactional and h.producer_id == 5
    assert verify_crc(data, pos, h)
    got = [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in iter_records(data, pos, h)]
    assert got == expected


@pytest.mark.parametrize("codec", CODECS)
def test_memory_records_builder_sets_parse(codec: int) -> None:
    builder = MemoryRecordsBuilder(magic=2, compression_type=codec, batch_size=1 << 20, offset=500)
    for i in range(30):
        builder.append(timestamp=10 + i, key=b"k", value=b"v%d" % i, headers=[])
    builder.close()
    data = bytes(builder.buffer())
    batches = list(iter_batches(data))
    assert len(batches) == 1
    pos, h = batches[0]
    # kafka-python keeps base_offset 0 and puts the start offset in the deltas.
    assert h.last_offset == 529 and verify_crc(data, pos, h)
    assert [r.value for r in iter_records(data, pos, h)] == [b"v%d" % i for i in range(30)]
    assert [r.offset for r in iter_records(data, pos, h)] == list(range(500, 530))


@pytest.mark.parametrize("codec", CODECS)
def test_our_batches_read_by_kafka_python(codec: int) -> None:
    recs = [
        SimpleRecord(
            None if i % 4 == 0 else b"k%d" % i, b"x" * (i * 17), [("h", b"%d" % i)], 1_000 + i
        )
        for i in range(60)
    ]
    data = build_batch(
        recs, base_offset=42, compression=codec, producer_id=9, producer_epoch=1, base_sequence=3
    )
    mr = MemoryRecords(data)
    batch = mr.next_batch()
    assert batch is not None and mr.next_batch() is None
    assert batch.validate_crc()
    assert batch.compression_type == codec
    assert (batch.base_offset, batch.producer_id, batch.producer_epoch, batch.base_sequence) == (
        42,
        9,
        1,
        3,
    )
    out = list(batch)
    assert [(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in out] == [
        (42 + i, r.timestamp, r.key, r.value, list(r.headers)) for i, r in enumerate(recs)
    ]


def test_patched_batch_still_valid_for_kafka_python() -> None:
    data, _ = _kp_batch(1, 10)
    buf = bytearray(data)
    set_base_offset(buf, 0, 9_000)
    batch = MemoryRecords(bytes(buf)).next_batch()
    assert batch.validate_crc()
    assert [r.offset for r in batch] == list(range(9_000, 9_010))


def test_control_batch_read_by_kafka_python() -> None:
    data = build_control_batch(True, 77, 4, 12, 123_456, base_offset=3)
    batch = MemoryRecords(data).next_batch()
    assert batch.validate_crc()
    assert batch.is_control_batch and batch.is_transactional
    (rec,) = list(batch)
    assert rec.offset == 3
    h = parse_header(data)
    (ours,) = iter_records(data, 0, h)
    assert ControlRecord.from_record(ours).coordinator_epoch == 12


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.binary(max_size=200), min_size=1, max_size=15),
    codec=st.sampled_from(CODECS),
)
def test_property_both_directions(values: list[bytes], codec: int) -> None:
    ours = build_batch([SimpleRecord(None, v, (), 7) for v in values], compression=codec)
    assert [r.value for r in MemoryRecords(ours).next_batch()] == values
    builder = DefaultRecordBatchBuilder(2, codec, 0, -1, -1, -1, 1 << 22)
    for i, v in enumerate(values):
        builder.append(i, timestamp=7, key=None, value=v, headers=[])
    theirs = bytes(builder.build())
    h = parse_header(theirs)
    assert verify_crc(theirs, 0, h)
    assert [r.value for r in iter_records(theirs, 0, h)] == values
