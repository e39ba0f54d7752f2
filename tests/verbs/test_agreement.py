"""Verbs of blind double labeling: settings refused by field, the report, the disagreements
table, adjudication, and the queue's view of a labeler (issue 19)."""

from __future__ import annotations

import pandas as pd
import pytest

from bps_core import verbs
from bps_core.project import Project


def _double(project: Project, **kw: object) -> list[str]:
    settings = verbs.DoubleLabelingSettings(labelers=("alice", "bob"), share=0.2, **kw)  # type: ignore[arg-type]
    verbs.set_double_labeling(project, settings)
    return project.assignments.keys("alice")


class TestDoubleLabelingSettings:
    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"labelers": ("alice",)}, "labelers"),
            ({"labelers": ("alice", " alice ")}, "labelers"),
            ({"labelers": ("alice", "bob", "Alice")}, "labelers: 'alice' and 'Alice' differ only"),
            ({"labelers": ("alice", "")}, "labelers"),
            ({"labelers": ("alice", "b\u202eob")}, "labelers"),
            ({"labelers": "alice,bob"}, "labelers"),
            ({"share": 0}, "share"),
            ({"share": 1.5}, "share"),
            ({"share": "half"}, "share"),
            ({"blind": "yes"}, "blind"),
            ({"seed": -1}, "seed"),
        ],
    )
    def test_settings__refuse_bad_values_naming_the_field(
        self, kwargs: dict[str, object], field: str
    ) -> None:
        values: dict[str, object] = {"labelers": ("alice", "bob"), **kwargs}
        with pytest.raises(verbs.SettingsError, match=rf"^{field}"):
            verbs.DoubleLabelingSettings(**values)  # type: ignore[arg-type]

    def test_settings__clean_names_and_round_trip(self) -> None:
        s = verbs.DoubleLabelingSettings(labelers=(" alice ", "bob"), share=0.5, seed=2)
        assert s.labelers == ("alice", "bob")
        assert verbs.DoubleLabelingSettings.from_params(s.to_params()) == s


class TestAgreementReport:
    def test_agreement_report__kappa_progress_and_disputes(self, tiny_project: Project) -> None:
        keys = _double(tiny_project)
        classes = ["track", "debris"]
        for i, k in enumerate(keys[:10]):
            tiny_project.add_labels([k], classes[i % 2], user="alice", source="queue")
            bob = classes[i % 2] if i < 8 else classes[(i + 1) % 2]  # two disagreements
            tiny_project.add_labels([k], bob, user="bob", source="queue")
        report = verbs.agreement_report(tiny_project)
        assert report.progress_frame().to_dict("records") == [
            {"labeler": "alice", "assigned": 34, "labeled": 10, "left": 24},
            {"labeler": "bob", "assigned": 34, "labeled": 10, "left": 24},
        ]
        pair = report.tables.pairs.iloc[0]
        assert pair.n == 10
        assert pair.agreement == pytest.approx(0.8)
        assert pair.kappa == pytest.approx(0.6)
        assert (report.n_assigned, report.n_disputed, report.n_adjudicated) == (34, 2, 0)
        frame = report.to_frame()
        assert set(frame.scope) == {"pair", "class"}
        table = verbs.disagreements(tiny_project)
        assert table.key.tolist() == keys[8:10]
        assert list(table.columns) == ["key", "filename", "alice", "bob", "adjudicated",
                                       "adjudicated_label"]  # fmt: skip
        action = verbs.adjudicate(tiny_project, {keys[8]: "debris"}, user="rita")
        assert action.n_events == 1
        assert verbs.disagreements(tiny_project).key.tolist() == [keys[9]]
        settled = verbs.disagreements(tiny_project, include_adjudicated=True)
        assert settled.adjudicated.tolist() == [True, False]
        assert verbs.agreement_report(tiny_project).n_adjudicated == 1
        labels = tiny_project.current_labels().set_index("key")
        assert labels.label[keys[8]] == "debris"
        assert keys[9] not in labels.index

    def test_agreement_report__three_labelers_add_fleiss_and_alpha(
        self, tiny_project: Project
    ) -> None:
        settings = verbs.DoubleLabelingSettings(labelers=("a", "b", "c"), share=0.1)
        verbs.set_double_labeling(tiny_project, settings)
        keys = tiny_project.assignments.keys("a")
        for user in ("a", "b", "c"):
            for i, k in enumerate(keys[:6]):
                tiny_project.add_labels([k], "x" if i % 2 else "y", user=user, source="queue")
        report = verbs.agreement_report(tiny_project)
        overall = report.tables.overall.set_index("measure")
        assert overall.value["Fleiss' kappa"] == pytest.approx(1.0)
        assert overall.value["Krippendorff's alpha"] == pytest.approx(1.0)
        assert len(report.tables.pairs) == 3

    def test_agreement_report__never_set(self, tiny_project: Project) -> None:
        report = verbs.agreement_report(tiny_project)
        assert report.setting is None
        assert report.tables.pairs.empty
        assert report.to_frame().empty


