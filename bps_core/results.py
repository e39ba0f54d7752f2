"""Per-group shares of a class with honest uncertainty: prediction-powered inference.

The model predicts every image, but its errors differ between conditions (a dose with many foci
draws more false positives), so the share of predicted positives is biased, and biased
differently per condition. Prediction-powered inference (PPI) removes that bias group by group:
within a group, the mean predicted probability of the class over all its images is corrected by
the mean rectifier ``label - prediction`` over the group's labeled images,

    corrected = mean(f over all N images) + mean(y - f over the n labeled images),

which is unbiased for the group's share whatever the model's errors, as long as the labeled
images are a random sample of the group. Its variance (images drawn from the condition, the
labeled ones a random subset of them) is ``Var(f)/N + 2 Cov(f, y - f)/N + Var(y - f)/n``, the
CLT interval being ``corrected +- t * sqrt(variance)`` (Student's t, n - 1 degrees of
freedom). With ``cluster`` (mouse or well) and enough clusters in a group the interval comes
from a bootstrap that resamples whole clusters, since nuclei of one animal are not
independent. Estimates and bounds are clipped to [0, 1].

Labels chosen by active learning (uncertain or diverse picks) are not a random sample: the
estimate then assumes the labeled images of a group are representative of it. Labels from
random rounds are (the ``report`` verb's ``labeled="random-only"`` keeps only those).

The estimand is the condition's share (of nuclei imaged the same way), not only of the images
at hand. A group with no labeled image gets no correction (``corrected_fraction`` NaN); with
one, an estimate but no interval (NaN bounds); the ``note`` column says so, nothing raises.

- [0] Angelopoulos, Bates, Fannjiang, Jordan & Zrnic, 2023, Prediction-powered inference,
  Science 382(6671), https://doi.org/10.1126/science.adi6000
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.stats import t as student_t

#: A cluster bootstrap needs at least this many clusters (mice or wells) in a group, and at
#: least ``MIN_LABELED_CLUSTERS`` of them holding labels; otherwise the CLT interval is used.
MIN_CLUSTERS = 5
MIN_LABELED_CLUSTERS = 3
#: Below this many labeled images in a group its CLT interval is noted as rough: the variance
#: of the rectifier is itself estimated from those few labels (a tester read a 3-label group's
#: interval as firm).
FEW_LABELED = 10

#: The columns of a results table after the grouping columns.
RESULT_COLUMNS = (
    "n_images", "n_labeled", "n_labeled_class", "raw_fraction", "predicted_fraction",
    "corrected_fraction", "ci_low", "ci_high", "interval", "n_clusters", "note",
)  # fmt: skip


@dataclass(frozen=True)
class PPIEstimate:
    """One group's prediction-powered share.

    Attributes:
        estimate: The corrected share in [0, 1] (NaN without labeled images).
        ci_low: Lower bound of the interval (NaN when there is none).
        ci_high: Upper bound of the interval (NaN when there is none).
        interval: ``clt``, ``cluster-bootstrap`` or ``""`` (no interval).
        note: Why there is no interval or correction, or ``""``.
    """

    estimate: float
    ci_low: float
    ci_high: float
    interval: str
    note: str


def _quantile(level: float, n_labeled: int) -> float:
    # Student's t on n - 1 degrees of freedom rather than the normal quantile: the rectifier's
    # spread is estimated from the n labels alone, and with 10 of them the normal interval
    # covered 0.91 instead of 0.95 (bench/bench_report.py).
    return float(student_t.ppf(1 - (1 - level) / 2, df=n_labeled - 1))


def _clip(x: float) -> float:
    return float(min(1.0, max(0.0, x)))


def ppi_mean(
    pred: NDArray[np.floating], y: NDArray[np.floating], labeled: NDArray[np.bool_], level: float
) -> PPIEstimate:
    """The PPI estimate of a share and its CLT interval for one group.

    - [0] Angelopoulos et al., 2023, Prediction-powered inference, Science 382(6671)

    Args:
        pred: Predicted probability of the class, shape (n_images,).
        y: 1.0 where the label is the class, 0.0 where it is another; read only where
            ``labeled``. Shape (n_images,).
        labeled: Which images are labeled, shape (n_images,).
        level: Confidence level, e.g. 0.95.

    Returns:
        The estimate; with 0 labeled images no correction (NaN), with 1 no interval (NaN).
    """
    n_all, n = len(pred), int(labeled.sum())
    if n == 0:
        return PPIEstimate(math.nan, math.nan, math.nan, "", "no labeled images: no correction")
    f_lab = pred[labeled].astype(np.float64)
    rect = y[labeled].astype(np.float64) - f_lab
    theta = float(pred.astype(np.float64).mean() + rect.mean())
    if n == 1:
        return PPIEstimate(_clip(theta), math.nan, math.nan, "",
                           "1 labeled image: no interval (label at least 2)")  # fmt: skip
    var_f = float(pred.var(ddof=1)) if n_all > 1 else 0.0
    var_r = float(rect.var(ddof=1))
    cov = float(np.cov(f_lab, rect, ddof=1)[0, 1])
    var = max(var_f / n_all + 2 * cov / n_all + var_r / n, var_r * (1 / n - 1 / n_all), 0.0)
    half = _quantile(level, n) * math.sqrt(var)
    rough = (f"only {n} labeled images: a rough interval (its spread is estimated from them; "
             "label more of this group)" if n < FEW_LABELED else "")  # fmt: skip
    return PPIEstimate(_clip(theta), _clip(theta - half), _clip(theta + half), "clt", rough)


def cluster_bootstrap_ppi(
    pred: NDArray[np.floating],
    y: NDArray[np.floating],
    labeled: NDArray[np.bool_],
    clusters: NDArray[np.object_] | Sequence[str],
    level: float,
    n_boot: int,
    rng: np.random.Generator,
) -> PPIEstimate:
    """The PPI estimate with an interval from a bootstrap that resamples whole clusters.

    Clusters (mice or wells) are drawn with replacement; each replicate recomputes the PPI
    estimate on the images of the drawn clusters (a replicate without a labeled image is
    dropped). The point estimate is the PPI estimate on all images; the interval is
    ``estimate +- t(k - 1) * se`` with the replicates' standard error scaled by
    ``sqrt(k / (k - 1))`` for ``k`` clusters (a small-sample correction: a handful of mice).

    Args:
        pred: Predicted probability of the class, shape (n_images,).
        y: 1.0 where the label is the class, else 0.0; read where ``labeled``.
        labeled: Which images are labeled, shape (n_images,).
        clusters: The cluster of each image, shape (n_images,).
        level: Confidence level, e.g. 0.95.
        n_boot: Bootstrap replicates.
        rng: Random generator.

    Returns:
        The estimate with a ``cluster-bootstrap`` interval.
    """
    point = ppi_mean(pred, y, labeled, level)
    if not point.interval:  # fewer than 2 labeled images
        return point
    codes, _ = pd.factorize(np.asarray(clusters, dtype=object))
    k = int(codes.max()) + 1
    # Per cluster sums: images, predictions, labeled images, rectifiers.
    n_c = np.bincount(codes, minlength=k).astype(np.float64)
    f_c = np.bincount(codes, weights=pred.astype(np.float64), minlength=k)
    lab = labeled.astype(np.float64)
    nl_c = np.bincount(codes, weights=lab, minlength=k)
    r_c = np.bincount(codes, weights=lab * (np.where(labeled, y, 0.0) - pred), minlength=k)
    draws = rng.integers(0, k, size=(n_boot, k))
    counts = np.zeros((n_boot, k))
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    n_b, nl_b = counts @ n_c, counts @ nl_c
    ok = nl_b > 0
    stats = (counts @ f_c)[ok] / n_b[ok] + (counts @ r_c)[ok] / nl_b[ok]
    # With a handful of mice the bootstrap's spread is too small (by about (k - 1) / k in
    # variance) and a normal quantile too narrow: the standard error is scaled back and taken
    # with Student's t on k - 1 degrees of freedom (percentile intervals covered 0.87-0.89
    # instead of 0.95 over 8 mice in tests/test_results.py's simulation).
    se = float(stats.std(ddof=1)) * math.sqrt(k / (k - 1))
    half = float(student_t.ppf(1 - (1 - level) / 2, df=k - 1)) * se
    theta = float(pred.mean() + (y[labeled] - pred[labeled]).mean())  # unclipped
    return PPIEstimate(_clip(theta), _clip(theta - half), _clip(theta + half),
                       "cluster-bootstrap", "")  # fmt: skip


def group_shares(
    frame: pd.DataFrame,
    by: Sequence[str],
    *,
    level: float = 0.95,
    cluster: str | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per group: counts, raw, predicted and corrected shares with their interval.

    Args:
        frame: One row per image with the ``by`` columns, ``prob`` (predicted probability of
            the class), ``predicted`` (bool: the model's top class is the class),
            ``labeled`` (bool), ``is_class`` (bool: the label is the class; read where
            labeled) and, with ``cluster``, that column.
        by: The grouping columns.
        level: Confidence level of the intervals.
        cluster: A column of biological units (mouse, well) for a cluster bootstrap in groups
            with at least ``MIN_CLUSTERS`` of them (``MIN_LABELED_CLUSTERS`` labeled); None: CLT.
        n_boot: Bootstrap replicates.
        seed: Seed of the bootstrap.

    Returns:
        The ``by`` columns then ``RESULT_COLUMNS``, sorted by the groups. ``raw_fraction`` is
        the share of images whose label (where labeled, else the model's top class) is the
        class; ``predicted_fraction`` the mean predicted probability.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for values, g in frame.groupby(list(by), sort=True, dropna=False):
        pred = g["prob"].to_numpy(dtype=np.float64)
        labeled = g["labeled"].to_numpy(dtype=bool)
        is_class = g["is_class"].to_numpy(dtype=bool)
        y = np.where(labeled & is_class, 1.0, 0.0)
        raw = np.where(labeled, is_class, g["predicted"].to_numpy(dtype=bool)).mean()
        n_clusters = int(g[cluster].nunique()) if cluster else 0
        labeled_clusters = int(g.loc[labeled, cluster].nunique()) if cluster else 0
        est = ppi_mean(pred, y, labeled, level)
        note = est.note
        if cluster and est.interval:
            if n_clusters >= MIN_CLUSTERS and labeled_clusters >= MIN_LABELED_CLUSTERS:
                clusters = g[cluster].astype(str).to_numpy(dtype=object)
                est = cluster_bootstrap_ppi(pred, y, labeled, clusters, level, n_boot, rng)
            else:
                note = "; ".join(filter(None, [
                    f"{n_clusters} {cluster} values, {labeled_clusters} with labels: too few "
                    f"for a cluster bootstrap (need {MIN_CLUSTERS} and {MIN_LABELED_CLUSTERS}); "
                    "CLT interval", note]))  # fmt: skip
        keys = values if isinstance(values, tuple) else (values,)
        rows.append([*keys, len(g), int(labeled.sum()), int((labeled & is_class).sum()),
                     float(raw), float(pred.mean()), est.estimate, est.ci_low, est.ci_high,
                     est.interval, n_clusters if cluster else None, note])  # fmt: skip
    return pd.DataFrame(rows, columns=[*by, *RESULT_COLUMNS])
