"""Request frames captured from kafka-python, librdkafka and aiokafka, replayed
byte for byte against the broker: the first requests every client sends
(ApiVersions, Metadata) must be answered with no error."""

from __future__ import annotations

from pathlib import Path

import pytest

from wire.protocol import decode_request, decode_response

FRAMES = Path(__file__).resolve().parents[1] / "fixtures" / "frames"
FILES = sorted(p for p in FRAMES.glob("*/*.bin")
               if p.stem.startswith(("api_versions_", "metadata_")) and not p.stem.endswith("_response"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_replayed_client_frame_is_answered(broker, raw_client, path):
    data = path.read_bytes()
    header, request = decode_request(memoryview(data)[4:])
    client = raw_client(broker)
    client.send_bytes(data)
    correlation_id, response = decode_response(header.request_api_key, header.request_api_version,
                                               client.receive_frame())
    assert correlation_id == header.correlation_id
    if hasattr(response, "error_code"):
        assert response.error_code == 0
    if path.stem.startswith("api_versions_"):
        assert any(k.api_key == 3 for k in response.api_keys)
    else:
        assert response.brokers[0].port == broker.port
        for topic in response.topics:  # captured topic names get auto-created
            assert topic.error_code in (0, 5)


def test_there_are_frames_from_each_client():
    assert {p.parent.name for p in FILES} >= {"kafka-python", "confluent-kafka", "aiokafka"}
