from __future__ import annotations

import numpy as np
import pytest

from bps_core.selection import SelectionError
from bps_core.selection.model import ModelConfig, cross_validate, fit_predict


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
