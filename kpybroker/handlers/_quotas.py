"""Client quota validation shared by DescribeClientQuotas and AlterClientQuotas.

Kafka's entity types and quota keys (QuotaConfig): ``user`` and ``client-id``
entities take ``producer_byte_rate`` and ``consumer_byte_rate`` (long),
``request_percentage`` and ``controller_mutation_rate`` (double); an ``ip``
entity takes ``connection_creation_rate`` (int) and cannot be combined with
the other two.
"""

from __future__ import annotations

import math

USER, CLIENT_ID, IP = "user", "client-id", "ip"
ENTITY_TYPES = (USER, CLIENT_ID, IP)

LONG_MAX = float(2**63 - 1)
INT_MAX = float(2**31 - 1)
SHORT_MAX = float(2**15 - 1)

USER_CLIENT_KEYS: dict[str, str] = {
    "producer_byte_rate": "long",
    "consumer_byte_rate": "long",
    "request_percentage": "double",
    "controller_mutation_rate": "double",
}
IP_KEYS: dict[str, str] = {"connection_creation_rate": "int"}


def entity_repr(entity: dict[str, str | None]) -> str:
    """How Kafka's ClientQuotaEntity prints in error messages."""
    inner = ", ".join(f"{k}={'null' if v is None else v}" for k, v in sorted(entity.items()))
    return f"ClientQuotaEntity(entries={{{inner}}})"


def value_error(keys: dict[str, str], key: str, value: float) -> str | None:
    """Kafka's validateQuotaKeyValue: the INVALID_REQUEST message, or None."""
    kind = keys.get(key)
    if kind is None:
        return f"Invalid configuration key {key}"
    if value <= 0.0:
        return f"Quota {key} must be greater than 0"
    if kind == "double":
        return None
    limit, article, name = {
        "short": (SHORT_MAX, "a", "SHORT"),
        "int": (INT_MAX, "an", "INT"),
        "long": (LONG_MAX, "a", "LONG"),
    }[kind]
    if value > limit:
        return f"Proposed value for {key} is too large for {article} {name}."
    if abs(math.fmod(value, 1.0)) > 1e-6:
        return f"{key} cannot be a fractional value."
    return None
