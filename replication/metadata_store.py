"""Cluster metadata: topics, their ids, partition state and configs (of topics,
the broker and groups).

Kafka keeps this in the ``__cluster_metadata`` KRaft log (or ZooKeeper before
that). A single kpybroker keeps it in one JSON file in its first log dir,
``kpybroker-metadata.json``, rewritten atomically (temp file, fsync, rename,
fsync of the directory) on every change, so a crash leaves either the old or the
new state, never a torn one. A running broker defers the write to a worker thread
(``defer_saves``) and holds back the answers that depend on it until it is done.
A ZooKeeper-backed store will offer the same ``MetadataStore`` interface.

The store is pure state plus persistence: it does not open logs or know about
sockets. The broker decides what to change and then records it here.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from storage.checkpoints import write_atomic

METADATA_FILE = "kpybroker-metadata.json"
_FORMAT_VERSION = 1


@dataclass
class PartitionState:
    """Leader, leader epoch, replicas and ISR of one partition (Kafka's
    PartitionRegistration). ``partition_epoch`` counts every change of this state."""

    leader: int
    leader_epoch: int
    replicas: list[int]
    isr: list[int]
    partition_epoch: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "leader": self.leader,
            "leader_epoch": self.leader_epoch,
            "replicas": list(self.replicas),
            "isr": list(self.isr),
            "partition_epoch": self.partition_epoch,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PartitionState:
        return cls(
            leader=int(data["leader"]),
            leader_epoch=int(data["leader_epoch"]),
            replicas=[int(r) for r in data["replicas"]],
            isr=[int(r) for r in data["isr"]],
            partition_epoch=int(data.get("partition_epoch", 0)),
        )


@dataclass
class TopicMetadata:
    """One topic: its id, partitions by index, topic-level config overrides."""

    name: str
    topic_id: uuid.UUID
    partitions: dict[int, PartitionState] = field(default_factory=dict)
    configs: dict[str, str] = field(default_factory=dict)
    internal: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "topic_id": str(self.topic_id),
            "internal": self.internal,
            "configs": dict(self.configs),
            "partitions": {str(p): s.to_json() for p, s in sorted(self.partitions.items())},
        }

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> TopicMetadata:
        return cls(
            name=name,
            topic_id=uuid.UUID(data["topic_id"]),
            partitions={int(p): PartitionState.from_json(s) for p, s in data.get("partitions", {}).items()},
            configs={str(k): str(v) for k, v in data.get("configs", {}).items()},
            internal=bool(data.get("internal", False)),
        )


# A client quota entity (Kafka's ClientQuotaEntity): its (entity type, name) pairs,
# sorted so that the same entity always gives the same key; a None name is the
# type's default entity.
QuotaEntity = tuple[tuple[str, str | None], ...]


def quota_entity(entries: dict[str, str | None]) -> QuotaEntity:
    """The store's key for a quota entity given as {entity type: name or None}."""
    return tuple(sorted(entries.items(), key=lambda kv: kv[0]))


