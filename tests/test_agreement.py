"""Agreement statistics against the authors' worked examples, and their edge cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bps_core.agreement import (
    ONE_CLASS,
    TOO_FEW,
    agreement_tables,
    cohen_kappa,
    count_table,
    fleiss_kappa,
    krippendorff_alpha,
)

# Fleiss (1971) as given on Wikipedia ("Fleiss' kappa", worked example): 10 subjects, 14 raters
# each, 5 categories; P-bar = 0.378, P-bar-e = 0.213, kappa = 0.210.
FLEISS_TABLE = np.array([
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
])  # fmt: skip

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", section C: 4 observers,
# 12 units, values 1-5, missing data; nominal alpha = 0.743.
_ = None
KRIPPENDORFF = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, _, _, _],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, _, 3],
    "C": [_, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, _],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, _],
}


def _wide(data: dict[str, list[int | None]]) -> pd.DataFrame:
    return pd.DataFrame({k: [None if v is None else str(v) for v in vals]
                         for k, vals in data.items()}, dtype=object)  # fmt: skip


class TestCohenKappa:
    def test_cohen_kappa__wikipedia_worked_example(self) -> None:
        # 50 proposals: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> p_o 0.7, p_e 0.5, 0.4
        a = pd.Series(["yes"] * 25 + ["no"] * 25)
        b = pd.Series(["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15)
        fig = cohen_kappa(a, b)
        assert fig.value == pytest.approx(0.4)
        assert fig.n == 50
        assert fig.note == ""

    def test_cohen_kappa__perfect_agreement_is_one(self) -> None:
        a = pd.Series(["x", "y", "x", "z"])
        assert cohen_kappa(a, a.copy()).value == pytest.approx(1.0)

    def test_cohen_kappa__only_shared_samples_count(self) -> None:
        a = pd.Series({"s1": "x", "s2": "y", "s3": "x"})
        b = pd.Series({"s2": "y", "s3": "x", "s4": "y"})
        assert cohen_kappa(a, b).n == 2

    def test_cohen_kappa__one_class_only_is_nan_with_a_note(self) -> None:
        fig = cohen_kappa(pd.Series(["x"] * 5), pd.Series(["x"] * 5))
        assert math.isnan(fig.value)
        assert fig.note == ONE_CLASS

    def test_cohen_kappa__fewer_than_two_shared_samples_is_nan_with_a_note(self) -> None:
        fig = cohen_kappa(pd.Series({"s1": "x"}), pd.Series({"s1": "y", "s2": "x"}))
        assert math.isnan(fig.value)
        assert fig.n == 1
        assert fig.note == TOO_FEW


class TestFleissKappa:
    def test_fleiss_kappa__fleiss_1971_worked_example(self) -> None:
        assert fleiss_kappa(FLEISS_TABLE) == pytest.approx(0.2099, abs=1e-4)

    def test_fleiss_kappa__perfect_agreement_is_one_and_one_category_is_nan(self) -> None:
        assert fleiss_kappa(np.array([[3, 0], [0, 3], [3, 0]])) == pytest.approx(1.0)
        assert math.isnan(fleiss_kappa(np.array([[3, 0], [3, 0]])))

    def test_fleiss_kappa__unequal_raters_are_refused(self) -> None:
        with pytest.raises(ValueError, match="same number"):
            fleiss_kappa(np.array([[3, 0], [1, 1]]))


class TestKrippendorffAlpha:
    def test_krippendorff_alpha__krippendorffs_own_example_with_missing_values(self) -> None:
        wide = _wide(KRIPPENDORFF)
        counts = count_table(wide, ["1", "2", "3", "4", "5"])
        assert krippendorff_alpha(counts) == pytest.approx(0.743, abs=5e-4)

    def test_krippendorff_alpha__perfect_agreement_and_edge_cases(self) -> None:
        assert krippendorff_alpha(np.array([[2, 0], [0, 3], [2, 0]])) == pytest.approx(1.0)
        assert math.isnan(krippendorff_alpha(np.array([[2, 0], [3, 0]])))  # one value
        assert math.isnan(krippendorff_alpha(np.array([[2, 0], [1, 0]])))  # one pairable unit


class TestAgreementTables:
    def test_agreement_tables__four_labelers_give_pairs_classes_and_multi_rater_figures(
        self,
    ) -> None:
        t = agreement_tables(_wide(KRIPPENDORFF))
        assert len(t.pairs) == 6
        assert set(t.overall.measure) == {"Fleiss' kappa", "Krippendorff's alpha"}
        alpha = t.overall.set_index("measure").loc["Krippendorff's alpha"]
        assert alpha.value == pytest.approx(0.743, abs=5e-4)
        assert alpha.n == 11
        fleiss = t.overall.set_index("measure").loc["Fleiss' kappa"]
        assert fleiss.n == 8  # units every observer rated
        per_class = t.per_class
        assert set(per_class["class"]) == {"1", "2", "3", "4", "5"}
        assert {"Cohen's kappa", "Fleiss' kappa", "Krippendorff's alpha"} == set(per_class.measure)

    def test_agreement_tables__two_labelers_have_no_multi_rater_figures(self) -> None:
        wide = _wide({"alice": [1, 2, 1, 2], "bob": [1, 2, 2, 2]})
        t = agreement_tables(wide)
        assert t.overall.empty
        assert t.pairs.iloc[0].n == 4
        assert t.pairs.iloc[0].agreement == pytest.approx(0.75)
        assert t.pairs.iloc[0].kappa == pytest.approx(0.5)
        assert len(t.per_class) == 2  # one-vs-rest per class

    def test_agreement_tables__one_class_gives_nan_with_notes_not_a_crash(self) -> None:
        t = agreement_tables(_wide({"a": [1, 1, 1], "b": [1, 1, 1], "c": [1, 1, None]}))
        assert t.pairs.kappa.isna().all()
        assert (t.pairs.note == ONE_CLASS).all()
        assert t.overall.value.isna().all()
        assert (t.overall.note != "").all()

    def test_agreement_tables__nobody_labeled_yet(self) -> None:
        t = agreement_tables(pd.DataFrame({"a": [None], "b": [None]}, dtype=object))
        assert t.pairs.iloc[0].n == 0
        assert t.pairs.iloc[0].note == TOO_FEW
