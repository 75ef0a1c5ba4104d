"""Broker and topic configuration: Kafka's property names, types and defaults.

There is one table of definitions, ``BROKER_CONFIGS`` and ``TOPIC_CONFIGS``.
Defaults are kept as the *strings* Kafka shows in DescribeConfigs (``None`` for a
null default), because every consumer of the table speaks strings: the
properties file, ``--override``, CreateTopics / AlterConfigs, DescribeConfigs and
``LogConfig.from_properties``. ``ConfigDef.parse`` turns a string into the typed
value and raises ``ConfigError`` naming the key when the value is not valid.

A topic config that is not set on the topic falls back to its broker-level
synonym (``retention.ms`` -> ``log.retention.ms`` -> ``log.retention.minutes`` ->
``log.retention.hours``), then to the topic default. ``topic_value_from_layers``
is that walk, the only one: ``effective_topic_properties`` runs it over the static
properties, ``admin_configs`` over the dynamic broker configs above them, and
``log_config_for`` hands the result to storage.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

LONG_MAX = 9_223_372_036_854_775_807
INT_MAX = 2_147_483_647

BOOLEAN = "boolean"
SHORT = "short"
INT = "int"
LONG = "long"
DOUBLE = "double"
STRING = "string"
LIST = "list"
CLASS = "class"
PASSWORD = "password"

_INT_RANGES = {SHORT: (-(2**15), 2**15 - 1), INT: (-(2**31), 2**31 - 1), LONG: (-(2**63), 2**63 - 1)}


class ConfigError(ValueError):
    """A configuration key or value is not acceptable; the message names the key."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


Validator = Callable[[str, Any], None]


def at_least(minimum: float) -> Validator:
    def check(name: str, value: Any) -> None:
        if value is not None and value < minimum:
            raise ConfigError(name, f"Invalid value {value} for configuration {name}: Value must be at least {minimum}")

    return check


def between(lo: float, hi: float) -> Validator:
    def check(name: str, value: Any) -> None:
        if value is not None and not lo <= value <= hi:
            raise ConfigError(name, f"Invalid value {value} for configuration {name}: Value must be between {lo} and {hi}")

    return check


def one_of(*choices: str, case_insensitive: bool = False) -> Validator:
    def check(name: str, value: Any) -> None:
        items = value if isinstance(value, list) else [value]
        for item in items:
            if item is None:
                continue
            ok = item.lower() in {c.lower() for c in choices} if case_insensitive else item in choices
            if not ok:
                raise ConfigError(
                    name, f"Invalid value {item} for configuration {name}: String must be one of: {', '.join(choices)}"
                )

    return check


def _gzip_level(name: str, value: Any) -> None:
    if value != -1 and not 1 <= value <= 9:
        raise ConfigError(name, f"Invalid value {value} for configuration {name}: Value must be -1 or in [1,...,9]")


@dataclass(frozen=True)
class ConfigDef:
    """One configuration property as Kafka defines it.

    ``default`` is Kafka's default in string form (``None``: null). ``broker_synonym``
    is, for a topic config, the broker property that supplies its default;
    ``synonyms`` lists every broker property consulted, highest precedence first
    (Kafka's ``ServerTopicConfigSynonyms``). ``read_only`` broker entries are
    informational: DescribeConfigs shows them, AlterConfigs refuses them.
    """

    name: str
    type: str
    default: str | None
    doc: str = ""
    sensitive: bool = False
    read_only: bool = False
    broker_synonym: str | None = None
    synonyms: tuple[str, ...] = ()
    validator: Validator | None = field(default=None, compare=False, repr=False)

    def parse(self, raw: str | None) -> Any:
        """Typed value of ``raw`` (a string from a file, an override or a request)."""
        if raw is None:
            return None
        text = raw.strip() if self.type != PASSWORD else raw
        try:
            if self.type == BOOLEAN:
                low = text.lower()
                if low not in ("true", "false"):
                    raise ValueError("Expected value to be either true or false")
                value: Any = low == "true"
            elif self.type in _INT_RANGES:
                value = int(text)
                lo, hi = _INT_RANGES[self.type]
                if not lo <= value <= hi:
                    raise ValueError(f"Not a number of type {self.type.upper()}")
            elif self.type == DOUBLE:
                value = float(text)
            elif self.type == LIST:
                value = [p.strip() for p in text.split(",") if p.strip()] if text else []
            else:
                value = text
        except ValueError as exc:
            raise ConfigError(self.name, f"Invalid value {raw} for configuration {self.name}: {exc}") from None
        if self.validator is not None:
            self.validator(self.name, value)
        return value

    def validate(self, raw: str | None) -> None:
        self.parse(raw)


def _d(name: str, type_: str, default: Any, doc: str = "", *, validator: Validator | None = None,
       read_only: bool = False, sensitive: bool = False, synonyms: tuple[str, ...] = ()) -> ConfigDef:
    if isinstance(default, bool):
        default = "true" if default else "false"
    elif default is not None:
        default = str(default)
    return ConfigDef(name, type_, default, doc, sensitive, read_only,
                     synonyms[0] if synonyms else None, synonyms, validator)


def _table(defs: Iterable[ConfigDef]) -> dict[str, ConfigDef]:
    return {d.name: d for d in defs}


_TIMESTAMP_TYPES = one_of("CreateTime", "LogAppendTime")
_CLEANUP = one_of("compact", "delete")
_BROKER_COMPRESSION = one_of("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")

