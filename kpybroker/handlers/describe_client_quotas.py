"""DescribeClientQuotas (API key 48), every version wire covers (0-1).

Quotas are stored (AlterClientQuotas) but NOT enforced: kpybroker never
throttles a client. The answer is Kafka's ClientQuotasImage.describe over the
stored entities:

* each filter component names an entity type (``user``, ``client-id``,
  ``ip``) once, with match type 0 exact (``match`` names the entity; it must
  not be null), 1 default (the type's default entity; ``match`` must be
  null) or 2 specified (any entity of that type; ``match`` must be null);
  ``ip`` cannot be combined with the other two;
* ``strict``: an entity matches only if it has no entity types beyond the
  filter's; otherwise extra types are allowed;
* a bad filter answers the whole request with INVALID_REQUEST (an unknown
  entity type: UNSUPPORTED_VERSION) and Kafka's message, and null entries.
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from kpybroker.handlers._quotas import CLIENT_ID, ENTITY_TYPES, IP, USER
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.describe_client_quotas import (
    DescribeClientQuotasRequest,
    DescribeClientQuotasResponse,
)

Resp = DescribeClientQuotasResponse
MATCH_EXACT, MATCH_DEFAULT, MATCH_SPECIFIED = 0, 1, 2


class _BadFilter(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_filter(request: DescribeClientQuotasRequest) -> tuple[dict[str, str | None], set[str]]:
    """The filter as (exact entity names by type, types that must be present)."""
    exact: dict[str, str | None] = {}
    specified: set[str] = set()
    for c in request.components:
        if c.entity_type == "":
            raise _BadFilter(ErrorCode.INVALID_REQUEST, "Invalid empty entity type.")
        if c.entity_type in exact or c.entity_type in specified:
            raise _BadFilter(
                ErrorCode.INVALID_REQUEST,
                f"Entity type {c.entity_type} cannot appear more than once in the filter.",
            )
        if c.entity_type not in ENTITY_TYPES:
            raise _BadFilter(ErrorCode.UNSUPPORTED_VERSION, f"Unsupported entity type {c.entity_type}")
        if c.match_type == MATCH_EXACT:
            if c.match is None:
                raise _BadFilter(
                    ErrorCode.INVALID_REQUEST,
                    "Request specified MATCH_TYPE_EXACT, but set match string to null.",
                )
            exact[c.entity_type] = c.match
        elif c.match_type == MATCH_DEFAULT:
            if c.match is not None:
                raise _BadFilter(
                    ErrorCode.INVALID_REQUEST,
                    "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.",
                )
            exact[c.entity_type] = None
        elif c.match_type == MATCH_SPECIFIED:
            if c.match is not None:
                raise _BadFilter(
                    ErrorCode.INVALID_REQUEST,
                    "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.",
                )
            specified.add(c.entity_type)
        else:
            raise _BadFilter(ErrorCode.INVALID_REQUEST, f"Unknown match type {c.match_type}")
    if (IP in exact or IP in specified) and (
        USER in exact or USER in specified or CLIENT_ID in exact or CLIENT_ID in specified
    ):
        raise _BadFilter(
            ErrorCode.INVALID_REQUEST,
            "Invalid entity filter component combination. IP filter component should not be "
            "used with user or clientId filter component.",
        )
    return exact, specified


def matches(entity: dict[str, str | None], exact: dict[str, str | None], specified: set[str],
            strict: bool) -> bool:
    """Kafka's ClientQuotasImage.matches."""
    if strict and len(entity) != len(exact) + len(specified):
        return False
    for entity_type, name in exact.items():
        if entity_type not in entity or entity[entity_type] != name:
            return False
    return all(t in entity for t in specified)


@handler(ApiKey.DESCRIBE_CLIENT_QUOTAS)
async def handle(
    ctx: Any, header: Any, request: DescribeClientQuotasRequest
) -> DescribeClientQuotasResponse:
    try:
        exact, specified = parse_filter(request)
    except _BadFilter as exc:
        return Resp(throttle_time_ms=0, error_code=int(exc.code), error_message=exc.message, entries=None)
    entries = []
    for key, values in sorted(ctx.broker.metadata.client_quotas().items(), key=lambda kv: repr(kv[0])):
        entity = dict(key)
        if not matches(entity, exact, specified, bool(request.strict)):
            continue
        entries.append(
            Resp.EntryData(
                entity=[Resp.EntityData(entity_type=t, entity_name=n) for t, n in key],
                values=[Resp.ValueData(key=k, value=v) for k, v in sorted(values.items())],
            )
        )
    return Resp(throttle_time_ms=0, error_code=0, error_message=None, entries=entries)
