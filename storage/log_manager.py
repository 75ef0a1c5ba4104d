"""Every partition log of a broker, across its log dirs (Kafka's LogManager).

At start it locks each log dir (``.lock``), checks or writes ``meta.properties``,
reads the three offset checkpoints and opens every ``<topic>-<partition>``
directory. Without a ``.kafka_cleanshutdown`` marker the logs are recovered from
their recovery points; the marker is removed once loading is done, so a crash
after that is again seen as unclean. A checkpoint that does not parse is logged
with its path and the logs of that dir are recovered from offset 0 rather than
trusting anything.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import uuid
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

from storage.checkpoints import (
    CLEAN_SHUTDOWN_FILE,
    LOCK_FILE,
    LOG_START_OFFSET_CHECKPOINT,
    META_PROPERTIES,
    RECOVERY_POINT_CHECKPOINT,
    REPLICATION_OFFSET_CHECKPOINT,
    CorruptCheckpointError,
    OffsetCheckpointFile,
    fsync_dir,
    read_properties,
    write_clean_shutdown,
    write_meta_properties,
)
from storage.cleaner import CleanerConfig, LogCleaner
from storage.config import LogConfig
from storage.errors import StorageError
from storage.log import DELETE_DIR_SUFFIX, Log, parse_partition_dir_name, remove_log_dir
from storage.write_behind import WriteBehind
from wire.errors import ErrorCode

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]


class LogDirError(Exception):
    """A log dir cannot be used: locked by another broker, or its meta.properties disagree."""


class _LogDir:
    """One log dir: its lock and its checkpoint files."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.recovery_points = OffsetCheckpointFile(path / RECOVERY_POINT_CHECKPOINT)
        self.log_start_offsets = OffsetCheckpointFile(path / LOG_START_OFFSET_CHECKPOINT)
        self.high_watermarks = OffsetCheckpointFile(path / REPLICATION_OFFSET_CHECKPOINT)
        self._lock_fd: int | None = None

    def lock(self) -> None:
        fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            # flock conflicts even within one process; lockf is what a JVM broker's
            # FileChannel.tryLock takes, so both kinds of broker see each other.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise LogDirError(
                f"Failed to acquire lock on file {self.path / LOCK_FILE}: another broker is using this directory"
            ) from None
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases both locks
            self._lock_fd = None


class CheckpointState(NamedTuple):
    """The offsets ``LogManager.checkpoint`` writes, as read at one moment: per log
    dir the recovery points, log start offsets and high watermarks."""

    seq: int
    dirs: list[tuple[Any, dict[tuple[str, int], int], dict[tuple[str, int], int], dict[tuple[str, int], int]]]


