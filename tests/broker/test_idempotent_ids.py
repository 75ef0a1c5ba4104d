"""kpybroker.producer_ids over the real LocalMetadataStore: ids are unique within a
run and across restarts (a new manager over a reopened store)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpybroker.producer_ids import BLOCK_SIZE, ProducerIdExhaustedError, ProducerIdManager
from replication.metadata_store import LocalMetadataStore


def test_ids_come_from_persisted_blocks(tmp_path: Path) -> None:
    path = tmp_path / "meta.json"
    manager = ProducerIdManager(LocalMetadataStore(path))
    assert manager.current_block == (0, 0)  # nothing reserved before the first id
    ids = [manager.generate() for _ in range(BLOCK_SIZE + 5)]
    assert ids == list(range(BLOCK_SIZE + 5))
    assert manager.current_block == (BLOCK_SIZE + 5, 2 * BLOCK_SIZE)
    # A restart (or crash) skips the rest of the reserved block.
    reopened = ProducerIdManager(LocalMetadataStore(path))
    assert reopened.next_id() == 2 * BLOCK_SIZE


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=25), min_size=1, max_size=6),
    st.integers(min_value=1, max_value=10),
)
def test_unique_across_any_restarts(
    tmp_path_factory: pytest.TempPathFactory, runs: list[int], block: int
) -> None:
    path = tmp_path_factory.mktemp("ids") / "meta.json"
    seen: list[int] = []
    for count in runs:
        manager = ProducerIdManager(LocalMetadataStore(path), block_size=block)
        seen += [manager.generate() for _ in range(count)]
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen)


class _NearlyExhausted:
    def allocate_producer_id_block(self, size: int) -> int:
        return 2**63 - size // 2


def test_exhaustion_is_an_error() -> None:
    with pytest.raises(ProducerIdExhaustedError):
        ProducerIdManager(_NearlyExhausted()).generate()
