"""The Broker: configuration, storage, metadata and coordinators in one object.

Startup (``Broker.start``): check the log dirs are writable, load the metadata
store, settle the cluster id, open every log (``LogManager`` recovers after an
unclean shutdown), lead every partition, create the coordinators. Background
work (``Broker.run_background``): retention every
``log.retention.check.interval.ms``, offset checkpoints every
``log.flush.offset.checkpoint.interval.ms``. Shutdown (``Broker.shutdown``):
``LogManager.shutdown`` (flush, checkpoints, clean-shutdown marker).

Topic changes follow Kafka's controller: validate everything first
(``TopicError`` with the error code Kafka answers), record the change in the
metadata store, then open or delete logs through the replica manager. Handlers
and auto-creation (Metadata, Produce, FindCoordinator) all come through here.
"""

from __future__ import annotations

import base64
import functools
import inspect
import logging
import os
import time
import uuid
from collections.abc import Mapping
from typing import Any

import trio

from kpybroker.admin_configs import (
    broker_layers,
    effective_topic_configs,
    topic_name_error,
)
from kpybroker.config import BrokerConfig, ConfigError, validate_topic_configs
from kpybroker.producer_ids import ProducerIdManager
from kpybroker.replica_manager import INTERNAL_TOPICS, ReplicaManager
from replication.metadata_store import (
    METADATA_FILE,
    LocalMetadataStore,
    PartitionState,
    TopicMetadata,
)
from storage.config import LogConfig
from storage.log_manager import LogDirError, LogManager
from storage.write_behind import WriteBehind
from wire.errors import ErrorCode

log = logging.getLogger(__name__)

CONSUMER_OFFSETS = "__consumer_offsets"
TRANSACTION_STATE = "__transaction_state"
# How often rolled segments are looked for and fsynced (Kafka schedules that flush at
# each roll) when log.flush.scheduler.interval.ms keeps its never-check default.
ROLLED_FLUSH_CHECK_MS = 1000
# How often deleted partitions' directories are looked at for removal.
DELETED_LOGS_CHECK_MS = 1000

#: What ``create_topic`` returns: the topic as recorded (``num_partitions``,
#: ``replication_factor``, ``topic_id``, ``configs``).
TopicInfo = TopicMetadata


class TopicError(Exception):
    """A topic operation failed with the error code Kafka answers."""

    def __init__(self, error_code: ErrorCode | int, message: str | None = None) -> None:
        super().__init__(message or getattr(error_code, "name", str(error_code)))
        self.error_code = ErrorCode(error_code)
        self.message = message


class StartupError(Exception):
    """The broker cannot start; the message is meant for the operator, one line."""


def validate_topic_name(name: str) -> None:
    """Kafka's ``Topic.validate`` (``admin_configs.topic_name_error``): raise
    ``TopicError(INVALID_TOPIC_EXCEPTION)``."""
    reason = topic_name_error(name)
    if reason is not None:
        raise TopicError(ErrorCode.INVALID_TOPIC_EXCEPTION, reason)


def generate_cluster_id() -> str:
    """A random cluster id in Kafka's form: a UUID as 22 url-safe base64 chars."""
    while True:
        u = uuid.uuid4()
        text = base64.urlsafe_b64encode(u.bytes).decode().rstrip("=")
        # Kafka avoids ids starting with '-' since they read as command-line flags.
        if not text.startswith("-"):
            return text


def _read_meta_properties(log_dir: str) -> dict[str, str]:
    path = os.path.join(log_dir, "meta.properties")
    out: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    k, v = line.split("=", 1)
                    out[k.strip()] = v.strip()
    except FileNotFoundError:
        pass
    return out


