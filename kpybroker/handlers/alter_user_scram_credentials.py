"""AlterUserScramCredentials (API key 51), every version wire covers (0).

Stores and deletes SCRAM credentials as Kafka's ScramControlManager does
(Kafka 4 always supports SCRAM in its metadata), durably in the metadata
store. They are not used for anything yet: every kpybroker listener is
PLAINTEXT. Per user, in Kafka's order (deletions first, then upsertions):

* a user altered twice in one request (two deletions, two upsertions, or one
  of each, whatever the mechanisms) -> DUPLICATE_RESOURCE "A user credential
  cannot be altered twice in the same request";
* an empty name -> UNACCEPTABLE_CREDENTIAL "Username must not be empty"; a
  mechanism other than 1 (SCRAM-SHA-256) / 2 (SCRAM-SHA-512) ->
  UNSUPPORTED_SASL_MECHANISM "Unknown SCRAM mechanism";
* deleting a credential that does not exist -> RESOURCE_NOT_FOUND "Attempt to
  delete a user credential that does not exist";
* upsertion iterations below 4096 / above 16384 -> UNACCEPTABLE_CREDENTIAL
  "Too few iterations" / "Too many iterations".

An upsertion carries the salted password; as Kafka, only the salt, the stored
key H(HMAC(salted, "Client Key")), the server key HMAC(salted, "Server Key")
and the iteration count are kept. Results: successful deletions, successful
upsertions, then errors. All changes are applied in one store update.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from kpybroker.dispatch import handler
from replication.metadata_store import ScramCredential
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.alter_user_scram_credentials import (
    AlterUserScramCredentialsRequest,
    AlterUserScramCredentialsResponse,
)

Resp = AlterUserScramCredentialsResponse
HASHES = {1: hashlib.sha256, 2: hashlib.sha512}
MIN_ITERATIONS = 4096
MAX_ITERATIONS = 16384
TWICE = "A user credential cannot be altered twice in the same request"


def credential_from_salted_password(mechanism: int, salt: bytes, salted_password: bytes,
                                    iterations: int) -> ScramCredential:
    """What the server keeps of a SCRAM credential (RFC 5802 keys)."""
    digest = HASHES[mechanism]
    client_key = hmac.new(salted_password, b"Client Key", digest).digest()
    return ScramCredential(
        salt=bytes(salt),
        stored_key=digest(client_key).digest(),
        server_key=hmac.new(salted_password, b"Server Key", digest).digest(),
        iterations=iterations,
    )


def _name_and_mechanism_error(name: str, mechanism: int) -> tuple[ErrorCode, str] | None:
    if name == "":
        return ErrorCode.UNACCEPTABLE_CREDENTIAL, "Username must not be empty"
    if mechanism not in HASHES:
        return ErrorCode.UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism"
    return None


@handler(ApiKey.ALTER_USER_SCRAM_CREDENTIALS)
async def handle(
    ctx: Any, header: Any, request: AlterUserScramCredentialsRequest
) -> AlterUserScramCredentialsResponse:
    store = ctx.broker.metadata
    existing = store.scram_credentials()
    deletions: dict[str, Any] = {}
    upserts: dict[str, Any] = {}
    errors: dict[str, tuple[ErrorCode, str]] = {}
    for d in request.deletions:
        if d.name in errors:
            continue
        if deletions.pop(d.name, None) is not None:
            errors[d.name] = (ErrorCode.DUPLICATE_RESOURCE, TWICE)
            continue
        err = _name_and_mechanism_error(d.name, d.mechanism)
        if err is None and (d.name, d.mechanism) not in existing:
            err = (ErrorCode.RESOURCE_NOT_FOUND, "Attempt to delete a user credential that does not exist")
        if err is not None:
            errors[d.name] = err
        else:
            deletions[d.name] = d
    for u in request.upsertions:
        if u.name in errors:
            continue
        if deletions.pop(u.name, None) is not None or upserts.pop(u.name, None) is not None:
            errors[u.name] = (ErrorCode.DUPLICATE_RESOURCE, TWICE)
            continue
        err = _name_and_mechanism_error(u.name, u.mechanism)
        if err is None and u.iterations < MIN_ITERATIONS:
            err = (ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too few iterations")
        elif err is None and u.iterations > MAX_ITERATIONS:
            err = (ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too many iterations")
        if err is not None:
            errors[u.name] = err
        else:
            upserts[u.name] = u
    changes: dict[tuple[str, int], ScramCredential | None] = {}
    results = []
    for name, d in deletions.items():
        changes[(name, d.mechanism)] = None
        results.append(Resp.AlterUserScramCredentialsResult(user=name, error_code=0, error_message=None))
    for name, u in upserts.items():
        changes[(name, u.mechanism)] = credential_from_salted_password(
            u.mechanism, bytes(u.salt), bytes(u.salted_password), u.iterations)
        results.append(Resp.AlterUserScramCredentialsResult(user=name, error_code=0, error_message=None))
    for name, (code, message) in errors.items():
        results.append(Resp.AlterUserScramCredentialsResult(user=name, error_code=int(code), error_message=message))
    if changes:
        store.set_scram_credentials(changes)
    return Resp(throttle_time_ms=0, results=results)
