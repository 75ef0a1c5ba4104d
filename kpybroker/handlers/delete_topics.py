"""DeleteTopics (API key 20), every version wire covers (0-6).

Topics are named by name (v0-5 ``topic_names``; v6 ``topics`` with a name) or by
topic id (v6). As Kafka's ControllerApis.deleteTopics: a name or id given twice
is INVALID_REQUEST ("Duplicate topic name." / "Duplicate topic id."), both name
and id, or neither, in one entry is INVALID_REQUEST, a name resolving to an id
also given by id is INVALID_REQUEST; an unknown name is
UNKNOWN_TOPIC_OR_PARTITION and an unknown id UNKNOWN_TOPIC_ID. With
``delete.topic.enable=false`` every topic gets TOPIC_DELETION_DISABLED (v3+) or
INVALID_REQUEST (older versions); ``timeout_ms`` of zero or less REQUEST_TIMED_OUT
(the controller's deadline has passed). The broker removes the partitions' files.
"""

from __future__ import annotations

import uuid
from typing import Any

from kpybroker import admin_configs as ac
from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.delete_topics import DeleteTopicsRequest, DeleteTopicsResponse

ZERO_UUID = uuid.UUID(int=0)
Result = DeleteTopicsResponse.DeletableTopicResult


def _result(
    name: str | None,
    topic_id: uuid.UUID,
    code: ErrorCode,
    message: str | None = None,
    version: int = 6,
) -> Any:
    if name is None and version < 6:
        name = ""
    if code == ErrorCode.NONE:
        message = None
    elif message is None:
        message = code.message
    return Result(name=name, topic_id=topic_id, error_code=int(code), error_message=message)


@handler(ApiKey.DELETE_TOPICS)
async def handle(ctx: Any, header: Any, request: DeleteTopicsRequest) -> DeleteTopicsResponse:
    broker = ctx.broker
    version = header.request_api_version
    entries: list[tuple[str | None, uuid.UUID]] = [(n, ZERO_UUID) for n in request.topic_names]
    entries += [(t.name, t.topic_id) for t in request.topics]

    if request.timeout_ms <= 0:
        # The controller's deadline (now + timeout_ms) has passed before it runs.
        return DeleteTopicsResponse(
            throttle_time_ms=0,
            responses=[
                _result(n, tid, ErrorCode.REQUEST_TIMED_OUT, None, version) for n, tid in entries
            ],
        )
    if not broker.config.get("delete.topic.enable"):
        code = ErrorCode.TOPIC_DELETION_DISABLED if version >= 3 else ErrorCode.INVALID_REQUEST
        message = "Topic deletion is disabled." if version < 3 else None
        return DeleteTopicsResponse(
            throttle_time_ms=0,
            responses=[_result(n, tid, code, message, version) for n, tid in entries],
        )

    results: list[Any] = []
    name_count: dict[str, int] = {}
    id_count: dict[uuid.UUID, int] = {}
    for name, tid in entries:
        if name is not None and tid == ZERO_UUID:
            name_count[name] = name_count.get(name, 0) + 1
        elif name is None and tid != ZERO_UUID:
            id_count[tid] = id_count.get(tid, 0) + 1

    store = broker.metadata
    # (name, id as given) of each topic to delete, in request order.
    to_delete: list[tuple[str, uuid.UUID]] = []
    claimed_ids: dict[uuid.UUID, str] = {}
    reported: set[Any] = set()
    for name, tid in entries:
        if name is None and tid == ZERO_UUID:
            results.append(
                _result(
                    None,
                    ZERO_UUID,
                    ErrorCode.INVALID_REQUEST,
                    "Neither topic name nor id were specified.",
                    version,
                )
            )
        elif name is not None and tid != ZERO_UUID:
            results.append(
                _result(
                    name,
                    tid,
                    ErrorCode.INVALID_REQUEST,
                    "You may not specify both topic name and topic id.",
                    version,
                )
            )
        elif name is not None:
            if name_count[name] > 1:
                if ("name", name) not in reported:
                    reported.add(("name", name))
                    results.append(
                        _result(
                            name,
                            ZERO_UUID,
                            ErrorCode.INVALID_REQUEST,
                            "Duplicate topic name.",
                            version,
                        )
                    )
                continue
            topic = store.get_topic(name)
            if topic is None:
                results.append(
                    _result(name, ZERO_UUID, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, None, version)
                )
                continue
            to_delete.append((name, ZERO_UUID))
        else:
            if id_count[tid] > 1:
                if ("id", tid) not in reported:
                    reported.add(("id", tid))
                    results.append(
                        _result(
                            None, tid, ErrorCode.INVALID_REQUEST, "Duplicate topic id.", version
                        )
                    )
                continue
            topic = store.get_topic_by_id(tid)
            if topic is None:
                results.append(_result(None, tid, ErrorCode.UNKNOWN_TOPIC_ID, None, version))
                continue
            claimed_ids[tid] = topic.name
            to_delete.append((topic.name, tid))

    by_name_ids = {
        getattr(store.get_topic(n), "topic_id", None) for n, g in to_delete if g == ZERO_UUID
    }
    for name, given_id in to_delete:
        topic = store.get_topic(name)
        if topic is None:  # deleted meanwhile by another request
            results.append(
                _result(name, given_id, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, None, version)
            )
            continue
        topic_id = topic.topic_id
        if topic_id in claimed_ids and topic_id in by_name_ids:
            # The same topic by name and by id: Kafka deletes neither and answers
            # only the name entry.
            if given_id == ZERO_UUID:
                results.append(
                    _result(
                        name,
                        topic_id,
                        ErrorCode.INVALID_REQUEST,
                        "The provided topic name maps to an ID that was already supplied.",
                        version,
                    )
                )
            continue
        try:
            await broker.delete_topic(name)
        except Exception as exc:
            code = ac.error_code_of(exc)
            if code is None:
                raise
            results.append(_result(name, topic_id, code, ac.error_message_of(exc), version))
            continue
        results.append(_result(name, topic_id, ErrorCode.NONE, None, version))
    return DeleteTopicsResponse(throttle_time_ms=0, responses=results)
