"""Small helpers the group handlers share: reaching the coordinator, client host form."""

from __future__ import annotations

from typing import Any

from wire.errors import ErrorCode

from .coordinator import GroupCoordinator


def coordinator_of(ctx: Any) -> GroupCoordinator | None:
    """The broker's group coordinator, or None while the broker runs without one."""
    return getattr(ctx.broker, "group_coordinator", None)


def client_host(ctx: Any) -> str:
    """The member host as Kafka reports it (InetAddress.toString: a leading slash)."""
    host = ctx.client_host or ""
    return host if host.startswith("/") else "/" + host


def client_id(ctx: Any) -> str:
    return ctx.client_id or ""


NOT_AVAILABLE = ErrorCode.COORDINATOR_NOT_AVAILABLE
