"""Every Kafka protocol error code, under Kafka's names.

Codes, names and retriability follow Apache Kafka's ``Errors`` enum: a member is
``retriable`` when the Java client's exception for it is a ``RetriableException``,
which is what clients use to decide whether to retry on their own. ``message`` is
a short default text for responses that carry an error message.
"""

from __future__ import annotations

from enum import IntEnum

# name, code, retriable, default message
# fmt: off
_TABLE: tuple[tuple[str, int, bool, str], ...] = (
    ("UNKNOWN_SERVER_ERROR", -1, False, "The server hit an unexpected error while handling the request."),
    ("NONE", 0, False, ""),
    ("OFFSET_OUT_OF_RANGE", 1, False, "The requested offset lies outside the range the partition holds."),
    ("CORRUPT_MESSAGE", 2, True, "A record batch failed its CRC check, has an invalid size or is otherwise damaged."),
    ("UNKNOWN_TOPIC_OR_PARTITION", 3, True, "This server has no such topic or partition."),
    ("INVALID_FETCH_SIZE", 4, False, "The fetch size asked for is not valid."),
    ("LEADER_NOT_AVAILABLE", 5, True, "The partition has no leader right now, typically during an election."),
    ("NOT_LEADER_OR_FOLLOWER", 6, True, "This server is neither the leader nor a follower of the partition."),
    ("REQUEST_TIMED_OUT", 7, True, "The request did not complete within its timeout."),
    ("BROKER_NOT_AVAILABLE", 8, False, "The broker is not available."),
    ("REPLICA_NOT_AVAILABLE", 9, True, "The replica is not available for the requested partition."),
    ("MESSAGE_TOO_LARGE", 10, False, "A record batch is larger than the largest size the server accepts."),
    ("STALE_CONTROLLER_EPOCH", 11, False, "The request came from a controller with an outdated epoch."),
    ("OFFSET_METADATA_TOO_LARGE", 12, False, "The metadata attached to the committed offset is too long."),
    ("NETWORK_EXCEPTION", 13, True, "The server disconnected before the response arrived."),
    ("COORDINATOR_LOAD_IN_PROGRESS", 14, True, "The coordinator is still loading its state."),
    ("COORDINATOR_NOT_AVAILABLE", 15, True, "The coordinator is not available."),
    ("NOT_COORDINATOR", 16, True, "This server is not the coordinator for that key."),
    ("INVALID_TOPIC_EXCEPTION", 17, False, "The topic name is not valid, or the operation is not allowed on it."),
    ("RECORD_LIST_TOO_LARGE", 18, False, "The produce request holds more record bytes than the segment size allows."),
    ("NOT_ENOUGH_REPLICAS", 19, True, "Fewer in-sync replicas than required, so the write was refused."),
    ("NOT_ENOUGH_REPLICAS_AFTER_APPEND", 20, True, "The write was appended but fewer in-sync replicas than required acknowledged it."),
    ("INVALID_REQUIRED_ACKS", 21, False, "The acks value of the produce request is not valid."),
    ("ILLEGAL_GENERATION", 22, False, "The group generation given is not the current one."),
    ("INCONSISTENT_GROUP_PROTOCOL", 23, False, "The member's protocol type or protocols do not match the group."),
    ("INVALID_GROUP_ID", 24, False, "The group id is not valid."),
    ("UNKNOWN_MEMBER_ID", 25, False, "The group does not know this member id."),
    ("INVALID_SESSION_TIMEOUT", 26, False, "The session timeout is outside the range the broker allows."),
    ("REBALANCE_IN_PROGRESS", 27, False, "The group is rebalancing; the member must rejoin."),
    ("INVALID_COMMIT_OFFSET_SIZE", 28, False, "The committed offset data is too large."),
    ("TOPIC_AUTHORIZATION_FAILED", 29, False, "Not authorized to access the topic."),
    ("GROUP_AUTHORIZATION_FAILED", 30, False, "Not authorized to access the group."),
    ("CLUSTER_AUTHORIZATION_FAILED", 31, False, "Not authorized for this cluster operation."),
    ("INVALID_TIMESTAMP", 32, False, "A record timestamp is outside the accepted range."),
    ("UNSUPPORTED_SASL_MECHANISM", 33, False, "The broker does not support the requested SASL mechanism."),
    ("ILLEGAL_SASL_STATE", 34, False, "This request is not valid in the current SASL state."),
    ("UNSUPPORTED_VERSION", 35, False, "This version of the API is not supported."),
    ("TOPIC_ALREADY_EXISTS", 36, False, "A topic with this name already exists."),
    ("INVALID_PARTITIONS", 37, False, "The number of partitions is not valid."),
    ("INVALID_REPLICATION_FACTOR", 38, False, "The replication factor is not valid."),
    ("INVALID_REPLICA_ASSIGNMENT", 39, False, "The replica assignment is not valid."),
    ("INVALID_CONFIG", 40, False, "The configuration is not valid."),
    ("NOT_CONTROLLER", 41, True, "This server is not the active controller."),
    ("INVALID_REQUEST", 42, False, "The request is malformed or breaks the protocol rules; see the broker log."),
    ("UNSUPPORTED_FOR_MESSAGE_FORMAT", 43, False, "The message format version on the broker does not support this request."),
    ("POLICY_VIOLATION", 44, False, "The request breaks a policy configured on the broker."),
    ("OUT_OF_ORDER_SEQUENCE_NUMBER", 45, False, "The broker received a producer sequence number out of order."),
    ("DUPLICATE_SEQUENCE_NUMBER", 46, False, "The broker received a duplicate producer sequence number."),
    ("INVALID_PRODUCER_EPOCH", 47, False, "The producer epoch is older than the one the broker knows."),
    ("INVALID_TXN_STATE", 48, False, "The operation is not valid in the transaction's current state."),
    ("INVALID_PRODUCER_ID_MAPPING", 49, False, "The producer id does not match the transactional id."),
    ("INVALID_TRANSACTION_TIMEOUT", 50, False, "The transaction timeout exceeds the broker's maximum."),
    ("CONCURRENT_TRANSACTIONS", 51, True, "Another transaction for this producer is still being completed."),
    ("TRANSACTION_COORDINATOR_FENCED", 52, False, "A newer transaction coordinator has fenced this one."),
    ("TRANSACTIONAL_ID_AUTHORIZATION_FAILED", 53, False, "Not authorized to use the transactional id."),
    ("SECURITY_DISABLED", 54, False, "Security features are turned off."),
    ("OPERATION_NOT_ATTEMPTED", 55, False, "The operation was skipped because another one in the batch failed."),
    ("KAFKA_STORAGE_ERROR", 56, True, "A disk error happened while accessing the log."),
    ("LOG_DIR_NOT_FOUND", 57, False, "The log directory named in the request does not exist."),
    ("SASL_AUTHENTICATION_FAILED", 58, False, "SASL authentication failed."),
    ("UNKNOWN_PRODUCER_ID", 59, False, "The broker has no state for this producer id."),
    ("REASSIGNMENT_IN_PROGRESS", 60, False, "A partition reassignment is in progress."),
    ("DELEGATION_TOKEN_AUTH_DISABLED", 61, False, "Delegation token authentication is turned off."),
    ("DELEGATION_TOKEN_NOT_FOUND", 62, False, "No delegation token matches."),
    ("DELEGATION_TOKEN_OWNER_MISMATCH", 63, False, "The principal does not own the delegation token."),
    ("DELEGATION_TOKEN_REQUEST_NOT_ALLOWED", 64, False, "Delegation token requests are not allowed on this channel."),
    ("DELEGATION_TOKEN_AUTHORIZATION_FAILED", 65, False, "Not authorized for the delegation token operation."),
    ("DELEGATION_TOKEN_EXPIRED", 66, False, "The delegation token has expired."),
    ("INVALID_PRINCIPAL_TYPE", 67, False, "The principal type is not supported."),
    ("NON_EMPTY_GROUP", 68, False, "The group still has members."),
    ("GROUP_ID_NOT_FOUND", 69, False, "The group does not exist."),
    ("FETCH_SESSION_ID_NOT_FOUND", 70, True, "The fetch session does not exist."),
    ("INVALID_FETCH_SESSION_EPOCH", 71, True, "The fetch session epoch is not the expected one."),
    ("LISTENER_NOT_FOUND", 72, True, "The leader has no endpoint for the listener the request came in on."),
    ("TOPIC_DELETION_DISABLED", 73, False, "Topic deletion is turned off."),
    ("FENCED_LEADER_EPOCH", 74, True, "The leader epoch in the request is older than the broker's."),
    ("UNKNOWN_LEADER_EPOCH", 75, True, "The leader epoch in the request is newer than the broker's."),
    ("UNSUPPORTED_COMPRESSION_TYPE", 76, False, "The requesting client does not support the compression type."),
    ("STALE_BROKER_EPOCH", 77, False, "The broker epoch is outdated."),
    ("OFFSET_NOT_AVAILABLE", 78, True, "The leader's high watermark has not caught up yet, so the offset is not available."),
    ("MEMBER_ID_REQUIRED", 79, False, "The member must rejoin with the member id it was given."),
    ("PREFERRED_LEADER_NOT_AVAILABLE", 80, True, "The preferred leader is not available."),
    ("GROUP_MAX_SIZE_REACHED", 81, False, "The group already has the maximum number of members."),
    ("FENCED_INSTANCE_ID", 82, False, "Another member with the same group instance id has fenced this one."),
    ("ELIGIBLE_LEADERS_NOT_AVAILABLE", 83, True, "No eligible leader is available for the partition."),
    ("ELECTION_NOT_NEEDED", 84, True, "No leader election was needed."),
    ("NO_REASSIGNMENT_IN_PROGRESS", 85, False, "No partition reassignment is in progress."),
    ("GROUP_SUBSCRIBED_TO_TOPIC", 86, False, "The group is subscribed to this topic, so its offsets cannot be deleted."),
    ("INVALID_RECORD", 87, False, "A record failed the broker's validation and was rejected."),
    ("UNSTABLE_OFFSET_COMMIT", 88, True, "Offsets for the partition are awaiting a pending transaction."),
    ("THROTTLING_QUOTA_EXCEEDED", 89, True, "The request exceeded the throttling quota."),
    ("PRODUCER_FENCED", 90, False, "A newer producer with the same transactional id has fenced this one."),
    ("RESOURCE_NOT_FOUND", 91, False, "The resource does not exist."),
    ("DUPLICATE_RESOURCE", 92, False, "The resource appears more than once in the request."),
    ("UNACCEPTABLE_CREDENTIAL", 93, False, "The credential does not meet the requirements."),
    ("INCONSISTENT_VOTER_SET", 94, False, "The voter sets of the requester and the receiver differ."),
    ("INVALID_UPDATE_VERSION", 95, False, "The update version is not valid."),
    ("FEATURE_UPDATE_FAILED", 96, False, "The feature update could not be applied."),
    ("PRINCIPAL_DESERIALIZATION_FAILURE", 97, False, "The forwarded principal could not be deserialized."),
    ("SNAPSHOT_NOT_FOUND", 98, False, "The snapshot does not exist."),
    ("POSITION_OUT_OF_RANGE", 99, False, "The requested position lies outside the snapshot."),
    ("UNKNOWN_TOPIC_ID", 100, True, "This server has no topic with that id."),
    ("DUPLICATE_BROKER_REGISTRATION", 101, False, "A broker with this id is already registered."),
    ("BROKER_ID_NOT_REGISTERED", 102, False, "No broker with this id is registered."),
    ("INCONSISTENT_TOPIC_ID", 103, True, "The topic id does not match the one in the log."),
    ("INCONSISTENT_CLUSTER_ID", 104, False, "The cluster id does not match."),
    ("TRANSACTIONAL_ID_NOT_FOUND", 105, False, "The transactional id does not exist."),
    ("FETCH_SESSION_TOPIC_ID_ERROR", 106, True, "The fetch session saw topic ids used inconsistently."),
    ("INELIGIBLE_REPLICA", 107, False, "The replica may not join the in-sync replica set."),
    ("NEW_LEADER_ELECTED", 108, False, "A new leader was elected while the ISR change was pending."),
    ("OFFSET_MOVED_TO_TIERED_STORAGE", 109, False, "The requested offset has moved to tiered storage."),
    ("FENCED_MEMBER_EPOCH", 110, False, "The member epoch is fenced by the group coordinator."),
    ("UNRELEASED_INSTANCE_ID", 111, False, "The group instance id is still held by another member."),
    ("UNSUPPORTED_ASSIGNOR", 112, False, "The group does not support the requested assignor."),
    ("STALE_MEMBER_EPOCH", 113, False, "The member epoch is stale."),
    ("MISMATCHED_ENDPOINT_TYPE", 114, False, "The request went to an endpoint of the wrong type."),
    ("UNSUPPORTED_ENDPOINT_TYPE", 115, False, "This endpoint type does not support the request."),
    ("UNKNOWN_CONTROLLER_ID", 116, False, "The controller id is not known."),
    ("UNKNOWN_SUBSCRIPTION_ID", 117, False, "The client telemetry subscription id is not known."),
    ("TELEMETRY_TOO_LARGE", 118, False, "The client telemetry payload is too large."),
    ("INVALID_REGISTRATION", 119, False, "The broker registration is not valid."),
    ("TRANSACTION_ABORTABLE", 120, False, "The transaction hit an error and should be aborted."),
    ("INVALID_RECORD_STATE", 121, False, "The record state does not allow the acknowledgement."),
    ("SHARE_SESSION_NOT_FOUND", 122, True, "The share session does not exist."),
    ("INVALID_SHARE_SESSION_EPOCH", 123, True, "The share session epoch is not the expected one."),
    ("FENCED_STATE_EPOCH", 124, False, "The share-group state epoch is not current."),
    ("INVALID_VOTER_KEY", 125, False, "The voter key does not match the replica's key."),
    ("DUPLICATE_VOTER", 126, False, "The voter is already in the voter set."),
    ("VOTER_NOT_FOUND", 127, False, "The voter is not in the voter set."),
    ("INVALID_REGULAR_EXPRESSION", 128, False, "The regular expression is not valid."),
    ("REBOOTSTRAP_REQUIRED", 129, False, "The client's metadata is stale; it should bootstrap again."),
    ("STREAMS_INVALID_TOPOLOGY", 130, False, "The streams topology is not valid."),
    ("STREAMS_INVALID_TOPOLOGY_EPOCH", 131, False, "The streams topology epoch is not valid."),
    ("STREAMS_TOPOLOGY_FENCED", 132, False, "The streams topology epoch is outdated."),
    ("SHARE_SESSION_LIMIT_REACHED", 133, True, "The broker has reached its limit of share sessions."),
)
# fmt: on


