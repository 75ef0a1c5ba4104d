#!/usr/bin/env python3
"""Wire codec throughput: ours next to kio and kafka-python on the same work.

Prints ops/s for three server-side jobs:

* decode a ProduceRequest v9 frame carrying 16 x 64 KiB record sets;
* Metadata v12: decode the request and encode a response with a handful of topics;
* encode a FetchResponse v12 carrying 16 x 64 KiB record sets as a buffer list.

Targets for ours on a 2-core machine: 45k, 60k and 35k ops/s.
Run: ``.venv/bin/python bench/wire_bench.py [--seconds 1.0]``.
"""

from __future__ import annotations

import argparse
import io
import struct
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wire import protocol  # noqa: E402
from wire.buffers import join  # noqa: E402
from wire.messages.fetch import FetchResponse  # noqa: E402
from wire.messages.headers import RequestHeader  # noqa: E402
from wire.messages.metadata import MetadataRequest, MetadataResponse  # noqa: E402
from wire.messages.produce import ProduceRequest  # noqa: E402

PAYLOAD = bytes(range(256)) * 256  # 64 KiB
PARTS = 16
TOPICS = [f"topic-{i}" for i in range(5)]
MD_PARTITIONS = 1  # per topic in the Metadata response; --md-partitions changes it
TARGETS = {"produce_decode": 45_000, "metadata_server": 60_000, "fetch_encode": 35_000}


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Best rate over short rounds, in operations per second of this process's CPU
    time: the machine is shared, and waiting for a core is not codec cost."""
    fn()
    best = 0.0
    rounds = 10
    for _ in range(rounds):
        n = 0
        batch = 32
        start = time.process_time()
        end = start + seconds / rounds
        while True:
            for _ in range(batch):
                fn()
            n += batch
            now = time.process_time()
            if now >= end:
                break
        best = max(best, n / (now - start))
    return best


# ------------------------------------------------------------------ fixtures


def produce_request() -> ProduceRequest:
    return ProduceRequest(acks=-1, timeout_ms=30000, topic_data=[ProduceRequest.TopicProduceData(
        name="bench", partition_data=[ProduceRequest.PartitionProduceData(index=i, records=PAYLOAD)
                                      for i in range(PARTS)])])


def metadata_request() -> MetadataRequest:
    return MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=t) for t in TOPICS],
                           allow_auto_topic_creation=True)


def metadata_response() -> MetadataResponse:
    brokers = [MetadataResponse.MetadataResponseBroker(node_id=i, host="localhost", port=9092 + i)
               for i in range(3)]
    topics = []
    for t in TOPICS:
        parts = [MetadataResponse.MetadataResponsePartition(
            partition_index=p, leader_id=p % 3, leader_epoch=5, replica_nodes=[0, 1, 2],
            isr_nodes=[0, 1, 2], offline_replicas=[]) for p in range(MD_PARTITIONS)]
        topics.append(MetadataResponse.MetadataResponseTopic(
            name=t, topic_id=uuid.UUID(int=hash(t) & (2**128 - 1)), partitions=parts))
    return MetadataResponse(brokers=brokers, cluster_id="bench-cluster", controller_id=0, topics=topics)


def fetch_response() -> FetchResponse:
    parts = [FetchResponse.PartitionData(partition_index=i, high_watermark=1000, last_stable_offset=1000,
                                         log_start_offset=0, records=PAYLOAD) for i in range(PARTS)]
    return FetchResponse(responses=[FetchResponse.FetchableTopicResponse(topic="bench", partitions=parts)])


# ------------------------------------------------------------------ ours


def ours() -> dict[str, Callable[[], object]]:
    produce_frame = memoryview(join(protocol.encode_request(produce_request(), 9, 1, "bench")))[4:]
    md_frame = memoryview(join(protocol.encode_request(metadata_request(), 12, 2, "bench")))[4:]
    md_resp = metadata_response()
    fetch = fetch_response()
    fetch_header = RequestHeader(request_api_key=1, request_api_version=12, correlation_id=3, client_id="b")

    def metadata_server() -> object:
        header, _ = protocol.decode_request(md_frame)
        return protocol.encode_response(header, md_resp)

    return {
        "produce_decode": lambda: protocol.decode_request(produce_frame),
        "metadata_server": metadata_server,
        "fetch_encode": lambda: protocol.encode_response(fetch_header, fetch),
    }


# ------------------------------------------------------------------ kio


def kio_jobs() -> dict[str, Callable[[], object]]:
    from kio.schema.fetch.v12.response import FetchResponse as KFetch
    from kio.schema.metadata.v12.request import MetadataRequest as KMdReq
    from kio.schema.metadata.v12.response import MetadataResponse as KMdResp
    from kio.schema.produce.v9.request import ProduceRequest as KProduce
    from kio.schema.request_header.v2.header import RequestHeader as KReqHeader
    from kio.schema.response_header.v1.header import ResponseHeader as KRespHeader
    from kio.serial import entity_reader, entity_writer

    produce_frame = join(protocol.encode_request(produce_request(), 9, 1, "bench"))[4:]
    md_frame = join(protocol.encode_request(metadata_request(), 12, 2, "bench"))[4:]
    read_header = entity_reader(KReqHeader)
    read_produce = entity_reader(KProduce)
    read_md = entity_reader(KMdReq)
    md_bytes = join(metadata_response().encode(12))
    kmd_resp, _ = entity_reader(KMdResp)(md_bytes, 0)
    fetch_bytes = join(fetch_response().encode(12))
    kfetch, _ = entity_reader(KFetch)(fetch_bytes, 0)
    write_resp_header = entity_writer(KRespHeader)
    write_md = entity_writer(KMdResp)
    write_fetch = entity_writer(KFetch)

    def produce_decode() -> object:
        h, n = read_header(produce_frame, 0)
        return read_produce(produce_frame, n)

    def metadata_server() -> object:
        h, n = read_header(md_frame, 0)
        read_md(md_frame, n)
        out = io.BytesIO()
        out.write(b"\0\0\0\0")
        write_resp_header(out, KRespHeader(correlation_id=h.correlation_id))
        write_md(out, kmd_resp)
        return out.getvalue()

    def fetch_encode() -> object:
        out = io.BytesIO()
        out.write(b"\0\0\0\0")
        write_resp_header(out, KRespHeader(correlation_id=3))
        write_fetch(out, kfetch)
        return out.getvalue()

    return {"produce_decode": produce_decode, "metadata_server": metadata_server,
            "fetch_encode": fetch_encode}


# ------------------------------------------------------------------ kafka-python


def kafka_python_jobs() -> dict[str, Callable[[], object]]:
    from kafka.protocol.consumer.fetch import FetchResponse as KPFetch
    from kafka.protocol.metadata.metadata import MetadataRequest as KPMdReq
    from kafka.protocol.metadata.metadata import MetadataResponse as KPMdResp
    from kafka.protocol.producer.produce import ProduceRequest as KPProduce

    produce_frame = join(protocol.encode_request(produce_request(), 9, 1, "bench"))[4:]
    md_frame = join(protocol.encode_request(metadata_request(), 12, 2, "bench"))[4:]
    md_resp = KPMdResp.decode(join(metadata_response().encode(12)), version=12)
    fetch = KPFetch.decode(join(fetch_response().encode(12)), version=12)
    for obj in (md_resp, fetch):
        obj._header = None
        obj._min_version = obj._max_version = None

    # kafka-python is a client: it has no response-header writer, so the 4-byte
    # size and the header are packed by hand around its body encoder
    def metadata_server() -> object:
        req = KPMdReq.decode(md_frame, version=12, header=True)
        body = md_resp.encode(version=12)
        return struct.pack(">iib", len(body) + 5, req.header.correlation_id, 0) + body

    def fetch_encode() -> object:
        body = fetch.encode(version=12)
        return struct.pack(">iib", len(body) + 5, 3, 0) + body

    return {
        "produce_decode": lambda: KPProduce.decode(produce_frame, version=9, header=True),
        "metadata_server": metadata_server,
        "fetch_encode": fetch_encode,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    ap.add_argument("--md-partitions", type=int, default=MD_PARTITIONS,
                    help="partitions per topic in the Metadata response")
    args = ap.parse_args(argv)
    globals()["MD_PARTITIONS"] = args.md_partitions
    print(f"produce: 16 x 64 KiB; metadata: {len(TOPICS)} topics x {args.md_partitions} partitions,"
          f" 3 brokers; fetch: 16 x 64 KiB")
    impls = [("kpybroker", ours)]
    impls.append(("kio", kio_jobs))
    impls.append(("kafka-python", kafka_python_jobs))
    results: dict[str, dict[str, float]] = {}
    for name, make in impls:
        try:
            jobs = make()
        except Exception as exc:  # a library missing or changed: report, keep going
            print(f"{name}: unavailable ({type(exc).__name__}: {exc})")
            continue
        results[name] = {}
        for job, fn in jobs.items():
            try:
                results[name][job] = rate(fn, args.seconds)
            except Exception as exc:
                print(f"{name} {job}: failed ({type(exc).__name__}: {exc})")
    print(f"{'job':<18}{'target':>10}" + "".join(f"{n:>16}" for n in results))
    for job, target in TARGETS.items():
        row = f"{job:<18}{target:>10,}"
        for n in results:
            r = results[n].get(job)
            row += f"{r:>16,.0f}" if r is not None else f"{'-':>16}"
        print(row + "   ops/s (per CPU second, best of 10 rounds)")
    ours_r = results.get("kpybroker", {})
    for job, target in TARGETS.items():
        r = ours_r.get(job, 0.0)
        print(f"{job}: {'meets' if r >= target else 'below'} target ({r:,.0f} vs {target:,} ops/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
