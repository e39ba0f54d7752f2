from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bps_core import verbs
from bps_core.embeddings import EmbedConfig, compute_embeddings
from bps_core.errors import MetadataError
from bps_core.project import Project
from bps_core.selection import RandomStrategy, SelectionError, Strategy, make_strategy
from bps_core.selection.simulate import (
    CURVE_COLUMNS,
    SimulationConfig,
    align_truth,
    full_pool_scores,
    labels_to_fraction,
    plot_curves,
    read_truth,
    simulate,
)
from bps_core.synthetic import SynthResult
from tests.selection.conftest import make_pool


def _task(n: int = 600) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pool = make_pool(n=n, n_labeled=0, seed=4)
    x = pool.embeddings
    y = np.where(x[:, 0] + 0.5 * x[:, 1] > 0, "track", "none")
    groups = np.arange(n) % 30
    return x, y, groups.astype(str)


def test_simulate__one_row_per_strategy_seed_round_and_learning_happens() -> None:
    x, y, groups = _task()
    cfg = SimulationConfig(("random", "hybrid"), batch=10, rounds=4, seeds=2)
    curve = simulate(x, y, groups, cfg)
    assert tuple(curve.columns) == CURVE_COLUMNS
    assert len(curve) == 2 * 2 * 5
    assert curve.groupby(["strategy", "seed"]).n_labeled.apply(list).map(
        lambda v: v == [10, 20, 30, 40, 50]).all()  # fmt: skip
    first = curve[curve["round"] == 0].accuracy.mean()
    last = curve[curve["round"] == 4].accuracy.mean()
    assert last > first
    # same seed, same initial labels: round 0 is identical across strategies
    r0 = curve[curve["round"] == 0].pivot(index="seed", columns="strategy", values="accuracy")
    assert (r0["random"] == r0["hybrid"]).all()
    again = simulate(x, y, groups, cfg)
    pd.testing.assert_frame_equal(curve, again)


def test_simulate__bad_configs_are_clear() -> None:
    x, y, groups = _task(100)
    with pytest.raises(SelectionError, match="unknown strategies nope"):
        simulate(x, y, groups, SimulationConfig(("nope",)))
    with pytest.raises(SelectionError, match="do not fit"):
        simulate(x, y, groups, SimulationConfig(("random",), batch=50, rounds=5))


def test_labels_to_fraction__mean_curve_is_not_fooled_by_one_lucky_round() -> None:
    # seed 0 spikes to the full figure at 20 labels and falls back; seed 1 climbs steadily
    acc = {"lucky": {0: [0.5, 1.0, 0.6, 0.6, 1.0], 1: [0.5, 0.6, 0.7, 0.8, 1.0]},
           "steady": {0: [0.5, 0.7, 0.9, 1.0, 1.0], 1: [0.5, 0.7, 0.9, 1.0, 1.0]},
           "never": {0: [0.5] * 5, 1: [0.5] * 5}}  # fmt: skip
    curve = pd.DataFrame([
        {"strategy": name, "seed": seed, "n_labeled": 10 * (i + 1), "balanced_accuracy": v}
        for name, seeds in acc.items() for seed, vals in seeds.items() for i, v in enumerate(vals)
    ])  # fmt: skip
    full = np.array([1.0, 1.0])
    got = labels_to_fraction(curve, full, fraction=0.95, n_boot=200)
    assert got.loc["lucky", "per_seed"] == 35.0  # (20 + 50) / 2: the spike counts
    assert got.loc["lucky", "mean_curve"] == 50.0  # the mean first reaches 0.95 at 50
    assert got.loc["steady", "mean_curve"] == 40.0
    assert got.loc["steady", "per_seed"] == 40.0
    assert got.loc["steady", "low"] == got.loc["steady", "high"] == 40.0  # seeds agree
    assert got.loc["lucky", "low"] <= got.loc["lucky", "mean_curve"] <= got.loc["lucky", "high"]
    assert got.loc["never", "never"] == 2
    assert got.loc["never", "mean_curve"] == got.loc["never", "beyond"] == 60.0
    # relative to each seed's full-pool figure
    half = labels_to_fraction(curve, np.array([0.5, 0.5]), fraction=0.95, n_boot=10)
    assert half.loc["never", "mean_curve"] == 10.0


