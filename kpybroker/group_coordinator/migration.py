"""Classic members inside consumer-protocol groups (KIP-848 online migration).

Kafka 4 lets a group change protocol while it has members: a ConsumerGroupHeartbeat
to a classic group upgrades it (its classic members stay, now assigned by the
broker), and when the last member using the new protocol leaves, the group is
downgraded back to a classic group and rebalances. Classic members of a
consumer-protocol group keep speaking JoinGroup, SyncGroup, Heartbeat and
LeaveGroup; their subscription and owned partitions come from the embedded
consumer protocol in their JoinGroup metadata, and their assignment goes back in
the same embedded format in the SyncGroup answer.

This module holds the pure parts: the embedded protocol codecs (a 2-byte version
then the struct at that version; versions above the highest we know are read and
written as the highest, as Kafka does) and the migration policy.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from wire.messages.internal import ConsumerProtocolAssignment, ConsumerProtocolSubscription

_I16 = struct.Struct(">h")
_MAX_VERSION = 3

Assignment = dict[uuid.UUID, set[int]]
TopicLookup = Callable[[str], tuple[uuid.UUID, int] | None]

#: group.consumer.migration.policy values (Kafka's ConsumerGroupMigrationPolicy)
POLICIES = ("disabled", "upgrade", "downgrade", "bidirectional")


def upgrade_enabled(policy: str) -> bool:
    """True when a classic group with members may become a consumer-protocol group."""
    return policy.lower() in ("upgrade", "bidirectional")


def downgrade_enabled(policy: str) -> bool:
    """True when a consumer-protocol group of classic members may become classic again."""
    return policy.lower() in ("downgrade", "bidirectional")


@dataclass
class ClassicMemberMetadata:
    """What a classic member of a consumer-protocol group joined with (Kafka persists
    it in the member's ConsumerGroupMemberMetadataValue)."""

    session_timeout_ms: int
    # (protocol name, embedded subscription) in the member's order of preference
    protocols: list[tuple[str, bytes]] = field(default_factory=list)

    def first_protocol(self) -> str:
        """The protocol name the member is answered with (its first preference)."""
        return self.protocols[0][0] if self.protocols else ""

    def version(self) -> int:
        """The embedded protocol version of the member's first subscription."""
        if not self.protocols:
            return 0
        return embedded_version(self.protocols[0][1])


@dataclass
class Subscription:
    """A decoded embedded ConsumerProtocolSubscription."""

    topics: list[str]
    owned: list[tuple[str, list[int]]]
    rack_id: str | None


def embedded_version(data: bytes) -> int:
    """The version prefix of embedded consumer protocol data (ValueError if too short)."""
    if len(data) < 2:
        raise ValueError("embedded consumer protocol data too short")
    return _I16.unpack_from(data)[0]


def _clamp(version: int) -> int:
    if version < 0:
        raise ValueError(f"bad embedded consumer protocol version {version}")
    return min(version, _MAX_VERSION)


def decode_subscription(data: bytes) -> Subscription:
    """Decode a JoinGroup protocol's metadata (ValueError when it is malformed)."""
    version = _clamp(embedded_version(data))
    try:
        sub, _ = ConsumerProtocolSubscription.decode(memoryview(data), version, 2)
    except Exception as exc:  # the codec raises its own error types on short data
        raise ValueError(f"malformed subscription: {exc}") from exc
    owned = [(tp.topic, list(tp.partitions)) for tp in sub.owned_partitions]
    return Subscription(list(sub.topics), owned, sub.rack_id)


def decode_assignment(data: bytes) -> list[tuple[str, list[int]]]:
    """Decode a classic member's SyncGroup assignment; empty bytes mean no partitions."""
    if not data:
        return []
    version = _clamp(embedded_version(data))
    try:
        a, _ = ConsumerProtocolAssignment.decode(memoryview(data), version, 2)
    except Exception as exc:
        raise ValueError(f"malformed assignment: {exc}") from exc
    return [(tp.topic, list(tp.partitions)) for tp in a.assigned_partitions]


def encode_assignment(version: int, partitions: list[tuple[str, list[int]]]) -> bytes:
    """An embedded ConsumerProtocolAssignment at ``version`` (as the member subscribed)."""
    version = _clamp(version)
    A = ConsumerProtocolAssignment
    body = A(assigned_partitions=[A.TopicPartition(topic=t, partitions=sorted(ps)) for t, ps in partitions],
             user_data=None)
    return _I16.pack(version) + b"".join(bytes(b) for b in body.encode(version))


def to_ids(parts: list[tuple[str, list[int]]], lookup: TopicLookup) -> Assignment:
    """Topic names to topic ids; topics that no longer exist are dropped."""
    out: Assignment = {}
    for topic, ps in parts:
        found = lookup(topic)
        if found is not None and ps:
            out.setdefault(found[0], set()).update(ps)
    return out


def to_names(assignment: Assignment, names_by_id: dict[uuid.UUID, str]) -> list[tuple[str, list[int]]]:
    """Topic ids to topic names (sorted), for the embedded assignment."""
    out = []
    for tid, ps in assignment.items():
        name = names_by_id.get(tid)
        if name is not None and ps:
            out.append((name, sorted(ps)))
    return sorted(out)
