"""Kafka's magic v2 record batch: header, CRC-32C, records, control records, building.

Theory of operation
-------------------
A produce request carries a *record set*: whole record batches back to back. The
broker looks at each batch header (61 bytes, fixed layout), checks the CRC-32C that
covers everything from ``attributes`` to the end of the batch, rewrites
``baseOffset`` and ``partitionLeaderEpoch`` in place (both sit before the CRC'd
range, so the CRC stays valid) and appends the bytes verbatim. Records are decoded
only when something needs them: validation of compressed batches, compaction,
coordinators loading their state, and tests.

Header layout (big-endian)::

    0  baseOffset            int64
    8  batchLength           int32   bytes after this field
    12 partitionLeaderEpoch  int32
    16 magic                 int8    (2)
    17 crc                   uint32  CRC-32C of bytes 21 .. end
    21 attributes            int16
    23 lastOffsetDelta       int32
    27 baseTimestamp         int64
    35 maxTimestamp          int64
    43 producerId            int64
    51 producerEpoch         int16
    53 baseSequence          int32
    57 recordsCount          int32
    61 records ...

Errors: ``CorruptRecordError`` where Kafka throws ``CorruptRecordException``
(answered with ``CORRUPT_MESSAGE``), ``InvalidRecordError`` where Kafka throws
``InvalidRecordException`` (``INVALID_RECORD``). ``LegacyMessageFormatError`` marks a
magic 0/1 message set, which Kafka 4 no longer accepts.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence

import crc32c as _crc32c

from wire import compression as _compression

BATCH_HEADER_SIZE = 61
LOG_OVERHEAD = 12  # baseOffset + batchLength
MAGIC_OFFSET = 16
CRC_OFFSET = 17
ATTRIBUTES_OFFSET = 21
HEADER_SIZE_UP_TO_MAGIC = 17
MAX_TIMESTAMP_OFFSET = 35
PARTITION_LEADER_EPOCH_OFFSET = 12
RECORDS_COUNT_OFFSET = 57
CURRENT_MAGIC = 2
# The smallest legacy (v0) message is 14 bytes after the log overhead; Kafka uses
# that as the floor for any batch length before it knows the magic.
LEGACY_RECORD_OVERHEAD_V0 = 14
RECORD_BATCH_OVERHEAD = BATCH_HEADER_SIZE

NO_TIMESTAMP = -1
NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
NO_SEQUENCE = -1
NO_PARTITION_LEADER_EPOCH = -1

COMPRESSION_NONE = 0
COMPRESSION_GZIP = 1
COMPRESSION_SNAPPY = 2
COMPRESSION_LZ4 = 3
COMPRESSION_ZSTD = 4

TIMESTAMP_CREATE_TIME = 0
TIMESTAMP_LOG_APPEND_TIME = 1

_COMPRESSION_MASK = 0x07
_TIMESTAMP_TYPE_MASK = 0x08
_TRANSACTIONAL_MASK = 0x10
_CONTROL_MASK = 0x20
_DELETE_HORIZON_MASK = 0x40

# Records may expand to at most this many bytes when decompressed, unless the
# caller passes another limit: a guard against decompression bombs.
DEFAULT_MAX_DECOMPRESSED_SIZE = 256 * 1024 * 1024

_HEADER = struct.Struct(">qiibIhiqqqhii")
assert _HEADER.size == BATCH_HEADER_SIZE
_INT64 = struct.Struct(">q")
_INT32 = struct.Struct(">i")
_UINT32 = struct.Struct(">I")
_INT16 = struct.Struct(">h")

WritableBuffer = bytearray | memoryview


class CorruptRecordError(Exception):
    """A batch is damaged: bad CRC, impossible size, unknown magic (Kafka: CORRUPT_MESSAGE)."""

    error_code = 2  # ErrorCode.CORRUPT_MESSAGE


class LegacyMessageFormatError(CorruptRecordError):
    """A magic 0 or 1 message set, a format Kafka 4 rejects.

    ``magic`` is the version found. Kafka answers a produce request (v3 and later)
    whose first batch is not magic 2 with ``INVALID_RECORD`` (87), saying that such
    requests may only contain record batches with magic version 2.
    """

    error_code = 87  # ErrorCode.INVALID_RECORD

    def __init__(self, message: str, magic: int) -> None:
        super().__init__(message)
        self.magic = magic


class InvalidRecordError(Exception):
    """A batch's records do not parse or contradict the header (Kafka: INVALID_RECORD)."""

    error_code = 87  # ErrorCode.INVALID_RECORD


