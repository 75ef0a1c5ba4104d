"""Well-formed requests with odd field values, against a live broker.

The decoder fuzz tests (tests/wire) prove that bad bytes only ever raise
``ProtocolError``. This one goes past the decoder: every API the broker
advertises, at every version it serves, with fields drawn from the message
schemas wire ships (null where the schema allows it, boundary integers, empty and
illegal names, unknown ids, corrupt record batches, ids harvested from earlier
answers so that later requests reach members, producers and epochs that exist).
Kafka answers such requests with error codes; so must we: no handler may fail
(a logged traceback or UNKNOWN_SERVER_ERROR), no request may go unanswered, and
the connection is closed only where Kafka closes it.
"""

from __future__ import annotations

import json
import logging
import random
import re
import socket
import time
import typing
import uuid
from importlib import resources
from typing import Any

import pytest

from wire import protocol
from wire.messages.api_versions import ApiVersionsRequest
from wire.records import SimpleRecord, build_batch

PRODUCE, CONTROLLED_SHUTDOWN, CREATE_DELEGATION_TOKEN = 0, 7, 38
INTS = {
    "int8": [0, 1, -1, 2, 3, 127, -128],
    "int16": [0, 1, -1, 2, 3, 32767, -32768],
    "uint16": [0, 1, 65535],
    "int32": [0, 1, -1, -2, 2, 3, 100, 1000, 2**31 - 1, -(2**31)],
    "uint32": [0, 1, 2**32 - 1],
    "int64": [0, 1, -1, -2, -3, 10, 1_700_000_000_000, 2**63 - 1, -(2**63)],
}
SCALARS = set(INTS) | {"string", "uuid", "bool", "bytes", "records", "float64"}
# Subscription v0 and v1 and Assignment v0 of the consumer protocol, and a torn one.
CONSUMER_BYTES = [
    b"\x00\x00\x00\x00\x00\x01\x00\x02fz\xff\xff\xff\xff",
    b"\x00\x01\x00\x00\x00\x01\x00\x02fz\xff\xff\xff\xff\x00\x00\x00\x01\x00\x02fz\x00\x00\x00\x01\x00\x00\x00\x00",
    b"\x00\x00\x00\x00\x00\x01\x00\x02fz\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x01\xff\xff\xff\xff",
    b"\x00\x05\x00",
]


def _snake(name: str) -> str:
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


def _in_versions(spec: str | None, version: int) -> bool:
    if spec is None or spec == "none":
        return False
    if spec.endswith("+"):
        return version >= int(spec[:-1])
    lo, _, hi = spec.partition("-")
    return int(lo) <= version <= int(hi or lo)


def _request_schemas() -> dict[int, dict[str, Any]]:
    out = {}
    for path in resources.files("wire").joinpath("schema").iterdir():
        if path.name.endswith(".json"):
            for m in json.loads(path.read_text())["messages"]:
                if m["type"] == "request":
                    out[m["apiKey"]] = m
    return out


