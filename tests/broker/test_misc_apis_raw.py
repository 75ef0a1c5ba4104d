"""ACLs, SASL, leader election, reassignments, DescribeTopicPartitions, client
quotas and SCRAM credentials over a real socket with raw requests.

Each test starts a broker on 127.0.0.1 port 0 in the test's own trio loop and
checks Kafka's exact answers (codes and messages) at every advertised version.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from typing import Any

import pytest

from kpybroker.server import open_broker
from replication.metadata_store import LocalMetadataStore
from tests.support.raw_client import AsyncRawClient
from tests.support.trio_broker import broker_config
from wire.errors import ErrorCode
from wire.messages.alter_client_quotas import AlterClientQuotasRequest
from wire.messages.alter_partition_reassignments import AlterPartitionReassignmentsRequest
from wire.messages.alter_replica_log_dirs import AlterReplicaLogDirsRequest
from wire.messages.alter_user_scram_credentials import AlterUserScramCredentialsRequest
from wire.messages.api_versions import ApiVersionsRequest
from wire.messages.create_acls import CreateAclsRequest
from wire.messages.create_delegation_token import CreateDelegationTokenRequest
from wire.messages.create_topics import CreateTopicsRequest
from wire.messages.delete_acls import DeleteAclsRequest
from wire.messages.describe_acls import DescribeAclsRequest
from wire.messages.describe_client_quotas import DescribeClientQuotasRequest
from wire.messages.describe_delegation_token import DescribeDelegationTokenRequest
from wire.messages.describe_topic_partitions import DescribeTopicPartitionsRequest
from wire.messages.describe_user_scram_credentials import DescribeUserScramCredentialsRequest
from wire.messages.elect_leaders import ElectLeadersRequest
from wire.messages.expire_delegation_token import ExpireDelegationTokenRequest
from wire.messages.list_partition_reassignments import ListPartitionReassignmentsRequest
from wire.messages.metadata import MetadataRequest
from wire.messages.renew_delegation_token import RenewDelegationTokenRequest
from wire.messages.sasl_authenticate import SaslAuthenticateRequest
from wire.messages.sasl_handshake import SaslHandshakeRequest

ZERO = uuid.UUID(int=0)
NONE = 0
ALL_TOPIC_OPS = sum(1 << op for op in (3, 4, 5, 6, 7, 8, 10, 11))


@pytest.fixture
async def broker(tmp_path: Any) -> Any:
    async with open_broker(broker_config(str(tmp_path / "data"))) as b:
        yield b


@pytest.fixture
async def client(broker: Any) -> Any:
    c = await AsyncRawClient.connect(broker)
    yield c
    await c.aclose()


async def create_topics(client: AsyncRawClient, **partitions: int) -> None:
    topics = [
        CreateTopicsRequest.CreatableTopic(name=n, num_partitions=p, replication_factor=1)
        for n, p in partitions.items()
    ]
    resp = await client.request(CreateTopicsRequest(topics=topics, timeout_ms=5000), 5)
    assert [t.error_code for t in resp.topics] == [0] * len(topics)


# -- ApiVersions -------------------------------------------------------------------------


async def test_api_versions_advertises_the_new_apis(client: AsyncRawClient) -> None:
    resp = await client.request(ApiVersionsRequest(client_software_name="t", client_software_version="1"), 3)
    keys = {k.api_key: (k.min_version, k.max_version) for k in resp.api_keys}
    for key in (17, 29, 30, 31, 34, 36, 38, 39, 40, 41, 43, 45, 46, 48, 49, 50, 51, 75):
        assert key in keys, key
    assert keys[29] == (0, 3) and keys[43] == (0, 2) and keys[75] == (0, 0)


# -- ACLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", range(4))
async def test_describe_acls_security_disabled(client: AsyncRawClient, version: int) -> None:
    req = DescribeAclsRequest(resource_type_filter=1, pattern_type_filter=1 if version else 3,
                              operation=1, permission_type=1)
    resp = await client.request(req, version)
    assert resp.error_code == ErrorCode.SECURITY_DISABLED == 54
    assert resp.error_message == "No Authorizer is configured on the broker"
    assert resp.resources == []


@pytest.mark.parametrize("version", range(4))
async def test_create_acls_security_disabled_per_creation(client: AsyncRawClient, version: int) -> None:
    creation = CreateAclsRequest.AclCreation(
        resource_type=2, resource_name="t", resource_pattern_type=3, principal="User:alice",
        host="*", operation=3, permission_type=3)
    resp = await client.request(CreateAclsRequest(creations=[creation, creation]), version)
    assert [(r.error_code, r.error_message) for r in resp.results] == [
        (54, "No Authorizer is configured.")] * 2
    empty = await client.request(CreateAclsRequest(creations=[]), version)
    assert empty.results == []


@pytest.mark.parametrize("version", range(4))
async def test_delete_acls_security_disabled_per_filter(client: AsyncRawClient, version: int) -> None:
    f = DeleteAclsRequest.DeleteAclsFilter(resource_type_filter=1, pattern_type_filter=1 if version else 3,
                                           operation=1, permission_type=1)
    resp = await client.request(DeleteAclsRequest(filters=[f, f, f]), version)
    assert [(r.error_code, r.error_message, r.matching_acls) for r in resp.filter_results] == [
        (54, "No Authorizer is configured.", [])] * 3


# -- SASL on a PLAINTEXT listener -------------------------------------------------------------


@pytest.mark.parametrize("version", range(2))
async def test_sasl_handshake_illegal_state(client: AsyncRawClient, version: int) -> None:
    resp = await client.request(SaslHandshakeRequest(mechanism="PLAIN"), version)
    assert resp.error_code == ErrorCode.ILLEGAL_SASL_STATE == 34
    assert resp.mechanisms == []
    # The connection stays usable.
    meta = await client.request(MetadataRequest(topics=None), 12)
    assert meta.brokers


@pytest.mark.parametrize("version", range(3))
async def test_sasl_authenticate_illegal_state(client: AsyncRawClient, version: int) -> None:
    resp = await client.request(SaslAuthenticateRequest(auth_bytes=b"\x00u\x00p"), version)
    assert resp.error_code == 34
    assert resp.error_message == "SaslAuthenticate request received after successful authentication"
    assert bytes(resp.auth_bytes) == b""


# -- ElectLeaders ----------------------------------------------------------------------------


def _elect(topics: dict[str, list[int]] | None, election_type: int = 0) -> ElectLeadersRequest:
    tps = None if topics is None else [
        ElectLeadersRequest.TopicPartitions(topic=t, partitions=ps) for t, ps in topics.items()]
    return ElectLeadersRequest(election_type=election_type, topic_partitions=tps, timeout_ms=5000)


def _election_results(resp: Any) -> dict[tuple[str, int], tuple[int, str | None]]:
    return {(t.topic, p.partition_id): (p.error_code, p.error_message)
            for t in resp.replica_election_results for p in t.partition_result}


@pytest.mark.parametrize("version", range(3))
async def test_elect_leaders_preferred_not_needed(client: AsyncRawClient, version: int) -> None:
    await create_topics(client, a=2)
    resp = await client.request(_elect({"a": [0, 1, 5], "nope": [0]}), version)
    if version >= 1:
        assert resp.error_code == 0
    assert _election_results(resp) == {
        ("a", 0): (84, None),
        ("a", 1): (84, None),
        ("a", 5): (3, "No such partition as a-5"),
        ("nope", 0): (3, "No such topic as nope"),
    }


@pytest.mark.parametrize("version", (1, 2))
async def test_elect_leaders_unclean_not_needed(client: AsyncRawClient, version: int) -> None:
    await create_topics(client, a=1)
    resp = await client.request(_elect({"a": [0]}, election_type=1), version)
    assert _election_results(resp) == {("a", 0): (84, None)}


async def test_elect_leaders_all_partitions_omits_not_needed(client: AsyncRawClient) -> None:
    await create_topics(client, a=2, b=1)
    resp = await client.request(_elect(None), 2)
    assert resp.error_code == 0
    assert sorted(t.topic for t in resp.replica_election_results) == ["a", "b"]
    assert all(t.partition_result == [] for t in resp.replica_election_results)


@pytest.mark.parametrize("version", (1, 2))
async def test_elect_leaders_unknown_election_type(client: AsyncRawClient, version: int) -> None:
    await create_topics(client, a=1)
    resp = await client.request(_elect({"a": [0]}, election_type=7), version)
    assert resp.error_code == ErrorCode.INVALID_REQUEST
    assert _election_results(resp) == {("a", 0): (42, "Unknown election type 7")}


# -- partition reassignments -------------------------------------------------------------------


@pytest.mark.parametrize("topics", [None, [ListPartitionReassignmentsRequest.ListPartitionReassignmentsTopics(
    name="a", partition_indexes=[0, 7])], [ListPartitionReassignmentsRequest.ListPartitionReassignmentsTopics(
        name="unknown", partition_indexes=[0])]])
async def test_list_partition_reassignments_empty(client: AsyncRawClient, topics: Any) -> None:
    await create_topics(client, a=1)
    resp = await client.request(ListPartitionReassignmentsRequest(timeout_ms=5000, topics=topics), 0)
    assert (resp.error_code, resp.error_message, resp.topics) == (0, None, [])


def _reassign(parts: dict[str, dict[int, list[int] | None]], allow_rf: bool = True) -> Any:
    R = AlterPartitionReassignmentsRequest
    return R(timeout_ms=5000, allow_replication_factor_change=allow_rf, topics=[
        R.ReassignableTopic(name=t, partitions=[R.ReassignablePartition(partition_index=p, replicas=r)
                                                for p, r in ps.items()])
        for t, ps in parts.items()])


def _reassign_results(resp: Any) -> dict[tuple[str, int], tuple[int, str | None]]:
    return {(t.name, p.partition_index): (p.error_code, p.error_message)
            for t in resp.responses for p in t.partitions}


@pytest.mark.parametrize("version", range(2))
async def test_alter_partition_reassignments(client: AsyncRawClient, broker: Any, version: int) -> None:
    await create_topics(client, a=2)
    me = broker.broker_id
    resp = await client.request(_reassign({
        "a": {0: [me], 1: None, 9: [me]},
        "b": {0: [me]},
    }), version)
    assert resp.error_code == 0 and resp.error_message is None
    assert _reassign_results(resp) == {
        ("a", 0): (0, None),
        ("a", 1): (85, "No partition reassignment is in progress."),
        ("a", 9): (3, "Unable to find partition a:9."),
        ("b", 0): (3, "Unable to find a topic named b."),
    }
    bad = await client.request(_reassign({"a": {0: [me + 1], 1: [], }}), version)
    assert _reassign_results(bad) == {
        ("a", 0): (39, f"The manual partition assignment includes broker {me + 1}, but no such broker "
                       "is registered."),
        ("a", 1): (39, "The manual partition assignment includes an empty replica list."),
    }
    dup = await client.request(_reassign({"a": {0: [me, me]}}), version)
    assert _reassign_results(dup) == {
        ("a", 0): (39, f"The manual partition assignment includes the broker {me} more than once.")}
    # Nothing changed: still one replica on this broker.
    state = broker.metadata.get_topic("a").partitions[0]
    assert state.replicas == [me] and state.leader == me


async def test_alter_partition_reassignments_v1_echoes_allow_flag(client: AsyncRawClient, broker: Any) -> None:
    await create_topics(client, a=1)
    resp = await client.request(_reassign({"a": {0: [broker.broker_id]}}, allow_rf=False), 1)
    assert resp.allow_replication_factor_change is False
    assert _reassign_results(resp) == {("a", 0): (0, None)}


# -- DescribeTopicPartitions ---------------------------------------------------------------------


def _dtp(names: list[str], limit: int = 2000, cursor: tuple[str, int] | None = None) -> Any:
    R = DescribeTopicPartitionsRequest
    return R(topics=[R.TopicRequest(name=n) for n in names], response_partition_limit=limit,
             cursor=None if cursor is None else R.Cursor(topic_name=cursor[0], partition_index=cursor[1]))


def _summary(resp: Any) -> list[tuple[str, int, list[int]]]:
    return [(t.name, t.error_code, [p.partition_index for p in t.partitions]) for t in resp.topics]


async def test_describe_topic_partitions_fields(client: AsyncRawClient, broker: Any) -> None:
    await create_topics(client, beta=2, alpha=1)
    resp = await client.request(_dtp(["beta", "alpha", "missing", "bad/name", "beta"]), 0)
    assert _summary(resp) == [
        ("alpha", 0, [0]), ("bad/name", 17, []), ("beta", 0, [0, 1]), ("missing", 3, [])]
    assert resp.next_cursor is None
    meta = broker.metadata
    by_name = {t.name: t for t in resp.topics}
    me = broker.broker_id
    beta = by_name["beta"]
    assert beta.topic_id == meta.get_topic("beta").topic_id != ZERO
    assert beta.is_internal is False
    assert beta.topic_authorized_operations == ALL_TOPIC_OPS
    for p in beta.partitions:
        state = meta.get_topic("beta").partitions[p.partition_index]
        assert (p.error_code, p.leader_id, p.leader_epoch) == (0, me, state.leader_epoch)
        assert p.replica_nodes == [me] and p.isr_nodes == [me]
        assert p.eligible_leader_replicas == [] and p.last_known_elr == [] and p.offline_replicas == []
    assert by_name["missing"].topic_id == ZERO and by_name["missing"].partitions == []


async def test_describe_topic_partitions_all_topics_in_name_order(client: AsyncRawClient) -> None:
    await create_topics(client, c=1, a=2, b=1)
    resp = await client.request(_dtp([]), 0)
    assert _summary(resp) == [("a", 0, [0, 1]), ("b", 0, [0]), ("c", 0, [0])]


async def test_describe_topic_partitions_paging(client: AsyncRawClient) -> None:
    await create_topics(client, a=3, b=2, c=1)
    # The limit stops inside a topic: the cursor names its next partition.
    resp = await client.request(_dtp([], limit=2), 0)
    assert _summary(resp) == [("a", 0, [0, 1])]
    assert (resp.next_cursor.topic_name, resp.next_cursor.partition_index) == ("a", 2)
    resp = await client.request(_dtp([], limit=2, cursor=("a", 2)), 0)
    assert _summary(resp) == [("a", 0, [2]), ("b", 0, [0])]
    assert (resp.next_cursor.topic_name, resp.next_cursor.partition_index) == ("b", 1)
    # The limit runs out at a topic boundary: the cursor names the next topic, partition 0.
    resp = await client.request(_dtp([], limit=3), 0)
    assert _summary(resp) == [("a", 0, [0, 1, 2])]
    assert (resp.next_cursor.topic_name, resp.next_cursor.partition_index) == ("b", 0)
    # A limit of 0 is raised to 1.
    resp = await client.request(_dtp(["c"], limit=0), 0)
    assert _summary(resp) == [("c", 0, [0])] and resp.next_cursor is None
    # Paging to the end collects every partition exactly once.
    seen, cursor = [], None
    for _ in range(10):
        resp = await client.request(_dtp([], limit=1, cursor=cursor), 0)
        seen += [(t.name, p.partition_index) for t in resp.topics for p in t.partitions]
        if resp.next_cursor is None:
            break
        cursor = (resp.next_cursor.topic_name, resp.next_cursor.partition_index)
    assert seen == [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1), ("c", 0)]


async def test_describe_topic_partitions_cursor_rules(client: AsyncRawClient) -> None:
    await create_topics(client, a=2, b=1)
    # Named topics before the cursor topic are skipped.
    resp = await client.request(_dtp(["a", "b"], cursor=("b", 0)), 0)
    assert _summary(resp) == [("b", 0, [0])]
    # The cursor topic must be in a non-empty topic list.
    resp = await client.request(_dtp(["a"], cursor=("b", 0)), 0)
    assert _summary(resp) == [("a", 42, [])]
    # The cursor partition must not be negative.
    resp = await client.request(_dtp(["a"], cursor=("a", -1)), 0)
    assert _summary(resp) == [("a", 42, [])]
    # A cursor past the topic's partitions returns the topic with none.
    resp = await client.request(_dtp(["a"], cursor=("a", 5)), 0)
    assert _summary(resp) == [("a", 0, [])] and resp.next_cursor is None


async def test_describe_topic_partitions_internal_topic(client: AsyncRawClient) -> None:
    resp = await client.request(_dtp(["__consumer_offsets"]), 0)
    [t] = resp.topics
    assert t.is_internal is True


# -- client quotas ---------------------------------------------------------------------------


def _alter_quotas(entries: list[tuple[dict[str, str | None], list[tuple[str, float | None]]]],
                  validate_only: bool = False) -> Any:
    R = AlterClientQuotasRequest
    return R(validate_only=validate_only, entries=[
        R.EntryData(
            entity=[R.EntityData(entity_type=t, entity_name=n) for t, n in entity.items()],
            ops=[R.OpData(key=k, value=0.0 if v is None else v, remove=v is None) for k, v in ops])
        for entity, ops in entries])


def _describe_quotas(components: list[tuple[str, int, str | None]], strict: bool = False) -> Any:
    R = DescribeClientQuotasRequest
    return R(strict=strict, components=[
        R.ComponentData(entity_type=t, match_type=m, match=s) for t, m, s in components])


def _quota_entries(resp: Any) -> dict[tuple[tuple[str, str | None], ...], dict[str, float]]:
    return {tuple((e.entity_type, e.entity_name) for e in entry.entity):
            {v.key: v.value for v in entry.values} for entry in resp.entries}


def _alter_results(resp: Any) -> list[tuple[dict[str, str | None], int, str | None]]:
    return [({e.entity_type: e.entity_name for e in r.entity}, r.error_code, r.error_message)
            for r in resp.entries]


@pytest.mark.parametrize("version", range(2))
async def test_client_quotas_round_trip_and_filters(client: AsyncRawClient, version: int) -> None:
    resp = await client.request(_alter_quotas([
        ({"user": "alice"}, [("producer_byte_rate", 1024.0), ("request_percentage", 12.5)]),
        ({"user": "alice", "client-id": "app"}, [("consumer_byte_rate", 2048.0)]),
        ({"user": None}, [("producer_byte_rate", 512.0)]),
        ({"ip": "127.0.0.1"}, [("connection_creation_rate", 10.0)]),
    ]), version)
    assert [code for _, code, _ in _alter_results(resp)] == [0, 0, 0, 0]

    everything = await client.request(_describe_quotas([]), version)
    assert everything.error_code == 0
    assert _quota_entries(everything) == {
        (("user", "alice"),): {"producer_byte_rate": 1024.0, "request_percentage": 12.5},
        (("client-id", "app"), ("user", "alice")): {"consumer_byte_rate": 2048.0},
        (("user", None),): {"producer_byte_rate": 512.0},
        (("ip", "127.0.0.1"),): {"connection_creation_rate": 10.0},
    }
    exact = await client.request(_describe_quotas([("user", 0, "alice")]), version)
    assert set(_quota_entries(exact)) == {(("user", "alice"),), (("client-id", "app"), ("user", "alice"))}
    strict = await client.request(_describe_quotas([("user", 0, "alice")], strict=True), version)
    assert set(_quota_entries(strict)) == {(("user", "alice"),)}
    default = await client.request(_describe_quotas([("user", 1, None)]), version)
    assert set(_quota_entries(default)) == {(("user", None),)}
    specified = await client.request(_describe_quotas([("client-id", 2, None)]), version)
    assert set(_quota_entries(specified)) == {(("client-id", "app"), ("user", "alice"))}
    ip = await client.request(_describe_quotas([("ip", 2, None)]), version)
    assert set(_quota_entries(ip)) == {(("ip", "127.0.0.1"),)}

    # Removing the last key removes the entity; removing a key that is not set is fine.
    resp = await client.request(_alter_quotas([
        ({"user": None}, [("producer_byte_rate", None), ("consumer_byte_rate", None)]),
    ]), version)
    assert _alter_results(resp) == [({"user": None}, 0, None)]
    after = await client.request(_describe_quotas([("user", 1, None)]), version)
    assert after.entries == []


async def test_client_quotas_validate_only_stores_nothing(client: AsyncRawClient) -> None:
    resp = await client.request(_alter_quotas([({"client-id": "x"}, [("producer_byte_rate", 10.0)])],
                                           validate_only=True), 1)
    assert _alter_results(resp) == [({"client-id": "x"}, 0, None)]
    assert (await client.request(_describe_quotas([]), 1)).entries == []


async def test_client_quotas_are_durable(tmp_path: Any) -> None:
    config = broker_config(str(tmp_path / "data"))
    async with open_broker(config) as b:
        c = await AsyncRawClient.connect(b)
        await c.request(_alter_quotas([({"user": "bob"}, [("consumer_byte_rate", 99.0)])]), 1)
        await c.aclose()
    store = LocalMetadataStore.in_dir(str(tmp_path / "data"))
    assert store.client_quotas() == {(("user", "bob"),): {"consumer_byte_rate": 99.0}}
    async with open_broker(config) as b:
        c = await AsyncRawClient.connect(b)
        resp = await c.request(_describe_quotas([("user", 0, "bob")]), 1)
        await c.aclose()
    assert _quota_entries(resp) == {(("user", "bob"),): {"consumer_byte_rate": 99.0}}


async def test_alter_client_quotas_validation(client: AsyncRawClient) -> None:
    cases = [
        ({}, [("producer_byte_rate", 1.0)], "Invalid empty client quota entity"),
        ({"group": "g"}, [("producer_byte_rate", 1.0)], "Unhandled client quota entity type: group"),
        ({"user": ""}, [("producer_byte_rate", 1.0)], "Empty user not supported"),
        ({"ip": "1.2.3.4", "user": "u"}, [("connection_creation_rate", 1.0)],
         "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId"),
        ({"ip": "a..b"}, [("connection_creation_rate", 1.0)], "a..b is not a valid IP or resolvable host."),
        ({"user": "a"}, [("connection_creation_rate", 1.0)], "Invalid configuration key connection_creation_rate"),
        ({"ip": "10.0.0.1"}, [("producer_byte_rate", 1.0)], "Invalid configuration key producer_byte_rate"),
        ({"user": "b"}, [("producer_byte_rate", 0.0)], "Quota producer_byte_rate must be greater than 0"),
        ({"user": "c"}, [("producer_byte_rate", 1.5)], "producer_byte_rate cannot be a fractional value."),
        ({"user": "d"}, [("producer_byte_rate", 1e19)],
         "Proposed value for producer_byte_rate is too large for a LONG."),
        ({"ip": "10.0.0.2"}, [("connection_creation_rate", 3e9)],
         "Proposed value for connection_creation_rate is too large for an INT."),
        ({"user": "e"}, [("producer_byte_rate", 1.0), ("producer_byte_rate", 2.0)],
         "Ignoring duplicate entity ClientQuotaEntity(entries={user=e})"),
    ]
    for entity, ops, message in cases:
        resp = await client.request(_alter_quotas([(entity, ops)]), 1)
        assert _alter_results(resp) == [(entity, ErrorCode.INVALID_REQUEST, message)], entity
    # A host name that resolves is accepted, as Kafka's InetAddress.getByName.
    resp = await client.request(_alter_quotas([({"ip": "localhost"}, [("connection_creation_rate", 5.0)])],
                                           validate_only=True), 1)
    assert _alter_results(resp)[0][1] == 0
    # A double key accepts fractions.
    resp = await client.request(_alter_quotas([({"user": "f"}, [("controller_mutation_rate", 0.5)])]), 1)
    assert _alter_results(resp)[0][1] == 0
    assert _quota_entries(await client.request(_describe_quotas([]), 1)) == {
        (("user", "f"),): {"controller_mutation_rate": 0.5}}


async def test_alter_client_quotas_duplicate_entity(client: AsyncRawClient) -> None:
    resp = await client.request(_alter_quotas([
        ({"user": "g"}, [("producer_byte_rate", 5.0)]),
        ({"user": "g"}, [("consumer_byte_rate", 6.0)]),
    ]), 1)
    assert _alter_results(resp) == [
        ({"user": "g"}, 42, "Ignoring duplicate entity ClientQuotaEntity(entries={user=g})")]
    # As Kafka, the first mention was applied.
    assert _quota_entries(await client.request(_describe_quotas([]), 1)) == {
        (("user", "g"),): {"producer_byte_rate": 5.0}}


@pytest.mark.parametrize(("components", "code", "message"), [
    ([("", 0, "x")], 42, "Invalid empty entity type."),
    ([("user", 0, "a"), ("user", 2, None)], 42, "Entity type user cannot appear more than once in the filter."),
    ([("group", 0, "a")], 35, "Unsupported entity type group"),
    ([("user", 0, None)], 42, "Request specified MATCH_TYPE_EXACT, but set match string to null."),
    ([("user", 1, "a")], 42, "Request specified MATCH_TYPE_DEFAULT, but also specified a match string."),
    ([("user", 2, "a")], 42, "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string."),
    ([("user", 5, None)], 42, "Unknown match type 5"),
    ([("ip", 2, None), ("client-id", 2, None)], 42,
     "Invalid entity filter component combination. IP filter component should not be used with user or "
     "clientId filter component."),
])
async def test_describe_client_quotas_bad_filters(client: AsyncRawClient, components: Any, code: int,
                                                  message: str) -> None:
    resp = await client.request(_describe_quotas(components), 1)
    assert (resp.error_code, resp.error_message, resp.entries) == (code, message, None)


# -- SCRAM credentials ------------------------------------------------------------------------


def _upsert(name: str, mechanism: int = 1, iterations: int = 4096) -> Any:
    R = AlterUserScramCredentialsRequest
    return R.ScramCredentialUpsertion(name=name, mechanism=mechanism, iterations=iterations,
                                      salt=b"salt-" + name.encode(), salted_password=b"p" * 32)


def _delete(name: str, mechanism: int = 1) -> Any:
    return AlterUserScramCredentialsRequest.ScramCredentialDeletion(name=name, mechanism=mechanism)


def _scram_results(resp: Any) -> dict[str, tuple[int, str | None]]:
    return {r.user: (r.error_code, r.error_message) for r in resp.results}


async def test_describe_scram_credentials_without_users(client: AsyncRawClient) -> None:
    R = DescribeUserScramCredentialsRequest
    everyone = await client.request(R(users=None), 0)
    assert (everyone.error_code, everyone.results) == (0, [])
    assert (await client.request(R(users=[]), 0)).results == []
    resp = await client.request(R(users=[R.UserName(name="alice"), R.UserName(name="bob"),
                                      R.UserName(name="bob")]), 0)
    assert resp.error_code == 0
    assert {r.user: (r.error_code, r.error_message, r.credential_infos) for r in resp.results} == {
        "alice": (91, "Attempt to describe a user credential that does not exist: alice", []),
        "bob": (92, "Cannot describe SCRAM credentials for the same user twice in a single request: bob", []),
    }


async def test_scram_credentials_round_trip(client: AsyncRawClient, broker: Any) -> None:
    R = AlterUserScramCredentialsRequest
    resp = await client.request(R(deletions=[], upsertions=[_upsert("alice", 1), _upsert("bob", 2, 8192)]), 0)
    assert _scram_results(resp) == {"alice": (0, None), "bob": (0, None)}
    resp = await client.request(R(deletions=[], upsertions=[_upsert("alice", 2, 5000)]), 0)
    assert _scram_results(resp) == {"alice": (0, None)}
    D = DescribeUserScramCredentialsRequest
    described = await client.request(D(users=None), 0)
    assert {r.user: [(c.mechanism, c.iterations) for c in r.credential_infos] for r in described.results} == {
        "alice": [(1, 4096), (2, 5000)], "bob": [(2, 8192)]}
    # The server keeps RFC 5802's stored and server keys, never the salted password.
    cred = broker.metadata.scram_credentials()[("bob", 2)]
    client_key = hmac.new(b"p" * 32, b"Client Key", hashlib.sha512).digest()
    assert cred.stored_key == hashlib.sha512(client_key).digest()
    assert cred.server_key == hmac.new(b"p" * 32, b"Server Key", hashlib.sha512).digest()
    assert cred.salt == b"salt-bob" and cred.iterations == 8192
    resp = await client.request(R(deletions=[_delete("alice", 1)], upsertions=[]), 0)
    assert _scram_results(resp) == {"alice": (0, None)}
    one = await client.request(D(users=[D.UserName(name="alice")]), 0)
    assert [(c.mechanism, c.iterations) for c in one.results[0].credential_infos] == [(2, 5000)]


async def test_alter_scram_credentials_errors(client: AsyncRawClient) -> None:
    R = AlterUserScramCredentialsRequest
    await client.request(R(deletions=[], upsertions=[_upsert("carol")]), 0)
    resp = await client.request(R(
        deletions=[_delete("nobody"), _delete("carol", 1), _delete("", 1), _delete("dave", 9)],
        upsertions=[_upsert("carol", 2), _upsert("few", iterations=4095), _upsert("many", iterations=16385),
                    _upsert("twice"), _upsert("twice", 2)],
    ), 0)
    assert _scram_results(resp) == {
        "nobody": (91, "Attempt to delete a user credential that does not exist"),
        "carol": (92, "A user credential cannot be altered twice in the same request"),
        "": (93, "Username must not be empty"),
        "dave": (33, "Unknown SCRAM mechanism"),
        "few": (93, "Too few iterations"),
        "many": (93, "Too many iterations"),
        "twice": (92, "A user credential cannot be altered twice in the same request"),
    }
    # Nothing of the refused alterations was applied.
    D = DescribeUserScramCredentialsRequest
    described = await client.request(D(users=None), 0)
    assert {r.user: [(c.mechanism, c.iterations) for c in r.credential_infos] for r in described.results} == {
        "carol": [(1, 4096)]}


# -- delegation tokens over PLAINTEXT ----------------------------------------------------------


@pytest.mark.parametrize("version", range(4))
async def test_create_delegation_token_not_allowed(client: AsyncRawClient, version: int) -> None:
    R = CreateDelegationTokenRequest
    req = R(owner_principal_type="User" if version >= 3 else None,
            owner_principal_name="owner" if version >= 3 else None,
            renewers=[R.CreatableRenewers(principal_type="User", principal_name="r")], max_lifetime_ms=-1)
    resp = await client.request(req, version)
    assert resp.error_code == ErrorCode.DELEGATION_TOKEN_REQUEST_NOT_ALLOWED == 64
    expected_owner = ("User", "owner") if version >= 3 else ("User", "ANONYMOUS")
    assert (resp.principal_type, resp.principal_name) == expected_owner
    assert (resp.issue_timestamp_ms, resp.expiry_timestamp_ms, resp.max_timestamp_ms) == (-1, -1, -1)
    assert resp.token_id == "" and bytes(resp.hmac) == b""
    if version >= 3:
        assert (resp.token_requester_principal_type, resp.token_requester_principal_name) == ("User", "ANONYMOUS")


async def test_create_delegation_token_owner_without_type(client: AsyncRawClient) -> None:
    # v3 lets the owner's principal type be null; Kafka cannot build that principal and
    # answers the failed request for User:ANONYMOUS. The connection keeps serving.
    R = CreateDelegationTokenRequest
    req = R(owner_principal_type=None, owner_principal_name="owner", renewers=[], max_lifetime_ms=-1)
    resp = await client.request(req, 3)
    assert resp.error_code == ErrorCode.UNKNOWN_SERVER_ERROR
    assert (resp.principal_type, resp.principal_name) == ("User", "ANONYMOUS")
    assert (resp.token_requester_principal_type, resp.token_requester_principal_name) == ("User", "ANONYMOUS")
    again = await client.request(R(owner_principal_type="User", owner_principal_name="o", renewers=[]), 3)
    assert again.error_code == ErrorCode.DELEGATION_TOKEN_REQUEST_NOT_ALLOWED


@pytest.mark.parametrize("version", range(3))
async def test_renew_expire_delegation_token_not_allowed(client: AsyncRawClient, version: int) -> None:
    renew = await client.request(RenewDelegationTokenRequest(hmac=b"h", renew_period_ms=1000), version)
    expire = await client.request(ExpireDelegationTokenRequest(hmac=b"h", expiry_time_period_ms=-1), version)
    for resp in (renew, expire):
        assert (resp.error_code, resp.expiry_timestamp_ms) == (64, -1)


@pytest.mark.parametrize("version", range(4))
async def test_describe_delegation_token_not_allowed(client: AsyncRawClient, version: int) -> None:
    resp = await client.request(DescribeDelegationTokenRequest(owners=None), version)
    assert (resp.error_code, resp.tokens) == (64, [])


# -- AlterReplicaLogDirs -----------------------------------------------------------------------


def _move(dirs: dict[str, dict[str, list[int]]]) -> Any:
    R = AlterReplicaLogDirsRequest
    return R(dirs=[R.AlterReplicaLogDir(path=path, topics=[
        R.AlterReplicaLogDirTopic(name=t, partitions=ps) for t, ps in topics.items()])
        for path, topics in dirs.items()])


@pytest.mark.parametrize("version", range(3))
async def test_alter_replica_log_dirs(client: AsyncRawClient, broker: Any, version: int) -> None:
    await create_topics(client, a=2)
    log_dir = os.path.abspath(broker.config.log_dirs[0])
    long_topic = "x" * 249
    resp = await client.request(_move({
        log_dir: {"a": [0, 1, 4], "ghost": [0], long_topic: [0]},
        "/no/such/dir": {"b": [0]},
    }), version)
    codes = {(t.topic_name, p.partition_index): p.error_code for t in resp.results for p in t.partitions}
    assert codes == {
        ("a", 0): 0, ("a", 1): 0,
        ("a", 4): ErrorCode.REPLICA_NOT_AVAILABLE,
        ("ghost", 0): ErrorCode.REPLICA_NOT_AVAILABLE,
        (long_topic, 0): ErrorCode.INVALID_TOPIC_EXCEPTION,
        ("b", 0): ErrorCode.LOG_DIR_NOT_FOUND,
    }


async def test_describe_topic_partitions_paging_every_limit(client: AsyncRawClient) -> None:
    await create_topics(client, p1=3, p2=1, p3=4, p4=2)
    everything = [(t, i) for t, n in (("p1", 3), ("p2", 1), ("p3", 4), ("p4", 2)) for i in range(n)]
    for limit in range(1, 12):
        seen: list[tuple[str, int]] = []
        cursor = None
        for _ in range(len(everything) + 2):
            resp = await client.request(_dtp([], limit=limit, cursor=cursor), 0)
            page = [(t.name, p.partition_index) for t in resp.topics for p in t.partitions]
            assert len(page) <= limit
            seen += page
            if resp.next_cursor is None:
                break
            cursor = (resp.next_cursor.topic_name, resp.next_cursor.partition_index)
        assert seen == everything, limit


def test_store_keeps_quotas_and_scram_credentials(tmp_path: Any) -> None:
    from replication.metadata_store import ScramCredential, quota_entity

    store = LocalMetadataStore.in_dir(str(tmp_path))
    store.set_cluster_id("c")
    alice = quota_entity({"user": "alice", "client-id": None})
    store.set_client_quotas({alice: {"producer_byte_rate": 10.0}, quota_entity({"ip": "1.2.3.4"}): {}})
    cred = ScramCredential(salt=b"s", stored_key=b"k" * 32, server_key=b"v" * 32, iterations=4096)
    store.set_scram_credentials({("alice", 1): cred, ("bob", 2): cred})
    store.set_scram_credentials({("bob", 2): None})
    again = LocalMetadataStore.in_dir(str(tmp_path))
    assert again.client_quotas() == {(("client-id", None), ("user", "alice")): {"producer_byte_rate": 10.0}}
    assert again.scram_credentials() == {("alice", 1): cred}
    again.set_client_quotas({alice: {}})
    assert LocalMetadataStore.in_dir(str(tmp_path)).client_quotas() == {}
