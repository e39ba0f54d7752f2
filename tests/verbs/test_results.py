"""Verb ``report``: per-group shares from the project's model and labels."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from bps_core import verbs
from bps_core.project import Project
from bps_core.results import RESULT_COLUMNS


def _label_from_truth(project: Project, data: Path, every: int = 2) -> pd.DataFrame:
    """Labels every ``every``-th sample ``many`` (n_foci >= 3) or ``few`` from the truth."""
    truth = pd.read_csv(data / "_synthetic" / "truth.csv")
    samples = project.samples().merge(truth, left_on="relpath", right_on="filename")
    picked = samples.iloc[::every]
    for name, g in picked.groupby(picked.n_foci >= 3):
        project.add_labels(g.key, "many" if name else "few", user="ann", source="api")
    return samples


@pytest.fixture
def trained(embedded: Project, tiny_copy: Path) -> Project:
    _label_from_truth(embedded, tiny_copy)
    verbs.train_model(embedded, verbs.TrainSettings())
    return embedded


def test_report__one_row_per_group_with_counts_and_corrected_shares(trained: Project) -> None:
    seen: list[float] = []
    settings = verbs.ReportSettings(class_name="many", by=("particle_type", "dose_Gy"))
    record = verbs.report(trained, settings, seen.append)
    t = record.table
    assert list(t.columns) == ["particle_type", "dose_Gy", *RESULT_COLUMNS]
    assert len(t) == 6  # 2 particles x 3 doses in the tiny preset
    assert t.n_images.sum() == trained.n_samples("ok")
    assert t.n_labeled.sum() == len(trained.current_labels())
    assert (t.interval == "clt").all()
    assert ((t.ci_low <= t.corrected_fraction) & (t.corrected_fraction <= t.ci_high)).all()
    shares = t[["raw_fraction", "corrected_fraction", "ci_low", "ci_high"]]
    assert shares.stack().between(0, 1).all()
    assert record.model_id == verbs.list_models(trained)[-1].id
    assert seen == [1.0]


def test_report__by_mouse_clusters_bootstraps_when_a_group_has_enough_mice(
    trained: Project,
) -> None:
    settings = verbs.ReportSettings(class_name="many", by=("particle_type",), cluster="mouse",
                                    n_boot=200)  # fmt: skip
    t = verbs.report(trained, settings).table
    assert (t.interval == "cluster-bootstrap").all()  # 8 mice per particle branch
    assert (t.n_clusters == 8).all()


def test_report__random_only_keeps_the_labels_of_random_rounds(embedded: Project) -> None:
    preview = verbs.select_round(embedded, verbs.SelectSettings(n=30, strategy="random", seed=1))
    verbs.record_round(embedded, preview)
    samples = embedded.samples()
    embedded.add_labels(preview.keys[:15], "many", user="ann", source="queue")
    embedded.add_labels(preview.keys[15:], "few", user="ann", source="queue")
    others = [k for k in samples.key if k not in set(preview.keys)][:20]
    embedded.add_labels(others, "few", user="ann", source="lasso")
    verbs.train_model(embedded, verbs.TrainSettings())
    by = ("particle_type",)
    every = verbs.report(embedded, verbs.ReportSettings(class_name="many", by=by)).table
    random_only = verbs.report(
        embedded, verbs.ReportSettings(class_name="many", by=by, labeled="random-only")
    ).table
    assert every.n_labeled.sum() == 50
    assert random_only.n_labeled.sum() == 30


def test_report__a_group_without_labels_gets_nan_and_a_note(embedded: Project) -> None:
    s = embedded.samples()
    fe = s[s.particle_type == "Fe"].key
    embedded.add_labels(fe.iloc[:10], "many", user="ann", source="api")
    embedded.add_labels(fe.iloc[10:20], "few", user="ann", source="api")
    verbs.train_model(embedded, verbs.TrainSettings())
    t = verbs.report(embedded, verbs.ReportSettings(class_name="many", by=("particle_type",)))
    xray = t.table.set_index("particle_type").loc["X-ray"]
    assert xray.n_labeled == 0
    assert math.isnan(xray.corrected_fraction)
    assert xray.note == "no labeled images: no correction"


def test_report__csv_is_written_whole_with_safe_cells(trained: Project, tmp_path: Path) -> None:
    record = verbs.report(trained, verbs.ReportSettings(class_name="many", by=("well",)))
    out = tmp_path / "r.csv"
    record.write_csv(out)
    back = pd.read_csv(out)
    assert list(back.columns) == ["well", *RESULT_COLUMNS]
    assert len(back) == trained.samples().well.nunique()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(class_name="nope", by=("dose_Gy",)), "class 'nope' is not one model"),
        (dict(class_name="many", by=("nope",)), "no metadata column 'nope' to group by"),
        (dict(class_name="many", by=("dose_Gy",), model_id="abc"), "no model 'abc'"),
    ],
)
def test_report__unknown_class_column_or_model_is_one_clear_error(
    trained: Project, settings: dict[str, object], message: str
) -> None:
    with pytest.raises(verbs.BpsError, match=message):
        verbs.report(trained, verbs.ReportSettings(**settings))  # type: ignore[arg-type]


def test_report__before_any_model_says_to_train_first(embedded: Project) -> None:
    with pytest.raises(verbs.BpsError, match="train one first"):
        verbs.report(embedded, verbs.ReportSettings(class_name="many", by=("dose_Gy",)))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"by": ()}, "by"), ({"level": 1.0}, "level"), ({"cluster": "plate"}, "cluster"),
     ({"n_boot": 10}, "n_boot"), ({"labeled": "some"}, "labeled"), ({"class_name": ""}, "class")],
)  # fmt: skip
def test_report_settings__a_bad_value_is_refused_naming_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    base: dict[str, object] = {"class_name": "many", "by": ("dose_Gy",)}
    with pytest.raises(verbs.SettingsError, match=field):
        verbs.ReportSettings(**(base | kwargs))  # type: ignore[arg-type]


def test_report__reviewed_only_counts_unreviewed_labels_as_unlabeled(
    embedded: Project, tiny_copy: Path
) -> None:
    """A careless labeler's unreviewed labels pull the corrected share off the truth; counted
    as unlabeled (their predictions used), the reviewed labels alone give it back."""
    samples = _label_from_truth(embedded, tiny_copy, every=2)
    verbs.train_model(embedded, verbs.TrainSettings())
    truth = samples.groupby("particle_type_x").n_foci.apply(lambda n: (n >= 3).mean())
    reviewed = samples.key.iloc[::2].tolist()
    verbs.review(embedded, verbs.ReviewSettings(tuple(verbs.Verdict(k, "accept")
                                                      for k in reviewed)), user="rita")  # fmt: skip
    careless = samples.iloc[1::2]
    embedded.add_labels(careless.key, "many", user="bob", source="lasso")  # all wrong-ish
    by = ("particle_type",)
    every = verbs.report(embedded, verbs.ReportSettings(class_name="many", by=by))
    only = verbs.report(embedded, verbs.ReportSettings(class_name="many", by=by,
                                                       reviewed_only=True))  # fmt: skip
    assert every.table.n_labeled.sum() == len(samples)
    assert only.table.n_labeled.sum() == len(reviewed)
    assert (only.n_labels, only.n_reviewed) == (len(samples), len(reviewed))
    assert only.reviewed_only
    assert not every.reviewed_only
    err_every = (every.table.set_index("particle_type").corrected_fraction - truth).abs()
    err_only = (only.table.set_index("particle_type").corrected_fraction - truth).abs()
    assert (err_only < err_every).all()
    assert err_only.max() < 0.2


def test_report_settings__reviewed_only_must_be_a_bool() -> None:
    with pytest.raises(verbs.SettingsError, match="reviewed_only"):
        verbs.ReportSettings(class_name="many", by=("dose_Gy",), reviewed_only="yes")  # type: ignore[arg-type]


def test_label_origins__counts_the_labels_of_random_rounds_on_each_engine(
    engine_project: Project,
) -> None:
    """A new user had 244 of 253 labels from a lasso and no warning that the shares may be
    biased: the count says how many labels are random picks, on SQLite and PostgreSQL."""
    project = engine_project
    verbs.compute_embeddings(project, verbs.EmbedConfig(method="pixels", image_size=32))
    assert verbs.label_origins(project) == verbs.LabelOrigins(0, 0)
    assert not verbs.label_origins(project).mostly_chosen
    preview = verbs.select_round(project, verbs.SelectSettings(n=6, strategy="random", seed=1))
    verbs.record_round(project, preview)
    project.add_labels(preview.keys[:4], "many", user="ann", source="queue")
    chosen = verbs.select_round(project, verbs.SelectSettings(n=5, strategy="diversity", seed=1))
    verbs.record_round(project, chosen)
    project.add_labels(chosen.keys, "few", user="ann", source="queue")
    picked = set(preview.keys) | set(chosen.keys)
    lasso = [k for k in project.samples().key if k not in picked][:3]
    project.add_labels(lasso, "few", user="ann", source="lasso")
    origins = verbs.label_origins(project)
    assert origins == verbs.LabelOrigins(n_labels=12, n_random=4)
    assert origins.mostly_chosen  # 4 of 12 < half
    # only reviewed labels count with reviewed_only: none is reviewed yet
    assert verbs.label_origins(project, reviewed_only=True) == verbs.LabelOrigins(0, 0)


def test_label_origins__warns_below_half_random_picks() -> None:
    assert verbs.REPORT_RANDOM_SHARE_MIN == 0.5
    assert verbs.LabelOrigins(253, 9).mostly_chosen
    assert verbs.LabelOrigins(10, 4).mostly_chosen
    assert not verbs.LabelOrigins(10, 5).mostly_chosen
    assert not verbs.LabelOrigins(0, 0).mostly_chosen
