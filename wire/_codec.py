"""Runtime helpers shared by the generated codecs in ``wire/messages``.

The generated modules hold straight-line per-version functions; what they have in
common (varints, tagged-field sections, record payloads by reference, the message
base class) lives here so that each generated module stays small.
"""

from __future__ import annotations

import struct
import uuid
from typing import Any, ClassVar

from wire.buffers import FileSlice
from wire.exceptions import ProtocolError

# Record payloads at least this large are handed to the caller by reference so the
# server can write them without first copying them into the response buffer.
BY_REFERENCE_MIN = 4096

ZERO_UUID = uuid.UUID(int=0)

S_h = struct.Struct(">h")
S_i = struct.Struct(">i")

_NEW = object.__new__


class _Missing:
    """Sentinel type for "argument not given" in generated constructors."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class ArrayStructs(dict):
    """``Struct`` objects for arrays of ``n`` fixed-size items, built on first use.

    Only small counts are kept, so that a peer sending many distinct large counts
    cannot grow the cache.
    """

    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code

    def __missing__(self, n: int) -> struct.Struct:
        s = struct.Struct(f">{n}{self.code}")
        if n <= 64:
            self[n] = s
        return s


A_b = ArrayStructs("b")
A_h = ArrayStructs("h")
A_i = ArrayStructs("i")
A_q = ArrayStructs("q")
A_H = ArrayStructs("H")
A_I = ArrayStructs("I")
A_d = ArrayStructs("d")
A_o = ArrayStructs("?")

# Arrays of primitives shorter than this use the prebuilt packers and unpackers
# below: indexing a plain list is much cheaper on the hot path than the
# ``ArrayStructs`` lookup plus a method lookup (replica and ISR lists in every
# Metadata partition).
ARRAY_FAST = 64


def _packers(code: str) -> list:
    return [struct.Struct(f">{n}{code}").pack for n in range(ARRAY_FAST)]


def _unpackers(code: str) -> list:
    return [struct.Struct(f">{n}{code}").unpack_from for n in range(ARRAY_FAST)]


PA_b, PA_h, PA_i, PA_q = _packers("b"), _packers("h"), _packers("i"), _packers("q")
PA_H, PA_I, PA_d, PA_o = _packers("H"), _packers("I"), _packers("d"), _packers("?")
UA_b, UA_h, UA_i, UA_q = _unpackers("b"), _unpackers("h"), _unpackers("i"), _unpackers("q")
UA_H, UA_I, UA_d, UA_o = _unpackers("H"), _unpackers("I"), _unpackers("d"), _unpackers("?")

# Strings shorter than this are read with a prebuilt ``{n}s`` unpacker (which
# checks the length against the buffer before it copies anything).
STRING_FAST = 256
STRING_UNPACKERS = [struct.Struct(f"{n}s").unpack_from for n in range(STRING_FAST)]

# Encoded strings with their length prefix, by string. Responses repeat the same
# few names (topics, hosts, cluster id, group ids) on every request, and a ``str``
# always encodes to the same bytes, so a hit saves the UTF-8 encode and the length
# arithmetic. Bounded: cleared when full, long strings are not kept.
STRING_CACHE_ENTRIES = 4096
STRING_CACHE_MAX_CHARS = 256
COMPACT_STRINGS: dict[str, bytes] = {}
STRINGS16: dict[str, bytes] = {}


def compact_string(s: str) -> bytes:
    """``s`` as a compact (unsigned varint length + 1) string, remembered if short."""
    data = s.encode()
    n = len(data) + 1
    data = (_SMALL[n] if n < 0x80 else uvarint(n)) + data
    if len(s) <= STRING_CACHE_MAX_CHARS and type(s) is str:
        if len(COMPACT_STRINGS) >= STRING_CACHE_ENTRIES:
            COMPACT_STRINGS.clear()
        COMPACT_STRINGS[s] = data
    return data


def string16(s: str) -> bytes:
    """``s`` as a classic (int16 length) string, remembered if short."""
    data = s.encode()
    data = S_h.pack(len(data)) + data
    if len(s) <= STRING_CACHE_MAX_CHARS and type(s) is str:
        if len(STRINGS16) >= STRING_CACHE_ENTRIES:
            STRINGS16.clear()
        STRINGS16[s] = data
    return data


_UUID_NEW = uuid.UUID.__new__
_SET = object.__setattr__
_SAFE_UNKNOWN = uuid.SafeUUID.unknown


def read_uuid(buf: memoryview, pos: int) -> uuid.UUID:
    """The 16-byte UUID at ``pos`` (the caller has checked the length).

    Builds the object without ``UUID.__init__``'s argument parsing; most ids on
    the wire are the zero UUID, which is shared.
    """
    i = int.from_bytes(buf[pos : pos + 16], "big")
    if i == 0:
        return ZERO_UUID
    return uuid_from_int(i)


def uuid_from_int(i: int) -> uuid.UUID:
    """``UUID(int=i)`` without the constructor's argument parsing (0 <= i < 2**128)."""
    u = _UUID_NEW(uuid.UUID)
    _SET(u, "int", i)
    _SET(u, "is_safe", _SAFE_UNKNOWN)
    return u


