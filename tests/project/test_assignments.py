"""Blind double labeling in the store: stable assignments, each labeler's own labels from the
log, disagreements, and what counts as labeled while it is on (issue 19)."""

from __future__ import annotations

import pytest

from bps_core.project import Project

ALICE, BOB = "alice", "bob"


def _assigned(project: Project) -> list[str]:
    return project.assignments.keys(ALICE)


class TestConfigure:
    def test_configure__assigns_the_same_share_to_every_labeler(
        self, tiny_project: Project
    ) -> None:
        change = tiny_project.assignments.configure([ALICE, BOB], 0.2, seed=3)
        assert change.n_samples == 34  # 20 % of 170
        assert (change.n_added, change.n_removed, change.n_kept_labeled) == (68, 0, 0)
        assert tiny_project.assignments.keys(ALICE) == tiny_project.assignments.keys(BOB)
        setting = tiny_project.assignments.settings()
        assert setting is not None
        assert setting.labelers == (ALICE, BOB)
        assert setting.blind

    def test_configure__a_larger_share_keeps_every_sample_and_a_smaller_removes_the_least(
        self, tiny_project: Project
    ) -> None:
        a = tiny_project.assignments
        a.configure([ALICE, BOB], 0.2, seed=3)
        small = set(_assigned(tiny_project))
        change = a.configure([ALICE, BOB], 0.4, seed=3)
        large = set(_assigned(tiny_project))
        assert small < large
        assert len(large) == 68
        assert (change.n_added, change.n_removed) == (68, 0)
        change = a.configure([ALICE, BOB], 0.2, seed=3)
        assert set(_assigned(tiny_project)) == small
        assert (change.n_added, change.n_removed) == (0, 68)
        again = a.configure([ALICE, BOB], 0.2, seed=3)
        assert (again.n_added, again.n_removed) == (0, 0)

    def test_configure__the_seed_decides_the_draw(self, tiny_project: Project) -> None:
        tiny_project.assignments.configure([ALICE, BOB], 0.2, seed=1)
        first = set(_assigned(tiny_project))
        tiny_project.assignments.configure([ALICE, BOB], 0.2, seed=2)
        assert set(_assigned(tiny_project)) != first

    def test_configure__never_drops_an_assignment_its_labeler_already_labeled(
        self, tiny_project: Project
    ) -> None:
        a = tiny_project.assignments
        a.configure([ALICE, BOB], 0.4, seed=3)
        small = set(_assigned(tiny_project))
        a.configure([ALICE, BOB], 0.2, seed=3)
        dropped = sorted(small - set(_assigned(tiny_project)))
        a.configure([ALICE, BOB], 0.4, seed=3)
        tiny_project.add_labels(dropped[:2], "track", user=ALICE, source="queue")
        change = a.configure([ALICE, BOB], 0.2, seed=3)
        assert change.n_kept_labeled == 2
        assert set(dropped[:2]) <= set(a.keys(ALICE))
        assert not set(dropped[:2]) & set(a.keys(BOB))
        change = a.configure([ALICE, "carol"], 0.2, seed=3)  # bob leaves, unlabeled: removed
        assert a.keys(BOB) == []
        assert len(a.keys("carol")) == 34

    def test_configure__refuses_one_labeler_and_a_share_out_of_range(
        self, tiny_project: Project
    ) -> None:
        with pytest.raises(ValueError, match="labelers"):
            tiny_project.assignments.configure([ALICE, ALICE], 0.2)
        with pytest.raises(ValueError, match="share"):
            tiny_project.assignments.configure([ALICE, BOB], 0)

    def test_disable__keeps_the_assignments_and_the_labels(self, tiny_project: Project) -> None:
        a = tiny_project.assignments
        a.configure([ALICE, BOB], 0.2)
        key = _assigned(tiny_project)[0]
        tiny_project.add_labels([key], "track", user=ALICE, source="queue")
        off = a.disable()
        assert off is not None
        assert not off.enabled
        assert a.active() is None
        assert len(a.keys(ALICE)) == 34
        assert a.labeler_labels().key.tolist() == [key]


