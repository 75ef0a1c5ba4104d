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
timestamp stands for the records' (clients compute it from them) unless it
disagrees with the first timestamp (a first timestamp below zero, or a max below
it): then the records are read and their max is stored, as Kafka always does. Then base
offset and leader epoch are patched in place and, for LogAppendTime, the max
timestamp and CRC.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from crc32c import crc32c as _crc32c

from storage.config import LONG_MAX, LogConfig
from storage.errors import StorageError
from wire.errors import ErrorCode
from wire.records import (
    ATTRIBUTES_OFFSET,
    BATCH_HEADER_SIZE,
    LOG_OVERHEAD,
    MAGIC_OFFSET,
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
)

# The v2 batch header (Kafka's DefaultRecordBatch layout), read in one call.
_BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")
_MIN_BATCH_LENGTH = BATCH_HEADER_SIZE - LOG_OVERHEAD
_COMPRESSION_BITS = 0x07
_LOG_APPEND_TIME_FLAG = 0x08
_CONTROL_FLAG = 0x20


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


def _bad_structure() -> InvalidRecordError:
    return InvalidRecordError("Found invalid record structure")


def _long_prefix(data: memoryview, p: int, end: int) -> tuple[int, int]:
    """Raw (still zigzag) value and byte count of a length varint of 3 to 5 bytes."""
    raw = (data[p] & 0x7F) | ((data[p + 1] & 0x7F) << 7)
    k = 2
    shift = 14
    while True:
        if p + k >= end or shift > 28:
            raise _bad_structure()
        b = data[p + k]
        k += 1
        raw |= (b & 0x7F) << shift
        if b < 0x80:
            return raw, k
        shift += 7


# A run of equal-length records is looked for once this many records in a row had
# the same length, so batches of mixed sizes keep the plain per-record step.
_RUN_AFTER = 3
_FIRST_WINDOW = 64
# Up to this record size a window is copied out whole and sliced as bytes; above
# it, comparing strided views of the batch (no copy) is cheaper (measured).
_COPY_STRIDE = 64


def walk_uncompressed(view: memoryview, pos: int, header: RecordBatchHeader) -> None:
    """Check that the record length prefixes of an uncompressed batch tile it exactly.

    Runs on every uncompressed produce, so per-record Python work is avoided where
    it can be: producers batch records of equal size, and equal-size records carry
    identical length prefixes at a fixed stride. Once a few records in a row had
    the same length, the walk compares the prefix bytes of the following records,
    one strided memoryview slice per prefix byte, with the expected bytes at C
    speed, in windows that grow fourfold while they keep matching. In the window
    where a record of another size ends the run, matching records are counted
    (``lstrip``) and the odd one is decoded on its own. Lengths are zigzag
    varints: a positive length is an even, non-zero raw value. ``p`` only grows,
    so any record overshooting the batch shows in the final position check.
    """
    p = pos + BATCH_HEADER_SIZE
    end = pos + header.size
    remaining = header.records_count
    data = view
    prev_stride = -1
    streak = 0
    try:
        while remaining > 0:
            b = data[p]
            if b < 0x80:
                raw = b
                k = 1
            else:
                b2 = data[p + 1]
                if b2 < 0x80:
                    raw = (b & 0x7F) | (b2 << 7)
                    k = 2
                else:
                    raw, k = _long_prefix(data, p, end)
            if raw & 1 or not raw:
                raise _bad_structure()
            stride = k + (raw >> 1)
            p += stride
            remaining -= 1
            if stride != prev_stride:
                prev_stride = stride
                streak = 0
                continue
            streak += 1
            if streak < _RUN_AFTER or remaining < 2:
                continue
            streak = 0
            # The prefix the run repeats, one byte string per prefix byte.
            prefix = [data[p - stride + i : p - stride + i + 1].tobytes() for i in range(k)]
            window = _FIRST_WINDOW
            while remaining:
                n = (end - p) // stride
                if n > remaining:
                    n = remaining
                if n > window:
                    n = window
                if n <= 0:
                    break
                stop = p + n * stride
                matched = n
                if stride <= _COPY_STRIDE:
                    # Tiny records: one contiguous copy, then strided slices of bytes.
                    chunk = data[p:stop].tobytes()
                    for i in range(k):
                        same = n - len(chunk[i::stride].lstrip(prefix[i]))
                        if same < matched:
                            matched = same
                else:
                    for i in range(k):
                        column = data[p + i : stop : stride]
                        # Comparing the strided view itself copies nothing.
                        if column != prefix[i] * n:
                            same = n - len(column.tobytes().lstrip(prefix[i]))
                            if same < matched:
                                matched = same
                p += matched * stride
                remaining -= matched
                if matched < n:
                    break
                window *= 4
    except IndexError:
        raise _bad_structure() from None
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


