from __future__ import annotations

import numpy as np
import pytest

from bps_core.selection import SelectionError
from bps_core.selection.model import ModelConfig, cross_validate, cross_validation, fit_predict


def _leaky(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each group is a tight blob with one random label: neighbours within a group give the
    label away, so only grouped validation shows that nothing generalises."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(20), 10)
    centers = rng.normal(size=(20, 8))
    x = (centers[groups] + rng.normal(size=(200, 8)) * 0.05).astype(np.float32)
    y = np.where(rng.random(20) < 0.5, "a", "b")[groups]
    return x, y, groups


def test_cross_validate__grouping_removes_the_leak() -> None:
    x, y, groups = _leaky()
    knn = ModelConfig(kind="knn", k=3)
    leaky = cross_validate(x, y, None, knn)
    grouped = cross_validate(x, y, groups, knn)
    assert leaky.accuracy > 0.95
    assert grouped.accuracy < 0.8
    assert grouped.grouped_by == "groups"
    assert leaky.grouped_by is None


def test_cross_validate__reports_everything() -> None:
    rng = np.random.default_rng(1)
    y = np.array(["track"] * 60 + ["none"] * 60)
    x = rng.normal(size=(120, 4)).astype(np.float32)
    x[:60, 0] += 3
    m = cross_validate(x, y, np.arange(120) % 10, ModelConfig())
    assert m.classes == ["none", "track"]
    assert m.balanced_accuracy > 0.85
    assert sum(map(sum, m.confusion)) == 120
    assert set(m.per_class) == {"none", "track"}
    assert m.per_class["track"]["support"] == 60
    assert 0 <= m.macro_f1 <= 1


def test_fit_predict__probabilities_for_every_row() -> None:
    x = np.eye(4, dtype=np.float32)
    classes, p = fit_predict(x[:3], np.array(["a", "b", "a"]), x, ModelConfig(kind="knn", k=1))
    assert classes == ["a", "b"]
    assert p.shape == (4, 2)
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-6)
    assert p[1, 1] == 1.0


def test_one_class__says_what_is_missing() -> None:
    with pytest.raises(SelectionError, match="at least two classes"):
        cross_validate(np.eye(3, dtype=np.float32), np.array(["a"] * 3), None, ModelConfig())


def test_logreg_fits__use_one_blas_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_info

    seen: list[int] = []
    fit = LogisticRegression.fit

    def spy(self, x, y, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"))
        return fit(self, x, y, *args, **kwargs)

    monkeypatch.setattr(LogisticRegression, "fit", spy)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 8)).astype(np.float32)
    y = np.where(x[:, 0] > 0, "a", "b")
    fit_predict(x, y, x, ModelConfig())
    cross_validate(x, y, np.arange(60) % 6, ModelConfig())
    assert len(seen) == 6  # five folds and the final fit
    assert set(seen) == {1}


def test_cross_validate__a_class_with_two_labels_gives_two_folds_and_a_warning() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(22, 4)).astype(np.float32)
    y = np.array(["a"] * 20 + ["b"] * 2)
    m = cross_validate(x, y, None, ModelConfig())
    assert m.n_folds == 2
    assert m.warning is not None
    assert "2-fold cross-validation instead of 5-fold: class 'b' has only 2 labels" in m.warning
    grouped = cross_validate(x, y, np.arange(22) % 11, ModelConfig())
    assert grouped.n_folds == 2
    assert "class 'b' has only 2 labels" in (grouped.warning or "")


def test_cross_validate__a_class_with_one_label_gives_no_figures_and_says_why() -> None:
    x = np.random.default_rng(3).normal(size=(11, 4)).astype(np.float32)
    y = np.array(["a"] * 10 + ["b"])
    for groups in (None, np.arange(11) % 4):
        m = cross_validate(x, y, groups, ModelConfig())
        assert m.n_folds == 0
        assert m.accuracy is None
        assert m.balanced_accuracy is None
        assert "no cross-validation: class 'b' has a single label" in (m.warning or "")
        assert m.per_class["b"]["support"] == 1


def test_cross_validate__enough_labels_no_warning() -> None:
    x, y, groups = _leaky()
    assert cross_validate(x, y, groups, ModelConfig()).warning is None


def test_cross_validation__out_of_fold_probabilities_match_the_figures() -> None:
    x, y, groups = _leaky(3)
    y = np.where(x[:, 0] > 0, "a", "b")  # learnable from the coordinates
    cv = cross_validation(x, y, groups, ModelConfig())
    assert cv.probs is not None
    assert cv.probs.shape == (len(y), 2)
    predicted = np.asarray(cv.metrics.classes)[cv.probs.argmax(axis=1)]
    assert cv.metrics.accuracy == float(np.mean(predicted == y))
    # out of fold: a sample's row differs from what a model that saw it predicts
    _, seen = fit_predict(x, y, x, ModelConfig())
    assert not np.allclose(cv.probs, seen)


def test_choose_C__inner_cv_picks_the_grid_value_that_separates_the_classes() -> None:
    from bps_core.selection.model import choose_C

    x = np.linspace(1.0, 5.0, 40, dtype=np.float32)[:, None]
    y = np.where(x[:, 0] < 3.0, "a", "b")  # the boundary is far from 0: it needs a weight
    starved = ModelConfig(C=1e-6, C_grid=(1e-6, 10.0))  # C = 1e-6 predicts one class
    assert choose_C(x, y, starved) == 10.0
    assert choose_C(x, y, ModelConfig(C=1e-6)) == 1e-6  # no grid: C as given
    one = np.array(["a"] * 39 + ["b"])
    assert choose_C(x, one, starved) == 1e-6  # a class with one label: no inner CV
    _, tuned = fit_predict(x, y, x, starved)
    _, fixed = fit_predict(x, y, x, ModelConfig(C=10.0))
    assert np.allclose(tuned, fixed)