class RecordBatchHeader:
    """The 61-byte header of a magic v2 record batch, decoded without touching records."""

    __slots__ = (
        "base_offset",
        "batch_length",
        "partition_leader_epoch",
        "magic",
        "crc",
        "attributes",
        "last_offset_delta",
        "base_timestamp",
        "max_timestamp",
        "producer_id",
        "producer_epoch",
        "base_sequence",
        "records_count",
    )

    def __init__(
        self,
        base_offset: int,
        batch_length: int,
        partition_leader_epoch: int,
        magic: int,
        crc: int,
        attributes: int,
        last_offset_delta: int,
        base_timestamp: int,
        max_timestamp: int,
        producer_id: int,
        producer_epoch: int,
        base_sequence: int,
        records_count: int,
    ) -> None:
        self.base_offset = base_offset
        self.batch_length = batch_length
        self.partition_leader_epoch = partition_leader_epoch
        self.magic = magic
        self.crc = crc
        self.attributes = attributes
        self.last_offset_delta = last_offset_delta
        self.base_timestamp = base_timestamp
        self.max_timestamp = max_timestamp
        self.producer_id = producer_id
        self.producer_epoch = producer_epoch
        self.base_sequence = base_sequence
        self.records_count = records_count

    @property
    def compression(self) -> int:
        return self.attributes & _COMPRESSION_MASK

    @property
    def timestamp_type(self) -> int:
        return 1 if self.attributes & _TIMESTAMP_TYPE_MASK else 0

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & _TRANSACTIONAL_MASK)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & _CONTROL_MASK)

    @property
    def has_delete_horizon(self) -> bool:
        """Set by the log cleaner: ``base_timestamp`` then holds the delete horizon."""
        return bool(self.attributes & _DELETE_HORIZON_MASK)

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def size(self) -> int:
        return self.batch_length + LOG_OVERHEAD

    @property
    def last_sequence(self) -> int:
        """Sequence of the last record, wrapping at int32 as Kafka's producers do."""
        if self.base_sequence == NO_SEQUENCE:
            return NO_SEQUENCE
        seq = self.base_sequence + self.last_offset_delta
        return seq - 0x80000000 if seq > 0x7FFFFFFF else seq

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecordBatchHeader):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    def __repr__(self) -> str:
        fields = ", ".join(f"{s}={getattr(self, s)!r}" for s in self.__slots__)
        return f"RecordBatchHeader({fields})"


def _check_magic(buf: Sequence[int] | memoryview | bytes, pos: int) -> None:
    magic = buf[pos + MAGIC_OFFSET]
    if magic > 127:
        magic -= 256
    if magic == CURRENT_MAGIC:
        return
    if magic in (0, 1):
        raise LegacyMessageFormatError(
            f"Message format v{magic} (magic {magic}) is not supported; only record batches with magic 2 are accepted",
            magic,
        )
    raise CorruptRecordError(f"Invalid magic found in record: {magic}")


def parse_header(buf: bytes | bytearray | memoryview, pos: int = 0) -> RecordBatchHeader:
    """Decode the batch header at ``pos``; the records after it are not looked at.

    Raises ``LegacyMessageFormatError`` for magic 0/1 and ``CorruptRecordError`` for
    anything else that is not a complete v2 header.
    """
    try:
        fields = _HEADER.unpack_from(buf, pos)
    except struct.error:
        available = (buf.nbytes if isinstance(buf, memoryview) else len(buf)) - pos
        if available >= HEADER_SIZE_UP_TO_MAGIC:
            _check_magic(buf, pos)
        raise CorruptRecordError(
            f"Record batch header needs {BATCH_HEADER_SIZE} bytes but only {max(available, 0)} remain"
        ) from None
    if fields[3] != CURRENT_MAGIC:
        _check_magic(buf, pos)
    if fields[1] < RECORD_BATCH_OVERHEAD - LOG_OVERHEAD:
        raise CorruptRecordError(
            f"Record batch is corrupt (the size {fields[1] + LOG_OVERHEAD} is smaller than the minimum allowed overhead {RECORD_BATCH_OVERHEAD})"
        )
    return RecordBatchHeader(*fields)


