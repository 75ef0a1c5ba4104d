"""AlterClientQuotas (API key 49), every version wire covers (0-1).

Stores client quotas (entity -> key -> value) durably in the metadata store so
admin clients can round-trip them; kpybroker does NOT enforce them (no client
is ever throttled). Validation and answers follow Kafka's
ClientQuotaControlManager, per entity:

* entity types ``user``, ``client-id``, ``ip`` only ("Unhandled client quota
  entity type: X"); no entity at all or an empty name is INVALID_REQUEST; a
  null name is the type's default entity; ``ip`` cannot be combined with the
  others and must be an IP address or a resolvable host;
* each key must belong to the entity's kind (``user``/``client-id``:
  producer_byte_rate, consumer_byte_rate, request_percentage,
  controller_mutation_rate; ``ip``: connection_creation_rate), values must be
  positive and whole for the integral keys; removing a key is always allowed;
* a key given twice, or an entity given twice, is INVALID_REQUEST "Ignoring
  duplicate entity ..." (as Kafka, the first mention of a repeated entity still
  applies);
* ``validate_only`` checks and answers without storing anything.

All accepted changes are written in one metadata store update. One result per
distinct entity, in request order.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import trio

from kpybroker.dispatch import handler
from kpybroker.handlers._quotas import (
    CLIENT_ID,
    ENTITY_TYPES,
    IP,
    IP_KEYS,
    USER,
    USER_CLIENT_KEYS,
    entity_repr,
    value_error,
)
from replication.metadata_store import quota_entity
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.alter_client_quotas import AlterClientQuotasRequest, AlterClientQuotasResponse

Resp = AlterClientQuotasResponse
RESOLVE_TIMEOUT_S = 10


async def _valid_ip_entity(name: str | None) -> bool:
    """Kafka's isValidIpEntity: null (the default), an address, or a host that resolves."""
    if name is None:
        return True
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    # A resolver that never answers must not hold the connection forever.
    with trio.move_on_after(RESOLVE_TIMEOUT_S):
        try:
            await trio.socket.getaddrinfo(name, None)
        except (OSError, UnicodeError, ValueError):
            # UnicodeError: names the IDNA codec refuses (empty labels, ...).
            return False
        return True
    return False


async def _entity_error(entity: dict[str, str | None]) -> tuple[str | None, dict[str, str]]:
    """The INVALID_REQUEST message for a bad entity (or None), and its valid keys."""
    if not entity:
        return "Invalid empty client quota entity", {}
    for entity_type, name in entity.items():
        if entity_type not in ENTITY_TYPES:
            return f"Unhandled client quota entity type: {entity_type}", {}
        if name is not None and name == "":
            return f"Empty {entity_type} not supported", {}
    if IP in entity:
        if USER in entity or CLIENT_ID in entity:
            # Kafka's message has no space between "should" and "not".
            return (
                "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId",
                {},
            )
        if not await _valid_ip_entity(entity[IP]):
            return f"{entity[IP]} is not a valid IP or resolvable host.", {}
        return None, IP_KEYS
    return None, USER_CLIENT_KEYS


@handler(ApiKey.ALTER_CLIENT_QUOTAS)
async def handle(ctx: Any, header: Any, request: AlterClientQuotasRequest) -> AlterClientQuotasResponse:
    store = ctx.broker.metadata
    current = store.client_quotas()
    results: dict[Any, tuple[dict[str, str | None], ErrorCode, str | None]] = {}
    updates: dict[Any, dict[str, float]] = {}
    for entry in request.entries:
        entity: dict[str, str | None] = {}
        for e in entry.entity:
            entity[e.entity_type] = e.entity_name
        key = quota_entity(entity)
        ops: dict[str, float | None] = {}
        duplicate_key = False
        for op in entry.ops:
            if op.key in ops:
                duplicate_key = True
            else:
                ops[op.key] = None if op.remove else float(op.value)
        if duplicate_key or key in results:
            # Kafka reports a repeated key the same way as a repeated entity.
            results[key] = (
                entity,
                ErrorCode.INVALID_REQUEST,
                f"Ignoring duplicate entity {entity_repr(entity)}",
            )
            continue
        message, valid_keys = await _entity_error(entity)
        if message is None:
            base = current.get(key, {})
            new_values = dict(current.get(key, {}))
            for quota_key, value in ops.items():
                if value is None:
                    new_values.pop(quota_key, None)
                    continue
                message = value_error(valid_keys, quota_key, value)
                if message is not None:
                    break
                new_values[quota_key] = value
            if message is None and new_values != base:
                updates[key] = new_values
        if message is None:
            results[key] = (entity, ErrorCode.NONE, None)
        else:
            results[key] = (entity, ErrorCode.INVALID_REQUEST, message)
    if updates and not request.validate_only:
        store.set_client_quotas(updates)
    return Resp(
        throttle_time_ms=0,
        entries=[
            Resp.EntryData(
                error_code=int(code),
                error_message=message,
                entity=[Resp.EntityData(entity_type=t, entity_name=n) for t, n in sorted(entity.items())],
            )
            for entity, code, message in results.values()
        ],
    )