# The 16 bytes of UUIDs this process has encoded, by their integer value: topic
# ids go out in every Metadata and Fetch response. Bounded like the string caches.
UUID_BYTES: dict[int, bytes] = {}


def uuid_bytes(u: uuid.UUID) -> bytes:
    """The 16 big-endian bytes of ``u``, remembered for the next time."""
    i = u.int
    data = i.to_bytes(16, "big")
    if len(UUID_BYTES) >= STRING_CACHE_ENTRIES:
        UUID_BYTES.clear()
    UUID_BYTES[i] = data
    return data


def short(what: str = "field") -> ProtocolError:
    """The error for a length or count that runs past the end of the frame."""
    return ProtocolError(f"truncated message: {what} runs past the end of the buffer")


def bad(message: str) -> ProtocolError:
    """The error for a value the definitions do not allow (e.g. null where not nullable)."""
    return ProtocolError(message)


def read_uvarint(buf: memoryview, pos: int) -> tuple[int, int]:
    """Unsigned LEB128 varint at ``pos`` (at most 5 bytes, as Kafka's int32 varints)."""
    # unrolled: the lengths of large record sets take three bytes, on every partition
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    value = b & 0x7F
    b = buf[pos + 1]
    if b < 0x80:
        return value | (b << 7), pos + 2
    value |= (b & 0x7F) << 7
    b = buf[pos + 2]
    if b < 0x80:
        return value | (b << 14), pos + 3
    value |= (b & 0x7F) << 14
    b = buf[pos + 3]
    if b < 0x80:
        return value | (b << 21), pos + 4
    value |= (b & 0x7F) << 21
    b = buf[pos + 4]
    if b < 0x80:
        return value | (b << 28), pos + 5
    raise ProtocolError("unsigned varint is longer than 5 bytes")


def uvarint(n: int) -> bytes:
    """Encode ``n`` (0 <= n < 2**32) as an unsigned varint."""
    if n < 0x80:
        return _SMALL[n]
    # unrolled for the sizes of record sets (two to four bytes)
    if n < 0x4000:
        return bytes(((n & 0x7F) | 0x80, n >> 7))
    if n < 0x200000:
        return bytes(((n & 0x7F) | 0x80, ((n >> 7) & 0x7F) | 0x80, n >> 14))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = [bytes([i]) for i in range(128)]


def _piece_length(piece: Any) -> int:
    if isinstance(piece, memoryview):
        return piece.nbytes
    return len(piece)


def put_records(b: bytearray, out: list | None, value: Any, compact: bool) -> bytearray:
    """Write a ``records`` field: length prefix, then the payload.

    ``value`` is a bytes-like, a ``FileSlice`` or a list of those. Large pieces and
    file slices are appended to ``out`` by reference and a fresh bytearray is
    started after them; small ones are copied into ``b``. Returns the bytearray to
    keep writing into.
    """
    pieces = value if isinstance(value, list) else (value,)
    total = 0
    for p in pieces:
        total += _piece_length(p)
    if compact:
        b += uvarint(total + 1)
    else:
        b += S_i.pack(total)
    for p in pieces:
        if out is not None and (isinstance(p, FileSlice) or _piece_length(p) >= BY_REFERENCE_MIN):
            out.append(b)
            out.append(p)
            b = bytearray()
        elif isinstance(p, FileSlice):
            b += p.read()
        else:
            b += p
    return b


