"""The new consumer group protocol (KIP-848): server-side assignment and reconciliation.

A member heartbeats with its subscription and the partitions it owns. Any change to
membership, subscriptions or the subscribed topics' partition counts bumps the group
epoch; the coordinator then computes a target assignment (`uniform` or `range`)
stamped with that epoch. Each member then reconciles towards its target: first it
gives up partitions the target takes away (its member epoch stays put until it
reports them revoked), then it moves to the new epoch and receives the partitions
no other member still holds; partitions another member has yet to release follow
on a later heartbeat. So a partition is never owned by two members at once.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from . import records as rec
from .migration import ClassicMemberMetadata

Assignment = dict[uuid.UUID, set[int]]
# topic name -> (topic id, partition count), None when the topic does not exist
TopicLookup = Callable[[str], tuple[uuid.UUID, int] | None]


class ConsumerGroupState(enum.Enum):
    """States of a consumer-protocol group, with Kafka's display names."""

    EMPTY = "Empty"
    ASSIGNING = "Assigning"
    RECONCILING = "Reconciling"
    STABLE = "Stable"
    DEAD = "Dead"


class MemberState(enum.Enum):
    """Where a member stands in reconciling towards its target assignment."""

    STABLE = "stable"
    UNREVOKED_PARTITIONS = "unrevoked_partitions"
    UNRELEASED_PARTITIONS = "unreleased_partitions"


@dataclass
class ConsumerGroupMember:
    """One member of a consumer-protocol group."""

    member_id: str
    instance_id: str | None = None
    rack_id: str | None = None
    client_id: str = ""
    client_host: str = ""
    rebalance_timeout_ms: int = 300_000
    subscribed_topic_names: list[str] = field(default_factory=list)
    subscribed_topic_regex: str | None = None
    server_assignor: str | None = None
    # topics the regex matched when the subscription metadata was last refreshed
    regex_topics: set[str] = field(default_factory=set)
    member_epoch: int = 0
    previous_member_epoch: int = -1
    state: MemberState = MemberState.STABLE
    assigned: Assignment = field(default_factory=dict)
    pending_revocation: Assignment = field(default_factory=dict)
    last_sent: Assignment | None = None
    # set for a member that speaks the classic protocol (JoinGroup/SyncGroup/Heartbeat)
    # inside this group, after an online upgrade or a classic join (KIP-848 migration)
    classic: ClassicMemberMetadata | None = None

    def topics(self) -> set[str]:
        """Every topic this member subscribes to, by name or by its regex."""
        return set(self.subscribed_topic_names) | self.regex_topics


def _copy(a: Assignment) -> Assignment:
    return {t: set(ps) for t, ps in a.items() if ps}


def _intersect(a: Assignment, b: Assignment) -> Assignment:
    return {t: a[t] & b[t] for t in a if t in b and a[t] & b[t]}


def _minus(a: Assignment, b: Assignment) -> Assignment:
    out = {t: ps - b.get(t, set()) for t, ps in a.items()}
    return {t: ps for t, ps in out.items() if ps}


def _union(a: Assignment, b: Assignment) -> Assignment:
    out = _copy(a)
    for t, ps in b.items():
        out.setdefault(t, set()).update(ps)
    return {t: ps for t, ps in out.items() if ps}


def _overlaps(a: Assignment, b: Assignment) -> bool:
    return any(a[t] & b[t] for t in a if t in b)


def is_subset(a: Assignment, b: Assignment) -> bool:
    return all(ps <= b.get(t, set()) for t, ps in a.items())