def iter_batches(
    buf: bytes | bytearray | memoryview, max_batch_size: int | None = None
) -> Iterator[tuple[int, RecordBatchHeader]]:
    """Yield ``(position, header)`` for every complete batch in ``buf``.

    A trailing partial batch ends the iteration quietly (a fetch response may cut
    the last batch short). A batch length below the smallest possible message, or
    above ``max_batch_size`` when given, raises ``CorruptRecordError`` as Kafka's
    log input stream does; legacy magic raises ``LegacyMessageFormatError``.
    """
    end = buf.nbytes if isinstance(buf, memoryview) else len(buf)
    pos = 0
    unpack_header = _HEADER.unpack_from
    while end - pos >= LOG_OVERHEAD:
        (length,) = _INT32.unpack_from(buf, pos + 8)
        if length < LEGACY_RECORD_OVERHEAD_V0:
            raise CorruptRecordError(
                f"Record size {length} is less than the minimum record overhead ({LEGACY_RECORD_OVERHEAD_V0})"
            )
        if max_batch_size is not None and length > max_batch_size:
            raise CorruptRecordError(
                f"Record size {length} exceeds the largest allowable message size ({max_batch_size})."
            )
        if end - pos < HEADER_SIZE_UP_TO_MAGIC:
            return
        _check_magic(buf, pos)
        if end - pos < length + LOG_OVERHEAD:
            return
        if length < RECORD_BATCH_OVERHEAD - LOG_OVERHEAD:
            raise CorruptRecordError(
                f"Record batch is corrupt (the size {length + LOG_OVERHEAD} is smaller than the minimum allowed overhead {RECORD_BATCH_OVERHEAD})"
            )
        yield pos, RecordBatchHeader(*unpack_header(buf, pos))
        pos += length + LOG_OVERHEAD


def compute_crc(buf: bytes | bytearray | memoryview, pos: int, size: int) -> int:
    """CRC-32C of the batch of ``size`` bytes at ``pos``, over attributes .. end."""
    view = buf if isinstance(buf, memoryview) else memoryview(buf)
    return _crc32c.crc32c(view[pos + ATTRIBUTES_OFFSET : pos + size])


def verify_crc(buf: bytes | bytearray | memoryview, pos: int, header: RecordBatchHeader) -> bool:
    """True when the stored CRC matches the batch bytes (the batch must be complete)."""
    available = buf.nbytes if isinstance(buf, memoryview) else len(buf)
    if available - pos < header.size:
        return False
    return compute_crc(buf, pos, header.size) == header.crc


def ensure_valid(buf: bytes | bytearray | memoryview, pos: int, header: RecordBatchHeader) -> None:
    """Raise ``CorruptRecordError`` with Kafka's wording when the CRC does not match."""
    computed = compute_crc(buf, pos, header.size)
    if computed != header.crc:
        raise CorruptRecordError(
            f"Record is corrupt (stored crc = {header.crc}, computed crc = {computed})"
        )


def set_base_offset(buf: WritableBuffer, pos: int, offset: int) -> None:
    """Overwrite ``baseOffset`` in place; it is outside the CRC."""
    _INT64.pack_into(buf, pos, offset)


def set_partition_leader_epoch(buf: WritableBuffer, pos: int, epoch: int) -> None:
    """Overwrite ``partitionLeaderEpoch`` in place; it is outside the CRC."""
    _INT32.pack_into(buf, pos + PARTITION_LEADER_EPOCH_OFFSET, epoch)


def set_log_append_time(buf: WritableBuffer, pos: int, timestamp: int) -> None:
    """Mark the batch LogAppendTime with ``timestamp`` as max timestamp; recompute the CRC.

    As in Kafka, record timestamps and ``baseTimestamp`` stay as written: readers
    use the max timestamp for every record of a LogAppendTime batch.
    """
    (attributes,) = _INT16.unpack_from(buf, pos + ATTRIBUTES_OFFSET)
    _INT16.pack_into(buf, pos + ATTRIBUTES_OFFSET, attributes | _TIMESTAMP_TYPE_MASK)
    _INT64.pack_into(buf, pos + MAX_TIMESTAMP_OFFSET, timestamp)
    (length,) = _INT32.unpack_from(buf, pos + 8)
    _UINT32.pack_into(buf, pos + CRC_OFFSET, compute_crc(buf, pos, length + LOG_OVERHEAD))


