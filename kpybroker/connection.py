"""One client connection: frames in, handlers, responses out in request order.

Theory of operation
-------------------
Two tasks share a connection. The *reader* cuts the byte stream into frames
(``FrameReader``, capped at ``socket.request.max.bytes``), decodes one request,
awaits its handler and puts the encoded response on a small bounded channel; only
then does it decode the next frame. That is Kafka's rule (a connection is muted
while one of its requests is in progress), and it makes request order and
response order the same by construction, however many requests a client
pipelines. The *writer* takes responses off the channel, coalescing whatever is
already queued into one vectored ``sendmsg``; ``FileSlice`` parts (fetched log
data) go out with ``os.sendfile`` straight from the segment file, so record
payloads are never copied into Python.

Kafka's answers to a bad peer:

* an oversized or negative frame size, an undecodable header or body, an API or
  version we do not serve: close the connection (after flushing the responses
  already queued);
* ApiVersions at a version we do not know: answer ``UNSUPPORTED_VERSION`` with a
  v0 body listing our ApiVersions range (clients then retry at a version we have);
* a handler that raises: ``UNKNOWN_SERVER_ERROR`` for that request, a logged
  traceback, and the connection keeps serving;
* a handler returning ``None`` (``acks=0`` Produce): no response at all;
* no bytes for ``connections.max.idle.ms``: close.
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import time
from typing import TYPE_CHECKING, Any

import trio

from kpybroker import dispatch
from kpybroker.context import RequestContext
from wire.buffers import FileSlice
from wire.exceptions import ProtocolError

if TYPE_CHECKING:
    from kpybroker.broker import Broker

log = logging.getLogger(__name__)

API_VERSIONS_KEY = 18
UNSUPPORTED_VERSION = 35
UNKNOWN_SERVER_ERROR = -1

RECEIVE_SIZE = 256 * 1024
# Responses encoded but not yet written: a little slack lets the writer batch them,
# the bound keeps a slow reader of large fetches from growing memory.
QUEUED_RESPONSES = 16
IOV_MAX = 1024
DRAIN_TIMEOUT_S = 30.0
# Below this, buffers are copied into one before sending: one iovec per tiny
# header field costs more than the copy.
SMALL_BUFFER = 2048

_PEER_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)
_QUIET_ERRNOS = {errno.EPIPE, errno.ECONNRESET, errno.EBADF, errno.ENOTCONN, errno.ETIMEDOUT}

_ids = itertools.count(1)
_CLOSE = object()


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
        self.last_activity = time.monotonic()

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
            send_ch, recv_ch = trio.open_memory_channel[list[Any]](QUEUED_RESPONSES)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._writer, recv_ch, nursery.cancel_scope)
                async with send_ch:
                    try:
                        await self._reader(send_ch)
                    except _PEER_ERRORS as exc:
                        self._peer_gone(exc)
                # Queued responses still go out, but a peer that stopped reading
                # cannot hold the connection open forever.
                nursery.cancel_scope.deadline = trio.current_time() + DRAIN_TIMEOUT_S
        except Exception:
            # A bug here must cost one connection, never the server.
            log.exception("connection %s failed", self.connection_id)
        finally:
            with trio.CancelScope(shield=True):
                await self.stream.aclose()

    def _peer_gone(self, exc: BaseException) -> None:
        if isinstance(exc, OSError) and exc.errno not in _QUIET_ERRNOS and not isinstance(exc, ConnectionError):
            log.warning("connection %s: %s", self.connection_id, exc)
        else:
            log.debug("connection %s: %s", self.connection_id, exc)

    # -- reading and processing -------------------------------------------------------

    async def _reader(self, send_ch: trio.MemorySendChannel[list[Any]]) -> None:
        from wire.framing import FrameReader

        reader = FrameReader(self.max_frame_size)
        sock = self.stream.socket
        idle_s = self.idle_ms / 1000 if self.idle_ms >= 0 else float("inf")
        while True:
            try:
                frame = reader.next_frame()
            except ProtocolError as exc:
                log.info("closing connection %s: %s", self.connection_id, exc)
                return
            if frame is None:
                try:
                    region = reader.get_buffer(RECEIVE_SIZE)
                except ProtocolError as exc:
                    log.info("closing connection %s: %s", self.connection_id, exc)
                    return
                n = -1
                with trio.move_on_after(idle_s):
                    # Straight into the frame buffer: no copy of request payloads.
                    n = await sock.recv_into(region)
                del region
                if n < 0:
                    if time.monotonic() - self.last_activity >= idle_s:
                        log.debug("closing idle connection %s", self.connection_id)
                        return
                    continue
                if n == 0:
                    return
                self.last_activity = time.monotonic()
                reader.commit(n)
                continue
            out = await self._process(frame)
            if out is _CLOSE:
                return
            if out is not None:
                await send_ch.send(out)

    async def _process(self, frame: memoryview) -> Any:
        from wire.protocol import decode_request, encode_response

        try:
            header, request = decode_request(frame)
        except ProtocolError as exc:
            if (exc.error_code is not None and not exc.close and exc.correlation_id is not None
                    and exc.api_key == API_VERSIONS_KEY):
                return self._api_versions_fallback(exc.correlation_id)
            log.info("closing connection %s: %s", self.connection_id, exc)
            return _CLOSE
        api_key, version = header.request_api_key, header.request_api_version
        entry = dispatch.lookup(api_key, version)
        if entry is None:
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
        try:
            response = await entry.func(ctx, header, request)
            if response is None:
                return None
            return encode_response(header, response)
        except trio.Cancelled:
            raise
        except ProtocolError as exc:
            # A handler refusing the request outright (Produce v0-v2, as Kafka 4 does).
            log.info("closing connection %s: %s", self.connection_id, exc)
            return _CLOSE
        except Exception:
            log.exception("error handling %s v%d (correlation id %d) from %s",
                          dispatch.api_name(api_key), version, header.correlation_id, self.connection_id)
        try:
            body = dispatch.error_response(api_key, version, request, UNKNOWN_SERVER_ERROR)
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

    # -- writing ----------------------------------------------------------------------

    async def _writer(self, recv_ch: trio.MemoryReceiveChannel[list[Any]], scope: trio.CancelScope) -> None:
        async with recv_ch:
            try:
                async for bufs in recv_ch:
                    batch = list(bufs)
                    while len(batch) < IOV_MAX:
                        try:
                            batch.extend(recv_ch.receive_nowait())
                        except (trio.WouldBlock, trio.EndOfChannel):
                            break
                    await send_buffers(self.stream.socket, batch)
                    self.last_activity = time.monotonic()
            except _PEER_ERRORS as exc:
                # The peer is gone: stop reading too.
                self._peer_gone(exc)
                scope.cancel()


async def send_buffers(sock: Any, bufs: list[Any]) -> None:
    """Write ``bufs`` in order: memory with vectored sends, file slices with sendfile."""
    pending: list[memoryview] = []
    small = bytearray()
    for buf in bufs:
        if isinstance(buf, FileSlice):
            if small:
                pending.append(memoryview(bytes(small)))
                small = bytearray()
            if pending:
                await _sendmsg_all(sock, pending)
                pending = []
            await _sendfile_all(sock, buf)
            continue
        view = memoryview(buf).cast("B") if not isinstance(buf, memoryview) or buf.format != "B" else buf
        if view.nbytes == 0:
            continue
        if view.nbytes < SMALL_BUFFER:
            small += view
            continue
        if small:
            pending.append(memoryview(bytes(small)))
            small = bytearray()
        pending.append(view)
    if small:
        pending.append(memoryview(bytes(small)))
    if pending:
        await _sendmsg_all(sock, pending)


async def _sendmsg_all(sock: Any, views: list[memoryview]) -> None:
    i = 0
    while i < len(views):
        sent = await sock.sendmsg(views[i:i + IOV_MAX])
        while sent > 0:
            n = views[i].nbytes
            if sent >= n:
                sent -= n
                i += 1
            else:
                views[i] = views[i][sent:]
                sent = 0


async def _sendfile_all(sock: Any, part: FileSlice) -> None:
    out_fd = sock.fileno()
    in_fd = part.fileno()
    offset, remaining = part.position, part.length
    while remaining > 0:
        try:
            n = os.sendfile(out_fd, in_fd, offset, remaining)
        except BlockingIOError:
            await trio.lowlevel.wait_writable(sock)
            continue
        if n == 0:
            # The frame size is already on the wire; the peer cannot resync, so fail loudly.
            raise OSError(errno.EIO, f"log file ended inside a fetched slice ({part!r})")
        offset += n
        remaining -= n
        await trio.lowlevel.checkpoint()