#: Topic-level configs (Kafka's TopicConfig), with their broker synonyms.
TOPIC_CONFIGS: dict[str, ConfigDef] = _table([
    _d("cleanup.policy", LIST, "delete", "Retention policy for old segments: delete, compact or both.",
       validator=_CLEANUP, synonyms=("log.cleanup.policy",)),
    _d("compression.type", STRING, "producer", "Final compression of the topic's data; 'producer' keeps the producer's codec.",
       validator=_BROKER_COMPRESSION, synonyms=("compression.type",)),
    _d("compression.gzip.level", INT, -1, "Gzip level when compression.type is gzip.",
       validator=_gzip_level, synonyms=("compression.gzip.level",)),
    _d("compression.lz4.level", INT, 9, "LZ4 level when compression.type is lz4.",
       validator=between(1, 17), synonyms=("compression.lz4.level",)),
    _d("compression.zstd.level", INT, 3, "Zstandard level when compression.type is zstd.",
       validator=between(-131072, 22), synonyms=("compression.zstd.level",)),
    _d("delete.retention.ms", LONG, 86_400_000, "How long delete tombstones are kept on compacted topics.",
       validator=at_least(0), synonyms=("log.cleaner.delete.retention.ms",)),
    _d("file.delete.delay.ms", LONG, 60_000, "Delay before a deleted segment's files are removed.",
       validator=at_least(0), synonyms=("log.segment.delete.delay.ms",)),
    _d("flush.messages", LONG, LONG_MAX, "Messages appended between forced fsyncs.",
       validator=at_least(1), synonyms=("log.flush.interval.messages",)),
    _d("flush.ms", LONG, LONG_MAX, "Milliseconds between forced fsyncs.",
       validator=at_least(0), synonyms=("log.flush.interval.ms", "log.flush.scheduler.interval.ms")),
    _d("follower.replication.throttled.replicas", LIST, "", "Replicas throttled on the follower side."),
    _d("index.interval.bytes", INT, 4096, "Bytes between offset index entries.",
       validator=at_least(0), synonyms=("log.index.interval.bytes",)),
    _d("leader.replication.throttled.replicas", LIST, "", "Replicas throttled on the leader side."),
    _d("local.retention.bytes", LONG, -2, "Local retention size with tiered storage (-2: retention.bytes).",
       validator=at_least(-2), synonyms=("log.local.retention.bytes",)),
    _d("local.retention.ms", LONG, -2, "Local retention time with tiered storage (-2: retention.ms).",
       validator=at_least(-2), synonyms=("log.local.retention.ms",)),
    _d("max.compaction.lag.ms", LONG, LONG_MAX, "Longest time a message stays uncompacted.",
       validator=at_least(1), synonyms=("log.cleaner.max.compaction.lag.ms",)),
    _d("max.message.bytes", INT, 1_048_588, "Largest record batch size accepted.",
       validator=at_least(0), synonyms=("message.max.bytes",)),
    _d("message.downconversion.enable", BOOLEAN, True, "Down-conversion for old consumers (no-op: v2 only).",
       synonyms=("log.message.downconversion.enable",)),
    _d("message.timestamp.after.max.ms", LONG, 3_600_000, "How far ahead of the broker clock a timestamp may be.",
       validator=at_least(0), synonyms=("log.message.timestamp.after.max.ms",)),
    _d("message.timestamp.before.max.ms", LONG, LONG_MAX, "How far behind the broker clock a timestamp may be.",
       validator=at_least(0), synonyms=("log.message.timestamp.before.max.ms",)),
    _d("message.timestamp.type", STRING, "CreateTime", "CreateTime or LogAppendTime.",
       validator=_TIMESTAMP_TYPES, synonyms=("log.message.timestamp.type",)),
    _d("min.cleanable.dirty.ratio", DOUBLE, 0.5, "Dirty ratio that triggers compaction.",
       validator=between(0, 1), synonyms=("log.cleaner.min.cleanable.ratio",)),
    _d("min.compaction.lag.ms", LONG, 0, "Shortest time a message stays uncompacted.",
       validator=at_least(0), synonyms=("log.cleaner.min.compaction.lag.ms",)),
    _d("min.insync.replicas", INT, 1, "In-sync replicas required for acks=all.",
       validator=at_least(1), synonyms=("min.insync.replicas",)),
    _d("preallocate", BOOLEAN, False, "Preallocate segment files.", synonyms=("log.preallocate",)),
    _d("remote.log.copy.disable", BOOLEAN, False, "Stop copying to tiered storage."),
    _d("remote.log.delete.on.disable", BOOLEAN, False, "Delete tiered data when tiering is disabled."),
    _d("remote.storage.enable", BOOLEAN, False, "Tiered storage for this topic (not supported)."),
    _d("retention.bytes", LONG, -1, "Largest partition size before old segments are deleted (-1: no limit).",
       synonyms=("log.retention.bytes",)),
    _d("retention.ms", LONG, 604_800_000, "Age after which segments are deleted (-1: no limit).",
       validator=at_least(-1), synonyms=("log.retention.ms", "log.retention.minutes", "log.retention.hours")),
    # Kafka 4 requires at least 1 MiB; a smaller floor keeps retention tests fast.
    _d("segment.bytes", INT, 1_073_741_824, "Size of one log segment file.",
       validator=at_least(14), synonyms=("log.segment.bytes",)),
    _d("segment.index.bytes", INT, 10_485_760, "Size of the offset and time index files.",
       validator=at_least(8), synonyms=("log.index.size.max.bytes",)),
    _d("segment.jitter.ms", LONG, 0, "Random jitter subtracted from segment.ms.",
       validator=at_least(0), synonyms=("log.roll.jitter.ms", "log.roll.jitter.hours")),
    _d("segment.ms", LONG, 604_800_000, "Age after which a new segment is rolled.",
       validator=at_least(1), synonyms=("log.roll.ms", "log.roll.hours")),
    _d("unclean.leader.election.enable", BOOLEAN, False, "Allow out-of-sync replicas to become leader.",
       synonyms=("unclean.leader.election.enable",)),
    # Ours, not Kafka's: fsync every append before it is acknowledged (see storage.config.LogConfig).
    _d("kpybroker.flush.on.ack", BOOLEAN, False, "fsync each append before acknowledging it (kpybroker only).",
       synonyms=("kpybroker.log.flush.on.ack",)),
])

