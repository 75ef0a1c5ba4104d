#!/usr/bin/env python3
"""The floor: a bare threaded Python produce sink, the performance issue's calibration.

The issue calibrates its producer targets against "a bare threaded Python server that
decodes requests, checks CRCs and keeps nothing on disk". ``make bench`` runs the
1 KiB producer workloads against this server too, in the same alternation as
kpybroker and the mock, so every run shows what a Python server reaches on the
machine at hand before it does any of a broker's work:

* without ``--dir``: frames read with ``recv_into`` into one reused buffer per
  connection, decoded with our generated codecs, each batch's magic, size and
  CRC-32C checked, base offsets patched, answers encoded and sent. Nothing kept.
* with ``--dir``: the same, and each batch is then appended to one file per
  partition the way kpybroker's segments append (``pwrite``, blocks reserved
  16 MiB ahead with ``fallocate``, the broker's write-behind with its default
  window and bound). The difference between the two is what storing costs.

It is not a broker: it serves ApiVersions, Metadata (every topic asked for has
four partitions led by itself) and Produce, nothing else, keeps no offsets across
restarts, and closes a connection on anything it does not serve. Fetch is listed
in its ApiVersions only because librdkafka writes record batches (message format
v2) just to brokers that list Fetch v4 or later; producers never send one.

Prints ``FLOOR 127.0.0.1:<port>`` once it accepts connections, then serves until
its stdin is closed (so it cannot outlive the benchmark that started it).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kpybroker.config import BrokerConfig  # noqa: E402
from storage.segment import _RESERVE_MAX, _libc_fallocate  # noqa: E402
from storage.write_behind import WriteBehind  # noqa: E402
from wire.exceptions import ProtocolError  # noqa: E402
from wire.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse  # noqa: E402
from wire.messages.fetch import FetchRequest  # noqa: E402
from wire.messages.metadata import MetadataRequest, MetadataResponse  # noqa: E402
from wire.messages.produce import ProduceRequest, ProduceResponse  # noqa: E402
from wire.protocol import decode_request, encode_response  # noqa: E402
from wire.records import CorruptRecordError, parse_header, set_base_offset, verify_crc  # noqa: E402

PARTITIONS = 4
MAX_FRAME = 104_857_600  # Kafka's socket.request.max.bytes
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
# What kpybroker's segments and write-behind use by default.
_RESERVE_STEP = _RESERVE_MAX
_FALLOC_FL_KEEP_SIZE = 0x01
_DEFAULTS = BrokerConfig()
_WINDOW = _DEFAULTS.get("kpybroker.log.page.cache.window.bytes")
_TOTAL = _DEFAULTS.get("kpybroker.log.page.cache.total.bytes")


class _PartitionFile:
    """One partition's appends: the next offset, and the file when storing."""

    def __init__(self, path: Path | None, write_behind: WriteBehind | None) -> None:
        self.next_offset = 0
        self.path = path
        self.fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o644) if path is not None else -1
        self.end = 0
        self.reserved = 0
        self.tail = write_behind.track() if write_behind is not None else None

    def append(self, batch: memoryview, fallocate: Any) -> None:
        end = self.end + batch.nbytes
        if fallocate and end > self.reserved:
            self.reserved = end + _RESERVE_STEP
            fallocate(self.fd, _FALLOC_FL_KEEP_SIZE, self.end, self.reserved - self.end)
        os.pwrite(self.fd, batch, self.end)
        if self.tail is not None:
            self.tail.appended(str(self.path), self.end, end)
        self.end = end


