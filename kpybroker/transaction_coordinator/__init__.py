"""The transaction coordinator: transactional ids, their state in __transaction_state, markers."""

from .coordinator import (
    TRANSACTION_STATE_TOPIC,
    CoordinatorError,
    InitProducerIdResult,
    TransactionCoordinator,
    TransactionCoordinatorConfig,
    TransactionDescription,
)
from .metadata import TransactionMetadata, TransactionState
from .txn_offsets import PendingTxnOffsets

__all__ = [
    "TRANSACTION_STATE_TOPIC",
    "CoordinatorError",
    "InitProducerIdResult",
    "PendingTxnOffsets",
    "TransactionCoordinator",
    "TransactionCoordinatorConfig",
    "TransactionDescription",
    "TransactionMetadata",
    "TransactionState",
]
