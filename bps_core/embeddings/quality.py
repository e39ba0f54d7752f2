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
    targets = {}
    for label in labels:
        if label in rows.columns:
            y = rows[label].astype(str).to_numpy()
            if len(np.unique(y)) >= 2:
                targets[label] = y
    if not targets:
        return {}
    votes = {label: np.zeros((len(y), len(np.unique(y)))) for label, y in targets.items()}
    # The folds depend on the groups only: one neighbour search per fold serves every label.
    for train, test in GroupKFold(n_splits=n_folds).split(x, groups=groups):
        nearest = train[cosine_neighbours(x[train], x[test], min(k, len(train)))]
        for label, y in targets.items():
            classes = np.unique(y)
            fold_classes = np.unique(y[train])
            cols = np.searchsorted(classes, fold_classes)
            near = y[nearest]
            share = np.stack([(near == c).mean(axis=1) for c in fold_classes], axis=1)
            prior = np.array([np.mean(y[train] == c) for c in fold_classes])
            votes[label][np.ix_(test, cols)] = share / prior
    out: dict[str, dict[str, float]] = {}
    for label, y in targets.items():
        classes = np.unique(y)
        pred = classes[np.argmax(votes[label], axis=1)]
        scores = {
            "accuracy": float(accuracy_score(y, pred)),
            "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
            "n": len(y),
        }
        if len(classes) == 2:
            scores["roc_auc"] = float(roc_auc_score(y == classes[1], votes[label][:, 1]))
        out[label] = scores
    return out


def cosine_neighbours(
    reference: NDArray[np.floating[Any]],
    queries: NDArray[np.floating[Any]],
    k: int,
    block: int = 2048,
) -> NDArray[np.intp]:
    """Rows of ``reference`` nearest to each query by cosine distance (k per query, any order).

    The neighbours scikit-learn's brute-force cosine k-NN finds, up to ties, from one matrix
    product of unit vectors per block of queries (zero vectors stay zero: distance 1 to all).

    Args:
        reference: The searched rows, shape (n, d).
        queries: The query rows, shape (m, d).
        k: Neighbours per query, at most n.
        block: Queries per matrix product (bounds memory at block x n similarities).

    Returns:
        Indices into ``reference``, shape (m, k).
    """
    ref = _unit(reference)
    qry = _unit(queries)
    out = np.empty((len(qry), k), dtype=np.intp)
    for s in range(0, len(qry), block):
        sim = qry[s : s + block] @ ref.T
        out[s : s + block] = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    return out


def _unit(x: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
    a = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    unit: NDArray[np.float32] = (a / np.where(norms > 0, norms, 1.0)).astype(np.float32, copy=False)
    return unit
