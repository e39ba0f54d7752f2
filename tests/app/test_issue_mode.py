"""AppTest of the label issues in the app: the Label queue's label-issue mode (walk the labels
cleanlab flags, keep or correct each as reviewer verdicts; its one-line errors) and the map
coloured by issue score."""

from __future__ import annotations

import base64
import json

import numpy as np
from streamlit.testing.v1 import AppTest

from bps_app import figures, issue_mode, state
from bps_app.safe_text import md
from bps_core import verbs
from bps_core.project import Project
from tests.quality.conftest import plant_flip

QUEUE_PAGE = "pages/4_Queue.py"


def _start(app: AppTest) -> None:
    app.switch_page(QUEUE_PAGE).run()
    app.selectbox(key="queue_origin").set_value(issue_mode.ORIGIN)
    next(b for b in app.button if b.label == "Start").click().run()
    assert not app.exception


def _progress(app: AppTest) -> str:
    return str(app.get("progress")[0].proto.text)


def test_issue_mode__walks_flagged_labels_most_likely_wrong_first_and_corrects(
    app: AppTest, tiny_project: Project
) -> None:
    flipped = plant_flip(tiny_project)
    report = verbs.label_issues(tiny_project, verbs.LabelIssuesSettings(likely_only=True))
    app.session_state[state.USER_NAME] = "rita"
    app.run()
    _start(app)
    q = app.session_state[state.QUEUE]
    assert list(q.keys) == report.table.key.tolist()  # most likely wrong first
    assert q.keys[0] == flipped
    n = len(q.keys)
    assert f"0 of {n} label issues checked · {n} remaining · image 1 of {n}" in _progress(app)
    shown = {m.label: m.value for m in app.metric}
    assert shown["Given label"] == md("X-ray")  # metric values are Markdown
    assert shown["Suggested"] == md("Fe")
    assert float(shown["Score"]) == round(report.table.score.iloc[0], 2)
    assert any("cleanlab flags" in c.value for c in app.caption)
    app.button(key="queue_issue_fix_Fe").click().run()  # the digit of Fe corrects it
    assert not app.exception
    assert f"1 of {n} label issues checked" in _progress(app)
    events = tiny_project.label_events(flipped)
    assert events.iloc[-1].label == "Fe"
    assert events.iloc[-1].source == "review"
    assert events.iloc[-1].user == "rita"
    if n > 1:
        second = q.keys[1]
        app.button(key="queue_issue_keep").click().run()  # A keeps the label
        cur = tiny_project.reviews.current().set_index("key")
        assert cur.review[second] == "accepted"
        assert f"2 of {n} label issues checked" in _progress(app)
    assert tiny_project.reviews.current().set_index("key").review[flipped] == "fixed"
    # Z undoes the correction: the label is back, the queue shows it again
    app.button(key="queue_issue_undo").click().run()
    assert tiny_project.current_labels().set_index("key").label[flipped] == "X-ray"
    assert app.session_state[state.QUEUE].current == (flipped,)


def test_issue_mode__skipped_issues_are_walked_again_at_the_end(
    app: AppTest, tiny_project: Project
) -> None:
    flipped = plant_flip(tiny_project)
    app.session_state[state.USER_NAME] = "rita"
    app.run()
    _start(app)
    n = len(app.session_state[state.QUEUE].keys)
    for _ in range(n):  # skip every issue: no verdict
        app.button(key="queue_issue_next").click().run()
    assert f"{n} label issues still unchecked (skipped)" in app.info[0].value
    app.button(key="queue_issue_again").click().run()
    assert not app.exception
    q = app.session_state[state.QUEUE]
    assert q.current == (flipped,)  # the walk starts over, still in issue mode
    assert f"0 of {n} label issues checked" in _progress(app)


def test_issue_mode__no_model_is_one_clear_line(app: AppTest, tiny_project: Project) -> None:
    keys = tiny_project.samples().key.head(2).tolist()
    tiny_project.add_labels(keys, "track", user="ann", source="queue")
    app.session_state[state.USER_NAME] = "rita"
    app.run()
    _start(app)
    assert md("no model yet: train one first") in app.error[0].value
    assert state.QUEUE not in app.session_state  # no queue started


def test_explore_map__colours_by_issue_score(app: AppTest, tiny_project: Project) -> None:
    flipped = plant_flip(tiny_project)
    verbs.compute_map(tiny_project, verbs.MapConfig(method="pca"))
    sample_id = int(tiny_project.samples().set_index("key").sample_id[flipped])
    app.run()
    app.switch_page("pages/3_Explore_and_label.py").run()
    control = app.segmented_control(key="map_color_by")
    assert "issue score" in control.options
    control.set_value("issue score").run()
    assert not app.exception
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    traces = {t["name"].split(" (")[0]: t for t in spec["data"]}
    assert set(traces) <= {*figures.ISSUE_BIN_LABELS, "(none)"}
    assert traces["(none)"]["marker"]["color"] == figures.UNLABELED_COLOR  # unlabeled: grey
    top = max(n for n in traces if n != "(none)")
    ids = np.frombuffer(base64.b64decode(traces[top]["customdata"]["bdata"]), dtype="<i4")
    assert sample_id in ids.tolist()  # the flipped label lies in the highest bin shown


def test_explore_map__no_issue_score_without_a_model(app: AppTest, tiny_project: Project) -> None:
    from tests.helpers import map_project

    map_project(tiny_project)
    app.run()
    app.switch_page("pages/3_Explore_and_label.py").run()
    assert "issue score" not in app.segmented_control(key="map_color_by").options