# Broker properties whose unit differs from the topic config they feed (value * factor = ms).
_UNIT_FACTORS = {
    "log.retention.minutes": 60_000,
    "log.retention.hours": 3_600_000,
    "log.roll.hours": 3_600_000,
    "log.roll.jitter.hours": 3_600_000,
}

_RO = {"read_only": True}

#: Broker-level configs (Kafka's KafkaConfig) that a single local broker reads or shows.
BROKER_CONFIGS: dict[str, ConfigDef] = _table([
    # identity and listeners
    _d("broker.id", INT, -1, "This broker's id (-1: use node.id).", **_RO),
    _d("node.id", INT, -1, "This node's id.", **_RO),
    _d("broker.rack", STRING, None, "Rack of this broker.", **_RO),
    _d("listeners", LIST, "PLAINTEXT://localhost:9092", "Listeners as NAME://host:port, comma separated."),
    # Read-only since Kafka 4.0 (KAFKA-18405): KRaft brokers cannot change it dynamically.
    _d("advertised.listeners", LIST, None, "Listeners handed to clients in Metadata (default: listeners).",
       **_RO),
    _d("listener.security.protocol.map", STRING,
       "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
       "Listener name to security protocol."),
    _d("inter.broker.listener.name", STRING, None, "Listener used between brokers.", **_RO),
    _d("security.inter.broker.protocol", STRING, "PLAINTEXT", "Protocol used between brokers.", **_RO),
    _d("process.roles", LIST, "", "KRaft roles (informational: kpybroker keeps metadata locally or in ZooKeeper).", **_RO),
    _d("controller.listener.names", LIST, None, "KRaft controller listeners (informational).", **_RO),
    _d("zookeeper.connect", STRING, None, "ZooKeeper connection string; unset runs a single broker.", **_RO),
    _d("zookeeper.session.timeout.ms", INT, 18_000, "ZooKeeper session timeout.", **_RO),
    _d("zookeeper.connection.timeout.ms", INT, None, "ZooKeeper connect timeout.", **_RO),
    # storage
    _d("log.dirs", LIST, None, "Data directories (default: log.dir).", **_RO),
    _d("log.dir", STRING, "./kpybroker-data", "Data directory used when log.dirs is unset.", **_RO),
    _d("metadata.log.dir", STRING, None, "Where cluster metadata is kept (default: first log dir).", **_RO),
    _d("num.partitions", INT, 1, "Partitions of an auto-created topic.", validator=at_least(1)),
    _d("default.replication.factor", INT, 1, "Replication factor of an auto-created topic.", validator=at_least(1)),
    _d("auto.create.topics.enable", BOOLEAN, True, "Create unknown topics on Metadata/Produce.", **_RO),
    _d("delete.topic.enable", BOOLEAN, True, "Allow DeleteTopics.", **_RO),
    _d("log.segment.bytes", INT, 1_073_741_824, "Size of one log segment file.", validator=at_least(14)),
    _d("log.roll.ms", LONG, None, "Segment roll age in ms (overrides log.roll.hours).", validator=at_least(1)),
    _d("log.roll.hours", INT, 168, "Segment roll age in hours.", validator=at_least(1)),
    _d("log.roll.jitter.ms", LONG, None, "Segment roll jitter in ms."),
    _d("log.roll.jitter.hours", INT, 0, "Segment roll jitter in hours.", validator=at_least(0)),
    _d("log.retention.ms", LONG, None, "Retention in ms (overrides minutes and hours; -1: forever)."),
    _d("log.retention.minutes", INT, None, "Retention in minutes (overrides hours)."),
    _d("log.retention.hours", INT, 168, "Retention in hours."),
    _d("log.retention.bytes", LONG, -1, "Partition size limit (-1: none)."),
    _d("log.retention.check.interval.ms", LONG, 300_000, "How often retention runs.", validator=at_least(1)),
    _d("log.index.interval.bytes", INT, 4096, "Bytes between offset index entries.", validator=at_least(0)),
    _d("log.index.size.max.bytes", INT, 10_485_760, "Size of the index files.", validator=at_least(8)),
    _d("log.flush.interval.messages", LONG, LONG_MAX, "Messages between forced fsyncs.", validator=at_least(1)),
    _d("log.flush.interval.ms", LONG, None, "Milliseconds between forced fsyncs."),
    _d("log.flush.scheduler.interval.ms", LONG, LONG_MAX, "How often the flusher checks logs.", **_RO),
    _d("log.flush.offset.checkpoint.interval.ms", INT, 60_000, "How often the recovery point is checkpointed.",
       validator=at_least(0), **_RO),
    _d("log.flush.start.offset.checkpoint.interval.ms", INT, 60_000,
       "How often log start offsets are checkpointed.", validator=at_least(0), **_RO),
    _d("log.cleanup.policy", LIST, "delete", "Default cleanup policy.", validator=_CLEANUP),
    _d("log.cleaner.enable", BOOLEAN, True, "Run the log cleaner for compacted topics.", **_RO),
    _d("log.cleaner.backoff.ms", LONG, 15_000, "Sleep between log cleaner passes.", validator=at_least(0), **_RO),
    _d("log.cleaner.dedupe.buffer.size", LONG, 134_217_728, "Memory for the cleaner's key map.",
       validator=at_least(0), **_RO),
    _d("log.cleaner.io.buffer.load.factor", DOUBLE, 0.9, "How full the cleaner's key map may get.", **_RO),
    _d("log.cleaner.threads", INT, 1, "Log cleaner threads (their key maps share the buffer).",
       validator=at_least(0), **_RO),
    _d("log.cleaner.delete.retention.ms", LONG, 86_400_000, "Tombstone retention on compacted topics."),
    _d("log.cleaner.min.compaction.lag.ms", LONG, 0, "Minimum uncompacted time."),
    _d("log.cleaner.max.compaction.lag.ms", LONG, LONG_MAX, "Maximum uncompacted time.", validator=at_least(1)),
    _d("log.cleaner.min.cleanable.ratio", DOUBLE, 0.5, "Dirty ratio that triggers compaction.",
       validator=between(0, 1)),
    _d("log.segment.delete.delay.ms", LONG, 60_000, "Delay before deleted segment files are removed."),
    _d("log.preallocate", BOOLEAN, False, "Preallocate segment files."),
    _d("kpybroker.log.flush.on.ack", BOOLEAN, False, "Default of the topic config kpybroker.flush.on.ack."),
    # Ours, not Kafka's (storage/write_behind.py): -1 leaves every append in the page
    # cache, as Kafka does.
    _d("kpybroker.log.page.cache.window.bytes", LONG, 64 << 20,
       "Newest appended bytes of each partition left in the page cache as they are; older appends "
       "are written back early and then dropped from the cache (-1: keep all, as Kafka).",
       validator=at_least(-1), **_RO),
    _d("kpybroker.log.page.cache.total.bytes", LONG, 256 << 20,
       "Most appended bytes all partitions together leave in the page cache; above it the least "
       "recently appended are written back and dropped first (-1: no broker-wide bound). Has no "
       "effect when kpybroker.log.page.cache.window.bytes is -1.",
       validator=at_least(-1), **_RO),
    _d("log.message.downconversion.enable", BOOLEAN, True, "Down-conversion (no-op: v2 only)."),
    _d("log.message.timestamp.type", STRING, "CreateTime", "CreateTime or LogAppendTime.",
       validator=_TIMESTAMP_TYPES),
    _d("log.message.timestamp.before.max.ms", LONG, LONG_MAX, "Allowed lag of a timestamp behind the broker.",
       validator=at_least(0)),
    _d("log.message.timestamp.after.max.ms", LONG, 3_600_000, "Allowed lead of a timestamp over the broker.",
       validator=at_least(0)),
    _d("log.local.retention.ms", LONG, -2, "Tiered storage local retention time.", validator=at_least(-2)),
    _d("log.local.retention.bytes", LONG, -2, "Tiered storage local retention size.", validator=at_least(-2)),
    _d("compression.type", STRING, "producer", "Default compression of topics.", validator=_BROKER_COMPRESSION),
    _d("compression.gzip.level", INT, -1, "Gzip level.", validator=_gzip_level),
    _d("compression.lz4.level", INT, 9, "LZ4 level.", validator=between(1, 17)),
    _d("compression.zstd.level", INT, 3, "Zstandard level.", validator=between(-131072, 22)),
    _d("message.max.bytes", INT, 1_048_588, "Largest record batch accepted.", validator=at_least(0)),
    _d("min.insync.replicas", INT, 1, "In-sync replicas required for acks=all.", validator=at_least(1)),
    _d("unclean.leader.election.enable", BOOLEAN, False, "Allow unclean leader election."),
    # network
    _d("socket.request.max.bytes", INT, 104_857_600, "Largest request frame accepted.", validator=at_least(1),
       **_RO),
    # Applied only when set: left unset, the OS's autotuning stays (kpybroker.server).
    _d("socket.send.buffer.bytes", INT, 102_400, "SO_SNDBUF of connections when set (-1 or unset: OS default).",
       **_RO),
    _d("socket.receive.buffer.bytes", INT, 102_400, "SO_RCVBUF of connections when set (-1 or unset: OS default).",
       **_RO),
    _d("connections.max.idle.ms", LONG, 600_000, "Idle connections are closed after this long.", **_RO),
    _d("max.connections", INT, INT_MAX, "Connection limit (informational).", validator=at_least(0)),
    _d("max.connections.per.ip", INT, INT_MAX, "Per-IP connection limit (informational).", validator=at_least(0)),
    _d("queued.max.requests", INT, 500, "Request queue size (informational).", **_RO),
    _d("num.network.threads", INT, 3, "Network threads (informational: one trio loop).", **_RO),
    _d("num.io.threads", INT, 8, "I/O threads (informational: one trio loop).", **_RO),
    _d("background.threads", INT, 10, "Background threads (informational).", **_RO),
    _d("num.recovery.threads.per.data.dir", INT, 2, "Recovery threads (informational).", **_RO),
    _d("num.replica.fetchers", INT, 1, "Replica fetcher threads (informational).", **_RO),
    _d("fetch.max.bytes", INT, 57_671_680, "Largest Fetch response.", validator=at_least(0)),
    _d("max.incremental.fetch.session.cache.slots", INT, 1000, "Fetch sessions kept.", validator=at_least(0),
       **_RO),
    _d("request.timeout.ms", INT, 30_000, "Inter-broker request timeout.", **_RO),
    # replication
    _d("replica.lag.time.max.ms", LONG, 30_000, "A follower out of sync this long leaves the ISR.", **_RO),
    _d("replica.fetch.max.bytes", INT, 1_048_576, "Bytes per partition a follower fetches.", **_RO),
    _d("replica.fetch.min.bytes", INT, 1, "min_bytes of follower fetches.", **_RO),
    _d("replica.fetch.wait.max.ms", INT, 500, "max_wait_ms of follower fetches.", **_RO),
    _d("replica.fetch.response.max.bytes", INT, 10_485_760, "max_bytes of follower fetches.", **_RO),
    _d("replica.socket.timeout.ms", INT, 30_000, "Follower socket timeout.", **_RO),
    _d("replica.high.watermark.checkpoint.interval.ms", LONG, 5000, "High watermark checkpoint interval.", **_RO),
    _d("controlled.shutdown.enable", BOOLEAN, True, "Move leadership away before shutting down.", **_RO),
    _d("auto.leader.rebalance.enable", BOOLEAN, True, "Move leadership back to preferred replicas.", **_RO),
    # groups and offsets
    _d("offsets.topic.num.partitions", INT, 50, "Partitions of __consumer_offsets.", validator=at_least(1), **_RO),
    _d("offsets.topic.replication.factor", SHORT, 3, "Replication factor of __consumer_offsets.",
       validator=at_least(1), **_RO),
    _d("offsets.topic.segment.bytes", INT, 104_857_600, "Segment size of __consumer_offsets.",
       validator=at_least(1), **_RO),
    _d("offsets.topic.compression.codec", INT, 0, "Compression of offset commits.", **_RO),
    _d("offsets.retention.minutes", INT, 10_080, "Committed offsets of empty groups are kept this long.",
       validator=at_least(1), **_RO),
    _d("offsets.retention.check.interval.ms", LONG, 600_000, "How often stale offsets are removed.",
       validator=at_least(1), **_RO),
    _d("offsets.commit.timeout.ms", INT, 5000, "Offset commit timeout.", validator=at_least(1), **_RO),
    _d("offsets.load.buffer.size", INT, 5_242_880, "Read size while loading offsets.", **_RO),
    _d("offset.metadata.max.bytes", INT, 4096, "Largest offset commit metadata.", **_RO),
    _d("group.initial.rebalance.delay.ms", INT, 3000, "Wait for more members before the first rebalance.", **_RO),
    _d("group.min.session.timeout.ms", INT, 6000, "Smallest session timeout a member may ask for.", **_RO),
    _d("group.max.session.timeout.ms", INT, 1_800_000, "Largest session timeout a member may ask for.", **_RO),
    _d("group.max.size", INT, INT_MAX, "Largest number of members in a classic group.", validator=at_least(1),
       **_RO),
    _d("group.consumer.session.timeout.ms", INT, 45_000,
       "Session timeout of members of consumer-protocol (KIP-848) groups.", validator=at_least(1), **_RO),
    _d("group.consumer.heartbeat.interval.ms", INT, 5000,
       "Heartbeat interval handed to consumer-protocol (KIP-848) members.", validator=at_least(1), **_RO),
    _d("group.consumer.max.size", INT, INT_MAX, "Largest number of members in a consumer-protocol group.",
       validator=at_least(1), **_RO),
    _d("group.consumer.migration.policy", STRING, "bidirectional",
       "Whether groups with members may switch between the classic and consumer protocols: "
       "disabled, upgrade, downgrade or bidirectional.",
       validator=one_of("disabled", "upgrade", "downgrade", "bidirectional", case_insensitive=True), **_RO),
    # The bounds of the per-group configs (GROUP_CONFIGS), as Kafka's GroupCoordinatorConfig.
    _d("group.consumer.min.session.timeout.ms", INT, 45_000,
       "Smallest consumer.session.timeout.ms a group may be given.", validator=at_least(1), **_RO),
    _d("group.consumer.max.session.timeout.ms", INT, 60_000,
       "Largest consumer.session.timeout.ms a group may be given.", validator=at_least(1), **_RO),
    _d("group.consumer.min.heartbeat.interval.ms", INT, 5000,
       "Smallest consumer.heartbeat.interval.ms a group may be given.", validator=at_least(1), **_RO),
    _d("group.consumer.max.heartbeat.interval.ms", INT, 15_000,
       "Largest consumer.heartbeat.interval.ms a group may be given.", validator=at_least(1), **_RO),
    _d("group.share.session.timeout.ms", INT, 45_000,
       "Session timeout of share group (KIP-932) members (share groups are not served).",
       validator=at_least(1), **_RO),
    _d("group.share.min.session.timeout.ms", INT, 45_000,
       "Smallest share.session.timeout.ms a group may be given.", validator=at_least(1), **_RO),
    _d("group.share.max.session.timeout.ms", INT, 60_000,
       "Largest share.session.timeout.ms a group may be given.", validator=at_least(1), **_RO),
    _d("group.share.heartbeat.interval.ms", INT, 5000,
       "Heartbeat interval of share group members (share groups are not served).",
       validator=at_least(1), **_RO),
    _d("group.share.min.heartbeat.interval.ms", INT, 5000,
       "Smallest share.heartbeat.interval.ms a group may be given.", validator=at_least(1), **_RO),
    _d("group.share.max.heartbeat.interval.ms", INT, 15_000,
       "Largest share.heartbeat.interval.ms a group may be given.", validator=at_least(1), **_RO),
    _d("group.share.record.lock.duration.ms", INT, 30_000,
       "How long a share group member holds a record (share groups are not served).",
       validator=at_least(1000), **_RO),
    _d("group.share.min.record.lock.duration.ms", INT, 15_000,
       "Smallest share.record.lock.duration.ms a group may be given.", validator=at_least(1000), **_RO),
    _d("group.share.max.record.lock.duration.ms", INT, 60_000,
       "Largest share.record.lock.duration.ms a group may be given.", validator=at_least(1000), **_RO),
    # transactions and producer ids
    _d("transaction.state.log.num.partitions", INT, 50, "Partitions of __transaction_state.",
       validator=at_least(1), **_RO),
    _d("transaction.state.log.replication.factor", SHORT, 3, "Replication factor of __transaction_state.",
       validator=at_least(1), **_RO),
    _d("transaction.state.log.min.isr", INT, 2, "min.insync.replicas of __transaction_state.",
       validator=at_least(1), **_RO),
    _d("transaction.state.log.segment.bytes", INT, 104_857_600, "Segment size of __transaction_state.", **_RO),
    _d("transactional.id.expiration.ms", INT, 604_800_000, "Idle transactional ids expire after this long.",
       validator=at_least(1), **_RO),
    _d("transaction.max.timeout.ms", INT, 900_000, "Largest transaction timeout a producer may ask for.",
       validator=at_least(1), **_RO),
    _d("transaction.abort.timed.out.transaction.cleanup.interval.ms", INT, 10_000,
       "How often timed-out transactions are aborted.", **_RO),
    _d("transaction.remove.expired.transaction.cleanup.interval.ms", INT, 3_600_000,
       "How often expired transactional ids are removed.", **_RO),
    _d("transaction.partition.verification.enable", BOOLEAN, True, "Verify partitions of transactions."),
    _d("producer.id.expiration.ms", INT, 86_400_000, "Idle producer ids expire after this long.",
       validator=at_least(1)),
    _d("producer.id.expiration.check.interval.ms", INT, 600_000, "How often producer ids are expired.",
       validator=at_least(1), **_RO),
    # security (informational: only PLAINTEXT is served)
    _d("authorizer.class.name", STRING, "", "Authorizer (none).", **_RO),
    _d("super.users", STRING, None, "Principals allowed everything.", **_RO),
    _d("sasl.enabled.mechanisms", LIST, "GSSAPI", "SASL mechanisms (not served).", **_RO),
    _d("ssl.keystore.password", PASSWORD, None, "Keystore password (not used).", sensitive=True, **_RO),
])


