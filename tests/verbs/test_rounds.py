"""Verbs ``select_round``, ``record_round`` and ``train_model``."""

from __future__ import annotations

import pytest

from bps_core import verbs
from bps_core.project import Project
from bps_core.selection.rounds import list_rounds
from tests.verbs.conftest import label_by_particle


def test_select_round__previews_without_writing_then_record_round_records(
    embedded: Project,
) -> None:
    seen: list[float] = []
    settings = verbs.SelectSettings(n=8, strategy="random", seed=4)
    preview = verbs.select_round(embedded, settings, seen.append)
    assert isinstance(preview, verbs.RoundPreview)
    assert len(preview.keys) == 8
    assert list_rounds(embedded) == []  # a preview writes nothing
    assert verbs.select_round(embedded, settings).keys == preview.keys  # seeded
    assert seen == [1.0]
    recorded = verbs.record_round(embedded, preview, user="ann")
    assert isinstance(recorded, verbs.Round)
    assert [r.keys for r in list_rounds(embedded)] == [preview.keys]
    assert recorded.user == "ann"


def test_train_model__cross_validates_and_predicts(embedded: Project) -> None:
    label_by_particle(embedded, 10)
    seen: list[float] = []
    model = verbs.train_model(embedded, verbs.TrainSettings(), seen.append, user="ann")
    assert isinstance(model, verbs.ModelRecord)
    assert model.classes == ["Fe", "X-ray"]
    assert model.n_labeled == 20
    assert seen[-1] == 1.0


def test_train_model__keeps_the_out_of_fold_predictions_of_its_labels(
    embedded: Project,
) -> None:
    label_by_particle(embedded, 10)
    labels = embedded.current_labels()
    model = verbs.train_model(embedded, verbs.TrainSettings(), user="ann")
    oof = verbs.out_of_fold(embedded, model)
    assert oof is not None
    assert sorted(oof.keys) == sorted(labels.key)
    assert oof.probs.shape == (20, 2)
    assert abs(oof.probs.sum(axis=1) - 1).max() < 1e-5
    frame = oof.frame().set_index("key")
    assert (frame.label == labels.set_index("key").label.loc[frame.index]).all()
    assert set(frame.predicted) <= {"Fe", "X-ray"}
    # agrees with the stored figures: the confusion matrix counts the same predictions
    confusion = model.metrics["confusion"]
    assert sum(confusion[i][i] for i in range(2)) == int((frame.label == frame.predicted).sum())


def test_out_of_fold__none_for_a_model_without_cross_validation(embedded: Project) -> None:
    label_by_particle(embedded, 10)
    labeled = set(embedded.current_labels().key)
    free = [k for k in embedded.samples().key if k not in labeled]
    embedded.add_labels(free[:1], "single", user="ann", source="api")  # one label: no folds
    model = verbs.train_model(embedded, verbs.TrainSettings(), user="ann")
    assert model.metrics["n_folds"] == 0
    assert verbs.out_of_fold(embedded, model) is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "n"),
        ({"n": 0}, "n"),
        ({"n": 5, "strategy": "magic"}, "strategy"),
    ],
)
def test_select_settings__a_bad_value_is_refused_naming_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(verbs.SettingsError, match=f"^{field}"):
        verbs.SelectSettings(**kwargs)  # type: ignore[arg-type]


_CONFIG = verbs.SelectionConfig.from_json(
    '{"n_samples": 4, "strategies": [{"input": {"type": "EMBEDDINGS"}, '
    '"strategy": {"type": "DIVERSITY"}}]}'
)


@pytest.mark.parametrize(
    "options",
    [
        verbs.RoundOptions(balance_by=("particle_type",)),
        verbs.RoundOptions(threshold_column="hr_post_exposure"),
        verbs.RoundOptions(similar_to=("a.tif",)),
    ],
)
def test_select_settings__round_options_with_a_lightly_config_are_refused_not_dropped(
    options: verbs.RoundOptions,
) -> None:
    with pytest.raises(verbs.SettingsError, match="^balance, threshold and similarity apply"):
        verbs.SelectSettings(config=_CONFIG, options=options)


def test_select_settings__a_strategy_with_a_lightly_config_is_refused_not_dropped() -> None:
    with pytest.raises(verbs.SettingsError, match="^strategy 'uncertainty' and config"):
        verbs.SelectSettings(config=_CONFIG, strategy="uncertainty")
    assert verbs.SelectSettings(config=_CONFIG).options.empty  # the config alone is fine


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"threshold_column": "x", "threshold_operation": "BIGGEST"}, "threshold_operation"),
        ({"threshold_operation": "bigger"}, "threshold_operation"),
        ({"threshold_value": float("nan")}, "threshold_value"),
        ({"threshold_value": "3"}, "threshold_value"),
        ({"balance_by": "particle_type"}, "balance_by"),
        ({"balance_by": ("",)}, "balance_by"),
        ({"similar_to": ["a.tif"]}, "similar_to"),
        ({"threshold_column": 3}, "threshold_column"),
    ],
)
def test_round_options__a_bad_value_is_refused_naming_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(verbs.SettingsError, match=f"^{field}"):
        verbs.RoundOptions(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("model", "field"),
    [
        (verbs.ModelConfig(kind="forest"), "model kind"),  # type: ignore[arg-type]
        (verbs.ModelConfig(folds=1), "folds"),
        (verbs.ModelConfig(k=0), "k"),
    ],
)
def test_train_settings__a_bad_value_is_refused_naming_the_field(
    model: verbs.ModelConfig, field: str
) -> None:
    with pytest.raises(verbs.SettingsError, match=f"^{field}"):
        verbs.TrainSettings(model=model)


