"""Random sequences of transactional operations against a model of what commits.

Each example drives a real broker over a socket with a random mix of
InitProducerId (which fences and aborts whatever the previous incarnation left
open), produce, commit, abort and writes from a fenced zombie. Afterwards a
read_committed fetch must return exactly the committed values in order, and
the last stable offset must be the end of the log once nothing is open.
"""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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

OPS = st.lists(
    st.sampled_from(["init", "send", "send", "send", "commit", "abort", "zombie"]),
    min_size=1,
    max_size=14,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_random_transactions_match_the_model(broker: Any, raw_client: Any, ops: list[str]) -> None:
    raw = raw_client(broker)
    txn_id, topic = "m-" + uuid.uuid4().hex[:8], "t-" + uuid.uuid4().hex[:8]
    find_txn_coordinator(raw, txn_id)
    create_topic(raw, topic)
    pid, epoch = init_ok(raw, txn_id)
    old_epoch = None
    seq = 0
    in_txn = False
    pending: list[bytes] = []
    committed: list[bytes] = []
    counter = 0
    try:
        for op in ops:
            if op == "init":
                old_epoch = epoch
                pid, epoch = init_ok(raw, txn_id)
                seq, in_txn, pending = 0, False, []
            elif op == "send":
                if not in_txn:
                    assert add_partitions(raw, txn_id, pid, epoch, [(topic, 0)]) == {(topic, 0): 0}
                    in_txn = True
                counter += 1
                value = b"v%d" % counter
                assert produce_txn(raw, topic, pid, epoch, seq, [value], txn_id=txn_id)[0] == 0
                seq += 1
                pending.append(value)
            elif op in ("commit", "abort"):
                code = end_txn(raw, txn_id, pid, epoch, op == "commit")
                if in_txn:
                    assert code == 0
                    if op == "commit":
                        committed.extend(pending)
                else:
                    assert code in (0, 48)  # a retry of the last end, or nothing to end
                in_txn, pending = False, []
            elif op == "zombie" and old_epoch is not None:
                assert end_txn(raw, txn_id, pid, old_epoch, True) == 90  # PRODUCER_FENCED
                assert (
                    produce_txn(raw, topic, pid, old_epoch, 0, [b"zombie"], txn_id=txn_id)[0] != 0
                )
        if in_txn:
            assert end_txn(raw, txn_id, pid, epoch, False) == 0
        part, records = fetch(raw, topic, 1)
        assert visible_values(part, records) == committed
        assert part.last_stable_offset == part.high_watermark
    finally:
        raw.close()