class _Generator:
    """Random requests built from the schema, biased towards names and ids that exist."""

    def __init__(self, seed: int, topic_ids: list[uuid.UUID]) -> None:
        self.rnd = random.Random(seed)
        self.topic_ids = [uuid.UUID(int=0), uuid.UUID(int=12345), *topic_ids]
        self.seen: dict[str, set[Any]] = {"member_id": set(), "producer_id": set(),
                                           "epoch": set(), "generation": set()}

    def harvest(self, obj: Any) -> None:
        if isinstance(obj, list):
            for item in obj:
                self.harvest(item)
            return
        for name in getattr(obj, "_FIELDS", ()):
            value = getattr(obj, name)
            if isinstance(value, list) or hasattr(value, "_FIELDS"):
                self.harvest(value)
            elif name == "member_id" and isinstance(value, str) and value:
                self.seen["member_id"].add(value)
            elif name == "producer_id" and isinstance(value, int) and value >= 0:
                self.seen["producer_id"].add(value)
            elif "epoch" in name and isinstance(value, int) and 0 <= value < 32767:
                self.seen["epoch"].add(value)
            elif "generation" in name and isinstance(value, int) and value >= 0:
                self.seen["generation"].add(value)

    def _seen(self, kind: str, default: Any) -> Any:
        values = self.seen[kind]
        if values and self.rnd.random() < 0.6:
            return self.rnd.choice(sorted(values, key=str))
        return default

    def _batch(self) -> bytes:
        rnd = self.rnd
        records = [SimpleRecord(value=b"v" * rnd.choice([0, 1, 10]), key=rnd.choice([None, b"k"]),
                                timestamp=rnd.choice([-1, 0, int(time.time() * 1000), 2**62]))
                   for _ in range(rnd.choice([1, 2, 3]))]
        data = bytearray(build_batch(records))
        r = rnd.random()
        if r < 0.2:
            data[rnd.randrange(len(data))] ^= 0xFF
        elif r < 0.3:
            del data[rnd.randrange(len(data)):]
        return bytes(data)

    def scalar(self, type_: str, name: str, nullable: bool) -> Any:
        rnd = self.rnd
        if nullable and rnd.random() < 0.15:
            return None
        if type_ in INTS:
            if name == "producer_id":
                return self._seen("producer_id", rnd.choice(INTS[type_]))
            if "epoch" in name and type_ != "int16":
                return self._seen("epoch", rnd.choice(INTS[type_]))
            if "generation" in name:
                return self._seen("generation", rnd.choice(INTS[type_]))
            if name in ("count", "num_partitions") or "partition" in name and rnd.random() < 0.6:
                return rnd.choice([0, 1, -1, 2, 99])
            return rnd.choice(INTS[type_])
        if type_ == "float64":
            return rnd.choice([0.0, -1.0, 1e308, float("nan")])
        if type_ == "bool":
            return rnd.random() < 0.5
        if type_ == "string":
            if name in ("member_id", "leader", "member_id_to_remove"):
                return self._seen("member_id", rnd.choice(["", "m1"]))
            if name == "protocol_type":
                return rnd.choice(["consumer", "connect", "", "x"])
            if "topic" in name or name == "name":
                return rnd.choice(["fz", "fz2", "", "__consumer_offsets", "no-such", "bad/name", "x" * 300])
            if "group" in name:
                return rnd.choice(["g1", "", "g2"])
            if "transactional" in name:
                return rnd.choice(["t1", ""])
            return rnd.choice(["", "a", "x" * 100, "\u00e9\u4e2d", "range", "uniform", "-1"])
        if type_ == "uuid":
            return rnd.choice(self.topic_ids)
        if type_ == "bytes":
            if name in ("metadata", "assignment") and rnd.random() < 0.5:
                return rnd.choice(CONSUMER_BYTES)
            return rnd.choice([b"", b"\x00\x01", bytes(rnd.randrange(256) for _ in range(20))])
        if type_ == "records":
            return self._batch()
        raise KeyError(type_)

    def build(self, cls: type, fields: list[dict[str, Any]], version: int,
              common: dict[str, list[dict[str, Any]]]) -> Any:
        hints = typing.get_type_hints(cls.__init__, globalns=vars(__import__(cls.__module__, fromlist=["x"])))
        kwargs: dict[str, Any] = {}
        for f in fields:
            if not _in_versions(f.get("versions"), version):
                continue
            name = _snake(f["name"])
            if name not in hints:
                continue
            type_ = f["type"]
            nullable = _in_versions(f.get("nullableVersions"), version)
            if type_.startswith("[]"):
                if nullable and self.rnd.random() < 0.1:
                    kwargs[name] = None
                    continue
                n = self.rnd.choice([0, 1, 1, 1, 2, 3])
                inner = type_[2:]
                if inner in SCALARS:
                    kwargs[name] = [self.scalar(inner, name, False) for _ in range(n)]
                else:
                    sub_cls = _struct_class(hints[name])
                    kwargs[name] = [self.build(sub_cls, f.get("fields") or common[inner], version, common)
                                    for _ in range(n)]
            elif type_ in SCALARS:
                kwargs[name] = self.scalar(type_, name, nullable)
            elif nullable and self.rnd.random() < 0.2:
                kwargs[name] = None
            else:
                sub_cls = _struct_class(hints[name])
                kwargs[name] = self.build(sub_cls, f.get("fields") or common[type_], version, common)
        return cls(**kwargs)


