"""Round trips of every generated message at every version, property-based.

Values are drawn from our schema data (``wire/schema``): only the fields a version
carries are set, so that decode(encode(x)) must equal x and re-encoding the
decoded message must give the same bytes.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wire.buffers import FileSlice, join
from wire.exceptions import ProtocolError

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT / "wire" / "schema"


def _load_generator():
    spec = importlib.util.spec_from_file_location("_generate_wire", ROOT / "tools" / "generate_wire.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


gen = _load_generator()

INT_RANGES = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
}


def all_messages() -> list[tuple[str, dict]]:
    out = []
    for p in sorted(SCHEMA_DIR.glob("*.json")):
        data = json.loads(p.read_text())
        for sch in data["messages"]:
            out.append((data["module"], sch))
    return out


MESSAGES = all_messages()


class ValueBuilder:
    """Hypothesis values for one message at one version, following the schema."""

    def __init__(self, module: str, sch: dict) -> None:
        self.pymod = importlib.import_module(f"wire.messages.{module}")
        self.msg = gen.MessageGen(gen.ModuleGen(module), sch)

    def cls_for(self, struct_name: str):
        return getattr(self.pymod, self.msg.classes[struct_name].pyname)

    def draw_struct(self, draw, vg, st_spec, depth: int = 0):
        kwargs = {}
        for fs in st_spec.fields:
            if not vg.present(fs):
                continue
            kwargs[fs.attr] = self.draw_field(draw, vg, fs, depth)
        if vg.msg_flex and draw(st.integers(0, 4)) == 0:
            known = {f.tag for f in st_spec.fields if f.tag is not None}
            tags = draw(st.dictionaries(st.integers(0, 300).filter(lambda t: t not in known),
                                        st.binary(max_size=6), max_size=2))
            kwargs["unknown_tagged_fields"] = tags or None
        return self.cls_for(st_spec.name)(**kwargs)

    def draw_field(self, draw, vg, fs, depth):
        nullable = vg.nullable(fs)
        if nullable and draw(st.integers(0, 5)) == 0:
            return None
        if fs.is_array:
            n = draw(st.integers(0, 3 if depth < 2 else 1))
            sub = gen.FieldSpec(fs.name, "x", fs.elem, fs.versions, None, None, None, fs.flexible, None,
                                fs.struct)
            return [self.draw_field(draw, vg, sub, depth + 1) for _ in range(n)]
        if fs.struct is not None:
            return self.draw_struct(draw, vg, fs.struct, depth + 1)
        t = fs.type
        if t in INT_RANGES:
            lo, hi = INT_RANGES[t]
            return draw(st.integers(lo, hi))
        if t == "bool":
            return draw(st.booleans())
        if t == "float64":
            return draw(st.floats(allow_nan=False))
        if t == "string":
            return draw(st.text(max_size=8))
        if t == "bytes":
            return draw(st.binary(max_size=8))
        if t == "records":
            return draw(st.binary(max_size=16))
        if t == "uuid":
            return uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))
        raise AssertionError(t)

    def draw(self, draw, version: int):
        src = self.msg.versions[version]
        vg = gen.VersionGen(self.msg, version, src)
        return self.draw_struct(draw, vg, self.msg.trees[src])


def check_round_trip(cls, value, version: int) -> bytes:
    data = join(value.encode(version))
    decoded, pos = cls.decode(memoryview(data), version)
    assert pos == len(data)
    assert decoded == value, (decoded, value)
    again = join(decoded.encode(version))
    assert again == data
    return data


@pytest.mark.parametrize(("module", "sch"), MESSAGES, ids=[s["name"] for _, s in MESSAGES])
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_round_trip_every_version(module: str, sch: dict, data) -> None:
    vb = ValueBuilder(module, sch)
    cls = vb.cls_for(sch["name"])
    for version in range(cls.MIN_VERSION, cls.MAX_VERSION + 1):
        value = data.draw(st.composite(lambda draw, v=version: vb.draw(draw, v))(), label=f"v{version}")
        check_round_trip(cls, value, version)


def test_every_api_has_request_and_response() -> None:
    from wire.messages import REQUESTS, RESPONSES

    assert set(REQUESTS) == set(RESPONSES)
    for key in (0, 1, 2, 3, 8, 9, 10, 11, 12, 14, 18, 19, 22):
        assert key in REQUESTS
    assert REQUESTS[0].MIN_VERSION == 0 and REQUESTS[0].MAX_VERSION >= 12
    assert REQUESTS[1].MIN_VERSION == 0 and REQUESTS[1].MAX_VERSION >= 17
    assert REQUESTS[3].MIN_VERSION == 0 and REQUESTS[3].MAX_VERSION == 13


def test_defaults_follow_kafka() -> None:
    from wire.messages.fetch import FetchRequest
    from wire.messages.metadata import MetadataRequest, MetadataResponse
    from wire.messages.produce import ProduceResponse

    r = FetchRequest()
    assert r.replica_id == -1 and r.max_bytes == 0x7FFFFFFF and r.isolation_level == 0
    assert r.session_epoch == -1 and r.topics == [] and r.rack_id == ""
    p = ProduceResponse.PartitionProduceResponse()
    assert p.log_append_time_ms == -1 and p.log_start_offset == -1 and p.error_message is None
    assert p.current_leader == ProduceResponse.LeaderIdAndEpoch(leader_id=-1, leader_epoch=-1)
    assert p.current_leader is not ProduceResponse.PartitionProduceResponse().current_leader
    assert MetadataRequest().topics == []
    assert MetadataResponse.MetadataResponseTopic().topic_id == uuid.UUID(int=0)
    assert MetadataResponse().cluster_authorized_operations == -(2**31)


def test_unknown_tagged_fields_survive_round_trip() -> None:
    from wire.messages.metadata import MetadataResponse

    m = MetadataResponse(
        brokers=[MetadataResponse.MetadataResponseBroker(node_id=1, host="h", port=9092,
                                                         unknown_tagged_fields={7: b"\x01\x02"})],
        unknown_tagged_fields={0: b"", 99: b"xyz"},
    )
    data = check_round_trip(MetadataResponse, m, 12)
    # the top-level tag section is last: 2 tags, tag 0 empty, tag 99 with 3 bytes
    assert data.endswith(b"\x02\x00\x00\x63\x03xyz")


def test_known_tagged_field_written_only_when_not_default() -> None:
    from wire.messages.fetch import FetchRequest

    base = join(FetchRequest().encode(12))
    with_rack = join(FetchRequest(cluster_id="c").encode(12))
    assert len(with_rack) > len(base)
    d, _ = FetchRequest.decode(memoryview(with_rack), 12)
    assert d.cluster_id == "c"
    assert FetchRequest.decode(memoryview(base), 12)[0].cluster_id is None


def test_records_by_reference(tmp_path: Path) -> None:
    from wire.messages.fetch import FetchResponse

    big = bytes(range(256)) * 20  # 5120 bytes: goes out by reference
    small = b"s" * 10
    f = open(tmp_path / "seg", "w+b")
    f.write(b"0123456789" * 10)
    f.flush()
    fs = FileSlice(f, 5, 20)
    part = FetchResponse.PartitionData
    resp = FetchResponse(responses=[FetchResponse.FetchableTopicResponse(topic="t", partitions=[
        part(partition_index=0, records=big),
        part(partition_index=1, records=[small, fs, small]),
        part(partition_index=2, records=None),
    ])])
    for version in (4, 11, 12, 16):
        bufs = resp.encode(version)
        assert any(b is big for b in bufs)
        assert any(b is fs for b in bufs)
        assert not any(isinstance(b, FileSlice) and b is not fs for b in bufs)
        data = join(bufs)
        d, pos = FetchResponse.decode(memoryview(data), version)
        assert pos == len(data)
        recs = [p.records for p in d.responses[0].partitions]
        assert isinstance(recs[0], memoryview) and recs[0] == big
        assert bytes(recs[1]) == small + b"5678901234567890123" + b"4" + small
        assert recs[2] is None
    f.close()


def test_decode_returns_views_into_the_frame() -> None:
    from wire.messages.produce import ProduceRequest

    payload = b"R" * 100
    req = ProduceRequest(acks=1, timeout_ms=5, topic_data=[ProduceRequest.TopicProduceData(
        name="t", partition_data=[ProduceRequest.PartitionProduceData(index=0, records=payload)])])
    frame = bytearray(join(req.encode(9)))
    d, _ = ProduceRequest.decode(memoryview(frame), 9)
    rec = d.topic_data[0].partition_data[0].records
    assert isinstance(rec, memoryview)
    frame[frame.index(payload)] = ord("X")  # a view, not a copy: the change shows through
    assert rec[0] == ord("X")


@pytest.mark.parametrize("version", [3, 8, 9, 12])
def test_every_truncation_raises_protocol_error(version: int) -> None:
    from wire.messages.produce import ProduceRequest

    req = ProduceRequest(transactional_id="tx", acks=-1, timeout_ms=5, topic_data=[
        ProduceRequest.TopicProduceData(name="topic", partition_data=[
            ProduceRequest.PartitionProduceData(index=3, records=b"abcdef")])])
    data = join(req.encode(version))
    for cut in range(len(data)):
        with pytest.raises(ProtocolError):
            ProduceRequest.decode(memoryview(data[:cut]), version)


def test_huge_counts_rejected_before_allocation() -> None:
    from wire.messages.metadata import MetadataRequest

    # v4: int32 array count claiming 2**31-1 topics in a 4-byte body
    with pytest.raises(ProtocolError):
        MetadataRequest.decode(memoryview(b"\x7f\xff\xff\xff"), 4)
    # v12: compact array count as a varint
    with pytest.raises(ProtocolError):
        MetadataRequest.decode(memoryview(b"\xff\xff\xff\xff\x07"), 12)
    # string length larger than what follows
    with pytest.raises(ProtocolError):
        MetadataRequest.decode(memoryview(b"\x00\x00\x00\x01\x7f\xff"), 4)


def test_null_in_non_nullable_field_is_an_error() -> None:
    from wire.messages.find_coordinator import FindCoordinatorRequest

    with pytest.raises(ProtocolError):
        FindCoordinatorRequest.decode(memoryview(b"\xff\xff"), 0)


@pytest.mark.parametrize(("module", "sch"), MESSAGES, ids=[s["name"] for _, s in MESSAGES])
def test_default_values_encode_at_every_version(module: str, sch: dict) -> None:
    # handlers build responses from defaults and fill in a few fields: a default
    # element anywhere must be writable at every version the message has
    vb = ValueBuilder(module, sch)
    cls = vb.cls_for(sch["name"])

    def fill(st_spec, depth=0):
        kwargs = {}
        for fs in st_spec.fields:
            if fs.is_array and fs.struct is not None and depth < 3:
                kwargs[fs.attr] = [fill(fs.struct, depth + 1)]
        return vb.cls_for(st_spec.name)(**kwargs)

    for version in range(cls.MIN_VERSION, cls.MAX_VERSION + 1):
        value = fill(vb.msg.trees[vb.msg.versions[version]])
        data = join(value.encode(version))
        decoded, pos = cls.decode(memoryview(data), version)
        assert pos == len(data)
        assert join(decoded.encode(version)) == data
