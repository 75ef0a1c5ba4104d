"""The classic group coordinator: rebalances, heartbeats, committed offsets.

Theory of operation
-------------------
Every group lives in one partition of __consumer_offsets (`partition_for`); this
broker coordinates the groups of the partitions it leads. When it becomes leader of
such a partition it replays the partition's records to rebuild those groups and
their offsets (requests for them get COORDINATOR_LOAD_IN_PROGRESS meanwhile).

State changes are synchronous (trio runs one task at a time, so there is nothing to
lock); requests that must wait for other members (JoinGroup until the rebalance
completes, SyncGroup until the leader's assignment is stored) await a `Waiter` that
the state machine fills in. Kafka's purgatories become keyed deadlines on one
`TimerQueue`: the delayed join of a rebalance, each member's session, the pending
members that got MEMBER_ID_REQUIRED, the members expected to send SyncGroup, and the
periodic offset-retention sweep.

Writes to the log are awaited; after each await the state is checked again, since
other requests may have moved the group on meanwhile (exactly where Kafka re-checks
in its append callbacks). Committed offsets become visible only after their append
succeeded.

Groups of the new consumer protocol (KIP-848, `consumer_group.py`) live in the same
table: ConsumerGroupHeartbeat computes their assignment on the broker, and their
epochs, members and assignments are written with Kafka's record schemas (key
versions 3-8) so they too survive a restart. An empty group may switch protocol;
one with members migrates online as in Kafka 4 (`migration.py`,
group.consumer.migration.policy): a consumer-protocol heartbeat upgrades a classic
group whose classic members stay on, speaking JoinGroup/SyncGroup/Heartbeat to the
consumer group, and when its last consumer-protocol member leaves it is downgraded
to a classic group that rebalances.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

import trio

from wire.errors import ErrorCode

from . import records as rec
from .consumer_group import (
    Assignment,
    ConsumerGroup,
    ConsumerGroupMember,
    MemberState,
    changed_records,
    current_assignment_record,
    is_subset,
    member_tombstones,
    snapshot,
)
from .group import (
    CONSUMER_PROTOCOL_TYPE,
    ClassicGroup,
    ClassicGroupMember,
    GroupState,
    JoinResult,
    OffsetAndMetadata,
    SyncResult,
    Waiter,
)
from .hashing import partition_for
from .migration import (
    ClassicMemberMetadata,
    decode_assignment,
    decode_subscription,
    downgrade_enabled,
    embedded_version,
    encode_assignment,
    to_ids,
    to_names,
    upgrade_enabled,
)
from .storage import GROUP_METADATA_TOPIC, MemoryOffsetsLog, OffsetsLog, ReplicaManagerOffsetsLog
from .timers import TimerQueue

log = logging.getLogger(__name__)

UNKNOWN_MEMBER_ID = ""
NO_GENERATION = -1
# Kafka times out a new member's JoinGroup after this long, so defunct joiners go away
NEW_MEMBER_JOIN_TIMEOUT_MS = 300_000

_LOADING = "loading"
_ACTIVE = "active"

# Kafka's ACL operation codes allowed on a group: READ, DELETE, DESCRIBE
GROUP_AUTHORIZED_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8)


@dataclass(frozen=True, slots=True)
class GroupConfig:
    """The broker settings the coordinator obeys, by Kafka's names."""

    num_partitions: int = 50
    replication_factor: int = 3
    segment_bytes: int = 104_857_600
    compression: int = 0
    min_session_timeout_ms: int = 6000
    max_session_timeout_ms: int = 1_800_000
    initial_rebalance_delay_ms: int = 3000
    max_size: int = 2_147_483_647
    offset_metadata_max_bytes: int = 4096
    offsets_retention_ms: int = 10_080 * 60_000
    offsets_retention_check_interval_ms: int = 600_000
    offsets_commit_timeout_ms: int = 5000
    consumer_session_timeout_ms: int = 45_000
    consumer_heartbeat_interval_ms: int = 5000
    consumer_max_size: int = 2_147_483_647
    consumer_assignors: tuple[str, ...] = ("uniform", "range")
    consumer_migration_policy: str = "bidirectional"

    @classmethod
    def from_broker_config(cls, config: Any) -> GroupConfig:
        def get(name: str, default: Any, convert: Callable[[Any], Any] = int) -> Any:
            if config is None:
                return default
            try:
                value = config.get(name)
            except (KeyError, AttributeError, ValueError):
                return default
            return default if value is None else convert(value)

        d = cls()
        return cls(
            num_partitions=get("offsets.topic.num.partitions", d.num_partitions),
            replication_factor=get("offsets.topic.replication.factor", d.replication_factor),
            segment_bytes=get("offsets.topic.segment.bytes", d.segment_bytes),
            compression=get("offsets.topic.compression.codec", d.compression),
            min_session_timeout_ms=get("group.min.session.timeout.ms", d.min_session_timeout_ms),
            max_session_timeout_ms=get("group.max.session.timeout.ms", d.max_session_timeout_ms),
            initial_rebalance_delay_ms=get(
                "group.initial.rebalance.delay.ms", d.initial_rebalance_delay_ms
            ),
            max_size=get("group.max.size", d.max_size),
            offset_metadata_max_bytes=get("offset.metadata.max.bytes", d.offset_metadata_max_bytes),
            offsets_retention_ms=get("offsets.retention.minutes", 10_080) * 60_000,
            offsets_retention_check_interval_ms=get(
                "offsets.retention.check.interval.ms", d.offsets_retention_check_interval_ms
            ),
            offsets_commit_timeout_ms=get("offsets.commit.timeout.ms", d.offsets_commit_timeout_ms),
            consumer_session_timeout_ms=get(
                "group.consumer.session.timeout.ms", d.consumer_session_timeout_ms
            ),
            consumer_heartbeat_interval_ms=get(
                "group.consumer.heartbeat.interval.ms", d.consumer_heartbeat_interval_ms
            ),
            consumer_max_size=get("group.consumer.max.size", d.consumer_max_size),
            consumer_migration_policy=get("group.consumer.migration.policy", d.consumer_migration_policy,
                                          lambda v: str(v).lower()),
        )


@dataclass(slots=True)
class MemberSummary:
    """One member as DescribeGroups shows it."""

    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    metadata: bytes
    assignment: bytes


@dataclass(slots=True)
class GroupSummary:
    """A group as DescribeGroups shows it."""

    error: ErrorCode
    state: str
    protocol_type: str
    protocol: str
    members: list[MemberSummary]
    message: str | None = None


@dataclass(slots=True)
class ConsumerHeartbeatResult:
    """What a ConsumerGroupHeartbeat request is answered with."""

    error: ErrorCode
    message: str | None
    member_id: str | None
    member_epoch: int
    heartbeat_interval_ms: int = 0
    assignment: Assignment | None = None


@dataclass(slots=True)
class ListedGroup:
    """A group as ListGroups shows it."""

    group_id: str
    protocol_type: str
    state: str
    group_type: str = "classic"


def _inconsistent(requested: str | None, current: str | None) -> bool:
    return requested is not None and current is not None and requested != current


def map_offsets_append_error(code: ErrorCode) -> ErrorCode:
    """The error a client gets when an append to __consumer_offsets failed with `code`.

    One table for every write of the group coordinator (group metadata for JoinGroup,
    SyncGroup and ConsumerGroupHeartbeat, OffsetCommit, TxnOffsetCommit), as in Kafka
    4's new group coordinator: `CoordinatorOperationExceptionHelper.handleOperationException`
    and `GroupMetadataManager.appendGroupMetadataErrorToResponseError` agree on these
    codes. (Kafka 3's classic coordinator differed per path: a timed-out group store
    gave REBALANCE_IN_PROGRESS, a timed-out commit REQUEST_TIMED_OUT, and an oversized
    commit INVALID_COMMIT_OFFSET_SIZE.)

    NOT_ENOUGH_REPLICAS_AFTER_APPEND is not in Kafka 4's table because its coordinator
    appends with acks=1 and then waits for the high watermark, so a write that is not
    replicated in time ends as a timeout; we append with acks=-1, so it maps like that
    timeout.
    """
    if code in (
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.NOT_ENOUGH_REPLICAS,
        ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        ErrorCode.REQUEST_TIMED_OUT,
    ):
        return ErrorCode.COORDINATOR_NOT_AVAILABLE
    if code in (ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.KAFKA_STORAGE_ERROR):
        return ErrorCode.NOT_COORDINATOR
    if code in (
        ErrorCode.MESSAGE_TOO_LARGE,
        ErrorCode.RECORD_LIST_TOO_LARGE,
        ErrorCode.INVALID_FETCH_SIZE,
    ):
        return ErrorCode.UNKNOWN_SERVER_ERROR
    return code


