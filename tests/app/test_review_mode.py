"""AppTest of the reviewer step in the app: the Label queue's review mode (accept, fix, reject,
a stale screen refused), the project page's reviewed counts, and the Results page's "Reviewed
labels only"."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from bps_app import review_mode, state
from bps_core import verbs
from bps_core.project import Project
from tests.helpers import open_app

QUEUE_PAGE = "pages/4_Queue.py"


def _label(project: Project) -> list[str]:
    keys = project.samples().key.head(4).tolist()
    project.add_labels(keys[:2], "track", user="ann", source="queue")
    project.add_labels(keys[2:], "debris", user="bob", source="queue")
    return keys


def _start_review(app: AppTest, origin: str, *, others_only: bool = False) -> list[str]:
    app.switch_page(QUEUE_PAGE).run()
    app.selectbox(key="queue_origin").set_value(origin)
    if others_only:
        app.checkbox(key="queue_review_others").check()
    next(b for b in app.button if b.label == "Start").click().run()
    assert not app.exception
    return list(app.session_state[state.QUEUE].keys)


def _progress(app: AppTest) -> str:
    return str(app.get("progress")[0].proto.text)


def _states(project: Project) -> dict[str, str]:
    cur = project.reviews.current()
    return dict(zip(cur.key, cur.review, strict=True))


def test_review_mode__accept_fix_reject_and_skip_walk_the_queue(
    app: AppTest, tiny_project: Project
) -> None:
    keys = _label(tiny_project)
    app.session_state[state.USER_NAME] = "rita"
    app.run()
    order = _start_review(app, review_mode.ORIGIN_ALL)
    assert sorted(order) == sorted(keys)
    assert "0 of 4 reviewed · 4 remaining · image 1 of 4" in _progress(app)
    label_of = dict(zip(keys, ["track", "track", "debris", "debris"], strict=True))
    shown = app.metric[0].value
    assert shown == label_of[order[0]]  # the current label, who gave it and when
    who = "ann" if label_of[order[0]] == "track" else "bob"
    assert any(f"by **{who}**" in c.value for c in app.caption)
    app.button(key="queue_review_accept").click().run()
    assert "1 of 4 reviewed · 3 remaining · image 2 of 4" in _progress(app)
    other = "debris" if label_of[order[1]] == "track" else "track"
    app.button(key=f"queue_review_fix_{other}").click().run()
    app.button(key="queue_review_reject").click().run()
    app.button(key="queue_review_next").click().run()  # skip: no verdict
    assert "3 of 4 reviewed · 1 remaining · finished" in _progress(app)
    assert "1 labels still unreviewed (skipped)" in app.info[0].value
    states = _states(tiny_project)
    assert states[order[0]] == "accepted"
    assert states[order[1]] == "fixed"
    assert order[2] not in states  # rejected: unlabeled again
    assert states[order[3]] == "unreviewed"
    assert tiny_project.current_labels().set_index("key").label[order[1]] == other
    app.button(key="queue_review_again").click().run()
    assert "0 of 1 reviewed · 1 remaining · image 1 of 1" in _progress(app)
    app.button(key="queue_review_accept_enter").click().run()  # Enter's button
    assert "Review finished" in app.success[0].value
    assert tiny_project.reviews.counts().by_reviewer == {"rita": 4}


def test_review_mode__a_label_changed_since_the_screen_was_drawn_is_refused(
    app: AppTest, tiny_project: Project
) -> None:
    _label(tiny_project)
    app.session_state[state.USER_NAME] = "rita"
    app.run()
    order = _start_review(app, review_mode.ORIGIN_ALL)
    tiny_project.add_labels([order[0]], "debris", user="carl", source="queue")  # meanwhile
    app.button(key="queue_review_reject").click().run()
    error = app.error[0].value.replace("\\", "")  # markdown escapes
    assert "relabeled by carl" in error
    assert "since you opened it; reload" in error
    assert tiny_project.reviews.version() == 0  # nothing written
    assert "image 1 of 4" in _progress(app)  # the same sample, now with carl's label
    assert app.metric[0].value == "debris"
    app.button(key="queue_review_accept").click().run()
    assert _states(tiny_project)[order[0]] == "accepted"


def test_review_mode__z_undoes_a_reject_and_shows_that_sample_again(
    app: AppTest, tiny_project: Project
) -> None:
    _label(tiny_project)
    app.session_state[state.USER_NAME] = "rita"
    app.run()
    order = _start_review(app, review_mode.ORIGIN_ALL)
    label = tiny_project.current_labels().set_index("key").label[order[0]]
    app.button(key="queue_review_reject").click().run()
    app.button(key="queue_review_accept").click().run()
    assert "2 of 4 reviewed · 2 remaining · image 3 of 4" in _progress(app)
    app.button(key="queue_review_undo").click().run()  # the reject, not the later accept
    assert "1 of 4 reviewed · 3 remaining · image 1 of 4" in _progress(app)
    assert app.metric[0].value == label
    states = _states(tiny_project)
    assert states[order[0]] == "unreviewed"  # the label is back, to review again
    assert states[order[1]] == "accepted"
    app.button(key="queue_review_undo").click().run()
    assert "Nothing to undo" in app.error[0].value


def test_review_mode__one_class_and_others_labels_only(app: AppTest, tiny_project: Project) -> None:
    keys = _label(tiny_project)
    app.session_state[state.USER_NAME] = "ann"
    app.run()
    assert sorted(_start_review(app, review_mode.ORIGIN_CLASS + "debris")) == keys[2:]
    assert sorted(_start_review(app, review_mode.ORIGIN_ALL, others_only=True)) == keys[2:]
    # starting an ordinary queue leaves review mode
    app.selectbox(key="queue_origin").set_value("Unlabeled samples (random order)")
    next(b for b in app.button if b.label == "Start").click().run()
    assert "labeled · image 1 of" in _progress(app)
    assert not any(b.key == "queue_review_accept" for b in app.button)


def test_review_mode__without_a_name_the_verdicts_are_disabled(
    app: AppTest, tiny_project: Project
) -> None:
    _label(tiny_project)
    app.run()
    _start_review(app, review_mode.ORIGIN_ALL)
    assert app.button(key="queue_review_accept").disabled
    assert app.button(key="queue_review_reject").disabled


def test_home__shows_how_many_labels_are_reviewed(app: AppTest, tiny_project: Project) -> None:
    keys = _label(tiny_project)
    verbs.review(tiny_project, verbs.ReviewSettings((verbs.Verdict(keys[0], "accept"),)),
                 user="rita")  # fmt: skip
    app.run()
    assert not app.exception
    texts = [str(p.proto.text) for p in app.get("progress")]
    assert "1 of 4 labels reviewed" in texts
    assert any("1 accepted, 0 fixed, 0 rejected (by rita 1)" in c.value for c in app.caption)


@pytest.fixture
def trained(tiny_project: Project, tiny_copy: Path) -> Project:
    """Every second sample labeled from the truth, a model, and the first half of the labels
    accepted by a reviewer."""
    verbs.compute_embeddings(tiny_project, verbs.EmbedConfig(method="pixels", image_size=32))
    truth = pd.read_csv(tiny_copy / "_synthetic" / "truth.csv")
    samples = tiny_project.samples().merge(truth, left_on="relpath", right_on="filename")
    picked = samples.iloc[::2]
    for many, g in picked.groupby(picked.n_foci >= 3):
        tiny_project.add_labels(g.key, "many" if many else "few", user="ann", source="api")
    verbs.train_model(tiny_project, verbs.TrainSettings())
    accepted = tuple(verbs.Verdict(k, "accept") for k in picked.key.iloc[::2])
    verbs.review(tiny_project, verbs.ReviewSettings(accepted), user="rita")
    return tiny_project


def test_results_page__reviewed_labels_only_counts_the_reviewed_ones(
    trained: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = open_app(monkeypatch, trained.folder)
    app.run()
    app.switch_page("pages/7_Results.py").run()
    assert not app.exception
    n_labeled = len(trained.current_labels())
    n_reviewed = trained.reviews.counts().n_reviewed
    assert any(f"{n_labeled:,} labeled samples, {n_reviewed:,} of them reviewed;" in c.value
               for c in app.caption)  # fmt: skip
    every = app.dataframe[0].value
    app.checkbox(key="results_reviewed_only").check().run()
    assert not app.exception
    assert any("reviewed (only they count as labeled)" in c.value for c in app.caption)
    only = app.dataframe[0].value
    assert every["labeled"].sum() == n_labeled
    assert only["labeled"].sum() == n_reviewed


def test_review_states__a_verdict_and_a_new_label_show_on_the_next_read(
    tiny_project: Project,
) -> None:
    """Issue 20: the review states are cached per (samples, labels, verdicts) version; a
    verdict or a label written since must never be served stale."""
    from bps_app import cache
    from bps_core.project.reviews import Verdict

    tiny_project.ensure_class("track")
    keys = tiny_project.samples().key.tolist()[:2]
    tiny_project.add_labels(keys, "track", user="ada", source="queue")
    states = cache.review_states(tiny_project)
    assert states.unreviewed == set(keys)
    assert cache.review_states(tiny_project) is states  # nothing changed: the same object
    seen = int(states.frame.set_index("key").event_id[keys[0]])
    settings = verbs.ReviewSettings((Verdict(keys[0], "accept", None, seen),))
    verbs.review(tiny_project, settings, user="bo")
    assert cache.review_states(tiny_project).unreviewed == {keys[1]}
    tiny_project.add_labels([keys[0]], "track", user="cy", source="queue")  # relabeled
    assert cache.review_states(tiny_project).unreviewed == set(keys)
