"""AppTest: the Results page shows a class's corrected share per group, or what to do first."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from bps_core import verbs
from bps_core.project import Project
from tests.helpers import open_app

PAGE = "pages/7_Results.py"


@pytest.fixture
def trained(tiny_project: Project, tiny_copy: Path) -> Project:
    """The tiny project with pixel embeddings, every second sample labeled from the truth
    (``many``: n_foci >= 3, else ``few``) and a model."""
    verbs.compute_embeddings(tiny_project, verbs.EmbedConfig(method="pixels", image_size=32))
    truth = pd.read_csv(tiny_copy / "_synthetic" / "truth.csv")
    samples = tiny_project.samples().merge(truth, left_on="relpath", right_on="filename")
    picked = samples.iloc[::2]
    for many, g in picked.groupby(picked.n_foci >= 3):
        tiny_project.add_labels(g.key, "many" if many else "few", user="ann", source="api")
    verbs.train_model(tiny_project, verbs.TrainSettings())
    return tiny_project


def _results(app: AppTest) -> AppTest:
    app.run()
    app.switch_page(PAGE).run()
    assert not app.exception
    return app


def test_results_page__without_labels_says_to_label_and_train(app: AppTest) -> None:
    _results(app)
    assert not app.error
    assert "No labels yet" in app.info[0].value
    assert not app.get("download_button")


def test_results_page__labels_without_model_says_to_train(
    tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = tiny_project.samples().key.head(4).tolist()
    tiny_project.add_labels(keys, "many", user="ann", source="api")
    app = _results(open_app(monkeypatch, tiny_project.folder))
    assert "No model yet (4 labeled samples)" in app.info[0].value
    assert not app.get("download_button")


def test_results_page__a_model_of_another_embedding_set_is_named_not_called_missing(
    trained: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tester read "No model yet" while a model existed, trained on the previous set."""
    from tests.helpers import save_random_embeddings

    old = verbs.current_version(trained)
    save_random_embeddings(trained)  # a new current set: the model is stale
    app = _results(open_app(monkeypatch, trained.folder))
    said = app.info[0].value
    assert f"The latest model belongs to embedding set {old}" in said
    assert "No model yet" not in said