# Kafka's GroupConfig: what IncrementalAlterConfigs and AlterConfigs may set on a
# GROUP resource (any group id, existing or not). ``default`` is Kafka's; the
# effective default is the broker property GROUP_CONFIG_BROKER_DEFAULTS names.
GROUP_CONFIGS: dict[str, ConfigDef] = _table([
    _d("consumer.session.timeout.ms", INT, 45_000,
       "The timeout to detect client failures when using the consumer group protocol.",
       validator=at_least(1)),
    _d("consumer.heartbeat.interval.ms", INT, 5000,
       "The heartbeat interval given to the members of a consumer group.", validator=at_least(1)),
    _d("share.session.timeout.ms", INT, 45_000,
       "The timeout to detect client failures when using the share group protocol.",
       validator=at_least(1)),
    _d("share.heartbeat.interval.ms", INT, 5000,
       "The heartbeat interval given to the members of a share group.", validator=at_least(1)),
    _d("share.record.lock.duration.ms", INT, 30_000,
       "The record acquisition lock duration in milliseconds for share groups.",
       validator=at_least(1000)),
    _d("share.auto.offset.reset", STRING, "latest",
       "The strategy to initialize the share-partition start offset.",
       validator=one_of("latest", "earliest")),
])

GROUP_CONFIG_BROKER_DEFAULTS = {
    "consumer.session.timeout.ms": "group.consumer.session.timeout.ms",
    "consumer.heartbeat.interval.ms": "group.consumer.heartbeat.interval.ms",
    "share.session.timeout.ms": "group.share.session.timeout.ms",
    "share.heartbeat.interval.ms": "group.share.heartbeat.interval.ms",
    "share.record.lock.duration.ms": "group.share.record.lock.duration.ms",
}