class ConsumerGroup:
    """A consumer-protocol group: epochs, members, target assignment and its offsets."""

    def __init__(self, group_id: str) -> None:
        self.group_id = group_id
        self.group_epoch = 0
        self.assignment_epoch = 0
        self.members: dict[str, ConsumerGroupMember] = {}
        self.static_members: dict[str, str] = {}
        self.target: dict[str, Assignment] = {}
        self.subscription_metadata: dict[str, tuple[uuid.UUID, int]] = {}
        self.assignor_name = "uniform"
        self.offsets: dict = {}
        self.dead = False
        self.protocol_type = "consumer"
        # Regexes a heartbeat brought into the group that are not resolved yet: as in
        # Kafka, they match nothing until the coordinator resolves them asynchronously.
        self.pending_regexes: set[str] = set()

    @property
    def state(self) -> ConsumerGroupState:
        if self.dead:
            return ConsumerGroupState.DEAD
        if not self.members:
            return ConsumerGroupState.EMPTY
        if self.assignment_epoch < self.group_epoch:
            return ConsumerGroupState.ASSIGNING
        for m in self.members.values():
            if m.member_epoch != self.assignment_epoch or m.state is not MemberState.STABLE:
                return ConsumerGroupState.RECONCILING
        return ConsumerGroupState.STABLE

    def subscribed_topics(self) -> set[str]:
        topics: set[str] = set()
        for m in self.members.values():
            topics.update(m.topics())
        return topics

    def is_subscribed_to_topic(self, topic: str) -> bool:
        return topic in self.subscribed_topics()

    def refresh_subscription_metadata(
        self, lookup: TopicLookup, all_topics: Callable[[], list[str]] | None = None
    ) -> bool:
        """Recompute the subscribed topics' ids and sizes; True (and a new epoch) if changed."""
        if all_topics is not None and any(m.subscribed_topic_regex for m in self.members.values()):
            names = all_topics()
            pending = self.pending_regexes
            for m in self.members.values():
                regex = m.subscribed_topic_regex
                m.regex_topics = set() if regex in pending else _regex_matches(regex, names)
        meta: dict[str, tuple[uuid.UUID, int]] = {}
        for topic in sorted(self.subscribed_topics()):
            found = lookup(topic)
            if found is not None:
                meta[topic] = found
        if meta != self.subscription_metadata:
            self.subscription_metadata = meta
            return True
        return False

    def compute_target_assignment(self, assignor: str) -> None:
        self.assignor_name = assignor
        fn = range_assign if assignor == "range" else uniform_assign
        self.target = fn(self.members, self.subscription_metadata)
        self.assignment_epoch = self.group_epoch

    def owned_by_others(self, member_id: str) -> Assignment:
        out: Assignment = {}
        for mid, m in self.members.items():
            if mid != member_id:
                out = _union(out, _union(m.assigned, m.pending_revocation))
        return out

    def reconcile(self, member: ConsumerGroupMember, owned: Assignment | None) -> None:
        """Move `member` towards its target (Kafka's CurrentAssignmentBuilder, in short)."""
        target = self.target.get(member.member_id, {})
        if member.state is MemberState.UNREVOKED_PARTITIONS:
            if owned is None or _overlaps(owned, member.pending_revocation):
                return  # still waiting for the member to give the partitions up
            member.pending_revocation = {}
            member.state = MemberState.STABLE
        if member.member_epoch == self.assignment_epoch and member.state is MemberState.STABLE:
            return
        keep = _intersect(member.assigned, target)
        revoke = _minus(member.assigned, target)
        if revoke:
            member.assigned = keep
            member.pending_revocation = revoke
            member.state = MemberState.UNREVOKED_PARTITIONS
            return
        wanted = _minus(target, keep)
        others = self.owned_by_others(member.member_id)
        unreleased = _intersect(wanted, others)
        member.assigned = _union(keep, _minus(wanted, others))
        if member.member_epoch != self.assignment_epoch:
            member.previous_member_epoch = member.member_epoch
            member.member_epoch = self.assignment_epoch
        member.state = MemberState.UNRELEASED_PARTITIONS if unreleased else MemberState.STABLE


def _regex_matches(pattern: str | None, names: list[str]) -> set[str]:
    if not pattern:
        return set()
    try:
        compiled = re.compile(pattern)
    except re.error:
        return set()
    # internal topics are never matched by a pattern, as in Kafka
    return {n for n in names if not n.startswith("__") and compiled.fullmatch(n)}


def _partitions_for(
    members: dict[str, ConsumerGroupMember], meta: dict[str, tuple[uuid.UUID, int]]
) -> list[tuple[str, uuid.UUID, int]]:
    out = []
    for topic, (topic_id, count) in sorted(meta.items()):
        for p in range(count):
            out.append((topic, topic_id, p))
    return out


def uniform_assign(
    members: dict[str, ConsumerGroupMember], meta: dict[str, tuple[uuid.UUID, int]]
) -> dict[str, Assignment]:
    """Spread every subscribed partition evenly, keeping partitions where they are when fair."""
    result: dict[str, Assignment] = {mid: {} for mid in members}
    if not members:
        return result
    partitions = _partitions_for(members, meta)
    subscribers: dict[str, list[str]] = {}
    for mid in sorted(members):
        for topic in members[mid].topics():
            subscribers.setdefault(topic, []).append(mid)
    counts = dict.fromkeys(members, 0)
    eligible_total: dict[str, int] = dict.fromkeys(members, 0)
    for topic, _, _ in partitions:
        for mid in subscribers.get(topic, []):
            eligible_total[mid] += 1
    n_sub = len([m for m in members if eligible_total[m] > 0]) or 1
    base, extra = divmod(len(partitions), n_sub)
    leftover = []
    # stickiness: a member keeps what it has, up to its fair share
    for topic, topic_id, p in partitions:
        owner = next(
            (mid for mid in subscribers.get(topic, []) if p in members[mid].assigned.get(topic_id, set())),
            None,
        )
        if owner is not None and counts[owner] < base:
            result[owner].setdefault(topic_id, set()).add(p)
            counts[owner] += 1
        else:
            leftover.append((topic, topic_id, p, owner))
    unassigned = []
    # the first `extra` members may hold one more: previous owners first
    for topic, topic_id, p, owner in leftover:
        if owner is not None and extra > 0 and counts[owner] == base:
            result[owner].setdefault(topic_id, set()).add(p)
            counts[owner] += 1
            extra -= 1
        else:
            unassigned.append((topic, topic_id, p))
    for topic, topic_id, p in unassigned:
        subs = subscribers.get(topic, [])
        if not subs:
            continue
        mid = min(subs, key=lambda m: (counts[m], m))
        result[mid].setdefault(topic_id, set()).add(p)
        counts[mid] += 1
    return result


