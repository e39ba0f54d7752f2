"""Sample facets: providers joined by key, generic filters over their columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bps_core import facets
from bps_core.facets import NONE, FacetFilter, filter_mask, filtered_keys, sample_facets
from bps_core.project import Project
from tests.verbs.conftest import label_by_particle


def _quality_provider(project: Project) -> pd.DataFrame:
    """A test-only provider shaped like the label-issue and flag providers: a score, a
    suggestion and a boolean flag per sample."""
    keys = project.samples().key.tolist()
    return pd.DataFrame(
        {"issue_score": np.linspace(0.0, 1.0, len(keys)),
         "suggested": ["a" if i % 2 else "b" for i in range(len(keys))],
         "dim": [i < 3 for i in range(len(keys))]},
        index=pd.Index(keys, name="key"),
    )  # fmt: skip


def test_sample_facets__label_and_tags_per_key(tiny_project: Project) -> None:
    keys = tiny_project.samples().key.tolist()
    tiny_project.add_labels(keys[:2], "track", user="ann", source="api")
    tiny_project.tags.add(keys[1:3], "unsure", user="ann")
    tiny_project.tags.add(keys[1:2], "ask an expert", user="ann")
    frame = sample_facets(tiny_project)
    assert frame.index.tolist() == keys
    assert frame.label[keys[0]] == "track"
    assert pd.isna(frame.label[keys[2]])
    assert frame.tags[keys[1]] == ["ask an expert", "unsure"]
    assert frame.tag_names[keys[1]] == "ask an expert, unsure"
    assert frame.tags[keys[3]] == []
    assert frame.tag_names[keys[3]] == ""
    assert "prediction" not in frame.columns  # no model yet
    assert facets.facet_columns(frame) == {"label": "categorical", "tags": "list"}


def test_sample_facets__given_samples_it_does_not_read_them_again(
    tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20: the queue rebuilt the facets on every label and re-read the samples table
    (about 1 s at 77k); the app passes its cached frame instead."""
    keys = tiny_project.samples().key.tolist()
    tiny_project.add_labels(keys[:1], "track", user="ann", source="api")
    expected = sample_facets(tiny_project)
    samples = tiny_project.samples()

    def no_read() -> pd.DataFrame:
        raise AssertionError("the samples were read again")

    monkeypatch.setattr(tiny_project, "samples", no_read)
    pd.testing.assert_frame_equal(sample_facets(tiny_project, samples=samples), expected)


def test_sample_facets__without_tags_every_sample_still_has_an_empty_list(
    tiny_project: Project,
) -> None:
    frame = sample_facets(tiny_project)
    assert "tags" not in frame.columns
    assert len(frame) == tiny_project.n_samples("ok")


def test_sample_facets__a_registered_provider_is_filterable_with_no_other_change(
    tiny_project: Project,
) -> None:
    frame = sample_facets(tiny_project, (*facets.PROVIDERS, _quality_provider))
    kinds = facets.facet_columns(frame)
    assert kinds["issue_score"] == "numeric"
    assert kinds["suggested"] == "categorical"
    assert kinds["dim"] == "categorical"  # a boolean flag filters by True/False
    assert facets.facet_values(frame.dim) == ["False", "True"]
    high = filtered_keys(frame, [FacetFilter("issue_score", low=0.5)])
    assert high == frame.index[frame.issue_score >= 0.5].tolist()
    flagged = filtered_keys(frame, [FacetFilter("dim", values=("True",))])
    assert flagged == frame.index[:3].tolist()
    both = filtered_keys(
        frame, [FacetFilter("dim", values=("True",)), FacetFilter("suggested", values=("a",))]
    )
    assert both == [frame.index[1]]


def test_sample_facets__prediction_and_confidence_of_the_current_model(
    tiny_project: Project,
) -> None:
    from bps_core import verbs

    verbs.compute_embeddings(tiny_project, verbs.EmbedConfig(method="pixels", image_size=32))
    label_by_particle(tiny_project, 4)
    model = verbs.train_model(tiny_project, verbs.TrainSettings())
    frame = sample_facets(tiny_project)
    assert set(frame.prediction.dropna()) <= set(model.classes)
    assert frame.confidence.between(0.0, 1.0).all()
    assert facets.facet_columns(frame)["confidence"] == "numeric"
    token = facets.facets_version(tiny_project)
    assert model.id in token


def test_filter_mask__tags_keep_any_of_and_none_keeps_untagged() -> None:
    frame = pd.DataFrame(
        {"tags": [["a"], ["b", "c"], [], ["c"]], "label": ["x", None, "y", "x"],
         "confidence": [0.1, 0.5, np.nan, 0.9]},
        index=["k0", "k1", "k2", "k3"],
    )  # fmt: skip
    assert filtered_keys(frame, [FacetFilter("tags", values=("a", "c"))]) == ["k0", "k1", "k3"]
    assert filtered_keys(frame, [FacetFilter("tags", values=(NONE,))]) == ["k2"]
    assert filtered_keys(frame, [FacetFilter("label", values=(NONE,))]) == ["k1"]
    assert filtered_keys(frame, [FacetFilter("confidence", low=0.4, high=0.6)]) == ["k1"]
    assert filtered_keys(frame, [FacetFilter("confidence")]) == ["k0", "k1", "k2", "k3"]
    assert filter_mask(frame, []).all()


