"""The one error type every decode failure raises."""

from __future__ import annotations


class ProtocolError(Exception):
    """The peer sent bytes that are not a valid Kafka message.

    It says how the broker should answer:

    * ``error_code`` set and the request header known (``correlation_id`` not None):
      answer that request with ``error_code`` (e.g. ``UNSUPPORTED_VERSION`` for
      ApiVersions, which Kafka answers with a v0 body).
    * otherwise, or ``close`` true: close the connection, as Kafka does for a
      malformed request or an oversized frame.
    """

    def __init__(
        self,
        message: str,
        *,
        error_code: int | None = None,
        close: bool = True,
        api_key: int | None = None,
        api_version: int | None = None,
        correlation_id: int | None = None,
    ) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.close = close
        self.api_key = api_key
        self.api_version = api_version
        self.correlation_id = correlation_id
