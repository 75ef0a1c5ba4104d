"""Random and mutated request frames: decoding fails only with ``ProtocolError``.

Mutations start from the golden frames captured from real clients, so they reach
deep into every decoder rather than failing on the first header byte.
"""

from __future__ import annotations

import struct
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wire import protocol
from wire.exceptions import ProtocolError

FRAMES = Path(__file__).resolve().parents[1] / "fixtures" / "frames"
SEEDS = [p.read_bytes()[4:] for p in sorted(FRAMES.glob("*/*.bin")) if not p.stem.endswith("_response")]


def _decode(frame: bytes) -> None:
    try:
        protocol.decode_request(memoryview(frame))
    except ProtocolError:
        pass


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "cut", "insert", "count"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[i] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0xFF]))
        elif kind == "cut":
            del data[i:]
        elif kind == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=4))
        else:
            # a huge length or count where one is likely
            if i + 4 <= len(data):
                data[i : i + 4] = struct.pack(">i", draw(st.sampled_from([2**31 - 1, -2, 65536])))
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(frame=mutated())
def test_mutated_frames_raise_only_protocol_error(frame: bytes) -> None:
    _decode(frame)


@settings(max_examples=150, deadline=None)
@given(key=st.sampled_from(sorted(protocol.REQUESTS)), version=st.integers(0, 20),
       body=st.binary(max_size=64))
def test_random_bodies_raise_only_protocol_error(key: int, version: int, body: bytes) -> None:
    header = struct.pack(">hhi", key, version, 1) + b"\x00\x01c"
    _decode(header + body)
    _decode(header + b"\x00" + body)