def put_tags(
    b: bytearray, known: list[tuple[int, bytes | bytearray]], unknown: dict | None
) -> None:
    """Write a tagged-field section: known and preserved unknown tags in tag order."""
    items = list(known)
    if unknown:
        items.extend(unknown.items())
        items.sort(key=lambda kv: kv[0])
    b += uvarint(len(items))
    for tag, data in items:
        b += uvarint(tag)
        b += uvarint(len(data))
        b += data


def skip_tags(buf: memoryview, pos: int) -> tuple[dict | None, int]:
    """Read a tagged-field section that has no known tags: keep every tag as bytes."""
    n, pos = read_uvarint(buf, pos)
    unknown: dict | None = None
    end = len(buf)
    for _ in range(n):
        tag, pos = read_uvarint(buf, pos)
        size, pos = read_uvarint(buf, pos)
        e = pos + size
        if e > end:
            raise short("tagged field")
        if unknown is None:
            unknown = {}
        unknown[tag] = bytes(buf[pos:e])
        pos = e
    return unknown, pos


# what a generated decoder raises on bad input before it is turned into ProtocolError
DECODE_ERRORS = (struct.error, IndexError, UnicodeDecodeError, ValueError, OverflowError)


class Struct:
    """Base of every generated struct class: generic equality and repr over ``_FIELDS``."""

    __slots__ = ()
    _FIELDS: ClassVar[tuple[str, ...]] = ()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        for name in self._FIELDS:
            if getattr(self, name) != getattr(other, name):
                return False
        return (self.unknown_tagged_fields or None) == (other.unknown_tagged_fields or None)  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._FIELDS)
        if self.unknown_tagged_fields:  # type: ignore[attr-defined]
            parts += f", unknown_tagged_fields={self.unknown_tagged_fields!r}"  # type: ignore[attr-defined]
        return f"{type(self).__qualname__}({parts})"


class Message(Struct):
    """Base of every top-level generated message (requests, responses, headers, records)."""

    __slots__ = ()
    API_KEY: ClassVar[int | None] = None
    MIN_VERSION: ClassVar[int] = 0
    MAX_VERSION: ClassVar[int] = 0
    FLEXIBLE_MIN_VERSION: ClassVar[int | None] = None
    _ENC: ClassVar[tuple] = ()
    _DEC: ClassVar[tuple] = ()

    def encode_into(self, version: int, b: bytearray, out: list) -> bytearray:
        """Append this message at ``version`` to ``b``; large payloads go to ``out``.

        Returns the bytearray to continue writing into (a new one when a payload was
        passed by reference).
        """
        if not self.MIN_VERSION <= version <= self.MAX_VERSION:
            raise ValueError(f"{type(self).__name__} has no version {version}")
        return self._ENC[version](self, b, out)

    def encode(self, version: int) -> list:
        """The message body at ``version`` as a list of buffers (no header, no size)."""
        out: list = []
        b = self.encode_into(version, bytearray(), out)
        if b or not out:
            out.append(b)
        return out

    @classmethod
    def decode(cls, buf: Any, version: int, pos: int = 0) -> tuple[Any, int]:
        """Decode the message body at ``version`` from ``buf`` at ``pos``."""
        if not cls.MIN_VERSION <= version <= cls.MAX_VERSION:
            raise ProtocolError(f"{cls.__name__} has no version {version}")
        if not isinstance(buf, memoryview):
            buf = memoryview(buf)
        try:
            return cls._DEC[version](buf, pos)
        except ProtocolError:
            raise
        except DECODE_ERRORS as exc:
            raise ProtocolError(f"malformed {cls.__name__} v{version}: {exc}") from None