class _Policy:
    """What a topic's config asks of each produced batch, derived once per config.

    ``LogConfig`` exposes ``compact`` and ``log_append_time`` as properties that
    parse strings; the produce path asks for them on every batch.
    """

    __slots__ = (
        "compact",
        "log_append_time",
        "before_max_ms",
        "after_max_ms",
        "max_message_bytes",
        "target_codec",
        "always_records",
    )

    def __init__(self, config: LogConfig) -> None:
        self.compact = config.compact
        self.log_append_time = config.log_append_time
        self.before_max_ms = config.message_timestamp_before_max_ms
        self.after_max_ms = config.message_timestamp_after_max_ms
        self.max_message_bytes = config.max_message_bytes
        self.target_codec = TARGET_CODECS.get(config.compression_type)
        # Compacted topics need every key; a finite lower timestamp bound needs every
        # record's timestamp (LogAppendTime topics ignore the bounds).
        self.always_records = self.compact or (
            not self.log_append_time and self.before_max_ms < LONG_MAX
        )


# Keyed by id(); the config is kept alongside so a reused id cannot match a new object.
_policies: dict[int, tuple[LogConfig, _Policy]] = {}


def _policy(config: LogConfig) -> _Policy:
    entry = _policies.get(id(config))
    if entry is not None and entry[0] is config:
        return entry[1]
    if len(_policies) > 4096:
        _policies.clear()
    policy = _Policy(config)
    _policies[id(config)] = (config, policy)
    return policy


def _needs_records(header: RecordBatchHeader, config: LogConfig, now_ms: int) -> bool:
    policy = _policy(config)
    if policy.always_records:
        return True
    if policy.log_append_time:
        return False
    # The header's max timestamp stands for the records' only when it agrees with the
    # first timestamp. librdkafka sends MaxTimestamp 0 over records without timestamps
    # (first timestamp -1); Kafka stores the records' max (-1), so retention goes by the
    # segment file's time, where trusting the header would date the data to 1970.
    if header.base_timestamp < 0 or header.max_timestamp < header.base_timestamp:
        return True
    after = policy.after_max_ms
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


