"""BrokerConfig and the config tables: Kafka's names, defaults, synonyms, errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpybroker.config import (
    BROKER_CONFIGS,
    TOPIC_CONFIGS,
    BrokerConfig,
    ConfigError,
    effective_topic_properties,
    load_properties,
    log_config_for,
    validate_topic_configs,
)


def test_parsed_defaults_are_shared_only_when_immutable():
    # Defaults are parsed once and reused (the request path asks for some on every
    # request); a list default is parsed afresh, so one caller's change cannot leak.
    first, second = BrokerConfig(), BrokerConfig()
    assert first.get("fetch.max.bytes") == second.get("fetch.max.bytes") == 57_671_680
    listeners = first.get("listeners")
    listeners.append("EXTRA://localhost:1")
    assert second.get("listeners") == ["PLAINTEXT://localhost:9092"]
    assert first.get("listeners") == ["PLAINTEXT://localhost:9092"]
    # A value that is set still wins over the cached default.
    assert BrokerConfig({"fetch.max.bytes": "1048576"}).get("fetch.max.bytes") == 1_048_576
    assert first.get("fetch.max.bytes") == 57_671_680


def test_defaults_are_kafkas():
    c = BrokerConfig()
    assert c.get("num.partitions") == 1
    assert c.get("default.replication.factor") == 1
    assert c.get("auto.create.topics.enable") is True
    assert c.get("message.max.bytes") == 1_048_588
    assert c.get("log.segment.bytes") == 1_073_741_824
    assert c.get("socket.request.max.bytes") == 104_857_600
    assert c.get("connections.max.idle.ms") == 600_000
    assert c.get("offsets.topic.num.partitions") == 50
    assert c.get("group.initial.rebalance.delay.ms") == 3000
    assert [str(lst) for lst in c.listeners] == ["PLAINTEXT://localhost:9092"]
    assert c.log_dirs == ["./kpybroker-data"]
    assert c.log_retention_ms == 7 * 24 * 3_600_000


def test_every_topic_config_has_a_parseable_default():
    for name, cdef in TOPIC_CONFIGS.items():
        assert cdef.name == name
        cdef.parse(cdef.default)
        for syn in cdef.synonyms:
            assert syn in BROKER_CONFIGS, f"{name} -> {syn}"
    for cdef in BROKER_CONFIGS.values():
        cdef.parse(cdef.default)


@pytest.mark.parametrize("topic, broker, value, expected", [
    ("retention.ms", "log.retention.hours", "1", "3600000"),
    ("retention.ms", "log.retention.minutes", "2", "120000"),
    ("retention.ms", "log.retention.ms", "5", "5"),
    ("retention.ms", "log.retention.hours", "-1", "-1"),
    ("segment.ms", "log.roll.hours", "2", "7200000"),
    ("max.message.bytes", "message.max.bytes", "2000", "2000"),
    ("cleanup.policy", "log.cleanup.policy", "compact", "compact"),
    ("segment.index.bytes", "log.index.size.max.bytes", "4096", "4096"),
])
def test_topic_defaults_come_from_broker_synonyms(topic, broker, value, expected):
    props = effective_topic_properties(BrokerConfig({broker: value}))
    assert props[topic] == expected


def test_retention_precedence_ms_over_minutes_over_hours():
    c = BrokerConfig({"log.retention.hours": "1", "log.retention.minutes": "1", "log.retention.ms": "7"})
    assert c.log_retention_ms == 7
    c = BrokerConfig({"log.retention.hours": "1", "log.retention.minutes": "1"})
    assert c.log_retention_ms == 60_000


def test_topic_overrides_win_and_reach_the_storage_log_config():
    cfg = log_config_for(BrokerConfig({"log.segment.bytes": "5000"}), {"retention.ms": "1234"})
    assert cfg.retention_ms == 1234
    assert cfg.segment_bytes == 5000


@pytest.mark.parametrize("props, key", [
    ({"num.partitions": "x"}, "num.partitions"),
    ({"num.partitions": "0"}, "num.partitions"),
    ({"message.max.bytes": "99999999999"}, "message.max.bytes"),
    ({"auto.create.topics.enable": "yes"}, "auto.create.topics.enable"),
    ({"listeners": "PLAINTEXT://h:70000"}, "listeners"),
    ({"listeners": "PLAINTEXT://a:1,PLAINTEXT://b:2"}, "listeners"),
    ({"log.cleanup.policy": "shred"}, "log.cleanup.policy"),
    ({"broker.id": "1", "node.id": "2"}, "node.id"),
    ({"listeners": "SSL://h:9093"}, "listeners"),
    ({"listeners": "INTERNAL://h:9093"}, "listener.security.protocol.map"),
    ({"kpybroker.log.page.cache.window.bytes": "-2"}, "kpybroker.log.page.cache.window.bytes"),
    ({"kpybroker.log.page.cache.total.bytes": "-2"}, "kpybroker.log.page.cache.total.bytes"),
])
def test_bad_values_name_the_key(props, key):
    with pytest.raises(ConfigError) as info:
        BrokerConfig(props)
    assert key in str(info.value)
    assert info.value.name == key


def test_named_listener_mapped_to_plaintext():
    c = BrokerConfig({"listeners": "INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0",
                      "listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT"})
    assert [lst.name for lst in c.listeners] == ["INTERNAL", "EXTERNAL"]


def test_unknown_keys_are_kept_and_warned(caplog):
    c = BrokerConfig({"made.up": "1"})
    assert c.unknown == ["made.up"]
    assert "made.up" in caplog.text


def test_overrides_beat_the_file(tmp_path):
    f = tmp_path / "server.properties"
    f.write_text("# comment\n! also a comment\nnum.partitions = 3\nlog.dirs=/a,\\\n  /b\nlisteners: PLAINTEXT://:9093\n")
    assert load_properties(f)["log.dirs"] == "/a,/b"
    c = BrokerConfig.from_file(f, [("num.partitions", "5")])
    assert c.get("num.partitions") == 5
    assert c.log_dirs == ["/a", "/b"]
    # An empty host binds everything and is advertised as localhost.
    assert c.listeners[0].bind_host == "0.0.0.0"
    assert str(c.advertised_listeners[0]) == "PLAINTEXT://localhost:9093"


def test_validate_topic_configs():
    validate_topic_configs({"retention.ms": "100", "cleanup.policy": "compact,delete"})
    with pytest.raises(ConfigError, match="Unknown topic config"):
        validate_topic_configs({"retention.mss": "1"})
    with pytest.raises(ConfigError):
        validate_topic_configs({"min.insync.replicas": "0"})
    with pytest.raises(ConfigError):
        validate_topic_configs({"min.cleanable.dirty.ratio": "1.5"})


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=-(2**31), max_value=2**31 - 1))
def test_int_configs_accept_exactly_their_range(n):
    cdef = BROKER_CONFIGS["log.index.interval.bytes"]
    if n < 0:
        with pytest.raises(ConfigError):
            cdef.parse(str(n))
    else:
        assert cdef.parse(f" {n} ") == n