def _struct_class(hint: Any) -> type:
    if isinstance(hint, type):
        return hint
    for arg in typing.get_args(hint):
        found = _struct_class(arg) if not isinstance(arg, type) else arg
        if isinstance(found, type) and found is not type(None):
            return found
    raise LookupError(hint)


def _unknown_server_errors(obj: Any, path: str = "response") -> list[str]:
    if isinstance(obj, list):
        return [p for i, item in enumerate(obj) for p in _unknown_server_errors(item, f"{path}[{i}]")]
    found = []
    for name in getattr(obj, "_FIELDS", ()):
        value = getattr(obj, name)
        if name == "error_code" and value == -1:
            found.append(path)
        else:
            found += _unknown_server_errors(value, f"{path}.{name}")
    return found


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_odd_but_well_formed_requests_get_kafka_answers(broker, raw_client, seed):
    broker.call(broker.broker.create_topic, "fz", 2, 1, {})
    broker.call(broker.broker.create_topic, "fz2", 1, 1, {})
    topic_ids = [broker.broker.metadata.get_topic(t).topic_id for t in ("fz", "fz2")]
    errors = _Errors()
    logging.getLogger("kpybroker").addHandler(errors)
    try:
        probe = raw_client(broker)
        hello = ApiVersionsRequest(client_software_name="fuzz", client_software_version="1")
        served = {k.api_key: (k.min_version, k.max_version) for k in probe.request(hello, 3).api_keys}
        schemas = _request_schemas()
        keys = sorted(k for k in served if k in schemas and k != CONTROLLED_SHUTDOWN)
        gen = _Generator(seed, topic_ids)
        problems: list[str] = []
        for _ in range(600):
            key = gen.rnd.choice(keys)
            version = gen.rnd.randint(*served[key])
            schema = schemas[key]
            definition = schema["definitions"][schema["versions"][str(version)]]
            common = {c["name"]: c["fields"] for c in definition.get("commonStructs", [])}
            request = gen.build(protocol.REQUESTS[key], definition["fields"], version, common)
            for attr in ("max_wait_ms", "timeout_ms", "rebalance_timeout_ms", "session_timeout_ms"):
                # Long waits are Kafka's answer too; keep the run short.
                if getattr(request, attr, 0) > 1000:
                    setattr(request, attr, 1000)
            client = raw_client(broker)
            try:
                if key == PRODUCE and version >= 3 and request.acks == 0:
                    client.send(request, version)
                    continue
                response = client.request(request, version)
            except (ConnectionError, OSError) as exc:
                # Kafka 4 closes the connection for Produce v0-v2, and after a failed
                # acks=0 produce (there is no response to carry the error).
                closed_by_kafka = key == PRODUCE and version < 3
                if isinstance(exc, socket.timeout) or not closed_by_kafka:
                    problems.append(f"{type(exc).__name__} for {request!r:.300} v{version}")
                continue
            finally:
                client.close()
            gen.harvest(response)
            failed = _unknown_server_errors(response)
            # An owner name without a principal type: Kafka's own answer is
            # UNKNOWN_SERVER_ERROR (it cannot build the principal).
            kafka_fails_too = key == CREATE_DELEGATION_TOKEN and request.owner_principal_type is None \
                and request.owner_principal_name
            if failed and not kafka_fails_too:
                problems.append(f"UNKNOWN_SERVER_ERROR at {failed[:2]} for {request!r:.300} v{version}")
        assert probe.request(hello, 3).error_code == 0
    finally:
        logging.getLogger("kpybroker").removeHandler(errors)
    logged = [f"{r.getMessage()}: {r.exc_info[1]!r}" if r.exc_info else r.getMessage() for r in errors.records]
    assert not problems and not logged, (problems[:5], logged[:5])
