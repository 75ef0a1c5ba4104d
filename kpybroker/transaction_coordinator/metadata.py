"""Transaction state per transactional id, and the transitions between states.

Pure data and rules, no I/O: the coordinator prepares a transition (a new
``TransactionMetadata`` value), writes it to ``__transaction_state`` and only
then makes it current (``complete_transition``). While the write is in flight
``pending_state`` is set, so concurrent requests answer CONCURRENT_TRANSACTIONS
(Kafka's pendingTransitionInProgress).

States and their ids are Kafka's (the id is what the transaction log stores)::

    Empty(0) -> Ongoing(1) -> PrepareCommit(2) -> CompleteCommit(4)
                          \\-> PrepareAbort(3)  -> CompleteAbort(5)
    Ongoing -> PrepareEpochFence(7) -> PrepareAbort   (fencing; never persisted)
    Empty / Complete* -> Dead(6)                       (expiry: a tombstone)
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field

NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
MAX_EPOCH = 2**15 - 1


class TransactionState(enum.IntEnum):
    """Kafka's TransactionState, valued by the id stored in the transaction log."""

    EMPTY = 0
    ONGOING = 1
    PREPARE_COMMIT = 2
    PREPARE_ABORT = 3
    COMPLETE_COMMIT = 4
    COMPLETE_ABORT = 5
    DEAD = 6
    PREPARE_EPOCH_FENCE = 7

    @property
    def state_name(self) -> str:
        """The name DescribeTransactions / ListTransactions report (``"Ongoing"``)."""
        return _NAMES[self]

    @classmethod
    def from_name(cls, name: str) -> TransactionState | None:
        return _BY_NAME.get(name)

    @property
    def is_expiration_allowed(self) -> bool:
        return self in (
            TransactionState.EMPTY,
            TransactionState.COMPLETE_COMMIT,
            TransactionState.COMPLETE_ABORT,
        )


_NAMES = {
    TransactionState.EMPTY: "Empty",
    TransactionState.ONGOING: "Ongoing",
    TransactionState.PREPARE_COMMIT: "PrepareCommit",
    TransactionState.PREPARE_ABORT: "PrepareAbort",
    TransactionState.COMPLETE_COMMIT: "CompleteCommit",
    TransactionState.COMPLETE_ABORT: "CompleteAbort",
    TransactionState.DEAD: "Dead",
    TransactionState.PREPARE_EPOCH_FENCE: "PrepareEpochFence",
}
_BY_NAME = {v: k for k, v in _NAMES.items()}

S = TransactionState
VALID_PREVIOUS_STATES: dict[TransactionState, frozenset[TransactionState]] = {
    S.EMPTY: frozenset({S.EMPTY, S.COMPLETE_COMMIT, S.COMPLETE_ABORT}),
    S.ONGOING: frozenset({S.ONGOING, S.EMPTY, S.COMPLETE_COMMIT, S.COMPLETE_ABORT}),
    S.PREPARE_COMMIT: frozenset({S.ONGOING}),
    S.PREPARE_ABORT: frozenset({S.ONGOING, S.PREPARE_EPOCH_FENCE}),
    S.COMPLETE_COMMIT: frozenset({S.PREPARE_COMMIT}),
    S.COMPLETE_ABORT: frozenset({S.PREPARE_ABORT}),
    S.DEAD: frozenset({S.EMPTY, S.COMPLETE_COMMIT, S.COMPLETE_ABORT}),
    S.PREPARE_EPOCH_FENCE: frozenset({S.ONGOING}),
}


class IllegalTransitionError(Exception):
    """A transition Kafka's state machine forbids: a bug, never a client error."""


def is_epoch_exhausted(epoch: int) -> bool:
    """Kafka keeps the last two epochs in reserve (fencing needs one more bump)."""
    return epoch >= MAX_EPOCH - 1


