#!/usr/bin/env python3
"""Capture golden request/response frames from real Kafka clients.

A recording TCP proxy sits in front of librdkafka's built-in mock cluster (a
confluent_kafka client configured with ``test.mock.num.brokers``). Metadata and
FindCoordinator responses are rewritten so that clients keep talking through the
proxy. Each client (confluent-kafka, kafka-python, aiokafka when installed)
produces with every compression codec, consumes in a group and commits, and the
first frame of every (API, version[, codec]) is written to
``tests/fixtures/frames/<client>/<api>_v<version>[_<codec>].bin`` (the request,
with its 4-byte size prefix) and ``..._response.bin`` (the broker's answer).

Run once by hand: ``.venv/bin/python tools/capture_frames.py``. The fixtures are
committed; tests never run this script.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import struct
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wire import protocol  # noqa: E402
from wire.api_keys import ApiKey  # noqa: E402
from wire.buffers import join  # noqa: E402
from wire.messages.api_versions import ApiVersionsResponse  # noqa: E402
from wire.messages.headers import RequestHeader  # noqa: E402

MAX_FIXTURE = 64 * 1024
CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
CODEC_NAMES = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


def _read_exact(sock: socket.socket, n: int) -> bytes | None:
    out = bytearray()
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            return None
        out += chunk
    return bytes(out)


def _read_frame(sock: socket.socket) -> bytes | None:
    head = _read_exact(sock, 4)
    if head is None:
        return None
    (size,) = struct.unpack(">i", head)
    body = _read_exact(sock, size)
    if body is None:
        return None
    return head + body


def _produce_codec(frame: bytes) -> str | None:
    """Compression codec of the first batch in a Produce request frame."""
    try:
        _, body = protocol.decode_request(memoryview(frame)[4:])
    except Exception:
        return None
    for topic in body.topic_data:
        for part in topic.partition_data:
            rec = part.records
            if rec is not None and len(rec) >= 23:
                (attrs,) = struct.unpack_from(">h", rec, 21)
                return CODEC_NAMES.get(attrs & 7)
    return None


class Recorder:
    """Keeps the first frame of each kind per client, in memory until saved."""

    def __init__(self) -> None:
        self.client = "unknown"
        self.frames: dict[tuple[str, str], bytes] = {}
        self.lock = threading.Lock()

    def name(self, api_key: int, version: int, frame: bytes) -> str:
        base = f"{ApiKey(api_key).name.lower()}_v{version}"
        if api_key == ApiKey.PRODUCE:
            codec = _produce_codec(frame)
            if codec:
                base += f"_{codec}"
        return base

    def record(self, name: str, frame: bytes) -> None:
        if len(frame) > MAX_FIXTURE:
            return
        with self.lock:
            self.frames.setdefault((self.client, name), frame)

    def save(self, out_dir: Path) -> int:
        for (client, name), frame in sorted(self.frames.items()):
            d = out_dir / client
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{name}.bin").write_bytes(frame)
        return len(self.frames)


class Proxy:
    """Forward every connection to the mock broker, recording and rewriting frames."""

    def __init__(self, upstream: tuple[str, int], recorder: Recorder) -> None:
        self.upstream = upstream
        self.rec = recorder
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closing:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            pending: list[RequestHeader] = []
            cond = threading.Condition()
            threading.Thread(target=self._up, args=(client, server, pending, cond), daemon=True).start()
            threading.Thread(target=self._down, args=(client, server, pending, cond), daemon=True).start()

    def _up(self, client, server, pending, cond) -> None:
        try:
            while True:
                frame = _read_frame(client)
                if frame is None:
                    break
                api_key, version, corr = struct.unpack_from(">hhi", frame, 4)
                name = self.rec.name(api_key, version, frame)
                self.rec.record(name, frame)
                with cond:
                    pending.append((api_key, version, corr, name))
                server.sendall(frame)
        except OSError:
            pass
        finally:
            for s in (server,):
                try:
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

    def _down(self, client, server, pending, cond) -> None:
        try:
            while True:
                frame = _read_frame(server)
                if frame is None:
                    break
                (corr,) = struct.unpack_from(">i", frame, 4)
                with cond:
                    match = next((p for p in pending if p[2] == corr), None)
                    if match is not None:
                        pending.remove(match)
                if match is not None:
                    api_key, version, _, name = match
                    frame = self._rewrite(api_key, version, frame)
                    self.rec.record(name + "_response", frame)
                client.sendall(frame)
        except OSError:
            pass
        finally:
            for s in (client, server):
                try:
                    s.close()
                except OSError:
                    pass

    def _rewrite(self, api_key: int, version: int, frame: bytes) -> bytes:
        if api_key == ApiKey.API_VERSIONS and frame[8:10] == b"\x00\x23":
            # The mock answers an ApiVersions version it does not know with a body
            # some clients cannot read; Kafka answers with a v0 body that names the
            # ApiVersions range it does support, so send that instead.
            (corr,) = struct.unpack_from(">i", frame, 4)
            body = ApiVersionsResponse(error_code=35, api_keys=[
                ApiVersionsResponse.ApiVersion(api_key=18, min_version=0, max_version=2)])
            header = RequestHeader(request_api_key=18, request_api_version=0, correlation_id=corr)
            return join(protocol.encode_response(header, body))
        if api_key not in (ApiKey.METADATA, ApiKey.FIND_COORDINATOR):
            return frame
        corr, body = protocol.decode_response(api_key, version, memoryview(frame)[4:])
        if api_key == ApiKey.METADATA:
            for b in body.brokers:
                b.host, b.port = "127.0.0.1", self.port
        else:
            body.host, body.port = "127.0.0.1", self.port
            for c in body.coordinators:
                c.host, c.port = "127.0.0.1", self.port
        header = RequestHeader(request_api_key=api_key, request_api_version=version, correlation_id=corr)
        return join(protocol.encode_response(header, body))

    def close(self) -> None:
        self.closing = True
        self.sock.close()


def run_confluent(bootstrap: str, topic: str) -> None:
    import confluent_kafka as ck

    for codec in CODECS:
        p = ck.Producer({"bootstrap.servers": bootstrap, "compression.type": codec,
                         "linger.ms": 5, "enable.idempotence": codec == "zstd"})
        for i in range(20):
            p.produce(topic, key=b"k%d" % i, value=(b"value-%d " % i) * 20, headers=[("h", b"v")])
        p.flush(10)
    c = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": "golden-ck",
                     "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    got = 0
    deadline = time.time() + 20
    while got < 20 and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got += 1
    c.commit(asynchronous=False)
    c.close()
    a = ck.admin.AdminClient({"bootstrap.servers": bootstrap})
    fs = a.create_topics([ck.admin.NewTopic("golden-created", 2, 1)])
    for f in fs.values():
        try:
            f.result(10)
        except Exception:
            pass


def run_kafka_python(bootstrap: str, topic: str) -> None:
    import kafka

    for codec in CODECS:
        p = kafka.KafkaProducer(bootstrap_servers=bootstrap,
                                compression_type=None if codec == "none" else codec,
                                linger_ms=5)
        for i in range(20):
            p.send(topic, key=b"k%d" % i, value=(b"value-%d " % i) * 20, headers=[("h", b"v")])
        p.flush(10)
        p.close(5)
    # librdkafka's mock drops kafka-python's JoinGroup (v6+) without an answer, so
    # the group consumer yields only that request; a consumer without a group
    # then records ListOffsets and Fetch
    c = kafka.KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="golden-kp",
                            auto_offset_reset="earliest", enable_auto_commit=False,
                            consumer_timeout_ms=3000)
    for _ in c:
        break
    c.close()
    c = kafka.KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                            consumer_timeout_ms=5000)
    c.assign([kafka.TopicPartition(topic, 0)])
    got = 0
    for _ in c:
        got += 1
        if got >= 20:
            break
    c.close()


def run_aiokafka(bootstrap: str, topic: str) -> None:
    import aiokafka

    async def main() -> None:
        for codec in CODECS:
            p = aiokafka.AIOKafkaProducer(bootstrap_servers=bootstrap,
                                          compression_type=None if codec == "none" else codec)
            await p.start()
            try:
                for i in range(5):
                    await p.send_and_wait(topic, key=b"k%d" % i, value=b"v" * 50)
            finally:
                await p.stop()
        c = aiokafka.AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="golden-aio",
                                      auto_offset_reset="earliest", enable_auto_commit=False)
        await c.start()
        try:
            await asyncio.wait_for(c.getmany(timeout_ms=3000), 10)
            await c.commit()
        finally:
            await c.stop()

    asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "tests" / "fixtures" / "frames"))
    ap.add_argument("--clients", default="confluent-kafka,kafka-python,aiokafka")
    args = ap.parse_args(argv)

    import confluent_kafka as ck

    holder = ck.Producer({"test.mock.num.brokers": 1})
    md = holder.list_topics(timeout=10)
    broker = next(iter(md.brokers.values()))
    rec = Recorder()
    proxy = Proxy((broker.host, broker.port), rec)
    bootstrap = f"127.0.0.1:{proxy.port}"
    runners = {"confluent-kafka": run_confluent, "kafka-python": run_kafka_python,
               "aiokafka": run_aiokafka}
    for client in args.clients.split(","):
        rec.client = client
        try:
            runners[client](bootstrap, f"golden-{client}")
        except ImportError as exc:
            print(f"skipping {client}: {exc}", file=sys.stderr)
        time.sleep(0.5)
    proxy.close()
    n = rec.save(Path(args.out))
    print(f"wrote {n} frames under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
