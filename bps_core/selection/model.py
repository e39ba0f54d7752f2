"""A classifier on the embeddings: grouped cross-validation, then predictions for every sample.

Cross-validation is grouped by biological source (for BPS the well, which encodes the mouse),
so images of one mouse never sit on both sides of a split and the figures are not inflated
by near-identical neighbours.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score
from sklearn.model_selection import GroupKFold, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from threadpoolctl import threadpool_limits

from bps_core.selection.pool import SelectionError

ModelKind = Literal["logreg", "knn", "finetune"]
#: ``finetune`` trains the SimCLR backbone with a linear head on the labeled images (slower).
MODEL_KINDS: tuple[ModelKind, ...] = ("logreg", "knn", "finetune")
#: ``predict(train_rows, test_rows)``: fits on the train rows, returns the test rows'
#: probabilities, one column per class in the sorted order of the class names.
FoldPredictor = Callable[[NDArray[np.intp], NDArray[np.intp]], NDArray[np.float32]]


@dataclass(frozen=True)
class ModelConfig:
    """Settings of the model trained on the labels: its ``kind`` and that kind's parameters.

    ``C`` and ``balanced`` apply to ``logreg``, ``k`` to ``knn``, ``finetune_*`` to
    ``finetune``; ``folds`` is the cross-validation's fold count (``finetune_folds`` for
    ``finetune``, whose every fold trains the network again).
    """

    kind: ModelKind = "logreg"
    # Logistic regression on unit-length embeddings: their coordinates are small, so the usual
    # C = 1 over-regularises into predicting the majority class; balanced class weights keep
    # rare classes (a 2% "track" class in BPS) from being ignored, at some cost in calibration.
    C: float = 10.0
    balanced: bool = True
    # Candidates for C chosen by an inner stratified CV on the labels (balanced accuracy);
    # empty: C as given. Used until every class has 2 labels: C.
    C_grid: tuple[float, ...] = ()
    k: int = 10  # kNN: neighbours (cosine on unit vectors)
    folds: int = 5
    random_state: int = 0
    finetune_epochs: int = 10  # finetune: passes over the labeled images
    finetune_folds: int = 3  # finetune: each fold trains the network again


@dataclass(frozen=True)
class Metrics:
    """Cross-validated figures of a model.

    With ``n_folds`` 0 (a class with a single label) there was no cross-validation and the
    figures are None. ``warning`` says what limited the validation.
    """

    classes: list[str]
    n_labeled: int
    n_folds: int
    grouped_by: str | None
    accuracy: float | None
    balanced_accuracy: float | None
    macro_f1: float | None
    per_class: dict[str, dict[str, float | None]]
    confusion: list[list[int]]
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Returns the metrics as a plain JSON-ready dict (how they are stored with the model)."""
        return asdict(self)


@dataclass(frozen=True)
class CrossValidation:
    """Cross-validated figures and the out-of-fold probabilities they came from.

    ``probs`` has one row per labeled sample (in the order given) and one column per class of
    ``metrics.classes``: each row was predicted by a model that never saw that sample's label
    nor, grouped, any sample of its group. None without cross-validation (``n_folds`` 0).
    Label-error detection (cleanlab) and the confusion drill-down read them.
    """

    metrics: Metrics
    probs: NDArray[np.float32] | None


def _estimator(cfg: ModelConfig, n_train: int) -> Any:
    if cfg.kind == "logreg":
        weights = "balanced" if cfg.balanced else None
        return LogisticRegression(C=cfg.C, max_iter=3000, class_weight=weights)
    if cfg.kind == "knn":
        return KNeighborsClassifier(n_neighbors=max(1, min(cfg.k, n_train)), weights="distance",
                                    metric="cosine")  # fmt: skip
    if cfg.kind == "finetune":
        raise SelectionError("'finetune' trains on images: use rounds.train_model")
    raise SelectionError(f"model kind must be one of {', '.join(MODEL_KINDS)}, got {cfg.kind!r}")


