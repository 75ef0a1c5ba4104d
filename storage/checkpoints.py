"""Small text files Kafka keeps beside the logs, in Kafka's exact formats.

* offset checkpoints (``recovery-point-offset-checkpoint``,
  ``replication-offset-checkpoint``, ``log-start-offset-checkpoint``): a version
  line ``0``, an entry-count line, then ``topic partition offset`` lines;
* ``leader-epoch-checkpoint``: the same frame with ``epoch start_offset`` lines;
* ``partition.metadata``: ``version: 0`` and ``topic_id: <uuid>`` (Kafka's base64
  form of the uuid);
* ``meta.properties``: Java properties with ``version``, ``broker.id``, ``cluster.id``;
* ``.kafka_cleanshutdown``: JSON ``{"version":0,"brokerEpoch":N}``.

Every write goes to ``<name>.tmp``, is fsynced, renamed over the old file and the
directory is fsynced, so a crash leaves either the old or the new file whole.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

RECOVERY_POINT_CHECKPOINT = "recovery-point-offset-checkpoint"
REPLICATION_OFFSET_CHECKPOINT = "replication-offset-checkpoint"
LOG_START_OFFSET_CHECKPOINT = "log-start-offset-checkpoint"
LEADER_EPOCH_CHECKPOINT = "leader-epoch-checkpoint"
PARTITION_METADATA = "partition.metadata"
META_PROPERTIES = "meta.properties"
CLEAN_SHUTDOWN_FILE = ".kafka_cleanshutdown"
LOCK_FILE = ".lock"

T = TypeVar("T")


class CorruptCheckpointError(Exception):
    """A checkpoint-style file could not be parsed; ``path`` names it."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"corrupt checkpoint file {path}: {reason}")
        self.path = path
        self.reason = reason


def fsync_dir(path: Path) -> None:
    """Make a rename or file creation in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> bool:
    """fsync an existing file; False if it is gone (deleted meanwhile)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def write_atomic(
    path: Path, data: bytes, *, best_effort_dir_sync: bool = False, sync: bool = True
) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new content, never a mix.

    The data goes to ``<name>.tmp`` first. ``best_effort_dir_sync`` ignores a failure
    to fsync the directory after the rename instead of raising it. ``sync=False``
    skips both fsyncs (the caller makes the file durable later, with ``fsync_file``
    and ``fsync_dir``); after a crash the file may then be missing or torn."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if not sync:
        return
    try:
        fsync_dir(path.parent)
    except OSError:
        if not best_effort_dir_sync:
            raise


class CheckpointFile(Generic[T]):
    """Kafka's versioned line-per-entry checkpoint file (version 0)."""

    VERSION = 0

    def __init__(
        self,
        path: Path,
        format_entry: Callable[[T], str],
        parse_entry: Callable[[list[str]], T],
    ) -> None:
        self.path = Path(path)
        self._format = format_entry
        self._parse = parse_entry

    def write(self, entries: Sequence[T]) -> None:
        lines = [str(self.VERSION), str(len(entries))]
        lines.extend(self._format(e) for e in entries)
        write_atomic(self.path, ("\n".join(lines) + "\n").encode())

    def read(self) -> list[T]:
        """Entries in file order; ``[]`` when the file is missing.

        Raises ``CorruptCheckpointError`` for a wrong version, a malformed line or a
        count that does not match the lines (as Kafka does).
        """
        try:
            text = self.path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            return []
        except UnicodeDecodeError:
            raise CorruptCheckpointError(self.path, "not UTF-8 text") from None
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if len(lines) < 2:
            raise CorruptCheckpointError(self.path, "missing version or size line")
        try:
            version = int(lines[0])
            count = int(lines[1])
        except ValueError:
            raise CorruptCheckpointError(self.path, "malformed version or size line") from None
        if version != self.VERSION:
            raise CorruptCheckpointError(self.path, f"unrecognised version {version}")
        body = lines[2:]
        if count < 0 or len(body) != count:
            raise CorruptCheckpointError(
                self.path, f"expected {count} entries but found {len(body)}"
            )
        entries: list[T] = []
        for line in body:
            try:
                entries.append(self._parse(line.split(" ")))
            except (ValueError, IndexError):
                raise CorruptCheckpointError(self.path, f"malformed line {line!r}") from None
        return entries


def _parse_offset_entry(parts: list[str]) -> tuple[str, int, int]:
    topic, partition, offset = parts  # exactly three fields, else ValueError
    return topic, int(partition), int(offset)