def test_results_page__one_row_per_group_and_downloads(
    trained: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _results(open_app(monkeypatch, trained.folder))
    assert not app.error
    assert app.multiselect(key="results_by").value == [
        "particle_type", "dose_Gy", "hr_post_exposure",
    ]  # fmt: skip
    table = app.dataframe[0].value
    groups = trained.samples()[["particle_type", "dose_Gy", "hr_post_exposure"]]
    assert len(table) == len(groups.drop_duplicates())
    assert table["interval"].str.fullmatch(r"\[\d\.\d{3}, \d\.\d{3}\]").all()
    labels = [b.proto.label for b in app.get("download_button")]
    assert labels == ["Results CSV", "Figure PNG"]
    assert len(app.get("plotly_chart")) >= 1


def test_results_page__the_models_share_is_shown_and_random_round_labels_can_be_kept_alone(
    trained: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tester could not see where the correction started (the model's share was only in
    the CSV) nor keep to labels that are a random sample, which the intervals assume."""
    app = _results(open_app(monkeypatch, trained.folder))
    table = app.dataframe[0].value
    assert list(table.columns[table.columns.get_loc("raw share"):][:3]) == [
        "raw share", "model's share", "corrected share"]  # fmt: skip
    assert table["model's share"].str.fullmatch(r"\d\.\d{3}").all()
    assert any("random sample of the group" in c.value for c in app.caption)
    assert (table.labeled > 0).any()
    app.checkbox(key="results_random_only").check().run()
    assert not app.exception
    table = app.dataframe[0].value  # the labels came from no random round: none count
    assert (table.labeled == 0).all()
    assert (table.note == "no labeled images: no correction").all()


def test_results_page__random_only_says_how_many_labels_count(
    trained: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new user ticked "Labels of random rounds only" with 9 of 253 labels from a random
    round and read "253 labeled samples (only those of random rounds count)"."""
    n_labeled = len(trained.current_labels())
    app = _results(open_app(monkeypatch, trained.folder))
    app.checkbox(key="results_random_only").check().run()
    assert not app.exception
    said = next(c.value for c in app.caption if c.value.startswith("Model "))
    assert f"{n_labeled:,} labeled samples, 0 of them reviewed; 0 of them picked by random " \
        "rounds, and only those count;" in said  # fmt: skip
    assert "No labeled sample was picked by a random selection round" in app.warning[0].value
    preview = verbs.select_round(trained, verbs.SelectSettings(n=6, strategy="random", seed=1))
    verbs.record_round(trained, preview)
    trained.add_labels(preview.keys, "many", user="ann", source="queue")
    app.run()
    said = next(c.value for c in app.caption if c.value.startswith("Model "))
    assert "; 6 of them picked by random rounds, and only those count;" in said
    assert not app.warning
    assert app.dataframe[0].value.labeled.sum() == 6


def test_results_page__group_by_particle_gives_two_rows(
    trained: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _results(open_app(monkeypatch, trained.folder))
    app.multiselect(key="results_by").set_value(["particle_type"]).run()
    assert not app.exception
    assert list(app.dataframe[0].value.particle_type) == ["Fe", "X-ray"]


def test_results_page__shows_the_columns_that_fit_and_more_on_request(
    trained: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At a 1400 px window the last columns (method, note) lay past the table's right edge:
    the counts behind the raw share and the interval's method now come when picked."""
    app = _results(open_app(monkeypatch, trained.folder))
    grid = app.dataframe[0].proto
    assert list(grid.column_order) == [
        "particle_type", "dose_Gy", "hr_post_exposure", "images", "labeled", "model's share",
        "corrected share", "interval", "note",
    ]  # fmt: skip
    more = app.pills(key="results_more")
    assert list(more.options) == ["labeled as class", "raw share", "method"]  # no clusters yet
    more.set_value(["raw share"]).run()
    assert not app.exception
    shown = list(app.dataframe[0].proto.column_order)
    assert shown[shown.index("labeled") :][:3] == ["labeled", "raw share", "model's share"]
    assert "raw share" in app.dataframe[0].value.columns  # the data holds every column


def test_results_page__warns_when_most_labels_were_picked_on_purpose(
    trained: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new user had 244 of 253 labels from a lasso and read the corrected shares with no
    warning that they assume a random sample of each group."""
    n_labeled = len(trained.current_labels())
    app = _results(open_app(monkeypatch, trained.folder))
    said = app.warning[0].value
    assert f"Only 0 of the {n_labeled:,} labels used come from random picks" in said
    assert "not a random sample of their group" in said
    assert "Labels of random rounds only" in said
    n_groups = len(app.dataframe[0].value)
    assert f"10 images per condition ({10 * n_groups:,} for these {n_groups:,} groups)" in said
    app.checkbox(key="results_random_only").check().run()  # only random picks count: no bias
    assert not any("labels used come from random picks" in w.value for w in app.warning)


def test_results_page__no_bias_warning_when_most_labels_are_random_picks(
    tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    verbs.compute_embeddings(tiny_project, verbs.EmbedConfig(method="pixels", image_size=32))
    preview = verbs.select_round(tiny_project, verbs.SelectSettings(n=20, strategy="random",
                                                                     seed=1))  # fmt: skip
    verbs.record_round(tiny_project, preview)
    tiny_project.add_labels(preview.keys[:10], "many", user="ann", source="queue")
    tiny_project.add_labels(preview.keys[10:], "few", user="ann", source="queue")
    lasso = [k for k in tiny_project.samples().key if k not in set(preview.keys)][:5]
    tiny_project.add_labels(lasso, "few", user="ann", source="lasso")  # 20 of 25 random
    verbs.train_model(tiny_project, verbs.TrainSettings())
    app = _results(open_app(monkeypatch, tiny_project.folder))
    assert not app.error
    assert not app.warning
