"""Keys and values of ``__transaction_state`` records, in Kafka's schemas.

Both start with an int16 schema version. Keys are version 0 (the transactional
id); values are version 0 (Kafka writes the flexible version 1 only once
transaction.version 2 is enabled, which this broker does not advertise). A null
value is a tombstone: the id expired. Partitions are null for Empty, as Kafka.
"""

from __future__ import annotations

import struct

from wire.buffers import join
from wire.messages.internal import TransactionLogKey, TransactionLogValue

from .metadata import TransactionMetadata, TransactionState

KEY_VERSION = 0
VALUE_VERSION = 0
_I16 = struct.Struct(">h")


def key_to_bytes(transactional_id: str) -> bytes:
    return _I16.pack(KEY_VERSION) + join(
        TransactionLogKey(transactional_id=transactional_id).encode(KEY_VERSION)
    )


def value_to_bytes(txn: TransactionMetadata) -> bytes:
    if txn.state == TransactionState.EMPTY and txn.topic_partitions:
        raise ValueError(f"{txn.transactional_id}: an Empty transaction has no partitions")
    partitions = None
    if txn.state != TransactionState.EMPTY:
        by_topic: dict[str, list[int]] = {}
        for topic, partition in sorted(txn.topic_partitions):
            by_topic.setdefault(topic, []).append(partition)
        partitions = [
            TransactionLogValue.PartitionsSchema(topic=t, partition_ids=ps)
            for t, ps in by_topic.items()
        ]
    value = TransactionLogValue(
        producer_id=txn.producer_id,
        previous_producer_id=txn.previous_producer_id,
        next_producer_id=txn.next_producer_id,
        producer_epoch=txn.producer_epoch,
        transaction_timeout_ms=txn.txn_timeout_ms,
        transaction_status=int(txn.state),
        transaction_partitions=partitions,
        transaction_last_update_timestamp_ms=txn.txn_last_update_timestamp,
        transaction_start_timestamp_ms=txn.txn_start_timestamp,
        client_transaction_version=txn.client_transaction_version,
    )
    return _I16.pack(VALUE_VERSION) + join(value.encode(VALUE_VERSION))


def read_key(buf: bytes | memoryview) -> str | None:
    """The transactional id of a record key, or None for a key version we do not know."""
    view = memoryview(buf)
    (version,) = _I16.unpack_from(view, 0)
    if version != KEY_VERSION:
        return None
    key, _ = TransactionLogKey.decode(view, version, 2)
    return key.transactional_id


def read_value(transactional_id: str, buf: bytes | memoryview | None) -> TransactionMetadata | None:
    """The metadata a record value holds; None for a tombstone."""
    if buf is None:
        return None
    view = memoryview(buf)
    (version,) = _I16.unpack_from(view, 0)
    if not TransactionLogValue.MIN_VERSION <= version <= TransactionLogValue.MAX_VERSION:
        raise ValueError(f"unknown transaction log value version {version}")
    value, _ = TransactionLogValue.decode(view, version, 2)
    state = TransactionState(value.transaction_status)
    partitions: set[tuple[str, int]] = set()
    if state != TransactionState.EMPTY:
        for schema in value.transaction_partitions or ():
            partitions.update((schema.topic, p) for p in schema.partition_ids)
    return TransactionMetadata(
        transactional_id=transactional_id,
        producer_id=value.producer_id,
        previous_producer_id=value.previous_producer_id,
        next_producer_id=value.next_producer_id,
        producer_epoch=value.producer_epoch,
        txn_timeout_ms=value.transaction_timeout_ms,
        state=state,
        topic_partitions=partitions,
        txn_start_timestamp=value.transaction_start_timestamp_ms,
        txn_last_update_timestamp=value.transaction_last_update_timestamp_ms,
        client_transaction_version=value.client_transaction_version,
    )
