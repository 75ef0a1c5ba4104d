"""Shared helpers for group coordinator tests."""

from __future__ import annotations

import struct


def subscription(*topics: str, version: int = 0) -> bytes:
    """A ConsumerProtocolSubscription (v0 layout: version, topics, null user data)."""
    out = struct.pack(">hi", version, len(topics))
    for t in topics:
        raw = t.encode()
        out += struct.pack(">h", len(raw)) + raw
    return out + struct.pack(">i", -1)
