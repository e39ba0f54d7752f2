from __future__ import annotations

import pandas as pd
import pytest

from bps_core.queue import LabelQueue, unlabeled_keys

KEYS = [f"k{i}" for i in range(7)]


def test_queue__walks_one_at_a_time_and_finishes() -> None:
    q = LabelQueue.of([*KEYS, "k0"])  # duplicates are shown once
    assert len(q.keys) == 7
    assert q.current == ("k0",)
    assert q.move(1).current == ("k1",)
    assert q.move(-1).current == ("k0",)  # clamped at the start
    end = q.move(6)
    assert end.current == ("k6",)
    assert not end.finished
    done = end.move(1)
    assert done.finished
    assert done.current == ()
    assert done.move(1).finished
    assert done.move(-1).current == ("k6",)


def test_queue__pages_of_a_grid() -> None:
    q = LabelQueue.of(KEYS, page_size=3)
    assert q.current == ("k0", "k1", "k2")
    assert (q.page, q.n_pages) == (1, 3)
    assert q.move(2).current == ("k6",)
    assert q.move(3).finished
    single = q.move(1).with_page_size(1)
    assert single.current == ("k3",)
    assert single.move(1).with_page_size(3).current == ("k3", "k4", "k5")
    with pytest.raises(ValueError, match="page_size"):
        LabelQueue.of(KEYS, page_size=0)


def test_unlabeled_keys__skips_labeled_and_bad_in_a_seeded_order() -> None:
    samples = pd.DataFrame(
        {"key": KEYS, "status": ["ok"] * 6 + ["bad"]},
    )
    got = unlabeled_keys(samples, ["k1", "k2"], seed=3)
    assert sorted(got) == ["k0", "k3", "k4", "k5"]
    assert got == unlabeled_keys(samples, ["k1", "k2"], seed=3)
    assert {tuple(unlabeled_keys(samples, [], seed=s)) for s in range(5)} != {tuple(KEYS[:6])}
