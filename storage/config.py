"""Topic-level log configuration, by Kafka's names and with Kafka's defaults."""

from __future__ import annotations

import dataclasses
import functools
import random
from collections.abc import Mapping
from dataclasses import dataclass

LONG_MAX = 2**63 - 1

# Our own opt-in (not a Kafka setting): fsync each append before it is acknowledged.
FLUSH_ON_ACK_PROPERTY = "kpybroker.flush.on.ack"

# Kafka's topic config name -> LogConfig field. Only these keys are understood by
# from_properties; anything else (e.g. broker-only settings) is ignored here because
# kpybroker/config.py owns validation of unknown keys.
_PROPERTY_FIELDS: dict[str, str] = {
    "segment.bytes": "segment_bytes",
    "segment.ms": "segment_ms",
    "segment.jitter.ms": "segment_jitter_ms",
    "segment.index.bytes": "segment_index_bytes",
    "index.interval.bytes": "index_interval_bytes",
    "retention.ms": "retention_ms",
    "retention.bytes": "retention_bytes",
    "max.message.bytes": "max_message_bytes",
    "cleanup.policy": "cleanup_policy",
    "compression.type": "compression_type",
    "message.timestamp.type": "message_timestamp_type",
    "message.timestamp.before.max.ms": "message_timestamp_before_max_ms",
    "message.timestamp.after.max.ms": "message_timestamp_after_max_ms",
    "flush.messages": "flush_messages",
    "flush.ms": "flush_ms",
    "min.insync.replicas": "min_insync_replicas",
    "file.delete.delay.ms": "file_delete_delay_ms",
    "delete.retention.ms": "delete_retention_ms",
    "min.compaction.lag.ms": "min_compaction_lag_ms",
    "max.compaction.lag.ms": "max_compaction_lag_ms",
    "min.cleanable.dirty.ratio": "min_cleanable_dirty_ratio",
    "unclean.leader.election.enable": "unclean_leader_election_enable",
    "preallocate": "preallocate",
    "kpybroker.flush.on.ack": "flush_on_ack",
}