# Each bounded group config: the broker properties holding its minimum and maximum.
_GROUP_CONFIG_BOUNDS = {
    "consumer.heartbeat.interval.ms": (
        "group.consumer.min.heartbeat.interval.ms", "group.consumer.max.heartbeat.interval.ms"),
    "consumer.session.timeout.ms": (
        "group.consumer.min.session.timeout.ms", "group.consumer.max.session.timeout.ms"),
    "share.heartbeat.interval.ms": (
        "group.share.min.heartbeat.interval.ms", "group.share.max.heartbeat.interval.ms"),
    "share.session.timeout.ms": (
        "group.share.min.session.timeout.ms", "group.share.max.session.timeout.ms"),
    "share.record.lock.duration.ms": (
        "group.share.min.record.lock.duration.ms", "group.share.max.record.lock.duration.ms"),
}


def group_config_defaults(broker_value: Callable[[str], str | None]) -> dict[str, str]:
    """Every group config's default: the broker property it comes from
    (``broker_value(name)``, the effective broker value) or Kafka's own."""
    out = {}
    for name, cdef in GROUP_CONFIGS.items():
        source = GROUP_CONFIG_BROKER_DEFAULTS.get(name)
        value = broker_value(source) if source is not None else None
        out[name] = value if value is not None else cdef.default or ""
    return out


