from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bps_core.errors import MetadataError
from bps_core.selection import SelectionError
from bps_core.selection.simulate import (
    CURVE_COLUMNS,
    SimulationConfig,
    align_truth,
    labels_to_reach,
    plot_curves,
    read_truth,
    simulate,
)
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


def test_labels_to_reach__mean_over_seeds() -> None:
    curve = pd.DataFrame(
        {"strategy": ["a"] * 4 + ["b"] * 4, "seed": [0, 0, 1, 1] * 2,
         "n_labeled": [10, 20] * 4, "accuracy": [0.5, 0.9, 0.9, 0.95, 0.5, 0.6, 0.9, 0.9]}
    )  # fmt: skip
    got = labels_to_reach(curve, 0.85)
    assert got["a"] == 15.0
    assert np.isnan(got["b"])  # seed 0 never gets there


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
