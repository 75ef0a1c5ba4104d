"""ACLs, SCRAM credentials, leader election, reassignments and
DescribeTopicPartitions driven by stock clients: confluent-kafka's AdminClient
(librdkafka) and kafka-python's KafkaAdminClient, against the threaded
``broker`` fixture of tests/conftest.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from wire.errors import ErrorCode

TIMEOUT = 15


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000})


def failure_code(future: Any) -> int:
    with pytest.raises(KafkaException) as info:
        future.result(timeout=TIMEOUT)
    return info.value.args[0].code()


def create_topic(a: AdminClient, name: str, partitions: int = 1) -> None:
    a.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=TIMEOUT)


def test_confluent_acls_security_disabled(broker: Any) -> None:
    a = admin(broker)
    acl_filter = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                  AclOperation.ANY, AclPermissionType.ANY)
    # librdkafka drops DescribeAcls' top-level error code (as it does against
    # Kafka without an authorizer): the listing is simply empty.
    assert a.describe_acls(acl_filter).result(timeout=TIMEOUT) == []
    binding = AclBinding(ResourceType.TOPIC, "t", ResourcePatternType.LITERAL, "User:alice", "*",
                         AclOperation.READ, AclPermissionType.ALLOW)
    [created] = a.create_acls([binding]).values()
    assert failure_code(created) == ErrorCode.SECURITY_DISABLED
    [deleted] = a.delete_acls([acl_filter]).values()
    assert failure_code(deleted) == ErrorCode.SECURITY_DISABLED


def test_confluent_scram_credentials(broker: Any) -> None:
    a = admin(broker)
    missing = a.describe_user_scram_credentials(["nobody"])
    assert failure_code(missing["nobody"]) == ErrorCode.RESOURCE_NOT_FOUND
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192)
    upsert = UserScramCredentialUpsertion("alice", info, b"password", b"salt")
    for f in a.alter_user_scram_credentials([upsert]).values():
        f.result(timeout=TIMEOUT)
    described = a.describe_user_scram_credentials(["alice"])["alice"].result(timeout=TIMEOUT)
    [cred] = described.scram_credential_infos
    assert (cred.mechanism, cred.iterations) == (ScramMechanism.SCRAM_SHA_256, 8192)
    everyone = a.describe_user_scram_credentials().result(timeout=TIMEOUT)
    assert set(everyone) == {"alice"}
    low = UserScramCredentialUpsertion("bob", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 100),
                                       b"pw", b"salt")
    assert failure_code(a.alter_user_scram_credentials([low])["bob"]) == ErrorCode.UNACCEPTABLE_CREDENTIAL
    delete = UserScramCredentialDeletion("alice", ScramMechanism.SCRAM_SHA_256)
    a.alter_user_scram_credentials([delete])["alice"].result(timeout=TIMEOUT)
    assert failure_code(a.describe_user_scram_credentials(["alice"])["alice"]) == ErrorCode.RESOURCE_NOT_FOUND


def test_confluent_elect_leaders(broker: Any) -> None:
    from confluent_kafka import ElectionType, TopicPartition

    a = admin(broker)
    create_topic(a, "el", 2)
    result = a.elect_leaders(ElectionType.PREFERRED, [TopicPartition("el", 0), TopicPartition("el", 1)])
    outcome = result.result(timeout=TIMEOUT)
    codes = {(tp.topic, tp.partition): (tp.error.code() if tp.error else 0) for tp in outcome}
    assert codes == {("el", 0): ErrorCode.ELECTION_NOT_NEEDED, ("el", 1): ErrorCode.ELECTION_NOT_NEEDED}


def test_kafka_python_misc_admin(broker: Any) -> None:
    kafka_admin = pytest.importorskip("kafka.admin")
    from kafka import TopicPartition
    from kafka.admin import ACLFilter, ACLOperation, ACLPermissionType, ResourcePatternFilter
    from kafka.admin import ResourceType as KResourceType
    from kafka.errors import (
        InvalidReplicationAssignmentError,
        NoReassignmentInProgressError,
        SecurityDisabledError,
    )

    client = kafka_admin.KafkaAdminClient(bootstrap_servers=str(broker), request_timeout_ms=10000)
    try:
        client.create_topics({"kpm": {"num_partitions": 3, "replication_factor": 1}})
        acl_filter = ACLFilter(principal=None, host="*", operation=ACLOperation.ANY,
                               permission_type=ACLPermissionType.ANY,
                               resource_pattern=ResourcePatternFilter(KResourceType.TOPIC, "kpm",
                                                                      kafka_admin.ACLResourcePatternType.LITERAL))
        with pytest.raises(SecurityDisabledError):
            client.describe_acls(acl_filter)

        assert client.list_partition_reassignments() == {}

        elected = client.elect_leaders(0, {"kpm": [0, 1, 2]}, raise_errors=False)
        codes = {(r.topic, p.partition_id): p.error_code
                 for r in elected.replica_election_results for p in r.partition_result}
        assert codes == {("kpm", i): ErrorCode.ELECTION_NOT_NEEDED for i in range(3)}

        described = client.describe_topic_partitions(["kpm"], response_partition_limit=2)
        [topic] = described["topics"]
        assert topic["name"] == "kpm" and topic["error_code"] == 0
        assert [p["partition_index"] for p in topic["partitions"]] == [0, 1]
        assert all(p["leader_id"] == broker.broker.broker_id for p in topic["partitions"])
        assert described["next_cursor"] == {"topic_name": "kpm", "partition_index": 2}

        me = broker.broker.broker_id
        outcome = client.alter_partition_reassignments(
            {TopicPartition("kpm", 0): [me], TopicPartition("kpm", 1): None,
             TopicPartition("kpm", 2): [me + 7]})
        assert outcome[TopicPartition("kpm", 0)] is None
        assert outcome[TopicPartition("kpm", 1)] is NoReassignmentInProgressError
        assert outcome[TopicPartition("kpm", 2)] is InvalidReplicationAssignmentError

        scram = client.describe_user_scram_credentials(["ghost"])
        assert scram["ghost"]["error"] is not None and scram["ghost"]["credential_infos"] == []
    finally:
        client.close()