def _single_batch(view: memoryview) -> RecordBatchHeader | None:
    """The header when ``view`` is exactly one well-formed magic-2 batch, else None
    (``split_batches`` then finds the error with Kafka's code and wording)."""
    if view.nbytes < BATCH_HEADER_SIZE or view[MAGIC_OFFSET] != 2:
        return None
    fields = _BATCH_HEADER.unpack_from(view)
    length = fields[1]
    if length + LOG_OVERHEAD != view.nbytes or length < _MIN_BATCH_LENGTH:
        return None
    return RecordBatchHeader(*fields)


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
    ``check_producer`` runs on the batch after validation and before offsets are
    assigned (producer-state checks; it may raise ``DuplicateBatchError``).
    """
    view = writable(records)
    header = _single_batch(view)
    if header is None:
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
        header = batches[0][1]
    policy = _policy(config)
    client = origin == "client"
    size = header.batch_length + LOG_OVERHEAD
    attributes = header.attributes
    if client and header.base_offset != 0:
        raise StorageError(
            ErrorCode.INVALID_RECORD,
            f"The baseOffset of the record batch in the append should be 0, but it is {header.base_offset}",
        )
    if size > policy.max_message_bytes:
        raise StorageError(
            ErrorCode.MESSAGE_TOO_LARGE,
            f"The record batch size in the append is {size} bytes which exceeds the maximum "
            f"configured value of {policy.max_message_bytes}.",
        )
    if _crc32c(view[ATTRIBUTES_OFFSET:size]) != header.crc:
        raise StorageError(
            ErrorCode.CORRUPT_MESSAGE, f"Record is corrupt (stored crc = {header.crc})"
        )
    last_offset_delta = header.last_offset_delta
    records_count = header.records_count
    if client:
        if last_offset_delta < 0:
            raise StorageError(
                ErrorCode.INVALID_RECORD,
                f"Batch has an invalid offset range: [{header.base_offset}, {header.last_offset}]",
            )
        if records_count <= 0:
            raise StorageError(
                ErrorCode.INVALID_RECORD,
                f"Invalid reported count for record batch: {records_count}",
            )
        if last_offset_delta + 1 != records_count:
            raise StorageError(
                ErrorCode.INVALID_RECORD,
                f"Inconsistent batch offset range [{header.base_offset}, {header.last_offset}] and count "
                f"of records {records_count}",
            )
        if attributes & _CONTROL_FLAG:
            raise StorageError(
                ErrorCode.INVALID_RECORD, "Clients are not allowed to write control records"
            )
        if header.producer_id >= 0 and header.base_sequence < 0:
            raise StorageError(
                ErrorCode.INVALID_RECORD,
                f"Invalid sequence number {header.base_sequence} in record batch with producerId {header.producer_id}",
            )
    log_append_time = policy.log_append_time
    computed_max: int | None = None
    if _needs_records(header, config, now_ms):
        computed_max = _validate_records(view, 0, header, config, now_ms)
    else:
        if not attributes & _COMPRESSION_BITS:
            try:
                walk_uncompressed(view, 0, header)
            except InvalidRecordError as e:
                raise StorageError(ErrorCode.INVALID_RECORD, str(e)) from None
        # Kafka rejects a producer-set LogAppendTime when the record timestamp is
        # not checked against CreateTime bounds (every record of the batch).
        if attributes & _LOG_APPEND_TIME_FLAG and (
            log_append_time or header.max_timestamp == NO_TIMESTAMP
        ):
            raise StorageError(
                ErrorCode.INVALID_TIMESTAMP,
                "One or more records have been rejected due to invalid timestamp",
                [
                    (
                        i,
                        "Invalid timestamp type in message. Producer should not set timestamp type to LogAppendTime.",
                    )
                    for i in range(max(records_count, 1))
                ],
            )
    if check_producer is not None:
        check_producer(header)

    target = policy.target_codec
    if (
        target is not None
        and target != attributes & _COMPRESSION_BITS
        and not attributes & _CONTROL_FLAG
    ):
        view = _recompress(view, 0, header, target, config)
        header = parse_header(view)
        computed_max = None

    set_base_offset(view, 0, next_offset)
    set_partition_leader_epoch(view, 0, leader_epoch)
    if log_append_time:
        set_log_append_time(view, 0, now_ms)
        patched = parse_header(view)
    elif computed_max is not None and (
        computed_max != header.max_timestamp or header.timestamp_type != TIMESTAMP_CREATE_TIME
    ):
        set_max_timestamp(view, 0, TIMESTAMP_CREATE_TIME, computed_max)
        patched = parse_header(view)
    else:
        # Only the two fields outside the CRC changed: no need to parse the header again.
        patched = RecordBatchHeader(
            next_offset,
            header.batch_length,
            leader_epoch,
            header.magic,
            header.crc,
            header.attributes,
            header.last_offset_delta,
            header.base_timestamp,
            header.max_timestamp,
            header.producer_id,
            header.producer_epoch,
            header.base_sequence,
            header.records_count,
        )
    last_offset = next_offset + patched.last_offset_delta
    if log_append_time:
        max_timestamp = now_ms
        offset_of_max = last_offset
    elif patched.max_timestamp > NO_TIMESTAMP:
        max_timestamp = patched.max_timestamp
        offset_of_max = last_offset
    else:
        max_timestamp = NO_TIMESTAMP
        offset_of_max = -1
    return view, ValidationResult(
        batches=[(0, patched)],
        first_offset=next_offset,
        last_offset=last_offset,
        max_timestamp=max_timestamp,
        offset_of_max_timestamp=offset_of_max,
        log_append_time=now_ms if log_append_time else -1,
        num_messages=patched.records_count,
    )
