"""Two app servers labeling one project at the same time: two processes each run the app
(``app.py`` under AppTest, the same page code a server runs) and label through the label
queue's class button, on SQLite and on a PostgreSQL server. Nothing is lost and each label
carries its own labeler."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from bps_core.project import Project
from tests.helpers import ROOT

N_LABELS = 8

_SERVER = """
import os, sys
from streamlit.testing.v1 import AppTest
from bps_app import state
os.environ["BPS_PROJECT"] = {folder!r}
app = AppTest.from_file("app.py", default_timeout=120)
app.session_state[state.USER_NAME] = {user!r}
app.run()
app.session_state[state.MAP_SELECTION] = {keys!r}
app.switch_page("pages/4_Queue.py").run()
app.selectbox(key="queue_origin").set_value("The map selection")
app.segmented_control(key="queue_view").set_value("One image")
next(b for b in app.button if b.label == "Start").click().run()
for _ in range({n}):
    app.button(key="queue_class_{label}").click().run()
    if app.exception:
        sys.exit(f"the app failed: {{app.exception[0].value}}")
"""


def test_two_app_servers__label_one_project_at_once_and_lose_nothing(
    engine_project: Project,
) -> None:
    project = engine_project
    project.ensure_class("track")
    project.ensure_class("debris")
    keys = project.samples().key.tolist()[: 2 * N_LABELS]
    jobs = {"ann": (keys[0::2], "track"), "bob": (keys[1::2], "debris")}
    procs = {
        user: subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(
                    _SERVER.format(
                        folder=str(project.folder), user=user, keys=mine, n=N_LABELS, label=label
                    )
                ),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        for user, (mine, label) in jobs.items()
    }
    for user, proc in procs.items():
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"{user}: {err.decode()[-2000:]}"
    events = project.label_events()
    assert len(events) == 2 * N_LABELS
    current = project.current_labels().set_index("key")
    for user, (mine, label) in jobs.items():
        assert set(current.index[current.user == user]) == set(mine)
        assert set(current.label[current.user == user]) == {label}
