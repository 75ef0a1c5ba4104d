"""One client connection: frames in, handlers, responses out in request order.

Theory of operation
-------------------
One task serves a connection, in Kafka's rhythm: read a frame, run its handler,
write its response, only then take the next frame. Kafka mutes a connection
while one of its requests is in progress and until its response is written;
doing the same makes request order and response order identical by
construction, however many requests a client pipelines (later ones wait in
``FrameReader`` or the kernel's socket buffer).

The socket is driven directly with non-blocking system calls on its descriptor
(``readv`` into the ``FrameReader`` buffer, ``writev`` for memory buffers,
``os.sendfile`` for ``FileSlice`` parts, so fetched record payloads are never
copied into Python). The task suspends only when the kernel says "would block"
(``wait_readable`` / ``wait_writable``) or a handler awaits: a produce request
that needs neither costs no trip through trio's scheduler at all. Because a busy
pipelining client could then keep the loop to itself, the task yields at a
checkpoint after every ``_REQUESTS_PER_CHECKPOINT`` requests served without a
suspension.

Idle connections (``connections.max.idle.ms``): the task notes when it starts
waiting for the socket; a watcher task sleeps until that moment plus the idle
time and, if the connection is still waiting on that same wait, wakes it with
``notify_closing``. That costs one clock read per wait instead of a cancel scope
per read, and a request in progress (a long-poll fetch, an ``acks=all`` wait) is
never cut off: only waiting on the peer counts as idle, in either direction, so
a peer that stops reading our responses is closed too.

Kafka's answers to a bad peer:

* an oversized or negative frame size, an undecodable header or body, an API or
  version we do not serve: close the connection (every earlier response has
  already been written);
* ApiVersions at a version we do not know: answer ``UNSUPPORTED_VERSION`` with a
  v0 body listing our ApiVersions range (clients then retry at a version we have);
* a handler that refuses the whole request (``dispatch.RequestError``, Kafka's
  handlers throwing ``InvalidRequestException``): that API's error response with
  the given code, and the connection keeps serving;
* a handler that raises anything else: ``UNKNOWN_SERVER_ERROR`` for that
  request, a logged traceback, and the connection keeps serving;
* a handler returning ``None`` (``acks=0`` Produce): no response at all;
* no bytes for ``connections.max.idle.ms``: close.
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import trio

from kpybroker import dispatch
from kpybroker.context import RequestContext
from wire.buffers import FileSlice
from wire.exceptions import ProtocolError
from wire.framing import FrameReader

if TYPE_CHECKING:
    from kpybroker.broker import Broker

log = logging.getLogger(__name__)

API_VERSIONS_KEY = 18
UNSUPPORTED_VERSION = 35
UNKNOWN_SERVER_ERROR = -1

# How much to ask the kernel for per read when no large frame is being assembled.
RECEIVE_SIZE = 64 * 1024
IOV_MAX = 1024
# Requests served back to back without suspending before the task yields to others.
_REQUESTS_PER_CHECKPOINT = 8

_PEER_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)
_QUIET_ERRNOS = {errno.EPIPE, errno.ECONNRESET, errno.EBADF, errno.ENOTCONN, errno.ETIMEDOUT}

_ids = itertools.count(1)
_CLOSE = object()

_wait_readable = trio.lowlevel.wait_readable
_wait_writable = trio.lowlevel.wait_writable


class Connection:
    """Serves one accepted stream until the peer leaves, errs, or idles out."""

    def __init__(self, broker: Broker, stream: trio.SocketStream, listener_name: str = "PLAINTEXT") -> None:
        self.broker = broker
        self.stream = stream
        self.listener_name = listener_name
        self.connection_id = self._describe(stream)
        self.client_host = self.connection_id.split("-", 1)[-1].rsplit(":", 1)[0]
        config = broker.config
        self.max_frame_size: int = config.get("socket.request.max.bytes")
        self.idle_ms: int = config.get("connections.max.idle.ms")
        # trio.current_time() when the current wait on the peer began; None while
        # a request is being processed.
        self._waiting_since: float | None = None
        self._idle_expired = False

    @staticmethod
    def _describe(stream: trio.SocketStream) -> str:
        try:
            local = stream.socket.getsockname()
            peer = stream.socket.getpeername()
            return f"{local[0]}:{local[1]}-{peer[0]}:{peer[1]}-{next(_ids)}"
        except OSError:
            return f"unknown-{next(_ids)}"

    async def run(self) -> None:
        """Serve the connection; never raises for anything the peer causes."""
        try:
            if self.idle_ms < 0:
                await self._serve_quietly()
            else:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._idle_watch, self.idle_ms / 1000)
                    try:
                        await self._serve_quietly()
                    finally:
                        nursery.cancel_scope.cancel()
        except Exception:
            # A bug here must cost one connection, never the server.
            log.exception("connection %s failed", self.connection_id)
        finally:
            with trio.CancelScope(shield=True):
                await self.stream.aclose()

    async def _serve_quietly(self) -> None:
        try:
            await self._serve()
        except _PEER_ERRORS as exc:
            if self._idle_expired and isinstance(exc, trio.ClosedResourceError):
                log.debug("closing idle connection %s", self.connection_id)
            else:
                self._peer_gone(exc)

    def _peer_gone(self, exc: BaseException) -> None:
        if isinstance(exc, OSError) and exc.errno not in _QUIET_ERRNOS and not isinstance(exc, ConnectionError):
            log.warning("connection %s: %s", self.connection_id, exc)
        else:
            log.debug("connection %s: %s", self.connection_id, exc)

    async def _idle_watch(self, idle_s: float) -> None:
        """Wake the serving task with ``ClosedResourceError`` once it has waited on
        the peer for ``idle_s`` without interruption."""
        # While a request is in progress nothing can expire before idle_s from now;
        # the floor keeps an idle time of 0 from becoming a busy loop.
        recheck_s = max(idle_s, 0.01)
        while True:
            since = self._waiting_since
            if since is None:
                await trio.sleep(recheck_s)
                continue
            due = since + idle_s
            if trio.current_time() < due:
                await trio.sleep_until(due)
                continue
            self._idle_expired = True
            trio.lowlevel.notify_closing(self.stream.socket.fileno())
            # If the wait had already ended, the connection lives on: look again later.
            await trio.sleep(recheck_s)

    async def _wait(self, wait: Any, fd: int) -> None:
        self._waiting_since = trio.current_time()
        try:
            await wait(fd)
        finally:
            self._waiting_since = None

    # -- the request loop -------------------------------------------------------------

    async def _serve(self) -> None:
        from wire.protocol import decode_request, encode_response

        reader = FrameReader(self.max_frame_size)
        fd = self.stream.socket.fileno()
        readv = os.readv
        served = 0
        while True:
            try:
                frame = reader.next_frame()
                if frame is None:
                    region = reader.get_buffer(RECEIVE_SIZE)
            except ProtocolError as exc:
                log.info("closing connection %s: %s", self.connection_id, exc)
                return
            if frame is None:
                try:
                    # Straight into the frame buffer: no copy of request payloads.
                    n = readv(fd, (region,))
                except BlockingIOError:
                    n = -1
                # The view must be gone before the buffer can be reused.
                del region
                if n > 0:
                    reader.commit(n)
                    continue
                if n == 0:
                    return
                await self._wait(_wait_readable, fd)
                served = 0
                continue
            out = await self._process(frame, decode_request, encode_response)
            del frame
            if out is not None:
                if out is _CLOSE:
                    return
                rest = send_nowait(fd, out)
                if rest is not None:
                    while rest is not None:
                        await self._wait(_wait_writable, fd)
                        rest = send_nowait(fd, rest)
                    served = 0
            served += 1
            if served >= _REQUESTS_PER_CHECKPOINT:
                served = 0
                await trio.lowlevel.checkpoint()

    async def _process(self, frame: memoryview, decode_request: Any, encode_response: Any) -> Any:
        try:
            header, request = decode_request(frame)
        except ProtocolError as exc:
            if (exc.error_code is not None and not exc.close and exc.correlation_id is not None
                    and exc.api_key == API_VERSIONS_KEY):
                return self._api_versions_fallback(exc.correlation_id)
            log.info("closing connection %s: %s", self.connection_id, exc)
            return _CLOSE
        api_key = header.request_api_key
        version = header.request_api_version
        entry = dispatch.HANDLERS.get(api_key)
        if entry is None or not entry.min_version <= version <= entry.max_version:
            log.info("closing connection %s: %s v%d is not served", self.connection_id,
                     dispatch.api_name(api_key), version)
            return _CLOSE
        ctx = RequestContext(
            broker=self.broker,
            client_id=header.client_id,
            client_host=self.client_host,
            connection_id=self.connection_id,
            listener_name=self.listener_name,
            api_key=api_key,
            api_version=version,
            correlation_id=header.correlation_id,
        )
        store = self.broker.metadata
        metadata_version = store.version if store is not None else 0
        try:
            response = await entry.func(ctx, header, request)
            if response is None:
                return None
            if store is not None and store.version != metadata_version:
                # A request that changed the metadata (a config, a quota, ...) is not
                # answered before the change is on disk.
                await self.broker.save_metadata()
            return encode_response(header, response)
        except trio.Cancelled:
            raise
        except ProtocolError as exc:
            # A handler refusing the request outright (Produce v0-v2, as Kafka 4 does).
            log.info("closing connection %s: %s", self.connection_id, exc)
            return _CLOSE
        except dispatch.RequestError as exc:
            log.info("refusing %s v%d from %s: %s", dispatch.api_name(api_key), version,
                     self.connection_id, exc)
            error_code = exc.error_code
        except Exception:
            log.exception("error handling %s v%d (correlation id %d) from %s",
                          dispatch.api_name(api_key), version, header.correlation_id, self.connection_id)
            error_code = UNKNOWN_SERVER_ERROR
        try:
            body = dispatch.error_response(api_key, version, request, error_code)
            return encode_response(header, body)
        except Exception:
            log.exception("cannot build an error response for %s v%d; closing %s",
                          dispatch.api_name(api_key), version, self.connection_id)
            return _CLOSE

    def _api_versions_fallback(self, correlation_id: int) -> list[Any]:
        from wire.messages.api_versions import ApiVersionsResponse
        from wire.messages.headers import RequestHeader
        from wire.protocol import encode_response

        entry = dispatch.HANDLERS.get(API_VERSIONS_KEY)
        lo, hi = (entry.min_version, entry.max_version) if entry else (0, 3)
        body = ApiVersionsResponse(
            error_code=UNSUPPORTED_VERSION,
            api_keys=[ApiVersionsResponse.ApiVersion(api_key=API_VERSIONS_KEY, min_version=lo, max_version=hi)],
        )
        header = RequestHeader(request_api_key=API_VERSIONS_KEY, request_api_version=0,
                               correlation_id=correlation_id)
        return encode_response(header, body)


# -- writing --------------------------------------------------------------------------


def _nbytes(buf: Any) -> int:
    return buf.nbytes if isinstance(buf, memoryview) else len(buf)


def send_nowait(fd: int, bufs: Sequence[Any]) -> list[Any] | None:
    """Write ``bufs`` in order to the non-blocking socket ``fd`` as far as the kernel
    takes them without blocking: runs of memory buffers with one ``writev`` each,
    ``FileSlice`` parts with ``os.sendfile``. Returns None when everything went out,
    else what is left (the first element trimmed to its unsent part).

    Raises ``OSError`` for a broken peer, and ``EIO`` if a file slice ends early
    (its frame size is already on the wire, so the stream cannot be resynced).
    """
    if len(bufs) == 1:
        only = bufs[0]
        if not isinstance(only, FileSlice):
            # The common case: one encoded response in one buffer.
            try:
                sent = os.write(fd, only)
            except BlockingIOError:
                return list(bufs)
            if sent == _nbytes(only):
                return None
            return [memoryview(only).cast("B")[sent:]]
    i = 0
    count = len(bufs)
    while i < count:
        part = bufs[i]
        if isinstance(part, FileSlice):
            in_fd = part.fileno()
            offset, remaining = part.position, part.length
            while remaining > 0:
                try:
                    n = os.sendfile(fd, in_fd, offset, remaining)
                except BlockingIOError:
                    return [FileSlice(part.file, offset, remaining), *bufs[i + 1:]]
                if n == 0:
                    raise OSError(errno.EIO, f"log file ended inside a fetched slice ({part!r})")
                offset += n
                remaining -= n
            i += 1
            continue
        j = i + 1
        limit = min(count, i + IOV_MAX)
        while j < limit and not isinstance(bufs[j], FileSlice):
            j += 1
        run = bufs[i:j]
        try:
            sent = os.writev(fd, run)
        except BlockingIOError:
            return list(bufs[i:])
        for k, buf in enumerate(run):
            n = _nbytes(buf)
            if sent < n:
                return [memoryview(buf).cast("B")[sent:], *run[k + 1:], *bufs[j:]]
            sent -= n
        i = j
    return None


async def send_buffers(sock: Any, bufs: Sequence[Any]) -> None:
    """Write ``bufs`` in order to a non-blocking socket (or descriptor): memory with
    vectored sends, file slices with sendfile; waits while the socket is full."""
    fd = sock if isinstance(sock, int) else sock.fileno()
    rest = send_nowait(fd, bufs)
    while rest is not None:
        await _wait_writable(fd)
        rest = send_nowait(fd, rest)