class TestLabelerLabels:
    def test_labeler_labels__each_labeler_keeps_their_own_last_label(
        self, tiny_project: Project
    ) -> None:
        tiny_project.assignments.configure([ALICE, BOB], 0.2)
        k1, k2 = _assigned(tiny_project)[:2]
        tiny_project.add_labels([k1], "track", user=ALICE, source="queue")
        tiny_project.add_labels([k1], "debris", user=BOB, source="queue")
        tiny_project.add_labels([k2], "debris", user=ALICE, source="queue")
        tiny_project.add_labels([k2], "track", user=ALICE, source="lasso")
        # a reviewer's events are not a labeler's own
        tiny_project.add_labels([k1], "track", user=BOB, source="adjudication")
        own = tiny_project.assignments.labeler_labels()
        got = {(k, u): lab for k, u, lab in zip(own.key, own.user, own.label, strict=True)}
        assert got == {(k1, ALICE): "track", (k1, BOB): "debris", (k2, ALICE): "track"}

    def test_labeler_labels__an_undo_restores_the_labelers_own_previous_label(
        self, tiny_project: Project
    ) -> None:
        tiny_project.assignments.configure([ALICE, BOB], 0.2)
        key = _assigned(tiny_project)[0]
        tiny_project.add_labels([key], "track", user=BOB, source="queue")
        tiny_project.add_labels([key], "debris", user=ALICE, source="queue")
        tiny_project.add_labels([key], "focus", user=BOB, source="queue")
        tiny_project.undo(BOB)  # the log's undo restores alice's debris; bob's own: track
        own = tiny_project.assignments.labeler_labels().set_index("user").label
        assert own[BOB] == "track"
        assert own[ALICE] == "debris"
        tiny_project.redo(BOB)
        own = tiny_project.assignments.labeler_labels().set_index("user").label
        assert own[BOB] == "focus"
        tiny_project.undo(BOB)  # takes back the redo
        own = tiny_project.assignments.labeler_labels().set_index("user").label
        assert own[BOB] == "track"
        other = _assigned(tiny_project)[1]
        tiny_project.add_labels([other], "track", user=BOB, source="queue")
        tiny_project.undo(BOB)  # his only label there taken back: none of his
        own = tiny_project.assignments.labeler_labels()
        assert other not in set(own.key)

    def test_labeler_labels__an_undo_the_log_skipped_still_takes_back_the_labelers_label(
        self, tiny_project: Project
    ) -> None:
        """Blind labelers label the same samples: bob's undo after alice labeled his sample keeps
        her label in the log (undo never overwrites another's newer label), yet his own label
        is taken back."""
        tiny_project.assignments.configure([ALICE, BOB], 0.2)
        key = _assigned(tiny_project)[0]
        tiny_project.add_labels([key], "track", user=BOB, source="queue")
        tiny_project.add_labels([key], "debris", user=ALICE, source="queue")
        assert len(tiny_project.assignments.labeler_labels()) == 2
        result = tiny_project.undo(BOB)  # writes no event, only its action: read anew anyway
        assert result is not None
        assert result.n_skipped == 1
        assert tiny_project.current_labels().set_index("key").label[key] == "debris"
        own = tiny_project.assignments.labeler_labels()
        assert own.user.tolist() == [ALICE]


