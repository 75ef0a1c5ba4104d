"""Property tests: the manager against a plain reference model of Kafka's rules.

The model keeps each producer's whole history and decides every batch from first
principles (sequences modulo 2**31); the manager keeps five batches and snapshots.
Restarts (snapshot, then load into a new manager) are mixed in; after one, the
model forgets all but the last batch, as Kafka's snapshot does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.errors import DuplicateBatchError, StorageError
from storage.producer_state import ProducerStateManager
from wire.errors import ErrorCode
from wire.records import SimpleRecord, build_batch, parse_header

SEQ_SPACE = 2**31


@dataclass
class ModelProducer:
    epoch: int
    # (first_seq, last_seq, first_offset, last_offset) of each batch in this epoch
    batches: list[tuple[int, int, int, int]] = field(default_factory=list)


class Model:
    def __init__(self) -> None:
        self.producers: dict[int, ModelProducer] = {}
        self.end = 0

    def decide(
        self, pid: int, epoch: int, first: int, count: int
    ) -> tuple[str, tuple[int, int] | None]:
        last = (first + count - 1) % SEQ_SPACE
        p = self.producers.get(pid)
        if p is not None and epoch == p.epoch:
            for f, lst, fo, lo in p.batches[-5:]:
                if (f, lst) == (first, last):
                    return "duplicate", (fo, lo)
        if p is None:
            return "ok", None
        if epoch < p.epoch:
            return "fenced", None
        if epoch > p.epoch:
            return ("ok", None) if first == 0 else ("out_of_order", None)
        expected = (p.batches[-1][1] + 1) % SEQ_SPACE
        return ("ok", None) if first == expected else ("out_of_order", None)

    def apply(self, pid: int, epoch: int, first: int, count: int) -> None:
        p = self.producers.get(pid)
        if p is None or p.epoch != epoch:
            p = self.producers[pid] = ModelProducer(epoch)
        p.batches.append((first, (first + count - 1) % SEQ_SPACE, self.end, self.end + count - 1))
        self.end += count

    def restart(self) -> None:
        for p in self.producers.values():
            del p.batches[:-1]


def header_for(pid: int, epoch: int, seq: int, count: int):
    return parse_header(
        build_batch(
            [SimpleRecord(None, b"x", timestamp=1) for _ in range(count)],
            producer_id=pid,
            producer_epoch=epoch,
            base_sequence=seq,
        )
    )


def run_manager(psm: ProducerStateManager, end: int, pid: int, epoch: int, seq: int, count: int):
    header = header_for(pid, epoch, seq, count)
    try:
        psm.check_batch(header, origin="client", now_ms=0)
    except DuplicateBatchError as exc:
        return "duplicate", (exc.first_offset, exc.last_offset)
    except StorageError as exc:
        return {
            ErrorCode.INVALID_PRODUCER_EPOCH: "fenced",
            ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER: "out_of_order",
        }[exc.error_code], None
    header.base_offset = end
    psm.on_batch_appended(header, first_offset=end, append_time_ms=-1, control_type=None)
    return "ok", None


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_manager_matches_reference_model(tmp_path_factory, data) -> None:
    directory: Path = tmp_path_factory.mktemp("psm")
    psm = ProducerStateManager(directory)
    model = Model()
    batches: list = []  # (header) for replay after restarts
    for _ in range(data.draw(st.integers(5, 60), label="steps")):
        if data.draw(st.integers(0, 24), label="restart?") == 0:
            psm.take_snapshot(model.end)
            psm = ProducerStateManager(directory)
            psm.load(
                0, model.end, lambda start: ((h, None) for h in batches if h.last_offset >= start)
            )
            model.restart()
            continue
        pid = data.draw(st.sampled_from([1, 2]), label="pid")
        p = model.producers.get(pid)
        cur_epoch = p.epoch if p else 0
        epoch = max(
            0, cur_epoch + data.draw(st.sampled_from([0] * 8 + [1, -1]), label="epoch step")
        )
        count = data.draw(st.integers(1, 4), label="count")
        kind = data.draw(
            st.sampled_from(["next", "next", "next", "dup", "zero", "any", "wrap"]), label="kind"
        )
        if kind == "next" and p and p.batches:
            seq = (p.batches[-1][1] + 1) % SEQ_SPACE
        elif kind == "dup" and p and p.batches:
            back = data.draw(st.integers(1, min(7, len(p.batches))), label="batches back")
            f, lst, _, _ = p.batches[-back]
            seq, count = f, (lst - f) % SEQ_SPACE + 1
        elif kind == "wrap":
            seq = SEQ_SPACE - data.draw(st.integers(1, 4), label="from max")
        elif kind == "any":
            seq = data.draw(st.integers(0, SEQ_SPACE - 1), label="seq")
        else:
            seq = 0
        expected = model.decide(pid, epoch, seq, count)
        got = run_manager(psm, model.end, pid, epoch, seq, count)
        assert got == expected, (pid, epoch, seq, count)
        if expected[0] == "ok":
            h = header_for(pid, epoch, seq, count)
            h.base_offset = model.end
            batches.append(h)
            model.apply(pid, epoch, seq, count)
        for mpid, mp in model.producers.items():
            entry = psm.last_entry(mpid)
            assert entry is not None
            assert entry.producer_epoch == mp.epoch
            assert entry.last_sequence == mp.batches[-1][1]
            assert entry.last_data_offset == mp.batches[-1][3]


# -- transactions ---------------------------------------------------------------------


def txn_header(pid: int, seq: int, count: int):
    return parse_header(
        build_batch(
            [SimpleRecord(None, b"t", timestamp=1) for _ in range(count)],
            producer_id=pid,
            producer_epoch=0,
            base_sequence=seq,
            is_transactional=True,
        )
    )


def marker_header(pid: int, commit: bool):
    from wire.records import build_control_batch

    return parse_header(build_control_batch(commit, pid, 0, 0, 1))


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from([1, 2, 3]),
            st.sampled_from(["data", "data", "commit", "abort"]),
            st.integers(1, 3),
        ),
        max_size=40,
    ),
    reload_at=st.integers(0, 40),
)
def test_transactions_match_model(tmp_path_factory, ops, reload_at) -> None:
    """Open transactions, the first unstable offset and the aborted-transaction
    entries (with their last stable offsets) follow from first principles; a
    reload from snapshot plus replay reproduces them."""
    directory: Path = tmp_path_factory.mktemp("txn")
    psm = ProducerStateManager(directory)
    open_txns: dict[int, int] = {}  # pid -> first offset
    next_seq: dict[int, int] = {}
    aborted: list[tuple[int, int, int, int]] = []
    got_aborted: list[tuple[int, int, int, int]] = []
    log: list[tuple] = []
    end = 0
    for i, (pid, kind, count) in enumerate(ops):
        if i == reload_at:
            psm.take_snapshot(end)
            psm = ProducerStateManager(directory)
            psm.load(0, end, lambda start: (item for item in log if item[0].last_offset >= start))
            psm.on_high_watermark_updated(end)
        if kind == "data":
            header = txn_header(pid, next_seq.get(pid, 0), count)
            control = None
        else:
            header = marker_header(pid, kind == "commit")
            control = 1 if kind == "commit" else 0
        psm.check_batch(header, origin="client" if control is None else "coordinator", now_ms=0)
        header.base_offset = end
        done = psm.on_batch_appended(
            header, first_offset=end, append_time_ms=-1, control_type=control
        )
        log.append((header, control))
        # The model.
        if control is None:
            next_seq[pid] = next_seq.get(pid, 0) + count
            open_txns.setdefault(pid, end)
            assert done is None
        elif pid in open_txns:
            first = open_txns.pop(pid)
            others = [f for p, f in open_txns.items() if p != pid]
            lso = min(others) if others else end + 1
            assert done is not None and (done.first_offset, done.last_offset) == (first, end)
            assert done.last_stable_offset == lso
            if control == 0:
                aborted.append((pid, first, end, lso))
        else:
            assert done is None
        if done is not None and done.is_aborted:
            t = done.to_aborted_txn()
            got_aborted.append((t.producer_id, t.first_offset, t.last_offset, t.last_stable_offset))
        end = header.last_offset + 1
        psm.on_high_watermark_updated(end)
        expected_unstable = min(open_txns.values()) if open_txns else None
        assert psm.first_unstable_offset() == expected_unstable
        assert sorted(
            (t.producer_id, t.first_offset) for t in psm.ongoing_transactions()
        ) == sorted(open_txns.items())
    assert got_aborted == aborted
