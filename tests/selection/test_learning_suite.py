"""Smoke test of bench/bench_learning.py: one small real-data task, end to end.

The real set (scikit-image's ``lfw_subset``, shipped in the wheel) is written as PNG files,
goes through ``bps-labeler init`` and ``embed`` as in the suite, and is simulated with the
default, random and the modAL peer; the suite's figures come out for each.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(BENCH))
    import bench_learning

    monkeypatch.setattr(bench_learning, "CACHE", tmp_path)
    yield bench_learning
    sys.modules.pop("bench_learning", None)


def test_learning_suite__a_small_real_task_runs_through_the_cli_and_reports_every_figure(
    suite,  # type: ignore[no-untyped-def]
) -> None:
    task = next(t for t in suite.TASKS if t.name == "lfw_faces")
    task = replace(task, batch=5, rounds=2)
    rows = suite.run_task(task, ("random", "default", "modal"), seeds=2)
    assert (suite.CACHE / "lfw_project" / "project.toml").is_file()  # made by the CLI
    assert [r["strategy"] for r in rows] == ["random", "default", "modal"]
    for r in rows:
        assert r["positive share"] == 0.5
        assert r["classes"] == 2
        assert 0 < r["full"] <= 1
        assert r["aulc"] > 0
        assert r["low"] <= r["labels"] <= r["high"] or r["labels"] > r["budget"]
    table = suite.table(__import__("pandas").DataFrame(rows))
    assert {r["strategy"] for r in table} == {"random", "default", "modal"}
    assert next(r for r in table if r["strategy"] == "random")["x random's labels"] == "1.00"


def test_learning_suite__the_chosen_candidate_is_the_registrys_default(suite) -> None:  # type: ignore[no-untyped-def]
    """The suite's ``default`` rows are its chosen candidate's: the same configuration."""
    from bps_core.selection.registry import COLD_START, DEFAULT_SHARES, FEW_LABELS, INFORMATIVE

    assert suite.CANDIDATES[suite.CHOSEN] == (FEW_LABELS, DEFAULT_SHARES, COLD_START, INFORMATIVE)


def test_learning_suite__error_adaptive_is_its_candidates_configuration(suite) -> None:  # type: ignore[no-untyped-def]
    """The suite's ``error_adaptive`` rows are ``cand_err_soft2``'s: the same picks."""
    from bps_core.selection import make_strategy
    from tests.selection.conftest import make_pool

    pool = make_pool()
    for name, cand in suite.NAMED_CANDIDATES.items():
        for seed in (0, 3):
            named = make_strategy(name, random_state=seed).select(pool, 17)
            assert (named == suite.PEERS[cand](seed).select(pool, 17)).all()


def _every_phase() -> list:  # type: ignore[type-arg]
    """Pools of every phase of ``default``: no label; labels but no model, below and at or
    above COLD_LABELS; a model."""
    from dataclasses import replace

    import numpy as np

    from tests.selection.conftest import make_pool

    pools = [replace(make_pool(n_labeled=n), probabilities=None) for n in (20, 49, 50, 90)]
    unlabeled = np.zeros(400, dtype=bool)
    return [*pools, make_pool(), replace(make_pool(), labeled=unlabeled, probabilities=None)]


def test_learning_suite__c_typ50_is_error_adaptive_in_every_phase(suite) -> None:  # type: ignore[no-untyped-def]
    """The fifth round's ``c_typ50`` (TypiClust below 50 labels without a model, then random)
    became ``error_adaptive``'s (and ``default``'s) start: the same picks before a model (no
    label, few labels, 50 and more) and after."""
    from bps_core.selection import make_strategy
    from bps_core.selection.registry import COLD_LABELS

    assert COLD_LABELS == 50
    for pool in _every_phase():
        for seed in (0, 3):
            named = make_strategy("error_adaptive", random_state=seed).select(pool, 17)
            assert (named == suite.PEERS["c_typ50"](seed).select(pool, 17)).all()


def test_learning_suite__default_stands_for_error_adaptive_in_every_phase(suite) -> None:  # type: ignore[no-untyped-def]
    """A run of ``default`` gives ``error_adaptive``'s rows (``SAME_AS_DEFAULT``): the two pick
    the same before any label, before a model (few labels, 50 and more) and after, and
    ``finish`` copies ``default``'s rows to it."""
    import pandas as pd

    from bps_core.selection import make_strategy

    assert suite.SAME_AS_DEFAULT == ("error_adaptive",)
    for pool in _every_phase():
        for seed in (0, 3):
            named = make_strategy("error_adaptive", random_state=seed).select(pool, 17)
            assert (named == make_strategy("default", random_state=seed).select(pool, 17)).all()
    rows = pd.DataFrame({"task": ["t", "t"], "strategy": ["random", "default"],
                         "classes": [2, 2], "labels": [100.0, 70.0]})  # fmt: skip
    done = suite.finish(rows).set_index("strategy")
    assert done.loc["error_adaptive", "labels"] == 70.0


