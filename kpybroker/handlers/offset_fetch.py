"""OffsetFetch (key 9), v0-v10 implemented, v0-v9 advertised (as Kafka 4.1).

Returns a group's committed offsets: the listed partitions (-1 and empty metadata
for those never committed), or every committed partition when topics is null
(v2+). v2 adds a top-level error (before it, a group-level error is repeated on
each partition); v5 the leader epoch; v7 require_stable (UNSTABLE_OFFSET_COMMIT
for partitions with transactional offsets still pending their commit marker); v8 several groups at once; v10 topic ids.
"""

from __future__ import annotations

import uuid
from typing import Any

from kpybroker.dispatch import handler
from kpybroker.group_coordinator.handler_support import NOT_AVAILABLE, coordinator_of
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.offset_fetch import OffsetFetchRequest, OffsetFetchResponse

_ZERO_UUID = uuid.UUID(int=0)
R = OffsetFetchResponse


def _fetch(coord: Any, group_id: str, wanted: list[tuple[str, int]] | None, require_stable: bool,
           member_id: str | None = None, member_epoch: int = -1):
    if coord is None:
        return NOT_AVAILABLE, {}
    return coord.fetch_offsets(group_id, wanted, require_stable, member_id=member_id,
                               member_epoch=member_epoch)


def _group_topics(
    topics: Any, version: int, store: Any
) -> tuple[list[tuple[str, int]] | None, dict[str, uuid.UUID], set[str]]:
    """Requested partitions, the topic id of each name, and names of unknown ids."""
    if topics is None:
        return None, {}, set()
    wanted: list[tuple[str, int]] = []
    ids: dict[str, uuid.UUID] = {}
    unknown: set[str] = set()
    for t in topics:
        if version >= 10:
            meta = store.get_topic_by_id(t.topic_id) if store is not None else None
            name = meta.name if meta is not None else f"<unknown {t.topic_id}>"
            ids[name] = t.topic_id
            if meta is None:
                unknown.add(name)
        else:
            name = t.name
        wanted.extend((name, p) for p in t.partition_indexes)
    return wanted, ids, unknown


def _topic_id(store: Any, name: str) -> uuid.UUID:
    meta = store.get_topic(name) if store is not None else None
    return meta.topic_id if meta is not None else _ZERO_UUID


# v10 (topics by id) is implemented, but Kafka 4.1 does not advertise it (4.2 does);
# advertising it made clients take us for a newer release than the one we present.
@handler(ApiKey.OFFSET_FETCH, 0, 9)
async def handle(ctx: Any, header: Any, request: OffsetFetchRequest) -> OffsetFetchResponse:
    version = header.request_api_version
    coord = coordinator_of(ctx)
    store = getattr(ctx.broker, "metadata", None)
    require_stable = bool(request.require_stable) if version >= 7 else False
    if version < 8:
        wanted, _, _ = _group_topics(request.topics, version, store)
        error, found = _fetch(coord, request.group_id, wanted, require_stable)
        by_topic: dict[str, list[R.OffsetFetchResponsePartition]] = {}
        if error != ErrorCode.NONE:
            if version >= 2:
                return R(error_code=int(error), topics=[])
            # before v2 the error rides on every requested partition
            for name, p in wanted or []:
                by_topic.setdefault(name, []).append(
                    R.OffsetFetchResponsePartition(
                        partition_index=p, committed_offset=-1, metadata="", error_code=int(error)
                    )
                )
        else:
            for (name, p), (om, perr) in found.items():
                by_topic.setdefault(name, []).append(
                    R.OffsetFetchResponsePartition(
                        partition_index=p,
                        committed_offset=om.offset if om else -1,
                        committed_leader_epoch=om.leader_epoch if om else -1,
                        metadata=om.metadata if om else "",
                        error_code=int(perr),
                    )
                )
        return R(
            error_code=int(error),
            topics=[R.OffsetFetchResponseTopic(name=n, partitions=ps) for n, ps in by_topic.items()],
        )

    groups = []
    for g in request.groups:
        wanted, ids, unknown = _group_topics(g.topics, version, store)
        member_id = g.member_id if version >= 9 else None
        error, found = _fetch(coord, g.group_id, wanted, require_stable, member_id,
                              g.member_epoch if version >= 9 else -1)
        by_topic2: dict[str, list[R.OffsetFetchResponsePartitions]] = {}
        for (name, p), (om, perr) in found.items():
            if g.topics is None and version >= 10 and _topic_id(store, name) == _ZERO_UUID:
                continue  # a deleted topic has no id to report it under
            by_topic2.setdefault(name, []).append(
                R.OffsetFetchResponsePartitions(
                    partition_index=p,
                    committed_offset=om.offset if om else -1,
                    committed_leader_epoch=om.leader_epoch if om else -1,
                    metadata=om.metadata if om else "",
                    error_code=int(ErrorCode.UNKNOWN_TOPIC_ID if name in unknown else perr),
                )
            )
        groups.append(
            R.OffsetFetchResponseGroup(
                group_id=g.group_id,
                error_code=int(error),
                topics=[
                    R.OffsetFetchResponseTopics(
                        name=n if version < 10 else "",
                        topic_id=ids.get(n) or _topic_id(store, n),
                        partitions=ps,
                    )
                    for n, ps in by_topic2.items()
                ],
            )
        )
    return R(groups=groups)
