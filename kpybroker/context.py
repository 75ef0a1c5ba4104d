"""What a handler knows about the request it is answering."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kpybroker.broker import Broker

# Kafka's KafkaPrincipal.ANONYMOUS: every connection's principal without SASL or TLS.
ANONYMOUS_PRINCIPAL = "User:ANONYMOUS"


@dataclass(slots=True)
class RequestContext:
    """Per-request facts handed to every handler with the decoded request.

    ``listener_name`` is the listener the connection arrived on: Metadata answers
    with the advertised endpoint of that same listener, as Kafka does.
    """

    broker: Broker
    client_id: str | None
    client_host: str
    connection_id: str
    principal: str = ANONYMOUS_PRINCIPAL
    listener_name: str = "PLAINTEXT"
    api_key: int = -1
    api_version: int = -1
    correlation_id: int = -1

    def now_ms(self) -> int:
        """Wall-clock milliseconds (Kafka's time.milliseconds())."""
        return time.time_ns() // 1_000_000