def validate_group_configs(
    configs: Mapping[str, str | None], broker_value: Callable[[str], str | None]
) -> None:
    """Kafka's checks on a group's complete set of configs (GroupConfig.validate,
    answered with INVALID_CONFIG): no nulls, known names, parseable values within
    the broker's bounds, and each session timeout above its heartbeat interval.
    Raises ``ConfigError``."""
    nulls = [k for k, v in configs.items() if v is None]
    if nulls:
        raise ConfigError(nulls[0], "Null value not supported for group configs: " + ",".join(nulls))
    for key in configs:
        if key not in GROUP_CONFIGS:
            raise ConfigError(key, f"Unknown group config name: {key}")
    merged: dict[str, str | None] = {**group_config_defaults(broker_value), **configs}
    values = {key: GROUP_CONFIGS[key].parse(raw) for key, raw in merged.items()}
    for key, (lo_name, hi_name) in _GROUP_CONFIG_BOUNDS.items():
        lo = int(broker_value(lo_name) or BROKER_CONFIGS[lo_name].default or 0)
        hi = int(broker_value(hi_name) or BROKER_CONFIGS[hi_name].default or 0)
        if values[key] < lo:
            raise ConfigError(key, f"{key} must be greater than or equal to {lo_name}")
        if values[key] > hi:
            raise ConfigError(key, f"{key} must be less than or equal to {hi_name}")
    for kind in ("consumer", "share"):
        if values[f"{kind}.session.timeout.ms"] <= values[f"{kind}.heartbeat.interval.ms"]:
            raise ConfigError(
                f"{kind}.session.timeout.ms",
                f"{kind}.session.timeout.ms must be greater than {kind}.heartbeat.interval.ms",
            )


def _split_properties(text: str) -> dict[str, str]:
    """Parse Java-properties-style text (key=value or key: value, # and ! comments,
    backslash line continuation): enough for Kafka's server.properties."""
    props: dict[str, str] = {}
    logical: list[str] = []
    for raw in text.splitlines():
        line = raw.strip() if not logical else raw.lstrip()
        if not logical and (not line or line[0] in "#!"):
            continue
        if line.endswith("\\") and not line.endswith("\\\\"):
            logical.append(line[:-1])
            continue
        logical.append(line)
        entry = "".join(logical)
        logical = []
        m = re.match(r"([^=:\s]+)\s*[=:\s]\s*(.*)$", entry)
        if m:
            props[m.group(1)] = m.group(2).strip()
        else:
            props[entry.strip()] = ""
    return props