def set_max_timestamp(
    buf: WritableBuffer, pos: int, timestamp_type: int, max_timestamp: int
) -> None:
    """Set the timestamp type and max timestamp (Kafka's ``setMaxTimestamp``); recompute the CRC."""
    (attributes,) = _INT16.unpack_from(buf, pos + ATTRIBUTES_OFFSET)
    if timestamp_type == TIMESTAMP_LOG_APPEND_TIME:
        attributes |= _TIMESTAMP_TYPE_MASK
    else:
        attributes &= ~_TIMESTAMP_TYPE_MASK
    _INT16.pack_into(buf, pos + ATTRIBUTES_OFFSET, attributes)
    _INT64.pack_into(buf, pos + MAX_TIMESTAMP_OFFSET, max_timestamp)
    (length,) = _INT32.unpack_from(buf, pos + 8)
    _UINT32.pack_into(buf, pos + CRC_OFFSET, compute_crc(buf, pos, length + LOG_OVERHEAD))


# --------------------------------------------------------------------------------------
# Records


class Record:
    """One record of a v2 batch.

    ``offset`` and ``timestamp`` are absolute (base plus delta; for a LogAppendTime
    batch the timestamp is the batch's max timestamp, as Kafka reports it).
    """

    __slots__ = (
        "offset_delta",
        "timestamp_delta",
        "key",
        "value",
        "headers",
        "attributes",
        "offset",
        "timestamp",
        "size",
    )

    def __init__(
        self,
        offset_delta: int,
        timestamp_delta: int,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes | None]],
        attributes: int = 0,
        offset: int = 0,
        timestamp: int = 0,
        size: int = 0,
    ) -> None:
        self.offset_delta = offset_delta
        self.timestamp_delta = timestamp_delta
        self.key = key
        self.value = value
        self.headers = headers
        self.attributes = attributes
        self.offset = offset
        self.timestamp = timestamp
        self.size = size  # bytes on the wire, including the length varint

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    def __repr__(self) -> str:
        return (
            f"Record(offset={self.offset}, timestamp={self.timestamp}, key={self.key!r}, "
            f"value={self.value!r}, headers={self.headers!r})"
        )


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Zigzag varint (int32) at ``pos``; IndexError when the data runs out."""
    b = data[pos]
    pos += 1
    if b < 0x80:
        return (b >> 1) ^ -(b & 1), pos
    raw = b & 0x7F
    shift = 7
    while True:
        b = data[pos]
        pos += 1
        raw |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
        if shift > 28:
            raise ValueError("Varint is too long, the most significant bit in the 5th byte is set")
    # Java drops bits beyond 32; keep the same value for odd encodings.
    raw &= 0xFFFFFFFF
    return (raw >> 1) ^ -(raw & 1), pos


def _read_varlong(data: bytes, pos: int) -> tuple[int, int]:
    b = data[pos]
    pos += 1
    if b < 0x80:
        return (b >> 1) ^ -(b & 1), pos
    raw = b & 0x7F
    shift = 7
    while True:
        b = data[pos]
        pos += 1
        raw |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
        if shift > 63:
            raise ValueError(
                "Varlong is too long, the most significant bit in the 10th byte is set"
            )
    raw &= 0xFFFFFFFFFFFFFFFF
    return (raw >> 1) ^ -(raw & 1), pos


def _write_varint(out: bytearray, value: int) -> None:
    raw = ((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF
    while raw >= 0x80:
        out.append((raw & 0x7F) | 0x80)
        raw >>= 7
    out.append(raw)


def _parse_records(data: bytes, header: RecordBatchHeader, compressed: bool) -> Iterator[Record]:
    count = header.records_count
    if count < 0:
        raise InvalidRecordError(f"Found invalid record count {count} in magic v2 batch")
    end = len(data)
    pos = 0
    base_offset = header.base_offset
    base_timestamp = header.base_timestamp
    log_append_time = header.max_timestamp if header.timestamp_type == 1 else None
    read_varint = _read_varint
    for _ in range(count):
        record_start = pos
        try:
            body_size, body_start = read_varint(data, pos)
        except IndexError:
            raise InvalidRecordError(
                "Incorrect declared batch size, premature EOF reached"
            ) from None
        except ValueError:
            raise InvalidRecordError("Found invalid record structure") from None
        if end - body_start < body_size:
            if compressed:
                raise InvalidRecordError(
                    f"Invalid record size: expected {body_size} bytes in record payload, but the record payload reached EOF."
                )
            raise InvalidRecordError(
                f"Invalid record size: expected {body_size} bytes in record payload, but instead the buffer has only {end - body_start} remaining bytes."
            )
        body_end = body_start + body_size
        # Kafka reads a decompressed record from a buffer of exactly its declared
        # size, an uncompressed one from the rest of the batch; fields may only
        # run past the body in the latter case, and are then caught by the size check.
        limit = body_end if compressed else end
        try:
            p = body_start
            attributes = data[p]
            p += 1
            timestamp_delta, p = _read_varlong(data, p)
            offset_delta, p = read_varint(data, p)
            key_size, p = read_varint(data, p)
            if key_size < 0:
                key = None
            else:
                if p + key_size > limit:
                    raise IndexError
                key = data[p : p + key_size]
                p += key_size
            value_size, p = read_varint(data, p)
            if value_size < 0:
                value = None
            else:
                if p + value_size > limit:
                    raise IndexError
                value = data[p : p + value_size]
                p += value_size
            num_headers, p = read_varint(data, p)
            if num_headers < 0:
                raise InvalidRecordError(f"Found invalid number of record headers {num_headers}")
            if num_headers > limit - p:
                raise InvalidRecordError(
                    f"Found invalid number of record headers. {num_headers} is larger than the remaining size of the buffer"
                )
            headers: list[tuple[str, bytes | None]] = []
            for _h in range(num_headers):
                hk_size, p = read_varint(data, p)
                if hk_size < 0:
                    raise InvalidRecordError(f"Invalid negative header key size {hk_size}")
                if p + hk_size > limit:
                    raise IndexError
                # Java decodes malformed UTF-8 with replacement characters rather than failing.
                hkey = data[p : p + hk_size].decode("utf-8", "replace")
                p += hk_size
                hv_size, p = read_varint(data, p)
                if hv_size < 0:
                    hvalue = None
                else:
                    if p + hv_size > limit:
                        raise IndexError
                    hvalue = data[p : p + hv_size]
                    p += hv_size
                headers.append((hkey, hvalue))
        except (IndexError, ValueError):
            raise InvalidRecordError("Found invalid record structure") from None
        if p != body_end:
            raise InvalidRecordError(
                f"Invalid record size: expected to read {body_size} bytes in record payload, but instead read {p - body_start}"
            )
        pos = body_end
        yield Record(
            offset_delta,
            timestamp_delta,
            key,
            value,
            headers,
            attributes,
            base_offset + offset_delta,
            log_append_time if log_append_time is not None else base_timestamp + timestamp_delta,
            body_end - record_start,
        )
    if pos != end:
        raise InvalidRecordError("Incorrect declared batch size, records still remaining in file")


def records_payload(
    buf: bytes | bytearray | memoryview,
    pos: int,
    header: RecordBatchHeader,
    *,
    max_decompressed_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE,
) -> bytes:
    """The batch's records section as bytes, decompressed when the batch is compressed."""
    view = buf if isinstance(buf, memoryview) else memoryview(buf)
    available = view.nbytes - pos
    if available < header.size:
        raise CorruptRecordError(
            f"Record batch needs {header.size} bytes but only {available} remain"
        )
    section = view[pos + BATCH_HEADER_SIZE : pos + header.size]
    codec = header.compression
    if codec == COMPRESSION_NONE:
        return bytes(section)
    try:
        return _compression.decompress(codec, section, max_output_size=max_decompressed_size)
    except _compression.CompressionError as exc:
        raise InvalidRecordError(f"Failed to decompress record stream: {exc}") from None