@dataclass(frozen=True)
class ScramCredential:
    """One user's credential for one SCRAM mechanism (Kafka's
    UserScramCredentialRecord): never the password, only what the server keeps."""

    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int

    def to_json(self) -> dict[str, Any]:
        return {
            "salt": base64.b64encode(self.salt).decode(),
            "stored_key": base64.b64encode(self.stored_key).decode(),
            "server_key": base64.b64encode(self.server_key).decode(),
            "iterations": self.iterations,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScramCredential:
        return cls(
            salt=base64.b64decode(data["salt"]),
            stored_key=base64.b64decode(data["stored_key"]),
            server_key=base64.b64decode(data["server_key"]),
            iterations=int(data["iterations"]),
        )


def unify_collision_chars(name: str) -> str:
    """'.' and '_' collide in metric names, so Kafka refuses topics differing only there."""
    return name.replace(".", "_")


class MetadataStore(Protocol):
    """What the broker needs from a metadata store (local file or ZooKeeper)."""

    cluster_id: str | None
    broker_configs: dict[str, str]

    def topics(self) -> Iterator[TopicMetadata]: ...
    def get_topic(self, name: str) -> TopicMetadata | None: ...
    def get_topic_by_id(self, topic_id: uuid.UUID) -> TopicMetadata | None: ...
    def colliding_topic(self, name: str) -> str | None: ...
    def put_topic(self, topic: TopicMetadata) -> None: ...
    def delete_topic(self, name: str) -> TopicMetadata | None: ...
    def set_topic_configs(self, name: str, configs: dict[str, str]) -> None: ...
    def set_partition_state(self, name: str, partition: int, state: PartitionState) -> None: ...
    def set_broker_configs(self, configs: dict[str, str]) -> None: ...
    def set_cluster_id(self, cluster_id: str) -> None: ...
    def allocate_producer_id_block(self, size: int) -> int: ...
    def client_quotas(self) -> dict[QuotaEntity, dict[str, float]]: ...
    def set_client_quotas(self, updates: dict[QuotaEntity, dict[str, float]]) -> None: ...
    def scram_credentials(self) -> dict[tuple[str, int], ScramCredential]: ...
    def set_scram_credentials(self, updates: dict[tuple[str, int], ScramCredential | None]) -> None: ...
    def group_configs(self, group_id: str) -> dict[str, str]: ...
    def set_group_configs(self, group_id: str, configs: dict[str, str]) -> None: ...


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class LocalMetadataStore:
    """The single-broker metadata store: a JSON file rewritten atomically."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.cluster_id: str | None = None
        self.broker_configs: dict[str, str] = {}
        self.next_producer_id: int = 0
        self._topics: dict[str, TopicMetadata] = {}
        self._by_id: dict[uuid.UUID, TopicMetadata] = {}
        # unify_collision_chars(name) -> the names with that key (two only after a
        # hand-edited file; creation refuses a second one).
        self._by_collision_key: dict[str, set[str]] = {}
        self._client_quotas: dict[QuotaEntity, dict[str, float]] = {}
        self._scram: dict[tuple[str, int], ScramCredential] = {}
        self._group_configs: dict[str, dict[str, str]] = {}
        # Each topic's `"name":{...}` as last saved, so a save re-encodes only changed topics
        # (with a thousand topics, encoding them all took 15 ms per change).
        self._topic_json: dict[str, str] = {}
        # Every change bumps ``version``; ``saved_version`` is the one on disk.
        self.version = 0
        self.saved_version = 0
        # Off (the default), each change is written (and fsynced) before the changing
        # call returns. On, a change only bumps ``version`` and calls ``on_change``: the
        # owner writes ``encode()`` with ``write`` where blocking is harmless (the broker
        # does it in a worker thread, and answers no request before it is done).
        self.defer_saves = False
        self.on_change: Callable[[], None] | None = None
        if os.path.exists(self.path):
            self._load()

    @classmethod
    def in_dir(cls, log_dir: str | os.PathLike[str]) -> LocalMetadataStore:
        return cls(os.path.join(os.fspath(log_dir), METADATA_FILE))

    # -- reading ---------------------------------------------------------------

    def topics(self) -> Iterator[TopicMetadata]:
        return iter(list(self._topics.values()))

    def topic_names(self) -> list[str]:
        return list(self._topics)

    def get_topic(self, name: str) -> TopicMetadata | None:
        return self._topics.get(name)

    def get_topic_by_id(self, topic_id: uuid.UUID) -> TopicMetadata | None:
        return self._by_id.get(topic_id)

    def colliding_topic(self, name: str) -> str | None:
        """An existing topic other than ``name`` whose name differs from it only in
        '.' against '_', or None (a lookup, not a scan of every name)."""
        others = self._by_collision_key.get(unify_collision_chars(name), ())
        return next((other for other in sorted(others) if other != name), None)

    def _index_name(self, name: str) -> None:
        self._by_collision_key.setdefault(unify_collision_chars(name), set()).add(name)

    def _unindex_name(self, name: str) -> None:
        key = unify_collision_chars(name)
        names = self._by_collision_key.get(key)
        if names is not None:
            names.discard(name)
            if not names:
                del self._by_collision_key[key]

    def __contains__(self, name: object) -> bool:
        return name in self._topics

    def __len__(self) -> int:
        return len(self._topics)

    # -- changing --------------------------------------------------------------

    def put_topic(self, topic: TopicMetadata) -> None:
        """Add or replace a topic and persist."""
        old = self._topics.get(topic.name)
        if old is not None:
            self._by_id.pop(old.topic_id, None)
        self._topics[topic.name] = topic
        self._by_id[topic.topic_id] = topic
        self._index_name(topic.name)
        self._topic_json.pop(topic.name, None)
        self.save()

    def delete_topic(self, name: str) -> TopicMetadata | None:
        topic = self._topics.pop(name, None)
        self._topic_json.pop(name, None)
        if topic is not None:
            self._by_id.pop(topic.topic_id, None)
            self._unindex_name(name)
            self.save()
        return topic

    def set_topic_configs(self, name: str, configs: dict[str, str]) -> None:
        """Replace the topic's config overrides with ``configs``."""
        self._topics[name].configs = dict(configs)
        self._topic_json.pop(name, None)
        self.save()

    def set_partition_state(self, name: str, partition: int, state: PartitionState) -> None:
        self._topics[name].partitions[partition] = state
        self._topic_json.pop(name, None)
        self.save()

    def set_broker_configs(self, configs: dict[str, str]) -> None:
        """Replace the dynamic broker-level configs (AlterConfigs on the broker)."""
        self.broker_configs = dict(configs)
        self.save()

    def set_cluster_id(self, cluster_id: str) -> None:
        self.cluster_id = cluster_id
        self.save()

    def allocate_producer_id_block(self, size: int) -> int:
        """Reserve ``size`` producer ids and return the first. Persisted before it is
        handed out, so ids stay unique across restarts (Kafka's ProducerIdManager)."""
        if size <= 0:
            raise ValueError("block size must be positive")
        first = self.next_producer_id
        self.next_producer_id = first + size
        self.save()
        return first

    def client_quotas(self) -> dict[QuotaEntity, dict[str, float]]:
        """Every quota entity with its values (a copy)."""
        return {entity: dict(values) for entity, values in self._client_quotas.items()}

    def set_client_quotas(self, updates: dict[QuotaEntity, dict[str, float]]) -> None:
        """Replace the values of each listed entity (an empty dict removes the
        entity) and persist once, so one AlterClientQuotas applies atomically."""
        for entity, values in updates.items():
            if values:
                self._client_quotas[entity] = {str(k): float(v) for k, v in values.items()}
            else:
                self._client_quotas.pop(entity, None)
        self.save()

    def scram_credentials(self) -> dict[tuple[str, int], ScramCredential]:
        """SCRAM credentials by (user name, mechanism type: 1 SHA-256, 2 SHA-512)."""
        return dict(self._scram)

    def set_scram_credentials(self, updates: dict[tuple[str, int], ScramCredential | None]) -> None:
        """Upsert (or, for None, delete) each listed credential and persist once."""
        for key, credential in updates.items():
            if credential is None:
                self._scram.pop(key, None)
            else:
                self._scram[key] = credential
        self.save()

    def group_configs(self, group_id: str) -> dict[str, str]:
        """The configs set on group ``group_id`` (a copy; empty when none are)."""
        return dict(self._group_configs.get(group_id, {}))

    def set_group_configs(self, group_id: str, configs: dict[str, str]) -> None:
        """Replace group ``group_id``'s configs (empty: it has none left) and persist."""
        if configs:
            self._group_configs[group_id] = {str(k): str(v) for k, v in configs.items()}
        else:
            self._group_configs.pop(group_id, None)
        self.save()

    # -- persistence -------------------------------------------------------------

    def to_json(self, *, with_topics: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "version": _FORMAT_VERSION,
            "cluster_id": self.cluster_id,
            "next_producer_id": self.next_producer_id,
            "broker_configs": dict(self.broker_configs),
            "client_quotas": [
                {"entity": [list(pair) for pair in entity], "values": dict(values)}
                for entity, values in sorted(self._client_quotas.items(), key=lambda kv: repr(kv[0]))
            ],
            "scram_credentials": [
                {"user": user, "mechanism": mechanism, **cred.to_json()}
                for (user, mechanism), cred in sorted(self._scram.items())
            ],
            "group_configs": {group: dict(configs) for group, configs in sorted(self._group_configs.items())},
        }
        if with_topics:
            data["topics"] = {name: t.to_json() for name, t in sorted(self._topics.items())}
        return data

    def save(self) -> None:
        """Record a change: write it now, or (``defer_saves``) leave it to the owner."""
        self.version += 1
        if self.defer_saves:
            if self.on_change is not None:
                self.on_change()
            return
        self.flush()

    def flush(self) -> None:
        """Write the current state now if a change is not on disk yet (blocking)."""
        if self.saved_version < self.version:
            version = self.version
            self.write(self.encode())
            self.saved_version = version

    def encode(self) -> bytes:
        """The file's content for the current state (on the thread that changes the store)."""
        # No indent: json only uses its C encoder without one, and this file is
        # rewritten on every topic change (tens of milliseconds per save at a few
        # hundred topics with the pure-Python encoder). `python -m json.tool` reads it.
        encoded = self._topic_json
        parts = []
        for name in sorted(self._topics):
            fragment = encoded.get(name)
            if fragment is None:
                fragment = encoded[name] = f"{_dumps(name)}:{_dumps(self._topics[name].to_json())}"
            parts.append(fragment)
        rest = self.to_json(with_topics=False)
        # The same document as json.dumps(self.to_json()), topics spliced in first.
        return f'{{"topics":{{{",".join(parts)}}},{_dumps(rest)[1:]}'.encode()

    def write(self, data: bytes) -> None:
        """Replace the file with ``data`` (from ``encode``), fsynced. Touches no state
        in memory, so it may run in another thread; callers write one at a time."""
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        write_atomic(Path(self.path), data)

    def _load(self) -> None:
        with open(self.path, encoding="utf-8") as f:
            data = json.load(f)
        version = data.get("version")
        if version != _FORMAT_VERSION:
            raise ValueError(f"{self.path}: unsupported metadata format version {version!r}")
        self.cluster_id = data.get("cluster_id")
        self.next_producer_id = int(data.get("next_producer_id", 0))
        self.broker_configs = {str(k): str(v) for k, v in data.get("broker_configs", {}).items()}
        for name, tdata in data.get("topics", {}).items():
            topic = TopicMetadata.from_json(name, tdata)
            self._topics[name] = topic
            self._by_id[topic.topic_id] = topic
            self._index_name(name)
        for item in data.get("client_quotas", []):
            entity = quota_entity({str(t): (None if n is None else str(n)) for t, n in item["entity"]})
            self._client_quotas[entity] = {str(k): float(v) for k, v in item["values"].items()}
        for item in data.get("scram_credentials", []):
            key = (str(item["user"]), int(item["mechanism"]))
            self._scram[key] = ScramCredential.from_json(item)
        for group, configs in data.get("group_configs", {}).items():
            self._group_configs[str(group)] = {str(k): str(v) for k, v in configs.items()}
