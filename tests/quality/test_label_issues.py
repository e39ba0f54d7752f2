"""Label issues: cleanlab ranks labels by how likely they are wrong."""

from __future__ import annotations

import numpy as np
import pytest

from bps_core import verbs
from bps_core.project import Project
from bps_core.quality.label_issues import (
    COLUMNS,
    LabelIssuesError,
    facet_columns,
    find_label_issues,
    issue_scores,
)
from tests.quality.conftest import N_PER_CLASS


def test_issue_scores__planted_flips_rank_first() -> None:
    rng = np.random.default_rng(1)
    n = 300
    truth = rng.integers(0, 3, n)
    probs = rng.dirichlet([1, 1, 1], n) * 0.4
    probs[np.arange(n), truth] += 0.6
    given = truth.copy()
    flipped = rng.choice(n, 15, replace=False)
    given[flipped] = (truth[flipped] + 1) % 3
    score, likely = issue_scores(given, probs)
    top = np.argsort(-score, kind="stable")[:15]
    assert set(top) == set(flipped)
    assert likely[flipped].mean() >= 0.8  # confident learning flags most of them
    assert score.min() >= 0
    assert score.max() <= 1


def test_find_label_issues__a_planted_flip_ranks_near_the_top(
    planted: tuple[Project, str],
) -> None:
    project, flipped = planted
    found = find_label_issues(project)
    assert tuple(found.table.columns) == COLUMNS
    assert len(found.table) == 2 * N_PER_CLASS
    assert flipped in found.table.key.head(2).tolist()
    row = found.table.set_index("key").loc[flipped]
    assert (row.label, row.suggested) == ("X-ray", "Fe")
    assert row.likely_issue
    assert found.table.issue_score.is_monotonic_decreasing
    assert found.changed == ()
    assert found.notes() == []


def test_find_label_issues__labels_changed_since_training_are_left_out_and_named(
    planted: tuple[Project, str],
) -> None:
    project, flipped = planted
    labels = project.current_labels()
    cleared = labels.key[labels.key != flipped].iloc[0]
    project.add_labels([flipped], "Fe", user="bob", source="api")  # corrected
    project.add_labels([cleared], None, user="bob", source="api")  # cleared
    free = [k for k in project.samples().key if k not in set(labels.key)]
    project.add_labels(free[:2], "Fe", user="bob", source="api")  # new since training
    found = find_label_issues(project)
    assert set(found.changed) == {flipped, cleared}
    assert not set(found.table.key) & {flipped, cleared, *free[:2]}
    assert len(found.table) == 2 * N_PER_CLASS - 2
    assert found.n_unscored == 2
    notes = " ".join(found.notes())
    assert "2 labels changed since model" in notes
    assert "2 samples labeled since model" in notes
    assert "retrain" in notes


def test_find_label_issues__no_model_says_train_one(embedded: Project) -> None:
    with pytest.raises(LabelIssuesError, match="no model yet: train one first"):
        find_label_issues(embedded)
    assert facet_columns(embedded) is None


def test_find_label_issues__a_model_without_out_of_fold_says_retrain(embedded: Project) -> None:
    s = embedded.samples()
    embedded.add_labels(s.key[:6].tolist(), "a", user="ann", source="api")
    embedded.add_labels(s.key[6:7].tolist(), "b", user="ann", source="api")  # one: no folds
    model = verbs.train_model(embedded, verbs.TrainSettings(), user="ann")
    with pytest.raises(LabelIssuesError, match=f"model {model.id} has no out-of-fold .*single "
                       "label.*retrain it"):  # fmt: skip
        find_label_issues(embedded)
    assert facet_columns(embedded) is None


def test_find_label_issues__an_unknown_model_is_named(planted: tuple[Project, str]) -> None:
    project, _ = planted
    with pytest.raises(LabelIssuesError, match="no model 'nope'"):
        find_label_issues(project, "nope")


def test_find_label_issues__thin_classes_get_a_note(embedded: Project) -> None:
    s = embedded.samples()
    embedded.add_labels(s.key[:10].tolist(), "a", user="ann", source="api")
    embedded.add_labels(s.key[10:13].tolist(), "b", user="ann", source="api")
    verbs.train_model(embedded, verbs.TrainSettings(), user="ann")
    found = find_label_issues(embedded)
    assert found.few_labels == {"b": 3}
    assert "'b' (3)" in " ".join(found.notes())
    assert len(found.table) == 13


def test_facet_columns__issue_score_and_suggested_by_key(planted: tuple[Project, str]) -> None:
    project, flipped = planted
    facet = facet_columns(project)
    assert facet is not None
    assert list(facet.columns) == ["issue_score", "suggested"]
    assert facet.index.name == "key"
    assert set(facet.index) == set(project.current_labels().key)
    assert facet.issue_score.idxmax() == flipped or flipped in facet.issue_score.nlargest(2).index
