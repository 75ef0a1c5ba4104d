"""Produce-side transaction verification (KIP-890 part 1, Kafka 3.6+).

Before the first transactional batch of a producer lands in a partition, the
broker asks the transaction coordinator whether the partition really is in the
producer's transaction with that producer id and epoch. Without this a fenced
zombie (or a producer that skipped AddPartitionsToTxn) could open a transaction
the coordinator knows nothing about: no marker would ever close it and the last
stable offset would hang forever.

Answers per partition, as Kafka's ReplicaManager / AddPartitionsToTxnManager:
a fenced epoch is INVALID_PRODUCER_EPOCH; a partition not in the transaction is
TRANSACTION_ABORTABLE for Produce v11+ and INVALID_TXN_STATE before. Partitions
where the producer already has that transaction open are not asked about, and
ids coordinated elsewhere are not verified (this broker cannot ask yet).
Switched by ``transaction.partition.verification.enable`` (default true).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wire.errors import ErrorCode
from wire.records import parse_header

TopicPartition = tuple[str, int]


def verification_enabled(broker: Any) -> bool:
    try:
        return bool(broker.config.get("transaction.partition.verification.enable"))
    except (KeyError, AttributeError, ValueError):
        return True


def verify_produce(
    broker: Any,
    transactional_id: str | None,
    entries: Mapping[TopicPartition, bytes | memoryview],
    produce_version: int,
) -> dict[TopicPartition, ErrorCode]:
    """The partitions of a produce request that must be refused, with their errors."""
    coordinator = getattr(broker, "transaction_coordinator", None)
    if not transactional_id or coordinator is None or not verification_enabled(broker):
        return {}
    from .coordinator import CoordinatorError

    try:
        if coordinator.get_transaction(transactional_id) is None:
            return {
                tp: ErrorCode.INVALID_PRODUCER_ID_MAPPING for tp, r in entries.items() if _is_txn(r)
            }
    except CoordinatorError:
        return {}  # coordinated elsewhere (or not ready): nothing to verify against here
    failed: dict[TopicPartition, ErrorCode] = {}
    rm = broker.replica_manager
    for tp, records in entries.items():
        if not _is_txn(records):
            continue
        header = parse_header(records)
        part = rm.get_partition(*tp)
        state = getattr(getattr(part, "log", None), "producer_state", None)
        if state is not None and state.has_ongoing_transaction(
            header.producer_id, header.producer_epoch
        ):
            continue
        code = coordinator.verify_partitions(
            transactional_id, header.producer_id, header.producer_epoch, [tp]
        )[tp]
        if code == ErrorCode.NONE:
            continue
        if code == ErrorCode.PRODUCER_FENCED:
            code = ErrorCode.INVALID_PRODUCER_EPOCH
        elif code == ErrorCode.TRANSACTION_ABORTABLE and produce_version <= 10:
            code = ErrorCode.INVALID_TXN_STATE
        failed[tp] = code
    return failed


def _is_txn(records: bytes | memoryview | None) -> bool:
    if records is None or len(records) < 61:
        return False
    try:
        return parse_header(records).is_transactional
    except Exception:  # noqa: BLE001 - malformed batches are for the log to refuse
        return False
