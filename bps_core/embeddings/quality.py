"""Embedding quality where ground truth is known: grouped k-NN accuracy.

k-NN on the embedding predicts a truth column; folds are grouped by well (which encodes the
mouse), so images of one animal never sit on both sides. ``has_track`` is rare (about 2% of the
demo data): a plain majority vote then never predicts it, so predictions divide the neighbour
vote by each class's share of the training fold (prior correction), and balanced accuracy is
the figure to compare. Plain accuracy and, for two classes, ROC AUC of the neighbour vote are
reported beside it.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.metrics import accuracy_score, balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.neighbors import KNeighborsClassifier

TRUTH_LABELS = ("has_track", "particle_type")


def find_truth(datasource_path: str) -> pd.DataFrame | None:
    """The synthetic ``_synthetic/truth.csv`` beside a ``Microscopy/train`` folder, if any."""
    root = Path(datasource_path)
    for candidate in (root / "_synthetic", root.parent.parent / "_synthetic"):
        truth = candidate / "truth.csv"
        if truth.is_file():
            return pd.read_csv(truth, keep_default_na=False)
    return None


def knn_quality(
    vectors: NDArray[np.floating[Any]],
    keys: list[str],
    truth: pd.DataFrame,
    *,
    labels: tuple[str, ...] = TRUTH_LABELS,
    group_col: str = "well",
    k: int = 10,
    folds: int = 5,
    max_samples: int = 20_000,
) -> dict[str, dict[str, float]]:
    """Cross-validated k-NN (cosine) accuracy and balanced accuracy per truth column.

    Above ``max_samples`` a seeded random subsample is scored: the figures are estimates
    either way, and brute-force k-NN over 100k x 80k pairs per fold took minutes.
    """
    by_name = truth.set_index("filename")
    names = [posixpath.basename(key.split(":", 1)[1]) for key in keys]
    present = [i for i, n in enumerate(names) if n in by_name.index]
    if len(present) < folds * 2:
        return {}
    if len(present) > max_samples:
        rng = np.random.default_rng(0)
        present = sorted(rng.choice(present, max_samples, replace=False).tolist())
    rows = by_name.loc[[names[i] for i in present]]
    x = np.asarray(vectors)[present]
    groups = rows[group_col].astype(str).to_numpy()
    n_folds = min(folds, len(set(groups)))
    out: dict[str, dict[str, float]] = {}
    for label in labels:
        if label not in rows.columns:
            continue
        y = rows[label].astype(str).to_numpy()
        classes = np.unique(y)
        if len(classes) < 2:
            continue
        votes = np.zeros((len(y), len(classes)))
        for train, test in GroupKFold(n_splits=n_folds).split(x, y, groups):
            clf = KNeighborsClassifier(n_neighbors=min(k, len(train)), metric="cosine")
            clf.fit(x[train], y[train])
            cols = np.searchsorted(classes, clf.classes_)
            prior = np.array([np.mean(y[train] == c) for c in clf.classes_])
            votes[np.ix_(test, cols)] = clf.predict_proba(x[test]) / prior
        pred = classes[np.argmax(votes, axis=1)]
        scores = {
            "accuracy": float(accuracy_score(y, pred)),
            "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
            "n": len(y),
        }
        if len(classes) == 2:
            scores["roc_auc"] = float(roc_auc_score(y == classes[1], votes[:, 1]))
        out[label] = scores
    return out
