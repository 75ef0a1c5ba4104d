"""The group coordinator: classic and KIP-848 consumer groups, committed offsets,
all kept in __consumer_offsets with Kafka's record schemas."""

from .coordinator import GroupConfig, GroupCoordinator, GroupSummary, ListedGroup, MemberSummary
from .group import (
    ClassicGroup,
    ClassicGroupMember,
    GroupState,
    JoinResult,
    OffsetAndMetadata,
    SyncResult,
)
from .hashing import java_string_hash, partition_for
from .storage import GROUP_METADATA_TOPIC, MemoryOffsetsLog, ReplicaManagerOffsetsLog

__all__ = [
    "GROUP_METADATA_TOPIC",
    "ClassicGroup",
    "ClassicGroupMember",
    "GroupConfig",
    "GroupCoordinator",
    "GroupState",
    "GroupSummary",
    "JoinResult",
    "ListedGroup",
    "MemberSummary",
    "MemoryOffsetsLog",
    "OffsetAndMetadata",
    "ReplicaManagerOffsetsLog",
    "SyncResult",
    "java_string_hash",
    "partition_for",
]
