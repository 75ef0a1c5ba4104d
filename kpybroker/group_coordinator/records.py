"""Keys and values of __consumer_offsets records, in Kafka's schemas.

A key starts with an int16 schema version: 0/1 for an offset commit, 2 for group
metadata (3+ belong to the new consumer-group protocol and are skipped here). A
value likewise starts with its int16 version; a null value is a tombstone.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from wire.buffers import join
from wire.messages.internal import (
    ConsumerGroupCurrentMemberAssignmentKey,
    ConsumerGroupCurrentMemberAssignmentValue,
    ConsumerGroupMemberMetadataKey,
    ConsumerGroupMemberMetadataValue,
    ConsumerGroupMetadataKey,
    ConsumerGroupMetadataValue,
    ConsumerGroupPartitionMetadataKey,
    ConsumerGroupPartitionMetadataValue,
    ConsumerGroupTargetAssignmentMemberKey,
    ConsumerGroupTargetAssignmentMemberValue,
    ConsumerGroupTargetAssignmentMetadataKey,
    ConsumerGroupTargetAssignmentMetadataValue,
    GroupMetadataKey,
    GroupMetadataValue,
    OffsetCommitKey,
    OffsetCommitValue,
)

from .group import ClassicGroup, OffsetAndMetadata

OFFSET_COMMIT_KEY_VERSION = 1
GROUP_METADATA_KEY_VERSION = 2
# Kafka 3.x/4.x: v3 unless an explicit expire timestamp needs v1
OFFSET_COMMIT_VALUE_VERSION = 3
OFFSET_COMMIT_VALUE_VERSION_WITH_EXPIRY = 1
GROUP_METADATA_VALUE_VERSION = 3

_I16 = struct.Struct(">h")


def _with_version(version: int, body: object) -> bytes:
    return _I16.pack(version) + join(body.encode(version))  # type: ignore[attr-defined]


def offset_commit_key(group_id: str, topic: str, partition: int) -> bytes:
    return _with_version(
        OFFSET_COMMIT_KEY_VERSION,
        OffsetCommitKey(group=group_id, topic=topic, partition=partition),
    )


def offset_commit_value(om: OffsetAndMetadata) -> bytes:
    if om.expire_timestamp is not None:
        version = OFFSET_COMMIT_VALUE_VERSION_WITH_EXPIRY
        value = OffsetCommitValue(
            offset=om.offset,
            metadata=om.metadata,
            commit_timestamp=om.commit_timestamp,
            expire_timestamp=om.expire_timestamp,
        )
    else:
        version = OFFSET_COMMIT_VALUE_VERSION
        value = OffsetCommitValue(
            offset=om.offset,
            leader_epoch=om.leader_epoch,
            metadata=om.metadata,
            commit_timestamp=om.commit_timestamp,
        )
    return _with_version(version, value)


def group_metadata_key(group_id: str) -> bytes:
    return _with_version(GROUP_METADATA_KEY_VERSION, GroupMetadataKey(group=group_id))


def group_metadata_value(group: ClassicGroup, assignment: dict[str, bytes], now_ms: int) -> bytes:
    """The group as it stands after a rebalance (or as an empty generation)."""
    members = []
    protocol = group.protocol_name
    for m in group.members.values():
        members.append(
            GroupMetadataValue.MemberMetadata(
                member_id=m.member_id,
                group_instance_id=m.group_instance_id,
                client_id=m.client_id,
                client_host=m.client_host,
                rebalance_timeout=m.rebalance_timeout_ms,
                session_timeout=m.session_timeout_ms,
                subscription=m.metadata(protocol) if protocol is not None else b"",
                assignment=bytes(assignment.get(m.member_id, b"")),
            )
        )
    value = GroupMetadataValue(
        protocol_type=group.protocol_type or "",
        generation=group.generation_id,
        protocol=protocol,
        leader=group.leader_id,
        current_state_timestamp=now_ms,
        members=members,
    )
    return _with_version(GROUP_METADATA_VALUE_VERSION, value)


@dataclass(slots=True)
class OffsetRecord:
    """A decoded offset commit (value None for a tombstone)."""

    group_id: str
    topic: str
    partition: int
    value: OffsetAndMetadata | None


@dataclass(slots=True)
class GroupRecord:
    """A decoded group metadata record (value None for a tombstone)."""

    group_id: str
    value: GroupMetadataValue | None


def decode_record(
    key: bytes | memoryview | None, value: bytes | memoryview | None
) -> OffsetRecord | GroupRecord | ConsumerGroupRecord | None:
    """Decode one __consumer_offsets record; None for keys this coordinator does not own."""
    if key is None or len(key) < 2:
        return None
    kbuf = memoryview(bytes(key))
    kversion = _I16.unpack_from(kbuf, 0)[0]
    if kversion in (0, 1):
        k, _ = OffsetCommitKey.decode(kbuf, kversion, 2)
        if value is None:
            return OffsetRecord(k.group, k.topic, k.partition, None)
        vbuf = memoryview(bytes(value))
        vversion = _I16.unpack_from(vbuf, 0)[0]
        v, _ = OffsetCommitValue.decode(vbuf, min(vversion, OffsetCommitValue.MAX_VERSION), 2)
        expire = v.expire_timestamp if vversion == 1 and v.expire_timestamp != -1 else None
        om = OffsetAndMetadata(
            offset=v.offset,
            leader_epoch=v.leader_epoch if vversion >= 3 else -1,
            metadata=v.metadata,
            commit_timestamp=v.commit_timestamp,
            expire_timestamp=expire,
        )
        return OffsetRecord(k.group, k.topic, k.partition, om)
    if kversion == 2:
        k, _ = GroupMetadataKey.decode(kbuf, kversion, 2)
        if value is None:
            return GroupRecord(k.group, None)
        vbuf = memoryview(bytes(value))
        vversion = _I16.unpack_from(vbuf, 0)[0]
        v, _ = GroupMetadataValue.decode(vbuf, min(vversion, GroupMetadataValue.MAX_VERSION), 2)
        return GroupRecord(k.group, v)
    if kversion in _CG_KEYS:
        return decode_cg_record(kversion, kbuf, value)
    return None


# --- consumer-protocol groups (KIP-848): key versions 3 to 8, values at version 0 ---

CG_METADATA = 3
CG_PARTITION_METADATA = 4
CG_MEMBER_METADATA = 5
CG_TARGET_ASSIGNMENT_METADATA = 6
CG_TARGET_ASSIGNMENT_MEMBER = 7
CG_CURRENT_MEMBER_ASSIGNMENT = 8

_CG_KEYS = {
    CG_METADATA: ConsumerGroupMetadataKey,
    CG_PARTITION_METADATA: ConsumerGroupPartitionMetadataKey,
    CG_MEMBER_METADATA: ConsumerGroupMemberMetadataKey,
    CG_TARGET_ASSIGNMENT_METADATA: ConsumerGroupTargetAssignmentMetadataKey,
    CG_TARGET_ASSIGNMENT_MEMBER: ConsumerGroupTargetAssignmentMemberKey,
    CG_CURRENT_MEMBER_ASSIGNMENT: ConsumerGroupCurrentMemberAssignmentKey,
}
_CG_VALUES = {
    CG_METADATA: ConsumerGroupMetadataValue,
    CG_PARTITION_METADATA: ConsumerGroupPartitionMetadataValue,
    CG_MEMBER_METADATA: ConsumerGroupMemberMetadataValue,
    CG_TARGET_ASSIGNMENT_METADATA: ConsumerGroupTargetAssignmentMetadataValue,
    CG_TARGET_ASSIGNMENT_MEMBER: ConsumerGroupTargetAssignmentMemberValue,
    CG_CURRENT_MEMBER_ASSIGNMENT: ConsumerGroupCurrentMemberAssignmentValue,
}


def cg_key(kind: int, group_id: str, member_id: str | None = None) -> bytes:
    cls = _CG_KEYS[kind]
    key = cls(group_id=group_id) if member_id is None else cls(group_id=group_id, member_id=member_id)
    return _with_version(kind, key)


def cg_value(value: object) -> bytes:
    return _with_version(0, value)


def cg_metadata_value(epoch: int) -> bytes:
    return cg_value(ConsumerGroupMetadataValue(epoch=epoch))


def cg_partition_metadata_value(meta: dict) -> bytes:
    V = ConsumerGroupPartitionMetadataValue
    return cg_value(V(topics=[
        V.TopicMetadata(topic_id=tid, topic_name=name, num_partitions=n, partition_metadata=[])
        for name, (tid, n) in sorted(meta.items())
    ]))


def cg_member_metadata_value(m: object) -> bytes:
    return cg_value(ConsumerGroupMemberMetadataValue(
        instance_id=m.instance_id,  # type: ignore[attr-defined]
        rack_id=m.rack_id,  # type: ignore[attr-defined]
        client_id=m.client_id,  # type: ignore[attr-defined]
        client_host=m.client_host,  # type: ignore[attr-defined]
        subscribed_topic_names=sorted(m.subscribed_topic_names),  # type: ignore[attr-defined]
        subscribed_topic_regex=m.subscribed_topic_regex,  # type: ignore[attr-defined]
        rebalance_timeout_ms=m.rebalance_timeout_ms,  # type: ignore[attr-defined]
        server_assignor=m.server_assignor,  # type: ignore[attr-defined]
        classic_member_metadata=_classic_metadata(m.classic),  # type: ignore[attr-defined]
    ))


def _classic_metadata(classic: object) -> object:
    """A classic member's session timeout and JoinGroup protocols, or None."""
    if classic is None:
        return None
    V = ConsumerGroupMemberMetadataValue
    return V.ClassicMemberMetadata(
        session_timeout_ms=classic.session_timeout_ms,  # type: ignore[attr-defined]
        supported_protocols=[V.ClassicProtocol(name=n, metadata=meta)
                             for n, meta in classic.protocols],  # type: ignore[attr-defined]
    )