def test_filter_mask__a_column_no_provider_gives_keeps_nothing() -> None:
    frame = pd.DataFrame({"label": ["x"]}, index=["k0"])
    assert filtered_keys(frame, [FacetFilter("issue_score", low=0.5)]) == []


@pytest.mark.parametrize(
    ("values", "kind"),
    [([0.1, 0.2], "numeric"), ([True, False], "categorical"), (["a", None], "categorical"),
     ([["a"], []], "list")],
)  # fmt: skip
def test_facet_kind__numeric_boolean_text_and_lists(values: list[object], kind: str) -> None:
    assert facets.facet_kind(pd.Series(values)) == kind


def test_facet_values__distinct_text_with_missing_last_whatever_the_dtype() -> None:
    from bps_core.facets import NONE, facet_values, has_lists

    mixed = pd.Series(["b", None, "a", float("nan"), pd.NA, "b", True], dtype=object)
    assert facet_values(mixed) == ["True", "a", "b", NONE]
    assert facet_values(pd.Series(["x", "y", "x"], dtype="str")) == ["x", "y"]
    assert facet_values(pd.Series([True, False, True])) == ["False", "True"]
    assert facet_values(pd.Series([[], ["dim"], ["dim", "blurry"]])) == ["blurry", "dim"]
    assert not has_lists(pd.Series(["a"], dtype="str"))
    assert has_lists(pd.Series(["a", ["b"]], dtype=object))


def _joined_facets(project: Project, providers: tuple[facets.FacetProvider, ...]) -> pd.DataFrame:
    """The facets as they were built before issue 21: each provider joined on the key index."""
    samples = project.samples()
    frame = pd.DataFrame(index=pd.Index(samples.key[samples.status == "ok"], name="key"))
    for provider in providers:
        part = provider(project)
        if part is None or part.empty:
            continue
        frame = frame.join(part[[c for c in part.columns if c not in frame.columns]], how="left")
    for column in frame.columns:
        if facets.has_lists(frame[column]):
            frame[column] = [v if isinstance(v, list) else [] for v in frame[column]]
    if "tag_names" in frame.columns:
        frame["tag_names"] = frame.tag_names.fillna("")
    return frame


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_index_type=False)  # object or str keys


def test_sample_facets__aligned_by_position_equals_the_key_joins(tiny_project: Project) -> None:
    keys = tiny_project.samples().key.tolist()
    tiny_project.add_labels(keys[3:9], "track", user="ann", source="api")
    tiny_project.tags.add(keys[1:4], "unsure", user="ann")
    providers = (*facets.PROVIDERS, _quality_provider)
    _same(sample_facets(tiny_project, providers), _joined_facets(tiny_project, providers))


def test_build_facets__kept_columns_after_label_clear_undo_redo_equal_a_full_build(
    tiny_project: Project,
) -> None:
    """Issue 21: after a label only the label providers' columns are made again; the others
    are kept, and the frame equals a full build after every kind of label change."""
    keys = tiny_project.samples().key.tolist()
    tiny_project.tags.add(keys[:2], "unsure", user="ann")
    calls: list[str] = []

    def tags(project: Project) -> pd.DataFrame | None:
        calls.append("tags")
        return facets.tag_facet(project)

    providers = (facets.label_facet, tags, _quality_provider)
    frame, parts = facets.build_facets(tiny_project, providers)
    changes = [
        lambda: tiny_project.add_labels(keys[:20], "track", user="ann", source="lasso"),
        lambda: tiny_project.add_labels(keys[5:10], "debris", user="bob", source="lasso"),
        lambda: tiny_project.add_labels(keys[:8], None, user="ann", source="lasso"),
        lambda: tiny_project.undo("ann"),
        lambda: tiny_project.redo("ann"),
        lambda: tiny_project.undo("bob"),
    ]
    for change in changes:
        change()
        labels = tiny_project.current_labels()
        calls.clear()
        frame, parts = facets.build_facets(tiny_project, providers, labels=labels, keep=parts)
        assert calls == []  # the tags are kept, not read again
        _same(frame, sample_facets(tiny_project, providers))
        _same(frame, _joined_facets(tiny_project, providers))
        # Placed by sample id (the app's labels carry them) as by key.
        changed = tiny_project.label_changes()
        ids = changed.sample_id[changed.label.notna()].to_numpy()  # the rows of ``labels``
        by_id, _ = facets.build_facets(tiny_project, providers, labels=labels, label_ids=ids,
                                       keep=parts)  # fmt: skip
        _same(by_id, frame)
    assert frame.label.notna().any()
