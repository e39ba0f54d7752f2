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


class TestLabelQueueProgress:
    def test_n_labeled__counts_labels_not_the_position(self) -> None:
        q = LabelQueue.of(KEYS).move(3)  # three skipped, none labeled
        assert q.n_labeled([]) == 0
        assert q.n_labeled(["k0", "k5", "elsewhere"]) == 2
        assert q.unlabeled(["k0", "k5"]) == ["k1", "k2", "k3", "k4", "k6"]

    def test_finished__after_skipping_everything_leaves_all_unlabeled(self) -> None:
        q = LabelQueue.of(KEYS[:3]).move(3)
        assert q.finished
        assert q.n_labeled([]) == 0
        assert q.unlabeled([]) == KEYS[:3]


class TestLabelQueueChosenTiles:
    def test_chosen__all_tiles_of_a_new_page(self) -> None:
        q = LabelQueue.of(KEYS, page_size=3)
        assert q.chosen == ("k0", "k1", "k2")
        assert q.toggle("k1").chosen == ("k0", "k2")
        assert q.toggle("k1").toggle("k1").chosen == ("k0", "k1", "k2")
        assert q.toggle("k5").chosen == q.chosen  # not on this page: ignored
        assert q.choose(["k2"]).chosen == ("k2",)
        assert q.toggle("k1").move(1).chosen == ("k3", "k4", "k5")  # a new page: all chosen

    def test_after_labeling__part_of_a_page_stays_and_chooses_the_rest(self) -> None:
        q = LabelQueue.of(KEYS, page_size=3).toggle("k1")
        q = q.after_labeling(q.chosen)  # k0, k2 labeled
        assert q.position == 0
        assert q.chosen == ("k1",)
        q = q.after_labeling(q.chosen)  # the last tile: next page
        assert q.position == 3
        assert q.chosen == ("k3", "k4", "k5")

    def test_after_labeling__single_image_moves_on(self) -> None:
        q = LabelQueue.of(KEYS).after_labeling(["k0"])
        assert q.current == ("k1",)

    def test_after_undo__shows_the_page_with_the_undone_tiles_chosen(self) -> None:
        q = LabelQueue.of(KEYS, page_size=3).toggle("k1")
        labeled = q.chosen
        q = q.after_labeling(labeled)
        back = q.after_undo(0, labeled)  # same page
        assert back.chosen == ("k0", "k2")
        assert back.labeled_here == frozenset()
        q = q.after_labeling(q.chosen)  # k1: on to page 2
        back = q.after_undo(0, ["k1"])
        assert (back.position, back.chosen) == (0, ("k1",))
        assert back.after_labeling(["k1"]).position == 3  # the rest of that page was done


def test_unlabeled_keys__assigned_samples_come_first_in_one_order_for_every_labeler() -> None:
    samples = pd.DataFrame({"key": [f"input:{i}.tif" for i in range(200)], "status": "ok"})
    assigned = {f"input:{i}.tif" for i in range(0, 200, 10)}  # 20 shared samples
    alice_done = {"input:3.tif", "input:5.tif", "input:20.tif"}  # one of them assigned
    bob_done = {"input:7.tif", "input:11.tif"}
    alice = unlabeled_keys(samples, alice_done, first=assigned)
    bob = unlabeled_keys(samples, bob_done, first=assigned)
    assert set(alice[:19]) == assigned - alice_done  # every pending assignment before the rest
    assert set(bob[:20]) == assigned
    assert [k for k in bob[:20] if k != "input:20.tif"] == alice[:19]  # the same order
    assert sorted(alice) == sorted(set(samples.key) - alice_done)  # nothing lost or doubled
    assert unlabeled_keys(samples, alice_done) == unlabeled_keys(samples, alice_done, first=())


def test_upcoming__the_keys_after_the_current_page() -> None:
    q = LabelQueue.of([f"k{i}" for i in range(10)], page_size=3)
    assert q.upcoming(4) == ("k3", "k4", "k5", "k6")
    assert q.move(3).upcoming(4) == ()  # the last page (k9): nothing after it
    assert q.move(2).upcoming(4) == ("k9",)
    assert LabelQueue.of(["a", "b"]).upcoming(0) == ()


def test_n_labeled__counts_with_sets_and_lists_and_the_key_set_survives_moves() -> None:
    q = LabelQueue.of(["a", "b", "c", "d"])
    assert q.n_labeled(frozenset({"a", "x"})) == 1
    assert q.n_labeled(["b", "c", "y"]) == 2
    moved = q.move(1).after_labeling(["b"])
    assert moved.key_set is q.key_set  # made once per queue, not per key press
    assert moved == LabelQueue(("a", "b", "c", "d"), 2)  # the cache takes no part in equality


def test_resumed__opens_the_first_page_with_an_unlabeled_key_or_none() -> None:
    keys = ["a", "b", "c", "d", "e"]
    assert LabelQueue.resumed(keys, 1, set()).position == 0  # type: ignore[union-attr]
    assert LabelQueue.resumed(keys, 1, {"a", "b"}).current == ("c",)  # type: ignore[union-attr]
    # a skipped image comes back: the first one not labeled, even before labeled ones
    assert LabelQueue.resumed(keys, 1, {"a", "c"}).current == ("b",)  # type: ignore[union-attr]
    grid = LabelQueue.resumed(keys, 2, {"a", "b", "c"})  # page-aligned: the page of "d"
    assert grid is not None
    assert grid.current == ("c", "d")
    assert grid.position == 2
    assert grid.chosen == ("c", "d")
    assert LabelQueue.resumed(keys, 2, set(keys)) is None
    assert LabelQueue.resumed([], 1, set()) is None