class GroupCoordinator:
    """Kafka's group coordinator (classic groups, and consumer-protocol groups of
    KIP-848) for the __consumer_offsets partitions this broker leads.

    The broker constructs it with `GroupCoordinator(broker)`, runs `run` in its
    nursery (`await nursery.start(coordinator.run)`), and calls
    `on_partition_leader(p)` / `on_partition_resigned(p)` as leadership of
    __consumer_offsets partitions changes. Tests may pass `config` and `log`
    instead of a broker.
    """

    def __init__(
        self,
        broker: Any = None,
        *,
        config: GroupConfig | None = None,
        log: OffsetsLog | None = None,
        topic_lookup: Any = None,
        topic_names: Any = None,
    ) -> None:
        self.broker = broker
        self.topic_lookup = topic_lookup
        self.topic_names = topic_names
        self.config = config or GroupConfig.from_broker_config(getattr(broker, "config", None))
        if log is None:
            log = (
                ReplicaManagerOffsetsLog(
                    broker,
                    compression=self.config.compression,
                    timeout_ms=self.config.offsets_commit_timeout_ms,
                )
                if broker is not None
                else MemoryOffsetsLog()
            )
        self.log = log
        self.timers = TimerQueue()
        self.groups: dict[str, ClassicGroup | ConsumerGroup] = {}
        self._partitions: dict[int, str] = {}
        self._num_partitions: int | None = None
        self._nursery: trio.Nursery | None = None
        self.active = False

    # ------------------------------------------------------------------ lifecycle

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Fire the coordinator's deadlines until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self.timers.run)
            self._schedule_offset_expiry()
            self.active = True
            # a single broker leads every partition it hosts: load them all up front
            rm = getattr(self.broker, "replica_manager", None)
            if rm is not None:
                for part in rm.partitions():
                    if part.topic == GROUP_METADATA_TOPIC:
                        self.load_partition_soon(part.partition)
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                self.active = False
                self._nursery = None
                self._abort_waiters(ErrorCode.COORDINATOR_NOT_AVAILABLE)

    def shutdown(self) -> None:
        """The broker is stopping: answer every waiting request."""
        self.active = False
        self._abort_waiters(ErrorCode.COORDINATOR_NOT_AVAILABLE)

    def _spawn(self, fn: Any, *args: Any) -> None:
        if self._nursery is not None:
            self._nursery.start_soon(self._guarded, fn, *args)

    async def _guarded(self, fn: Any, *args: Any) -> None:
        # A bug in one group's background work must not take the whole broker down.
        try:
            await fn(*args)
        except Exception:
            log.exception("group coordinator task %s failed", getattr(fn, "__name__", fn))

    def now_ms(self) -> int:
        if self.broker is not None and hasattr(self.broker, "now_ms"):
            return int(self.broker.now_ms())
        return int(trio.current_time() * 1000)

    def partition_for(self, group_id: str) -> int:
        return partition_for(group_id, self._offsets_partition_count())

    def _offsets_partition_count(self) -> int:
        # the topic, once it exists, decides (as in Kafka): the config may have changed since
        if self._num_partitions is None:
            store = getattr(self.broker, "metadata", None)
            topic = store.get_topic(GROUP_METADATA_TOPIC) if store is not None else None
            if topic is None or not topic.partitions:
                return self.config.num_partitions
            self._num_partitions = len(topic.partitions)
        return self._num_partitions

    def is_loading(self, partition: int) -> bool:
        return self._partitions.get(partition) == _LOADING

    def owns(self, partition: int) -> bool:
        return self._partitions.get(partition) == _ACTIVE

    async def on_partition_leader(self, partition: int) -> None:
        """This broker now leads `partition` of __consumer_offsets: load its groups."""
        if partition in self._partitions:
            return
        self._partitions[partition] = _LOADING
        try:
            await self._load_partition(partition)
        except BaseException:
            self._partitions.pop(partition, None)
            raise
        if self._partitions.get(partition) == _LOADING:
            self._partitions[partition] = _ACTIVE

    async def on_partition_resigned(self, partition: int) -> None:
        """Another broker leads `partition` now: forget its groups (the log keeps them)."""
        self._partitions.pop(partition, None)
        for group_id in [g for g in self.groups if self.partition_for(g) == partition]:
            group = self.groups.pop(group_id)
            self._abort_group_waiters(group, ErrorCode.NOT_COORDINATOR)
            self._cancel_group_timers(group)

    def load_partition_soon(self, partition: int) -> None:
        """Start loading in the background (used when leadership is noticed lazily)."""
        if partition not in self._partitions and self._nursery is not None:
            self._partitions[partition] = _LOADING
            self._nursery.start_soon(self._load_then_activate, partition)

    async def _load_then_activate(self, partition: int) -> None:
        try:
            await self._load_partition(partition)
        except Exception:
            log.exception("loading __consumer_offsets-%d failed", partition)
            self._partitions.pop(partition, None)
            return
        if self._partitions.get(partition) == _LOADING:
            self._partitions[partition] = _ACTIVE

    async def _load_partition(self, partition: int) -> None:
        offsets: dict[str, dict[tuple[str, int], OffsetAndMetadata]] = {}
        metadata: dict[str, Any] = {}
        cg_records: dict[str, dict[tuple[int, str | None], Any]] = {}
        count = 0
        for key, value in self.log.read(partition):
            try:
                decoded = rec.decode_record(key, value)
            except Exception:
                log.warning("skipping an undecodable record in __consumer_offsets-%d", partition)
                continue
            if isinstance(decoded, rec.OffsetRecord):
                per_group = offsets.setdefault(decoded.group_id, {})
                tp = (decoded.topic, decoded.partition)
                if decoded.value is None:
                    per_group.pop(tp, None)
                else:
                    per_group[tp] = decoded.value
            elif isinstance(decoded, rec.GroupRecord):
                metadata[decoded.group_id] = decoded.value
            elif isinstance(decoded, rec.ConsumerGroupRecord):
                per = cg_records.setdefault(decoded.group_id, {})
                per[(decoded.kind, decoded.member_id)] = decoded.value
            count += 1
            if count % 1000 == 0:
                await trio.lowlevel.checkpoint()
        for group_id, per in cg_records.items():
            cg = self._restore_consumer_group(group_id, per)
            if cg is not None:
                cg.offsets = dict(offsets.pop(group_id, {}))
                self.groups[group_id] = cg
                metadata.pop(group_id, None)
        for group_id in set(offsets) | set(metadata):
            value = metadata.get(group_id)
            group_offsets = offsets.get(group_id, {})
            if value is None and not group_offsets:
                continue
            group = self._restore_group(group_id, value)
            group.offsets = dict(group_offsets)
            self.groups[group_id] = group

    def _restore_consumer_group(self, group_id: str, per: dict) -> ConsumerGroup | None:
        meta = per.get((rec.CG_METADATA, None))
        if meta is None:
            return None
        cg = ConsumerGroup(group_id)
        cg.group_epoch = meta.epoch
        pm = per.get((rec.CG_PARTITION_METADATA, None))
        if pm is not None:
            cg.subscription_metadata = {t.topic_name: (t.topic_id, t.num_partitions) for t in pm.topics}
        tm = per.get((rec.CG_TARGET_ASSIGNMENT_METADATA, None))
        cg.assignment_epoch = tm.assignment_epoch if tm is not None else 0
        states = {0: MemberState.STABLE, 1: MemberState.UNREVOKED_PARTITIONS,
                  2: MemberState.UNRELEASED_PARTITIONS}
        for (kind, member_id), value in per.items():
            if kind != rec.CG_MEMBER_METADATA or value is None or member_id is None:
                continue
            m = ConsumerGroupMember(
                member_id,
                instance_id=value.instance_id,
                rack_id=value.rack_id,
                client_id=value.client_id,
                client_host=value.client_host,
                rebalance_timeout_ms=value.rebalance_timeout_ms,
                subscribed_topic_names=list(value.subscribed_topic_names),
                subscribed_topic_regex=value.subscribed_topic_regex,
                server_assignor=value.server_assignor,
            )
            cmm = value.classic_member_metadata
            if cmm is not None:
                m.classic = ClassicMemberMetadata(
                    cmm.session_timeout_ms, [(p.name, bytes(p.metadata)) for p in cmm.supported_protocols])
            cur = per.get((rec.CG_CURRENT_MEMBER_ASSIGNMENT, member_id))
            if cur is not None:
                m.member_epoch = cur.member_epoch
                m.previous_member_epoch = cur.previous_member_epoch
                m.state = states.get(cur.state, MemberState.STABLE)
                m.assigned = {t.topic_id: set(t.partitions) for t in cur.assigned_partitions if t.partitions}
                m.pending_revocation = {
                    t.topic_id: set(t.partitions) for t in cur.partitions_pending_revocation if t.partitions
                }
            target = per.get((rec.CG_TARGET_ASSIGNMENT_MEMBER, member_id))
            if target is not None:
                cg.target[member_id] = {t.topic_id: set(t.partitions) for t in target.topic_partitions if t.partitions}
            cg.members[member_id] = m
            if m.instance_id is not None:
                cg.static_members[m.instance_id] = member_id
        for member_id in cg.members:
            self._schedule_consumer_session(cg, member_id)
        return cg

    def _restore_group(self, group_id: str, value: Any) -> ClassicGroup:
        group = ClassicGroup(group_id, GroupState.EMPTY)
        if value is None:
            return group
        group.protocol_type = value.protocol_type or None
        group.generation_id = value.generation
        group.protocol_name = value.protocol
        group.leader_id = value.leader
        ts = getattr(value, "current_state_timestamp", -1)
        group.current_state_timestamp = ts if ts is not None and ts >= 0 else None
        for m in value.members:
            member = ClassicGroupMember(
                m.member_id,
                m.group_instance_id,
                m.client_id,
                m.client_host,
                m.rebalance_timeout if m.rebalance_timeout >= 0 else m.session_timeout,
                m.session_timeout,
                group.protocol_type or "",
                [(group.protocol_name or "", bytes(m.subscription))],
            )
            member.assignment = bytes(m.assignment)
            group.members[member.member_id] = member
            if member.group_instance_id is not None:
                group.static_members[member.group_instance_id] = member.member_id
            for name in member.protocol_names():
                group.supported_protocols[name] = group.supported_protocols.get(name, 0) + 1
        group.subscribed_topics = group.compute_subscribed_topics()
        if group.members:
            group.state = GroupState.STABLE
            for member in group.members.values():
                self._schedule_heartbeat(group, member)
        else:
            group.leader_id = None
        return group

    # ------------------------------------------------------------------ validation

    def _validate(self, group_id: str | None, *, allow_empty: bool = False) -> ErrorCode | None:
        if group_id is None or (group_id == "" and not allow_empty):
            return ErrorCode.INVALID_GROUP_ID
        if not self.active:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        partition = self.partition_for(group_id)
        state = self._partitions.get(partition)
        if state == _LOADING:
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
        if state is None:
            if self._leads_locally(partition):
                self.load_partition_soon(partition)
                return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
            return ErrorCode.NOT_COORDINATOR
        return None

    def _leads_locally(self, partition: int) -> bool:
        rm = getattr(self.broker, "replica_manager", None)
        if rm is None:
            return False
        part = rm.get_partition(GROUP_METADATA_TOPIC, partition)
        if part is None:
            return False
        leader = getattr(part, "leader_id", None)
        broker_id = getattr(self.broker, "broker_id", None)
        return leader is None or broker_id is None or leader == broker_id

    # ------------------------------------------------------------------ join

    async def join_group(
        self,
        group_id: str,
        member_id: str,
        group_instance_id: str | None,
        client_id: str,
        client_host: str,
        rebalance_timeout_ms: int,
        session_timeout_ms: int,
        protocol_type: str,
        protocols: list[tuple[str, bytes]],
        *,
        require_known_member_id: bool = True,
        supports_skip_assignment: bool = False,
    ) -> JoinResult:
        """Handle one JoinGroup; waits while the rebalance is in progress."""
        error = self._validate(group_id)
        if error is not None:
            return JoinResult(error=error, member_id=member_id)
        if not (
            self.config.min_session_timeout_ms
            <= session_timeout_ms
            <= self.config.max_session_timeout_ms
        ):
            return JoinResult(error=ErrorCode.INVALID_SESSION_TIMEOUT, member_id=member_id)
        is_unknown = member_id == UNKNOWN_MEMBER_ID
        group = self.groups.get(group_id)
        if isinstance(group, ConsumerGroup):
            if group.members:
                return await self._classic_join_consumer_group(
                    group, member_id, group_instance_id, client_id, client_host,
                    rebalance_timeout_ms, session_timeout_ms, protocol_type, protocols,
                    require_known_member_id)
            group = self._replace_with_classic(group)
        if group is None:
            if not is_unknown:
                return JoinResult(error=ErrorCode.UNKNOWN_MEMBER_ID, member_id=member_id)
            group = ClassicGroup(group_id, GroupState.EMPTY, self.now_ms())
            self.groups[group_id] = group
        protocols = [(name, bytes(meta)) for name, meta in protocols]

        if not self._accept_joining_member(group, member_id):
            group.remove(member_id)
            self._cancel_member_timers(group, member_id)
            result = JoinResult(error=ErrorCode.GROUP_MAX_SIZE_REACHED, member_id=UNKNOWN_MEMBER_ID)
            waiter = None
        elif is_unknown:
            result, waiter = self._new_member_join(
                group,
                group_instance_id,
                client_id,
                client_host,
                rebalance_timeout_ms,
                session_timeout_ms,
                protocol_type,
                protocols,
                require_known_member_id,
                supports_skip_assignment,
            )
        else:
            result, waiter = self._current_member_join(
                group,
                member_id,
                group_instance_id,
                client_id,
                client_host,
                rebalance_timeout_ms,
                session_timeout_ms,
                protocol_type,
                protocols,
            )
        if group.is_in(GroupState.PREPARING_REBALANCE):
            self._check_join_complete(group)
        if result is not None:
            return result
        assert waiter is not None
        return await waiter.wait()

    def _replace_with_classic(self, group: ConsumerGroup) -> ClassicGroup:
        """An empty consumer-protocol group becomes classic again, keeping its offsets."""
        classic = ClassicGroup(group.group_id, GroupState.EMPTY, self.now_ms())
        classic.offsets = group.offsets
        self.groups[group.group_id] = classic
        return classic

    def _classic(self, group_id: str) -> ClassicGroup | None:
        group = self.groups.get(group_id)
        return group if isinstance(group, ClassicGroup) else None

    def _accept_joining_member(self, group: ClassicGroup, member_id: str) -> bool:
        if group.state in (GroupState.EMPTY, GroupState.DEAD):
            return True
        if group.is_in(GroupState.PREPARING_REBALANCE):
            return (
                group.has(member_id) and group.get(member_id).is_awaiting_join
            ) or group.num_members_awaiting_join < self.config.max_size
        return group.has(member_id) or group.size() < self.config.max_size

    def _new_member_join(
        self,
        group: ClassicGroup,
        group_instance_id: str | None,
        client_id: str,
        client_host: str,
        rebalance_timeout_ms: int,
        session_timeout_ms: int,
        protocol_type: str,
        protocols: list[tuple[str, bytes]],
        require_known_member_id: bool,
        supports_skip_assignment: bool,
    ) -> tuple[JoinResult | None, Waiter | None]:
        if group.is_in(GroupState.DEAD):
            return JoinResult(ErrorCode.COORDINATOR_NOT_AVAILABLE, UNKNOWN_MEMBER_ID), None
        if not group.supports_protocols(protocol_type, [n for n, _ in protocols]):
            return JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, UNKNOWN_MEMBER_ID), None
        new_member_id = group.generate_member_id(client_id, group_instance_id)
        if group_instance_id is not None:
            old_member_id = group.static_member_id(group_instance_id)
            if old_member_id is not None:
                return self._update_static_member_and_rebalance(
                    group,
                    old_member_id,
                    new_member_id,
                    group_instance_id,
                    protocols,
                    rebalance_timeout_ms,
                    session_timeout_ms,
                    supports_skip_assignment,
                )
            return None, self._add_member_and_rebalance(
                group,
                new_member_id,
                group_instance_id,
                client_id,
                client_host,
                rebalance_timeout_ms,
                session_timeout_ms,
                protocol_type,
                protocols,
            )
        if require_known_member_id:
            # the member must come back with this id: until then it only holds a place
            group.pending_members.add(new_member_id)
            self._schedule_pending_member(group, new_member_id, session_timeout_ms)
            return JoinResult(ErrorCode.MEMBER_ID_REQUIRED, new_member_id), None
        return None, self._add_member_and_rebalance(
            group,
            new_member_id,
            None,
            client_id,
            client_host,
            rebalance_timeout_ms,
            session_timeout_ms,
            protocol_type,
            protocols,
        )

    def _current_member_join(
        self,
        group: ClassicGroup,
        member_id: str,
        group_instance_id: str | None,
        client_id: str,
        client_host: str,
        rebalance_timeout_ms: int,
        session_timeout_ms: int,
        protocol_type: str,
        protocols: list[tuple[str, bytes]],
    ) -> tuple[JoinResult | None, Waiter | None]:
        if group.is_in(GroupState.DEAD):
            return JoinResult(ErrorCode.COORDINATOR_NOT_AVAILABLE, member_id), None
        if not group.supports_protocols(protocol_type, [n for n, _ in protocols]):
            return JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, member_id), None
        if group.is_pending_member(member_id):
            if group_instance_id is not None:
                # a static member never gets MEMBER_ID_REQUIRED, so it cannot be pending
                return JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id), None
            self.timers.cancel(("pending", group.group_id, member_id))
            return None, self._add_member_and_rebalance(
                group,
                member_id,
                None,
                client_id,
                client_host,
                rebalance_timeout_ms,
                session_timeout_ms,
                protocol_type,
                protocols,
            )
        instance_not_found = group_instance_id is not None and not group.has_static_member(
            group_instance_id
        )
        if group.is_static_member_fenced(group_instance_id, member_id):
            return JoinResult(ErrorCode.FENCED_INSTANCE_ID, member_id), None
        if not group.has(member_id) or instance_not_found:
            return JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id), None
        member = group.get(member_id)
        state = group.state
        if state is GroupState.PREPARING_REBALANCE:
            return None, self._update_member_and_rebalance(
                group, member, protocols, rebalance_timeout_ms, session_timeout_ms
            )
        if state is GroupState.COMPLETING_REBALANCE:
            if member.matches(protocols):
                # it probably missed the JoinGroup answer: give it again
                return (
                    JoinResult(
                        error=ErrorCode.NONE,
                        member_id=member_id,
                        generation_id=group.generation_id,
                        protocol_type=group.protocol_type,
                        protocol_name=group.protocol_name,
                        leader_id=group.leader_id or "",
                        members=group.current_member_metadata()
                        if group.is_leader(member_id)
                        else [],
                    ),
                    None,
                )
            return None, self._update_member_and_rebalance(
                group, member, protocols, rebalance_timeout_ms, session_timeout_ms
            )
        if state is GroupState.STABLE:
            # the leader may rejoin to force a rebalance (e.g. topic metadata changed)
            if group.is_leader(member_id) or not member.matches(protocols):
                return None, self._update_member_and_rebalance(
                    group, member, protocols, rebalance_timeout_ms, session_timeout_ms
                )
            return (
                JoinResult(
                    error=ErrorCode.NONE,
                    member_id=member_id,
                    generation_id=group.generation_id,
                    protocol_type=group.protocol_type,
                    protocol_name=group.protocol_name,
                    leader_id=group.leader_id or "",
                ),
                None,
            )
        # Empty (or Dead): the member should forget its generation and join afresh
        return JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id), None

    def _add_member_and_rebalance(
        self,
        group: ClassicGroup,
        member_id: str,
        group_instance_id: str | None,
        client_id: str,
        client_host: str,
        rebalance_timeout_ms: int,
        session_timeout_ms: int,
        protocol_type: str,
        protocols: list[tuple[str, bytes]],
    ) -> Waiter:
        member = ClassicGroupMember(
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms,
            session_timeout_ms,
            protocol_type,
            protocols,
        )
        member.is_new = True
        # during the very first rebalance, another arrival extends the initial delay
        if (
            group.is_in(GroupState.PREPARING_REBALANCE)
            and group.previous_state is GroupState.EMPTY
        ):
            group.new_member_added = True
        waiter = Waiter()
        group.add(member, waiter)
        # a new member cannot heartbeat yet; bound how long its JoinGroup may linger
        self._schedule_heartbeat(group, member, NEW_MEMBER_JOIN_TIMEOUT_MS)
        self._maybe_prepare_rebalance(group)
        return waiter

    def _update_member_and_rebalance(
        self,
        group: ClassicGroup,
        member: ClassicGroupMember,
        protocols: list[tuple[str, bytes]],
        rebalance_timeout_ms: int,
        session_timeout_ms: int,
    ) -> Waiter:
        waiter = Waiter()
        if member.join_waiter is not None:
            # a duplicate JoinGroup replaces the earlier one, which gets nothing useful
            member.join_waiter.set(JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member.member_id))
            member.join_waiter = None
            group.num_members_awaiting_join -= 1
        group.update_member(member, protocols, rebalance_timeout_ms, session_timeout_ms, waiter)
        self._maybe_prepare_rebalance(group)
        return waiter

    def _update_static_member_and_rebalance(
        self,
        group: ClassicGroup,
        old_member_id: str,
        new_member_id: str,
        group_instance_id: str,
        protocols: list[tuple[str, bytes]],
        rebalance_timeout_ms: int,
        session_timeout_ms: int,
        supports_skip_assignment: bool,
    ) -> tuple[JoinResult | None, Waiter | None]:
        current_leader = group.leader_id
        member = group.replace_static_member(group_instance_id, old_member_id, new_member_id)
        self._cancel_member_timers(group, old_member_id)
        self._schedule_heartbeat(group, member)
        old_protocols = member.protocols
        old_rebalance_timeout = member.rebalance_timeout_ms
        old_session_timeout = member.session_timeout_ms
        waiter = Waiter()
        group.update_member(member, protocols, rebalance_timeout_ms, session_timeout_ms, waiter)
        state = group.state
        if state is GroupState.STABLE:
            if group.protocol_name == group.select_protocol():
                # nothing the assignment depends on changed: persist the new member id
                # and hand the member its old place without a rebalance
                self._spawn(
                    self._store_static_member_replacement,
                    group,
                    member,
                    group_instance_id,
                    old_member_id,
                    new_member_id,
                    current_leader,
                    old_protocols,
                    old_rebalance_timeout,
                    old_session_timeout,
                    supports_skip_assignment,
                )
                if self._nursery is None:
                    return JoinResult(ErrorCode.COORDINATOR_NOT_AVAILABLE, new_member_id), None
            else:
                self._maybe_prepare_rebalance(group)
        elif state is GroupState.COMPLETING_REBALANCE:
            # the leader may already be assigning to the old member id: start over
            self._prepare_rebalance(group)
        return None, waiter

    async def _store_static_member_replacement(
        self,
        group: ClassicGroup,
        member: ClassicGroupMember,
        group_instance_id: str,
        old_member_id: str,
        new_member_id: str,
        current_leader: str | None,
        old_protocols: list[tuple[str, bytes]],
        old_rebalance_timeout: int,
        old_session_timeout: int,
        supports_skip_assignment: bool,
    ) -> None:
        assignment = {m.member_id: m.assignment for m in group.members.values()}
        error = await self._store_group(group, assignment)
        if member.join_waiter is None or group.members.get(new_member_id) is not member:
            return
        if error != ErrorCode.NONE:
            # the new member id could not be persisted: the old incarnation stays
            waiter = member.join_waiter
            group.update_member(member, old_protocols, old_rebalance_timeout, old_session_timeout, None)
            group.replace_static_member(group_instance_id, new_member_id, old_member_id)
            self._cancel_member_timers(group, new_member_id)
            self._schedule_heartbeat(group, member)
            waiter.set(
                JoinResult(
                    error=error,
                    member_id=UNKNOWN_MEMBER_ID,
                    generation_id=group.generation_id,
                    protocol_type=group.protocol_type,
                    protocol_name=group.protocol_name,
                    leader_id=current_leader or "",
                )
            )
            return
        is_leader = group.is_leader(new_member_id)
        skip = is_leader and supports_skip_assignment
        self._invoke_join(
            group,
            member,
            JoinResult(
                error=ErrorCode.NONE,
                member_id=new_member_id,
                generation_id=group.generation_id,
                protocol_type=group.protocol_type,
                protocol_name=group.protocol_name,
                # an old leader id keeps a rejoined leader from reassigning in a stable group,
                # unless the client understands skip_assignment (v9+)
                leader_id=(group.leader_id if supports_skip_assignment else current_leader) or "",
                skip_assignment=skip,
                members=group.current_member_metadata() if skip else [],
            ),
        )

    def _invoke_join(self, group: ClassicGroup, member: ClassicGroupMember, result: JoinResult) -> None:
        if member.join_waiter is not None:
            member.join_waiter.set(result)
            member.join_waiter = None
            group.num_members_awaiting_join -= 1

    def _invoke_sync(self, member: ClassicGroupMember, result: SyncResult) -> None:
        if member.sync_waiter is not None:
            member.sync_waiter.set(result)
            member.sync_waiter = None

    # ------------------------------------------------------------------ rebalance

    def _rebalance_timeout_ms(self, group: ClassicGroup) -> int:
        return max((m.rebalance_timeout_ms for m in group.members.values()), default=0)

    def _maybe_prepare_rebalance(self, group: ClassicGroup) -> None:
        if group.can_rebalance():
            self._prepare_rebalance(group)

    def _prepare_rebalance(self, group: ClassicGroup) -> None:
        if group.is_in(GroupState.COMPLETING_REBALANCE):
            self._reset_and_propagate_assignment_error(group, ErrorCode.REBALANCE_IN_PROGRESS)
        group.pending_sync_members.clear()
        self.timers.cancel(("sync", group.group_id))
        rebalance_timeout = self._rebalance_timeout_ms(group)
        was_empty = group.is_in(GroupState.EMPTY)
        group.transition_to(GroupState.PREPARING_REBALANCE, self.now_ms())
        group.rebalance_epoch += 1
        if was_empty:
            delay = self.config.initial_rebalance_delay_ms
            self._schedule_initial_join(
                group, delay, max(rebalance_timeout - delay, 0)
            )
        else:
            group.initial_join = False
            if group.has_all_members_joined():
                self._complete_join(group)
            else:
                self.timers.schedule(
                    ("join", group.group_id), rebalance_timeout, lambda: self._complete_join(group)
                )

    def _schedule_initial_join(self, group: ClassicGroup, delay_ms: int, remaining_ms: int) -> None:
        group.initial_join = True

        def fire() -> None:
            if group.new_member_added and remaining_ms != 0:
                group.new_member_added = False
                delay = min(self.config.initial_rebalance_delay_ms, remaining_ms)
                self._schedule_initial_join(group, delay, max(remaining_ms - delay, 0))
            else:
                self._complete_join(group)

        self.timers.schedule(("join", group.group_id), delay_ms, fire)

    def _check_join_complete(self, group: ClassicGroup) -> None:
        """Complete the rebalance early once everyone has rejoined (not during the initial delay)."""
        if (
            group.is_in(GroupState.PREPARING_REBALANCE)
            and not group.initial_join
            and group.has_all_members_joined()
        ):
            self.timers.cancel(("join", group.group_id))
            self._complete_join(group)

    def _complete_join(self, group: ClassicGroup) -> None:
        self.timers.cancel(("join", group.group_id))
        group.initial_join = False
        if self.groups.get(group.group_id) is not group or not group.is_in(
            GroupState.PREPARING_REBALANCE
        ):
            return
        for failed in [m for m in group.not_yet_rejoined_members() if not m.is_static]:
            group.remove(failed.member_id)
            self._cancel_member_timers(group, failed.member_id)
        if not group.maybe_elect_new_joined_leader() and group.members:
            # nobody rejoined: wait another rebalance timeout for sessions to expire
            self.timers.schedule(
                ("join", group.group_id),
                self._rebalance_timeout_ms(group),
                lambda: self._complete_join(group),
            )
            return
        group.init_next_generation(self.now_ms())
        if group.is_in(GroupState.EMPTY):
            self._spawn(self._store_group, group, {})
            return
        for member in list(group.members.values()):
            self._invoke_join(
                group,
                member,
                JoinResult(
                    error=ErrorCode.NONE,
                    member_id=member.member_id,
                    generation_id=group.generation_id,
                    protocol_type=group.protocol_type,
                    protocol_name=group.protocol_name,
                    leader_id=group.leader_id or "",
                    members=group.current_member_metadata()
                    if group.is_leader(member.member_id)
                    else [],
                ),
            )
            self._schedule_heartbeat(group, member)
            member.is_new = False
        self._schedule_pending_sync(group)

    def _schedule_pending_sync(self, group: ClassicGroup) -> None:
        generation = group.generation_id

        def fire() -> None:
            if self.groups.get(group.group_id) is not group:
                return
            if generation != group.generation_id or group.state not in (
                GroupState.COMPLETING_REBALANCE,
                GroupState.STABLE,
            ):
                return
            missing = list(group.pending_sync_members)
            if not missing:
                return
            for member_id in missing:
                group.remove(member_id)
                self._cancel_member_timers(group, member_id)
            self._after_member_removed(group)

        self.timers.schedule(("sync", group.group_id), self._rebalance_timeout_ms(group), fire)

    def _after_member_removed(self, group: ClassicGroup) -> None:
        if group.state in (GroupState.STABLE, GroupState.COMPLETING_REBALANCE):
            self._maybe_prepare_rebalance(group)
        elif group.is_in(GroupState.PREPARING_REBALANCE):
            self._check_join_complete(group)

    def _reset_and_propagate_assignment_error(self, group: ClassicGroup, error: ErrorCode) -> None:
        for member in group.members.values():
            member.assignment = b""
        self._propagate_assignment(group, error)

    def _propagate_assignment(self, group: ClassicGroup, error: ErrorCode) -> None:
        ok = error == ErrorCode.NONE
        for member in group.members.values():
            if member.sync_waiter is None:
                continue
            self._invoke_sync(
                member,
                SyncResult(
                    error,
                    group.protocol_type if ok else None,
                    group.protocol_name if ok else None,
                    member.assignment,
                ),
            )
            # an expiry while the member waited was ignored: start its session afresh
            self._schedule_heartbeat(group, member)

    # ------------------------------------------------------------------ sessions

    def _schedule_heartbeat(
        self, group: ClassicGroup, member: ClassicGroupMember, timeout_ms: int | None = None
    ) -> None:
        group_id, member_id = group.group_id, member.member_id
        timeout = member.session_timeout_ms if timeout_ms is None else timeout_ms
        member.heartbeat_deadline = self.timers.schedule(
            ("hb", group_id, member_id), timeout, lambda: self._on_heartbeat_expired(group, member_id)
        )

    def _schedule_pending_member(self, group: ClassicGroup, member_id: str, timeout_ms: int) -> None:
        def fire() -> None:
            if self.groups.get(group.group_id) is group and group.is_pending_member(member_id):
                group.remove(member_id)
                if group.is_in(GroupState.PREPARING_REBALANCE):
                    self._check_join_complete(group)

        self.timers.schedule(("pending", group.group_id, member_id), timeout_ms, fire)

    def _cancel_member_timers(self, group: ClassicGroup, member_id: str) -> None:
        self.timers.cancel(("hb", group.group_id, member_id))
        self.timers.cancel(("pending", group.group_id, member_id))

    def _cancel_group_timers(self, group: Any) -> None:
        if isinstance(group, ConsumerGroup):
            for member_id in group.members:
                self.timers.cancel(("cg-session", group.group_id, member_id))
                self.timers.cancel(("cg-revoke", group.group_id, member_id))
            return
        self.timers.cancel(("join", group.group_id))
        self.timers.cancel(("sync", group.group_id))
        for member_id in list(group.members) + list(group.pending_members):
            self._cancel_member_timers(group, member_id)

    def _on_heartbeat_expired(self, group: ClassicGroup, member_id: str) -> None:
        if self.groups.get(group.group_id) is not group or group.is_in(GroupState.DEAD):
            return
        member = group.members.get(member_id)
        if member is None:
            return
        if not member.is_new and (member.is_awaiting_join or member.is_awaiting_sync):
            # members waiting on a rebalance are bounded by the rebalance timeout instead
            return
        log.info("member %s of group %s has failed, removing it", member_id, group.group_id)
        self._remove_member_and_update_group(group, member)

    def _remove_member_and_update_group(self, group: ClassicGroup, member: ClassicGroupMember) -> None:
        # a new member may time out while its JoinGroup still waits
        self._invoke_join(group, member, JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, UNKNOWN_MEMBER_ID))
        group.remove(member.member_id)
        self._cancel_member_timers(group, member.member_id)
        self._after_member_removed(group)

    # ------------------------------------------------------------------ sync

    async def sync_group(
        self,
        group_id: str,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        protocol_type: str | None,
        protocol_name: str | None,
        assignments: dict[str, bytes],
    ) -> SyncResult:
        """Handle one SyncGroup; followers wait here for the leader's assignment."""
        error = self._validate(group_id)
        if error is ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
            # the rebalance state was lost with the old coordinator: make the member rejoin
            return SyncResult(ErrorCode.REBALANCE_IN_PROGRESS)
        if error is not None:
            return SyncResult(error)
        cgroup = self.groups.get(group_id)
        if isinstance(cgroup, ConsumerGroup):
            return self._classic_sync_consumer_group(
                cgroup, generation_id, member_id, group_instance_id, protocol_type, protocol_name)
        group = self._classic(group_id)
        if group is None:
            return SyncResult(ErrorCode.UNKNOWN_MEMBER_ID)
        if group.is_in(GroupState.DEAD):
            return SyncResult(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        invalid = group.validate_member(member_id, group_instance_id)
        if invalid is not None:
            return SyncResult(invalid)
        if generation_id != group.generation_id:
            return SyncResult(ErrorCode.ILLEGAL_GENERATION)
        if _inconsistent(protocol_type, group.protocol_type) or _inconsistent(
            protocol_name, group.protocol_name
        ):
            return SyncResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
        state = group.state
        if state is GroupState.EMPTY:
            return SyncResult(ErrorCode.UNKNOWN_MEMBER_ID)
        if state is GroupState.PREPARING_REBALANCE:
            return SyncResult(ErrorCode.REBALANCE_IN_PROGRESS)
        member = group.get(member_id)
        if state is GroupState.STABLE:
            group.pending_sync_members.discard(member_id)
            self._schedule_heartbeat(group, member)
            return SyncResult(
                ErrorCode.NONE, group.protocol_type, group.protocol_name, member.assignment
            )
        # CompletingRebalance
        waiter = Waiter()
        if member.sync_waiter is not None:
            member.sync_waiter.set(SyncResult(ErrorCode.REBALANCE_IN_PROGRESS))
        member.sync_waiter = waiter
        group.pending_sync_members.discard(member_id)
        if group.is_leader(member_id):
            full = {m: b"" for m in group.members}
            for m, data in assignments.items():
                if m in full:
                    full[m] = bytes(data)
            self._spawn(self._store_leader_assignment, group, generation_id, full)
            if self._nursery is None:
                member.sync_waiter = None
                return SyncResult(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        return await waiter.wait()

    async def _store_leader_assignment(
        self, group: ClassicGroup, generation_id: int, assignment: dict[str, bytes]
    ) -> None:
        def still_completing() -> bool:
            return (
                self.groups.get(group.group_id) is group
                and group.is_in(GroupState.COMPLETING_REBALANCE)
                and group.generation_id == generation_id
            )

        # This task starts after SyncGroup returned to the loop: if a member joined or
        # left meanwhile, the group is rebalancing again and the record would describe
        # members of another generation (Kafka stores synchronously, so never sees this).
        if not still_completing():
            return
        try:
            error = await self._store_group(group, assignment)
        except Exception:
            log.exception("storing the assignment of group %s failed", group.group_id)
            error = ErrorCode.UNKNOWN_SERVER_ERROR
        if not still_completing():
            return
        if error != ErrorCode.NONE:
            self._reset_and_propagate_assignment_error(group, error)
            self._maybe_prepare_rebalance(group)
            return
        for member in group.members.values():
            member.assignment = assignment.get(member.member_id, b"")
        self._propagate_assignment(group, ErrorCode.NONE)
        group.transition_to(GroupState.STABLE, self.now_ms())

    async def _store_group(self, group: ClassicGroup, assignment: dict[str, bytes]) -> ErrorCode:
        now = self.now_ms()
        value = rec.group_metadata_value(group, assignment, now)
        code = await self.log.append(
            self.partition_for(group.group_id),
            [(rec.group_metadata_key(group.group_id), value)],
            now,
        )
        return map_offsets_append_error(ErrorCode(code))

    # ------------------------------------------------------------------ heartbeat / leave

    def heartbeat(
        self, group_id: str, member_id: str, group_instance_id: str | None, generation_id: int
    ) -> ErrorCode:
        """Handle one Heartbeat."""
        error = self._validate(group_id)
        if error is ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
            return ErrorCode.NONE  # the member keeps going until the group is back
        if error is not None:
            return error
        cgroup = self.groups.get(group_id)
        if isinstance(cgroup, ConsumerGroup):
            return self._classic_heartbeat_consumer_group(cgroup, member_id, group_instance_id, generation_id)
        group = self._classic(group_id)
        if group is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if group.is_in(GroupState.DEAD):
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        invalid = group.validate_member(member_id, group_instance_id)
        if invalid is not None:
            return invalid
        if generation_id != group.generation_id:
            return ErrorCode.ILLEGAL_GENERATION
        if group.is_in(GroupState.EMPTY):
            return ErrorCode.UNKNOWN_MEMBER_ID
        self._schedule_heartbeat(group, group.get(member_id))
        if group.is_in(GroupState.PREPARING_REBALANCE):
            return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE

    def leave_group(
        self, group_id: str, members: list[tuple[str, str | None]]
    ) -> tuple[ErrorCode, list[ErrorCode]]:
        """Handle LeaveGroup: a top-level error and one error per (member_id, instance_id)."""
        error = self._validate(group_id)
        if error is not None:
            return error, []
        cgroup = self.groups.get(group_id)
        if isinstance(cgroup, ConsumerGroup):
            return ErrorCode.NONE, [self._classic_leave_consumer_group(cgroup, mid, iid) for mid, iid in members]
        group = self._classic(group_id)
        if group is None:
            return ErrorCode.NONE, [ErrorCode.UNKNOWN_MEMBER_ID for _ in members]
        if group.is_in(GroupState.DEAD):
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, []
        errors = []
        for member_id, instance_id in members:
            if member_id == UNKNOWN_MEMBER_ID:
                # an admin may remove a static member by its instance id alone
                current = group.static_member_id(instance_id)
                if current is not None:
                    self._remove_member_and_update_group(group, group.get(current))
                    errors.append(ErrorCode.NONE)
                else:
                    errors.append(ErrorCode.UNKNOWN_MEMBER_ID)
            elif group.is_pending_member(member_id):
                group.remove(member_id)
                self._cancel_member_timers(group, member_id)
                if group.is_in(GroupState.PREPARING_REBALANCE):
                    self._check_join_complete(group)
                errors.append(ErrorCode.NONE)
            else:
                invalid = group.validate_member(member_id, instance_id)
                if invalid is not None:
                    errors.append(invalid)
                else:
                    self._remove_member_and_update_group(group, group.get(member_id))
                    errors.append(ErrorCode.NONE)
        return ErrorCode.NONE, errors

    # ------------------------------------------------------------------ offsets

    async def commit_offsets(
        self,
        group_id: str,
        member_id: str,
        group_instance_id: str | None,
        generation_id: int,
        offsets: dict[tuple[str, int], OffsetAndMetadata],
        api_version: int = 8,
    ) -> dict[tuple[str, int], ErrorCode]:
        """Handle OffsetCommit: validate, append, then make the offsets visible."""

        def all_(code: ErrorCode) -> dict[tuple[str, int], ErrorCode]:
            return dict.fromkeys(offsets, code)

        error = self._validate(group_id, allow_empty=True)
        if error is not None:
            return all_(error)
        group = self.groups.get(group_id)
        if group is None:
            if generation_id >= 0:
                # a group that no longer exists: v9 says so, older versions call the
                # generation stale as they always did
                return all_(
                    ErrorCode.GROUP_ID_NOT_FOUND if api_version >= 9 else ErrorCode.ILLEGAL_GENERATION
                )
            group = ClassicGroup(group_id, GroupState.EMPTY, self.now_ms())
            self.groups[group_id] = group
        if isinstance(group, ConsumerGroup):
            if generation_id < 0 and not group.members:
                return await self._store_offsets(group, offsets)
            cmember = group.members.get(member_id)
            if cmember is None:
                return all_(ErrorCode.UNKNOWN_MEMBER_ID)
            if cmember.classic is not None:
                # a classic member commits with its generation (its member epoch), in
                # any version, and a stale one is an illegal generation as in a classic group
                if generation_id != cmember.member_epoch:
                    return all_(ErrorCode.ILLEGAL_GENERATION)
                return await self._store_offsets(group, offsets)
            if api_version < 9:
                # members of the new protocol commit with their member epoch, from v9 on
                return all_(ErrorCode.UNSUPPORTED_VERSION)
            if generation_id != cmember.member_epoch:
                return all_(ErrorCode.STALE_MEMBER_EPOCH)
            return await self._store_offsets(group, offsets)
        if group.is_in(GroupState.DEAD):
            return all_(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        if not (generation_id < 0 and group.is_in(GroupState.EMPTY)):
            if generation_id >= 0 or member_id != "" or group_instance_id is not None:
                invalid = group.validate_member(member_id, group_instance_id)
                if invalid is not None:
                    return all_(invalid)
                if generation_id != group.generation_id:
                    return all_(ErrorCode.ILLEGAL_GENERATION)
            elif not group.is_in(GroupState.EMPTY):
                # no member id and no generation (v0): only an empty group takes it
                return all_(ErrorCode.UNKNOWN_MEMBER_ID)
            if group.is_in(GroupState.COMPLETING_REBALANCE):
                return all_(ErrorCode.REBALANCE_IN_PROGRESS)
            # a commit during PreparingRebalance is allowed; heartbeats announce the rebalance
            if group.has(member_id):
                self._schedule_heartbeat(group, group.get(member_id))
        return await self._store_offsets(group, offsets)

    async def _store_offsets(
        self, group: Any, offsets: dict[tuple[str, int], OffsetAndMetadata]
    ) -> dict[tuple[str, int], ErrorCode]:
        result: dict[tuple[str, int], ErrorCode] = {}
        valid: dict[tuple[str, int], OffsetAndMetadata] = {}
        for tp, om in offsets.items():
            if om.metadata is not None and len(om.metadata.encode()) > self.config.offset_metadata_max_bytes:
                result[tp] = ErrorCode.OFFSET_METADATA_TOO_LARGE
            else:
                valid[tp] = om
        if valid:
            now = self.now_ms()
            records = [
                (rec.offset_commit_key(group.group_id, t, p), rec.offset_commit_value(om))
                for (t, p), om in valid.items()
            ]
            code = map_offsets_append_error(
                ErrorCode(await self.log.append(self.partition_for(group.group_id), records, now))
            )
            if code == ErrorCode.NONE and self.groups.get(group.group_id) is group:
                group.offsets.update(valid)
            for tp in valid:
                result[tp] = code
        return {tp: result[tp] for tp in offsets}

    def fetch_offsets(
        self,
        group_id: str,
        partitions: list[tuple[str, int]] | None,
        require_stable: bool = False,
        member_id: str | None = None,
        member_epoch: int = -1,
    ) -> tuple[ErrorCode, dict[tuple[str, int], tuple[OffsetAndMetadata | None, ErrorCode]]]:
        """Handle OffsetFetch for one group (None partitions: everything committed)."""
        error = self._validate(group_id, allow_empty=True)
        if error is not None:
            return error, {}
        group = self.groups.get(group_id)
        if isinstance(group, ConsumerGroup):
            if member_id is not None:
                # a consumer-protocol member must be current to read offsets (v9+)
                cmember = group.members.get(member_id)
                if cmember is None:
                    return ErrorCode.UNKNOWN_MEMBER_ID, {}
                if member_epoch != cmember.member_epoch:
                    return ErrorCode.STALE_MEMBER_EPOCH, {}
            stored = group.offsets
        else:
            stored = group.offsets if group is not None and not group.is_in(GroupState.DEAD) else {}
        unstable: set[tuple[str, int]] = set()
        if require_stable:
            # offsets a transaction has not settled yet (kpybroker.transaction_coordinator hook)
            from kpybroker.transaction_coordinator.txn_offsets import unstable_partitions

            unstable = unstable_partitions(self.broker, group_id)
        if partitions is None:
            return ErrorCode.NONE, {
                tp: (None, ErrorCode.UNSTABLE_OFFSET_COMMIT) if tp in unstable else (om, ErrorCode.NONE)
                for tp, om in stored.items()
            }
        return ErrorCode.NONE, {
            tp: (None, ErrorCode.UNSTABLE_OFFSET_COMMIT) if tp in unstable else (stored.get(tp), ErrorCode.NONE)
            for tp in partitions
        }

    async def delete_offsets(
        self, group_id: str, partitions: list[tuple[str, int]]
    ) -> tuple[ErrorCode, dict[tuple[str, int], ErrorCode]]:
        """Handle OffsetDelete."""
        error = self._validate(group_id)
        if error is not None:
            return error, {}
        group = self.groups.get(group_id)
        if group is None or (isinstance(group, ClassicGroup) and group.is_in(GroupState.DEAD)):
            return ErrorCode.GROUP_ID_NOT_FOUND, {}
        errors: dict[tuple[str, int], ErrorCode] = {}
        eligible: list[tuple[str, int]] = []
        if isinstance(group, ConsumerGroup) or group.is_consumer_group():
            for tp in partitions:
                if group.is_subscribed_to_topic(tp[0]):
                    errors[tp] = ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC
                else:
                    eligible.append(tp)
        elif group.is_in(GroupState.EMPTY):
            eligible = list(partitions)
        elif group.is_consumer_group():
            for tp in partitions:
                if group.is_subscribed_to_topic(tp[0]):
                    errors[tp] = ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC
                else:
                    eligible.append(tp)
        else:
            return ErrorCode.NON_EMPTY_GROUP, {}
        if eligible:
            present = [tp for tp in eligible if tp in group.offsets]
            for tp in present:
                group.offsets.pop(tp, None)
            if present:
                await self._write_tombstones(group.group_id, present, group_tombstone=False)
            for tp in eligible:
                errors[tp] = ErrorCode.NONE
        return ErrorCode.NONE, {tp: errors[tp] for tp in partitions if tp in errors}

    async def _write_tombstones(
        self, group_id: str, partitions: Iterable[tuple[str, int]], *, group_tombstone: bool
    ) -> ErrorCode:
        records: list[tuple[bytes, bytes | None]] = [
            (rec.offset_commit_key(group_id, t, p), None) for t, p in partitions
        ]
        if group_tombstone:
            records.append((rec.group_metadata_key(group_id), None))
        if not records:
            return ErrorCode.NONE
        now = self.now_ms()
        return ErrorCode(await self.log.append(self.partition_for(group_id), records, now))

    def _schedule_offset_expiry(self) -> None:
        def fire() -> None:
            self.expire_offsets()
            self._schedule_offset_expiry()

        self.timers.schedule(("expire-offsets",), self.config.offsets_retention_check_interval_ms, fire)

    def expire_offsets(self, now_ms: int | None = None) -> int:
        """Drop offsets past retention (Kafka's rules per group state); returns how many."""
        now = self.now_ms() if now_ms is None else now_ms
        retention = self.config.offsets_retention_ms
        removed_total = 0
        for group_id, group in list(self.groups.items()):
            if not self.owns(self.partition_for(group_id)):
                continue
            if isinstance(group, ConsumerGroup):
                if not group.members:
                    expired = [
                        tp for tp, om in group.offsets.items()
                        if now - om.commit_timestamp >= retention
                    ]
                    for tp in expired:
                        del group.offsets[tp]
                    removed_total += len(expired)
                    if expired:
                        self._spawn(partial(self._write_tombstones, group_id, expired,
                                            group_tombstone=False))
                continue
            expired = self._expired_offsets(group, now, retention)
            for tp in expired:
                del group.offsets[tp]
            removed_total += len(expired)
            drop_group = group.is_in(GroupState.EMPTY) and not group.offsets
            if drop_group:
                group.transition_to(GroupState.DEAD, now)
                del self.groups[group_id]
                self._cancel_group_timers(group)
            if expired or drop_group:
                self._spawn(partial(self._write_tombstones, group_id, expired, group_tombstone=drop_group))
        return removed_total

    def _expired_offsets(
        self, group: ClassicGroup, now: int, retention: int
    ) -> list[tuple[str, int]]:
        def past(om: OffsetAndMetadata, base: int) -> bool:
            if om.expire_timestamp is not None:
                return now >= om.expire_timestamp
            return now - base >= retention

        if group.protocol_type is not None and group.is_in(GroupState.EMPTY):
            return [
                tp
                for tp, om in group.offsets.items()
                if past(
                    om,
                    group.current_state_timestamp
                    if group.current_state_timestamp is not None
                    else om.commit_timestamp,
                )
            ]
        if (
            group.is_consumer_group()
            and group.subscribed_topics is not None
            and group.is_in(GroupState.STABLE)
        ):
            return [
                tp
                for tp, om in group.offsets.items()
                if tp[0] not in group.subscribed_topics and past(om, om.commit_timestamp)
            ]
        if group.protocol_type is None:
            return [tp for tp, om in group.offsets.items() if past(om, om.commit_timestamp)]
        return []

    async def on_topic_deleted(self, topic: str) -> None:
        """A topic is gone: drop every group's committed offsets for it (with tombstones)."""
        for group_id, group in list(self.groups.items()):
            if not self.owns(self.partition_for(group_id)):
                continue
            gone = [tp for tp in group.offsets if tp[0] == topic]
            for tp in gone:
                del group.offsets[tp]
            if gone:
                await self._write_tombstones(group_id, gone, group_tombstone=False)

    # ------------------------------------------------------------------ admin

    def describe_group(self, group_id: str) -> GroupSummary:
        """DescribeGroups for one group (an unknown group is reported as Dead)."""
        error = self._validate(group_id, allow_empty=True)
        if error is not None:
            return GroupSummary(error, "", "", "", [])
        group = self.groups.get(group_id)
        if group is None:
            return GroupSummary(ErrorCode.GROUP_ID_NOT_FOUND, GroupState.DEAD.value, "", "", [],
                                f"Group {group_id} not found.")
        if isinstance(group, ConsumerGroup):
            return GroupSummary(ErrorCode.GROUP_ID_NOT_FOUND, GroupState.DEAD.value, "", "", [],
                                f"Group {group_id} is not a classic group.")
        if group.is_in(GroupState.STABLE):
            protocol = group.protocol_name or ""
            members = [
                MemberSummary(
                    m.member_id,
                    m.group_instance_id,
                    m.client_id,
                    m.client_host,
                    m.metadata(protocol),
                    m.assignment,
                )
                for m in group.members.values()
            ]
        else:
            protocol = ""
            members = [
                MemberSummary(m.member_id, m.group_instance_id, m.client_id, m.client_host, b"", b"")
                for m in group.members.values()
            ]
        return GroupSummary(
            ErrorCode.NONE, group.state.value, group.protocol_type or "", protocol, members
        )

    def list_groups(
        self, states: list[str] | None = None, types: list[str] | None = None
    ) -> tuple[ErrorCode, list[ListedGroup]]:
        """ListGroups over the partitions this broker coordinates."""
        error = ErrorCode.NONE
        if not self.active:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, []
        if any(s == _LOADING for s in self._partitions.values()):
            error = ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
        state_filter = {s.lower() for s in states} if states else None
        type_filter = {t.lower() for t in types} if types else None
        out = []
        for group_id, group in self.groups.items():
            if not self.owns(self.partition_for(group_id)):
                continue
            if isinstance(group, ConsumerGroup):
                state = group.state.value
                if state_filter is not None and state.lower() not in state_filter:
                    continue
                if type_filter is not None and "consumer" not in type_filter:
                    continue
                out.append(ListedGroup(group_id, "consumer", state, "consumer"))
                continue
            if group.is_in(GroupState.DEAD):
                continue
            if state_filter is not None and group.state.value.lower() not in state_filter:
                continue
            if type_filter is not None and "classic" not in type_filter:
                continue
            out.append(ListedGroup(group_id, group.protocol_type or "", group.state.value))
        return error, out

    async def delete_groups(self, group_ids: list[str]) -> dict[str, ErrorCode]:
        """DeleteGroups: empty groups go, with their offsets (tombstones written)."""
        results: dict[str, ErrorCode] = {}
        eligible: list[Any] = []
        for group_id in group_ids:
            error = self._validate(group_id, allow_empty=True)
            if error is not None:
                results[group_id] = error
                continue
            group = self.groups.get(group_id)
            if isinstance(group, ConsumerGroup):
                if group.members:
                    results[group_id] = ErrorCode.NON_EMPTY_GROUP
                else:
                    group.dead = True
                    eligible.append(group)
            elif group is None or group.is_in(GroupState.DEAD):
                results[group_id] = ErrorCode.GROUP_ID_NOT_FOUND
            elif group.is_in(GroupState.EMPTY):
                group.transition_to(GroupState.DEAD, self.now_ms())
                eligible.append(group)
            else:
                results[group_id] = ErrorCode.NON_EMPTY_GROUP
        for group in eligible:
            offsets = list(group.offsets)
            group.offsets.clear()
            if self.groups.get(group.group_id) is group:
                del self.groups[group.group_id]
            self._cancel_group_timers(group)
            if isinstance(group, ConsumerGroup):
                await self._write_tombstones(group.group_id, offsets, group_tombstone=False)
                await self._append_records(group.group_id, [
                    (rec.cg_key(rec.CG_TARGET_ASSIGNMENT_METADATA, group.group_id), None),
                    (rec.cg_key(rec.CG_PARTITION_METADATA, group.group_id), None),
                    (rec.cg_key(rec.CG_METADATA, group.group_id), None),
                ])
            else:
                await self._write_tombstones(group.group_id, offsets, group_tombstone=True)
            results[group.group_id] = ErrorCode.NONE
        return {g: results[g] for g in group_ids}

    # ------------------------------------------------------------------ consumer protocol

    def _topic_lookup(self, name: str) -> tuple[uuid.UUID, int] | None:
        if self.topic_lookup is not None:
            return self.topic_lookup(name)
        store = getattr(self.broker, "metadata", None)
        topic = store.get_topic(name) if store is not None else None
        if topic is None or not topic.partitions:
            return None
        return topic.topic_id, len(topic.partitions)

    def _topic_names(self) -> list[str]:
        if self.topic_names is not None:
            return list(self.topic_names())
        store = getattr(self.broker, "metadata", None)
        return list(store.topic_names()) if store is not None else []

    async def consumer_group_heartbeat(
        self,
        group_id: str,
        member_id: str,
        member_epoch: int,
        *,
        instance_id: str | None = None,
        rack_id: str | None = None,
        rebalance_timeout_ms: int = -1,
        subscribed_topic_names: list[str] | None = None,
        subscribed_topic_regex: str | None = None,
        server_assignor: str | None = None,
        owned: Assignment | None = None,
        client_id: str = "",
        client_host: str = "",
        version: int = 0,
    ) -> ConsumerHeartbeatResult:
        """Handle one ConsumerGroupHeartbeat (KIP-848)."""

        def fail(code: ErrorCode, message: str | None = None) -> ConsumerHeartbeatResult:
            return ConsumerHeartbeatResult(code, message, member_id or None, member_epoch)

        if not group_id:
            return fail(ErrorCode.INVALID_REQUEST, "GroupId can't be empty.")
        if version >= 1 and not member_id:
            return fail(ErrorCode.INVALID_REQUEST, "MemberId can't be empty.")
        if member_epoch > 0 and not member_id:
            return fail(ErrorCode.INVALID_REQUEST, "MemberId can't be empty.")
        if member_epoch == 0:
            if rebalance_timeout_ms == -1:
                return fail(ErrorCode.INVALID_REQUEST, "RebalanceTimeoutMs must be provided in first request.")
            if owned is None or any(owned.values()):
                return fail(ErrorCode.INVALID_REQUEST, "TopicPartitions must be empty when (re-)joining.")
            if subscribed_topic_names is None and subscribed_topic_regex is None:
                return fail(
                    ErrorCode.INVALID_REQUEST,
                    "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
                )
        elif member_epoch < -2:
            return fail(ErrorCode.INVALID_REQUEST, f"MemberEpoch is invalid: {member_epoch}.")
        if server_assignor is not None and server_assignor not in self.config.consumer_assignors:
            return fail(
                ErrorCode.UNSUPPORTED_ASSIGNOR,
                f"ServerAssignor {server_assignor} is not supported. Supported assignors: "
                f"{', '.join(self.config.consumer_assignors)}.",
            )
        error = self._validate(group_id)
        if error is not None:
            return fail(error)
        group = self.groups.get(group_id)
        upgrade_records: list[tuple[bytes, bytes | None]] = []
        if isinstance(group, ClassicGroup):
            if group.members:
                # Kafka 4 upgrades a classic group with members online, its classic
                # members staying on (group.consumer.migration.policy)
                upgraded = self._upgrade_to_consumer_group(group) if member_epoch == 0 else None
                if upgraded is None:
                    return fail(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} is not a consumer group.")
                group, upgrade_records = upgraded
            else:
                self._cancel_group_timers(group)
                cg = ConsumerGroup(group_id)
                cg.offsets = group.offsets
                self.groups[group_id] = cg
                group = cg
        if group is None:
            if member_epoch != 0:
                return fail(ErrorCode.GROUP_ID_NOT_FOUND, f"Consumer group {group_id} not found.")
            group = ConsumerGroup(group_id)
            self.groups[group_id] = group
        assert isinstance(group, ConsumerGroup)
        before = snapshot(group, member_id)

        if member_epoch in (-1, -2):
            return self._consumer_leave(group, member_id, instance_id, member_epoch)

        member = group.members.get(member_id) if member_id else None
        bump = False
        before_tombstones: list[tuple[bytes, bytes | None]] = []
        if member_epoch == 0:
            took_over = False
            if member is None and instance_id is not None and instance_id in group.static_members:
                old_id = group.static_members[instance_id]
                old = group.members.get(old_id)
                if old is not None and old.member_epoch != -2:
                    return fail(
                        ErrorCode.UNRELEASED_INSTANCE_ID,
                        f"Static member {old_id} with instance id {instance_id} is not released yet.",
                    )
                if old is not None:
                    # the restarted static member takes over its old place and partitions
                    before_tombstones = self._rename_member(group, old_id, member_id or str(uuid.uuid4()))
                    old.member_epoch = old.previous_member_epoch
                    old.last_sent = None
                    member = old
                    group.static_members[instance_id] = member.member_id
                    took_over = True
            if member is None:
                if len(group.members) >= self.config.consumer_max_size:
                    return fail(ErrorCode.GROUP_MAX_SIZE_REACHED,
                                f"The consumer group has reached its maximum capacity of "
                                f"{self.config.consumer_max_size} members.")
                member = ConsumerGroupMember(member_id or str(uuid.uuid4()))
                group.members[member.member_id] = member
                if instance_id is not None:
                    group.static_members[instance_id] = member.member_id
                bump = True
            elif not took_over and member.member_epoch != 0 and member.assigned:
                # a known member starting over gives everything back
                member.assigned = {}
                member.pending_revocation = {}
                member.member_epoch = 0
                member.state = MemberState.STABLE
                bump = True
            member.last_sent = None
        else:
            if member is None:
                return fail(ErrorCode.UNKNOWN_MEMBER_ID,
                            f"Member {member_id} is not a member of group {group_id}.")
            if member_epoch > member.member_epoch or (
                member_epoch < member.member_epoch
                and (member_epoch != member.previous_member_epoch
                     or (owned is not None and not is_subset(owned, member.assigned)))
            ):
                return fail(
                    ErrorCode.FENCED_MEMBER_EPOCH,
                    f"The consumer group member has a smaller member epoch ({member_epoch}) than the "
                    f"one known by the group coordinator ({member.member_epoch}). The member must "
                    f"abandon all its partitions and rejoin.",
                )
        member.instance_id = instance_id if instance_id is not None else member.instance_id
        member.rack_id = rack_id if rack_id is not None else member.rack_id
        member.client_id = client_id
        member.client_host = client_host
        if rebalance_timeout_ms != -1:
            member.rebalance_timeout_ms = rebalance_timeout_ms
        if server_assignor is not None:
            member.server_assignor = server_assignor
        if subscribed_topic_names is not None and sorted(subscribed_topic_names) != sorted(
            member.subscribed_topic_names
        ):
            member.subscribed_topic_names = list(subscribed_topic_names)
            bump = True
        if subscribed_topic_regex is not None and subscribed_topic_regex != member.subscribed_topic_regex:
            member.subscribed_topic_regex = subscribed_topic_regex or None
            bump = True
            if member.subscribed_topic_regex and not any(
                m.subscribed_topic_regex == member.subscribed_topic_regex
                for m in group.members.values() if m is not member
            ):
                # Kafka resolves a regex new to the group after answering: this
                # heartbeat assigns the topics named literally, a later one the matches.
                group.pending_regexes.add(member.subscribed_topic_regex)
        code = await self._settle_member(group, member, owned, bump, before,
                                         upgrade_records + before_tombstones)
        if code != ErrorCode.NONE:
            return fail(code)
        if group.pending_regexes:
            # After this heartbeat's records, so the resolution's epoch is written later.
            self._spawn(self._resolve_regexes, group)
        full = rebalance_timeout_ms != -1 and owned is not None and (
            subscribed_topic_names is not None or subscribed_topic_regex is not None
        )
        assignment: Assignment | None = None
        if member.last_sent != member.assigned or full or member_epoch == 0:
            assignment = {t: set(ps) for t, ps in member.assigned.items()}
            member.last_sent = assignment
        return ConsumerHeartbeatResult(
            ErrorCode.NONE,
            None,
            member.member_id,
            member.member_epoch,
            self._group_config_ms(group.group_id, "consumer.heartbeat.interval.ms",
                                  self.config.consumer_heartbeat_interval_ms),
            assignment,
        )

    async def _settle_member(
        self,
        group: ConsumerGroup,
        member: ConsumerGroupMember,
        owned: Assignment | None,
        bump: bool,
        before: Any,
        extra_records: list[tuple[bytes, bytes | None]],
    ) -> ErrorCode:
        """The end of every change to a consumer-protocol member (its heartbeat, or a
        classic member's JoinGroup): bump the group epoch if the subscription moved,
        recompute the target, reconcile what the member owns, restart its timers and
        write what changed (after ``extra_records``). The append's error, if any."""
        if group.refresh_subscription_metadata(self._topic_lookup, self._topic_names):
            bump = True
        if bump:
            group.group_epoch += 1
        if group.group_epoch > group.assignment_epoch:
            group.compute_target_assignment(self._preferred_assignor(group))
        group.reconcile(member, owned)
        self._schedule_consumer_session(group, member.member_id)
        if member.state is MemberState.UNREVOKED_PARTITIONS:
            self._schedule_revocation_deadline(group, member)
        else:
            self.timers.cancel(("cg-revoke", group.group_id, member.member_id))
        records = extra_records + changed_records(group, member, before)
        if not records:
            return ErrorCode.NONE
        code = await self.log.append(self.partition_for(group.group_id), records, self.now_ms())
        return map_offsets_append_error(ErrorCode(code))

    async def _resolve_regexes(self, group: ConsumerGroup) -> None:
        """Resolve the regexes heartbeats brought into ``group`` (Kafka does it off the
        heartbeat path); a changed subscription bumps the group epoch, and members get
        their new targets on their next heartbeats."""
        if not group.pending_regexes or self.groups.get(group.group_id) is not group:
            return
        before = snapshot(group, None)
        group.pending_regexes.clear()
        if group.refresh_subscription_metadata(self._topic_lookup, self._topic_names):
            group.group_epoch += 1
            group.compute_target_assignment(self._preferred_assignor(group))
            self._persist_soon(group.group_id, changed_records(group, None, before))

    def _group_config_ms(self, group_id: str, name: str, default: int) -> int:
        """A consumer-protocol group's own setting of ``name`` (IncrementalAlterConfigs
        on its GROUP resource, validated there), else the broker's ``default``."""
        store = getattr(self.broker, "metadata", None)
        value = store.group_configs(group_id).get(name) if store is not None else None
        return int(value) if value is not None else default

    def _preferred_assignor(self, group: ConsumerGroup) -> str:
        votes: dict[str, int] = {}
        for m in group.members.values():
            if m.server_assignor:
                votes[m.server_assignor] = votes.get(m.server_assignor, 0) + 1
        if votes:
            return max(votes, key=lambda a: votes[a])
        return self.config.consumer_assignors[0]

    def _consumer_leave(
        self, group: ConsumerGroup, member_id: str, instance_id: str | None, epoch: int
    ) -> ConsumerHeartbeatResult:
        member = group.members.get(member_id)
        if member is None and instance_id is not None:
            member = group.members.get(group.static_members.get(instance_id, ""))
        if member is None:
            return ConsumerHeartbeatResult(
                ErrorCode.UNKNOWN_MEMBER_ID, None, member_id or None, epoch
            )
        if epoch == -2 and member.instance_id is not None:
            # a static member leaving for a while keeps its partitions until its session ends
            member.previous_member_epoch = member.member_epoch
            member.member_epoch = -2
            self._persist_soon(group.group_id, [current_assignment_record(group.group_id, member)])
            return ConsumerHeartbeatResult(ErrorCode.NONE, None, member.member_id, -2)
        self._remove_consumer_member(group, member.member_id)
        return ConsumerHeartbeatResult(ErrorCode.NONE, None, member.member_id, -1)

    def _persist_soon(self, group_id: str, records: list[tuple[bytes, bytes | None]]) -> None:
        if records:
            self._spawn(self._append_records, group_id, records)

    async def _append_records(self, group_id: str, records: list[tuple[bytes, bytes | None]]) -> None:
        code = await self.log.append(self.partition_for(group_id), records, self.now_ms())
        if code != ErrorCode.NONE:
            log.warning("writing group %s to __consumer_offsets failed: %s", group_id, ErrorCode(code).name)

    def _remove_consumer_member(self, group: ConsumerGroup, member_id: str) -> None:
        if member_id not in group.members:
            return
        if self._can_downgrade(group, member_id):
            self._downgrade_to_classic_group(group, member_id)
            return
        before = snapshot(group, None)
        member = group.members.pop(member_id)
        if member.instance_id is not None and group.static_members.get(member.instance_id) == member_id:
            del group.static_members[member.instance_id]
        group.target.pop(member_id, None)
        self._cancel_group_timers_for(group, member_id)
        group.group_epoch += 1
        group.refresh_subscription_metadata(self._topic_lookup, self._topic_names)
        group.compute_target_assignment(self._preferred_assignor(group))
        records = member_tombstones(group.group_id, member_id) + changed_records(group, None, before)
        self._persist_soon(group.group_id, records)

    def _cancel_group_timers_for(self, group: ConsumerGroup, member_id: str) -> None:
        self.timers.cancel(("cg-session", group.group_id, member_id))
        self.timers.cancel(("cg-revoke", group.group_id, member_id))

    def _schedule_consumer_session(self, group: ConsumerGroup, member_id: str) -> None:
        def fire() -> None:
            if self.groups.get(group.group_id) is group and member_id in group.members:
                log.info("consumer group member %s of %s timed out", member_id, group.group_id)
                self._remove_consumer_member(group, member_id)

        member = group.members.get(member_id)
        if member is not None and member.classic is not None:
            # a classic member keeps the session timeout it joined with
            timeout = member.classic.session_timeout_ms
        else:
            timeout = self._group_config_ms(group.group_id, "consumer.session.timeout.ms",
                                            self.config.consumer_session_timeout_ms)
        self.timers.schedule(("cg-session", group.group_id, member_id), timeout, fire)

    def _schedule_revocation_deadline(self, group: ConsumerGroup, member: ConsumerGroupMember) -> None:
        key = ("cg-revoke", group.group_id, member.member_id)
        if self.timers.is_scheduled(key):
            return
        member_id = member.member_id

        def fire() -> None:
            m = group.members.get(member_id)
            if self.groups.get(group.group_id) is group and m is not None and (
                m.state is MemberState.UNREVOKED_PARTITIONS
            ):
                log.info("member %s of %s did not revoke in time", member_id, group.group_id)
                self._remove_consumer_member(group, member_id)

        self.timers.schedule(key, member.rebalance_timeout_ms, fire)

    # ------------------------------------------------------------------ online migration

    def _names_by_id(self, group: ConsumerGroup, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
        names = {tid: name for name, (tid, _) in group.subscription_metadata.items()}
        if any(t not in names for t in ids):
            for name in self._topic_names():
                found = self._topic_lookup(name)
                if found is not None:
                    names.setdefault(found[0], name)
        return names

    def _embedded_assignment(self, group: ConsumerGroup, version: int, assignment: Assignment) -> bytes:
        """``assignment`` as a classic member's SyncGroup assignment, at its protocol version."""
        return encode_assignment(version, to_names(assignment, self._names_by_id(group, assignment)))

    def _upgrade_to_consumer_group(
        self, classic: ClassicGroup
    ) -> tuple[ConsumerGroup, list[tuple[bytes, bytes | None]]] | None:
        """Kafka's online upgrade: the classic group becomes a consumer-protocol group
        whose classic members keep their last assignment at the classic generation as
        member epoch. None when Kafka would refuse (policy, protocol type, size, or
        embedded protocol data it cannot read)."""
        if not upgrade_enabled(self.config.consumer_migration_policy) or not classic.is_consumer_group():
            return None
        if len(classic.members) > self.config.consumer_max_size:
            return None
        generation = classic.generation_id
        cg = ConsumerGroup(classic.group_id)
        cg.offsets = classic.offsets
        cg.group_epoch = cg.assignment_epoch = generation
        try:
            for m in classic.members.values():
                protocol = classic.protocol_name if classic.protocol_name in m.protocol_names() else (
                    m.protocol_names()[0])
                sub = decode_subscription(m.metadata(protocol))
                assigned = to_ids(decode_assignment(bytes(m.assignment)), self._topic_lookup)
                member = ConsumerGroupMember(
                    m.member_id,
                    instance_id=m.group_instance_id,
                    rack_id=sub.rack_id,
                    client_id=m.client_id,
                    client_host=m.client_host,
                    rebalance_timeout_ms=m.rebalance_timeout_ms,
                    subscribed_topic_names=list(sub.topics),
                    member_epoch=generation,
                    previous_member_epoch=generation,
                    assigned=assigned,
                    classic=ClassicMemberMetadata(m.session_timeout_ms, [(n, bytes(md)) for n, md in m.protocols]),
                )
                cg.members[member.member_id] = member
                if member.instance_id is not None:
                    cg.static_members[member.instance_id] = member.member_id
                cg.target[member.member_id] = {t: set(ps) for t, ps in assigned.items()}
        except (ValueError, IndexError, KeyError) as exc:
            log.info("cannot upgrade classic group %s: %s", classic.group_id, exc)
            return None
        # members waiting in a rebalance rejoin the new group
        self._abort_group_waiters(classic, ErrorCode.REBALANCE_IN_PROGRESS)
        self._cancel_group_timers(classic)
        if not classic.is_in(GroupState.DEAD):
            # stale timers and waiters of the old group object see it is gone
            classic.transition_to(GroupState.DEAD, self.now_ms())
        self.groups[classic.group_id] = cg
        for member_id in cg.members:
            self._schedule_consumer_session(cg, member_id)
        log.info("upgraded classic group %s to a consumer group", classic.group_id)
        gid = cg.group_id
        records: list[tuple[bytes, bytes | None]] = [(rec.group_metadata_key(gid), None)]
        empty = snapshot(ConsumerGroup(gid), None)
        for member in cg.members.values():
            records.append((rec.cg_key(rec.CG_MEMBER_METADATA, gid, member.member_id),
                            rec.cg_member_metadata_value(member)))
        records += [r for r in changed_records(cg, None, empty)
                    if r[0] != rec.cg_key(rec.CG_PARTITION_METADATA, gid)]
        for member in cg.members.values():
            records.append(current_assignment_record(gid, member))
        return cg, records

    def _rename_member(self, group: ConsumerGroup, old_id: str, new_id: str) -> list[tuple[bytes, bytes | None]]:
        """A restarted static member takes over ``old_id``'s place and target under its
        new id; returns the old id's tombstones."""
        member = group.members.pop(old_id)
        self._cancel_group_timers_for(group, old_id)
        member.member_id = new_id
        group.members[new_id] = member
        if old_id in group.target:
            group.target[new_id] = group.target.pop(old_id)
        return member_tombstones(group.group_id, old_id)

    def _can_downgrade(self, group: ConsumerGroup, leaving_id: str) -> bool:
        """Kafka downgrades when the member leaving is the last one on the consumer
        protocol and classic members remain."""
        others = [m for mid, m in group.members.items() if mid != leaving_id]
        if not others or any(m.classic is None for m in others):
            return False
        if not downgrade_enabled(self.config.consumer_migration_policy):
            return False
        return len(others) <= self.config.max_size

    def _downgrade_to_classic_group(self, group: ConsumerGroup, leaving_id: str) -> None:
        """Kafka's online downgrade: the remaining classic members form a classic group at
        the group epoch, holding their target assignments, and a rebalance starts."""
        gid = group.group_id
        now = self.now_ms()
        classic = ClassicGroup(gid, GroupState.STABLE, now)
        classic.generation_id = group.group_epoch
        classic.offsets = group.offsets
        for mid, m in group.members.items():
            if mid == leaving_id:
                continue
            assert m.classic is not None
            classic.add(ClassicGroupMember(
                mid, m.instance_id, m.client_id, m.client_host, m.rebalance_timeout_ms,
                m.classic.session_timeout_ms, CONSUMER_PROTOCOL_TYPE, list(m.classic.protocols)))
        classic.protocol_name = classic.select_protocol()
        classic.subscribed_topics = classic.compute_subscribed_topics()
        assignment: dict[str, bytes] = {}
        for cm in classic.members.values():
            version = embedded_version(cm.metadata(classic.protocol_name))
            cm.assignment = self._embedded_assignment(group, version, group.target.get(cm.member_id, {}))
            assignment[cm.member_id] = cm.assignment
        records: list[tuple[bytes, bytes | None]] = []
        for mid in group.members:
            records += member_tombstones(gid, mid)
        records += [(rec.cg_key(rec.CG_TARGET_ASSIGNMENT_METADATA, gid), None),
                    (rec.cg_key(rec.CG_PARTITION_METADATA, gid), None),
                    (rec.cg_key(rec.CG_METADATA, gid), None),
                    (rec.group_metadata_key(gid), rec.group_metadata_value(classic, assignment, now))]
        self._cancel_group_timers(group)
        group.dead = True
        self.groups[gid] = classic
        log.info("downgraded consumer group %s to a classic group", gid)
        self._persist_soon(gid, records)
        for cm in classic.members.values():
            self._schedule_heartbeat(classic, cm)
        self._prepare_rebalance(classic)

    def _supports_classic_protocols(
        self, group: ConsumerGroup, protocol_type: str, protocols: list[tuple[str, bytes]]
    ) -> bool:
        """Kafka's rule: the consumer protocol type, and a protocol every classic member has."""
        if protocol_type != CONSUMER_PROTOCOL_TYPE or not protocols:
            return False
        classic = [m.classic for m in group.members.values() if m.classic is not None]
        return any(all(name in (n for n, _ in c.protocols) for c in classic) for name, _ in protocols)

    async def _classic_join_consumer_group(
        self,
        group: ConsumerGroup,
        member_id: str,
        instance_id: str | None,
        client_id: str,
        client_host: str,
        rebalance_timeout_ms: int,
        session_timeout_ms: int,
        protocol_type: str,
        protocols: list[tuple[str, bytes]],
        require_known_member_id: bool,
    ) -> JoinResult:
        """A classic JoinGroup to a consumer-protocol group with members: the member is
        assigned by the broker like any other and answered at once, as a follower."""
        protocols = [(name, bytes(meta)) for name, meta in protocols]
        is_unknown = member_id == UNKNOWN_MEMBER_ID
        if is_unknown:
            member_id = str(uuid.uuid4())
        if member_id not in group.members and len(group.members) >= self.config.consumer_max_size:
            return JoinResult(ErrorCode.GROUP_MAX_SIZE_REACHED, member_id)
        if not self._supports_classic_protocols(group, protocol_type, protocols):
            return JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, member_id)
        if is_unknown and require_known_member_id and instance_id is None:
            # the member id is handed out and used on the next JoinGroup
            return JoinResult(ErrorCode.MEMBER_ID_REQUIRED, member_id)
        try:
            sub = decode_subscription(protocols[0][1])
        except ValueError:
            # Kafka fails such a join with an internal error (IllegalStateException)
            return JoinResult(ErrorCode.UNKNOWN_SERVER_ERROR, member_id)
        before = snapshot(group, member_id if member_id in group.members else None)
        before_tombstones: list[tuple[bytes, bytes | None]] = []
        member = group.members.get(member_id)
        bump = False
        if instance_id is not None:
            current = group.static_members.get(instance_id)
            if current is not None and current != member_id:
                if not is_unknown:
                    return JoinResult(ErrorCode.FENCED_INSTANCE_ID, member_id)
                old = group.members.get(current)
                if old is not None and old.classic is None:
                    return JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id)
                if old is not None:
                    # the restarted static member takes over its old place and partitions
                    before_tombstones = self._rename_member(group, current, member_id)
                    member = old
                group.static_members[instance_id] = member_id
        if member is None:
            member = ConsumerGroupMember(member_id, instance_id=instance_id)
            group.members[member_id] = member
            if instance_id is not None:
                group.static_members[instance_id] = member_id
            bump = True
        elif member.classic is None:
            return JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id)
        member.classic = ClassicMemberMetadata(session_timeout_ms, protocols)
        member.client_id = client_id
        member.client_host = client_host
        if sub.rack_id is not None:
            member.rack_id = sub.rack_id
        if rebalance_timeout_ms != -1:
            member.rebalance_timeout_ms = rebalance_timeout_ms
        member.server_assignor = None
        if sorted(sub.topics) != sorted(member.subscribed_topic_names):
            member.subscribed_topic_names = list(sub.topics)
            bump = True
        # what the member owns is what its subscription says (nothing for eager clients,
        # which give everything up before they rejoin)
        code = await self._settle_member(group, member, to_ids(sub.owned, self._topic_lookup), bump,
                                         before, before_tombstones)
        if code != ErrorCode.NONE:
            return JoinResult(code, member_id)
        return JoinResult(
            ErrorCode.NONE,
            member.member_id,
            generation_id=member.member_epoch,
            protocol_type=CONSUMER_PROTOCOL_TYPE,
            protocol_name=member.classic.first_protocol(),
        )

    def _classic_member(
        self, group: ConsumerGroup, member_id: str, instance_id: str | None
    ) -> tuple[ErrorCode, ConsumerGroupMember | None]:
        """The classic member a SyncGroup/Heartbeat/LeaveGroup names, as Kafka validates it."""
        if instance_id is not None:
            mid = group.static_members.get(instance_id)
            member = group.members.get(mid) if mid is not None else None
            if member is None:
                return ErrorCode.UNKNOWN_MEMBER_ID, None
            if member_id != UNKNOWN_MEMBER_ID and member.member_id != member_id:
                return ErrorCode.FENCED_INSTANCE_ID, None
        else:
            member = group.members.get(member_id)
        if member is None or member.classic is None:
            return ErrorCode.UNKNOWN_MEMBER_ID, None
        return ErrorCode.NONE, member

    def _classic_sync_consumer_group(
        self,
        group: ConsumerGroup,
        generation_id: int,
        member_id: str,
        instance_id: str | None,
        protocol_type: str | None,
        protocol_name: str | None,
    ) -> SyncResult:
        error, member = self._classic_member(group, member_id, instance_id)
        if member is None:
            return SyncResult(error)
        assert member.classic is not None
        if generation_id != member.member_epoch:
            return SyncResult(ErrorCode.ILLEGAL_GENERATION)
        if (protocol_type is not None and protocol_type != CONSUMER_PROTOCOL_TYPE) or (
            protocol_name is not None and protocol_name != member.classic.first_protocol()
        ):
            return SyncResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
        if group.group_epoch > member.member_epoch and member.state is not MemberState.UNREVOKED_PARTITIONS:
            return SyncResult(ErrorCode.REBALANCE_IN_PROGRESS)
        self._schedule_consumer_session(group, member.member_id)
        return SyncResult(
            ErrorCode.NONE,
            CONSUMER_PROTOCOL_TYPE,
            member.classic.first_protocol(),
            self._embedded_assignment(group, member.classic.version(), member.assigned),
        )

    def _classic_heartbeat_consumer_group(
        self, group: ConsumerGroup, member_id: str, instance_id: str | None, generation_id: int
    ) -> ErrorCode:
        error, member = self._classic_member(group, member_id, instance_id)
        if member is None:
            return error
        if generation_id != member.member_epoch:
            return ErrorCode.ILLEGAL_GENERATION
        self._schedule_consumer_session(group, member.member_id)
        # rejoin when the group moved on, when partitions must be given up, or when
        # partitions it waits for have been released
        if member.member_epoch < group.group_epoch or member.state is MemberState.UNREVOKED_PARTITIONS:
            return ErrorCode.REBALANCE_IN_PROGRESS
        if member.state is MemberState.UNRELEASED_PARTITIONS:
            wanted = {t: ps - member.assigned.get(t, set())
                      for t, ps in group.target.get(member.member_id, {}).items()}
            others = group.owned_by_others(member.member_id)
            if not any(ps & others.get(t, set()) for t, ps in wanted.items()):
                return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE

    def _classic_leave_consumer_group(
        self, group: ConsumerGroup, member_id: str, instance_id: str | None
    ) -> ErrorCode:
        error, member = self._classic_member(group, member_id, instance_id)
        if member is None:
            return error
        self._remove_consumer_member(group, member.member_id)
        return ErrorCode.NONE

    def consumer_group_describe(self, group_id: str) -> tuple[ErrorCode, str | None, ConsumerGroup | None]:
        """ConsumerGroupDescribe for one group."""
        error = self._validate(group_id, allow_empty=True)
        if error is not None:
            return error, None, None
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} not found.", None
        if not isinstance(group, ConsumerGroup):
            return ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} is not a consumer group.", None
        return ErrorCode.NONE, None, group

    # ------------------------------------------------------------------ helpers

    def _abort_group_waiters(self, group: Any, error: ErrorCode) -> None:
        if not isinstance(group, ClassicGroup):
            return
        for member in group.members.values():
            self._invoke_join(group, member, JoinResult(error, member.member_id))
            self._invoke_sync(member, SyncResult(error))

    def _abort_waiters(self, error: ErrorCode) -> None:
        for group in self.groups.values():
            self._abort_group_waiters(group, error)