def _fit(estimator: Any, x: NDArray[np.float32], y: NDArray[Any]) -> Any:
    """Fits ``estimator`` with one BLAS thread.

    The solver's products are small (labels x dims), and on a 2-core machine two BLAS threads
    per product made a logistic regression on 1,300 x 512 embeddings take 0.22 s instead of
    0.035 s (measured; the threads mostly wait on each other).
    Predicting every sample afterwards is one large product and keeps the threads.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return estimator.fit(x, y)


def _check(y: NDArray[Any]) -> list[str]:
    classes = sorted({str(v) for v in y})
    if len(classes) < 2:
        raise SelectionError(
            f"a model needs labels of at least two classes; found {len(classes)} "
            f"({', '.join(classes) or 'none'}) on {len(y)} samples"
        )
    return classes


def fit_predict(
    x_train: NDArray[np.float32], y: NDArray[Any], x_all: NDArray[np.float32], cfg: ModelConfig
) -> tuple[list[str], NDArray[np.float32]]:
    """Fits on the labeled rows and returns (classes, probabilities of shape (n_all, classes))."""
    classes = _check(y)
    return classes, _fit_proba(x_train, np.asarray(y, dtype=str), x_all, classes, cfg)


def choose_C(x: NDArray[np.float32], y: NDArray[Any], cfg: ModelConfig) -> float:
    """The C of ``cfg.C_grid`` of best inner-CV balanced accuracy (``cfg.C`` without a grid).

    Stratified K-fold with up to 3 folds; ``cfg.C`` while a class has fewer than 2 labels.
    Ties go to the C nearest ``cfg.C``.
    """
    y = np.asarray(y, dtype=str)
    _, counts = np.unique(y, return_counts=True)
    if not cfg.C_grid or cfg.kind != "logreg" or len(counts) < 2 or counts.min() < 2:
        return cfg.C
    splits = list(StratifiedKFold(int(min(3, counts.min())), shuffle=True,
                                  random_state=cfg.random_state).split(x, y))  # fmt: skip
    best, best_score = cfg.C, -1.0
    for c in sorted(cfg.C_grid, key=lambda c: abs(np.log(c / cfg.C))):
        pred = np.empty(len(y), dtype=y.dtype)
        for train, test in splits:
            est = _estimator(replace(cfg, C=c, C_grid=()), len(train))
            pred[test] = _fit(est, x[train], y[train]).predict(x[test])
        score = float(balanced_accuracy_score(y, pred))
        if score > best_score + 1e-9:
            best, best_score = c, score
    return best


def _fit_proba(
    x_train: NDArray[np.float32],
    y: NDArray[Any],
    x_pred: NDArray[np.float32],
    classes: list[str],
    cfg: ModelConfig,
) -> NDArray[np.float32]:
    """Probabilities of ``x_pred`` over ``classes`` (a class absent from ``y`` gets 0)."""
    if cfg.C_grid:
        cfg = replace(cfg, C=choose_C(x_train, y, cfg), C_grid=())
    model = _fit(_estimator(cfg, len(y)), x_train, y)
    probs = np.zeros((len(x_pred), len(classes)), dtype=np.float32)
    cols = [classes.index(str(c)) for c in model.classes_]
    for start in range(0, len(x_pred), 65536):
        probs[start : start + 65536, cols] = model.predict_proba(x_pred[start : start + 65536])
    return probs


@dataclass(frozen=True)
class FoldPlan:
    """How many folds the labels allow, whether grouped, and why fewer than asked."""

    n_folds: int
    grouped: bool
    warning: str | None = None


def plan_folds(y: NDArray[Any], groups: NDArray[Any] | None, folds: int) -> FoldPlan:
    """Decides how many cross-validation folds the labels allow, so nothing raises in sklearn.

    ``folds`` folds when every class has at least that many labels (and, grouped, there are
    that many groups); fewer, with a warning, when not; none when a class has one label (a
    fold could not hold it out and keep it in training).
    """
    y = np.asarray(y, dtype=str)
    names, counts = np.unique(y, return_counts=True)
    small = int(np.argmin(counts))
    name, m = str(names[small]), int(counts[small])
    if m < 2:
        return FoldPlan(0, False, (
            f"no cross-validation: class {name!r} has a single label (each class needs at "
            f"least 2); the model is trained on all {len(y)} labels but its accuracy is "
            f"unknown: label more {name!r} samples"
        ))  # fmt: skip
    n_groups = len(set(groups.tolist())) if groups is not None else 0
    grouped = groups is not None and n_groups >= 2
    n = min(folds, m, n_groups) if grouped else min(folds, m)
    reasons = []
    if m < folds:
        reasons.append(f"class {name!r} has only {m} labels")
    if grouped and n_groups < folds:
        reasons.append(f"the labels come from only {n_groups} groups")
    warning = None
    if n < folds:
        warning = (f"{n}-fold cross-validation instead of {folds}-fold: {' and '.join(reasons)}; "
                   f"the figures are rough until every class has {folds} labels")  # fmt: skip
    return FoldPlan(n, grouped, warning)


def cross_validate(
    x: NDArray[np.float32],
    y: NDArray[Any],
    groups: NDArray[Any] | None,
    cfg: ModelConfig,
) -> Metrics:
    """Cross-validated figures of ``cfg``'s model, grouped by ``groups`` when given."""
    return cross_validation(x, y, groups, cfg).metrics


