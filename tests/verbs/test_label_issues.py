"""Verb ``label_issues``: the ranked report, its settings and what it leaves out."""

from __future__ import annotations

import pytest

from bps_core import verbs
from bps_core.project import Project
from tests.quality.conftest import N_PER_CLASS, plant_flip


def test_label_issues__ranks_the_planted_flip_first_and_names_changed_labels(
    tiny_project: Project,
) -> None:
    flipped = plant_flip(tiny_project)
    seen: list[float] = []
    report = verbs.label_issues(tiny_project, verbs.LabelIssuesSettings(), seen.append)
    assert isinstance(report, verbs.LabelIssuesReport)
    assert list(report.table.columns) == ["filename", "label", "suggested", "score",
                                          "likely_issue", "label_probability",
                                          "suggested_probability", "key"]  # fmt: skip
    assert flipped in report.table.key.head(2).tolist()
    assert report.n_scored == 2 * N_PER_CLASS
    assert report.n_likely == int(report.table.likely_issue.sum()) >= 1
    assert seen == [1.0]
    tiny_project.add_labels([flipped], "Fe", user="bob", source="review")  # fixed
    after = verbs.label_issues(tiny_project, verbs.LabelIssuesSettings(top=5))
    assert after.changed == (flipped,)
    assert flipped not in set(after.table.key)
    assert len(after.table) == 5
    assert any("1 labels changed since model" in n for n in after.notes)


@pytest.mark.parametrize(
    ("kwargs", "field"), [({"top": 0}, "top"), ({"model_id": " "}, "model_id")]
)
def test_label_issues_settings__a_bad_value_is_refused_naming_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(verbs.SettingsError, match=f"^{field}"):
        verbs.LabelIssuesSettings(**kwargs)  # type: ignore[arg-type]


def test_label_issues__without_a_model_raises_label_issues_error(embedded: Project) -> None:
    with pytest.raises(verbs.LabelIssuesError, match="no model yet"):
        verbs.label_issues(embedded, verbs.LabelIssuesSettings())