def test_learning_suite__the_hindsight_row_takes_the_least_labels_per_task(suite) -> None:  # type: ignore[no-untyped-def]
    """The summary's oracle row: per task the strategy with the fewest labels, then the median
    over tasks (here a on t1, b on t2 and t3: 0.5, 0.8, 0.6 -> 0.6), with a paired interval."""
    import pandas as pd

    labels = {"random": (100, 100, 100), "a": (50, 90, 100), "b": (70, 80, 60)}
    rows = [{"task": t, "half": "dev", "strategy": s, "labels": float(v[i]),
             "labels_i": float(v[i]), "low": 0.0, "high": 300.0, "aulc": 0.9, "first5": None,
             "boot_i": [float(v[i])] * 4}
            for s, v in labels.items() for i, t in enumerate(("t1", "t2", "t3"))]  # fmt: skip
    out = suite.summary(pd.DataFrame(rows))
    best = [r for r in out if r["strategy"] == suite.HINDSIGHT]
    assert [r["half"] for r in best] == ["dev (3 tasks)", "all (3 tasks)"]
    assert best[0]["median x random's labels"] == "0.60"
    assert best[0]["between grid points (90% interval)"] == "0.60 (0.60-0.60)"
    assert {r["median x random's labels"] for r in out if r["strategy"] == "a"} == {"0.90"}


def _oracle(pool, scramble: bool):  # type: ignore[no-untyped-def]
    """Labels by the pool's cluster structure (first coordinate's sign); with ``scramble``,
    unlabeled rows get other labels (a strategy that reads them would change its answer)."""
    import numpy as np

    y = np.where(pool.embeddings[:, 0] > 0, "pos", "neg").astype(object)
    if scramble:
        y[~pool.labeled] = np.random.default_rng(1).choice(["pos", "neg"], (~pool.labeled).sum())
    return lambda _pool: y.astype(str)


def test_learning_suite__select_al_reads_only_the_labels_it_was_given(suite) -> None:  # type: ignore[no-untyped-def]
    """The seventh round's SelectAL test may read the oracle's labels of labeled rows only:
    scrambling the other rows' labels changes neither its regime nor its picks; before a
    model it picks as ``default`` does."""
    from dataclasses import replace

    from bps_core.selection import make_strategy
    from tests.selection.conftest import make_pool

    pool = make_pool(n_labeled=60)
    regimes = []
    for seed in (0, 3):
        picks = []
        for scramble in (False, True):
            s = suite.SEVENTH["select_al_strict"](seed)
            s.oracle = _oracle(pool, scramble)
            regimes.append(s.regime(pool))
            picks.append(s.select(pool, 17))
        assert (picks[0] == picks[1]).all()
    assert regimes[0] == regimes[1]
    assert regimes[2] == regimes[3]
    assert set(regimes) <= {"low", "high"}
    cold = replace(make_pool(n_labeled=20), probabilities=None)
    s = suite.SEVENTH["select_al"](0)
    assert (s.select(cold, 17) == make_strategy("default", random_state=0).select(cold, 17)).all()


def test_learning_suite__select_al_falls_back_to_high_budget_with_too_few_labels_per_class(
    suite,  # type: ignore[no-untyped-def]
) -> None:
    """Fewer labels of a class than folds: no test, ``error_adaptive``'s warm strategy."""
    import numpy as np

    from bps_core.selection import make_strategy
    from tests.selection.conftest import make_pool

    pool = make_pool(n_labeled=30)
    y = np.full(len(pool), "neg", dtype=object)
    y[np.flatnonzero(pool.labeled)[:2]] = "pos"  # two positives, three folds
    s = suite.SEVENTH["select_al"](0)
    s.oracle = lambda _pool: y.astype(str)
    assert s.regime(pool) == "high"
    warm = make_strategy("error_adaptive", random_state=0).select(pool, 17)
    assert (s.select(pool, 17) == warm).all()