def cross_validation(
    x: NDArray[np.float32],
    y: NDArray[Any],
    groups: NDArray[Any] | None,
    cfg: ModelConfig,
) -> CrossValidation:
    """Out-of-fold probabilities for every labeled row and their figures.

    Grouped by ``groups`` when given (see ``cross_validate_with``).
    """
    yt = np.asarray(y, dtype=str)
    classes = sorted(set(yt.tolist()))

    def predict(train: NDArray[np.intp], test: NDArray[np.intp]) -> NDArray[np.float32]:
        return _fit_proba(x[train], yt[train], x[test], classes, cfg)

    return cross_validate_with(predict, y, groups, folds=cfg.folds, random_state=cfg.random_state)


def cross_validate_with(
    predict: FoldPredictor,
    y: NDArray[Any],
    groups: NDArray[Any] | None,
    *,
    folds: int = 5,
    random_state: int = 0,
) -> CrossValidation:
    """Cross-validates any model with grouped (else stratified) K-fold.

    Args:
        predict: ``predict(train_rows, test_rows)`` trains on the train rows and returns the
            test rows' probabilities, one column per class in sorted order of the names.
        y: The labels.
        groups: The group of each label (e.g. its well), or None for stratified folds.
        folds: Folds asked for (fewer when the labels do not allow it; see ``plan_folds``).
        random_state: Seed of the stratified split.

    Returns:
        The figures, and the out-of-fold probabilities (None without cross-validation).
    """
    y = np.asarray(y, dtype=str)
    classes = _check(y)
    plan = plan_folds(y, groups, folds)
    if plan.n_folds == 0:
        none = Metrics(classes=classes, n_labeled=len(y), n_folds=0, grouped_by=None,
                       accuracy=None, balanced_accuracy=None, macro_f1=None,
                       per_class={c: {"f1": None, "recall": None, "support": int((y == c).sum())}
                                  for c in classes},
                       confusion=[], warning=plan.warning)  # fmt: skip
        return CrossValidation(none, None)
    if plan.grouped:
        assert groups is not None
        splits = list(GroupKFold(n_splits=plan.n_folds).split(y, y, groups))
    else:
        splitter = StratifiedKFold(plan.n_folds, shuffle=True, random_state=random_state)
        splits = list(splitter.split(y, y))
    grouped = plan.grouped
    oof = np.zeros((len(y), len(classes)), dtype=np.float32)
    for train, test in splits:
        if len(set(y[train])) < 2:  # a fold with one class left: predict it
            oof[test, classes.index(str(y[train][0]))] = 1.0
            continue
        oof[test] = predict(train, test)
    pred = np.asarray(classes, dtype=str)[oof.argmax(axis=1)]
    f1 = f1_score(y, pred, labels=classes, average=None, zero_division=0)
    recall = [float(np.mean(pred[y == c] == c)) for c in classes]
    metrics = Metrics(
        classes=classes,
        n_labeled=len(y),
        n_folds=len(splits),
        grouped_by="groups" if grouped else None,
        accuracy=float(accuracy_score(y, pred)),
        balanced_accuracy=float(balanced_accuracy_score(y, pred)),
        macro_f1=float(np.mean(f1)),
        per_class={
            c: {"f1": float(f), "recall": r, "support": int((y == c).sum())}
            for c, f, r in zip(classes, f1, recall, strict=True)
        },  # fmt: skip
        confusion=confusion_matrix(y, pred, labels=classes).tolist(),
        warning=plan.warning,
    )
    return CrossValidation(metrics, oof)