def test_labels_to_fraction__interpolate_reads_the_mean_curve_between_grid_points() -> None:
    # mean curves: "near" reaches 0.95 just after 30 labels, "far" just before 40; on the grid
    # both read 40
    acc = {"near": {0: [0.5, 0.7, 0.94, 0.99, 1.0], 1: [0.5, 0.7, 0.94, 0.99, 1.0]},
           "far": {0: [0.5, 0.7, 0.9, 0.96, 1.0], 1: [0.5, 0.7, 0.9, 0.96, 1.0]},
           "first": {0: [0.96, 1.0, 1.0, 1.0, 1.0], 1: [0.96, 1.0, 1.0, 1.0, 1.0]},
           "never": {0: [0.5] * 5, 1: [0.5] * 5}}  # fmt: skip
    curve = pd.DataFrame([
        {"strategy": name, "seed": seed, "n_labeled": 10 * (i + 1), "balanced_accuracy": v}
        for name, seeds in acc.items() for seed, vals in seeds.items() for i, v in enumerate(vals)
    ])  # fmt: skip
    full = np.array([1.0, 1.0])
    grid = labels_to_fraction(curve, full, fraction=0.95, n_boot=20)
    got = labels_to_fraction(curve, full, fraction=0.95, n_boot=20, interpolate=True,
                             keep_boot=True)  # fmt: skip
    assert grid.loc["near", "mean_curve"] == grid.loc["far", "mean_curve"] == 40.0
    assert got.loc["near", "mean_curve"] == pytest.approx(32.0)  # 30 + 10 * 0.01 / 0.05
    assert got.loc["far", "mean_curve"] == pytest.approx(38.333, abs=1e-3)  # 30 + 10 * 5 / 6
    assert got.loc["first", "mean_curve"] == 10.0  # already there at the first count
    assert got.loc["never", "mean_curve"] == 60.0  # never: still one batch beyond
    assert got.loc["near", "per_seed"] == 40.0  # per seed stays on the grid
    assert len(got.loc["near", "boot"]) == 20
    assert "boot" not in grid.columns


def test_full_pool_scores__one_figure_per_seed_on_simulate_splits() -> None:
    x, y, groups = _task(300)
    cfg = SimulationConfig(("random",), seeds=3)
    full = full_pool_scores(x, y, groups, cfg)
    assert full.shape == (3,)
    assert ((full > 0.8) & (full <= 1.0)).all()  # the task is nearly linear


def test_truth_file__errors_name_the_file_and_column(tmp_path: Path) -> None:
    path = tmp_path / "truth.csv"
    path.write_text("filename,has_track\na.tif,1\nb.tif,\n")
    with pytest.raises(MetadataError, match="no column 'well'"):
        read_truth(path, "has_track", "well")
    truth = read_truth(path, "has_track", None)
    rows, y, groups = align_truth(["input:x/a.tif", "input:x/b.tif", "input:c.tif"], truth,
                                  "has_track", None)  # fmt: skip
    assert rows.tolist() == [0]  # b has no label, c is not in the file
    assert y.tolist() == ["1"]
    assert groups is None
    with pytest.raises(MetadataError, match="no file name"):
        align_truth(["input:z.tif"], truth, "has_track", None)


