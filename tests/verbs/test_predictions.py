"""Verbs that review a model's predictions: prediction_queue, accept_predictions,
model_disagreements and confusion_samples."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bps_core import verbs
from bps_core.project import Project
from tests.verbs.conftest import label_by_particle


@pytest.fixture
def trained(embedded: Project) -> tuple[Project, verbs.ModelRecord]:
    """The embedded tiny project with 10 labels per particle type and a model on them."""
    label_by_particle(embedded, 10)
    return embedded, verbs.train_model(embedded, verbs.TrainSettings(), user="ann")


def _queue(project: Project, **kwargs: object) -> verbs.PredictionQueue:
    return verbs.prediction_queue(project, verbs.PredictionQueueSettings("Fe", **kwargs))  # type: ignore[arg-type]


def test_prediction_queue__unlabeled_samples_of_the_class_most_confident_first(
    trained: tuple[Project, verbs.ModelRecord],
) -> None:
    project, model = trained
    q = _queue(project)
    labeled = set(project.current_labels().key)
    assert q.model_id == model.id
    assert len(q.keys) > 0
    assert not set(q.keys) & labeled
    assert (q.table.predicted == "Fe").all()
    assert list(q.table.confidence) == sorted(q.table.confidence, reverse=True)
    assert (q.table.event_id == 0).all()
    least = _queue(project, order="least_confident")
    assert list(least.table.confidence) == sorted(q.table.confidence)


def test_prediction_queue__include_labeled_adds_labeled_samples_with_their_event(
    trained: tuple[Project, verbs.ModelRecord],
) -> None:
    project, _ = trained
    q = _queue(project, include_labeled=True)
    labeled = q.table[q.table.event_id > 0]
    assert len(labeled) > 0
    assert set(labeled.label) <= {"Fe", "X-ray"}
    assert len(q.keys) == len(_queue(project).keys) + len(labeled)


def test_prediction_queue__refuses_without_a_model_or_an_unknown_class(embedded: Project) -> None:
    with pytest.raises(verbs.BpsError, match="no model on the current embeddings"):
        _queue(embedded)
    label_by_particle(embedded, 10)
    verbs.train_model(embedded, verbs.TrainSettings(), user="ann")
    with pytest.raises(verbs.BpsError, match="knows no class 'debris'"):
        verbs.prediction_queue(embedded, verbs.PredictionQueueSettings("debris"))


@pytest.mark.parametrize(
    ("kwargs", "field"), [({"cls": " "}, "cls"), ({"cls": "Fe", "order": "sideways"}, "order")]
)
def test_prediction_queue_settings__bad_values_name_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(verbs.SettingsError, match=field):
        verbs.PredictionQueueSettings(**kwargs)  # type: ignore[arg-type]


def test_accept_predictions__labels_with_source_review_and_undo_reverses(
    trained: tuple[Project, verbs.ModelRecord],
) -> None:
    project, model = trained
    first, second = _queue(project).keys[:2]
    settings = verbs.AcceptSettings((
        verbs.PredictionDecision(first, "Fe"),
        verbs.PredictionDecision(second, "X-ray", accepted=False),  # a correction
    ), model=model.id)  # fmt: skip
    record = verbs.accept_predictions(project, settings, user="rita")
    assert (record.n_labeled, record.n_kept, record.n_fixed) == (2, 0, 0)
    current = project.reviews.current().set_index("key")
    assert current.label[first] == "Fe"
    assert current.label[second] == "X-ray"
    assert set(current.source[[first, second]]) == {"review"}
    assert set(current.user[[first, second]]) == {"rita"}
    assert len(record.action_ids) == 1
    undone = project.undo("rita")
    assert undone is not None
    assert undone.target_action_id == record.action_ids[0]
    assert not {first, second} & set(project.current_labels().key)


def test_accept_predictions__a_sample_labeled_meanwhile_is_refused(
    trained: tuple[Project, verbs.ModelRecord],
) -> None:
    project, model = trained
    key = _queue(project).keys[0]
    project.add_labels([key], "X-ray", user="carl", source="queue")
    settings = verbs.AcceptSettings((verbs.PredictionDecision(key, "Fe"),), model=model.id)
    with pytest.raises(verbs.StaleReviewError, match="labeled by carl"):
        verbs.accept_predictions(project, settings, user="rita")
    assert project.current_labels().set_index("key").label[key] == "X-ray"


def test_accept_predictions__a_labeled_sample_is_confirmed_or_fixed_by_its_event(
    trained: tuple[Project, verbs.ModelRecord],
) -> None:
    project, model = trained
    table = _queue(project, include_labeled=True).table
    rows = table[table.event_id > 0].head(2)
    decisions = tuple(verbs.PredictionDecision(r.key, r.label if i == 0 else
                                               ("X-ray" if r.label == "Fe" else "Fe"),
                                               int(r.event_id), accepted=False)
                      for i, r in enumerate(rows.itertuples()))  # fmt: skip
    record = verbs.accept_predictions(project, verbs.AcceptSettings(decisions), user="rita")
    assert (record.n_labeled, record.n_kept, record.n_fixed) == (0, 1, 1)
    # the same decisions again name events that are no longer current: refused
    with pytest.raises(verbs.StaleReviewError, match="relabeled by rita"):
        verbs.accept_predictions(project, verbs.AcceptSettings(decisions[1:]), user="rita")


def test_accept_predictions__a_newer_model_that_predicts_otherwise_refuses_the_accept(
    trained: tuple[Project, verbs.ModelRecord],
) -> None:
    project, model = trained
    key = _queue(project).keys[0]
    newer = verbs.train_model(project, verbs.TrainSettings(), user="ann")
    same = verbs.AcceptSettings((verbs.PredictionDecision(key, "Fe"),), model=model.id)
    wrong = verbs.AcceptSettings((verbs.PredictionDecision(key, "X-ray"),), model=model.id)
    assert newer.id != model.id
    with pytest.raises(verbs.StalePredictionError, match="newer model"):
        verbs.accept_predictions(project, wrong, user="rita")
    assert key not in set(project.current_labels().key)
    # re-checked: the newer model still predicts Fe, so the accept stands
    assert verbs.accept_predictions(project, same, user="rita").n_labeled == 1


def test_model_disagreements__labels_the_oof_prediction_contradicts_most_confident_first(
    trained: tuple[Project, verbs.ModelRecord], tmp_path: Path
) -> None:
    project, model = trained
    labeled = project.current_labels()
    flip = labeled.key.iloc[0]
    before = project.current_labels().set_index("key").label[flip]
    # a flipped label the model was trained on is a disagreement the model likely sees
    project.add_labels([flip], "X-ray" if before == "Fe" else "Fe", user="ann", source="api")
    model = verbs.train_model(project, verbs.TrainSettings(), user="ann")
    found = verbs.model_disagreements(project, verbs.DisagreementSettings())
    assert found.model_id == model.id
    table = found.table
    assert (table.label != table.predicted).all()
    assert list(table.confidence) == sorted(table.confidence, reverse=True)
    assert not table.changed.any()
    oof = verbs.out_of_fold(project, model)
    assert oof is not None
    frame = oof.frame()
    assert len(table) == int((frame.label != frame.predicted).sum())
    out = tmp_path / "dis.csv"
    found.write_csv(out)
    assert list(pd.read_csv(out).columns)[:3] == ["filename", "label", "predicted"]


def test_model_disagreements__samples_relabeled_since_training_are_left_out_or_flagged(
    embedded: Project,
) -> None:
    label_by_particle(embedded, 10)
    labels = embedded.current_labels()
    flips = labels.key.head(3).tolist()  # flipped labels: disagreements the model sees
    for k, lab in zip(flips, labels.label.head(3), strict=True):
        embedded.add_labels([k], "X-ray" if lab == "Fe" else "Fe", user="ann", source="api")
    verbs.train_model(embedded, verbs.TrainSettings(), user="ann")
    everything = verbs.model_disagreements(embedded, verbs.DisagreementSettings())
    assert len(everything.keys) > 0
    key = everything.keys[0]
    embedded.add_labels([key], None, user="ann", source="queue")  # cleared since training
    kept = verbs.model_disagreements(embedded, verbs.DisagreementSettings())
    assert key not in kept.keys
    assert len(kept.keys) == len(everything.keys) - 1
    flagged = verbs.model_disagreements(embedded, verbs.DisagreementSettings(include_changed=True))
    row = flagged.table.set_index("key").loc[key]
    assert row.changed
    assert row.current is None
    assert row.event_id == 0


def test_confusion_samples__one_cell_matches_the_stored_confusion_matrix(
    trained: tuple[Project, verbs.ModelRecord],
) -> None:
    project, model = trained
    classes = model.metrics["classes"]
    confusion = model.metrics["confusion"]
    for i, label in enumerate(classes):
        for j, predicted in enumerate(classes):
            cell = verbs.confusion_samples(project, verbs.ConfusionCellSettings(label, predicted))
            assert len(cell) == confusion[i][j]
            assert (cell.label == label).all()
            assert (cell.predicted == predicted).all()


def test_resolve_model__an_unknown_id_names_the_models_there_are(
    trained: tuple[Project, verbs.ModelRecord],
) -> None:
    # The message once sent users to 'bps-labeler status', which does not exist: the refusal
    # names the latest models and the command that lists them all.
    project, model = trained
    with pytest.raises(
        verbs.BpsError,
        match=rf"no model 'nope' in this project \(latest: {model.id}; 'bps-labeler info",
    ):
        _queue(project, model="nope")
