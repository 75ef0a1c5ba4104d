"""Request and response framing on top of the generated codecs.

These are the entry points the broker (and followers, and tests) use: a frame
(the bytes after the 4-byte size) in, ``(RequestHeader, request)`` out; a response
object in, a list of buffers with size prefix and response header out.

Header rules, as in Kafka: a request uses header v2 when its API version is
flexible, else v1 (v0 only for ControlledShutdown v0); ClientId is always an int16
length string even in the flexible header. A response uses header v1 when
flexible, else v0, except ApiVersions which always answers with v0 so that a
client that does not yet know the broker's versions can read it.
"""

from __future__ import annotations

import struct

from wire._codec import (
    DECODE_ERRORS,
    STRING_FAST,
    Message,
    short,
    skip_tags,
)
from wire._codec import STRING_UNPACKERS as _STR_UNPACK
from wire.buffers import Buffer
from wire.exceptions import ProtocolError
from wire.messages import REQUESTS, RESPONSES
from wire.messages.headers import RequestHeader, ResponseHeader

__all__ = [
    "REQUESTS",
    "RESPONSES",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "request_header_version",
    "response_header_version",
    "version_range",
]

UNSUPPORTED_VERSION = 35
API_VERSIONS_KEY = 18
CONTROLLED_SHUTDOWN_KEY = 7

_HEAD = struct.Struct(">hhi")
_HEAD_CLIENT = struct.Struct(">hhih")
_new = object.__new__
_REQUEST_HEADER_DEC = RequestHeader._DEC
_REQUEST_HEADER_V1 = _REQUEST_HEADER_DEC[1]
_REQUEST_HEADER_V2 = _REQUEST_HEADER_DEC[2]
_I32 = struct.Struct(">i")
_HEADER_V0 = struct.Struct(">ii")
_HEADER_V1 = struct.Struct(">iiB")


def version_range(api_key: int) -> tuple[int, int]:
    """The (min, max) request version wire can decode for ``api_key``."""
    cls = REQUESTS[api_key]
    return cls.MIN_VERSION, cls.MAX_VERSION


def _is_flexible(cls: type[Message], version: int) -> bool:
    flex = cls.FLEXIBLE_MIN_VERSION
    return flex is not None and version >= flex


def request_header_version(api_key: int, version: int) -> int:
    """Request header version (0, 1 or 2) for ``api_key`` at ``version``."""
    if api_key == CONTROLLED_SHUTDOWN_KEY and version == 0:
        return 0
    cls = REQUESTS.get(api_key)
    if cls is None:
        return 1
    if version > cls.MAX_VERSION:
        # A newer client than our definitions: Kafka's versions only ever become
        # flexible, never stop being so, so the newest version's rule holds.
        version = cls.MAX_VERSION
    return 2 if _is_flexible(cls, version) else 1


def response_header_version(api_key: int, version: int) -> int:
    """Response header version (0 or 1); ApiVersions always answers with v0."""
    if api_key == API_VERSIONS_KEY:
        return 0
    cls = RESPONSES[api_key]
    return 1 if _is_flexible(cls, version) else 0


def _request_decoders() -> dict[int, list]:
    """Per api key, a list indexed by version of ``(flexible, body decoder)``.

    Resolved once so that the hot path does one dict lookup and one list index
    instead of looking up the class, its version bounds and its decoder table.
    Versions below the minimum are None; ControlledShutdown v0 (header v0) is
    left out and takes the general path.
    """
    table: dict[int, list] = {}
    for key, cls in REQUESTS.items():
        row: list = [None] * (cls.MAX_VERSION + 1)
        for v in range(cls.MIN_VERSION, cls.MAX_VERSION + 1):
            if key == CONTROLLED_SHUTDOWN_KEY and v == 0:
                continue
            row[v] = (_is_flexible(cls, v), cls._DEC[v])
        table[key] = row
    return table


def decode_request(frame: memoryview | bytes | bytearray) -> tuple[RequestHeader, Message]:
    """Decode one request frame (the bytes after the 4-byte size)."""
    if type(frame) is not memoryview:
        frame = memoryview(frame)
    end = len(frame)
    if end >= 10:
        api_key, api_version, correlation_id, n = _HEAD_CLIENT.unpack_from(frame, 0)
        row = _DECODERS.get(api_key)
        if row is not None and 0 <= api_version < len(row):
            entry = row[api_version]
            if entry is not None:
                # header v1/v2 read here: its fields are already unpacked
                header = _new(RequestHeader)
                header.request_api_key = api_key
                header.request_api_version = api_version
                header.correlation_id = correlation_id
                header.unknown_tagged_fields = None
                try:
                    if n < 0:
                        header.client_id = None
                        pos = 10
                    else:
                        pos = 10 + n
                        if pos > end:
                            raise short("string ClientId")
                        header.client_id = (
                            _STR_UNPACK[n](frame, 10)[0]
                            if n < STRING_FAST
                            else frame[10:pos].tobytes()
                        ).decode()
                    flexible, decode = entry
                    if flexible:
                        if frame[pos] == 0:
                            pos += 1
                        else:
                            header.unknown_tagged_fields, pos = skip_tags(frame, pos)
                    body, pos = decode(frame, pos)
                except ProtocolError as exc:
                    exc.api_key = api_key
                    exc.api_version = api_version
                    exc.correlation_id = correlation_id
                    raise
                except DECODE_ERRORS as exc:
                    raise ProtocolError(
                        f"malformed {REQUESTS[api_key].__name__} v{api_version}: {exc}",
                        api_key=api_key,
                        api_version=api_version,
                        correlation_id=correlation_id,
                    ) from None
                return header, body
    return _decode_request_slow(frame)


