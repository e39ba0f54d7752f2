"""Inter-rater agreement on nominal labels, overall and per class.

Cohen's kappa (two raters), Fleiss' kappa and Krippendorff's alpha (any number; alpha also
with missing ratings).

Cohen's kappa comes from scikit-learn (``cohen_kappa_score``). Fleiss' kappa and nominal
Krippendorff's alpha are a few lines of numpy each, checked against the authors' worked
examples in the tests (statsmodels, the usual home of ``fleiss_kappa``, and the
``krippendorff`` package would add two dependencies for about 25 lines).

- [0] Cohen, 1960, https://doi.org/10.1177/001316446002000104
- [1] Fleiss, 1971, https://doi.org/10.1037/h0031619
- [2] Krippendorff, 2011, Computing Krippendorff's alpha-reliability,
  https://repository.upenn.edu/asc_papers/43
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.metrics import cohen_kappa_score

#: Notes that say why a figure is undefined (NaN) rather than a number.
TOO_FEW = "fewer than 2 samples rated by both: undefined"
ONE_CLASS = "only one class was used: chance agreement is total, kappa undefined"
TOO_FEW_ALL = "fewer than 2 samples rated by every labeler: undefined"
TOO_FEW_PAIRABLE = "fewer than 2 samples with 2 or more labels: undefined"
ONE_VALUE = "only one class was used: alpha undefined"


@dataclass(frozen=True)
class Figure:
    """One agreement figure, the samples it rests on, and why it is NaN when it is."""

    value: float
    n: int
    note: str = ""


def cohen_kappa(a: pd.Series, b: pd.Series) -> Figure:
    """Cohen's kappa of two raters on the samples both rated.

    Args:
        a: One rater's labels, indexed by sample (missing: NaN or absent).
        b: The other rater's labels, same index kind.

    Returns:
        The kappa and the number of shared samples; NaN with a note when fewer than two
        samples are shared or only one class was used by both.
    """
    both = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner").dropna()
    n = len(both)
    if n < 2:
        return Figure(math.nan, n, TOO_FEW)
    if len(set(both.a) | set(both.b)) < 2:
        return Figure(math.nan, n, ONE_CLASS)
    return Figure(float(cohen_kappa_score(both.a.astype(str), both.b.astype(str))), n)


def fleiss_kappa(counts: NDArray[np.integer] | NDArray[np.floating]) -> float:
    """Fleiss' kappa of a subjects x categories table of rating counts.

    Every subject must have the same number of ratings (two or more).

    Args:
        counts: Array of shape (n_subjects, n_categories): how many raters put each subject
            in each category.

    Returns:
        The kappa; NaN when chance agreement is total (one category) or no subject is given.

    Raises:
        ValueError: subjects with different numbers of ratings, or fewer than two each.
    """
    table = np.asarray(counts, dtype=np.float64)
    if table.ndim != 2 or table.shape[0] == 0:
        return math.nan
    raters = table.sum(axis=1)
    if not np.all(raters == raters[0]) or raters[0] < 2:
        raise ValueError("every subject needs the same number (2 or more) of ratings")
    n = raters[0]
    p_j = table.sum(axis=0) / table.sum()
    p_i = (np.square(table).sum(axis=1) - n) / (n * (n - 1))
    p_bar, p_e = float(p_i.mean()), float(np.square(p_j).sum())
    if math.isclose(p_e, 1.0):
        return math.nan
    return (p_bar - p_e) / (1.0 - p_e)


def krippendorff_alpha(counts: NDArray[np.integer] | NDArray[np.floating]) -> float:
    """Krippendorff's alpha for nominal data from a units x values table of counts.

    Units with fewer than two ratings are not pairable and are left out, so missing ratings
    are handled.

    Args:
        counts: Array of shape (n_units, n_values): how many raters gave each unit each value.

    Returns:
        The alpha; NaN when fewer than two pairable units remain or one value was used.
    """
    table = np.asarray(counts, dtype=np.float64)
    m = table.sum(axis=1)
    table, m = table[m >= 2], m[m >= 2]
    if len(table) < 2:
        return math.nan
    weighted = table / (m - 1)[:, None]
    # The coincidence matrix o[c, k], of shape (n_values, n_values).
    o = weighted.T @ table - np.diag(weighted.sum(axis=0))
    n_c = o.sum(axis=1)
    n = float(n_c.sum())
    expected = n * n - float(np.square(n_c).sum())
    if expected <= 0:
        return math.nan
    observed = float(o.sum() - np.trace(o))
    return 1.0 - (n - 1) * observed / expected


def count_table(wide: pd.DataFrame, classes: list[str]) -> NDArray[np.int64]:
    """Rating counts of shape (n_samples, n_classes) of a samples x raters frame of labels."""
    values = wide.to_numpy(dtype=object)
    return np.stack([(values == c).sum(axis=1) for c in classes], axis=1).astype(np.int64)


def _multi(wide: pd.DataFrame, classes: list[str]) -> tuple[Figure, Figure]:
    """Fleiss' kappa (samples every rater labeled) and alpha (samples two or more labeled)."""
    full = wide.dropna()
    if len(full) < 2:
        fleiss = Figure(math.nan, len(full), TOO_FEW_ALL)
    else:
        k = fleiss_kappa(count_table(full, classes))
        fleiss = Figure(k, len(full), ONE_CLASS if math.isnan(k) else "")
    pairable = wide[wide.notna().sum(axis=1) >= 2]
    if len(pairable) < 2:
        alpha = Figure(math.nan, len(pairable), TOO_FEW_PAIRABLE)
    else:
        a = krippendorff_alpha(count_table(pairable, classes))
        alpha = Figure(a, len(pairable), ONE_VALUE if math.isnan(a) else "")
    return fleiss, alpha