def iter_records(
    buf: bytes | bytearray | memoryview,
    pos: int,
    header: RecordBatchHeader,
    *,
    max_decompressed_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE,
) -> Iterator[Record]:
    """Decode the records of the batch at ``pos`` (decompressing if needed).

    The declared record count must match the records section exactly; anything
    else raises ``InvalidRecordError`` with Kafka's wording. The CRC is not checked
    here (call ``verify_crc`` first).
    """
    data = records_payload(buf, pos, header, max_decompressed_size=max_decompressed_size)
    return _parse_records(data, header, header.compression != COMPRESSION_NONE)


# --------------------------------------------------------------------------------------
# Control records (transaction markers and friends)

CONTROL_ABORT = 0
CONTROL_COMMIT = 1
_CONTROL_KEY = struct.Struct(">hh")
_END_TXN_VALUE = struct.Struct(">hi")


class ControlRecord:
    """The key (and for commit/abort, the value) of a record in a control batch.

    ``type`` is 0 abort, 1 commit; Kafka's KRaft types (2 leader change and up)
    are recognised but carry no ``coordinator_epoch`` here.
    """

    __slots__ = ("version", "type", "coordinator_epoch")

    def __init__(self, type: int, coordinator_epoch: int | None = None, version: int = 0) -> None:
        self.type = type
        self.coordinator_epoch = coordinator_epoch
        self.version = version

    @property
    def is_commit(self) -> bool:
        return self.type == CONTROL_COMMIT

    @property
    def is_abort(self) -> bool:
        return self.type == CONTROL_ABORT

    @classmethod
    def from_record(cls, record: Record) -> ControlRecord:
        """Decode a control record; ``InvalidRecordError`` if key or value is malformed."""
        key = record.key
        if key is None or len(key) < _CONTROL_KEY.size:
            raise InvalidRecordError("Invalid control record: key is missing or too short")
        version, type_ = _CONTROL_KEY.unpack_from(key)
        if version < 0:
            raise InvalidRecordError(f"Invalid version found for control record: {version}")
        coordinator_epoch = None
        if type_ in (CONTROL_ABORT, CONTROL_COMMIT):
            value = record.value
            if value is None or len(value) < _END_TXN_VALUE.size:
                raise InvalidRecordError(
                    "Invalid end transaction marker: value is missing or too short"
                )
            value_version, coordinator_epoch = _END_TXN_VALUE.unpack_from(value)
            if value_version < 0:
                raise InvalidRecordError(
                    f"Invalid version found for end transaction marker: {value_version}"
                )
        return cls(type_, coordinator_epoch, version)

    def key_bytes(self) -> bytes:
        return _CONTROL_KEY.pack(self.version, self.type)

    def value_bytes(self) -> bytes:
        return _END_TXN_VALUE.pack(0, self.coordinator_epoch or 0)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ControlRecord):
            return NotImplemented
        return (self.version, self.type, self.coordinator_epoch) == (
            other.version,
            other.type,
            other.coordinator_epoch,
        )

    def __repr__(self) -> str:
        return f"ControlRecord(type={self.type}, coordinator_epoch={self.coordinator_epoch}, version={self.version})"


