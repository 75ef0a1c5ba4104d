"""InitProducerId (API key 22), every version wire covers (0-6).

Without a transactional id (the idempotent producer) Kafka's
TransactionCoordinator always hands out a fresh producer id with epoch 0, also
when the request names the producer's current id and epoch (v3+, KIP-360): the
epoch bump of KIP-360 applies to transactional producers only. A request with
exactly one of producer id / epoch set to -1 is INVALID_REQUEST (KafkaApis).
Ids come from ``broker.producer_ids`` (``kpybroker.producer_ids``), reserved in
blocks in the metadata store, so they stay unique across restarts.

With a transactional id the transaction coordinator answers, through
``await broker.transaction_coordinator.handle_init_producer_id(ctx, header,
request)``. Should the broker run without one, an empty id is INVALID_REQUEST
as Kafka answers, and any other id COORDINATOR_NOT_AVAILABLE, which clients treat
as retriable.
"""

from __future__ import annotations

from typing import Any

from kpybroker.dispatch import handler
from kpybroker.producer_ids import ProducerIdExhaustedError, ProducerIdManager
from wire.api_keys import ApiKey
from wire.errors import ErrorCode
from wire.messages.init_producer_id import InitProducerIdRequest, InitProducerIdResponse

NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1


def _error(code: ErrorCode) -> InitProducerIdResponse:
    return InitProducerIdResponse(
        throttle_time_ms=0,
        error_code=int(code),
        producer_id=NO_PRODUCER_ID,
        producer_epoch=NO_PRODUCER_EPOCH,
    )


def producer_id_manager(broker: Any) -> ProducerIdManager:
    """The broker's ProducerIdManager, created on first use if the broker has none."""
    manager = getattr(broker, "producer_ids", None)
    if manager is None:
        manager = ProducerIdManager(broker.metadata)
        broker.producer_ids = manager
    return manager


# v6 (two-phase commit) is marked unstable in Kafka 4.1, which does not advertise it.
@handler(ApiKey.INIT_PRODUCER_ID, 0, 5)
async def handle(ctx: Any, header: Any, request: InitProducerIdRequest) -> InitProducerIdResponse:
    response = await _answer(ctx, header, request)
    # The id may come from a block that this or a concurrent request reserved and
    # whose write is still under way: no id leaves before its block is on disk.
    save_metadata = getattr(ctx.broker, "save_metadata", None)
    if save_metadata is not None:
        await save_metadata()
    return response


async def _answer(ctx: Any, header: Any, request: InitProducerIdRequest) -> InitProducerIdResponse:
    broker = ctx.broker
    pid, epoch = request.producer_id, request.producer_epoch
    if (pid == NO_PRODUCER_ID) != (epoch == NO_PRODUCER_EPOCH):
        return _error(ErrorCode.INVALID_REQUEST)
    if request.transactional_id is not None:
        coordinator = getattr(broker, "txn_coordinator", None) or getattr(
            broker, "transaction_coordinator", None
        )
        handle_txn = getattr(coordinator, "handle_init_producer_id", None)
        if handle_txn is not None:
            return await handle_txn(ctx, header, request)
        if request.transactional_id == "":
            return _error(ErrorCode.INVALID_REQUEST)
        # No transaction coordinator is running on this broker.
        return _error(ErrorCode.COORDINATOR_NOT_AVAILABLE)
    try:
        new_pid = producer_id_manager(broker).next_id()
    except ProducerIdExhaustedError:
        return _error(ErrorCode.UNKNOWN_SERVER_ERROR)
    return InitProducerIdResponse(
        throttle_time_ms=0, error_code=0, producer_id=new_pid, producer_epoch=0
    )