class TestBlindCurrentLabels:
    def _dispute(self, project: Project, blind: bool = True) -> tuple[str, str, str]:
        project.assignments.configure([ALICE, BOB], 0.2, blind=blind)
        agree, disputed, single = _assigned(project)[:3]
        project.add_labels([agree, disputed, single], "track", user=ALICE, source="queue")
        project.add_labels([agree], "track", user=BOB, source="queue")
        project.add_labels([disputed], "debris", user=BOB, source="queue")
        return agree, disputed, single

    def test_current_labels__a_blind_disagreement_counts_as_unlabeled(
        self, tiny_project: Project
    ) -> None:
        agree, disputed, single = self._dispute(tiny_project)
        labels = tiny_project.current_labels()
        assert set(labels.key) == {agree, single}
        assert tiny_project.label_counts() == {"track": 2}
        summary = tiny_project.summary()
        assert summary["labeled"] == 2
        assert summary["label_counts"] == {"track": 2}
        d = tiny_project.assignments.disputes()
        assert d.key.tolist() == [disputed]
        assert not d.adjudicated.any()

    def test_current_labels__an_adjudication_becomes_the_label(self, tiny_project: Project) -> None:
        _, disputed, _ = self._dispute(tiny_project)
        tiny_project.add_labels([disputed], "debris", user="rita", source="adjudication")
        labels = tiny_project.current_labels().set_index("key")
        assert labels.label[disputed] == "debris"
        assert labels.source[disputed] == "adjudication"
        assert tiny_project.label_counts() == {"track": 2, "debris": 1}
        # a labeler changing their label afterwards reopens the disagreement...
        tiny_project.add_labels([disputed], "focus", user=ALICE, source="queue")
        assert disputed not in set(tiny_project.current_labels().key)
        # ...and agreeing settles it with the last event's label
        tiny_project.add_labels([disputed], "debris", user=ALICE, source="queue")
        assert tiny_project.current_labels().set_index("key").label[disputed] == "debris"

    def test_current_labels__not_blind_or_turned_off_keeps_the_last_event(
        self, tiny_project: Project
    ) -> None:
        _, disputed, _ = self._dispute(tiny_project, blind=False)
        assert tiny_project.current_labels().set_index("key").label[disputed] == "debris"
        tiny_project.assignments.configure([ALICE, BOB], 0.2, blind=True)
        assert disputed not in set(tiny_project.current_labels().key)
        tiny_project.assignments.disable()
        assert disputed in set(tiny_project.current_labels().key)


class TestUndoAdjudication:
    """A reviewer's undo of an adjudication reopens the disagreement; their redo settles it
    again: "adjudicated" is read from the log, undos and redos included."""

    def _dispute(self, project: Project) -> str:
        project.assignments.configure([ALICE, BOB], 0.2)
        key = _assigned(project)[0]
        project.add_labels([key], "track", user=ALICE, source="queue")
        project.add_labels([key], "debris", user=BOB, source="queue")
        return key

    def _state(self, project: Project, key: str) -> tuple[bool, object]:
        d = project.assignments.disputes().set_index("key")
        return bool(d.adjudicated[key]), d.adjudicated_label[key]

    @pytest.mark.parametrize("decision", ["track", "debris"])  # debris: bob's, the last given
    def test_undo_reopens_and_redo_settles_again(
        self, tiny_project: Project, decision: str
    ) -> None:
        key = self._dispute(tiny_project)
        tiny_project.add_labels([key], decision, user="rita", source="adjudication")
        assert self._state(tiny_project, key) == (True, decision)
        for _ in range(2):  # undo, redo, then the same again (undo takes back the redo)
            assert tiny_project.undo("rita") is not None
            adjudicated, label = self._state(tiny_project, key)
            assert not adjudicated
            assert label is None or label != label  # None or NaN: open
            assert key not in set(tiny_project.current_labels().key)
            assert tiny_project.label_events(key).label.iloc[-1] == "debris"  # before it
            own = tiny_project.assignments.labeler_labels().set_index("user").label
            assert (own[ALICE], own[BOB]) == ("track", "debris")  # the labelers' own kept
            assert tiny_project.redo("rita") is not None
            assert self._state(tiny_project, key) == (True, decision)
            labels = tiny_project.current_labels().set_index("key")
            assert (labels.label[key], labels.source[key]) == (decision, "redo")

    def test_undo_restores_the_earlier_decision(self, tiny_project: Project) -> None:
        key = self._dispute(tiny_project)
        tiny_project.add_labels([key], "track", user="rita", source="adjudication")
        tiny_project.add_labels([key], "focus", user="rita", source="adjudication")
        tiny_project.undo("rita")
        assert self._state(tiny_project, key) == (True, "track")
        assert tiny_project.current_labels().set_index("key").label[key] == "track"

    def test_a_labelers_relabel_after_the_redo_reopens_it(self, tiny_project: Project) -> None:
        key = self._dispute(tiny_project)
        tiny_project.add_labels([key], "track", user="rita", source="adjudication")
        tiny_project.undo("rita")
        tiny_project.redo("rita")
        tiny_project.add_labels([key], "focus", user=ALICE, source="queue")
        assert self._state(tiny_project, key)[0] is False

    def test_a_labelers_redo_of_an_adjudication_is_not_their_own_label(
        self, tiny_project: Project
    ) -> None:
        """A labeler who also adjudicates (here alice, on a sample she labeled): her redo of the
        decision is the decision again, not her own label."""
        key = self._dispute(tiny_project)
        tiny_project.add_labels([key], "debris", user=ALICE, source="adjudication")
        tiny_project.undo(ALICE)
        assert self._state(tiny_project, key)[0] is False
        tiny_project.redo(ALICE)
        own = tiny_project.assignments.labeler_labels().set_index("user").label
        assert own[ALICE] == "track"
        assert self._state(tiny_project, key) == (True, "debris")