# --------------------------------------------------------------------------------------
# Building batches


class SimpleRecord:
    """A record to put in a batch: key, value, headers and timestamp (-1 for none)."""

    __slots__ = ("key", "value", "headers", "timestamp")

    def __init__(
        self,
        key: bytes | bytearray | memoryview | None,
        value: bytes | bytearray | memoryview | None,
        headers: Iterable[tuple[str, bytes | None]] = (),
        timestamp: int = NO_TIMESTAMP,
    ) -> None:
        self.key = key
        self.value = value
        self.headers = tuple(headers)
        self.timestamp = timestamp

    def __repr__(self) -> str:
        return f"SimpleRecord({self.key!r}, {self.value!r}, headers={self.headers!r}, timestamp={self.timestamp})"


def encode_record(
    out: bytearray,
    offset_delta: int,
    timestamp_delta: int,
    key: bytes | bytearray | memoryview | None,
    value: bytes | bytearray | memoryview | None,
    headers: Sequence[tuple[str, bytes | None]],
    attributes: int = 0,
) -> None:
    """Append one magic-v2 record (length-prefixed) to ``out``. Record attributes are
    unused by Kafka and written as 0, unless a rewrite keeps the stored ones."""
    body = bytearray((attributes & 0xFF,))
    _write_varint(body, timestamp_delta)
    _write_varint(body, offset_delta)
    if key is None:
        body.append(0x01)  # zigzag(-1)
    else:
        _write_varint(body, len(key))
        body += key
    if value is None:
        body.append(0x01)
    else:
        _write_varint(body, len(value))
        body += value
    _write_varint(body, len(headers))
    for hkey, hvalue in headers:
        encoded = hkey.encode("utf-8")
        _write_varint(body, len(encoded))
        body += encoded
        if hvalue is None:
            body.append(0x01)
        else:
            _write_varint(body, len(hvalue))
            body += hvalue
    _write_varint(out, len(body))
    out += body


