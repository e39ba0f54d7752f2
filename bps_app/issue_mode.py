"""The Queue page's label-issue mode: walk the labels cleanlab flags, most likely wrong first.

Each screen shows one sample, its given label, the class the model's out-of-fold prediction
suggests and the issue score. A (or Enter) keeps the label, a digit corrects it, X rejects it;
each is a reviewer verdict (``bps_core.verbs.review``): a correction is a label event with
source ``review``, and the label counts as reviewed. Verdicts name the label event shown, so a
label changed by someone else since the screen was drawn is refused, not judged blind.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from bps_app import cache, state, walks, widgets
from bps_app.safe_text import md
from bps_core.composite import CompositeStyle
from bps_core.errors import BpsError
from bps_core.project.reviews import Verdict
from bps_core.queue import LabelQueue
from bps_core.storage import DatasourceConfig
from bps_core.verbs.label_issues import LabelIssuesSettings, label_issues
from bps_core.verbs.reviews import ReviewSettings, review

ORIGIN = "Label issues (most likely wrong first)"
#: Keys of the label-issue mode: A (or Enter) keeps, X rejects; digits correct, Z undoes.
KEEP_KEY, KEEP_KEY_2, REJECT_KEY = "A", "Enter", "X"

#: How this walk puts its queue back (moves and undo keep the walk).
_WALK: walks.Restart = state.set_issue_queue
#: What Z says when there is nothing of yours to undo.
UNDO_NOTHING = "Nothing to undo (a keep is not undone: give another verdict)."


def origins(has_labels: bool) -> list[str]:
    """The queue origin of the label-issue mode (none before any label)."""
    return [ORIGIN] if has_labels else []


def is_origin(origin: str) -> bool:
    """Whether ``origin`` (the queue's "Samples" choice) starts the label-issue mode."""
    return origin == ORIGIN


def start() -> None:
    """Starts a queue of the labels cleanlab flags as likely wrong, not reviewed yet.

    An error (no model, a model without out-of-fold predictions) is kept for the page to show.
    """
    try:
        with state.open_project() as p:
            report = label_issues(p, LabelIssuesSettings(likely_only=True))
            current = p.reviews.current()
    except BpsError as exc:
        state.set_queue_error(str(exc))
        return
    reviewed = set(current.key[current.review != "unreviewed"])
    table = report.table[~report.table.key.isin(reviewed)]
    note = (f"cleanlab flags {report.n_likely:,} of {report.n_scored:,} labels of model "
            f"{report.model_id} as likely wrong")  # fmt: skip
    if n_reviewed := report.n_likely - len(table):
        note += f"; {n_reviewed:,} of them already reviewed are left out"
    notes = (note + ".", *report.notes)
    state.set_issue_queue(LabelQueue.of(table.key.tolist(), 1), table.set_index("key"), notes)


def _verdict(verdict: str, label: str | None, key: str, seen: int, user: str) -> None:
    q = state.queue()
    if q is None or q.finished or not user:
        return
    try:
        with state.open_project() as p:
            done = review(p, ReviewSettings((Verdict(key, verdict, label, seen),)), user=user)
            cache.note_label_write(p, done.written)  # the rerun need not read it back
    except (BpsError, ValueError) as exc:  # a stale screen stays, showing the new label
        state.set_queue_error(str(exc))
        return
    if done.action_id is not None:  # a correction or reject: Z undoes it, shows it again
        walks.remember(done.action_id, q, key)
    state.set_issue_queue(q.move(1))


def _open(issues: pd.DataFrame, current: pd.DataFrame) -> list[str]:
    """The queue's samples still carrying the flagged label, unreviewed."""
    now = current.set_index("key")
    return [k for k in issues.index if k in now.index and now.review[k] == "unreviewed"
            and now.label[k] == issues.label[k]]  # fmt: skip


def _verdict_buttons(row: pd.Series | None, key: str, user: str, classes: list[str],
             hotkeys: dict[str, str | None]) -> None:  # fmt: skip
    can = bool(user) and row is not None
    seen = int(row.event_id) if row is not None else 0
    now = row.label if row is not None else None
    cols = st.container(horizontal=True)  # one message, not one per column (issue 20)
    cols.button(f"Keep {md(now)}" if now else "Keep", key="queue_issue_keep", type="primary",
                shortcut=KEEP_KEY, on_click=_verdict, args=("accept", None, key, seen, user),
                disabled=not can, icon=":material/check:", width="stretch",
                help="The label is right after all (also Enter)")  # fmt: skip
    cols.button("Reject", key="queue_issue_reject", shortcut=REJECT_KEY, on_click=_verdict,
                args=("reject", None, key, seen, user), disabled=not can,
                icon=":material/close:", width="stretch",
                help="Wrong, and no class fits: the sample is unlabeled again")  # fmt: skip
    for name in classes:
        keep = name == now  # its own class's digit keeps the label
        verdict = ("accept", None) if keep else ("fix", name)
        cols.button(md(f"{name} (keep)" if keep else f"Fix: {name}"),
                    key=f"queue_issue_fix_{name}", shortcut=hotkeys.get(name), on_click=_verdict,
                    args=(*verdict, key, seen, user), disabled=not can, width="stretch",
                    help="Keeps the label" if keep else f"The label becomes {name}")  # fmt: skip


def _nav(row: pd.Series | None, key: str, user: str) -> None:
    can = bool(user) and row is not None
    seen = int(row.event_id) if row is not None else 0
    nav = st.container(horizontal=True, vertical_alignment="center")
    nav.button("Previous", key="queue_issue_prev", on_click=walks.move, args=(-1, _WALK),
               shortcut="Left", icon=":material/arrow_back:", width="stretch")  # fmt: skip
    nav.button("Next", key="queue_issue_next", on_click=walks.move, args=(1, _WALK),
               shortcut="Right", icon=":material/arrow_forward:", width="stretch",
               help="Skip: moves on without a verdict")  # fmt: skip
    # Enter keeps too: a second, quiet button, as a button takes one shortcut.
    nav.button("Keep", key="queue_issue_keep_enter", type="tertiary", shortcut=KEEP_KEY_2,
               on_click=_verdict, args=("accept", None, key, seen, user), disabled=not can,
               icon=":material/check:", help="The label is right (same as A)")  # fmt: skip
    nav.button("Undo", key="queue_issue_undo", on_click=walks.undo,
               args=(user, _WALK, UNDO_NOTHING), shortcut="Z", disabled=not user,
               icon=":material/undo:", width="stretch",
               help="Undo your last correction or reject")  # fmt: skip
    nav.caption("Keys: A or Enter keeps the label, a digit corrects it, X rejects, Z undoes "
                "a correction or reject, ← → move (skipping gives no verdict).")  # fmt: skip


def render(
    q: LabelQueue,
    *,
    user: str,
    samples: pd.DataFrame,
    rel_index: pd.Series,
    source: DatasourceConfig,
    style: CompositeStyle,
) -> None:
    """Draws the label-issue mode of the queue ``q``: progress, keys, the sample and its scores.

    Args:
        q: The session's label-issue queue (one image a page).
        user: The reviewer ("" disables the verdicts).
        samples: The samples frame (metadata shown beside the image).
        rel_index: Sample key -> relative path.
        source: The input datasource.
        style: The nucleus view's style (``widgets.queue_view_controls``, drawn above).
    """
    issues = state.queue_issues()
    with state.open_project() as p:
        current = cache.review_states(p).frame
        classes = p.classes()
    open_keys = set(_open(issues, current))
    done = sum(1 for k in q.keys if k not in open_keys)
    where = "finished" if q.finished else f"image {q.position + 1:,} of {len(q.keys):,}"
    st.progress(done / len(q.keys), text=f"{done:,} of {len(q.keys):,} label issues checked · "
                f"{len(q.keys) - done:,} remaining · {where}")  # fmt: skip
    for note in state.queue_issue_notes():
        st.caption(md(note))
    if q.finished:
        _nav(None, "", user)  # back, or undo the last correction
        walks.end_of_walk(
            [k for k in q.keys if k in open_keys], _WALK,
            done=f"All {len(q.keys):,} label issues of this queue are checked. Retrain the "
            "model to look for more.",
            left="End of the queue: {n} label issues still unchecked (skipped).",
            again="Walk the {n} unchecked again", key="queue_issue_again",
        )  # fmt: skip
        return
    key = q.current[0]
    found = current[current.key == key]
    row = found.iloc[0] if len(found) else None
    _verdict_buttons(row, key, user, [c.name for c in classes],
                     {c.name: c.hotkey for c in classes})  # fmt: skip
    _nav(row, key, user)

    left, right = st.columns([3, 2])
    with left:
        widgets.nucleus_image(key, rel_index[key], source, style)
    widgets.prefetch_views(q.upcoming(widgets.PREFETCH_AHEAD), rel_index, source, style)
    issue = issues.loc[key]
    right.markdown(f"**{md(widgets.file_name(key))}**")
    m1, m2, m3 = right.columns(3)
    m1.metric("Given label", md(issue.label), border=True)
    m2.metric("Suggested", md(issue.suggested), border=True)
    m3.metric("Score", f"{issue.score:.2f}", border=True,
              help="0..1, higher: more likely wrong (cleanlab on the out-of-fold "
              "predictions)")  # fmt: skip
    right.caption(f"Out-of-fold probability of the given label {issue.label_probability:.2f}, "
                  f"of the suggested class {issue.suggested_probability:.2f}.")  # fmt: skip
    if row is None:
        right.warning("Not labeled any more (rejected or cleared since the queue started): "
                      "move on.")  # fmt: skip
    else:
        right.caption(f"Labeled by **{md(row.user)}** · {md(row.source)}")
        if row.label != issue.label:
            right.warning(f"Relabeled {md(row.label)} since the queue started.")
        elif row.review != "unreviewed":
            right.caption(f"Checked: {row.review} by {md(row.reviewer)}.")
    widgets.sample_facts(right, samples, key, rel_index.index)