class FloorServer:
    """The sink: one thread per connection, blocking sockets."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.write_behind: WriteBehind | None = None
        self.fallocate: Any = None
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            self.write_behind = WriteBehind(_WINDOW, total_bytes=_TOTAL)
            self.write_behind.start()
            self.fallocate = _libc_fallocate() or None
        self.lock = threading.Lock()
        self.partitions: dict[tuple[str, int], _PartitionFile] = {}
        self.topic_ids: dict[str, uuid.UUID] = {}
        self.topic_names: dict[uuid.UUID, str] = {}  # for Produce v13, which names topics by id
        self.port = 0

    # -- requests ------------------------------------------------------------------

    @staticmethod
    def api_versions() -> ApiVersionsResponse:
        entry = ApiVersionsResponse.ApiVersion
        return ApiVersionsResponse(api_keys=[
            entry(api_key=ProduceRequest.API_KEY, min_version=3, max_version=ProduceRequest.MAX_VERSION),
            entry(api_key=FetchRequest.API_KEY, min_version=4, max_version=FetchRequest.MAX_VERSION),
            entry(api_key=MetadataRequest.API_KEY, min_version=0, max_version=MetadataRequest.MAX_VERSION),
            entry(api_key=ApiVersionsRequest.API_KEY, min_version=0, max_version=ApiVersionsRequest.MAX_VERSION),
        ])

    def metadata(self, request: MetadataRequest) -> MetadataResponse:
        m = MetadataResponse
        topics = []
        for wanted in request.topics or []:
            name = wanted.name or ""
            with self.lock:
                topic_id = self.topic_ids.get(name)
                if topic_id is None:
                    topic_id = self.topic_ids[name] = uuid.uuid4()
                    self.topic_names[topic_id] = name
            topics.append(m.MetadataResponseTopic(name=name, topic_id=topic_id, partitions=[
                m.MetadataResponsePartition(partition_index=p, leader_id=0, leader_epoch=0,
                                            replica_nodes=[0], isr_nodes=[0])
                for p in range(PARTITIONS)]))
        return m(brokers=[m.MetadataResponseBroker(node_id=0, host="127.0.0.1", port=self.port)],
                 cluster_id="floor", controller_id=0, topics=topics)

    def _partition(self, topic: str, index: int) -> _PartitionFile:
        key = (topic, index)
        part = self.partitions.get(key)
        if part is None:
            path = self.directory / f"{topic}-{index}.log" if self.directory is not None else None
            part = self.partitions[key] = _PartitionFile(path, self.write_behind)
        return part

    def produce(self, request: ProduceRequest) -> ProduceResponse:
        p = ProduceResponse
        topics = []
        for data in request.topic_data:
            name = data.name or self.topic_names.get(data.topic_id, "")
            answers = []
            for part_data in data.partition_data:
                error, base_offset = self._append(name, part_data.index, part_data.records)
                answers.append(p.PartitionProduceResponse(index=part_data.index, error_code=error,
                                                          base_offset=base_offset, log_start_offset=0))
            topics.append(p.TopicProduceResponse(name=data.name, topic_id=data.topic_id,
                                                 partition_responses=answers))
        return p(responses=topics)

    def _append(self, topic: str, index: int, records: Any) -> tuple[int, int]:
        if not 0 <= index < PARTITIONS or topic not in self.topic_ids:
            return UNKNOWN_TOPIC_OR_PARTITION, -1
        if records is None:
            return CORRUPT_MESSAGE, -1
        batch = memoryview(records).cast("B")
        try:
            header = parse_header(batch)  # CorruptRecordError covers legacy magic too
        except CorruptRecordError:
            return CORRUPT_MESSAGE, -1
        if header.size != batch.nbytes or not verify_crc(batch, 0, header):
            return CORRUPT_MESSAGE, -1
        with self.lock:
            part = self._partition(topic, index)
            base_offset = part.next_offset
            part.next_offset += header.records_count
            if part.fd >= 0:
                set_base_offset(batch, 0, base_offset)
                part.append(batch, self.fallocate)
        return 0, base_offset

    # -- connections ---------------------------------------------------------------

    def serve(self, conn: socket.socket) -> None:
        size_prefix = bytearray(4)
        buf = bytearray(1 << 20)
        try:
            while True:
                if conn.recv_into(size_prefix, 4, socket.MSG_WAITALL) != 4:
                    return
                size = int.from_bytes(size_prefix, "big", signed=True)
                if not 0 <= size <= MAX_FRAME:
                    return
                if size > len(buf):
                    buf = bytearray(size)
                frame = memoryview(buf)[:size]
                got = 0
                while got < size:
                    n = conn.recv_into(frame[got:], size - got)
                    if not n:
                        return
                    got += n
                try:
                    header, request = decode_request(frame)
                except ProtocolError:
                    return
                key = header.request_api_key
                if key == ApiVersionsRequest.API_KEY:
                    response: Any = self.api_versions()
                elif key == MetadataRequest.API_KEY:
                    response = self.metadata(request)
                elif key == ProduceRequest.API_KEY and header.request_api_version >= 3:
                    response = self.produce(request)
                    if request.acks == 0:
                        continue
                else:
                    return
                conn.sendall(b"".join(encode_response(header, response)))
                del frame, request
        except OSError:
            return
        finally:
            conn.close()

    def run(self, listener: socket.socket) -> None:
        while True:
            conn, _ = listener.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", help="append every batch to files in this directory (default: keep nothing)")
    args = ap.parse_args()
    server = FloorServer(Path(args.dir) if args.dir else None)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    server.port = listener.getsockname()[1]
    threading.Thread(target=server.run, args=(listener,), daemon=True).start()
    print(f"FLOOR 127.0.0.1:{server.port}", flush=True)
    sys.stdin.read()  # returns at EOF, i.e. when the parent closes the pipe or dies
    return 0


if __name__ == "__main__":
    sys.exit(main())