def _assemble(
    records_section: bytes | bytearray,
    *,
    base_offset: int,
    partition_leader_epoch: int,
    attributes: int,
    last_offset_delta: int,
    base_timestamp: int,
    max_timestamp: int,
    producer_id: int,
    producer_epoch: int,
    base_sequence: int,
    records_count: int,
) -> bytes:
    size = BATCH_HEADER_SIZE + len(records_section)
    out = bytearray(size)
    _HEADER.pack_into(
        out,
        0,
        base_offset,
        size - LOG_OVERHEAD,
        partition_leader_epoch,
        CURRENT_MAGIC,
        0,
        attributes,
        last_offset_delta,
        base_timestamp,
        max_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        records_count,
    )
    out[BATCH_HEADER_SIZE:] = records_section
    _UINT32.pack_into(out, CRC_OFFSET, _crc32c.crc32c(memoryview(out)[ATTRIBUTES_OFFSET:]))
    return bytes(out)


def build_batch(
    records: Iterable[SimpleRecord],
    *,
    base_offset: int = 0,
    compression: int = COMPRESSION_NONE,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = NO_PRODUCER_EPOCH,
    base_sequence: int = NO_SEQUENCE,
    is_transactional: bool = False,
    partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH,
    timestamp_type: int = TIMESTAMP_CREATE_TIME,
    base_timestamp: int | None = None,
) -> bytes:
    """Encode one v2 batch holding ``records`` at consecutive offsets from ``base_offset``.

    ``base_timestamp`` defaults to the first record's timestamp, as Kafka's builder
    does; the max timestamp is the largest record timestamp (for LogAppendTime,
    ``base_timestamp`` if given).
    """
    recs = list(records)
    if not recs:
        raise ValueError("a record batch needs at least one record")
    if base_timestamp is None:
        base_timestamp = recs[0].timestamp
    section = bytearray()
    max_timestamp = NO_TIMESTAMP
    for i, rec in enumerate(recs):
        ts = rec.timestamp
        if ts > max_timestamp:
            max_timestamp = ts
        encode_record(section, i, ts - base_timestamp, rec.key, rec.value, rec.headers)
    if timestamp_type == TIMESTAMP_LOG_APPEND_TIME and base_timestamp != NO_TIMESTAMP:
        max_timestamp = base_timestamp
    attributes = compression & _COMPRESSION_MASK
    if timestamp_type == TIMESTAMP_LOG_APPEND_TIME:
        attributes |= _TIMESTAMP_TYPE_MASK
    if is_transactional:
        attributes |= _TRANSACTIONAL_MASK
    payload = (
        section if compression == COMPRESSION_NONE else _compression.compress(compression, section)
    )
    return _assemble(
        payload,
        base_offset=base_offset,
        partition_leader_epoch=partition_leader_epoch,
        attributes=attributes,
        last_offset_delta=len(recs) - 1,
        base_timestamp=base_timestamp,
        max_timestamp=max_timestamp,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
        records_count=len(recs),
    )


def build_control_batch(
    commit: bool,
    producer_id: int,
    producer_epoch: int,
    coordinator_epoch: int,
    timestamp: int,
    base_offset: int = 0,
    partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH,
) -> bytes:
    """Encode a transaction marker: one control record (commit or abort) in a
    transactional control batch, as Kafka's transaction coordinator writes it."""
    marker = ControlRecord(CONTROL_COMMIT if commit else CONTROL_ABORT, coordinator_epoch)
    section = bytearray()
    encode_record(section, 0, 0, marker.key_bytes(), marker.value_bytes(), ())
    return _assemble(
        section,
        base_offset=base_offset,
        partition_leader_epoch=partition_leader_epoch,
        attributes=_TRANSACTIONAL_MASK | _CONTROL_MASK,
        last_offset_delta=0,
        base_timestamp=timestamp,
        max_timestamp=timestamp,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=NO_SEQUENCE,
        records_count=1,
    )
