"""The trio server: listeners, accept loops, the broker's lifetime.

``run_broker`` is the whole process in one task tree::

    run_broker
    ├── Broker.run_background   (retention, checkpoints, coordinator loops)
    └── serve_listeners
        ├── accept loop per listener
        └── connections nursery (one Connection.run per client)

Tests and embedders use ``open_broker``::

    async with open_broker(BrokerConfig({...})) as broker:
        host, port = broker.bound_addresses[0][1:]

Port 0 in ``listeners`` binds a free port; the bound port replaces 0 in what
Metadata advertises. Leaving the context (or cancelling ``run_broker``) closes
the listeners and connections, then shuts storage down cleanly.
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from kpybroker import dispatch
from kpybroker.broker import Broker, StartupError
from kpybroker.config import BrokerConfig, Listener
from kpybroker.connection import Connection

log = logging.getLogger(__name__)

# Out of file descriptors or buffers: pause accepting instead of dying (as trio's
# serve_listeners does), the existing connections keep being served.
_ACCEPT_CAPACITY_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
_ACCEPT_PAUSE_S = 0.1


async def open_listeners(broker: Broker) -> list[tuple[Listener, list[trio.SocketListener]]]:
    """Bind every configured listener; raise ``StartupError`` if a port is taken."""
    bound: list[tuple[Listener, list[trio.SocketListener]]] = []
    try:
        for lst in broker.config.listeners:
            host = lst.host or None
            try:
                sockets = await trio.open_tcp_listeners(lst.port, host=host)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise StartupError(f"cannot listen on {lst}: address already in use") from None
                raise StartupError(f"cannot listen on {lst}: {exc.strerror or exc}") from None
            receive_size = socket_buffer_size(broker.config, "socket.receive.buffer.bytes")
            if receive_size is not None:
                for s in sockets:
                    _set_buffer(s.socket, socket.SO_RCVBUF, receive_size, lst.name)
            bound.append((lst, sockets))
    except BaseException:
        for _, sockets in bound:
            for s in sockets:
                await s.aclose()
        raise
    return bound


def _record_bound(broker: Broker, bound: list[tuple[Listener, list[trio.SocketListener]]]) -> None:
    broker.bound_addresses = []
    ports: dict[str, int] = {}
    for lst, sockets in bound:
        for s in sockets:
            addr = s.socket.getsockname()
            broker.bound_addresses.append((lst.name, addr[0], addr[1]))
            ports.setdefault(lst.name, addr[1])
    broker.advertised_listeners = [
        Listener(a.name, a.host, ports.get(a.name, a.port)) if a.port == 0 else a
        for a in broker.config.advertised_listeners
    ]


def socket_buffer_size(config: BrokerConfig, key: str) -> int | None:
    """``socket.send.buffer.bytes`` or ``socket.receive.buffer.bytes`` when set and not
    -1, else None. Left unset, the OS's buffer autotuning stays on: Kafka would fix
    both at its 102400 default, which caps a large fetch answer at a few hundred KB
    per wake-up. As in Kafka, the receive size goes on the listening socket, before
    any connection exists, so that the TCP window scale agreed at the handshake fits
    it; the send size goes on each accepted connection."""
    if not config.is_set(key):
        return None
    value = config.get(key)
    return value if value >= 0 else None


def _set_buffer(sock: socket.socket, option: int, size: int, where: str) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, option, size)
    except OSError as exc:
        log.warning("cannot set socket buffer size %d on %s: %s", size, where, exc)


async def _accept_loop(listener: trio.SocketListener, name: str, broker: Broker,
                       connections: trio.Nursery) -> None:
    send_size = socket_buffer_size(broker.config, "socket.send.buffer.bytes")
    while True:
        try:
            stream = await listener.accept()
        except OSError as exc:
            if exc.errno in _ACCEPT_CAPACITY_ERRNOS:
                log.error("accept failed on %s: %s; pausing %.1fs", name, exc, _ACCEPT_PAUSE_S)
                await trio.sleep(_ACCEPT_PAUSE_S)
                continue
            raise
        if send_size is not None:
            _set_buffer(stream.socket, socket.SO_SNDBUF, send_size, name)
        connections.start_soon(Connection(broker, stream, name).run)


async def serve_listeners(broker: Broker, bound: list[tuple[Listener, list[trio.SocketListener]]] | None = None,
                          *, task_status: trio.TaskStatus[list[tuple[str, str, int]]] = trio.TASK_STATUS_IGNORED
                          ) -> None:
    """Bind (unless given bound listeners), report the bound addresses through
    ``task_status``, serve until cancelled."""
    if bound is None:
        bound = await open_listeners(broker)
    _record_bound(broker, bound)
    try:
        async with trio.open_nursery() as connections:
            async with trio.open_nursery() as accepting:
                for lst, sockets in bound:
                    for s in sockets:
                        accepting.start_soon(_accept_loop, s, lst.name, broker, connections)
                task_status.started(broker.bound_addresses)
    finally:
        with trio.CancelScope(shield=True):
            for _, sockets in bound:
                for s in sockets:
                    await s.aclose()


async def run_broker(config: BrokerConfig, *,
                     task_status: trio.TaskStatus[Broker] = trio.TASK_STATUS_IGNORED) -> None:
    """Start a broker, report it through ``task_status``, run until cancelled, shut down."""
    dispatch.ensure_loaded()
    broker = Broker(config)
    try:
        # Bind before storage opens: a port in use should fail fast, before recovery.
        bound = await open_listeners(broker)
        try:
            broker.start()
        except BaseException:
            with trio.CancelScope(shield=True):
                for _, sockets in bound:
                    for s in sockets:
                        await s.aclose()
            raise
        async with trio.open_nursery() as nursery:
            # Coordinators run before the first request can reach them.
            await nursery.start(broker.run_background)
            await nursery.start(serve_listeners, broker, bound)
            task_status.started(broker)
    finally:
        broker.shutdown()


@asynccontextmanager
async def open_broker(config: BrokerConfig) -> AsyncIterator[Broker]:
    """Run a broker for the duration of the ``async with`` block."""
    async with trio.open_nursery() as nursery:
        broker: Broker = await nursery.start(run_broker, config)
        try:
            yield broker
        finally:
            nursery.cancel_scope.cancel()


def leaf_error(exc: BaseException) -> BaseException:
    """The one real error inside nested trio exception groups (or ``exc`` itself)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def bootstrap_address(broker: Broker) -> str:
    """``host:port`` of the broker's first advertised listener."""
    adv = broker.advertised_listeners[0]
    return f"{adv.host}:{adv.port}"
