"""kcat (librdkafka's command-line client, the Debian package) against kpybroker.

kcat is run as a subprocess against a fresh in-process broker; its JSON output
(-J) is what the tests check, together with the batches found in the log files.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from wire.messages.produce import ProduceRequest
from wire.protocol import decode_request
from wire.records import iter_batches, iter_records

KCAT_TIMEOUT_S = 30.0
CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def run_kcat(kcat: str, bootstrap: str, *args: str, stdin: bytes | None = None) -> str:
    cmd = [kcat, "-b", bootstrap, "-X", "socket.timeout.ms=10000", *args]
    proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=KCAT_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr.decode(errors='replace')}")
    return proc.stdout.decode()


def consume_json(kcat: str, bootstrap: str, *args: str) -> list[dict[str, Any]]:
    out = run_kcat(kcat, bootstrap, "-C", "-J", "-e", "-q", *args)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def create(broker: Any, name: str, partitions: int = 1) -> None:
    broker.call(broker.broker.create_topic, name, partitions, 1, {})


def log_batches(broker: Any, partition_dir: str) -> tuple[bytes, list[tuple[int, Any]]]:
    data = b"".join(p.read_bytes() for p in sorted((Path(broker.data_dir) / partition_dir).glob("*.log")))
    return data, list(iter_batches(data))


def test_metadata_listing(broker: Any, kcat: str) -> None:
    create(broker, "kc-meta", 3)
    listing = run_kcat(kcat, broker, "-L")
    assert f"broker 1 at {broker} (controller)" in listing
    assert 'topic "kc-meta" with 3 partitions:' in listing
    for p in range(3):
        assert f"partition {p}, leader 1, replicas: 1, isrs: 1" in listing

    meta = json.loads(run_kcat(kcat, broker, "-L", "-J", "-t", "kc-meta"))
    assert meta["brokers"] == [{"id": 1, "name": str(broker)}]
    assert meta["controllerid"] == 1
    (topic,) = meta["topics"]
    assert topic["topic"] == "kc-meta"
    assert [(p["partition"], p["leader"], [r["id"] for r in p["replicas"]], [r["id"] for r in p["isrs"]])
            for p in topic["partitions"]] == [(p, 1, [1], [1]) for p in range(3)]

    # A missing topic, without auto-creation: kcat -L shows the broker's error.
    missing = json.loads(run_kcat(kcat, broker, "-L", "-J", "-t", "kc-none",
                                  "-X", "allow.auto.create.topics=false"))
    assert missing["topics"][0]["error"] == "Broker: Unknown topic or partition"


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_produce_consume_each_codec(broker: Any, kcat: str, codec: str) -> None:
    topic = f"kc-{codec}"
    create(broker, topic)
    # librdkafka sends a batch uncompressed when compression does not shrink it:
    # values long and repetitive enough to compress.
    lines = [f"k{i}:" + "v" * 300 + str(i) for i in range(5)] + [":nokey"]
    # -Z: an empty key is sent as a null key.
    run_kcat(kcat, broker, "-P", "-t", topic, "-p", "0", "-K:", "-Z", "-z", codec,
             "-H", "h1=x", "-H", "h2=", stdin="\n".join(lines).encode() + b"\n")

    got = consume_json(kcat, broker, "-t", topic, "-o", "beginning")
    assert [m["offset"] for m in got] == list(range(6))
    assert [m["key"] for m in got] == [f"k{i}" for i in range(5)] + [None]
    assert [m["payload"] for m in got] == ["v" * 300 + str(i) for i in range(5)] + ["nokey"]
    assert all(m["headers"] == ["h1", "x", "h2", ""] for m in got)
    assert all(m["tstype"] == "create" for m in got)

    data, batches = log_batches(broker, f"{topic}-0")
    assert sum(h.records_count for _, h in batches) == 6
    assert {h.compression for _, h in batches} == {CODEC_IDS[codec]}
    records = [r for pos, h in batches for r in iter_records(data, pos, h)]
    assert [r.key for r in records] == [f"k{i}".encode() for i in range(5)] + [None]


def test_offsets_and_timestamp_query(broker: Any, kcat: str) -> None:
    from confluent_kafka import Producer

    create(broker, "kc-offsets")
    t0 = 1_700_000_000_000
    # kcat cannot set a record's timestamp: write them with librdkafka's Python binding.
    producer = Producer({"bootstrap.servers": str(broker), "linger.ms": 0})
    for i in range(6):
        producer.produce("kc-offsets", value=f"m{i}".encode(), key=f"k{i}".encode(), partition=0,
                         timestamp=t0 + i * 1000)
    assert producer.flush(10) == 0
    tail = consume_json(kcat, broker, "-t", "kc-offsets", "-o", "-2")
    assert [m["payload"] for m in tail] == ["m4", "m5"]
    assert [m["offset"] for m in tail] == [4, 5]
    from_three = consume_json(kcat, broker, "-t", "kc-offsets", "-o", "3", "-c", "2")
    assert [m["offset"] for m in from_three] == [3, 4]
    assert consume_json(kcat, broker, "-t", "kc-offsets", "-o", "end") == []

    # Query by timestamp (ListOffsets): the first record at or after the time;
    # past the newest record the answer is -1 (Kafka's "no such offset").
    for ts, offset in [(t0 - 5, 0), (t0, 0), (t0 + 2500, 3), (t0 + 5000, 5), (t0 + 5001, -1)]:
        answer = run_kcat(kcat, broker, "-Q", "-t", f"kc-offsets:0:{ts}")
        assert f"kc-offsets [0] offset {offset}" in answer, (ts, answer)


def test_group_consumer_commits_and_resumes(broker: Any, kcat: str) -> None:
    create(broker, "kc-group", 2)
    produce = ["-P", "-t", "kc-group", "-K:"]
    run_kcat(kcat, broker, *produce, stdin=b"".join(b"k%d:first%d\n" % (i, i) for i in range(8)))

    group = ["-G", "kc-g", "kc-group", "-J", "-e", "-q", "-X", "auto.offset.reset=earliest"]
    first = [json.loads(x) for x in run_kcat(kcat, broker, *group).splitlines() if x.strip()]
    assert sorted(m["payload"] for m in first) == sorted(f"first{i}" for i in range(8))

    run_kcat(kcat, broker, *produce, stdin=b"".join(b"k%d:second%d\n" % (i, i) for i in range(4)))
    second = [json.loads(x) for x in run_kcat(kcat, broker, *group).splitlines() if x.strip()]
    # The group resumed at the offsets committed when the first run closed.
    assert sorted(m["payload"] for m in second) == sorted(f"second{i}" for i in range(4))


def test_acks_zero_gets_no_response(start_broker: Any, kcat: str, recording_proxy: Any) -> None:
    """Through a recording proxy: librdkafka's acks=0 produce requests get no
    response at all, every other request on the same connections gets one, in
    order; the records are written all the same."""
    proxy = recording_proxy()
    broker = start_broker({"advertised.listeners": f"PLAINTEXT://127.0.0.1:{proxy.port}"})
    proxy.set_target(broker)
    bootstrap = f"127.0.0.1:{proxy.port}"
    create(broker, "kc-acks")
    # linger.ms=0 and one line at a time: several produce requests, not one batch.
    run_kcat(kcat, bootstrap, "-P", "-t", "kc-acks", "-p", "0", "-X", "acks=0", "-X", "linger.ms=0",
             "-X", "batch.num.messages=1", stdin=b"a\nb\nc\n")
    run_kcat(kcat, bootstrap, "-P", "-t", "kc-acks", "-p", "0", "-X", "acks=all", stdin=b"d\n")

    acks_zero_count = 0
    for conn in proxy.connections:
        expected, acks_zero = [], []
        for (api_key, _version, cid), frame in zip(conn.requests, conn.request_frames, strict=True):
            if api_key == ProduceRequest.API_KEY and decode_request(memoryview(frame))[1].acks == 0:
                acks_zero.append(cid)
            else:
                expected.append(cid)
        # In order, none for acks=0; a request sent just before kcat exits may
        # still be unanswered when the connection closes.
        assert conn.responses == expected[: len(conn.responses)]
        assert not set(conn.responses) & set(acks_zero)
        acks_zero_count += len(acks_zero)
    assert acks_zero_count >= 1
    got = consume_json(kcat, broker, "-t", "kc-acks", "-o", "beginning")
    assert [(m["offset"], m["payload"]) for m in got] == [(0, "a"), (1, "b"), (2, "c"), (3, "d")]


def test_cli_broker_restart_keeps_data_and_group_offsets(broker_process: Any, kcat: str) -> None:
    """Against ``python -m kpybroker``: a topic auto-created by kcat's producer, its
    records and a group's committed offsets survive a SIGTERM restart."""
    bootstrap = str(broker_process)
    run_kcat(kcat, bootstrap, "-P", "-t", "kc-restart", "-K:", "-z", "zstd",
             stdin=b"".join(b"k%d:before%d\n" % (i, i) for i in range(5)))
    group = ["-G", "kc-restart-g", "kc-restart", "-J", "-e", "-q", "-X", "auto.offset.reset=earliest"]
    first = [json.loads(x)["payload"] for x in run_kcat(kcat, bootstrap, *group).splitlines() if x.strip()]
    assert sorted(first) == sorted(f"before{i}" for i in range(5))

    restarted = broker_process.restart()
    assert restarted.port == broker_process.port
    run_kcat(kcat, bootstrap, "-P", "-t", "kc-restart", "-K:", stdin=b"k9:after\n")
    listing = run_kcat(kcat, bootstrap, "-L", "-t", "kc-restart")
    assert 'topic "kc-restart" with 1 partitions:' in listing
    everything = consume_json(kcat, bootstrap, "-t", "kc-restart", "-o", "beginning")
    assert [(m["offset"], m["payload"]) for m in everything] == [
        *[(i, f"before{i}") for i in range(5)], (5, "after")]
    resumed = [json.loads(x)["payload"] for x in run_kcat(kcat, bootstrap, *group).splitlines() if x.strip()]
    assert resumed == ["after"]
