"""The broker, the admin APIs and the static config share one set of rules: topic
names, topic-config validation and the broker-to-topic value walk (with its unit
conversion) give the same answer whichever door a request comes through."""

from __future__ import annotations

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from kpybroker import admin_configs as ac
from kpybroker.admin_configs import AdminError, BrokerLayers
from kpybroker.broker import Broker, TopicError
from kpybroker.config import (
    BrokerConfig,
    ConfigError,
    broker_synonyms,
    effective_topic_properties,
    to_topic_unit,
    topic_value_from_layers,
    validate_topic_configs,
)
from wire.errors import ErrorCode

BAD_NAMES = ["", ".", "..", "x" * 250, "a b", "a/b", "é", "abc\n"]


@pytest.fixture
def broker(tmp_path):
    b = Broker(BrokerConfig({"log.dirs": str(tmp_path), "listeners": "PLAINTEXT://127.0.0.1:0"}))
    b.start()
    yield b
    b.shutdown()


@pytest.mark.parametrize("name", BAD_NAMES)
def test_broker_and_admin_refuse_a_topic_name_with_the_same_message(broker, name):
    with pytest.raises(AdminError) as admin:
        ac.validate_topic_name(name)
    with pytest.raises(TopicError) as direct:
        trio.run(broker.create_topic, name, 1, 1, {})
    assert direct.value.error_code == admin.value.error_code == ErrorCode.INVALID_TOPIC_EXCEPTION
    assert direct.value.message == admin.value.message == ac.topic_name_error(name)


@pytest.mark.parametrize("configs", [
    {"retention.ms": None},
    {"retention.msec": "1"},
    {"retention.ms": "-2"},
    {"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"},
    {"cleanup.policy": "compact,keep", "nope": "1"},
])
def test_broker_admin_and_config_refuse_topic_configs_alike(broker, configs):
    with pytest.raises(ConfigError) as static:
        validate_topic_configs(configs)
    with pytest.raises(AdminError) as admin:
        ac.validate_topic_configs(configs)
    with pytest.raises(TopicError) as direct:
        trio.run(broker.create_topic, "t", 1, 1, configs)
    assert admin.value.error_code == direct.value.error_code == ErrorCode.INVALID_CONFIG
    assert str(static.value) == admin.value.message == direct.value.message
    assert broker.metadata.get_topic("t") is None


def test_broker_synonym_groups_follow_the_topic_table():
    assert broker_synonyms("log.retention.hours") == ["log.retention.ms", "log.retention.minutes",
                                                      "log.retention.hours"]
    assert broker_synonyms("log.roll.ms") == ["log.roll.ms", "log.roll.hours"]
    assert broker_synonyms("log.roll.jitter.hours") == ["log.roll.jitter.ms", "log.roll.jitter.hours"]
    assert broker_synonyms("log.flush.interval.ms") == ["log.flush.interval.ms", "log.flush.scheduler.interval.ms"]
    assert broker_synonyms("message.max.bytes") == ["message.max.bytes"]


@pytest.mark.parametrize("broker_name, value, expected", [
    ("log.retention.hours", "2", "7200000"),
    ("log.retention.minutes", "3", "180000"),
    ("log.retention.hours", "-1", "-1"),
    ("log.roll.jitter.hours", "1", "3600000"),
    ("log.retention.ms", "5", "5"),
])
def test_unit_conversion(broker_name, value, expected):
    assert to_topic_unit(broker_name, value) == expected


@settings(max_examples=60, deadline=None)
@given(
    hours=st.one_of(st.none(), st.integers(-1, 10_000)),
    minutes=st.one_of(st.none(), st.integers(-1, 10_000)),
    dynamic_ms=st.one_of(st.none(), st.integers(-1, 10**9)),
)
def test_static_and_layered_walks_agree(hours, minutes, dynamic_ms):
    static = {}
    if hours is not None:
        static["log.retention.hours"] = str(hours)
    if minutes is not None:
        static["log.retention.minutes"] = str(minutes)
    config = BrokerConfig(static)
    layers = BrokerLayers.of(config)
    # With no dynamic layer the admin walk is the static one.
    assert ac.effective_topic_configs(layers, {}) == effective_topic_properties(config)
    expected = minutes * 60_000 if minutes is not None and minutes >= 0 else minutes
    if minutes is None:
        expected = hours * 3_600_000 if hours is not None and hours >= 0 else hours
    if expected is None:
        expected = 168 * 3_600_000
    assert config.log_retention_ms == expected
    # A dynamic per-broker value sits above every static synonym.
    dynamic = {"log.retention.ms": str(dynamic_ms)} if dynamic_ms is not None else {}
    layered = ac.topic_value_from_broker(BrokerLayers.of(config, dynamic), "retention.ms")
    assert layered == (str(dynamic_ms) if dynamic_ms is not None else str(expected))
    assert layered == topic_value_from_layers([dynamic, config.raw], "retention.ms")
