"""ErrorCode against Kafka's facts and against kafka-python's independent table."""

from __future__ import annotations

import inspect

import kafka.errors as kp_errors
import pytest

from wire.errors import ErrorCode

# Where kafka-python uses an older name than Kafka's current Errors enum.
KAFKA_PYTHON_OLD_NAMES = {
    -1: "UNKNOWN",
    0: "NO_ERROR",
    6: "NOT_LEADER_FOR_PARTITION",
    10: "MESSAGE_SIZE_TOO_LARGE",
    17: "INVALID_TOPIC",
    39: "INVALID_REPLICATION_ASSIGNMENT",
}
# kafka-python marks CORRUPT_MESSAGE non-retriable; Kafka's CorruptRecordException
# is a RetriableException, and Kafka is the reference.
KAFKA_PYTHON_RETRIABLE_DIFFERS = {2}


def _kafka_python_errors() -> dict[int, list[type]]:
    by_code: dict[int, list[type]] = {}
    for _, cls in inspect.getmembers(kp_errors, inspect.isclass):
        if (
            issubclass(cls, kp_errors.BrokerResponseError)
            and getattr(cls, "errno", None) is not None
        ):
            by_code.setdefault(cls.errno, []).append(cls)
    return by_code


def test_every_code_kafka_python_knows_agrees() -> None:
    known = _kafka_python_errors()
    assert len(known) > 120
    for code, classes in known.items():
        member = ErrorCode(code)
        for cls in classes:
            assert KAFKA_PYTHON_OLD_NAMES.get(code, member.name) == cls.message, code
            if code not in KAFKA_PYTHON_RETRIABLE_DIFFERS:
                assert member.retriable == cls.retriable, member.name


@pytest.mark.parametrize(
    ("name", "code", "retriable"),
    [
        ("UNKNOWN_SERVER_ERROR", -1, False),
        ("NONE", 0, False),
        ("OFFSET_OUT_OF_RANGE", 1, False),
        ("CORRUPT_MESSAGE", 2, True),
        ("UNKNOWN_TOPIC_OR_PARTITION", 3, True),
        ("NOT_LEADER_OR_FOLLOWER", 6, True),
        ("REQUEST_TIMED_OUT", 7, True),
        ("MESSAGE_TOO_LARGE", 10, False),
        ("NOT_COORDINATOR", 16, True),
        ("NOT_ENOUGH_REPLICAS", 19, True),
        ("REBALANCE_IN_PROGRESS", 27, False),
        ("UNSUPPORTED_VERSION", 35, False),
        ("INVALID_REQUEST", 42, False),
        ("OUT_OF_ORDER_SEQUENCE_NUMBER", 45, False),
        ("CONCURRENT_TRANSACTIONS", 51, True),
        ("KAFKA_STORAGE_ERROR", 56, True),
        ("FENCED_LEADER_EPOCH", 74, True),
        ("OFFSET_NOT_AVAILABLE", 78, True),
        ("INVALID_RECORD", 87, False),
        ("PRODUCER_FENCED", 90, False),
        ("UNKNOWN_TOPIC_ID", 100, True),
        ("TRANSACTION_ABORTABLE", 120, False),
        ("INVALID_REGULAR_EXPRESSION", 128, False),
        ("REBOOTSTRAP_REQUIRED", 129, False),
        ("SHARE_SESSION_LIMIT_REACHED", 133, True),
    ],
)
def test_kafka_facts(name: str, code: int, retriable: bool) -> None:
    member = ErrorCode[name]
    assert member == code
    assert member.retriable is retriable


def test_codes_are_contiguous_and_described() -> None:
    codes = sorted(int(m) for m in ErrorCode)
    assert codes == list(range(-1, 134))
    for member in ErrorCode:
        assert isinstance(member.message, str)
        assert member.message or member is ErrorCode.NONE


def test_from_code_maps_unknown_to_unknown_server_error() -> None:
    assert ErrorCode.from_code(3) is ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert ErrorCode.from_code(9_999) is ErrorCode.UNKNOWN_SERVER_ERROR


def test_int_compatibility() -> None:
    assert ErrorCode.CORRUPT_MESSAGE == 2
    assert int(ErrorCode.INVALID_RECORD) == 87
    assert ErrorCode(35).name == "UNSUPPORTED_VERSION"