def load_properties(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a server.properties file; raise ``ConfigError`` if it cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:
            return _split_properties(f.read())
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read config file {path}: {exc.strerror}") from None


def parse_override(text: str) -> tuple[str, str]:
    """``key=value`` from the command line."""
    if "=" not in text:
        raise ConfigError(text, f"invalid override {text!r}: expected key=value")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


@dataclass(frozen=True)
class Listener:
    """One entry of ``listeners`` / ``advertised.listeners``."""

    name: str
    host: str
    port: int

    @property
    def bind_host(self) -> str:
        # Kafka binds every interface for an empty host.
        return self.host or "0.0.0.0"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.name}://{host}:{self.port}"


_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_LISTENER_RE = re.compile(r"^([A-Za-z0-9_]+)://(\[[^\]]*\]|[^:/\[\]]*):(-?\d+)$")


def parse_listeners(name: str, entries: list[str]) -> list[Listener]:
    out: list[Listener] = []
    for entry in entries:
        m = _LISTENER_RE.match(entry.strip())
        if not m:
            raise ConfigError(name, f"Invalid value {entry} for configuration {name}: "
                                    "expected LISTENER_NAME://host:port")
        host = m.group(2).strip("[]")
        port = int(m.group(3))
        if not 0 <= port <= 65535:
            raise ConfigError(name, f"Invalid value {entry} for configuration {name}: port out of range")
        out.append(Listener(m.group(1).upper(), host, port))
    names = [lst.name for lst in out]
    if len(set(names)) != len(names):
        raise ConfigError(name, f"Invalid value {','.join(entries)} for configuration {name}: "
                                "each listener must have a different name")
    return out


# Parsed default values of broker configs (immutable types only), by name.
_PARSED_DEFAULTS: dict[str, Any] = {}
_MISSING = object()


