"""AppTest of Explore under blind double labeling: a blind labeler sees only their own labels
on the map, in Browse, in a sample's detail and in History, and no model predictions; anyone
else sees every label (a tester saw bob's label on alice's map, captions, detail and history).
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from bps_app import blind, cache, state
from bps_app.safe_text import md
from bps_core.project import Project
from tests.helpers import map_project, open_app

EXPLORE_PAGE = "pages/3_Explore_and_label.py"


@pytest.fixture
def blind_keys(tiny_project: Project, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Blind double labeling of every sample for alice and bob; bob labeled keys[0] 'track'
    and alice keys[1] 'debris'; a model predicts 'track' everywhere (its columns patched in:
    a model trained on everyone's labels)."""
    keys = map_project(tiny_project)
    for name in ("track", "debris"):
        tiny_project.ensure_class(name)
    tiny_project.assignments.configure(["alice", "bob"], 1.0, blind=True)
    tiny_project.add_labels([keys[0]], "track", user="bob", source="queue")
    tiny_project.add_labels([keys[1]], "debris", user="alice", source="queue")
    predicted = pd.DataFrame({"key": keys, "prediction": "track", "uncertainty": "0.0-0.2"})
    monkeypatch.setattr(cache, "model_columns", lambda project: predicted)
    return keys


def _open(app: AppTest, user: str, tab: str = "Map", selection: list[str] | None = None) -> None:
    app.session_state[state.USER_NAME] = user
    app.session_state[state.EXPLORE_TAB] = tab
    if selection is not None:
        app.session_state[state.MAP_SELECTION] = selection
    app.run()
    app.switch_page(EXPLORE_PAGE).run()
    assert not app.exception


def _map_text(app: AppTest) -> str:
    """The map's trace names and hover lines."""
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    return "\n".join(
        [t["name"] for t in spec["data"]] + [h for t in spec["data"] for h in t["hovertext"]]
    )


def _captions(app: AppTest) -> list[str]:
    return [i.caption for img in app.image for i in img.proto.imgs]


