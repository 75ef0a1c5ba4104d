"""The command line as an operator meets it: startup line, readable errors, clean
shutdown on SIGTERM/SIGINT, restarts that keep topics and topic ids."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import uuid

import pytest

from tests.conftest import ROOT, kpybroker_command, launch_broker_process


def _run(args: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kpybroker", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=str(ROOT))


def _one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("kpybroker: error:")]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize("override, key", [
    ("num.partitions=abc", "num.partitions"),
    ("num.partitions=0", "num.partitions"),
    ("auto.create.topics.enable=maybe", "auto.create.topics.enable"),
    ("listeners=localhost:9092", "listeners"),
    ("log.message.timestamp.type=Whenever", "log.message.timestamp.type"),
])
def test_bad_config_value_is_one_readable_line(override, key, tmp_path):
    result = _run(["--override", override, "--override", f"log.dirs={tmp_path}"])
    assert result.returncode != 0
    assert key in _one_error_line(result.stderr)


def test_override_without_equals_sign(tmp_path):
    result = _run(["--override", "num.partitions"])
    assert result.returncode != 0
    assert "key=value" in _one_error_line(result.stderr)


def test_missing_config_file():
    result = _run(["/nonexistent/server.properties"])
    assert result.returncode != 0
    assert "/nonexistent/server.properties" in _one_error_line(result.stderr)


def test_unwritable_data_dir(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = _run(["--override", "listeners=PLAINTEXT://127.0.0.1:0", "--override", f"log.dirs={blocker}/data"])
    assert result.returncode != 0
    assert str(blocker) in _one_error_line(result.stderr)


def test_port_in_use(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = _run(["--override", f"listeners=PLAINTEXT://127.0.0.1:{port}", "--override",
                       f"log.dirs={tmp_path}"])
    assert result.returncode != 0
    line = _one_error_line(result.stderr)
    assert "already in use" in line and str(port) in line


def test_unknown_key_warns_and_starts(tmp_path):
    handle = launch_broker_process({"no.such.setting": "1"}, str(tmp_path / "d"), str(tmp_path / "err"))
    try:
        assert handle.stop() == 0
        assert "no.such.setting" in handle.stderr_text()
    finally:
        handle.stop(signal.SIGKILL)


def test_startup_line_and_shipped_config(tmp_path):
    handle = launch_broker_process({}, str(tmp_path / "d"), str(tmp_path / "err"),
                                   config_file=str(ROOT / "config" / "server.properties"))
    try:
        assert "listeners=PLAINTEXT://127.0.0.1:" in handle.startup_line
        assert str(tmp_path / "d") in handle.startup_line
    finally:
        assert handle.stop() == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_shuts_down_cleanly(broker_process, sig):
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": broker_process})
    md = admin.list_topics(timeout=10)
    assert md.brokers
    if hasattr(admin, "create_topics"):
        fs = admin.create_topics([NewTopic("kept", num_partitions=2, replication_factor=1)])
        try:
            fs["kept"].result(timeout=10)
        except Exception:  # noqa: BLE001 - CreateTopics belongs to another handler
            pass
    assert broker_process.stop(sig) == 0
    assert os.path.exists(os.path.join(broker_process.data_dir, ".kafka_cleanshutdown"))
    assert "Traceback" not in broker_process.stderr_text()


def test_restart_keeps_topics_and_topic_ids(broker_process, raw_client):
    from wire.messages.metadata import MetadataRequest

    client = raw_client(broker_process)
    req = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name="survivor")])
    client.request(req, 12)  # auto-creates
    [before] = client.request(req, 12).topics
    assert before.error_code == 0 and before.topic_id != uuid.UUID(int=0)
    cluster_id = client.request(req, 12).cluster_id
    client.close()

    again = broker_process.restart()
    client = raw_client(again)
    resp = client.request(MetadataRequest(topics=None), 12)
    [after] = resp.topics
    assert (after.name, after.topic_id, len(after.partitions)) == ("survivor", before.topic_id, 1)
    assert resp.cluster_id == cluster_id
    # The id is also in the partition dir, in Kafka's base64 form.
    with open(os.path.join(again.data_dir, "survivor-0", "partition.metadata")) as f:
        meta = f.read()
    assert f"topic_id: {base64.urlsafe_b64encode(before.topic_id.bytes).decode().rstrip('=')}" in meta
    assert again.stop() == 0


def test_command_line_help():
    result = subprocess.run(kpybroker_command({}) + ["--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert "--override" in result.stdout