class Broker:
    """One kpybroker node: config, logs, metadata, replica manager, coordinators."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.broker_id: int = config.broker_id
        self.log_dirs: list[str] = [os.path.abspath(d) for d in config.log_dirs]
        self.cluster_id: str = ""
        self.metadata: LocalMetadataStore | None = None
        self.log_manager: Any = None
        self.replica_manager: Any = None
        self.group_coordinator: Any = None
        self.transaction_coordinator: Any = None
        self.producer_ids: ProducerIdManager | None = None
        # Filled by the server once listeners are bound (port 0 becomes the real port).
        self.advertised_listeners = list(config.advertised_listeners)
        self.bound_addresses: list[tuple[str, str, int]] = []
        self.started = False
        self._storage_closed = False
        self._topic_lock = trio.Lock()
        # One metadata file write at a time, in request order (trio's locks are fair).
        self._metadata_write_lock = trio.Lock()
        self._metadata_changed = trio.Event()
        # Whether the log flusher applies flush.ms (log.flush.scheduler.interval.ms set).
        self._flush_ms_policy = True

    # -- clock ----------------------------------------------------------------------

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    # -- startup and shutdown -------------------------------------------------------------

    def start(self) -> None:
        """Open storage and metadata and lead every partition (synchronous)."""
        self._prepare_log_dirs()
        metadata_dir = self.config.get("metadata.log.dir") or self.log_dirs[0]
        try:
            self.metadata = LocalMetadataStore(os.path.join(metadata_dir, METADATA_FILE))
        except (ValueError, OSError) as exc:
            raise StartupError(f"cannot load metadata from {metadata_dir}: {exc}") from None
        self.cluster_id = self._settle_cluster_id()
        self.producer_ids = ProducerIdManager(self.metadata)
        try:
            self.log_manager = LogManager(
                self.log_dirs,
                broker_id=self.broker_id,
                cluster_id=self.cluster_id,
                default_config=self._log_config(None),
                now_ms=self.now_ms(),
                producer_id_expiration_ms=self.config.get("producer.id.expiration.ms"),
                topic_configs=self._known_topic_config,
                write_behind=self._write_behind(),
            )
        except (LogDirError, OSError) as exc:
            raise StartupError(f"cannot open log dirs: {exc}") from None
        self.replica_manager = ReplicaManager(self)
        for topic in self.metadata.topics():
            cfg = self.topic_config(topic.name)
            for index, state in sorted(topic.partitions.items()):
                if state.leader != self.broker_id:
                    # Single node: whatever was recorded, this broker leads what it holds.
                    state = PartitionState(self.broker_id, state.leader_epoch + 1, [self.broker_id],
                                           [self.broker_id], state.partition_epoch + 1)
                    self.metadata.set_partition_state(topic.name, index, state)
                part = self.replica_manager.become_leader(
                    topic.name, index, topic_id=topic.topic_id, leader_epoch=state.leader_epoch,
                    config=cfg, replicas=state.replicas, isr=state.isr,
                )
                on_disk = getattr(part.log, "topic_id", None)
                if on_disk is not None and on_disk != topic.topic_id:
                    log.error("%s-%d: partition.metadata names topic id %s but the metadata says %s",
                              topic.name, index, on_disk, topic.topic_id)
        self._orphan_logs_warning()
        self.group_coordinator = self._make_group_coordinator()
        self.transaction_coordinator = self._make_transaction_coordinator()
        self.started = True

    def _prepare_log_dirs(self) -> None:
        for d in self.log_dirs:
            try:
                os.makedirs(d, exist_ok=True)
                probe = os.path.join(d, ".kpybroker-write-test")
                with open(probe, "wb") as f:
                    f.write(b"ok")
                os.unlink(probe)
            except OSError as exc:
                raise StartupError(f"log dir {d} is not writable: {exc.strerror or exc}") from None

    def _settle_cluster_id(self) -> str:
        assert self.metadata is not None
        from_disk = [_read_meta_properties(d).get("cluster.id") for d in self.log_dirs]
        known = {c for c in from_disk if c} | ({self.metadata.cluster_id} if self.metadata.cluster_id else set())
        if len(known) > 1:
            raise StartupError(f"log dirs belong to different clusters: {sorted(known)}")
        cluster_id = known.pop() if known else generate_cluster_id()
        if self.metadata.cluster_id != cluster_id:
            self.metadata.set_cluster_id(cluster_id)
        return cluster_id

    def _orphan_logs_warning(self) -> None:
        assert self.metadata is not None
        try:
            logs = list(self.log_manager.all_logs())
        except Exception:  # noqa: BLE001 - only a diagnostic
            return
        known = {(t.name, p) for t in self.metadata.topics() for p in t.partitions}
        for item in logs:
            key = (getattr(item, "topic", None), getattr(item, "partition", None))
            if key[0] is not None and key not in known:
                # Kafka calls these stray logs; kept rather than deleted, an operator decides.
                log.warning("log dir holds partition %s-%s that no topic in the metadata names", *key)

    # Coordinators are created in exactly one place each; their engineers fill these in.
    def _make_group_coordinator(self) -> Any:
        try:
            from kpybroker.group_coordinator import GroupCoordinator
        except ImportError as exc:
            if exc.name and exc.name.startswith("kpybroker.group_coordinator"):
                return None
            raise
        return GroupCoordinator(self)

    def _make_transaction_coordinator(self) -> Any:
        try:
            from kpybroker.transaction_coordinator import TransactionCoordinator
        except ImportError as exc:
            if exc.name and exc.name.startswith("kpybroker.transaction_coordinator"):
                return None
            raise
        return TransactionCoordinator(self)

    async def run_background(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Retention, checkpoints and the coordinators' own loops, until cancelled."""
        async with trio.open_nursery() as nursery:
            if self.metadata is not None:
                # From here on, metadata changes are written in a worker thread.
                self.metadata.defer_saves = True
                self.metadata.on_change = self._note_metadata_change
                nursery.start_soon(self._write_metadata_changes)
            nursery.start_soon(self._every, self.config.get("log.retention.check.interval.ms"),
                               self._retention, "retention")
            checkpoint_ms = self.config.get("log.flush.offset.checkpoint.interval.ms") or 60_000
            nursery.start_soon(self._every, checkpoint_ms, self._checkpoint, "checkpoint")
            nursery.start_soon(self._every, self.config.get("producer.id.expiration.check.interval.ms"),
                               self._expire_producers, "producer id expiration")
            if self.config.get("log.cleaner.enable"):
                nursery.start_soon(self._run_log_cleaner)
            flush_check_ms = self.config.get("log.flush.scheduler.interval.ms")
            # Kafka's default (Long.MAX_VALUE) means the flush.ms policy is never
            # checked; rolled segments are still flushed soon after each roll.
            self._flush_ms_policy = flush_check_ms < 2**40
            nursery.start_soon(self._every, flush_check_ms if self._flush_ms_policy else ROLLED_FLUSH_CHECK_MS,
                               self._flush_dirty, "log flusher")
            nursery.start_soon(self._every, DELETED_LOGS_CHECK_MS, self._remove_deleted_logs, "deleted logs removal")
            for component in (self.replica_manager, self.group_coordinator, self.transaction_coordinator):
                run = getattr(component, "run", None)
                if run is not None:
                    await nursery.start(run)
            task_status.started()

    async def save_metadata(self) -> None:
        """Return once every metadata change made so far is on disk.

        The file write (with its two fsyncs, milliseconds on most disks) runs in a
        worker thread, so the event loop keeps serving meanwhile; changes made while
        one write is under way go out together in the next. Raises ``OSError`` if the
        write fails (the change stays pending and the next caller tries again)."""
        store = self.metadata
        if store is None or store.saved_version >= store.version:
            return
        target = store.version
        async with self._metadata_write_lock:
            while store.saved_version < target:
                version = store.version
                data = store.encode()
                await trio.to_thread.run_sync(store.write, data)
                store.saved_version = max(store.saved_version, version)

    def _note_metadata_change(self) -> None:
        self._metadata_changed.set()

    async def _write_metadata_changes(self) -> None:
        """Writes changes that no request waits for (a request's answer waits for
        its own, see ``Connection``), so none stays in memory only."""
        while True:
            await self._metadata_changed.wait()
            self._metadata_changed = trio.Event()
            try:
                await self.save_metadata()
            except OSError:
                log.exception("writing the metadata file failed; retrying")
                await trio.sleep(1)
                self._metadata_changed.set()

    async def _every(self, interval_ms: int, job: Any, what: str) -> None:
        while True:
            await trio.sleep(interval_ms / 1000)
            try:
                result = job()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("background %s failed", what)

    async def _run_log_cleaner(self) -> None:
        """Kafka's log cleaner thread: a pass every ``log.cleaner.backoff.ms``. The
        rewriting runs in a worker thread; choosing logs and swapping segments run
        on the event loop, where appends run (``LogManager.clean``)."""
        from storage.cleaner import CleanerConfig

        config = CleanerConfig(
            dedupe_buffer_size=self.config.get("log.cleaner.dedupe.buffer.size"),
            dedupe_buffer_load_factor=self.config.get("log.cleaner.io.buffer.load.factor"),
            backoff_ms=self.config.get("log.cleaner.backoff.ms"),
            num_threads=max(1, self.config.get("log.cleaner.threads")),
        )
        token = trio.lowlevel.current_trio_token()

        def run_in_loop(fn: Any) -> Any:
            return trio.from_thread.run_sync(fn, trio_token=token)

        while True:
            await trio.sleep(config.backoff_ms / 1000)
            manager = self.log_manager
            if manager is None:
                continue
            try:
                await trio.to_thread.run_sync(
                    functools.partial(manager.clean, self.now_ms(), config, run_in_loop=run_in_loop)
                )
            except Exception:
                log.exception("background log cleaner failed")

    def _write_behind(self) -> WriteBehind | None:
        window = self.config.get("kpybroker.log.page.cache.window.bytes")
        if window < 0:
            return None
        return WriteBehind(window, total_bytes=self.config.get("kpybroker.log.page.cache.total.bytes"))

    async def _retention(self) -> None:
        manager = self.log_manager
        if manager is None:
            return
        # Retired files are removed by _remove_deleted_logs, in a worker thread.
        deleted = manager.cleanup(self.now_ms(), purge=False, roll_active=False, checkpoint=False)
        due = manager.logs_due_for_retention_roll()
        if due and self.replica_manager is not None:
            # An active segment retention reached: roll it (its files made in a
            # worker thread), then delete it as the old segment it has become.
            for key, _ in due:
                await self.replica_manager.roll_for_retention(key)
            deleted += manager.cleanup(
                self.now_ms(), purge=False, roll_active=False, logs=[lg for _, lg in due], checkpoint=False
            )
        if deleted:
            # The new log start offsets, read here and written (with fsyncs) in a
            # worker thread, as the periodic checkpoint is.
            state = manager.checkpoint_state()
            await trio.to_thread.run_sync(
                functools.partial(manager.write_checkpoints, state, log_start_offsets_only=True)
            )

    def _expire_producers(self) -> None:
        if self.log_manager is not None:
            self.log_manager.remove_expired_producers(self.now_ms())

    async def _flush_dirty(self) -> None:
        """Kafka's log flusher: fsync rolled segments (and ``flush.ms``) in a worker
        thread, so that a large fsync never holds up requests on the event loop."""
        manager = self.log_manager
        if manager is None:
            return
        now = self.now_ms()
        policy = self._flush_ms_policy
        due = manager.logs_due_for_flush(now, flush_ms_policy=policy)
        if due:
            await trio.to_thread.run_sync(
                functools.partial(manager.flush_logs, due, now, flush_ms_policy=policy)
            )

    async def _remove_deleted_logs(self) -> None:
        """Kafka's kafka-delete-logs task and delayed segment deletion: deleted
        partitions' directories and segments retired by retention or the cleaner go
        once ``file.delete.delay.ms`` has passed, in a worker thread."""
        manager = self.log_manager
        if manager is None:
            return
        now = self.now_ms()
        logs = manager.logs_due_for_removal(now)
        segments = manager.retired_segments_due(now)
        if logs:
            await trio.to_thread.run_sync(manager.remove_deleted_logs, logs)
        if segments:
            await trio.to_thread.run_sync(manager.remove_retired_segments, segments)

    async def _checkpoint(self) -> None:
        """The offset checkpoints: read on the event loop, written (with fsyncs) in a
        worker thread."""
        if self.log_manager is not None:
            state = self.log_manager.checkpoint_state()
            await trio.to_thread.run_sync(self.log_manager.write_checkpoints, state)

    def shutdown(self) -> None:
        """Flush and close every log, write checkpoints and the clean-shutdown marker.
        Safe after a failed or partial start, and idempotent."""
        self.started = False
        store = self.metadata
        if store is not None:
            store.defer_saves = False
            store.on_change = None
            try:
                store.flush()
            except OSError:
                log.exception("writing the metadata file at shutdown failed")
        for component in (self.transaction_coordinator, self.group_coordinator):
            close = getattr(component, "shutdown", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    log.exception("coordinator shutdown failed")
        if self.log_manager is not None and not self._storage_closed:
            self._storage_closed = True
            self.log_manager.shutdown()

    # -- topics -----------------------------------------------------------------------

    def _require_metadata(self) -> LocalMetadataStore:
        if self.metadata is None:
            raise RuntimeError("broker not started")
        return self.metadata

    def live_brokers(self) -> list[int]:
        return [self.broker_id]

    def topic_properties(self, name: str | None, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
        """Every topic config as strings: the topic's override, else the broker value
        (dynamic per-broker, dynamic cluster default, static), else Kafka's default.
        ``name`` None (or unknown) uses ``overrides`` alone."""
        if overrides is None and name is not None:
            topic = self._require_metadata().get_topic(name)
            overrides = topic.configs if topic is not None else None
        return effective_topic_configs(broker_layers(self), dict(overrides or {}))

    def _log_config(self, overrides: Mapping[str, str] | None) -> LogConfig:
        return LogConfig.from_properties(self.topic_properties(None, overrides or {}))

    def _known_topic_config(self, name: str) -> LogConfig | None:
        topic = self._require_metadata().get_topic(name)
        return self._log_config(topic.configs) if topic is not None else None

    def topic_config(self, name: str) -> LogConfig:
        """The effective storage ``LogConfig`` of topic ``name``."""
        topic = self._require_metadata().get_topic(name)
        return self._log_config(topic.configs if topic else None)

    def refresh_topic_configs(self) -> None:
        """Dynamic broker configs changed: recompute every topic's ``LogConfig`` (a
        topic without its own value follows the broker's, as in Kafka)."""
        store = self._require_metadata()
        if self.log_manager is not None:
            self.log_manager.default_config = self._log_config(None)
        for topic in store.topics():
            cfg = self._log_config(topic.configs)
            self.replica_manager.update_config(topic.name, cfg)
            self.log_manager.update_config(topic.name, cfg)

    async def create_topic(
        self,
        name: str,
        num_partitions: int,
        replication_factor: int,
        configs: Mapping[str, str | None] | None = None,
        *,
        assignments: Mapping[int, list[int]] | None = None,
        validate_only: bool = False,
        internal: bool = False,
    ) -> TopicInfo:
        """Create a topic as Kafka's controller does; ``-1`` partitions or replication
        factor mean the broker defaults. Raises ``TopicError``."""
        store = self._require_metadata()
        async with self._topic_lock:
            validate_topic_name(name)
            if store.get_topic(name) is not None:
                raise TopicError(ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists.")
            other = store.colliding_topic(name)
            if other is not None:
                raise TopicError(ErrorCode.INVALID_TOPIC_EXCEPTION,
                                 f"Topic '{name}' collides with existing topic: {other}")
            live = self.live_brokers()
            if assignments:
                if num_partitions != -1 or replication_factor != -1:
                    raise TopicError(ErrorCode.INVALID_REQUEST,
                                     "Both numPartitions or replicationFactor and replicasAssignments were set. "
                                     "Both cannot be used at the same time.")
                replica_lists = self._validate_assignments(assignments, start=0)
            else:
                if num_partitions == -1:
                    num_partitions = self.config.get("num.partitions")
                if replication_factor == -1:
                    replication_factor = self.config.get("default.replication.factor")
                if num_partitions <= 0:
                    raise TopicError(ErrorCode.INVALID_PARTITIONS,
                                     "Number of partitions was set to an invalid non-positive value.")
                if replication_factor <= 0:
                    raise TopicError(ErrorCode.INVALID_REPLICATION_FACTOR,
                                     "Replication factor must be larger than 0, or -1 to use the default value.")
                if replication_factor > len(live):
                    raise TopicError(
                        ErrorCode.INVALID_REPLICATION_FACTOR,
                        f"Unable to replicate the partition {replication_factor} time(s): The target "
                        f"replication factor of {replication_factor} cannot be reached because only "
                        f"{len(live)} broker(s) are registered.",
                    )
                replica_lists = [self._assign(p, replication_factor) for p in range(num_partitions)]
            cfg = dict(configs or {})
            try:
                validate_topic_configs(cfg)
                self._log_config(cfg)
            except ConfigError as exc:
                raise TopicError(ErrorCode.INVALID_CONFIG, str(exc)) from None
            except (ValueError, TypeError) as exc:
                raise TopicError(ErrorCode.INVALID_CONFIG, str(exc)) from None
            topic = TopicMetadata(
                name=name,
                topic_id=uuid.uuid4(),
                partitions={
                    p: PartitionState(leader=replicas[0], leader_epoch=0, replicas=list(replicas),
                                      isr=list(replicas))
                    for p, replicas in enumerate(replica_lists)
                },
                configs={k: str(v) for k, v in cfg.items()},
                internal=internal or name in INTERNAL_TOPICS,
            )
            if validate_only:
                return topic
            store.put_topic(topic)
            try:
                await self.save_metadata()
            except OSError:
                store.delete_topic(name)
                raise
            log_config = self._log_config(topic.configs)
            try:
                await self._create_partition_logs(name, topic.topic_id, topic.partitions, log_config)
                for p, state in topic.partitions.items():
                    self.replica_manager.become_leader(
                        name, p, topic_id=topic.topic_id, leader_epoch=state.leader_epoch,
                        config=log_config, replicas=state.replicas, isr=state.isr,
                    )
            except Exception:
                log.exception("creating the logs of topic %s failed; removing it", name)
                self._remove_topic_logs(topic)
                store.delete_topic(name)
                raise
            log.info("created topic %s (%s) with %d partition(s)", name, topic.topic_id, len(topic.partitions))
        if name == CONSUMER_OFFSETS and self.group_coordinator is not None:
            for p in topic.partitions:
                await self.group_coordinator.on_partition_leader(p)
        return topic

    def _assign(self, partition: int, replication_factor: int) -> list[int]:
        live = self.live_brokers()
        return [live[(partition + i) % len(live)] for i in range(replication_factor)]

    def _validate_assignments(self, assignments: Mapping[int, list[int]], *, start: int) -> list[list[int]]:
        live = set(self.live_brokers())
        indices = sorted(assignments)
        if indices != list(range(start, start + len(indices))):
            raise TopicError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                             "Partitions should be a consecutive 0-based integer sequence")
        out = []
        sizes = set()
        for p in indices:
            replicas = list(assignments[p])
            if not replicas:
                raise TopicError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                 f"The manual partition assignment includes an empty replica list for partition {p}.")
            if len(set(replicas)) != len(replicas):
                raise TopicError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                 f"The manual partition assignment includes the broker {replicas} more than once.")
            for r in replicas:
                if r not in live:
                    raise TopicError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                     f"The manual partition assignment includes broker {r}, but no such broker "
                                     "is registered.")
            sizes.add(len(replicas))
            out.append(replicas)
        if len(sizes) > 1:
            raise TopicError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                             "All partitions in the manual partition assignment must have the same number of "
                             "replicas.")
        return out

    def _remove_topic_logs(self, topic: TopicMetadata) -> None:
        for p in topic.partitions:
            try:
                self.replica_manager.remove_partition(topic.name, p, delete=True)
            except Exception:
                log.exception("removing %s-%d failed", topic.name, p)

    async def delete_topic(self, name: str) -> uuid.UUID:
        """Delete a topic and its files; returns its topic id. Raises ``TopicError``."""
        store = self._require_metadata()
        async with self._topic_lock:
            if not self.config.get("delete.topic.enable"):
                raise TopicError(ErrorCode.TOPIC_DELETION_DISABLED, "Topic deletion is disabled.")
            topic = store.get_topic(name)
            if topic is None:
                raise TopicError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                                 "This server does not host this topic-partition.")
            # Metadata first: a crash half way leaves orphan files, never a topic without logs.
            store.delete_topic(name)
            try:
                await self.save_metadata()
            except OSError:
                store.put_topic(topic)
                raise
            self._remove_topic_logs(topic)
            log.info("deleted topic %s (%s)", name, topic.topic_id)
        if self.group_coordinator is not None:
            if name == CONSUMER_OFFSETS:
                for p in topic.partitions:
                    await self.group_coordinator.on_partition_resigned(p)
            else:
                # Kafka drops committed offsets of a deleted topic from every group.
                await self.group_coordinator.on_topic_deleted(name)
        return topic.topic_id

    async def delete_topic_by_id(self, topic_id: uuid.UUID) -> str:
        """Delete by topic id (DeleteTopics v6+); returns the name."""
        topic = self._require_metadata().get_topic_by_id(topic_id)
        if topic is None:
            raise TopicError(ErrorCode.UNKNOWN_TOPIC_ID, "This server does not host this topic ID.")
        await self.delete_topic(topic.name)
        return topic.name

    async def _create_partition_logs(self, name: str, topic_id: uuid.UUID,
                                     partitions: Mapping[int, PartitionState], config: Any) -> None:
        """Create the log files of new partitions in a worker thread: a file creation
        costs a few hundred microseconds and an fsync more, so a topic of many
        partitions would otherwise hold every connection up. ``become_leader`` then
        finds the logs and does no file work. On failure the logs made are deleted."""
        manager = self.log_manager
        if manager is None:
            return
        todo = [p for p in partitions if manager.get_log(name, p) is None]
        if not todo:
            return
        paths = manager.choose_dirs(name, todo)
        now = self.now_ms()

        def open_all() -> list[Any]:
            opened: list[Any] = []
            try:
                for p, path in zip(todo, paths, strict=True):
                    opened.append(manager.open_new_log(path, config, topic_id, now_ms=now,
                                                       leader_epoch=partitions[p].leader_epoch))
            except BaseException:
                for partition_log in opened:
                    partition_log.delete()
                raise
            return opened

        for partition_log in await trio.to_thread.run_sync(open_all):
            manager.adopt_log(partition_log)

    async def create_partitions(self, name: str, new_total: int,
                                assignments: list[list[int]] | None = None, *,
                                validate_only: bool = False) -> None:
        """Grow a topic to ``new_total`` partitions. Raises ``TopicError``."""
        store = self._require_metadata()
        async with self._topic_lock:
            topic = store.get_topic(name)
            if topic is None:
                raise TopicError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                                 "This server does not host this topic-partition.")
            current = len(topic.partitions)
            if new_total < current:
                raise TopicError(ErrorCode.INVALID_PARTITIONS,
                                 f"The topic {name} currently has {current} partition(s); {new_total} would "
                                 "not be an increase.")
            if new_total == current:
                raise TopicError(ErrorCode.INVALID_PARTITIONS, f"Topic already has {current} partition(s).")
            rf = len(next(iter(topic.partitions.values())).replicas) if topic.partitions else 1
            if assignments is not None:
                if len(assignments) != new_total - current:
                    raise TopicError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                     f"Attempted to add {new_total - current} additional partition(s), but only "
                                     f"{len(assignments)} assignment(s) were specified.")
                lists = self._validate_assignments(
                    {current + i: list(a) for i, a in enumerate(assignments)}, start=current)
                if any(len(r) != rf for r in lists):
                    raise TopicError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                     f"The manual partition assignment does not have the replication factor {rf}.")
            else:
                if rf > len(self.live_brokers()):
                    raise TopicError(ErrorCode.INVALID_REPLICATION_FACTOR,
                                     f"Unable to replicate the partition {rf} time(s).")
                lists = [self._assign(p, rf) for p in range(current, new_total)]
            if validate_only:
                return
            cfg = self._log_config(topic.configs)
            for offset, replicas in enumerate(lists):
                p = current + offset
                topic.partitions[p] = PartitionState(replicas[0], 0, list(replicas), list(replicas))
            store.put_topic(topic)
            try:
                await self.save_metadata()
            except OSError:
                for p in range(current, new_total):
                    del topic.partitions[p]
                store.put_topic(topic)
                raise
            await self._create_partition_logs(
                name, topic.topic_id, {p: topic.partitions[p] for p in range(current, new_total)}, cfg)
            for p in range(current, new_total):
                state = topic.partitions[p]
                self.replica_manager.become_leader(name, p, topic_id=topic.topic_id, leader_epoch=0,
                                                   config=cfg, replicas=state.replicas, isr=state.isr)
        if name == CONSUMER_OFFSETS and self.group_coordinator is not None:
            for p in range(current, new_total):
                await self.group_coordinator.on_partition_leader(p)

    async def alter_topic_config(self, name: str, configs: Mapping[str, str]) -> None:
        """Replace topic ``name``'s config overrides with ``configs`` (validated)."""
        store = self._require_metadata()
        async with self._topic_lock:
            topic = store.get_topic(name)
            if topic is None:
                raise TopicError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                                 "This server does not host this topic-partition.")
            cfg = {k: str(v) for k, v in configs.items()}
            try:
                validate_topic_configs(cfg)
                log_config = self._log_config(cfg)
            except (ConfigError, ValueError, TypeError) as exc:
                raise TopicError(ErrorCode.INVALID_CONFIG, str(exc)) from None
            store.set_topic_configs(name, cfg)
            self.replica_manager.update_config(name, log_config)
            self.log_manager.update_config(name, log_config)

    async def auto_create_topic(self, name: str) -> TopicInfo | None:
        """Create ``name`` with the broker defaults (or the internal topic's own
        settings); None if it appeared meanwhile. Raises ``TopicError``."""
        if name == CONSUMER_OFFSETS:
            partitions = self.config.get("offsets.topic.num.partitions")
            rf = min(self.config.get("offsets.topic.replication.factor"), len(self.live_brokers()))
            configs = {"cleanup.policy": "compact", "compression.type": "producer",
                       "segment.bytes": str(self.config.get("offsets.topic.segment.bytes"))}
        elif name == TRANSACTION_STATE:
            partitions = self.config.get("transaction.state.log.num.partitions")
            rf = min(self.config.get("transaction.state.log.replication.factor"), len(self.live_brokers()))
            configs = {"cleanup.policy": "compact", "compression.type": "uncompressed",
                       "min.insync.replicas": str(min(self.config.get("transaction.state.log.min.isr"), rf)),
                       "segment.bytes": str(self.config.get("transaction.state.log.segment.bytes"))}
        else:
            partitions = self.config.get("num.partitions")
            rf = self.config.get("default.replication.factor")
            configs = {}
        try:
            return await self.create_topic(name, partitions, rf, configs, internal=name in INTERNAL_TOPICS)
        except TopicError as exc:
            if exc.error_code == ErrorCode.TOPIC_ALREADY_EXISTS:
                return None
            raise
