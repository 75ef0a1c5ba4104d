"""kpybroker.admin_configs without sockets: validation, sources and synonyms,
incremental operations, dynamic broker layers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpybroker import admin_configs as ac
from kpybroker.admin_configs import AdminError, AlterOp, BrokerLayers, ConfigSource, ConfigType
from kpybroker.config import BROKER_CONFIGS, TOPIC_CONFIGS
from wire.errors import ErrorCode


def code_of(fn, *args, **kwargs) -> ErrorCode:
    try:
        fn(*args, **kwargs)
    except AdminError as exc:
        return exc.error_code
    return ErrorCode.NONE


@pytest.mark.parametrize(
    "name, ok",
    [
        ("orders", True),
        ("a.b_c-D9", True),
        ("x" * 249, True),
        ("", False),
        (".", False),
        ("..", False),
        ("x" * 250, False),
        ("a b", False),
        ("é", False),
        ("a/b", False),
        ("a:b", False),
    ],
)
def test_topic_names(name: str, ok: bool) -> None:
    assert (ac.topic_name_error(name) is None) is ok
    expected = ErrorCode.NONE if ok else ErrorCode.INVALID_TOPIC_EXCEPTION
    assert code_of(ac.validate_topic_name, name) == expected


@pytest.mark.parametrize(
    "configs, expected",
    [
        ({"retention.ms": "1000", "cleanup.policy": "compact,delete"}, ErrorCode.NONE),
        ({"retention.ms": None}, ErrorCode.INVALID_CONFIG),
        ({"retention.msec": "1"}, ErrorCode.INVALID_CONFIG),
        ({"retention.ms": "one"}, ErrorCode.INVALID_CONFIG),
        ({"retention.ms": "-2"}, ErrorCode.INVALID_CONFIG),
        ({"segment.bytes": "10"}, ErrorCode.INVALID_CONFIG),
        ({"cleanup.policy": "compact,keep"}, ErrorCode.INVALID_CONFIG),
        ({"message.timestamp.type": "Whenever"}, ErrorCode.INVALID_CONFIG),
        ({"min.cleanable.dirty.ratio": "1.5"}, ErrorCode.INVALID_CONFIG),
        ({"unclean.leader.election.enable": "yes"}, ErrorCode.INVALID_CONFIG),
        ({"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"}, ErrorCode.INVALID_CONFIG),
    ],
)
def test_validate_topic_configs(configs: dict[str, str | None], expected: ErrorCode) -> None:
    assert code_of(ac.validate_topic_configs, configs) == expected


def test_incremental_operations_on_lists() -> None:
    table = TOPIC_CONFIGS
    out = ac.apply_incremental({}, [("cleanup.policy", "compact", AlterOp.APPEND)], table)
    assert out == {"cleanup.policy": "delete,compact"}  # starts from the default
    out = ac.apply_incremental(out, [("cleanup.policy", "compact,delete", AlterOp.APPEND)], table)
    assert out == {"cleanup.policy": "delete,compact"}  # no repeats
    out = ac.apply_incremental(out, [("cleanup.policy", "delete", AlterOp.SUBTRACT)], table)
    assert out == {"cleanup.policy": "compact"}
    out = ac.apply_incremental(
        out,
        [("cleanup.policy", "compact", AlterOp.SUBTRACT), ("retention.ms", "5", AlterOp.SET)],
        table,
    )
    assert out == {"cleanup.policy": "", "retention.ms": "5"}
    out = ac.apply_incremental(
        out, [("retention.ms", None, AlterOp.DELETE), ("not.there", None, AlterOp.DELETE)], table
    )
    assert out == {"cleanup.policy": ""}
    assert (
        code_of(ac.apply_incremental, {}, [("retention.ms", "5", AlterOp.APPEND)], table)
        == ErrorCode.INVALID_CONFIG
    )
    assert (
        code_of(ac.apply_incremental, {}, [("no.such", "5", AlterOp.SUBTRACT)], table)
        == ErrorCode.INVALID_CONFIG
    )
    assert (
        code_of(ac.apply_incremental, {}, [("retention.ms", "5", 7)], table)
        == ErrorCode.INVALID_REQUEST
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(["compact", "delete"]), max_size=2, unique=True),
    st.sampled_from(["compact", "delete"]),
)
def test_append_then_subtract(start: list[str], item: str) -> None:
    current = {"cleanup.policy": ",".join(start)} if start else {}
    appended = ac.apply_incremental(
        current, [("cleanup.policy", item, AlterOp.APPEND)], TOPIC_CONFIGS
    )
    parts = appended["cleanup.policy"].split(",")
    assert parts.count(item) == 1
    removed = ac.apply_incremental(
        appended, [("cleanup.policy", item, AlterOp.SUBTRACT)], TOPIC_CONFIGS
    )
    assert item not in removed["cleanup.policy"].split(",")
    base = start if start else ["delete"]
    assert removed["cleanup.policy"] == ",".join(p for p in base if p != item)


def test_duplicates_and_nulls_are_invalid_requests() -> None:
    assert (
        code_of(ac.check_duplicates_and_nulls, [("a", "1", 0), ("a", "2", 0)])
        == ErrorCode.INVALID_REQUEST
    )
    assert (
        code_of(ac.check_duplicates_and_nulls, [("a", None, AlterOp.SET)])
        == ErrorCode.INVALID_REQUEST
    )
    assert code_of(ac.check_duplicates_and_nulls, [("a", None, AlterOp.DELETE)]) == ErrorCode.NONE


def entries(
    layers: BrokerLayers, overrides: dict[str, str], *keys: str
) -> dict[str, ac.ConfigEntry]:
    return {
        e.name: e
        for e in ac.describe_topic(
            layers, overrides, list(keys), include_synonyms=True, include_documentation=True
        )
    }


def test_topic_sources_and_synonyms() -> None:
    layers = BrokerLayers(static={})
    e = entries(layers, {}, "retention.ms", "segment.bytes", "min.cleanable.dirty.ratio")
    assert e["retention.ms"].value == "604800000"
    assert e["retention.ms"].source == ConfigSource.DEFAULT_CONFIG
    # Kafka lists synonyms from the primary broker name on: log.retention.ms has no
    # default, so the hours default is not listed.
    assert e["retention.ms"].synonyms == []
    assert [(s.name, s.value, s.source) for s in e["segment.bytes"].synonyms] == [
        ("log.segment.bytes", "1073741824", ConfigSource.DEFAULT_CONFIG)
    ]
    assert e["min.cleanable.dirty.ratio"].value == "0.5"
    assert e["min.cleanable.dirty.ratio"].config_type == ConfigType.DOUBLE
    assert e["segment.bytes"].documentation == TOPIC_CONFIGS["segment.bytes"].doc

    layers = BrokerLayers(
        static={"log.retention.ms": "1000", "log.segment.bytes": "5000000"},
        dynamic_default={"log.segment.bytes": "6000000"},
        dynamic_broker={"log.retention.minutes": "3"},
    )
    e = entries(layers, {"segment.bytes": "7000000"}, "retention.ms", "segment.bytes")
    # log.retention.ms outranks log.retention.minutes whatever layer each is in.
    assert e["retention.ms"].value == "1000"
    assert [(s.name, s.source) for s in e["retention.ms"].synonyms] == [
        ("log.retention.ms", ConfigSource.STATIC_BROKER_CONFIG),
        ("log.retention.hours", ConfigSource.DEFAULT_CONFIG),
    ]
    assert e["retention.ms"].source == ConfigSource.STATIC_BROKER_CONFIG
    assert e["segment.bytes"].value == "7000000"
    assert [(s.name, s.value, s.source) for s in e["segment.bytes"].synonyms] == [
        ("segment.bytes", "7000000", ConfigSource.DYNAMIC_TOPIC_CONFIG),
        ("log.segment.bytes", "6000000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
        ("log.segment.bytes", "5000000", ConfigSource.STATIC_BROKER_CONFIG),
        ("log.segment.bytes", "1073741824", ConfigSource.DEFAULT_CONFIG),
    ]

    minutes_only = BrokerLayers(static={}, dynamic_broker={"log.retention.minutes": "3"})
    e = entries(minutes_only, {}, "retention.ms")
    assert e["retention.ms"].value == "180000"


def test_values_are_normalised() -> None:
    e = entries(
        BrokerLayers(static={}),
        {"cleanup.policy": " compact , delete", "retention.ms": " 42"},
        "cleanup.policy",
        "retention.ms",
    )
    assert e["cleanup.policy"].value == "compact,delete"
    assert e["retention.ms"].value == "42"


def test_broker_describe_and_layers() -> None:
    stored = ac.join_dynamic_broker_layers(
        {"log.retention.ms": "10"}, {"log.segment.bytes": "2000000"}
    )
    assert ac.dynamic_broker_layers(stored) == (
        {"log.retention.ms": "10"},
        {"log.segment.bytes": "2000000"},
    )
    layers = BrokerLayers(
        static={"num.partitions": "3", "custom.thing": "x"},
        dynamic_broker={"log.retention.ms": "10"},
        dynamic_default={"log.segment.bytes": "2000000", "log.retention.ms": "20"},
    )
    all_entries = {e.name: e for e in ac.describe_broker(layers, include_synonyms=True)}
    assert set(BROKER_CONFIGS) <= set(all_entries) and "custom.thing" in all_entries
    assert (
        all_entries["custom.thing"].read_only
        and all_entries["custom.thing"].config_type == ConfigType.UNKNOWN
    )
    assert all_entries["num.partitions"].source == ConfigSource.STATIC_BROKER_CONFIG
    assert all_entries["log.retention.ms"].value == "10"
    assert [s.source for s in all_entries["log.retention.ms"].synonyms] == [
        ConfigSource.DYNAMIC_BROKER_CONFIG,
        ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG,
        ConfigSource.DEFAULT_CONFIG,
    ]
    cluster = ac.describe_broker(layers, per_broker=False, include_synonyms=True)
    assert [(e.name, e.value, e.source) for e in cluster] == [
        ("log.retention.ms", "20", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
        ("log.segment.bytes", "2000000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
    ]
    assert all(
        s.source == ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG for e in cluster for s in e.synonyms
    )


def test_broker_dynamic_validation() -> None:
    assert (
        code_of(ac.validate_broker_dynamic, {"log.retention.ms": "5"}, per_broker=True)
        == ErrorCode.NONE
    )
    assert (
        code_of(ac.validate_broker_dynamic, {"my.custom": "5"}, per_broker=True) == ErrorCode.NONE
    )
    assert (
        code_of(ac.validate_broker_dynamic, {"broker.id": "5"}, per_broker=True)
        == ErrorCode.INVALID_REQUEST
    )
    assert (
        code_of(ac.validate_broker_dynamic, {"num.partitions": "0"}, per_broker=False)
        == ErrorCode.INVALID_REQUEST
    )
    assert ac.parse_broker_resource("", 1) is False
    assert ac.parse_broker_resource("1", 1) is True
    assert code_of(ac.parse_broker_resource, "2", 1) == ErrorCode.INVALID_REQUEST
    assert code_of(ac.parse_broker_resource, "one", 1) == ErrorCode.INVALID_REQUEST


def test_manual_assignment_checks() -> None:
    live = {1, 2, 3}
    assert code_of(ac.validate_manual_assignment, [1, 2], live, None) == ErrorCode.NONE
    assert (
        code_of(ac.validate_manual_assignment, [], live, None)
        == ErrorCode.INVALID_REPLICA_ASSIGNMENT
    )
    assert (
        code_of(ac.validate_manual_assignment, [1, 9], live, None)
        == ErrorCode.INVALID_REPLICA_ASSIGNMENT
    )
    assert (
        code_of(ac.validate_manual_assignment, [2, 2], live, None)
        == ErrorCode.INVALID_REPLICA_ASSIGNMENT
    )
    assert (
        code_of(ac.validate_manual_assignment, [1, 2], live, 3)
        == ErrorCode.INVALID_REPLICA_ASSIGNMENT
    )


def test_group_configs_follow_the_broker_and_its_bounds() -> None:
    from kpybroker.config import ConfigError, validate_group_configs

    layers = BrokerLayers(static={
        "group.consumer.heartbeat.interval.ms": "8000",
        "group.consumer.max.heartbeat.interval.ms": "60000",
        "group.share.min.session.timeout.ms": "1000",
    })
    e = {x.name: x for x in ac.describe_group(layers, {"share.auto.offset.reset": "earliest"},
                                              include_synonyms=True)}
    # The broker's value is the group's default, listed as the default (no broker synonym).
    assert (e["consumer.heartbeat.interval.ms"].value, e["consumer.heartbeat.interval.ms"].source) == (
        "8000", ConfigSource.DEFAULT_CONFIG)
    assert [(s.name, s.value, s.source) for s in e["share.auto.offset.reset"].synonyms] == [
        ("share.auto.offset.reset", "earliest", ConfigSource.GROUP_CONFIG)]
    assert e["share.record.lock.duration.ms"].config_type == ConfigType.INT
    assert e["share.auto.offset.reset"].config_type == ConfigType.STRING

    def refused(configs: dict[str, str | None]) -> str:
        with pytest.raises(ConfigError) as info:
            validate_group_configs(configs, layers.lookup)
        return str(info.value)

    validate_group_configs({"consumer.heartbeat.interval.ms": "40000"}, layers.lookup)
    # With the broker's bounds widened, the session timeout must still exceed the heartbeat.
    assert refused({"consumer.heartbeat.interval.ms": "50000"}) == (
        "consumer.session.timeout.ms must be greater than consumer.heartbeat.interval.ms")
    assert refused({"share.session.timeout.ms": "2000"}) == (
        "share.session.timeout.ms must be greater than share.heartbeat.interval.ms")
    assert refused({"share.session.timeout.ms": "500"}) == (
        "share.session.timeout.ms must be greater than or equal to group.share.min.session.timeout.ms")
    assert refused({"share.record.lock.duration.ms": "999"}).endswith("Value must be at least 1000")
    assert refused({"consumer.session.timeout.ms": None}) == (
        "Null value not supported for group configs: consumer.session.timeout.ms")
    assert refused({"session.timeout.ms": "50000"}) == "Unknown group config name: session.timeout.ms"