def cg_target_metadata_value(assignment_epoch: int) -> bytes:
    return cg_value(ConsumerGroupTargetAssignmentMetadataValue(assignment_epoch=assignment_epoch))


def _tps(cls: type, assignment: dict) -> list:
    return [cls(topic_id=t, partitions=sorted(ps)) for t, ps in sorted(assignment.items(), key=lambda kv: str(kv[0]))]


def cg_target_member_value(assignment: dict) -> bytes:
    V = ConsumerGroupTargetAssignmentMemberValue
    return cg_value(V(topic_partitions=_tps(V.TopicPartition, assignment)))


def cg_current_assignment_value(m: object, state_code: int) -> bytes:
    V = ConsumerGroupCurrentMemberAssignmentValue
    return cg_value(V(
        member_epoch=m.member_epoch,  # type: ignore[attr-defined]
        previous_member_epoch=m.previous_member_epoch,  # type: ignore[attr-defined]
        state=state_code,
        assigned_partitions=_tps(V.TopicPartitions, m.assigned),  # type: ignore[attr-defined]
        partitions_pending_revocation=_tps(V.TopicPartitions, m.pending_revocation),  # type: ignore[attr-defined]
    ))


@dataclass(slots=True)
class ConsumerGroupRecord:
    """A decoded consumer-protocol group record (value None for a tombstone)."""

    kind: int
    group_id: str
    member_id: str | None
    value: object | None


def decode_cg_record(kversion: int, kbuf: memoryview, value: bytes | memoryview | None) -> ConsumerGroupRecord:
    key, _ = _CG_KEYS[kversion].decode(kbuf, kversion, 2)
    member_id = getattr(key, "member_id", None)
    if value is None:
        return ConsumerGroupRecord(kversion, key.group_id, member_id, None)
    vbuf = memoryview(bytes(value))
    vcls = _CG_VALUES[kversion]
    v, _ = vcls.decode(vbuf, min(_I16.unpack_from(vbuf, 0)[0], vcls.MAX_VERSION), 2)
    return ConsumerGroupRecord(kversion, key.group_id, member_id, v)