@dataclass(frozen=True)
class LogConfig:
    """The per-topic settings a partition log obeys.

    Field names are Kafka's topic config names in snake_case; defaults are Kafka 4's
    (``message.timestamp.after.max.ms`` is one hour since KIP-1030).

    One setting is ours, not Kafka's: ``kpybroker.flush.on.ack`` (``flush_on_ack``,
    default false). When true, every append is fsynced before ``append_as_leader`` /
    ``append_as_follower`` returns, so an acknowledged write survives a power cut
    or ``kill -9`` of the broker. Kafka itself relies on replication instead and,
    like us by default, only fsyncs per ``flush.messages`` / ``flush.ms``.
    """

    segment_bytes: int = 1024 * 1024 * 1024
    segment_ms: int = 7 * 24 * 3600 * 1000
    segment_jitter_ms: int = 0
    segment_index_bytes: int = 10 * 1024 * 1024
    index_interval_bytes: int = 4096
    retention_ms: int = 7 * 24 * 3600 * 1000
    retention_bytes: int = -1
    max_message_bytes: int = 1024 * 1024 + 12
    cleanup_policy: str = "delete"
    compression_type: str = "producer"
    message_timestamp_type: str = "CreateTime"
    message_timestamp_before_max_ms: int = LONG_MAX
    message_timestamp_after_max_ms: int = 3_600_000
    flush_messages: int = LONG_MAX
    flush_ms: int = LONG_MAX
    min_insync_replicas: int = 1
    file_delete_delay_ms: int = 60_000
    delete_retention_ms: int = 86_400_000
    min_compaction_lag_ms: int = 0
    max_compaction_lag_ms: int = LONG_MAX
    min_cleanable_dirty_ratio: float = 0.5
    unclean_leader_election_enable: bool = False
    preallocate: bool = False
    flush_on_ack: bool = False

    # Cached: the append path asks these of every append (a frozen instance's
    # fields never change; ``cached_property`` writes past the frozen ``__setattr__``).
    @functools.cached_property
    def cleanup_policies(self) -> frozenset[str]:
        """The names listed in ``cleanup.policy``."""
        return frozenset(p.strip() for p in self.cleanup_policy.split(",") if p.strip())

    @functools.cached_property
    def compact(self) -> bool:
        """True when ``cleanup.policy`` includes ``compact`` (keys are then required)."""
        return "compact" in self.cleanup_policies

    @functools.cached_property
    def delete(self) -> bool:
        """True when ``cleanup.policy`` includes ``delete`` (retention by time and size)."""
        return "delete" in self.cleanup_policies

    @property
    def log_append_time(self) -> bool:
        """True when the broker stamps batches with its own clock (``LogAppendTime``)."""
        return self.message_timestamp_type == "LogAppendTime"

    @functools.cached_property
    def max_segment_ms(self) -> int:
        """Kafka's ``maxSegmentMs``: ``segment.ms``, or ``max.compaction.lag.ms`` when a
        compacted log must roll sooner (the active segment is never cleaned)."""
        if self.compact and 0 < self.max_compaction_lag_ms < self.segment_ms:
            return self.max_compaction_lag_ms
        return self.segment_ms

    def random_segment_jitter(self) -> int:
        """Kafka's ``randomSegmentJitter``: how much sooner than ``segment.ms`` one
        segment rolls, drawn once per segment from ``[0, min(segment.jitter.ms,
        segment.ms))`` so that partitions created together do not all roll at once."""
        bound = min(self.segment_jitter_ms, self.segment_ms)
        return random.randrange(bound) if bound > 0 else 0

    @property
    def max_index_entries(self) -> int:
        """How many offset-index entries fit in ``segment.index.bytes`` (8 bytes each)."""
        return self.segment_index_bytes // 8

    @classmethod
    def from_properties(cls, props: Mapping[str, str], base: LogConfig | None = None) -> LogConfig:
        """Build a config from Kafka property strings, starting from ``base`` (or defaults).

        Raises ``ValueError`` naming the key for a value of the wrong type or range.
        """
        values: dict[str, object] = {}
        types = {f.name: f.type for f in dataclasses.fields(cls)}
        for key, raw in props.items():
            name = _PROPERTY_FIELDS.get(key)
            if name is None:
                continue
            kind = types[name]
            text = str(raw).strip()
            try:
                if kind == "int":
                    values[name] = int(text)
                elif kind == "float":
                    values[name] = float(text)
                elif kind == "bool":
                    if text.lower() not in ("true", "false"):
                        raise ValueError(text)
                    values[name] = text.lower() == "true"
                else:
                    values[name] = text
            except ValueError:
                raise ValueError(f"invalid value {raw!r} for configuration {key}") from None
        config = dataclasses.replace(base or cls(), **values)  # type: ignore[arg-type]
        config.validate()
        return config

    def validate(self) -> None:
        """Reject values Kafka would reject (raises ``ValueError`` naming the setting)."""
        if self.segment_bytes < 14:
            raise ValueError("segment.bytes must be at least 14")
        if self.segment_ms < 1:
            raise ValueError("segment.ms must be at least 1")
        if self.segment_index_bytes < 8:
            raise ValueError("segment.index.bytes must be at least 8")
        if self.index_interval_bytes < 0:
            raise ValueError("index.interval.bytes must be non-negative")
        if self.max_message_bytes < 0:
            raise ValueError("max.message.bytes must be non-negative")
        if self.message_timestamp_type not in ("CreateTime", "LogAppendTime"):
            raise ValueError("message.timestamp.type must be CreateTime or LogAppendTime")
        # Kafka validates each item but allows the empty list: such a topic has neither
        # time/size retention nor compaction (only the log start offset trims it).
        if not self.cleanup_policies <= {"delete", "compact"}:
            raise ValueError("cleanup.policy must be a list of delete and/or compact")
        if self.compression_type not in (
            "producer",
            "uncompressed",
            "gzip",
            "snappy",
            "lz4",
            "zstd",
        ):
            raise ValueError(
                "compression.type must be one of producer, uncompressed, gzip, snappy, lz4, zstd"
            )
        if self.min_insync_replicas < 1:
            raise ValueError("min.insync.replicas must be at least 1")
        if self.flush_messages < 1:
            raise ValueError("flush.messages must be at least 1")
        if self.flush_ms < 0:
            raise ValueError("flush.ms must be non-negative")

    def to_properties(self) -> dict[str, str]:
        """The inverse of ``from_properties``: Kafka names to strings."""
        out: dict[str, str] = {}
        for key, name in _PROPERTY_FIELDS.items():
            value = getattr(self, name)
            out[key] = str(value).lower() if isinstance(value, bool) else str(value)
        return out


DEFAULT_CONFIG = LogConfig()