class TestExploreBlind:
    def test_map__a_blind_labeler_sees_only_their_own_labels_and_no_predictions(
        self, app: AppTest, blind_keys: list[str]
    ) -> None:
        _open(app, "alice", selection=blind_keys[:4])
        text = _map_text(app)
        assert "debris (1)" in text
        assert "track" not in text
        assert "prediction" not in text
        options = app.segmented_control(key=state.MAP_COLOR_BY).options
        assert "prediction" not in options
        assert "uncertainty" not in options
        assert blind.NOTE in [c.value for c in app.caption]
        counts = next(m.value for m in app.markdown if m.value.startswith("**label**"))
        assert "debris: 1" in counts
        assert "track" not in counts
        captions = _captions(app)
        assert captions
        assert not [c for c in captions if "track" in c]
        label_filter = app.multiselect(key=state.filter_widget_key("map", "label"))
        assert "track" not in label_filter.options
        assert not [w for w in app.multiselect if w.label == "Prediction"]

    def test_map__everyone_else_sees_every_label_and_the_predictions(
        self, app: AppTest, blind_keys: list[str]
    ) -> None:
        _open(app, "carol", selection=blind_keys[:4])
        text = _map_text(app)
        assert "debris (1)" in text
        assert "track (1)" in text
        assert "prediction: track" in text
        assert blind.NOTE not in [c.value for c in app.caption]
        assert any("track" in c for c in _captions(app))

    def test_map__blind_and_not_blind_sessions_never_share_a_cached_map(
        self,
        app: AppTest,
        blind_keys: list[str],
        tiny_project: Project,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The map figure is cached by its inputs' token, not by the frame: carol's map
        (every label) must not be handed to alice for the same map, labels and filters."""
        _open(app, "carol")
        assert "track (1)" in _map_text(app)
        alice = open_app(monkeypatch, tiny_project.folder)
        _open(alice, "alice")
        assert "track" not in _map_text(alice)

    def test_detail__a_blind_labeler_sees_their_label_and_their_own_history_only(
        self, app: AppTest, blind_keys: list[str], tiny_project: Project
    ) -> None:
        _open(app, "alice", selection=[blind_keys[0]])
        metric = next(m for m in app.metric if m.label in ("Your label", "Current label"))
        assert (metric.label, metric.value) == ("Your label", "(unlabeled)")
        assert not [d for d in app.dataframe if "user" in d.value.columns]  # no history rows
        assert "Not labeled by you." in [c.value for c in app.caption]
        tiny_project.add_labels([blind_keys[0]], "debris", user="alice", source="queue")
        app.run()
        metric = next(m for m in app.metric if m.label == "Your label")
        assert metric.value == "debris"
        history = next(d.value for d in app.dataframe if "user" in d.value.columns)
        assert set(history.user) == {"alice"}

    def test_detail__everyone_else_sees_the_current_label_and_full_history(
        self, app: AppTest, blind_keys: list[str]
    ) -> None:
        _open(app, "carol", selection=[blind_keys[0]])
        metric = next(m for m in app.metric if m.label in ("Your label", "Current label"))
        assert (metric.label, metric.value) == ("Current label", "track")
        history = next(d.value for d in app.dataframe if "user" in d.value.columns)
        assert set(history.user) == {"bob"}

    def test_find_similar__unlabeled_means_not_labeled_by_the_blind_labeler(
        self, app: AppTest, blind_keys: list[str]
    ) -> None:
        """The toggle "Unlabeled only" left out bob's sample from alice's search, telling her it was
        labeled: for her it leaves out her own labels only."""
        found: dict[str, set[str]] = {}
        for user in ("alice", "carol"):
            _open(app, user, selection=blind_keys[2:4])
            app.number_input(key="map_similar_n").set_value(1000).run()
            app.button(key="map_similar").click().run()
            assert not app.exception
            found[user] = set(app.session_state[state.MAP_SELECTION])
        assert blind_keys[0] in found["alice"]  # bob's: not hers, so unlabeled to her
        assert blind_keys[1] not in found["alice"]  # her own
        assert not {blind_keys[0], blind_keys[1]} & found["carol"]  # both labeled, to carol
        assert found["alice"] - found["carol"] == {blind_keys[0]}

    def test_browse__captions_show_only_a_blind_labelers_own_labels(
        self, app: AppTest, blind_keys: list[str]
    ) -> None:
        _open(app, "alice", tab="Browse")
        captions = _captions(app)
        assert captions
        assert not [c for c in captions if "track" in c]
        assert any("debris" in c for c in captions)
        carol = app
        carol.session_state[state.USER_NAME] = "carol"
        carol.run()
        assert any("track" in c for c in _captions(carol))

    def test_history__a_blind_labeler_sees_only_their_own_events(
        self, app: AppTest, blind_keys: list[str]
    ) -> None:
        _open(app, "alice", tab="History")
        events = next(d.value for d in app.dataframe if "label" in d.value.columns)
        assert set(events.user) == {"alice"}
        app.session_state[state.USER_NAME] = "carol"
        app.run()
        events = next(d.value for d in app.dataframe if "label" in d.value.columns)
        assert set(events.user) == {"alice", "bob"}


class TestTagsBlind:
    """A tag can name a class: bob's "track?" showed in alice's chips, tag history, Browse
    captions, tag filters and History tab. A blind labeler sees her own tags only."""

    @pytest.fixture
    def tagged(self, blind_keys: list[str], tiny_project: Project) -> list[str]:
        tiny_project.tags.add(blind_keys[:3], "track?", user="bob")
        tiny_project.tags.add([blind_keys[2]], "mine", user="alice")
        return blind_keys

    def test_detail__chips_and_tag_history_hold_only_her_own_tags(
        self, app: AppTest, tagged: list[str]
    ) -> None:
        for user, chips, who in (("alice", ["mine"], {"alice"}),
                                 ("carol", ["mine", md("track?")], {"alice", "bob"})):  # fmt: skip
            _open(app, user, selection=[tagged[2]])
            shown = next(w for w in app.get("button_group") if w.label == "Tags")
            assert sorted(shown.options) == chips
            history = next(d.value for d in app.dataframe if "tag" in d.value.columns)
            assert set(history.user) == who
        _open(app, "alice", selection=[tagged[0]])  # only bob's tag: none of hers
        assert not [w for w in app.get("button_group") if md("track?") in w.options]
        assert not [d for d in app.dataframe if "tag" in d.value.columns]

    def test_browse_and_history__filters_captions_and_events_are_her_own(
        self, app: AppTest, tagged: list[str]
    ) -> None:
        _open(app, "alice", tab="Browse")
        options = app.multiselect(key=state.filter_widget_key("browse", "tags")).options
        assert "track?" not in options
        assert "mine" in options
        captions = _captions(app)
        assert [c for c in captions if md("tags: mine") in c]
        assert not [c for c in captions if md("track?") in c]
        _open(app, "alice", tab="History")
        tags = next(d.value for d in app.dataframe if "tag" in d.value.columns)
        assert set(tags.user) == {"alice"}
        _open(app, "carol", tab="Browse")
        options = app.multiselect(key=state.filter_widget_key("browse", "tags")).options
        assert {"track?", "mine"} <= set(options)
        assert [c for c in _captions(app) if md("track?") in c]


def test_queue__a_blind_labelers_filters_offer_only_their_own_labels(
    app: AppTest, blind_keys: list[str]
) -> None:
    """The queue's "matching the filters" picked bob's 'track' samples among alice's pending
    ones when she filtered by label: its filters offer her own labels only, and no
    prediction or confidence."""
    _open(app, "alice")
    app.switch_page("pages/4_Queue.py").run()
    assert not app.exception
    options = app.multiselect(key=state.filter_widget_key("queue", "label")).options
    assert "debris" in options
    assert "track" not in options
    assert not [w for w in app.multiselect if w.label == "Prediction"]
    app.session_state[state.USER_NAME] = "carol"
    app.run()
    assert "track" in app.multiselect(key=state.filter_widget_key("queue", "label")).options


def test_queue__a_blind_labeler_gets_no_reviewer_or_prediction_options(
    app: AppTest, blind_keys: list[str]
) -> None:
    """Alice's queue form showed "Reviewer: only labels others gave", "Predictions: order" and
    "Predictions: include labeled samples", though she is offered neither queue they set:
    controls that did nothing. Carol (not a labeler) keeps them."""
    _open(app, "alice")
    app.switch_page("pages/4_Queue.py").run()
    assert not app.exception
    option_keys = {"queue_review_others", "queue_pred_order", "queue_pred_labeled"}
    drawn = {w.key for w in [*app.checkbox, *app.selectbox]}
    assert not drawn & option_keys
    next(b for b in app.button if b.label == "Start").click().run()  # still starts
    assert not app.exception
    assert app.session_state[state.QUEUE] is not None
    app.session_state[state.USER_NAME] = "carol"
    app.run()
    drawn = {w.key for w in [*app.checkbox, *app.selectbox]}
    assert option_keys <= drawn


def test_queue__a_blind_labeler_reads_that_their_assigned_samples_come_first(
    app: AppTest, blind_keys: list[str]
) -> None:
    """One line says why the queue starts where it does: her assigned, unlabeled samples
    first (every sample is assigned here; she labeled one), and that others' are hidden."""
    _open(app, "alice")
    app.switch_page("pages/4_Queue.py").run()
    assert not app.exception
    first = [c.value for c in app.caption if c.value.startswith("Double labeling:")]
    n = len(blind_keys) - 1
    assert first == [f"Double labeling: the {n:,} samples assigned to you that you have not "
                     f"labeled yet come first among the unlabeled. {blind.NOTE}"]  # fmt: skip
    app.session_state[state.USER_NAME] = "carol"
    app.run()
    assert not [c for c in app.caption if c.value.startswith("Double labeling:")]


def test_project_page__a_blind_labeler_counts_only_their_own_labels(
    app: AppTest, blind_keys: list[str]
) -> None:
    """The Project page's per-class bars counted everyone's labels (bob's 'track' showed on
    alice's page): a blind labeler's count their own, with the note, and no review progress."""
    _open(app, "alice")
    app.switch_page("pages/home.py").run()
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert (metrics["Labeled by you"], metrics["Label classes"]) == ("1", "1")
    chart = next(c.proto.spec for c in app.get("plotly_chart") if "debris" in c.proto.spec)
    assert "track" not in chart
    assert blind.NOTE in [c.value for c in app.caption]
    progress = [p.proto.text for p in app.get("progress")]
    assert progress == [f"1 of {len(blind_keys)} samples labeled by you"]
    app.session_state[state.USER_NAME] = "carol"
    app.run()
    metrics = {m.label: m.value for m in app.metric}
    assert (metrics["Labeled"], metrics["Label classes"]) == ("2", "2")
    assert any("track" in c.proto.spec for c in app.get("plotly_chart"))
    assert blind.NOTE not in [c.value for c in app.caption]


def test_project_page__a_blind_labelers_next_step_is_her_queue_not_training(
    app: AppTest, blind_keys: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a model trained (on everyone's labels), alice's "Next" said "Select the next round
    of samples the model is least sure of ... and train again": she may do neither. It sends
    her to her assigned samples in the queue; carol still reads the model's next step."""
    monkeypatch.setattr(cache, "current_model", lambda project: object())
    _open(app, "alice")
    app.switch_page("pages/home.py").run()
    assert not app.exception
    text = " ".join(m.value for m in app.markdown)
    assert "Label the samples assigned to you" in text
    assert "model is least sure" not in text
    assert "train" not in text.replace("Training and the model's rounds wait", "")
    app.session_state[state.USER_NAME] = "carol"
    app.run()
    assert "model is least sure" in " ".join(m.value for m in app.markdown)


def test_rounds_page__a_blind_labeler_gets_no_label_or_model_based_round_options(
    app: AppTest, blind_keys: list[str], tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The New round tab offered alice "samples labeled 'track'" (bob's samples), balance by
    prediction, uncertainty thresholds and strategies that read the model; the Rounds tab
    listed bob's similarity keys: she gets what reads neither the labels nor a model."""
    from bps_core.verbs import RoundOptions
    from tests.helpers import create_round

    create_round(tiny_project, 2, strategy="random", seed=0, user="bob",
                 options=RoundOptions(similar_to=(blind_keys[0],)))  # fmt: skip
    with monkeypatch.context() as m:  # a model exists (carol's Model tab would read it)
        m.setattr(cache, "current_model", lambda project: object())
        _open(app, "alice")
        app.switch_page("pages/5_Select.py").run()
    assert not app.exception

    assert app.selectbox(key="round_strategy").options == list(blind.ROUND_STRATEGIES)
    assert not [t for t in app.text_area if t.key == "round_config"]  # no Lightly config
    assert "prediction" not in app.multiselect(key="round_balance").options
    similar = app.selectbox(key="round_similar").options
    assert "samples you labeled 'debris'" in similar
    assert not [o for o in similar if "track" in o]
    thresholds = app.selectbox(key="round_threshold_column").options
    assert not [o for o in thresholds if o.startswith("uncertainty")]
    captions = [c.value for c in app.caption]
    assert not [c for c in captions if "`default` picks" in c]
    assert f"1 of {len(blind_keys)} samples are labeled by you." in " ".join(captions)
    assert app.button(key="model_train").disabled
    rounds = next(d.value for d in app.dataframe if "strategy" in d.value.columns)
    assert not [c for c in rounds.columns if c.startswith("balanced")]
    assert blind_keys[0] not in app.code[0].value
    app.session_state[state.USER_NAME] = "carol"
    app.run()
    assert not app.exception
    assert "default" in app.selectbox(key="round_strategy").options
    assert "samples labeled 'track'" in app.selectbox(key="round_similar").options
    assert blind_keys[0] in app.code[0].value


def test_rounds_page__a_blind_labeler_reads_why_she_cannot_train_and_nothing_of_a_model(
    app: AppTest, blind_keys: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alice's Model tab had a disabled Train button and no word why, and warned her that "the
    latest model (logreg, ...) belongs to embedding set ..." (a model of everyone's labels)."""
    from types import SimpleNamespace

    stale = SimpleNamespace(kind="logreg", created_at="2026-01-01T00:00:00",
                            embedding_version="old")  # fmt: skip
    monkeypatch.setattr(cache, "stale_model", lambda project: stale)
    _open(app, "alice")
    app.switch_page("pages/5_Select.py").run()
    assert not app.exception
    train = app.button(key="model_train")
    assert train.disabled
    assert "blind labeler" in train.help
    assert not [w for w in app.warning if "latest model" in w.value]
    app.session_state[state.USER_NAME] = "carol"
    app.run()
    assert not app.button(key="model_train").help
    assert [w for w in app.warning if "latest model" in w.value]


@pytest.mark.parametrize("page", ["pages/6_Export.py", "pages/7_Results.py", "pages/5_Select.py"])
def test_other_pages__a_blind_labeler_gets_the_note_instead_of_everyones_labels(
    app: AppTest, blind_keys: list[str], page: str
) -> None:
    """Export (every label), Results (predictions corrected by the labels) and the Selection
    rounds' model figures are made of everyone's labels: a blind labeler reads the note."""
    for user, blinded in (("alice", True), ("carol", False)):
        app.session_state[state.USER_NAME] = user
        app.run()
        app.switch_page(page).run()
        assert not app.exception
        assert (blind.NOTE in [i.value for i in app.info]) is blinded
        if page.endswith("Export.py"):
            assert bool(app.get("download_button")) is not blinded


def test_rounds_page__a_blind_labelers_round_offers_her_assigned_samples_bob_labeled(
    app: AppTest, blind_keys: list[str], tiny_project: Project
) -> None:
    """Alice's rounds left out every sample anyone had labeled: bob's keys[0], assigned to
    her, was never offered to her (a hint of his work), while carol's rounds leave it out."""
    from bps_core.selection.rounds import list_rounds
    from tests.helpers import button

    every_candidate = len(blind_keys) - 1  # alice labeled keys[1]; bob's keys[0] is hers too
    _open(app, "carol")
    app.switch_page("pages/5_Select.py").run()
    app.selectbox(key="round_strategy").set_value("random")
    app.number_input(key="round_n").set_value(every_candidate)
    button(app, "Preview the selection").click().run()
    assert not app.exception
    assert [e for e in app.error if "candidates are left" in e.value]  # both labels count
    app.session_state[state.USER_NAME] = "alice"
    app.run()
    assert app.selectbox(key="round_strategy").value == "random"
    button(app, "Preview the selection").click().run()
    assert not app.exception
    assert not app.error
    preview = app.session_state[state.ROUND_PREVIEW]
    assert blind_keys[0] in preview.keys
    assert blind_keys[1] not in preview.keys
    app.button(key="round_accept_only").click().run()
    assert not app.exception
    (recorded,) = list_rounds(tiny_project)
    assert (recorded.user, len(recorded.keys)) == ("alice", every_candidate)


def _page_text(app: AppTest) -> str:
    """Every text the page shows: markdown, captions, notes, metrics, tables, chips."""
    parts = [e.value for e in (*app.markdown, *app.caption, *app.info, *app.subheader)]
    parts += [f"{m.label} {m.value}" for m in app.metric]
    parts += [d.value.to_string() for d in app.dataframe]
    parts += [str(o) for w in app.get("button_group") for o in w.options]
    parts += _captions(app)
    return "\n".join(parts)


def test_quality_page__a_blind_labeler_sees_no_label_or_tag_but_her_own(
    app: AppTest, blind_keys: list[str], tiny_project: Project
) -> None:
    """The Quality page's flags are made of pixels and embeddings, never of labels or tags;
    a sample opened from it shows alice her own label and tags, not bob's (he labeled and
    tagged every sample), and carol everyone's."""
    tiny_project.add_labels(blind_keys[2:], "track", user="bob", source="queue")
    tiny_project.tags.add(blind_keys, "track?", user="bob")
    for user, label in (("alice", "Your label"), ("carol", "Current label")):
        app.session_state[state.USER_NAME] = user
        app.run()
        app.switch_page("pages/9_Quality.py").run()
        assert not app.exception
        assert "track" not in _page_text(app)  # no label nor tag anywhere, for anyone
        app.pills(key="quality_out").set_value(1).run()  # the first outlier's detail
        assert not app.exception
        metric = next(m for m in app.metric if m.label in ("Your label", "Current label"))
        assert metric.label == label
        if user == "alice":
            assert metric.value in ("(unlabeled)", "debris")  # keys[1] is hers
            assert "track" not in _page_text(app)
        else:
            assert metric.value in ("track", "debris")
            assert "track?" in _page_text(app)


def test_history__her_undo_back_to_bobs_label_shows_no_class_to_her(
    app: AppTest, blind_keys: list[str], tiny_project: Project
) -> None:
    """Alice labeled bob's keys[0] and undid it: the log holds bob's 'track' again, in her
    undo event, and her sample detail and History tab listed it as her event with 'track'."""
    tiny_project.add_labels([blind_keys[0]], "debris", user="alice", source="queue")
    assert tiny_project.undo("alice") is not None
    _open(app, "alice", selection=[blind_keys[0]])
    metric = next(m for m in app.metric if m.label == "Your label")
    assert metric.value == "(unlabeled)"
    history = next(d.value for d in app.dataframe if "user" in d.value.columns)
    assert history[["source", "label"]].values.tolist() == [["undo", "(cleared)"],
                                                            ["queue", "debris"]]  # fmt: skip
    _open(app, "alice", tab="History")
    actions = next(d.value for d in app.dataframe if "how" in d.value.columns)
    assert "track" not in actions.to_string()
    assert "(cleared)" in set(actions.label)
    _open(app, "carol", selection=[blind_keys[0]])  # everyone else: the label put back
    history = next(d.value for d in app.dataframe if "user" in d.value.columns)
    assert history[["user", "source", "label"]].values.tolist()[0] == ["alice", "undo", "track"]


def test_history__her_undo_over_bobs_label_shows_her_own_label_that_stands(
    app: AppTest, blind_keys: list[str], tiny_project: Project
) -> None:
    """Alice labeled keys[2] debris, bob track, alice track, then Z: the log's undo puts back
    bob's track, in her event, while her own label is debris again. Her history showed that
    undo as "(cleared)" beside "Your label: debris"; it shows debris."""
    key = blind_keys[2]
    tiny_project.add_labels([key], "debris", user="alice", source="queue")
    tiny_project.add_labels([key], "track", user="bob", source="queue")
    tiny_project.add_labels([key], "track", user="alice", source="queue")
    assert tiny_project.undo("alice") is not None
    assert tiny_project.label_events(key).label.iloc[-1] == "track"  # bob's, put back
    _open(app, "alice", selection=[key])
    metric = next(m for m in app.metric if m.label == "Your label")
    assert metric.value == "debris"
    history = next(d.value for d in app.dataframe if "user" in d.value.columns)
    assert history[["source", "label"]].values.tolist() == [
        ["undo", "debris"], ["queue", "track"], ["queue", "debris"]
    ]  # fmt: skip
    _open(app, "alice", tab="History")
    actions = next(d.value for d in app.dataframe if "how" in d.value.columns)
    undo = actions[actions.how.astype(str).str.contains("undo", case=False)]
    assert undo.label.tolist() == ["debris"]