def range_assign(
    members: dict[str, ConsumerGroupMember], meta: dict[str, tuple[uuid.UUID, int]]
) -> dict[str, Assignment]:
    """Per topic, contiguous ranges of partitions to the subscribers in member-id order."""
    result: dict[str, Assignment] = {mid: {} for mid in members}
    for topic, (topic_id, count) in sorted(meta.items()):
        subs = sorted(mid for mid, m in members.items() if topic in m.topics())
        if not subs:
            continue
        per, extra = divmod(count, len(subs))
        start = 0
        for i, mid in enumerate(subs):
            n = per + (1 if i < extra else 0)
            if n:
                result[mid][topic_id] = set(range(start, start + n))
            start += n
    return result


# --- persistence: which records a change needs (Kafka's record order) ---

STATE_CODES = {
    MemberState.STABLE: 0,
    MemberState.UNREVOKED_PARTITIONS: 1,
    MemberState.UNRELEASED_PARTITIONS: 2,
}


def _member_meta(m: ConsumerGroupMember) -> tuple:
    classic = None if m.classic is None else (m.classic.session_timeout_ms, tuple(m.classic.protocols))
    return (m.instance_id, m.rack_id, m.client_id, m.client_host, sorted(m.subscribed_topic_names),
            m.subscribed_topic_regex, m.rebalance_timeout_ms, m.server_assignor, classic)


def _member_assignment(m: ConsumerGroupMember) -> tuple:
    return (m.member_epoch, m.previous_member_epoch, m.state, _copy_assignment(m.assigned),
            _copy_assignment(m.pending_revocation))


def _copy_assignment(a: Assignment) -> dict:
    return {t: frozenset(ps) for t, ps in a.items()}


def snapshot(group: ConsumerGroup, member_id: str | None) -> dict:
    """What `changed_records` compares against: the group (and one member) before a change."""
    m = group.members.get(member_id) if member_id else None
    return {
        "epoch": group.group_epoch,
        "assignment_epoch": group.assignment_epoch,
        "meta": dict(group.subscription_metadata),
        "target": {mid: _copy_assignment(a) for mid, a in group.target.items()},
        "member_meta": _member_meta(m) if m else None,
        "member_assignment": _member_assignment(m) if m else None,
    }


def current_assignment_record(group_id: str, m: ConsumerGroupMember) -> tuple[bytes, bytes | None]:
    """The member's current assignment record (epochs, state, partitions)."""
    return (rec.cg_key(rec.CG_CURRENT_MEMBER_ASSIGNMENT, group_id, m.member_id),
            rec.cg_current_assignment_value(m, STATE_CODES[m.state]))


def member_tombstones(group_id: str, member_id: str) -> list[tuple[bytes, bytes | None]]:
    """Tombstones for every record keyed by this member."""
    return [
        (rec.cg_key(rec.CG_CURRENT_MEMBER_ASSIGNMENT, group_id, member_id), None),
        (rec.cg_key(rec.CG_TARGET_ASSIGNMENT_MEMBER, group_id, member_id), None),
        (rec.cg_key(rec.CG_MEMBER_METADATA, group_id, member_id), None),
    ]


def changed_records(
    group: ConsumerGroup, member: ConsumerGroupMember | None, before: dict
) -> list[tuple[bytes, bytes | None]]:
    """The records (in Kafka's order) that bring the log up to date with `group`."""
    gid = group.group_id
    out: list[tuple[bytes, bytes | None]] = []
    if member is not None and _member_meta(member) != before["member_meta"]:
        out.append((rec.cg_key(rec.CG_MEMBER_METADATA, gid, member.member_id),
                    rec.cg_member_metadata_value(member)))
    if group.subscription_metadata != before["meta"]:
        out.append((rec.cg_key(rec.CG_PARTITION_METADATA, gid),
                    rec.cg_partition_metadata_value(group.subscription_metadata)))
    if group.group_epoch != before["epoch"]:
        out.append((rec.cg_key(rec.CG_METADATA, gid), rec.cg_metadata_value(group.group_epoch)))
    if group.assignment_epoch != before["assignment_epoch"]:
        for mid in group.members:
            target = group.target.get(mid, {})
            if _copy_assignment(target) != before["target"].get(mid):
                out.append((rec.cg_key(rec.CG_TARGET_ASSIGNMENT_MEMBER, gid, mid),
                            rec.cg_target_member_value(target)))
        out.append((rec.cg_key(rec.CG_TARGET_ASSIGNMENT_METADATA, gid),
                    rec.cg_target_metadata_value(group.assignment_epoch)))
    if member is not None and _member_assignment(member) != before["member_assignment"]:
        out.append(current_assignment_record(gid, member))
    return out