class LogManager:
    """All partition logs of this broker (contract in docs/internals.md, "storage").

    ``topic_configs`` (optional) gives the config of a topic whose log is found on
    disk at start; without it every loaded log gets ``default_config`` until the
    broker calls ``update_config``.
    """

    def __init__(
        self,
        log_dirs: Iterable[str | Path],
        *,
        broker_id: int,
        cluster_id: str,
        default_config: LogConfig,
        now_ms: int = 0,
        producer_id_expiration_ms: int = 86_400_000,
        topic_configs: Callable[[str], LogConfig | None] | None = None,
        write_behind: WriteBehind | None = None,
    ) -> None:
        self.broker_id = broker_id
        # Started at the end of loading, stopped by shutdown. None: Kafka's way, the
        # page cache keeps every append until the kernel evicts it.
        self.write_behind = write_behind if write_behind is not None and write_behind.enabled else None
        self.cluster_id = cluster_id
        self.default_config = default_config
        self.producer_id_expiration_ms = producer_id_expiration_ms
        self._topic_configs = topic_configs
        self._dirs: list[_LogDir] = []
        # Checkpoint files are written from the event loop and from a worker thread.
        self._checkpoint_lock = threading.Lock()
        self._state_seq = 0
        self._log_start_offsets_seq = 0
        # Logs the cleaner failed on (Kafka's uncleanable partitions); a recreated
        # partition is a new Log and starts clean.
        self._uncleanable: weakref.WeakSet[Log] = weakref.WeakSet()
        # Deleted logs awaiting removal: (due time in ms, renamed Log or leftover dir).
        self._to_delete: list[tuple[int, Log | Path]] = []
        self._logs: dict[TopicPartition, Log] = {}
        self._log_dir_of: dict[TopicPartition, _LogDir] = {}
        self.had_clean_shutdown: dict[Path, bool] = {}
        self._shut_down = False
        paths = [Path(p).absolute() for p in log_dirs]
        if not paths:
            raise ValueError("at least one log dir is required")
        try:
            for path in paths:
                path.mkdir(parents=True, exist_ok=True)
                d = _LogDir(path)
                d.lock()
                self._dirs.append(d)
                self._check_meta_properties(path)
            for d in self._dirs:
                self._load_dir(d, now_ms)
        except BaseException:
            for d in self._dirs:
                d.unlock()
            raise
        if self.write_behind is not None:
            self.write_behind.start()

    # ------------------------------------------------------------------ startup

    def _check_meta_properties(self, path: Path) -> None:
        meta = path / META_PROPERTIES
        if not meta.exists():
            write_meta_properties(path, self.broker_id, self.cluster_id)
            return
        props = read_properties(meta)
        found_broker = props.get("broker.id", props.get("node.id"))
        if found_broker is not None and int(found_broker) != self.broker_id:
            raise LogDirError(
                f"Stored broker.id {found_broker} in {meta} doesn't match the configured broker.id {self.broker_id}"
            )
        found_cluster = props.get("cluster.id")
        if found_cluster and found_cluster != self.cluster_id:
            raise LogDirError(
                f"The cluster id {self.cluster_id} doesn't match the stored cluster id {found_cluster} in {meta}"
            )
        if not found_cluster:
            write_meta_properties(path, self.broker_id, self.cluster_id)

    def _read_checkpoint(
        self, checkpoint: OffsetCheckpointFile
    ) -> dict[TopicPartition, int] | None:
        try:
            return checkpoint.read()
        except CorruptCheckpointError as e:
            log.error("%s: ignoring it and recovering conservatively", e)
            return None

    def _config_for(self, topic: str) -> LogConfig:
        if self._topic_configs is not None:
            config = self._topic_configs(topic)
            if config is not None:
                return config
        return self.default_config

    def _load_dir(self, d: _LogDir, now_ms: int) -> None:
        marker = d.path / CLEAN_SHUTDOWN_FILE
        clean = marker.exists()
        self.had_clean_shutdown[d.path] = clean
        recovery_points = self._read_checkpoint(d.recovery_points)
        log_starts = self._read_checkpoint(d.log_start_offsets)
        high_watermarks = self._read_checkpoint(d.high_watermarks)
        if recovery_points is None:
            clean = False  # no trustworthy recovery points: rescan everything
            recovery_points = {}
        for entry in sorted(os.scandir(d.path), key=lambda e: e.name):
            if not entry.is_dir():
                continue
            if entry.name.endswith(DELETE_DIR_SUFFIX):
                # Deleted before the last stop but not yet removed: remove it soon.
                self._to_delete.append((now_ms, Path(entry.path)))
                continue
            try:
                topic, partition = parse_partition_dir_name(entry.name)
            except ValueError:
                continue
            tp = (topic, partition)
            if tp in self._logs:
                raise LogDirError(
                    f"Duplicate log directories for {topic}-{partition}: {self._log_dir_of[tp].path} and {d.path}"
                )
            partition_log = Log.open(
                Path(entry.path),
                self._config_for(topic),
                now_ms=now_ms,
                recovery_point=recovery_points.get(tp, 0),
                log_start_offset=(log_starts or {}).get(tp),
                producer_id_expiration_ms=self.producer_id_expiration_ms,
                clean=clean,
            )
            if high_watermarks is not None and tp in high_watermarks:
                partition_log.update_high_watermark(high_watermarks[tp])
            self._track(partition_log)
            self._logs[tp] = partition_log
            self._log_dir_of[tp] = d
        if marker.exists():
            marker.unlink()
            fsync_dir(d.path)

    # ------------------------------------------------------------------ access

    @property
    def log_dirs(self) -> list[Path]:
        return [d.path for d in self._dirs]

    def get_log(self, topic: str, partition: int) -> Log | None:
        return self._logs.get((topic, partition))

    def all_logs(self) -> list[Log]:
        return list(self._logs.values())

    def create_log(
        self,
        topic: str,
        partition: int,
        config: LogConfig | None = None,
        topic_id: uuid.UUID | None = None,
        *,
        now_ms: int = 0,
    ) -> Log:
        """Return the partition's log, creating it in the least-loaded log dir if absent."""
        existing = self._logs.get((topic, partition))
        if existing is not None:
            if config is not None:
                existing.config = config
            return existing
        [path] = self.choose_dirs(topic, [partition])
        return self.adopt_log(self.open_new_log(path, config, topic_id, now_ms=now_ms))

    def choose_dirs(self, topic: str, partitions: Iterable[int]) -> list[Path]:
        """The partition dirs ``create_log`` would use for new ``partitions`` (least
        loaded log dir first), without creating anything: the broker creates the
        files in a worker thread (``open_new_log``) and then ``adopt_log``s them."""
        counts = {id(d): 0 for d in self._dirs}
        for d in self._log_dir_of.values():
            counts[id(d)] += 1
        paths = []
        for partition in partitions:
            d = min(self._dirs, key=lambda x: counts[id(x)])
            counts[id(d)] += 1
            paths.append(d.path / f"{topic}-{partition}")
        return paths

    def open_new_log(
        self,
        path: Path,
        config: LogConfig | None = None,
        topic_id: uuid.UUID | None = None,
        *,
        now_ms: int = 0,
        leader_epoch: int | None = None,
    ) -> Log:
        """Create (or open) the log at ``path`` without registering it; with
        ``leader_epoch``, record that the epoch starts at its end. Only file work on a
        directory nobody else uses yet: safe in a worker thread."""
        partition_log = Log.open(
            path,
            config or self.default_config,
            now_ms=now_ms,
            producer_id_expiration_ms=self.producer_id_expiration_ms,
            topic_id=topic_id,
        )
        if leader_epoch is not None and leader_epoch >= 0:
            partition_log.maybe_assign_epoch_start_offset(leader_epoch, partition_log.log_end_offset)
        return partition_log

    def adopt_log(self, partition_log: Log) -> Log:
        """Register a log from ``open_new_log``; if the partition has one already, that
        one is kept and the new one closed."""
        tp = (partition_log.topic, partition_log.partition)
        existing = self._logs.get(tp)
        if existing is not None:
            partition_log.close()
            return existing
        parent = partition_log.dir.parent.absolute()
        d = next(x for x in self._dirs if x.path.absolute() == parent)
        self._track(partition_log)
        self._logs[tp] = partition_log
        self._log_dir_of[tp] = d
        return partition_log

    def _track(self, partition_log: Log) -> None:
        if self.write_behind is not None:
            partition_log.append_tail = self.write_behind.track()

    def update_config(self, topic: str, config: LogConfig) -> None:
        """New topic-level configs (AlterConfigs) take effect for every partition log."""
        for (t, _p), partition_log in self._logs.items():
            if t == topic:
                partition_log.config = config

    def delete_log(self, topic: str, partition: int, *, now_ms: int = 0) -> bool:
        """Delete the partition (DeleteTopics) as Kafka does: its directory is renamed
        to ``...-delete`` now (so the partition is gone, and may be created anew), and
        removed with its files ``file.delete.delay.ms`` later by ``remove_deleted_logs``,
        which the broker runs in a worker thread."""
        tp = (topic, partition)
        partition_log = self._logs.pop(tp, None)
        if partition_log is None:
            return False
        self._log_dir_of.pop(tp, None)
        if partition_log.append_tail is not None:
            # Its pages go with its files; they no longer count against the total.
            partition_log.append_tail.reset()
        partition_log.rename_for_delete()
        self._to_delete.append((now_ms + partition_log.config.file_delete_delay_ms, partition_log))
        return True

    def logs_due_for_removal(self, now_ms: int) -> list[Log | Path]:
        """Deleted logs (or leftover ``-delete`` directories found at start) whose
        delay is over, taken off the queue: hand them to ``remove_deleted_logs``."""
        due = [item for at, item in self._to_delete if at <= now_ms]
        if due:
            self._to_delete = [(at, item) for at, item in self._to_delete if at > now_ms]
        return due

    def retired_segments_due(self, now_ms: int) -> list[Any]:
        """Segments retired by retention or the cleaner whose delay is over, taken
        off their logs: hand them to ``remove_retired_segments``."""
        due: list[Any] = []
        for partition_log in self._logs.values():
            if not partition_log.closed:
                due.extend(partition_log.take_due_deletes(now_ms))
        return due

    @staticmethod
    def remove_retired_segments(items: list[Any]) -> None:
        """Remove retired segments' files (file work: run it off the event loop)."""
        try:
            Log.remove_retired(items)
        except OSError as e:
            log.error("Error removing retired segment files: %s", e)

    @staticmethod
    def remove_deleted_logs(items: list[Log | Path]) -> None:
        """Remove deleted logs' directories (file work: run it off the event loop)."""
        for item in items:
            try:
                if isinstance(item, Path):
                    remove_log_dir(item)
                else:
                    item.delete()
            except FileNotFoundError:
                pass
            except OSError as e:
                log.error("Error removing deleted log %s: %s", item if isinstance(item, Path) else item.dir, e)

    # ------------------------------------------------------------------ periodic work

    def checkpoint(self) -> None:
        """Write the recovery-point, log-start-offset and replication-offset checkpoints."""
        self.write_checkpoints(self.checkpoint_state())

    def checkpoint_state(self) -> CheckpointState:
        """What ``checkpoint`` writes, read now. Cheap: the broker reads it on the
        event loop and hands it to ``write_checkpoints`` in a worker thread."""
        self._state_seq += 1
        dirs = []
        for d in self._dirs:
            logs = {tp: lg for tp, lg in self._logs.items() if self._log_dir_of[tp] is d}
            dirs.append(
                (
                    d,
                    {tp: lg.recovery_point for tp, lg in logs.items()},
                    {
                        tp: lg.log_start_offset
                        for tp, lg in logs.items()
                        if lg.log_start_offset > lg.segments[0].base_offset
                    },
                    {tp: lg.high_watermark for tp, lg in logs.items()},
                )
            )
        return CheckpointState(self._state_seq, dirs)

    def write_checkpoints(self, state: CheckpointState, *, log_start_offsets_only: bool = False) -> None:
        """Write a ``checkpoint_state`` (fsyncs: the broker runs it off the event loop).

        Log start offsets are also written on their own after retention; a state
        read before the newest one written is not written over it, so the file
        never goes back."""
        with self._checkpoint_lock:
            stale = state.seq < self._log_start_offsets_seq
            for d, recovery_points, log_start_offsets, high_watermarks in state.dirs:
                if not log_start_offsets_only:
                    d.recovery_points.write(recovery_points)
                    d.high_watermarks.write(high_watermarks)
                if not stale:
                    d.log_start_offsets.write(log_start_offsets)
            if not stale:
                self._log_start_offsets_seq = state.seq

    def cleanup(self, now_ms: int, *, purge: bool = True, roll_active: bool = True,
                logs: list[Log] | None = None, checkpoint: bool = True) -> int:
        """Retention for every log (or for ``logs``); returns how many segments were
        deleted. With ``purge=False`` the retired files of earlier passes stay for
        ``retired_segments_due`` / ``remove_retired_segments``; with
        ``roll_active=False`` an active segment that retention reached is left for
        the caller to roll (``logs_due_for_retention_roll``), then to ``cleanup``
        again. With ``checkpoint=False`` the log start offsets are left for the
        caller to write (``write_checkpoints(..., log_start_offsets_only=True)``,
        which fsyncs: the broker does it in a worker thread)."""
        deleted = 0
        for partition_log in self._logs.values() if logs is None else logs:
            if not partition_log.closed:
                deleted += partition_log.delete_old_segments(now_ms, purge=purge, roll_active=roll_active)
        if deleted and checkpoint:
            self.write_checkpoints(self.checkpoint_state(), log_start_offsets_only=True)
        return deleted

    def logs_due_for_retention_roll(self) -> list[tuple[TopicPartition, Log]]:
        """The logs whose active segment retention would delete once rolled."""
        return [(tp, lg) for tp, lg in self._logs.items() if lg.retention_roll_due and not lg.closed]

    def clean(
        self,
        now_ms: int,
        config: CleanerConfig | None = None,
        *,
        run_in_loop: Callable[[Callable[[], Any]], Any] | None = None,
    ) -> int:
        """One log-cleaner pass over the compacted logs (``storage/cleaner.py``);
        returns how many logs were cleaned.

        The broker calls it from a worker thread every ``log.cleaner.backoff.ms``
        with ``run_in_loop`` running a function where appends run, so that only the
        file rewriting happens off the event loop.
        """
        run = run_in_loop or (lambda fn: fn())
        logs = run(
            lambda: [(self._log_dir_of[tp].path, lg) for tp, lg in self._logs.items()]
        )
        return LogCleaner(config).clean_logs(
            logs, now_ms, run_in_loop=run, uncleanable=self._uncleanable
        )

    def uncleanable_partitions(self) -> set[tuple[str, int]]:
        """Partitions the log cleaner gave up on after an unexpected failure."""
        return {(lg.topic, lg.partition) for lg in list(self._uncleanable) if not lg.closed}

    def flush_dirty_logs(self, now_ms: int, *, flush_ms_policy: bool = True) -> int:
        """``Log.maybe_flush`` for every log (``flush.ms``, rolled segments); returns how many flushed."""
        return self.flush_logs(self.logs_due_for_flush(now_ms, flush_ms_policy=flush_ms_policy),
                               now_ms, flush_ms_policy=flush_ms_policy)

    def logs_due_for_flush(self, now_ms: int, *, flush_ms_policy: bool = True) -> list[Log]:
        """The logs ``maybe_flush`` would fsync now. Cheap: the broker asks on the event
        loop and hands the answer to ``flush_logs`` in a worker thread."""
        return [
            lg for lg in self._logs.values()
            if not lg.closed and lg.needs_flush(now_ms, flush_ms_policy=flush_ms_policy)
        ]

    def flush_logs(self, logs: list[Log], now_ms: int, *, flush_ms_policy: bool = True) -> int:
        """``Log.maybe_flush`` for ``logs`` (fsyncs: run it off the event loop); a log
        closed or deleted meanwhile is skipped. Returns how many flushed."""
        return sum(1 for lg in logs if _maybe_flush_open(lg, now_ms, flush_ms_policy))

    def remove_expired_producers(self, now_ms: int) -> None:
        for partition_log in self._logs.values():
            partition_log.remove_expired_producers(now_ms)

    def shutdown(self) -> None:
        """Flush and close every log, write the checkpoints and the clean-shutdown markers.

        A second call does nothing.
        """
        if self._shut_down:
            return
        self._shut_down = True
        if self.write_behind is not None:
            self.write_behind.stop()
        errors: list[BaseException] = []
        for partition_log in self._logs.values():
            try:
                partition_log.flush()
                partition_log.close()
            except (OSError, StorageError) as e:
                log.error("Error closing %s: %s", partition_log.dir, e)
                errors.append(e)
        # Deleted logs still waiting for their delay go now (a restart would anyway).
        pending = [item for _at, item in self._to_delete]
        self._to_delete = []
        self.remove_deleted_logs(pending)
        if not errors:
            self.checkpoint()
            for d in self._dirs:
                write_clean_shutdown(d.path)
        for d in self._dirs:
            d.unlock()
        if errors:
            raise StorageError(ErrorCode.KAFKA_STORAGE_ERROR, f"shutdown failed: {errors[0]}")


def _maybe_flush_open(partition_log: Log, now_ms: int, flush_ms_policy: bool) -> bool:
    """``Log.maybe_flush``, False for a log closed or deleted meanwhile."""
    if partition_log.closed:
        return False
    try:
        return partition_log.maybe_flush(now_ms, flush_ms_policy=flush_ms_policy)
    except StorageError:
        if partition_log.closed:
            return False
        raise
