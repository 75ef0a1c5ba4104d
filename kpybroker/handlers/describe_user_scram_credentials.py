"""DescribeUserScramCredentials (API key 50), every version wire covers (0).

Answered from the SCRAM credentials AlterUserScramCredentials stored, as
Kafka's ScramImage.describe: ``users`` null or empty lists every user that has
a credential; a named user without one gets RESOURCE_NOT_FOUND "Attempt to
describe a user credential that does not exist: U"; a user named twice gets
DUPLICATE_RESOURCE "Cannot describe SCRAM credentials for the same user twice
in a single request: U" (once). Each found user lists its mechanisms
(1 SCRAM-SHA-256, 2 SCRAM-SHA-512) with their iteration counts. Credentials
are stored but not used: every listener is PLAINTEXT, nobody authenticates.
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.describe_user_scram_credentials import (
    DescribeUserScramCredentialsRequest,
    DescribeUserScramCredentialsResponse,
)

Resp = DescribeUserScramCredentialsResponse
NOT_FOUND = "Attempt to describe a user credential that does not exist: "
DUPLICATE = "Cannot describe SCRAM credentials for the same user twice in a single request: "


@handler(ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS)
async def handle(
    ctx: Any, header: Any, request: DescribeUserScramCredentialsRequest
) -> DescribeUserScramCredentialsResponse:
    credentials = ctx.broker.metadata.scram_credentials()
    by_user: dict[str, list[tuple[int, int]]] = {}
    for (user, mechanism), cred in sorted(credentials.items()):
        by_user.setdefault(user, []).append((mechanism, cred.iterations))
    duplicated: dict[str, bool] = {}
    if not request.users:
        for user in by_user:
            duplicated[user] = False
    else:
        for u in request.users:
            duplicated[u.name] = u.name in duplicated
    results = []
    for user, is_duplicate in duplicated.items():
        if is_duplicate:
            results.append(Resp.DescribeUserScramCredentialsResult(
                user=user, error_code=int(ErrorCode.DUPLICATE_RESOURCE),
                error_message=DUPLICATE + user, credential_infos=[]))
        elif user in by_user:
            results.append(Resp.DescribeUserScramCredentialsResult(
                user=user, error_code=0, error_message=None,
                credential_infos=[Resp.CredentialInfo(mechanism=m, iterations=i) for m, i in by_user[user]]))
        else:
            results.append(Resp.DescribeUserScramCredentialsResult(
                user=user, error_code=int(ErrorCode.RESOURCE_NOT_FOUND),
                error_message=NOT_FOUND + user, credential_infos=[]))
    return Resp(throttle_time_ms=0, error_code=0, error_message=None, results=results)