class TestUndoAfterAdjudication:
    """A labeler's undo (Z) back to the labels a reviewer already decided keeps the decision:
    the disagreement is the one settled, and the sample holds the decision, so it must not come
    back to the adjudication queue. A new disagreement, or the decided one whose sample no
    longer holds the decision, comes back."""

    def _decided(self, project: Project, decision: str) -> str:
        project.assignments.configure([ALICE, BOB], 0.2)
        key = _assigned(project)[0]
        project.add_labels([key], "track", user=ALICE, source="queue")
        project.add_labels([key], "debris", user=BOB, source="queue")
        project.add_labels([key], decision, user="rita", source="adjudication")
        return key

    def _state(self, project: Project, key: str) -> tuple[bool, object]:
        d = project.assignments.disputes().set_index("key")
        return bool(d.adjudicated[key]), d.adjudicated_label[key]

    @pytest.mark.parametrize(("who", "decision"), [(BOB, "track"), (ALICE, "track"),
                                                   (BOB, "debris"), (ALICE, "debris")])  # fmt: skip
    def test_a_relabel_reopens_and_its_undo_settles_it_again(
        self, tiny_project: Project, who: str, decision: str
    ) -> None:
        key = self._decided(tiny_project, decision)
        tiny_project.add_labels([key], "focus", user=who, source="queue")
        assert self._state(tiny_project, key)[0] is False  # a new disagreement: open
        assert key in tiny_project.assignments.hidden_keys()
        assert tiny_project.undo(who) is not None  # back to the labels rita decided
        assert self._state(tiny_project, key) == (True, decision)
        assert key not in tiny_project.assignments.hidden_keys()
        assert tiny_project.current_labels().set_index("key").label[key] == decision
        tiny_project.redo(who)  # the new disagreement again
        assert self._state(tiny_project, key)[0] is False

    def test_an_agreement_undone_back_to_the_decided_disagreement_stays_settled(
        self, tiny_project: Project
    ) -> None:
        """Bob agrees with alice after rita's decision, then takes it back."""
        key = self._decided(tiny_project, "track")
        tiny_project.add_labels([key], "track", user=BOB, source="queue")
        assert key not in set(tiny_project.assignments.disputes().key)
        tiny_project.undo(BOB)
        assert self._state(tiny_project, key) == (True, "track")
        assert tiny_project.current_labels().set_index("key").label[key] == "track"

    def test_the_decision_on_the_same_labels_counts_not_a_later_one_on_others(
        self, tiny_project: Project
    ) -> None:
        """Rita decided track on (track, debris), then focus once bob said focus; bob's undo
        back to debris is the disagreement she decided track, the label the sample holds."""
        key = self._decided(tiny_project, "track")
        tiny_project.add_labels([key], "focus", user=BOB, source="queue")
        tiny_project.add_labels([key], "focus", user="rita", source="adjudication")
        tiny_project.undo(BOB)
        assert self._state(tiny_project, key) == (True, "track")
        assert tiny_project.current_labels().set_index("key").label[key] == "track"

    def test_an_undo_before_the_decision_is_read_at_its_time(self, tiny_project: Project) -> None:
        """Bob's label stood when rita decided, and his Z took it back only after: taken back
        and given again, it is the disagreement she decided."""
        key = self._decided(tiny_project, "debris")
        tiny_project.undo(BOB)  # his debris taken back: alice's label alone, no dispute
        assert key not in set(tiny_project.assignments.disputes().key)
        tiny_project.add_labels([key], "debris", user=BOB, source="queue")
        assert self._state(tiny_project, key) == (True, "debris")

    def test_the_decided_labels_without_the_decision_in_place_reopen(
        self, tiny_project: Project
    ) -> None:
        """Bob relabels debris, the label he had: the sample holds his label, not rita's
        track, so the disagreement goes back to her rather than show a label she overruled."""
        key = self._decided(tiny_project, "track")
        tiny_project.add_labels([key], "debris", user=BOB, source="queue")
        assert self._state(tiny_project, key)[0] is False
        assert key in tiny_project.assignments.hidden_keys()

    def test_a_reviewers_undo_still_reopens(self, tiny_project: Project) -> None:
        key = self._decided(tiny_project, "track")
        tiny_project.add_labels([key], "focus", user=BOB, source="queue")
        tiny_project.undo(BOB)
        tiny_project.undo("rita")  # the decision taken back: open whatever the labels
        assert self._state(tiny_project, key)[0] is False