@dataclass(frozen=True)
class AgreementTables:
    """Agreement of several labelers, as tables.

    Attributes:
        pairs: One row per labeler pair: labeler_a, labeler_b, n (samples both labeled),
            agreement (share of them labeled alike), kappa (Cohen's), note.
        per_class: One row per class and pair (one-vs-rest Cohen's kappa), and with three or
            more labelers also per class over all of them (Fleiss' kappa, Krippendorff's
            alpha): class, raters, measure, n, value, note.
        overall: With three or more labelers, Fleiss' kappa and Krippendorff's alpha over all
            classes: measure, n, value, note (empty with two: the pair's kappa says it).
    """

    pairs: pd.DataFrame
    per_class: pd.DataFrame
    overall: pd.DataFrame


def _row(measure: str, fig: Figure, **extra: object) -> dict[str, object]:
    return {**extra, "measure": measure, "n": fig.n, "value": fig.value, "note": fig.note}


def agreement_tables(wide: pd.DataFrame) -> AgreementTables:
    """Agreement figures of a samples x labelers frame of labels (NaN where one did not label).

    Args:
        wide: One row per sample, one column per labeler, class names as values.

    Returns:
        Pair, per-class and (three or more labelers) multi-rater tables; see
        ``AgreementTables``.
    """
    labelers = [str(c) for c in wide.columns]
    classes = sorted({str(v) for v in pd.unique(wide.to_numpy().ravel()) if isinstance(v, str)})
    pairs, per_class, overall = [], [], []
    for a, b in itertools.combinations(labelers, 2):
        fig = cohen_kappa(wide[a], wide[b])
        both = wide[[a, b]].dropna()
        agree = float((both[a] == both[b]).mean()) if len(both) else math.nan
        pairs.append({"labeler_a": a, "labeler_b": b, "n": fig.n, "agreement": agree,
                      "kappa": fig.value, "note": fig.note})  # fmt: skip
        for c in classes:
            one = cohen_kappa(both[a] == c, both[b] == c) if len(both) else Figure(math.nan, 0)
            note = one.note or ("" if len(both) else TOO_FEW)
            if one.note == ONE_CLASS:
                note = f"no sample of both was labeled {c!r} by either, or all were"
            per_class.append(_row("Cohen's kappa", Figure(one.value, one.n, note), **{
                "class": c, "raters": f"{a} / {b}"}))  # fmt: skip
    if len(labelers) >= 3:
        fleiss, alpha = _multi(wide, classes)
        overall = [_row("Fleiss' kappa", fleiss), _row("Krippendorff's alpha", alpha)]
        for c in classes:
            binary = wide.apply(lambda col, c=c: col.map(lambda v: v if pd.isna(v) else
                                                         ("yes" if v == c else "no")))  # fmt: skip
            f, al = _multi(binary, ["yes", "no"])
            per_class.append(_row("Fleiss' kappa", f, **{"class": c, "raters": "all"}))
            per_class.append(_row("Krippendorff's alpha", al, **{"class": c, "raters": "all"}))
    pair_cols = ["labeler_a", "labeler_b", "n", "agreement", "kappa", "note"]
    class_cols = ["class", "raters", "measure", "n", "value", "note"]
    return AgreementTables(
        pd.DataFrame(pairs, columns=pair_cols),
        pd.DataFrame(per_class, columns=class_cols),
        pd.DataFrame(overall, columns=["measure", "n", "value", "note"]),
    )