class OffsetCheckpointFile:
    """``topic partition offset`` checkpoint of a log dir, keyed by ``(topic, partition)``."""

    def __init__(self, path: Path) -> None:
        self._file: CheckpointFile[tuple[str, int, int]] = CheckpointFile(
            path, lambda e: f"{e[0]} {e[1]} {e[2]}", _parse_offset_entry
        )

    @property
    def path(self) -> Path:
        return self._file.path

    def write(self, offsets: dict[tuple[str, int], int]) -> None:
        self._file.write([(t, p, o) for (t, p), o in sorted(offsets.items())])

    def read(self) -> dict[tuple[str, int], int]:
        return {(t, p): o for t, p, o in self._file.read()}


def _parse_epoch_entry(parts: list[str]) -> tuple[int, int]:
    epoch, start_offset = parts
    return int(epoch), int(start_offset)


class LeaderEpochCheckpointFile:
    """``epoch start_offset`` lines of a partition's ``leader-epoch-checkpoint``."""

    def __init__(self, path: Path) -> None:
        self._file: CheckpointFile[tuple[int, int]] = CheckpointFile(
            path, lambda e: f"{e[0]} {e[1]}", _parse_epoch_entry
        )

    @property
    def path(self) -> Path:
        return self._file.path

    def write(self, entries: Iterable[tuple[int, int]]) -> None:
        self._file.write(list(entries))

    def read(self) -> list[tuple[int, int]]:
        return self._file.read()


def uuid_to_kafka(value: uuid.UUID) -> str:
    """Kafka's ``Uuid.toString``: url-safe base64 of the 16 bytes, no padding."""
    return base64.urlsafe_b64encode(value.bytes).rstrip(b"=").decode("ascii")


def uuid_from_kafka(text: str) -> uuid.UUID:
    """Inverse of ``uuid_to_kafka``; raises ``ValueError`` for anything else."""
    text = text.strip()
    if len(text) != 22:
        raise ValueError(f"not a Kafka uuid: {text!r}")
    raw = base64.urlsafe_b64decode(text + "==")
    return uuid.UUID(bytes=raw)


def write_partition_metadata(dir: Path, topic_id: uuid.UUID) -> None:
    """Write ``partition.metadata`` (Kafka writes no trailing newline)."""
    write_atomic(
        Path(dir) / PARTITION_METADATA, f"version: 0\ntopic_id: {uuid_to_kafka(topic_id)}".encode()
    )


def read_partition_metadata(dir: Path) -> uuid.UUID | None:
    """The topic id recorded in ``partition.metadata``; None when the file is absent.

    Raises ``CorruptCheckpointError`` for a malformed file.
    """
    path = Path(dir) / PARTITION_METADATA
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise CorruptCheckpointError(path, f"malformed line {line!r}")
        fields[key.strip()] = value.strip()
    if fields.get("version") != "0" or "topic_id" not in fields:
        raise CorruptCheckpointError(path, "expected version 0 and a topic_id")
    try:
        return uuid_from_kafka(fields["topic_id"])
    except ValueError as e:
        raise CorruptCheckpointError(path, str(e)) from None


def write_meta_properties(log_dir: Path, broker_id: int, cluster_id: str) -> None:
    """``meta.properties`` as a ZooKeeper-mode broker writes it (version 0 with broker.id)."""
    text = f"#\n#kpybroker\ncluster.id={cluster_id}\nversion=0\nbroker.id={broker_id}\n"
    write_atomic(Path(log_dir) / META_PROPERTIES, text.encode())


def read_properties(path: Path) -> dict[str, str]:
    """Parse the simple ``key=value`` Java properties Kafka writes (comments skipped)."""
    out: dict[str, str] = {}
    for raw in Path(path).read_text("utf-8").splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        for i, ch in enumerate(line):
            if ch in "=:":
                out[line[:i].strip()] = line[i + 1 :].strip()
                break
        else:
            out[line] = ""
    return out


def write_clean_shutdown(log_dir: Path, broker_epoch: int = -1) -> None:
    """Mark ``log_dir`` as cleanly shut down (Kafka's JSON content, KIP-966)."""
    body = json.dumps({"version": 0, "brokerEpoch": broker_epoch}, separators=(",", ":"))
    write_atomic(Path(log_dir) / CLEAN_SHUTDOWN_FILE, body.encode())
