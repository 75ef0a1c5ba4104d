"""Admin APIs over a real socket with raw requests: every error code checked.

Each test starts a broker on 127.0.0.1 port 0 in the test's own trio loop and
talks to it with wire's codecs, so exact versions and fields can be checked.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

from kpybroker.admin_configs import ConfigSource, ConfigType
from kpybroker.server import open_broker
from tests.support.raw_client import AsyncRawClient
from tests.support.trio_broker import broker_config
from wire.errors import ErrorCode
from wire.messages.alter_configs import AlterConfigsRequest
from wire.messages.create_partitions import CreatePartitionsRequest
from wire.messages.create_topics import CreateTopicsRequest
from wire.messages.delete_topics import DeleteTopicsRequest
from wire.messages.describe_configs import DescribeConfigsRequest
from wire.messages.describe_log_dirs import DescribeLogDirsRequest
from wire.messages.incremental_alter_configs import IncrementalAlterConfigsRequest
from wire.messages.init_producer_id import InitProducerIdRequest

Topic = CreateTopicsRequest.CreatableTopic
TopicConfig = CreateTopicsRequest.CreatableTopicConfig
Assignment = CreateTopicsRequest.CreatableReplicaAssignment
ZERO = uuid.UUID(int=0)


@pytest.fixture
async def broker(tmp_path: Any) -> Any:
    async with open_broker(broker_config(str(tmp_path / "data"))) as b:
        yield b


@pytest.fixture
async def client(broker: Any) -> Any:
    c = await AsyncRawClient.connect(broker)
    yield c
    await c.aclose()


async def create(
    client: AsyncRawClient, *topics: Any, version: int = 7, validate_only: bool = False
) -> dict[str, Any]:
    resp = await client.request(
        CreateTopicsRequest(topics=list(topics), timeout_ms=5000, validate_only=validate_only),
        version,
    )
    return {t.name: t for t in resp.topics}


def topic(name: str, partitions: int = 1, rf: int = 1, **configs: str) -> Any:
    return Topic(
        name=name,
        num_partitions=partitions,
        replication_factor=rf,
        configs=[TopicConfig(name=k.replace("_", "."), value=v) for k, v in configs.items()],
    )


# -- CreateTopics -------------------------------------------------------------------


async def test_create_topic_v7_answers_id_partitions_and_configs(
    broker: Any, client: AsyncRawClient
) -> None:
    res = (await create(client, topic("orders", 3, retention_ms="1000")))["orders"]
    assert res.error_code == 0 and res.error_message is None
    assert res.topic_id != ZERO
    assert broker.metadata.get_topic("orders").topic_id == res.topic_id
    assert (res.num_partitions, res.replication_factor) == (3, 1)
    configs = {c.name: c for c in res.configs}
    assert configs["retention.ms"].value == "1000"
    assert configs["retention.ms"].config_source == ConfigSource.DYNAMIC_TOPIC_CONFIG
    assert configs["segment.bytes"].config_source == ConfigSource.DEFAULT_CONFIG
    assert configs["cleanup.policy"].value == "delete"
    assert len(broker.metadata.get_topic("orders").partitions) == 3


async def test_create_topic_defaults_with_minus_one(broker: Any, client: AsyncRawClient) -> None:
    res = (await create(client, topic("dflt", -1, -1), version=5))["dflt"]
    assert res.error_code == 0
    assert res.num_partitions == broker.config.get("num.partitions")
    assert res.replication_factor == 1


async def test_create_topic_errors(broker: Any, client: AsyncRawClient) -> None:
    await create(client, topic("exists"), topic("a.b"))
    results = await create(
        client,
        topic("exists"),
        topic("bad!"),
        topic("x" * 250),
        topic("."),
        topic(".."),
        topic("a_b"),
        topic("zero-parts", 0),
        topic("neg-parts", -2),
        topic("zero-rf", 1, 0),
        topic("big-rf", 1, 3),
        topic("unknown-config", 1, 1, no_such_config="1"),
        topic("bad-value", 1, 1, retention_ms="soon"),
        topic("bad-policy", 1, 1, cleanup_policy="keep"),
        Topic(
            name="null-config",
            num_partitions=1,
            replication_factor=1,
            configs=[TopicConfig(name="retention.ms", value=None)],
        ),
        Topic(
            name="assign-and-count",
            num_partitions=2,
            replication_factor=-1,
            assignments=[Assignment(partition_index=0, broker_ids=[broker.broker_id])],
        ),
        Topic(
            name="assign-unknown-broker",
            num_partitions=-1,
            replication_factor=-1,
            assignments=[Assignment(partition_index=0, broker_ids=[broker.broker_id + 7])],
        ),
        Topic(
            name="assign-twice",
            num_partitions=-1,
            replication_factor=-1,
            assignments=[
                Assignment(partition_index=0, broker_ids=[broker.broker_id, broker.broker_id])
            ],
        ),
        Topic(
            name="assign-gap",
            num_partitions=-1,
            replication_factor=-1,
            assignments=[Assignment(partition_index=1, broker_ids=[broker.broker_id])],
        ),
        Topic(
            name="assign-empty",
            num_partitions=-1,
            replication_factor=-1,
            assignments=[Assignment(partition_index=0, broker_ids=[])],
        ),
        topic("twice"),
        topic("twice"),
    )
    expect = {
        "exists": ErrorCode.TOPIC_ALREADY_EXISTS,
        "bad!": ErrorCode.INVALID_TOPIC_EXCEPTION,
        "x" * 250: ErrorCode.INVALID_TOPIC_EXCEPTION,
        ".": ErrorCode.INVALID_TOPIC_EXCEPTION,
        "..": ErrorCode.INVALID_TOPIC_EXCEPTION,
        "a_b": ErrorCode.INVALID_TOPIC_EXCEPTION,
        "zero-parts": ErrorCode.INVALID_PARTITIONS,
        "neg-parts": ErrorCode.INVALID_PARTITIONS,
        "zero-rf": ErrorCode.INVALID_REPLICATION_FACTOR,
        "big-rf": ErrorCode.INVALID_REPLICATION_FACTOR,
        "unknown-config": ErrorCode.INVALID_CONFIG,
        "bad-value": ErrorCode.INVALID_CONFIG,
        "bad-policy": ErrorCode.INVALID_CONFIG,
        "null-config": ErrorCode.INVALID_CONFIG,
        "assign-and-count": ErrorCode.INVALID_REQUEST,
        "assign-unknown-broker": ErrorCode.INVALID_REPLICA_ASSIGNMENT,
        "assign-twice": ErrorCode.INVALID_REPLICA_ASSIGNMENT,
        "assign-gap": ErrorCode.INVALID_REPLICA_ASSIGNMENT,
        "assign-empty": ErrorCode.INVALID_REPLICA_ASSIGNMENT,
        "twice": ErrorCode.INVALID_REQUEST,
    }
    assert {n: ErrorCode(r.error_code) for n, r in results.items()} == expect
    for r in results.values():
        assert r.error_message
        assert (r.num_partitions, r.replication_factor) == (-1, -1)
    assert "already exists" in results["exists"].error_message
    assert results["twice"].error_message == "Duplicate topic name."
    # Nothing but the first two topics was created.
    assert sorted(t.name for t in broker.metadata.topics()) == ["a.b", "exists"]


async def test_create_topic_manual_assignment(broker: Any, client: AsyncRawClient) -> None:
    res = (
        await create(
            client,
            Topic(
                name="manual",
                num_partitions=-1,
                replication_factor=-1,
                assignments=[
                    Assignment(partition_index=i, broker_ids=[broker.broker_id]) for i in (1, 0)
                ],
            ),
        )
    )["manual"]
    assert res.error_code == 0
    assert (res.num_partitions, res.replication_factor) == (2, 1)
    assert sorted(broker.metadata.get_topic("manual").partitions) == [0, 1]


async def test_create_topic_validate_only_creates_nothing(broker: Any, client: AsyncRawClient) -> None:
    res = await create(
        client, topic("dry", 4, segment_bytes="100000"), topic("bad?"), validate_only=True
    )
    assert res["dry"].error_code == 0
    assert res["dry"].num_partitions == 4
    assert res["bad?"].error_code == ErrorCode.INVALID_TOPIC_EXCEPTION
    assert broker.metadata.get_topic("dry") is None
    # And the real creation still works afterwards.
    assert (await create(client, topic("dry")))["dry"].error_code == 0


async def test_create_topics_old_version_has_no_v5_fields(client: AsyncRawClient) -> None:
    res = (await create(client, topic("old", 2), version=2))["old"]
    assert res.error_code == 0
    # v2 does not carry these fields: the decoder leaves the defaults.
    assert res.num_partitions == -1 and res.configs == []


async def test_cluster_metadata_topic_is_refused(client: AsyncRawClient) -> None:
    res = (await create(client, topic("__cluster_metadata")))["__cluster_metadata"]
    assert res.error_code == ErrorCode.INVALID_REQUEST


# -- DeleteTopics -------------------------------------------------------------------


async def test_delete_topics_by_name_and_id(broker: Any, client: AsyncRawClient) -> None:
    created = await create(client, topic("del-a", 2), topic("del-b"), topic("keep"))
    resp = await client.request(DeleteTopicsRequest(topic_names=["del-a", "nope"], timeout_ms=5000), 5)
    by_name = {r.name: r for r in resp.responses}
    assert by_name["del-a"].error_code == 0
    assert by_name["nope"].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert broker.metadata.get_topic("del-a") is None

    State = DeleteTopicsRequest.DeleteTopicState
    missing = uuid.uuid4()
    resp = await client.request(
        DeleteTopicsRequest(
            topics=[
                State(name=None, topic_id=created["del-b"].topic_id),
                State(name=None, topic_id=missing),
                State(name="keep", topic_id=created["keep"].topic_id),
                State(name=None, topic_id=ZERO),
            ],
            timeout_ms=5000,
        ),
        6,
    )
    results = [(r.name, r.topic_id, ErrorCode(r.error_code)) for r in resp.responses]
    assert ("del-b", created["del-b"].topic_id, ErrorCode.NONE) in results
    assert (None, missing, ErrorCode.UNKNOWN_TOPIC_ID) in results
    assert ("keep", created["keep"].topic_id, ErrorCode.INVALID_REQUEST) in results
    assert (None, ZERO, ErrorCode.INVALID_REQUEST) in results
    assert broker.metadata.get_topic("del-b") is None
    assert broker.metadata.get_topic("keep") is not None


async def test_delete_topics_duplicates(client: AsyncRawClient) -> None:
    await create(client, topic("dup-del"))
    resp = await client.request(
        DeleteTopicsRequest(topic_names=["dup-del", "dup-del"], timeout_ms=5000), 4
    )
    assert [(r.name, r.error_code) for r in resp.responses] == [
        ("dup-del", ErrorCode.INVALID_REQUEST)
    ]


async def test_delete_topic_removes_files(broker: Any, client: AsyncRawClient) -> None:
    if broker.replica_manager is None:
        pytest.skip("storage not available: no partition files")
    await create(client, topic("files", 2))
    dirs = [os.path.join(broker.log_dirs[0], f"files-{p}") for p in range(2)]
    assert all(os.path.isdir(d) for d in dirs)
    resp = await client.request(DeleteTopicsRequest(topic_names=["files"], timeout_ms=5000), 5)
    assert resp.responses[0].error_code == 0
    assert not any(os.path.exists(d) for d in dirs)


async def test_delete_topics_disabled(tmp_path: Any) -> None:
    cfg = broker_config(str(tmp_path / "d"), **{"delete.topic.enable": "false"})
    async with open_broker(cfg) as broker:
        c = await AsyncRawClient.connect(broker)
        await create(c, topic("stay"))
        new = await c.request(DeleteTopicsRequest(topic_names=["stay"], timeout_ms=1000), 5)
        old = await c.request(DeleteTopicsRequest(topic_names=["stay"], timeout_ms=1000), 2)
        assert new.responses[0].error_code == ErrorCode.TOPIC_DELETION_DISABLED
        assert old.responses[0].error_code == ErrorCode.INVALID_REQUEST
        assert broker.metadata.get_topic("stay") is not None
        await c.aclose()


# -- CreatePartitions -----------------------------------------------------------------


async def test_create_partitions(broker: Any, client: AsyncRawClient) -> None:
    await create(client, topic("grow", 2))
    A = CreatePartitionsRequest.CreatePartitionsAssignment

    def T(*, name: str, count: int, assignments: list[Any] | None = None) -> Any:
        # Null assignments (not an empty list) mean "place them for me", as clients send.
        return CreatePartitionsRequest.CreatePartitionsTopic(
            name=name, count=count, assignments=assignments
        )

    async def call(*topics: Any, validate_only: bool = False) -> dict[str, Any]:
        resp = await client.request(
            CreatePartitionsRequest(
                topics=list(topics), timeout_ms=5000, validate_only=validate_only
            ),
            3,
        )
        return {r.name: r for r in resp.results}

    res = await call(T(name="grow", count=5), validate_only=True)
    assert res["grow"].error_code == 0
    assert len(broker.metadata.get_topic("grow").partitions) == 2

    res = await call(T(name="grow", count=4))
    assert res["grow"].error_code == 0 and res["grow"].error_message is None
    assert len(broker.metadata.get_topic("grow").partitions) == 4

    bid = broker.broker_id
    res = await call(
        T(name="nope", count=3),
        T(name="grow", count=4),
        T(name="grow2", count=1),
    )
    assert res["nope"].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert res["grow"].error_code == ErrorCode.INVALID_PARTITIONS
    assert res["grow2"].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    await create(client, topic("shrink", 3))
    res = await call(T(name="shrink", count=2))
    assert res["shrink"].error_code == ErrorCode.INVALID_PARTITIONS
    res = await call(T(name="shrink", count=5, assignments=[A(broker_ids=[bid])]))
    assert res["shrink"].error_code == ErrorCode.INVALID_REPLICA_ASSIGNMENT
    res = await call(T(name="shrink", count=4, assignments=[A(broker_ids=[bid + 5])]))
    assert res["shrink"].error_code == ErrorCode.INVALID_REPLICA_ASSIGNMENT
    res = await call(T(name="shrink", count=4, assignments=[A(broker_ids=[bid])]))
    assert res["shrink"].error_code == 0
    res = await call(T(name="shrink", count=9), T(name="shrink", count=9))
    assert res["shrink"].error_code == ErrorCode.INVALID_REQUEST
    assert len(broker.metadata.get_topic("shrink").partitions) == 4


async def test_oversized_batches_are_refused(broker: Any, client: AsyncRawClient) -> None:
    # Kafka's controller writes one operation as at most 10,000 metadata records: a
    # topic record, one per config and one per partition. Past that, CreateTopics
    # fails whole (validate_only too) and creates nothing.
    too_big = "Unable to perform excessively large batch operation."
    for validate_only in (True, False):
        res = await create(client, topic("big-a", 5000), topic("big-b", 4998, retention_ms="1000"),
                           topic("small", 1), validate_only=validate_only)
        assert {n: (r.error_code, r.error_message) for n, r in res.items()} == dict.fromkeys(
            ["big-a", "big-b", "small"], (ErrorCode.POLICY_VIOLATION, too_big))
    res = await create(client, topic("huge", 2**31 - 1))
    assert res["huge"].error_code == ErrorCode.POLICY_VIOLATION
    assert not {"big-a", "big-b", "small", "huge"} & {t.name for t in broker.metadata.topics()}
    # Topics that fail their own checks add nothing: 9,998 + 1 + 1 records fit.
    res = await create(client, topic("fits", 9998), topic("bad/name", 5000), topic("fits", 1, rf=0),
                       validate_only=True)
    assert res["fits"].error_code == ErrorCode.INVALID_REQUEST  # a duplicate name
    res = await create(client, topic("fits", 9998), topic("bad/name", 5000), validate_only=True)
    assert (res["fits"].error_code, res["fits"].num_partitions) == (0, 9998)
    assert res["bad/name"].error_code == ErrorCode.INVALID_TOPIC_EXCEPTION
    # CreatePartitions counts the partitions it adds; the topic that would pass the
    # bound fails alone with no message, and gets none of them.
    await create(client, topic("grow-a", 1), topic("grow-b", 1))
    T = CreatePartitionsRequest.CreatePartitionsTopic
    resp = await client.request(CreatePartitionsRequest(topics=[
        T(name="grow-a", count=6001, assignments=None), T(name="grow-b", count=4002, assignments=None),
    ], timeout_ms=5000, validate_only=True), 3)
    assert [(r.name, r.error_code, r.error_message) for r in resp.results] == [
        ("grow-a", 0, None), ("grow-b", ErrorCode.UNKNOWN_SERVER_ERROR, None)]
    resp = await client.request(CreatePartitionsRequest(topics=[
        T(name="grow-a", count=2**31 - 1, assignments=None)], timeout_ms=5000), 3)
    assert resp.results[0].error_code == ErrorCode.UNKNOWN_SERVER_ERROR
    assert len(broker.metadata.get_topic("grow-a").partitions) == 1


# -- DescribeConfigs ------------------------------------------------------------------

R = DescribeConfigsRequest.DescribeConfigsResource


async def describe(
    client: AsyncRawClient, *resources: Any, version: int = 4, synonyms: bool = False, docs: bool = False
) -> list[Any]:
    resp = await client.request(
        DescribeConfigsRequest(
            resources=list(resources), include_synonyms=synonyms, include_documentation=docs
        ),
        version,
    )
    return resp.results


async def test_describe_topic_configs(client: AsyncRawClient) -> None:
    await create(client, topic("desc", 1, 1, retention_ms="5000", cleanup_policy="compact,delete"))
    (res,) = await describe(
        client, R(resource_type=2, resource_name="desc"), synonyms=True, docs=True
    )
    assert res.error_code == 0
    entries = {c.name: c for c in res.configs}
    assert entries["retention.ms"].value == "5000"
    assert entries["retention.ms"].config_source == ConfigSource.DYNAMIC_TOPIC_CONFIG
    assert [(s.name, s.value, s.source) for s in entries["retention.ms"].synonyms][0] == (
        "retention.ms",
        "5000",
        ConfigSource.DYNAMIC_TOPIC_CONFIG,
    )
    assert entries["retention.ms"].config_type == ConfigType.LONG
    assert entries["cleanup.policy"].config_type == ConfigType.LIST
    assert entries["cleanup.policy"].value == "compact,delete"
    seg = entries["segment.bytes"]
    assert seg.config_source == ConfigSource.DEFAULT_CONFIG
    assert [(s.name, s.source) for s in seg.synonyms] == [
        ("log.segment.bytes", ConfigSource.DEFAULT_CONFIG)
    ]
    assert seg.documentation
    assert not seg.read_only and not seg.is_sensitive

    (res,) = await describe(
        client,
        R(resource_type=2, resource_name="desc", configuration_keys=["retention.ms", "no.such"]),
    )
    assert [c.name for c in res.configs] == ["retention.ms"]
    assert res.configs[0].synonyms == [] and res.configs[0].documentation is None


async def test_describe_configs_v0_has_is_default(client: AsyncRawClient) -> None:
    await create(client, topic("v0", 1, 1, retention_ms="5000"))
    (res,) = await describe(
        client,
        R(
            resource_type=2,
            resource_name="v0",
            configuration_keys=["retention.ms", "segment.bytes"],
        ),
        version=0,
    )
    flags = {c.name: c.is_default for c in res.configs}
    assert flags == {"retention.ms": False, "segment.bytes": True}


async def test_describe_broker_configs(tmp_path: Any) -> None:
    cfg = broker_config(
        str(tmp_path / "d"), **{"log.retention.hours": "24", "ssl.keystore.password": "secret"}
    )
    async with open_broker(cfg) as broker:
        c = await AsyncRawClient.connect(broker)
        (res,) = await describe(
            c, R(resource_type=4, resource_name=str(broker.broker_id)), synonyms=True
        )
        assert res.error_code == 0
        entries = {e.name: e for e in res.configs}
        hours = entries["log.retention.hours"]
        assert hours.value == "24" and hours.config_source == ConfigSource.STATIC_BROKER_CONFIG
        assert [(s.name, s.value, s.source) for s in hours.synonyms] == [
            ("log.retention.hours", "24", ConfigSource.STATIC_BROKER_CONFIG),
            ("log.retention.hours", "168", ConfigSource.DEFAULT_CONFIG),
        ]
        assert entries["num.partitions"].config_source == ConfigSource.DEFAULT_CONFIG
        assert entries["log.dirs"].read_only
        assert not entries["log.retention.ms"].read_only
        secret = entries["ssl.keystore.password"]
        assert secret.is_sensitive and secret.value is None
        assert all(s.value is None for s in secret.synonyms)

        # A topic without an override inherits the static broker value in its own unit.
        await create(c, topic("inherits"))
        (res,) = await describe(
            c, R(resource_type=2, resource_name="inherits", configuration_keys=["retention.ms"])
        )
        assert res.configs[0].value == str(24 * 3_600_000)

        (default_scope,) = await describe(c, R(resource_type=4, resource_name=""))
        assert default_scope.error_code == 0 and default_scope.configs == []
        await c.aclose()


async def test_describe_configs_errors(broker: Any, client: AsyncRawClient) -> None:
    other = str(broker.broker_id + 1)
    results = await describe(
        client,
        R(resource_type=2, resource_name="missing"),
        R(resource_type=2, resource_name="bad name"),
        R(resource_type=4, resource_name=other),
        R(resource_type=4, resource_name="abc"),
    )
    assert [ErrorCode(r.error_code) for r in results] == [
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.INVALID_TOPIC_EXCEPTION,
        ErrorCode.INVALID_REQUEST,
        ErrorCode.INVALID_REQUEST,
    ]
    assert all(r.configs == [] for r in results)
    # An unknown resource type fails the whole request, as in Kafka.
    results = await describe(
        client,
        R(resource_type=99, resource_name="x"),
        R(resource_type=4, resource_name=str(broker.broker_id)),
    )
    assert [r.error_code for r in results] == [ErrorCode.INVALID_REQUEST] * 2


# -- AlterConfigs / IncrementalAlterConfigs -------------------------------------------


async def alter(
    client: AsyncRawClient,
    rtype: int,
    name: str,
    configs: dict[str, str | None],
    *,
    validate_only: bool = False,
) -> Any:
    AR = AlterConfigsRequest.AlterConfigsResource
    AC = AlterConfigsRequest.AlterableConfig
    resp = await client.request(
        AlterConfigsRequest(
            resources=[
                AR(
                    resource_type=rtype,
                    resource_name=name,
                    configs=[AC(name=k, value=v) for k, v in configs.items()],
                )
            ],
            validate_only=validate_only,
        ),
        2,
    )
    return resp.responses[0]


async def incremental(
    client: AsyncRawClient,
    rtype: int,
    name: str,
    ops: list[tuple[str, int, str | None]],
    *,
    validate_only: bool = False,
) -> Any:
    IR = IncrementalAlterConfigsRequest.AlterConfigsResource
    IC = IncrementalAlterConfigsRequest.AlterableConfig
    resp = await client.request(
        IncrementalAlterConfigsRequest(
            resources=[
                IR(
                    resource_type=rtype,
                    resource_name=name,
                    configs=[IC(name=k, config_operation=op, value=v) for k, op, v in ops],
                )
            ],
            validate_only=validate_only,
        ),
        1,
    )
    return resp.responses[0]


async def test_alter_configs_replaces_topic_configs(broker: Any, client: AsyncRawClient) -> None:
    await create(client, topic("alt", 1, 1, retention_ms="5000", segment_ms="100000"))
    r = await alter(client, 2, "alt", {"max.message.bytes": "2000"}, validate_only=True)
    assert r.error_code == 0
    assert broker.metadata.get_topic("alt").configs == {
        "retention.ms": "5000",
        "segment.ms": "100000",
    }
    r = await alter(client, 2, "alt", {"max.message.bytes": "2000"})
    assert r.error_code == 0 and r.error_message is None
    assert broker.metadata.get_topic("alt").configs == {"max.message.bytes": "2000"}

    assert (await alter(client, 2, "alt", {"no.such": "1"})).error_code == ErrorCode.INVALID_CONFIG
    assert (
        await alter(client, 2, "alt", {"retention.ms": "x"})
    ).error_code == ErrorCode.INVALID_CONFIG
    assert (
        await alter(client, 2, "alt", {"retention.ms": None})
    ).error_code == ErrorCode.INVALID_REQUEST
    assert (
        await alter(client, 2, "missing", {"retention.ms": "1"})
    ).error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert (
        await alter(client, 2, "", {"retention.ms": "1"})
    ).error_code == ErrorCode.INVALID_REQUEST
    assert (
        await alter(client, 8, str(broker.broker_id), {"root": "INFO"})
    ).error_code == ErrorCode.INVALID_REQUEST
    assert broker.metadata.get_topic("alt").configs == {"max.message.bytes": "2000"}


async def test_alter_broker_configs(broker: Any, client: AsyncRawClient) -> None:
    bid = str(broker.broker_id)
    await create(client, topic("before"), topic("pinned", 1, 1, retention_ms="1000"))
    assert (
        await alter(client, 4, bid, {"log.dirs": "/tmp/x"})
    ).error_code == ErrorCode.INVALID_REQUEST
    assert (
        await alter(client, 4, str(broker.broker_id + 1), {"log.retention.ms": "1"})
    ).error_code == ErrorCode.INVALID_REQUEST
    assert (
        await alter(client, 4, bid, {"log.retention.ms": "soon"})
    ).error_code == ErrorCode.INVALID_REQUEST
    assert (await alter(client, 4, bid, {"log.retention.ms": "7200000"})).error_code == 0
    assert (await alter(client, 4, "", {"log.segment.bytes": "2000000"})).error_code == 0
    # Existing topics without an override follow the new broker default at once.
    before = broker.replica_manager.get_partition("before", 0)
    assert before.config.retention_ms == 7200000 and before.log.config.segment_bytes == 2000000
    assert broker.replica_manager.get_partition("pinned", 0).log.config.retention_ms == 1000

    (res,) = await describe(
        client,
        R(
            resource_type=4,
            resource_name=bid,
            configuration_keys=["log.retention.ms", "log.segment.bytes"],
        ),
        synonyms=True,
    )
    entries = {e.name: e for e in res.configs}
    assert entries["log.retention.ms"].value == "7200000"
    assert entries["log.retention.ms"].config_source == ConfigSource.DYNAMIC_BROKER_CONFIG
    assert entries["log.segment.bytes"].config_source == ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG
    (res,) = await describe(client, R(resource_type=4, resource_name=""))
    assert [(e.name, e.value, e.config_source) for e in res.configs] == [
        ("log.segment.bytes", "2000000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG)
    ]

    await create(client, topic("after"))
    (res,) = await describe(
        client,
        R(
            resource_type=2,
            resource_name="after",
            configuration_keys=["retention.ms", "segment.bytes"],
        ),
    )
    entries = {e.name: e for e in res.configs}
    assert entries["retention.ms"].value == "7200000"
    assert entries["retention.ms"].config_source == ConfigSource.DYNAMIC_BROKER_CONFIG
    assert entries["segment.bytes"].value == "2000000"


async def test_incremental_alter_configs(broker: Any, client: AsyncRawClient) -> None:
    await create(client, topic("inc", 1, 1, retention_ms="5000"))
    SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
    r = await incremental(
        client, 2, "inc", [("cleanup.policy", APPEND, "compact"), ("segment.ms", SET, "60000")]
    )
    assert r.error_code == 0
    assert broker.metadata.get_topic("inc").configs == {
        "retention.ms": "5000",
        "cleanup.policy": "delete,compact",
        "segment.ms": "60000",
    }
    r = await incremental(
        client, 2, "inc", [("cleanup.policy", SUBTRACT, "delete"), ("retention.ms", DELETE, None)]
    )
    assert r.error_code == 0
    assert broker.metadata.get_topic("inc").configs == {
        "cleanup.policy": "compact",
        "segment.ms": "60000",
    }
    r = await incremental(client, 2, "inc", [("segment.ms", DELETE, None)], validate_only=True)
    assert r.error_code == 0 and "segment.ms" in broker.metadata.get_topic("inc").configs

    async def code(name: str, ops: list[tuple[str, int, str | None]], rtype: int = 2) -> ErrorCode:
        return ErrorCode((await incremental(client, rtype, name, ops)).error_code)

    assert await code("inc", [("retention.ms", APPEND, "1")]) == ErrorCode.INVALID_CONFIG
    assert await code("inc", [("cleanup.policy", APPEND, "keep")]) == ErrorCode.INVALID_CONFIG
    assert await code("inc", [("no.such", SET, "1")]) == ErrorCode.INVALID_CONFIG
    assert (
        await code("inc", [("retention.ms", SET, "1"), ("retention.ms", SET, "2")])
        == ErrorCode.INVALID_REQUEST
    )
    assert await code("inc", [("retention.ms", SET, None)]) == ErrorCode.INVALID_REQUEST
    assert await code("inc", [("retention.ms", 9, "1")]) == ErrorCode.INVALID_REQUEST
    assert await code("gone", [("retention.ms", SET, "1")]) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    bid = str(broker.broker_id)
    assert await code(bid, [("log.retention.ms", APPEND, "1")], 4) == ErrorCode.INVALID_CONFIG
    assert await code(bid, [("broker.id", SET, "5")], 4) == ErrorCode.INVALID_REQUEST
    assert await code(bid, [("log.cleanup.policy", APPEND, "compact")], 4) == ErrorCode.NONE
    assert await code(bid, [("kpybroker", SET, "DEBUG")], 8) == ErrorCode.NONE
    assert await code(bid, [("kpybroker", SET, "LOUD")], 8) == ErrorCode.INVALID_CONFIG
    assert await code(bid, [("kpybroker", DELETE, None)], 8) == ErrorCode.NONE
    assert broker.metadata.get_topic("inc").configs == {
        "cleanup.policy": "compact",
        "segment.ms": "60000",
    }


async def test_alter_configs_duplicate_resources(client: AsyncRawClient) -> None:
    await create(client, topic("dupres"))
    AR = AlterConfigsRequest.AlterConfigsResource
    AC = AlterConfigsRequest.AlterableConfig
    res = AR(resource_type=2, resource_name="dupres", configs=[AC(name="retention.ms", value="1")])
    resp = await client.request(AlterConfigsRequest(resources=[res, res]), 1)
    assert [r.error_code for r in resp.responses] == [ErrorCode.INVALID_REQUEST] * 2


# -- DescribeLogDirs -----------------------------------------------------------------


async def test_describe_log_dirs(broker: Any, client: AsyncRawClient) -> None:
    await create(client, topic("ld", 2), topic("other"))
    resp = await client.request(DescribeLogDirsRequest(topics=None), 4)
    assert resp.error_code == 0
    (result,) = resp.results
    assert result.error_code == 0
    assert result.log_dir == os.path.abspath(broker.log_dirs[0])
    assert result.total_bytes > 0 and 0 <= result.usable_bytes <= result.total_bytes
    if broker.replica_manager is None:
        pytest.skip("storage not available: no partitions to list")
    topics = {t.name: sorted(p.partition_index for p in t.partitions) for t in result.topics}
    assert topics["ld"] == [0, 1] and topics["other"] == [0]
    assert all(
        p.offset_lag == 0 and not p.is_future_key and p.partition_size >= 0
        for t in result.topics
        for p in t.partitions
    )

    T = DescribeLogDirsRequest.DescribableLogDirTopic
    resp = await client.request(DescribeLogDirsRequest(topics=[T(topic="ld", partitions=[1, 7])]), 1)
    (result,) = resp.results
    assert [(t.name, [p.partition_index for p in t.partitions]) for t in result.topics] == [
        ("ld", [1])
    ]


# -- InitProducerId ------------------------------------------------------------------


async def test_init_producer_id(client: AsyncRawClient) -> None:
    first = await client.request(
        InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=1000), 4
    )
    assert (first.error_code, first.producer_epoch) == (0, 0)
    assert first.producer_id >= 0
    # KIP-360 re-initialisation of an idempotent producer: Kafka hands out a new id.
    again = await client.request(
        InitProducerIdRequest(
            transactional_id=None,
            transaction_timeout_ms=1000,
            producer_id=first.producer_id,
            producer_epoch=first.producer_epoch,
        ),
        4,
    )
    assert again.error_code == 0 and again.producer_epoch == 0
    assert again.producer_id != first.producer_id
    ids = set()
    # v6 is unstable in Kafka 4.1 and not advertised.
    for v in (0, 1, 2, 3, 5):
        r = await client.request(
            InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=1000), v
        )
        assert r.error_code == 0
        ids.add(r.producer_id)
    assert len(ids) == 5 and first.producer_id not in ids

    half = await client.request(
        InitProducerIdRequest(transactional_id=None, producer_id=5, producer_epoch=-1), 3
    )
    assert (half.error_code, half.producer_id, half.producer_epoch) == (
        ErrorCode.INVALID_REQUEST,
        -1,
        -1,
    )
    txn = await client.request(
        InitProducerIdRequest(transactional_id="tx-1", transaction_timeout_ms=1000), 4
    )
    assert txn.error_code in (
        ErrorCode.NONE,
        ErrorCode.COORDINATOR_NOT_AVAILABLE,
        ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
        ErrorCode.NOT_COORDINATOR,
    )
    empty = await client.request(
        InitProducerIdRequest(transactional_id="", transaction_timeout_ms=1000), 4
    )
    assert empty.error_code == ErrorCode.INVALID_REQUEST


async def test_zero_timeout_is_request_timed_out(broker: Any, client: AsyncRawClient) -> None:
    resp = await client.request(
        CreateTopicsRequest(topics=[topic("late"), topic("late2")], timeout_ms=0), 7
    )
    assert [(t.name, t.error_code) for t in resp.topics] == [
        ("late", ErrorCode.REQUEST_TIMED_OUT),
        ("late2", ErrorCode.REQUEST_TIMED_OUT),
    ]
    assert broker.metadata.get_topic("late") is None
    await create(client, topic("stays"))
    resp = await client.request(DeleteTopicsRequest(topic_names=["stays"], timeout_ms=0), 5)
    assert resp.responses[0].error_code == ErrorCode.REQUEST_TIMED_OUT
    resp = await client.request(
        CreatePartitionsRequest(
            topics=[
                CreatePartitionsRequest.CreatePartitionsTopic(
                    name="stays", count=3, assignments=None
                )
            ],
            timeout_ms=-1,
        ),
        2,
    )
    assert resp.results[0].error_code == ErrorCode.REQUEST_TIMED_OUT
    assert len(broker.metadata.get_topic("stays").partitions) == 1


async def test_describe_broker_loggers(broker: Any, client: AsyncRawClient) -> None:
    (res,) = await describe(client, R(resource_type=8, resource_name=str(broker.broker_id)))
    assert res.error_code == 0
    entries = {e.name: e for e in res.configs}
    assert entries["root"].config_source == ConfigSource.DYNAMIC_BROKER_LOGGER_CONFIG
    assert entries["root"].value in {
        "OFF",
        "CRITICAL",
        "ERROR",
        "WARNING",
        "INFO",
        "DEBUG",
        "NOTSET",
    }
    (empty,) = await describe(client, R(resource_type=8, resource_name=""))
    assert empty.error_code == ErrorCode.INVALID_REQUEST