def _decode_request_slow(frame: memoryview) -> tuple[RequestHeader, Message]:
    """``decode_request`` for what the fast path leaves: errors, short frames and
    ControlledShutdown v0."""
    if len(frame) < 8:
        raise ProtocolError(f"request frame of {len(frame)} bytes is too short for a header")
    api_key, api_version, correlation_id = _HEAD.unpack_from(frame, 0)
    cls = REQUESTS.get(api_key)
    if cls is None:
        raise ProtocolError(
            f"unknown api key {api_key}",
            error_code=UNSUPPORTED_VERSION,
            close=True,
            api_key=api_key,
            api_version=api_version,
            correlation_id=correlation_id,
        )
    if not cls.MIN_VERSION <= api_version <= cls.MAX_VERSION:
        is_api_versions = api_key == API_VERSIONS_KEY
        raise ProtocolError(
            f"unsupported version {api_version} of api key {api_key}",
            error_code=UNSUPPORTED_VERSION,
            close=not is_api_versions,
            api_key=api_key,
            api_version=api_version,
            correlation_id=correlation_id,
        )
    try:
        # the generated per-version functions directly: this is the hot path
        flex = cls.FLEXIBLE_MIN_VERSION
        if flex is not None and api_version >= flex:
            header, pos = _REQUEST_HEADER_V2(frame, 0)
        elif api_key == CONTROLLED_SHUTDOWN_KEY and api_version == 0:
            header, pos = _REQUEST_HEADER_DEC[0](frame, 0)
        else:
            header, pos = _REQUEST_HEADER_V1(frame, 0)
        body, pos = cls._DEC[api_version](frame, pos)
    except ProtocolError as exc:
        exc.api_key = api_key
        exc.api_version = api_version
        exc.correlation_id = correlation_id
        raise
    except DECODE_ERRORS as exc:
        raise ProtocolError(
            f"malformed {cls.__name__} v{api_version}: {exc}",
            api_key=api_key,
            api_version=api_version,
            correlation_id=correlation_id,
        ) from None
    return header, body


_DECODERS = _request_decoders()


def _finish(b: bytearray, out: list) -> list[Buffer]:
    """Close a buffer list whose first bytearray starts with a 4-byte size hole."""
    if not out:
        _I32.pack_into(b, 0, len(b) - 4)
        return [b]
    if b:
        out.append(b)
    total = 0
    for piece in out:
        total += piece.nbytes if isinstance(piece, memoryview) else len(piece)
    _I32.pack_into(out[0], 0, total - 4)
    return out


# flexible-from version of each response, for the header choice on the hot path
_RESPONSE_FLEX = {
    key: (cls.FLEXIBLE_MIN_VERSION if cls.FLEXIBLE_MIN_VERSION is not None else 1 << 15)
    for key, cls in RESPONSES.items()
}
_RESPONSE_FLEX[API_VERSIONS_KEY] = 1 << 15  # always header v0


def encode_response(header: RequestHeader, body: Message) -> list[Buffer]:
    """Size prefix, response header and ``body`` at the request's version, as buffers."""
    version = header.request_api_version
    if not body.MIN_VERSION <= version <= body.MAX_VERSION:
        raise ValueError(f"{type(body).__name__} has no version {version}")
    if version >= _RESPONSE_FLEX[header.request_api_key]:
        b = bytearray(_HEADER_V1.pack(0, header.correlation_id, 0))
    else:
        b = bytearray(_HEADER_V0.pack(0, header.correlation_id))
    out: list = []
    b = body._ENC[version](body, b, out)
    if out:
        return _finish(b, out)
    # one buffer, the usual case: fill in the size hole here, no helper call
    _I32.pack_into(b, 0, len(b) - 4)
    return [b]


def encode_request(
    body: Message, version: int, correlation_id: int, client_id: str | None
) -> list[Buffer]:
    """Size prefix, request header and ``body`` at ``version``, as buffers."""
    api_key = body.API_KEY
    assert api_key is not None
    hv = request_header_version(api_key, version)
    head = RequestHeader(
        request_api_key=api_key,
        request_api_version=version,
        correlation_id=correlation_id,
        client_id=client_id,
    )
    out: list = []
    b = head.encode_into(hv, bytearray(4), out)
    b = body.encode_into(version, b, out)
    return _finish(b, out)


def decode_response(
    api_key: int, version: int, frame: memoryview | bytes | bytearray
) -> tuple[int, Message]:
    """Decode a response frame (after the size): ``(correlation_id, body)``."""
    if not isinstance(frame, memoryview):
        frame = memoryview(frame)
    cls = RESPONSES.get(api_key)
    if cls is None:
        raise ProtocolError(f"unknown api key {api_key}")
    header, pos = ResponseHeader.decode(frame, response_header_version(api_key, version))
    body, pos = cls.decode(frame, version, pos)
    return header.correlation_id, body