class TestOwnLabelsAfterUndos:
    def test_her_undo_gives_back_her_own_label_not_the_one_the_log_puts_back(
        self, tiny_project: Project
    ) -> None:
        tiny_project.assignments.configure([ALICE, BOB], 0.2)
        key = _assigned(tiny_project)[0]
        tiny_project.add_labels([key], "debris", user=ALICE, source="queue")
        tiny_project.add_labels([key], "track", user=BOB, source="queue")
        tiny_project.add_labels([key], "track", user=ALICE, source="queue")
        tiny_project.undo(ALICE)  # the log: bob's track back; hers: debris
        events = tiny_project.label_events(key)
        first_undo = int(events.event_id.iloc[-1])
        assert events.label.iloc[-1] == "track"
        assert tiny_project.assignments.own_labels_after_undos(ALICE) == {first_undo: "debris"}
        tiny_project.undo(ALICE)  # now her debris too: none of hers (the log skips: bob's)
        # read at its time, the first undo still gave her debris back
        assert tiny_project.assignments.own_labels_after_undos(ALICE) == {first_undo: "debris"}
        assert tiny_project.assignments.own_labels_after_undos(BOB) == {}

    def test_an_undo_back_to_no_label_of_hers_is_none(self, tiny_project: Project) -> None:
        tiny_project.assignments.configure([ALICE, BOB], 0.2)
        key = _assigned(tiny_project)[0]
        tiny_project.add_labels([key], "track", user=BOB, source="queue")
        tiny_project.add_labels([key], "debris", user=ALICE, source="queue")
        tiny_project.undo(ALICE)
        undo = int(tiny_project.label_events(key).event_id.iloc[-1])
        assert tiny_project.assignments.own_labels_after_undos(ALICE) == {undo: None}