class ErrorCode(IntEnum):
    """A Kafka error code; ``retriable`` and ``message`` hold its Kafka semantics."""

    retriable: bool
    message: str

    UNKNOWN_SERVER_ERROR = -1
    NONE = 0
    OFFSET_OUT_OF_RANGE = 1
    CORRUPT_MESSAGE = 2
    UNKNOWN_TOPIC_OR_PARTITION = 3
    INVALID_FETCH_SIZE = 4
    LEADER_NOT_AVAILABLE = 5
    NOT_LEADER_OR_FOLLOWER = 6
    REQUEST_TIMED_OUT = 7
    BROKER_NOT_AVAILABLE = 8
    REPLICA_NOT_AVAILABLE = 9
    MESSAGE_TOO_LARGE = 10
    STALE_CONTROLLER_EPOCH = 11
    OFFSET_METADATA_TOO_LARGE = 12
    NETWORK_EXCEPTION = 13
    COORDINATOR_LOAD_IN_PROGRESS = 14
    COORDINATOR_NOT_AVAILABLE = 15
    NOT_COORDINATOR = 16
    INVALID_TOPIC_EXCEPTION = 17
    RECORD_LIST_TOO_LARGE = 18
    NOT_ENOUGH_REPLICAS = 19
    NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20
    INVALID_REQUIRED_ACKS = 21
    ILLEGAL_GENERATION = 22
    INCONSISTENT_GROUP_PROTOCOL = 23
    INVALID_GROUP_ID = 24
    UNKNOWN_MEMBER_ID = 25
    INVALID_SESSION_TIMEOUT = 26
    REBALANCE_IN_PROGRESS = 27
    INVALID_COMMIT_OFFSET_SIZE = 28
    TOPIC_AUTHORIZATION_FAILED = 29
    GROUP_AUTHORIZATION_FAILED = 30
    CLUSTER_AUTHORIZATION_FAILED = 31
    INVALID_TIMESTAMP = 32
    UNSUPPORTED_SASL_MECHANISM = 33
    ILLEGAL_SASL_STATE = 34
    UNSUPPORTED_VERSION = 35
    TOPIC_ALREADY_EXISTS = 36
    INVALID_PARTITIONS = 37
    INVALID_REPLICATION_FACTOR = 38
    INVALID_REPLICA_ASSIGNMENT = 39
    INVALID_CONFIG = 40
    NOT_CONTROLLER = 41
    INVALID_REQUEST = 42
    UNSUPPORTED_FOR_MESSAGE_FORMAT = 43
    POLICY_VIOLATION = 44
    OUT_OF_ORDER_SEQUENCE_NUMBER = 45
    DUPLICATE_SEQUENCE_NUMBER = 46
    INVALID_PRODUCER_EPOCH = 47
    INVALID_TXN_STATE = 48
    INVALID_PRODUCER_ID_MAPPING = 49
    INVALID_TRANSACTION_TIMEOUT = 50
    CONCURRENT_TRANSACTIONS = 51
    TRANSACTION_COORDINATOR_FENCED = 52
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
    SECURITY_DISABLED = 54
    OPERATION_NOT_ATTEMPTED = 55
    KAFKA_STORAGE_ERROR = 56
    LOG_DIR_NOT_FOUND = 57
    SASL_AUTHENTICATION_FAILED = 58
    UNKNOWN_PRODUCER_ID = 59
    REASSIGNMENT_IN_PROGRESS = 60
    DELEGATION_TOKEN_AUTH_DISABLED = 61
    DELEGATION_TOKEN_NOT_FOUND = 62
    DELEGATION_TOKEN_OWNER_MISMATCH = 63
    DELEGATION_TOKEN_REQUEST_NOT_ALLOWED = 64
    DELEGATION_TOKEN_AUTHORIZATION_FAILED = 65
    DELEGATION_TOKEN_EXPIRED = 66
    INVALID_PRINCIPAL_TYPE = 67
    NON_EMPTY_GROUP = 68
    GROUP_ID_NOT_FOUND = 69
    FETCH_SESSION_ID_NOT_FOUND = 70
    INVALID_FETCH_SESSION_EPOCH = 71
    LISTENER_NOT_FOUND = 72
    TOPIC_DELETION_DISABLED = 73
    FENCED_LEADER_EPOCH = 74
    UNKNOWN_LEADER_EPOCH = 75
    UNSUPPORTED_COMPRESSION_TYPE = 76
    STALE_BROKER_EPOCH = 77
    OFFSET_NOT_AVAILABLE = 78
    MEMBER_ID_REQUIRED = 79
    PREFERRED_LEADER_NOT_AVAILABLE = 80
    GROUP_MAX_SIZE_REACHED = 81
    FENCED_INSTANCE_ID = 82
    ELIGIBLE_LEADERS_NOT_AVAILABLE = 83
    ELECTION_NOT_NEEDED = 84
    NO_REASSIGNMENT_IN_PROGRESS = 85
    GROUP_SUBSCRIBED_TO_TOPIC = 86
    INVALID_RECORD = 87
    UNSTABLE_OFFSET_COMMIT = 88
    THROTTLING_QUOTA_EXCEEDED = 89
    PRODUCER_FENCED = 90
    RESOURCE_NOT_FOUND = 91
    DUPLICATE_RESOURCE = 92
    UNACCEPTABLE_CREDENTIAL = 93
    INCONSISTENT_VOTER_SET = 94
    INVALID_UPDATE_VERSION = 95
    FEATURE_UPDATE_FAILED = 96
    PRINCIPAL_DESERIALIZATION_FAILURE = 97
    SNAPSHOT_NOT_FOUND = 98
    POSITION_OUT_OF_RANGE = 99
    UNKNOWN_TOPIC_ID = 100
    DUPLICATE_BROKER_REGISTRATION = 101
    BROKER_ID_NOT_REGISTERED = 102
    INCONSISTENT_TOPIC_ID = 103
    INCONSISTENT_CLUSTER_ID = 104
    TRANSACTIONAL_ID_NOT_FOUND = 105
    FETCH_SESSION_TOPIC_ID_ERROR = 106
    INELIGIBLE_REPLICA = 107
    NEW_LEADER_ELECTED = 108
    OFFSET_MOVED_TO_TIERED_STORAGE = 109
    FENCED_MEMBER_EPOCH = 110
    UNRELEASED_INSTANCE_ID = 111
    UNSUPPORTED_ASSIGNOR = 112
    STALE_MEMBER_EPOCH = 113
    MISMATCHED_ENDPOINT_TYPE = 114
    UNSUPPORTED_ENDPOINT_TYPE = 115
    UNKNOWN_CONTROLLER_ID = 116
    UNKNOWN_SUBSCRIPTION_ID = 117
    TELEMETRY_TOO_LARGE = 118
    INVALID_REGISTRATION = 119
    TRANSACTION_ABORTABLE = 120
    INVALID_RECORD_STATE = 121
    SHARE_SESSION_NOT_FOUND = 122
    INVALID_SHARE_SESSION_EPOCH = 123
    FENCED_STATE_EPOCH = 124
    INVALID_VOTER_KEY = 125
    DUPLICATE_VOTER = 126
    VOTER_NOT_FOUND = 127
    INVALID_REGULAR_EXPRESSION = 128
    REBOOTSTRAP_REQUIRED = 129
    STREAMS_INVALID_TOPOLOGY = 130
    STREAMS_INVALID_TOPOLOGY_EPOCH = 131
    STREAMS_TOPOLOGY_FENCED = 132
    SHARE_SESSION_LIMIT_REACHED = 133

    @classmethod
    def from_code(cls, code: int) -> ErrorCode:
        """The member for ``code``; codes this table does not know map to UNKNOWN_SERVER_ERROR."""
        try:
            return cls(code)
        except ValueError:
            return cls.UNKNOWN_SERVER_ERROR


# Attach the Kafka semantics after the class exists: IntEnum members cannot take
# extra constructor arguments without a custom __new__, and a table keeps them readable.
for _name, _code, _retriable, _message in _TABLE:
    _member = ErrorCode[_name]
    assert _member.value == _code, _name
    _member.retriable = _retriable
    _member.message = _message
assert len(_TABLE) == len(ErrorCode)
del _name, _code, _retriable, _message, _member