class TestLabelerView:
    def test_labeler_view__pending_and_own_labels_only(self, tiny_project: Project) -> None:
        keys = _double(tiny_project)
        tiny_project.add_labels([keys[0]], "track", user="bob", source="queue")
        labels = tiny_project.current_labels()
        view = verbs.labeler_view(tiny_project, "alice", labels)
        assert view is not None
        assert keys[0] in view.pending  # bob's label does not make it done for alice
        assert view.own.empty
        assert keys[0] not in view.labeled(labels.key)
        tiny_project.add_labels([keys[0]], "debris", user="alice", source="queue")
        labels = tiny_project.current_labels()  # now a dispute: hidden
        view = verbs.labeler_view(tiny_project, "alice", labels)
        assert view is not None
        assert keys[0] not in view.pending
        assert keys[0] in view.labeled(labels.key)
        assert view.own.set_index("key").label[keys[0]] == "debris"

    def test_labeler_view__her_undo_back_to_bobs_label_leaves_her_none(
        self, tiny_project: Project
    ) -> None:
        """Alice lasso-labeled a sample outside the assigned share that bob had labeled
        (unseen by her) and undid it: the log holds his label again, in her undo event, and
        her view read it as hers ('track', his class). Her own label there is none."""
        keys = _double(tiny_project)
        other = next(k for k in tiny_project.samples().key if k not in set(keys))
        tiny_project.add_labels([other], "track", user="bob", source="queue")
        tiny_project.add_labels([other], "debris", user="alice", source="lasso")
        tiny_project.add_labels([other], "debris", user="alice", source="lasso")  # twice: redo
        assert tiny_project.undo("alice") is not None  # back to her own 'debris'
        view = verbs.labeler_view(tiny_project, "alice", tiny_project.current_labels())
        assert view is not None
        assert view.own.set_index("key").label[other] == "debris"  # her own label put back
        assert tiny_project.undo("alice") is not None  # back to bob's 'track'
        labels = tiny_project.current_labels().set_index("key")
        assert (labels.label[other], labels.user[other], labels.source[other]) == (
            "track", "alice", "undo"
        )  # fmt: skip
        view = verbs.labeler_view(tiny_project, "alice", tiny_project.current_labels())
        assert view is not None
        assert other not in set(view.own.key)
        assert tiny_project.current_label_authors([other, keys[1]]) == {other: "bob"}
        assert tiny_project.redo("alice") is not None  # her 'debris' again: hers
        view = verbs.labeler_view(tiny_project, "alice", tiny_project.current_labels())
        assert view is not None
        assert view.own.set_index("key").label[other] == "debris"
        assert tiny_project.current_label_authors([other]) == {other: "alice"}

    def test_labeler_view__none_for_others_or_when_off(self, tiny_project: Project) -> None:
        keys = _double(tiny_project)
        labels = tiny_project.current_labels()
        assert verbs.labeler_view(tiny_project, "rita", labels) is None
        assert verbs.labeler_view(tiny_project, "", labels) is None
        view = verbs.labeler_view(tiny_project, "alice", labels)
        assert view is not None
        assert view.blind
        verbs.clear_double_labeling(tiny_project)
        assert verbs.labeler_view(tiny_project, "alice", labels) is None
        # not blind: the assignments still wait in the labeler's queue, labels are not hidden
        _double(tiny_project, blind=False)
        tiny_project.add_labels([keys[0]], "track", user="bob", source="queue")
        labels = tiny_project.current_labels()
        view = verbs.labeler_view(tiny_project, "alice", labels)
        assert view is not None
        assert not view.blind
        assert keys[0] in view.pending
        assert keys[0] not in view.labeled(labels.key)


def test_labeler_labels__one_column_per_labeler(tiny_project: Project) -> None:
    keys = _double(tiny_project)
    tiny_project.add_labels([keys[1]], "track", user="bob", source="queue")
    wide = verbs.labeler_labels(tiny_project)
    assert list(wide.columns) == ["alice", "bob"]
    assert len(wide) == 34
    assert wide.bob[keys[1]] == "track"
    assert pd.isna(wide.alice[keys[1]])