class BrokerConfig:
    """The broker's effective configuration: properties file, then ``--override``s.

    ``raw`` holds the strings as given; ``get(name)`` the typed value (the
    default when unset). Every given value is validated at construction, so a bad
    value fails startup with a message naming the key. Unknown keys are kept and
    logged as warnings, as Kafka does.
    """

    def __init__(self, props: Mapping[str, str] | None = None,
                 overrides: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> None:
        raw: dict[str, str] = dict(props or {})
        if overrides:
            items = overrides.items() if isinstance(overrides, Mapping) else overrides
            for key, value in items:
                raw[key] = value
        self.raw: dict[str, str] = raw
        self.unknown: list[str] = []
        self._values: dict[str, Any] = {}
        for key, value in raw.items():
            cdef = BROKER_CONFIGS.get(key)
            if cdef is None:
                self.unknown.append(key)
                log.warning("The configuration '%s' was supplied but isn't a known config.", key)
                continue
            self._values[key] = cdef.parse(value)
        self.listeners: list[Listener] = parse_listeners("listeners", self.get("listeners"))
        if not self.listeners:
            raise ConfigError("listeners", "listeners must name at least one listener")
        protocols = self._security_protocols()
        for lst in self.listeners:
            protocol = protocols.get(lst.name, lst.name if lst.name in _PROTOCOLS else None)
            if protocol is None:
                raise ConfigError("listener.security.protocol.map",
                                  f"No security protocol defined for listener {lst.name} in listener.security.protocol.map")
            if protocol != "PLAINTEXT":
                raise ConfigError("listeners", f"Invalid value {lst} for configuration listeners: "
                                               f"security protocol {protocol} is not supported (PLAINTEXT only)")
        adv = self.get("advertised.listeners")
        self.advertised_listeners: list[Listener] = (
            parse_listeners("advertised.listeners", adv) if adv else list(self.listeners)
        )
        # Listeners advertised without a host fall back to this machine's name as Kafka does;
        # "localhost" keeps a laptop broker reachable where the hostname may not resolve.
        self.advertised_listeners = [
            Listener(lst.name, lst.host if lst.host not in ("", "0.0.0.0", "::") else "localhost", lst.port)
            for lst in self.advertised_listeners
        ]
        for key in ("broker.id", "node.id"):
            if key in self._values and self._values[key] < -1:
                raise ConfigError(key, f"Invalid value {raw[key]} for configuration {key}: must be >= -1")
        bid, nid = self.get("broker.id"), self.get("node.id")
        if bid >= 0 and nid >= 0 and bid != nid:
            raise ConfigError("node.id", f"broker.id ({bid}) and node.id ({nid}) must match when both are set")

    def _security_protocols(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in str(self.get("listener.security.protocol.map") or "").split(","):
            if not item.strip():
                continue
            name, sep, protocol = item.partition(":")
            if not sep or protocol.strip().upper() not in _PROTOCOLS:
                raise ConfigError("listener.security.protocol.map",
                                  f"Invalid value {item} for configuration listener.security.protocol.map")
            out[name.strip().upper()] = protocol.strip().upper()
        return out

    @classmethod
    def from_file(cls, path: str | os.PathLike[str] | None,
                  overrides: Iterable[tuple[str, str]] | Mapping[str, str] | None = None) -> BrokerConfig:
        """Load ``path`` (None: defaults only) and apply ``overrides``."""
        props = load_properties(path) if path is not None else {}
        return cls(props, overrides)

    def is_set(self, name: str) -> bool:
        return name in self.raw

    def get(self, name: str) -> Any:
        """Typed value of a broker config (its default if unset)."""
        if name in self._values:
            return self._values[name]
        cached = _PARSED_DEFAULTS.get(name, _MISSING)
        if cached is not _MISSING:
            return cached
        cdef = BROKER_CONFIGS.get(name)
        if cdef is None:
            if name in self.raw:
                return self.raw[name]
            raise KeyError(name)
        value = cdef.parse(cdef.default)
        if cdef.type != LIST:
            # Defaults never change, and the request path asks for some on every
            # request (fetch.max.bytes); lists are mutable and parsed afresh.
            _PARSED_DEFAULTS[name] = value
        return value

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def string_value(self, name: str) -> str | None:
        """The value as DescribeConfigs shows it: the given string or the default."""
        if name in self.raw:
            return self.raw[name]
        cdef = BROKER_CONFIGS.get(name)
        return cdef.default if cdef else None

    @property
    def broker_id(self) -> int:
        bid, nid = self.get("broker.id"), self.get("node.id")
        if bid >= 0:
            return bid
        if nid >= 0:
            return nid
        return 1

    @property
    def log_dirs(self) -> list[str]:
        dirs = self.get("log.dirs")
        return list(dirs) if dirs else [self.get("log.dir")]

    @property
    def log_retention_ms(self) -> int:
        return int(self.effective_topic_default("retention.ms"))

    def effective_topic_default(self, topic_name: str) -> str:
        """A topic config's broker-level value: the first synonym set, else the
        topic default. Returned as a string in the topic config's unit."""
        return topic_default_from_broker(self, topic_name)


def topic_default_from_broker(config: BrokerConfig, topic_name: str) -> str:
    """A topic config's value from the static broker properties alone (see
    ``topic_value_from_layers``); ``""`` for a null default."""
    value = topic_value_from_layers([config.raw], topic_name)
    return value if value is not None else ""


def broker_synonyms(name: str) -> list[str]:
    """Every broker property that sets the same thing as ``name``, highest precedence
    first (Kafka's ``DynamicBrokerConfig.brokerConfigSynonyms``): the synonym chain of
    the topic config it feeds when that chain has several units, else just ``name``."""
    for cdef in TOPIC_CONFIGS.values():
        if len(cdef.synonyms) > 1 and name in cdef.synonyms:
            return list(cdef.synonyms)
    return [name]


def to_topic_unit(broker_name: str, value: str) -> str:
    """A broker property's string value in the unit of the topic config it feeds
    (``log.retention.hours=1`` -> ``3600000``); negative values keep their meaning."""
    factor = _UNIT_FACTORS.get(broker_name)
    if factor is None:
        return value
    try:
        number = int(value.strip())
    except ValueError:
        # Values reach here validated; an unparseable one is left for the caller to reject.
        return value
    return str(number * factor if number >= 0 else number)


def topic_value_from_layers(layers: Sequence[Mapping[str, str]], topic_name: str) -> str | None:
    """A topic config's value when the topic does not override it.

    ``layers`` are the broker-level property maps, highest precedence first (dynamic
    per-broker, dynamic cluster default, static). The first synonym set in any layer
    wins, converted to the topic's unit; else the synonym's built-in broker default
    (``log.retention.hours=168`` gives 604800000 ms, always Kafka's topic default);
    else the topic default (``None`` when null).
    """
    cdef = TOPIC_CONFIGS[topic_name]
    for syn in cdef.synonyms:
        for layer in layers:
            if syn in layer:
                return to_topic_unit(syn, layer[syn])
    for syn in cdef.synonyms:
        bdef = BROKER_CONFIGS.get(syn)
        if bdef is not None and bdef.default is not None:
            return to_topic_unit(syn, bdef.default)
    return cdef.default


def topic_properties_from_layers(
    layers: Sequence[Mapping[str, str]], overrides: Mapping[str, str | None] | None = None
) -> dict[str, str]:
    """Every topic config as a string: the topic's own value, else the broker layers'
    (``topic_value_from_layers``), else ``""`` for a null default. Overrides that are
    None or not topic configs are ignored."""
    overrides = overrides or {}
    out: dict[str, str] = {}
    for name in TOPIC_CONFIGS:
        value = overrides.get(name)
        if value is None:
            value = topic_value_from_layers(layers, name)
        out[name] = value if value is not None else ""
    return out


def validate_topic_configs(configs: Mapping[str, str | None]) -> None:
    """Kafka's checks on a topic's complete set of overrides (CreateTopics,
    AlterConfigs, IncrementalAlterConfigs: Kafka answers INVALID_CONFIG). Raises
    ``ConfigError`` for null values, unknown names, bad values (in that order) and
    ``min.compaction.lag.ms`` above ``max.compaction.lag.ms``."""
    nulls = [k for k, v in configs.items() if v is None]
    if nulls:
        raise ConfigError(nulls[0], "Null value not supported for topic configs: " + ",".join(nulls))
    for key in configs:
        if key not in TOPIC_CONFIGS:
            raise ConfigError(key, f"Unknown topic config name: {key}")
    parsed = {key: TOPIC_CONFIGS[key].parse(value) for key, value in configs.items()}
    min_lag = parsed.get("min.compaction.lag.ms", int(TOPIC_CONFIGS["min.compaction.lag.ms"].default or 0))
    max_lag = parsed.get("max.compaction.lag.ms", int(TOPIC_CONFIGS["max.compaction.lag.ms"].default or 0))
    if min_lag > max_lag:
        raise ConfigError(
            "min.compaction.lag.ms",
            f"conflict topic config setting min.compaction.lag.ms ({min_lag}) > "
            f"max.compaction.lag.ms ({max_lag})",
        )


def effective_topic_properties(config: BrokerConfig, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every topic config as a string: the topic's own value, else the static broker
    synonym, else Kafka's default."""
    return topic_properties_from_layers([config.raw], overrides)


def log_config_for(config: BrokerConfig, overrides: Mapping[str, str] | None = None) -> Any:
    """The storage ``LogConfig`` of a topic with ``overrides`` on this broker."""
    from storage.config import LogConfig

    return LogConfig.from_properties(effective_topic_properties(config, overrides))