def test_plot_curves__writes_a_png(tmp_path: Path) -> None:
    x, y, groups = _task(200)
    curve = simulate(x, y, groups, SimulationConfig(("random",), batch=10, rounds=2, seeds=2))
    plot_curves(curve, tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_simulate__a_pick_is_labeled_at_once_and_never_picked_again() -> None:
    from bps_core.selection import make_strategy

    x, y, groups = _task(300)
    seen: list[set[int]] = []

    class Spy:
        def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
            self.inner = inner

        def select(self, pool, budget):  # type: ignore[no-untyped-def]
            # every earlier pick is labeled by now (the oracle labels at once)
            assert set().union(*seen) <= set(np.flatnonzero(pool.labeled).tolist())
            picks = self.inner.select(pool, budget)
            assert not pool.labeled[picks].any()
            seen.append({int(i) for i in picks})
            return picks

    def factory(name, seed, has_model):  # type: ignore[no-untyped-def]
        return Spy(make_strategy(name, random_state=seed, has_model=has_model))

    cfg = SimulationConfig(("random",), batch=10, rounds=4, seeds=1)
    simulate(x, y, groups, cfg, factory=factory)
    assert len(seen) == 4
    assert len(set().union(*seen)) == 40  # four rounds, no sample twice

    class Repeats:
        def select(self, pool, budget):  # type: ignore[no-untyped-def]
            return np.flatnonzero(pool.labeled)[:budget]

    with pytest.raises(SelectionError, match="picked a sample an earlier round picked"):
        simulate(x, y, groups, cfg, factory=lambda *a: Repeats())


def _peer_factory(name: str, seed: int, has_model: bool) -> Strategy:
    if name == "peer":
        return RandomStrategy(seed)
    return make_strategy(name, random_state=seed, has_model=has_model)


def test_run_simulation__truth_file_runs_a_peer_writes_files_and_reports_progress(
    tiny_project: Project, tiny_dataset: SynthResult, tmp_path: Path
) -> None:
    compute_embeddings(tiny_project, EmbedConfig(method="pixels", image_size=32))
    settings = verbs.SimulateSettings("particle_type", ("random", "peer"), batch=8, rounds=2,
                                      seeds=2, group_column="well",
                                      truth_file=str(tiny_dataset.truth_csv),
                                      extra_strategies=("peer",))  # fmt: skip
    fractions: list[float] = []
    told: list[tuple[int, tuple[str, ...]]] = []
    result = verbs.run_simulation(
        tiny_project, settings, fractions.append, out=tmp_path / "curve.csv",
        factory=_peer_factory, on_truth=lambda n, classes: told.append((n, classes)),
    )  # fmt: skip
    assert told == [(result.n_samples, tuple(result.classes))]
    assert result.n_samples == len(tiny_project.samples())
    assert len(result.classes) >= 2
    assert len(result.table) == 2 * 2 * 3
    assert set(result.table.strategy) == {"random", "peer"}
    assert len(result.full_pool) == 2
    assert set(result.reach.index) == {"random", "peer"}
    assert result.curve == str(tmp_path / "curve.csv")
    assert result.png == str(tmp_path / "curve.png")
    assert result.labels_to_95 is None
    assert len(pd.read_csv(result.curve)) == len(result.table)
    assert Path(result.png).stat().st_size > 0
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0


def test_run_simulation__without_embeddings_is_a_clear_error(
    tiny_project: Project, tiny_dataset: SynthResult
) -> None:
    settings = verbs.SimulateSettings("particle_type", ("random",),
                                      truth_file=str(tiny_dataset.truth_csv))  # fmt: skip
    with pytest.raises(SelectionError, match="no embeddings yet"):
        verbs.run_simulation(tiny_project, settings)


def test_run_simulation__peer_strategies_need_a_factory(
    tiny_project: Project, tiny_dataset: SynthResult
) -> None:
    settings = verbs.SimulateSettings("particle_type", ("peer",), extra_strategies=("peer",),
                                      truth_file=str(tiny_dataset.truth_csv))  # fmt: skip
    with pytest.raises(SelectionError, match="need a factory"):
        verbs.run_simulation(tiny_project, settings)


def test_simulate_settings__refuses_an_empty_label_column_a_bad_threshold_or_two_truths() -> None:
    with pytest.raises(ValueError, match="truth column"):
        verbs.SimulateSettings("", ("random",))
    with pytest.raises(verbs.SettingsError, match="threshold"):
        verbs.SimulateSettings("particle_type", ("random",), threshold=1.0)
    with pytest.raises(ValueError, match="not both"):
        verbs.SimulateSettings("particle_type", ("random",), truth_csv="simulations/t.csv",
                               truth_file="/t.csv")  # fmt: skip


def test_simulate_settings__a_job_refuses_a_truth_file_outside_the_project(
    tiny_project: Project, tiny_dataset: SynthResult
) -> None:
    settings = verbs.SimulateSettings("particle_type", ("random",), seeds=60,
                                      truth_file=str(tiny_dataset.truth_csv))  # fmt: skip
    with pytest.raises(SelectionError, match="a simulation job reads its truth"):
        settings.check(tiny_project)