class TestBlindLabelersRound:
    """A blind double labeler's round counted everyone's current labels as labeled: a sample
    assigned to her was never offered once bob labeled it (a hint of his work on the share the
    Agreement page compares), and her own label on a disputed sample did not count. It counts
    what is done for her, as her queue does, and reads no model (made of everyone's labels)."""

    @pytest.fixture
    def shares(self, embedded: Project) -> tuple[list[str], list[str]]:
        """Blind double labeling of half the samples for alice and bob: bob labeled two
        assigned and two other samples; alice two assigned ones, one against bob's label."""
        embedded.assignments.configure(["alice", "bob"], 0.5, seed=1, blind=True)
        assigned = sorted(embedded.assignments.keys("alice"))
        others = [k for k in embedded.samples().key if k not in set(assigned)]
        embedded.add_labels(assigned[:2] + others[:2], "Fe", user="bob", source="queue")
        embedded.add_labels([assigned[0]], "X-ray", user="alice", source="queue")  # disputed
        embedded.add_labels([assigned[2]], "Fe", user="alice", source="queue")
        return assigned, others

    def _pool(self, project: Project, user: str, n: int) -> set[str]:
        settings = verbs.SelectSettings(n=n, strategy="random", seed=0)
        return set(verbs.select_round(project, settings, user=user).keys)

    def test_select_round__her_pool_holds_her_assigned_samples_until_she_labels_them(
        self, embedded: Project, shares: tuple[list[str], list[str]]
    ) -> None:
        assigned, others = shares
        ok = set(embedded.samples().query("status == 'ok'").key)
        done = {assigned[0], assigned[2], *others[:2]}
        assert done <= ok
        mine = self._pool(embedded, "alice", len(ok) - len(done))  # every candidate
        assert mine == ok - done
        assert assigned[1] in mine  # bob labeled it; she has not: hers to label
        # carol (no labeler) counts the current labels: bob's, alice's; the dispute is open
        everyone = {assigned[1], assigned[2], *others[:2]}
        assert self._pool(embedded, "carol", len(ok) - len(everyone)) == ok - everyone
        with pytest.raises(verbs.SelectionError, match="candidates are left"):
            self._pool(embedded, "alice", len(ok) - len(done) + 1)

    def test_select_round__earlier_rounds_stay_held_back_counted_by_her_labels(
        self, embedded: Project, shares: tuple[list[str], list[str]]
    ) -> None:
        assigned, others = shares
        preview = verbs.RoundPreview("random", {"round": {}}, 0, [assigned[1], assigned[3]],
                                     verbs.current_version(embedded) or "", None)  # fmt: skip
        verbs.record_round(embedded, preview, user="bob")
        settings = verbs.SelectSettings(n=3, strategy="random", seed=0)
        mine = verbs.select_round(embedded, settings, user="alice")
        assert not {assigned[1], assigned[3]} & set(mine.keys)
        assert mine.config["round"]["held_back"] == 2  # both unlabeled by her
        theirs = verbs.select_round(embedded, settings, user="carol")
        assert theirs.config["round"]["held_back"] == 1  # bob labeled assigned[1]

    def test_select_round__reads_no_model_for_her(
        self, embedded: Project, shares: tuple[list[str], list[str]]
    ) -> None:
        label_by_particle(embedded, 10)
        model = verbs.train_model(embedded, verbs.TrainSettings(), user="ann")
        with pytest.raises(verbs.SelectionError, match="blind double labeler's round reads none"):
            verbs.select_round(embedded, verbs.SelectSettings(n=3, strategy="uncertainty"),
                               user="alice")  # fmt: skip
        with pytest.raises(verbs.SelectionError, match="needs model predictions"):
            verbs.select_round(
                embedded,
                verbs.SelectSettings(n=3, strategy="random",
                                     options=verbs.RoundOptions(balance_by=("prediction",))),
                user="alice",
            )  # fmt: skip
        settings = verbs.SelectSettings(n=3, strategy="random", seed=0)
        assert verbs.select_round(embedded, settings, user="alice").model_before is None
        assert verbs.select_round(embedded, settings, user="carol").model_before == model.id
        verbs.select_round(embedded, verbs.SelectSettings(n=3, strategy="uncertainty"),
                           user="carol")  # fmt: skip
