"""kafkajs (the stock npm package, run by node) against kpybroker.

Each test runs one scenario of ``kafkajs/scenarios.js`` against a fresh
in-process broker and checks what kafkajs reported. kafkajs is a useful
witness: it opens a second connection per broker that never sends ApiVersions,
it pipelines produce requests, and it reads with ``read_committed`` by default.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from wire.messages.api_versions import ApiVersionsRequest
from wire.records import iter_batches, iter_records

ERROR_CODES = {"INVALID_TOPIC_EXCEPTION": 17, "INVALID_PARTITIONS": 37, "UNKNOWN_TOPIC_OR_PARTITION": 3}


def test_round_trip_admin_and_group(broker: Any, kafkajs: Any) -> None:
    out = kafkajs.run("roundtrip", broker, "js-rt")
    assert out["created"] is True
    parts = out["metadata"]["topics"][0]["partitions"]
    assert sorted(p["partitionId"] for p in parts) == [0, 1, 2]
    assert all((p["leader"], p["replicas"], p["isr"]) == (1, [1], [1]) for p in parts)

    assert [(p["codec"], p["partition"], p["errorCode"], p["baseOffset"]) for p in out["produced"]] == [
        ("none", 0, 0, "0"), ("none", 1, 0, "0"), ("none", 2, 0, "0"),
        ("gzip", 0, 0, "2"), ("gzip", 1, 0, "2"), ("gzip", 2, 0, "2"),
    ]
    # Twenty concurrent sends on one connection: every one acknowledged once,
    # offsets contiguous after the four records already in partition 0.
    assert sorted(int(o) for o in out["pipelined"]) == list(range(4, 24))
    assert {o["partition"]: (o["low"], o["high"]) for o in out["offsets"]} == {
        0: ("0", "24"), 1: ("0", "4"), 2: ("0", "4")}

    consumed = out["consumed"]
    assert len(consumed) == 32
    by_partition: dict[int, list[dict[str, Any]]] = {}
    for m in consumed:
        by_partition.setdefault(m["partition"], []).append(m)
    for p in (0, 1, 2):
        msgs = by_partition[p]
        assert [m["offset"] for m in msgs] == [str(i) for i in range(len(msgs))]
        assert msgs[0]["key"] == f"k-none-{p}"
        assert msgs[0]["value"] == f"v-none-{p}-" + "x" * 200
        assert msgs[0]["headers"] == {"codec": "none", "n": str(p)}
        assert msgs[1] == {"topic": "js-rt", "partition": p, "offset": "1", "key": None,
                           "value": f"nokey-none-{p}", "headers": {}}
        assert msgs[2]["value"] == f"v-gzip-{p}-" + "x" * 200
        assert msgs[2]["headers"] == {"codec": "gzip", "n": str(p)}
    assert sorted(m["value"] for m in by_partition[0][4:]) == sorted(f"pipelined-{i}" for i in range(20))

    committed = {p["partition"]: p["offset"] for p in out["committed"][0]["partitions"]}
    assert committed == {0: "24", 1: "4", 2: "4"}
    assert "js-rt" in out["topicsBeforeDelete"]
    assert "js-rt" not in out["topicsAfterDelete"]


def test_gzip_batch_is_stored_compressed(broker: Any, kafkajs: Any) -> None:
    """A topic auto-created by kafkajs's producer; its gzip batch lands in the log
    as one gzip batch, records intact."""
    out = kafkajs.run("gzip", broker, "js-gzip")
    assert out == {"baseOffset": "0", "errorCode": 0}
    batches = _batches(broker, "js-gzip-0")
    assert [(h.base_offset, h.records_count, h.compression) for _, h in batches] == [(0, 3, 1)]
    records = _records(broker, "js-gzip-0")
    assert [(r.offset, r.key, r.value) for r in records] == [
        (i, f"k{i}".encode(), b"z" * 1000 + str(i).encode()) for i in range(3)]


def _segment_bytes(broker: Any, partition_dir: str) -> bytes:
    return b"".join(p.read_bytes() for p in sorted((Path(broker.data_dir) / partition_dir).glob("*.log")))


def _batches(broker: Any, partition_dir: str) -> list[tuple[int, Any]]:
    return list(iter_batches(_segment_bytes(broker, partition_dir)))


def _records(broker: Any, partition_dir: str) -> list[Any]:
    data = _segment_bytes(broker, partition_dir)
    return [r for pos, h in iter_batches(data) for r in iter_records(data, pos, h)]


def test_admin_calls_and_errors(broker: Any, kafkajs: Any) -> None:
    out = kafkajs.run("admin", broker, "js-admin")
    cluster = out["cluster"]
    assert cluster["controller"] == cluster["brokers"][0]["nodeId"]
    assert cluster["brokers"][0]["port"] == broker.port
    assert cluster["clusterId"] == broker.broker.cluster_id

    assert out["validateOnly"] is True and out["afterValidateOnly"] is False
    assert out["created"] is True
    assert out["createdAgain"] is False  # TOPIC_ALREADY_EXISTS, which kafkajs swallows
    assert [e["type"] for e in out["badNameErrors"]] == ["INVALID_TOPIC_EXCEPTION"]
    assert out["partitionsAfter"] == 4
    assert out["shrink"]["type"] == "INVALID_PARTITIONS"

    configs = {c["name"]: c for c in out["describe"]}
    assert configs["retention.ms"]["value"] == "123456"
    assert configs["retention.ms"]["isDefault"] is False
    assert configs["retention.ms"]["source"] == 1  # DYNAMIC_TOPIC_CONFIG
    assert configs["cleanup.policy"]["value"] == "delete"
    assert configs["cleanup.policy"]["source"] == 5  # DEFAULT_CONFIG
    assert out["retentionAfterAlter"] == "7777"
    assert out["brokerErrorCode"] == 0 and out["brokerConfigCount"] > 50

    by_ts = {o["partition"]: o["offset"] for o in out["offsetsByTimestamp"]}
    assert by_ts[0] == "5"  # first record at or after t0 + 4.5 s
    after = {o["partition"]: (o["low"], o["high"]) for o in out["offsetsAfterDeleteRecords"]}
    assert after[0] == ("3", "10")
    assert out["missingTopic"]["type"] == "UNKNOWN_TOPIC_OR_PARTITION"
    assert out["deleteMissingCause"]["type"] == "UNKNOWN_TOPIC_OR_PARTITION"


def test_group_commit_resume_and_group_admin(broker: Any, kafkajs: Any) -> None:
    out = kafkajs.run("group", broker, "js-group")
    first = sorted((m["partition"], int(m["offset"]), m["value"]) for m in out["first"])
    assert first == sorted((i % 2, i // 2, f"g{i}") for i in range(10))
    committed = {p["partition"]: p["offset"] for p in out["committed"][0]["partitions"]}
    assert committed == {0: "5", 1: "5"}
    group = out["groupsEmpty"]["groups"][0]
    assert (group["errorCode"], group["state"], group["protocolType"], group["members"]) == (
        0, "Empty", "consumer", [])
    # The second consumer resumes at the committed offsets: only the new records.
    second = sorted((m["partition"], int(m["offset"]), m["value"]) for m in out["second"])
    assert second == sorted((i % 2, i // 2, f"g{i}") for i in range(10, 16))
    assert {"groupId": "js-group-g", "protocolType": "consumer"} in out["listed"]["groups"]
    reset = {p["partition"]: p["offset"] for p in out["afterReset"][0]["partitions"]}
    # kafkajs's resetOffsets(earliest) commits -2 and lets the consumer resolve it.
    assert reset == {0: "-2", 1: "-2"}
    assert out["deleted"] == [{"groupId": "js-group-g", "errorCode": 0}]
    assert all(g["groupId"] != "js-group-g" for g in out["listedAfterDelete"]["groups"])


def test_two_members_split_partitions(broker: Any, kafkajs: Any) -> None:
    out = kafkajs.run("twoMembers", broker, "js-two")
    a, b = out["assignments"]
    assert a and b
    assert sorted(a + b) == [0, 1, 2, 3]
    assert out["describe"] == [{"state": "Stable", "protocol": "RoundRobinAssigner", "members": [
        {"clientId": "kpybroker-kafkajs-test", "clientHost": "/127.0.0.1"}] * 2}]
    assert out["deleteWhileActive"] == [{"groupId": "js-two-g", "errorCode": 68}]  # NON_EMPTY_GROUP
    assert out["deleteAfter"] == [{"groupId": "js-two-g", "errorCode": 0}]


def test_idempotent_producer_and_acks(broker: Any, kafkajs: Any) -> None:
    out = kafkajs.run("idempotent", broker, "js-idem")
    assert out["offsets"] == ["0", "2", "4", "6", "8"]
    assert out["acks1"] == "10"
    assert out["acks0"] == []  # no response for acks=0, and the connection goes on
    assert out["acksAfter0"] == "12"
    assert out["offsetsEnd"] == [{"partition": 0, "offset": "13", "high": "13", "low": "0"}]
    assert [v for _, v in out["consumed"]] == [
        *[x for i in range(5) for x in (f"i{i}", f"j{i}")], "a1", "a0", "a1b"]
    assert [o for o, _ in out["consumed"]] == [str(i) for i in range(13)]
    # The idempotent batches carry one producer id and consecutive sequences.
    idem = [h for _, h in _batches(broker, "js-idem-0") if h.producer_id >= 0]
    assert [(h.base_offset, h.base_sequence) for h in idem] == [(0, 0), (2, 2), (4, 4), (6, 6), (8, 8)]
    assert len({(h.producer_id, h.producer_epoch) for h in idem}) == 1


def test_connections_without_api_versions_and_in_order_answers(
        start_broker: Any, kafkajs: Any, recording_proxy: Any) -> None:
    """Through a recording proxy: kafkajs's broker connection opens with a request
    other than ApiVersions, and every connection gets its answers in request order."""
    proxy = recording_proxy()
    b = start_broker({"advertised.listeners": f"PLAINTEXT://127.0.0.1:{proxy.port}"})
    proxy.set_target(b)
    bootstrap = f"127.0.0.1:{proxy.port}"
    out = kafkajs.run("roundtrip", bootstrap, "js-proxy")
    assert len(out["consumed"]) == 32

    api_versions = ApiVersionsRequest.API_KEY
    conns = [c for c in proxy.connections if c.requests]
    assert any(c.requests[0][0] != api_versions for c in conns), [c.requests[:2] for c in conns]
    for c in conns:
        # The roundtrip scenario never uses acks=0: every request gets an answer,
        # except a long-polling fetch cut off when the consumer disconnects.
        expected = [cid for _key, _version, cid in c.requests]
        assert c.responses == expected[: len(c.responses)]
        assert len(c.responses) >= len(expected) - 1


def test_transactions_commit_abort_and_send_offsets(broker: Any, kafkajs: Any) -> None:
    out = kafkajs.run("transactions", broker, "js-txn")
    # c1 c2 | commit marker | aborted | abort marker | c3 | commit marker
    assert out["offsets"] == [{"partition": 0, "offset": "7", "high": "7", "low": "0"}]
    assert out["txnOffsets"][0]["partitions"] == [{"partition": 0, "offset": "2", "metadata": None}]
    # kafkajs reads read_committed: the aborted record and the markers are skipped.
    assert out["committed"] == [["0", "c1"], ["1", "c2"], ["5", "c3"]]
    control = [h for _, h in _batches(broker, "js-txn-0") if h.is_control]
    assert [h.base_offset for h in control] == [2, 4, 6]
    assert all(h.is_transactional for _, h in _batches(broker, "js-txn-0"))


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_idempotent_producer_survives_broker_restart(broker_process: Any, kafkajs: Any, kill: bool) -> None:
    """A kafkajs idempotent producer keeps its producer id and sequence numbers
    across a restart of ``python -m kpybroker`` (clean, or killed: then recovery
    rebuilds the producer state from the log), so its next batch is accepted."""
    producer = kafkajs.start("stdinProducer", str(broker_process), "js-restart")
    try:
        producer.wait_event(lambda e: e["event"] == "ready")
        producer.send_line("one")
        first = producer.wait_event(lambda e: e.get("value") == "one")
        assert (first["event"], first["baseOffset"]) == ("sent", "0"), first
        if kill:
            broker_process.kill()
        broker_process.restart()
        producer.send_line("two")
        second = producer.wait_event(lambda e: e.get("value") == "two", timeout=40)
        assert (second["event"], second["baseOffset"]) == ("sent", "2"), second
    finally:
        producer.stop()
    batches = [h for _, h in _batches(broker_process, "js-restart-0")]
    assert [(h.base_offset, h.base_sequence) for h in batches] == [(0, 0), (2, 2)]
    assert batches[0].producer_id == batches[1].producer_id >= 0
    assert batches[0].producer_epoch == batches[1].producer_epoch


def test_producer_reconnects_after_idle_close(start_broker: Any, kafkajs: Any, recording_proxy: Any) -> None:
    """``connections.max.idle.ms``: the broker closes the producer's idle
    connections; kafkajs notices and sends its next batch on a new one."""
    proxy = recording_proxy()
    b = start_broker({"connections.max.idle.ms": "1000",
                      "advertised.listeners": f"PLAINTEXT://127.0.0.1:{proxy.port}"})
    proxy.set_target(b)
    producer = kafkajs.start("stdinProducer", f"127.0.0.1:{proxy.port}", "js-idle")
    producer.wait_event(lambda e: e["event"] == "ready")
    producer.send_line("one")
    assert producer.wait_event(lambda e: e.get("value") == "one")["baseOffset"] == "0"
    connections_before = len(proxy.connections)
    time.sleep(2.5)
    producer.send_line("two")
    second = producer.wait_event(lambda e: e.get("value") == "two")
    assert (second["event"], second["baseOffset"]) == ("sent", "2"), second
    assert len(proxy.connections) > connections_before