@dataclass
class TransactionMetadata:
    """One transactional id's producer and transaction, as the coordinator keeps it."""

    transactional_id: str
    producer_id: int
    producer_epoch: int = NO_PRODUCER_EPOCH
    last_producer_epoch: int = NO_PRODUCER_EPOCH
    previous_producer_id: int = NO_PRODUCER_ID
    next_producer_id: int = NO_PRODUCER_ID
    txn_timeout_ms: int = 60_000
    state: TransactionState = TransactionState.EMPTY
    topic_partitions: set[tuple[str, int]] = field(default_factory=set)
    txn_start_timestamp: int = -1
    txn_last_update_timestamp: int = -1
    client_transaction_version: int = 0
    # Not persisted: a transition being written, and a failed fence (epoch kept).
    pending_state: TransactionState | None = None
    has_failed_epoch_fence: bool = False

    @property
    def pending_transition_in_progress(self) -> bool:
        return self.pending_state is not None

    @property
    def is_producer_epoch_exhausted(self) -> bool:
        return is_epoch_exhausted(self.producer_epoch)

    # -- preparing transitions -----------------------------------------------------

    def _transit(self, state: TransactionState, **changes: object) -> TransactionMetadata:
        if self.pending_state is not None:
            raise IllegalTransitionError(
                f"{self.transactional_id}: transition to {state.state_name} while "
                f"{self.pending_state.state_name} is pending"
            )
        if self.state not in VALID_PREVIOUS_STATES[state]:
            raise IllegalTransitionError(
                f"{self.transactional_id}: cannot go from {self.state.state_name} to {state.state_name}"
            )
        new = dataclasses.replace(self, state=state, pending_state=None, **changes)  # type: ignore[arg-type]
        new.topic_partitions = set(new.topic_partitions)
        self.pending_state = state
        return new

    def prepare_increment_producer_epoch(
        self, new_timeout_ms: int, expected_epoch: int | None, now_ms: int
    ) -> TransactionMetadata | None:
        """InitProducerId on an idle id: the next epoch, or None when the caller is fenced."""
        if self.is_producer_epoch_exhausted:
            raise IllegalTransitionError(f"no epochs left for producer id {self.producer_id}")
        bumped = self.producer_epoch + 1
        if expected_epoch is None:
            epoch, last = bumped, NO_PRODUCER_EPOCH
        elif self.producer_epoch == NO_PRODUCER_EPOCH or expected_epoch == self.producer_epoch:
            epoch, last = bumped, self.producer_epoch
        elif expected_epoch == self.last_producer_epoch:
            # a retry of a bump whose answer the producer never got
            epoch, last = self.producer_epoch, self.last_producer_epoch
        else:
            return None
        return self._transit(
            S.EMPTY,
            producer_epoch=epoch,
            last_producer_epoch=last,
            txn_timeout_ms=new_timeout_ms,
            topic_partitions=set(),
            txn_start_timestamp=-1,
            txn_last_update_timestamp=now_ms,
        )

    def prepare_producer_id_rotation(
        self, new_producer_id: int, new_timeout_ms: int, now_ms: int, record_last_epoch: bool
    ) -> TransactionMetadata:
        """The epoch ran out: a fresh producer id at epoch 0."""
        return self._transit(
            S.EMPTY,
            producer_id=new_producer_id,
            previous_producer_id=self.producer_id,
            producer_epoch=0,
            last_producer_epoch=self.producer_epoch if record_last_epoch else NO_PRODUCER_EPOCH,
            txn_timeout_ms=new_timeout_ms,
            topic_partitions=set(),
            txn_start_timestamp=-1,
            txn_last_update_timestamp=now_ms,
        )

    def prepare_epoch_fence_abort(self, now_ms: int) -> TransactionMetadata:
        """Fence the producer of an ongoing transaction (epoch + 1), then abort it.

        As Kafka, the bumped epoch goes into the metadata before the PrepareAbort
        write (PrepareEpochFence is only ever a pending state); it is never handed
        to a client, so after a failed write the same epoch is reused.
        """
        if self.producer_epoch >= MAX_EPOCH:
            raise IllegalTransitionError("cannot fence a producer at the maximum epoch")
        if self.pending_state is not None or self.state != S.ONGOING:
            raise IllegalTransitionError(
                f"{self.transactional_id}: only an idle ongoing transaction is fenced"
            )
        if not self.has_failed_epoch_fence:
            self.producer_epoch += 1
        self.last_producer_epoch = NO_PRODUCER_EPOCH
        return self._transit(S.PREPARE_ABORT, txn_last_update_timestamp=now_ms)

    def prepare_add_partitions(
        self, partitions: set[tuple[str, int]], now_ms: int
    ) -> TransactionMetadata:
        start = (
            now_ms
            if self.state in (S.EMPTY, S.COMPLETE_COMMIT, S.COMPLETE_ABORT)
            else self.txn_start_timestamp
        )
        return self._transit(
            S.ONGOING,
            topic_partitions=self.topic_partitions | set(partitions),
            txn_start_timestamp=start,
            txn_last_update_timestamp=now_ms,
        )

    def prepare_abort_or_commit(self, state: TransactionState, now_ms: int) -> TransactionMetadata:
        return self._transit(state, txn_last_update_timestamp=now_ms)

    def prepare_complete(self, now_ms: int) -> TransactionMetadata:
        state = S.COMPLETE_COMMIT if self.state == S.PREPARE_COMMIT else S.COMPLETE_ABORT
        self.has_failed_epoch_fence = False
        return self._transit(
            state,
            next_producer_id=NO_PRODUCER_ID,
            last_producer_epoch=self.producer_epoch,
            topic_partitions=set(),
            txn_last_update_timestamp=now_ms,
        )

    def prepare_dead(self) -> TransactionMetadata:
        return self._transit(S.DEAD, topic_partitions=set())

    # -- applying -------------------------------------------------------------------

    def complete_transition(self, new: TransactionMetadata) -> None:
        """The transition was written: make it current."""
        for f in dataclasses.fields(self):
            if f.name not in ("pending_state", "has_failed_epoch_fence", "transactional_id"):
                setattr(self, f.name, getattr(new, f.name))
        self.topic_partitions = set(new.topic_partitions)
        self.pending_state = None

    def abort_transition(self) -> None:
        """The write failed: keep the current state."""
        self.pending_state = None
