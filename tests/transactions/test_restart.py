"""Transaction state survives restarts: reloaded from __transaction_state.

- kill -9 in the middle of a transaction: after the restart the transaction is
  still open (the last stable offset holds read_committed consumers before it),
  then its timeout aborts it; its records are never visible to read_committed.
- a crash after the commit decision was written but before the markers: the
  restarted coordinator writes the markers and completes the commit.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from tests.transactions.helpers import (
    add_partitions,
    create_topic,
    end_txn,
    fetch,
    find_txn_coordinator,
    init_ok,
    produce_txn,
    visible_values,
)
from tests.transactions.test_timeout import FAST_ABORT, describe


def test_kill_mid_transaction_then_abort_on_timeout(broker_process: Any, raw_client: Any) -> None:
    raw = raw_client(broker_process)
    txn_id, topic = "tx-" + uuid.uuid4().hex[:8], "t-" + uuid.uuid4().hex[:8]
    find_txn_coordinator(raw, txn_id)
    create_topic(raw, topic)
    pid, epoch = init_ok(raw, txn_id, timeout_ms=3000)
    assert add_partitions(raw, txn_id, pid, epoch, [(topic, 0)]) == {(topic, 0): 0}
    assert produce_txn(raw, topic, pid, epoch, 0, [b"c0", b"c1"], txn_id=txn_id)[0] == 0
    assert end_txn(raw, txn_id, pid, epoch, True) == 0
    assert add_partitions(raw, txn_id, pid, epoch, [(topic, 0)]) == {(topic, 0): 0}
    assert produce_txn(raw, topic, pid, epoch, 2, [b"half"], txn_id=txn_id)[0] == 0
    raw.close()
    broker_process.kill()

    restarted = broker_process.restart(FAST_ABORT)
    raw = raw_client(restarted)
    part, records = fetch(raw, topic, 1)
    assert part.error_code == 0
    # the open transaction starts at offset 3: nothing from it is readable committed
    assert part.last_stable_offset <= 3
    assert visible_values(part, records) == [b"c0", b"c1"]
    deadline = time.monotonic() + 20
    while describe(raw, txn_id).transaction_state != "CompleteAbort":
        assert time.monotonic() < deadline, describe(raw, txn_id)
        time.sleep(0.1)
    part, records = fetch(raw, topic, 1)
    assert part.last_stable_offset == part.high_watermark == 5
    assert visible_values(part, records) == [b"c0", b"c1"]
    # the id carries on with a new epoch
    pid2, epoch2 = init_ok(raw, txn_id)
    assert pid2 == pid and epoch2 > epoch


def test_prepared_commit_is_completed_after_restart(
    start_broker: Any, raw_client: Any, tmp_path: Any
) -> None:
    data_dir = str(tmp_path / "data-restart")
    broker = start_broker(data_dir=data_dir)
    raw = raw_client(broker)
    txn_id, topic = "tx-" + uuid.uuid4().hex[:8], "t-" + uuid.uuid4().hex[:8]
    find_txn_coordinator(raw, txn_id)
    create_topic(raw, topic, 2)
    pid, epoch = init_ok(raw, txn_id)
    assert add_partitions(raw, txn_id, pid, epoch, [(topic, 0), (topic, 1)]) == {
        (topic, 0): 0,
        (topic, 1): 0,
    }
    assert produce_txn(raw, topic, pid, epoch, 0, [b"p0"], partition=0, txn_id=txn_id)[0] == 0
    assert produce_txn(raw, topic, pid, epoch, 0, [b"p1"], partition=1, txn_id=txn_id)[0] == 0
    coordinator = broker.broker.transaction_coordinator

    async def write_prepare_commit_only() -> None:
        from kpybroker.transaction_coordinator import TransactionState

        txn = coordinator.get_transaction(txn_id)
        new = txn.prepare_abort_or_commit(TransactionState.PREPARE_COMMIT, broker.broker.now_ms())
        assert await coordinator._append_to_log(txn, new) == 0

    broker.call(write_prepare_commit_only)
    assert describe(raw, txn_id).transaction_state == "PrepareCommit"
    assert fetch(raw, topic, 1)[0].last_stable_offset == 0  # no marker yet
    raw.close()
    broker._runner.stop()

    broker = start_broker(data_dir=data_dir)
    raw = raw_client(broker)
    deadline = time.monotonic() + 10
    while describe(raw, txn_id).transaction_state != "CompleteCommit":
        assert time.monotonic() < deadline, describe(raw, txn_id)
        time.sleep(0.05)
    for partition, value in ((0, b"p0"), (1, b"p1")):
        part, records = fetch(raw, topic, 1, partition=partition)
        assert part.last_stable_offset == 2
        assert visible_values(part, records) == [value]
