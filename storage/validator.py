"""Validation of produced record sets and offset assignment (Kafka's LogValidator, magic v2).

The checks run in Kafka's order and answer with Kafka's error codes:

1. the buffer is whole magic-2 batches (``CORRUPT_MESSAGE`` for a torn or
   impossible batch, ``INVALID_RECORD`` for magic 0/1 or an empty set), exactly one
   batch per partition as produce v3+ requires (``INVALID_RECORD``);
2. per batch (``UnifiedLog.analyzeAndValidateRecords``): base offset 0 from
   clients (``INVALID_RECORD``), size against ``max.message.bytes``
   (``MESSAGE_TOO_LARGE``), CRC-32C (``CORRUPT_MESSAGE``);
3. ``validateBatch``: offset range and record count agree, no control batches
   from clients, idempotent batches carry a sequence (``INVALID_RECORD``);
4. records, only when something needs them (see ``_needs_records``): keys on
   compacted topics (``INVALID_RECORD``), CreateTime bounds
   (``INVALID_TIMESTAMP``), each with per-record ``record_errors``.

Decompressing and walking every record of a 1 MiB compressed batch costs
milliseconds in Python, so the common case avoids it: an uncompressed batch gets a
cheap structural walk (record length prefixes must tile the records section and
match the count), a compressed batch is trusted past its CRC unless the topic is
compacted, ``message.timestamp.before.max.ms`` is finite, or the header's max
timestamp is beyond ``message.timestamp.after.max.ms``. The header's max
timestamp stands for the records' (clients compute it from them). Then base
offset and leader epoch are patched in place and, for LogAppendTime, the max
timestamp and CRC.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from storage.config import LONG_MAX, LogConfig
from storage.errors import StorageError
from wire.errors import ErrorCode
from wire.records import (
    BATCH_HEADER_SIZE,
    COMPRESSION_NONE,
    NO_TIMESTAMP,
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    CorruptRecordError,
    InvalidRecordError,
    LegacyMessageFormatError,
    RecordBatchHeader,
    SimpleRecord,
    build_batch,
    iter_batches,
    iter_records,
    parse_header,
    set_base_offset,
    set_log_append_time,
    set_max_timestamp,
    set_partition_leader_epoch,
    verify_crc,
)


@dataclass
class ValidationResult:
    """What validation and offset assignment produced for one record set."""

    batches: list[tuple[int, RecordBatchHeader]]
    first_offset: int
    last_offset: int
    max_timestamp: int
    offset_of_max_timestamp: int
    log_append_time: int
    num_messages: int


def writable(records: memoryview | bytes | bytearray) -> memoryview:
    """A writable byte view of ``records`` (copies only a read-only buffer)."""
    view = records if isinstance(records, memoryview) else memoryview(records)
    if view.readonly:
        view = memoryview(bytearray(view))
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view


def split_batches(
    view: memoryview, *, max_batch_size: int | None = None
) -> list[tuple[int, RecordBatchHeader]]:
    """Every batch in ``view``, which must hold whole magic-2 batches only."""
    batches: list[tuple[int, RecordBatchHeader]] = []
    end = 0
    try:
        for pos, header in iter_batches(view, max_batch_size):
            batches.append((pos, header))
            end = pos + header.size
    except LegacyMessageFormatError as e:
        raise StorageError(ErrorCode.INVALID_RECORD, str(e)) from None
    except CorruptRecordError as e:
        raise StorageError(ErrorCode.CORRUPT_MESSAGE, str(e)) from None
    if end != view.nbytes:
        raise StorageError(
            ErrorCode.CORRUPT_MESSAGE,
            f"record set ends with {view.nbytes - end} bytes that are not a whole record batch",
        )
    return batches


def _read_uvarint(data: memoryview, pos: int, end: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= end or shift > 28:
            raise InvalidRecordError("Found invalid record structure")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7


def walk_uncompressed(view: memoryview, pos: int, header: RecordBatchHeader) -> None:
    """Check that the record length prefixes of an uncompressed batch tile it exactly.

    This runs on every uncompressed produce, so it is written for speed: lengths
    are zigzag varints, and a positive length is an even, non-zero raw value, so
    one- and two-byte prefixes (records under 8 KiB) are checked inline. ``p`` only
    grows, so overshooting the batch shows in the final position check.
    """
    p = pos + BATCH_HEADER_SIZE
    end = pos + header.size
    data = view
    try:
        for _ in range(header.records_count):
            b = data[p]
            if b < 0x80:
                if b & 1 or not b:
                    raise InvalidRecordError("Found invalid record structure")
                p += 1 + (b >> 1)
                continue
            b2 = data[p + 1]
            if b2 < 0x80:
                raw = (b & 0x7F) | (b2 << 7)
                if raw & 1 or not raw:
                    raise InvalidRecordError("Found invalid record structure")
                p += 2 + (raw >> 1)
                continue
            length, p = _read_uvarint(data, p, end)
            if length <= 0:
                raise InvalidRecordError("Found invalid record structure")
            p += length
            if p > end:
                break
    except IndexError:
        raise InvalidRecordError("Found invalid record structure") from None
    if p != end:
        raise InvalidRecordError("Incorrect declared batch size, records still remaining in file")


# ``compression.type`` values that make the broker rewrite batches ("producer" keeps
# whatever the producer used).
TARGET_CODECS = {"uncompressed": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def _recompress(
    view: memoryview, pos: int, header: RecordBatchHeader, codec: int, config: LogConfig
) -> memoryview:
    """Rebuild the batch with the topic's codec, as Kafka does when ``compression.type``
    names one: the only case where stored bytes differ from the produced ones."""
    try:
        records = [
            SimpleRecord(r.key, r.value, r.headers, r.timestamp)
            for r in iter_records(view, pos, header)
        ]
    except InvalidRecordError as e:
        raise StorageError(ErrorCode.INVALID_RECORD, str(e)) from None
    rebuilt = build_batch(
        records,
        compression=codec,
        producer_id=header.producer_id,
        producer_epoch=header.producer_epoch,
        base_sequence=header.base_sequence,
        is_transactional=header.is_transactional,
    )
    if len(rebuilt) > config.max_message_bytes:
        raise StorageError(
            ErrorCode.MESSAGE_TOO_LARGE,
            f"Message batch size is {len(rebuilt)} bytes after recompression, which exceeds the "
            f"maximum configured size of {config.max_message_bytes}.",
        )
    return memoryview(bytearray(rebuilt))


def _needs_records(header: RecordBatchHeader, config: LogConfig, now_ms: int) -> bool:
    if config.compact:
        return True
    if config.log_append_time:
        return False
    if config.message_timestamp_before_max_ms < LONG_MAX:
        return True
    after = config.message_timestamp_after_max_ms
    return (
        after < LONG_MAX
        and header.max_timestamp != NO_TIMESTAMP
        and header.max_timestamp - now_ms > after
    )


def _validate_records(
    view: memoryview, pos: int, header: RecordBatchHeader, config: LogConfig, now_ms: int
) -> int:
    """Iterate the records; raise with per-record errors; return their max timestamp."""
    errors: list[tuple[int, str]] = []
    timestamp_error = False
    max_ts = NO_TIMESTAMP
    before = config.message_timestamp_before_max_ms
    after = config.message_timestamp_after_max_ms
    create_time = not config.log_append_time
    try:
        for index, record in enumerate(iter_records(view, pos, header)):
            if record.timestamp > max_ts:
                max_ts = record.timestamp
            if config.compact and record.key is None:
                errors.append((index, "Compacted topic cannot accept message without key"))
                continue
            if create_time and record.timestamp != NO_TIMESTAMP:
                diff = now_ms - record.timestamp
                if diff > before or -diff > after:
                    timestamp_error = True
                    errors.append(
                        (
                            index,
                            f"Timestamp {record.timestamp} of message with offset {record.offset} is out "
                            f"of range. The timestamp should be within [{now_ms - before}, {now_ms + after}]",
                        )
                    )
            elif header.timestamp_type == TIMESTAMP_LOG_APPEND_TIME:
                timestamp_error = True
                errors.append(
                    (
                        index,
                        "Invalid timestamp type in message. Producer should not set timestamp type to LogAppendTime.",
                    )
                )
    except InvalidRecordError as e:
        raise StorageError(ErrorCode.INVALID_RECORD, str(e)) from None
    except CorruptRecordError as e:
        raise StorageError(ErrorCode.CORRUPT_MESSAGE, str(e)) from None
    if errors:
        if timestamp_error:
            raise StorageError(
                ErrorCode.INVALID_TIMESTAMP,
                "One or more records have been rejected due to invalid timestamp",
                errors,
            )
        raise StorageError(
            ErrorCode.INVALID_RECORD,
            f"One or more records have been rejected due to {len(errors)} record errors in total, "
            f"and only showing the first three errors at most: {errors[:3]}",
            errors,
        )
    return max_ts


def validate_and_assign_offsets(
    records: memoryview | bytes | bytearray,
    *,
    config: LogConfig,
    next_offset: int,
    leader_epoch: int,
    now_ms: int,
    origin: str,
    check_producer: Callable[[RecordBatchHeader], None] | None = None,
) -> tuple[memoryview, ValidationResult]:
    """Validate a produced record set and give it offsets from ``next_offset``.

    Returns the buffer now patched (a copy if ``records`` was read-only, a rebuilt
    batch if the topic's ``compression.type`` names another codec) and the result.
    ``check_producer`` runs on each batch after validation and before offsets are
    assigned (producer-state checks; it may raise ``DuplicateBatchError``).
    """
    view = writable(records)
    if view.nbytes == 0:
        raise StorageError(
            ErrorCode.INVALID_RECORD,
            "Produce requests must have at least one record batch per partition",
        )
    batches = split_batches(view)
    if len(batches) != 1:
        raise StorageError(
            ErrorCode.INVALID_RECORD,
            "Produce requests are only allowed to contain exactly one record batch per partition",
        )
    client = origin == "client"
    offset = next_offset
    out: list[tuple[int, RecordBatchHeader]] = []
    max_timestamp = NO_TIMESTAMP
    offset_of_max = -1
    num_messages = 0
    for pos, header in batches:
        if client and header.base_offset != 0:
            raise StorageError(
                ErrorCode.INVALID_RECORD,
                f"The baseOffset of the record batch in the append should be 0, but it is {header.base_offset}",
            )
        if header.size > config.max_message_bytes:
            raise StorageError(
                ErrorCode.MESSAGE_TOO_LARGE,
                f"The record batch size in the append is {header.size} bytes which exceeds the maximum "
                f"configured value of {config.max_message_bytes}.",
            )
        if not verify_crc(view, pos, header):
            raise StorageError(
                ErrorCode.CORRUPT_MESSAGE, f"Record is corrupt (stored crc = {header.crc})"
            )
        if client:
            if header.last_offset_delta < 0:
                raise StorageError(
                    ErrorCode.INVALID_RECORD,
                    f"Batch has an invalid offset range: [{header.base_offset}, {header.last_offset}]",
                )
            if header.records_count <= 0:
                raise StorageError(
                    ErrorCode.INVALID_RECORD,
                    f"Invalid reported count for record batch: {header.records_count}",
                )
            if header.last_offset_delta + 1 != header.records_count:
                raise StorageError(
                    ErrorCode.INVALID_RECORD,
                    f"Inconsistent batch offset range [{header.base_offset}, {header.last_offset}] and count "
                    f"of records {header.records_count}",
                )
            if header.is_control:
                raise StorageError(
                    ErrorCode.INVALID_RECORD, "Clients are not allowed to write control records"
                )
            if header.producer_id >= 0 and header.base_sequence < 0:
                raise StorageError(
                    ErrorCode.INVALID_RECORD,
                    f"Invalid sequence number {header.base_sequence} in record batch with producerId {header.producer_id}",
                )
        computed_max: int | None = None
        if _needs_records(header, config, now_ms):
            computed_max = _validate_records(view, pos, header, config, now_ms)
        else:
            if header.compression == COMPRESSION_NONE:
                try:
                    walk_uncompressed(view, pos, header)
                except InvalidRecordError as e:
                    raise StorageError(ErrorCode.INVALID_RECORD, str(e)) from None
            # Kafka rejects a producer-set LogAppendTime when the record timestamp is
            # not checked against CreateTime bounds (every record of the batch).
            if header.timestamp_type == TIMESTAMP_LOG_APPEND_TIME and (
                config.log_append_time or header.max_timestamp == NO_TIMESTAMP
            ):
                raise StorageError(
                    ErrorCode.INVALID_TIMESTAMP,
                    "One or more records have been rejected due to invalid timestamp",
                    [
                        (
                            i,
                            "Invalid timestamp type in message. Producer should not set timestamp type to LogAppendTime.",
                        )
                        for i in range(max(header.records_count, 1))
                    ],
                )
        if check_producer is not None:
            check_producer(header)

        target = TARGET_CODECS.get(config.compression_type)
        if target is not None and target != header.compression and not header.is_control:
            view = _recompress(view, pos, header, target, config)
            pos = 0
            header = parse_header(view)
            computed_max = None

        set_base_offset(view, pos, offset)
        set_partition_leader_epoch(view, pos, leader_epoch)
        if config.log_append_time:
            set_log_append_time(view, pos, now_ms)
        elif computed_max is not None and (
            computed_max != header.max_timestamp or header.timestamp_type != TIMESTAMP_CREATE_TIME
        ):
            set_max_timestamp(view, pos, TIMESTAMP_CREATE_TIME, computed_max)
        patched = parse_header(view, pos)
        out.append((pos, patched))
        if patched.max_timestamp > max_timestamp:
            max_timestamp = patched.max_timestamp
            offset_of_max = patched.last_offset
        num_messages += patched.records_count
        offset = patched.next_offset
    last_offset = offset - 1
    if config.log_append_time:
        max_timestamp = now_ms
        offset_of_max = last_offset
    return view, ValidationResult(
        batches=out,
        first_offset=next_offset,
        last_offset=last_offset,
        max_timestamp=max_timestamp,
        offset_of_max_timestamp=offset_of_max,
        log_append_time=now_ms if config.log_append_time else -1,
        num_messages=num_messages,
    )
