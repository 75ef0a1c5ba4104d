"""Differences from Apache Kafka found by running kafka-python's own integration
suite (test/integration of dpkp/kafka-python 3.0.11) against kpybroker, each
reproduced here with the stock kafka-python client over a real socket.

- kafka-python infers the broker's release from the ApiVersions answer; Kafka 4.1
  advertises DescribeLogDirs up to v4 and WriteTxnMarkers up to v1 (v5 and v2 came
  with 4.3 and 4.2), so a broker that offers more is taken for a newer Kafka.
- Since Kafka 4.0 (KAFKA-18405) ``advertised.listeners`` can no longer be changed
  dynamically, so DescribeConfigs reports it read-only.
"""

from __future__ import annotations

from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.protocol.broker_version_data import BROKER_API_VERSIONS

# The release whose API ranges kpybroker advertises (README: "4.1's ranges").
KAFKA_RELEASE = (4, 1)


def test_kafka_python_infers_kafka_4_1_from_api_versions(broker: Any) -> None:
    admin = KafkaAdminClient(bootstrap_servers=broker, api_version=None, request_timeout_ms=10000)
    try:
        bvd = admin._manager.broker_version_data
        # kafka-python's table of what a real Kafka 4.1 advertises, recorded from one.
        kafka_41 = BROKER_API_VERSIONS[KAFKA_RELEASE]
        newer = {key: (ours, kafka_41[key]) for key, ours in bvd.api_versions.items()
                 if key in kafka_41 and ours[1] > kafka_41[key][1]}
        assert newer == {}, f"max versions above Kafka 4.1's: {newer}"
        assert bvd.broker_version == KAFKA_RELEASE
    finally:
        admin.close()


def test_advertised_listeners_is_read_only(start_broker: Any) -> None:
    b = start_broker({"broker.id": "0", "advertised.listeners": "PLAINTEXT://127.0.0.1:0"})
    admin = KafkaAdminClient(bootstrap_servers=b, request_timeout_ms=10000)
    try:
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, 0)], config_filter="all")
        entry = configs["broker"]["0"]["advertised.listeners"]
        assert entry["config_source"] == "STATIC_BROKER_CONFIG"
        assert entry["read_only"] is True
        # listeners and the protocol map stay dynamic, as in Kafka 4.
        assert configs["broker"]["0"]["listeners"]["read_only"] is False
        assert configs["broker"]["0"]["listener.security.protocol.map"]["read_only"] is False
    finally:
        admin.close()
