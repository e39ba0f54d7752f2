"""The Queue page's prediction mode: walk a model's predictions, or the labels it disagrees with.

Two walks, one image at a time:

- **Model predicts: CLASS**: the samples the current model puts in CLASS (unlabeled ones, or
  labeled ones too), most or least confident first. A (or Enter) accepts the prediction as the
  label, a digit gives that class instead, S skips, Z undoes.
- **Model disagrees with the label**: labeled samples whose out-of-fold prediction differs
  from their label, most confident first. A keeps the label, a digit relabels.

Every decision is a label event with source ``review`` (``verbs.accept_predictions``) naming
the label event and the model shown, so a sample labeled by someone else meanwhile, or a
prediction a newer model no longer makes, is refused with a message instead of applied.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from bps_app import cache, state, walks, widgets
from bps_app.safe_text import md
from bps_core.composite import CompositeStyle
from bps_core.errors import BpsError
from bps_core.queue import LabelQueue
from bps_core.storage import DatasourceConfig
from bps_core.verbs.predictions import (
    AcceptSettings,
    DisagreementSettings,
    PredictionDecision,
    PredictionQueueSettings,
    accept_predictions,
    model_disagreements,
    prediction_queue,
)

ORIGIN_PREDICTED = "Model predicts: "
ORIGIN_DISAGREE = "Model disagrees with the label (out-of-fold)"
#: Walks of labeled samples, where A keeps the label: the disagreements, and the samples of a
#: confusion-matrix cell (opened from the Selection rounds page's drill-down).
LABEL_WALKS = ("disagreements", "cell")
#: The walking orders a user picks from, and the verb's name of each.
ORDERS = {"Most confident first": "most_confident", "Least confident first": "least_confident"}
#: Keys of prediction mode: A (or Enter) accepts, S skips; digits correct, Z undoes.
ACCEPT_KEY, ACCEPT_KEY_2, SKIP_KEY = "A", "Enter", "S"

#: How this walk puts its queue back (moves and undo keep the walk).
_WALK: walks.Restart = state.set_prediction_queue
#: What Z says when there is nothing of yours to undo.
UNDO_NOTHING = "Nothing to undo (keeping a label is not undone: relabel it)."


def origins(model_classes: list[str]) -> list[str]:
    """The queue origins of prediction mode: one per class of the current model, then the
    disagreements (none without a model)."""
    if not model_classes:
        return []
    return [*(ORIGIN_PREDICTED + c for c in model_classes), ORIGIN_DISAGREE]


def is_origin(origin: str) -> bool:
    """Whether ``origin`` (the queue's "Samples" choice) starts prediction mode."""
    return origin == ORIGIN_DISAGREE or origin.startswith(ORIGIN_PREDICTED)


def start(origin: str, *, order: str, include_labeled: bool) -> None:
    """Starts the walk ``origin`` names; an error (no model, no OOF) is kept for the page.

    Args:
        origin: A choice of ``origins``.
        order: A key of ``ORDERS`` (prediction walks only).
        include_labeled: Walk labeled samples too (prediction walks only).
    """
    try:
        with state.open_project() as p:
            if origin == ORIGIN_DISAGREE:
                found = model_disagreements(p, DisagreementSettings())
                table, model_id, kind = found.table, found.model_id, "disagreements"
            else:
                settings = PredictionQueueSettings(
                    origin.removeprefix(ORIGIN_PREDICTED), ORDERS.get(order, "most_confident"),
                    include_labeled,
                )  # fmt: skip
                pq = prediction_queue(p, settings)
                table, model_id, kind = pq.table, pq.model_id, "predictions"
    except BpsError as exc:
        state.set_queue_error(str(exc))
        return
    keys = tuple(str(k) for k in table.key)
    walk = {
        "kind": kind, "model": model_id, "keys": keys,
        "predicted": dict(zip(keys, table.predicted.astype(str), strict=True)),
        "confidence": dict(zip(keys, table.confidence.astype(float), strict=True)),
    }  # fmt: skip
    state.set_prediction_queue(LabelQueue.of(keys, 1), walk)


def _decide(key: str, label: str, seen: int, accepted: bool, model: str, user: str) -> None:
    q = state.queue()
    if q is None or q.finished or not user:
        return
    decision = PredictionDecision(key, label, seen, accepted=accepted)
    try:
        with state.open_project() as p:
            done = accept_predictions(p, AcceptSettings((decision,), model=model), user=user)
            cache.note_label_write(p, done.written)  # the rerun need not read it back
    except (BpsError, ValueError) as exc:  # a stale screen stays, showing the new label
        state.set_queue_error(str(exc))
        return
    for action in done.action_ids:  # Z undoes it and shows the sample again
        walks.remember(action, q, key)
    state.set_prediction_queue(q.move(1))


def _buttons(walk: dict[str, Any], key: str, row: pd.Series | None, user: str,
             classes: list[tuple[str, str | None]]) -> None:  # fmt: skip
    """The decision keys: accept (the prediction, or the label kept), one per class, the nav."""
    seen = int(row.event_id) if row is not None else 0
    now = str(row.label) if row is not None else None
    predicted = str(walk["predicted"][key])
    model = str(walk["model"])
    if walk["kind"] in LABEL_WALKS:
        accept_label, accept_args, accept_help = (
            f"Keep: {now}" if now else "Keep", (key, now or "", seen, False, model, user),
            "The label is right; the model is wrong (also Enter)",
        )  # fmt: skip
    else:
        accept_label, accept_args, accept_help = (
            f"Accept: {predicted}", (key, predicted, seen, True, model, user),
            "The prediction is right: it becomes the label (also Enter)",
        )  # fmt: skip
    can = bool(user) and (walk["kind"] not in LABEL_WALKS or now is not None)
    cols = st.container(horizontal=True)  # one message, not one per column (issue 20)
    cols.button(md(accept_label), key="queue_pred_accept", type="primary",
                shortcut=ACCEPT_KEY, on_click=_decide, args=accept_args, disabled=not can,
                icon=":material/check:", width="stretch", help=accept_help)  # fmt: skip
    for name, hotkey in classes:
        cols.button(md(name), key=f"queue_pred_fix_{name}", shortcut=hotkey, on_click=_decide,
                    args=(key, name, seen, False, model, user), disabled=not user,
                    width="stretch", help=f"The label becomes {name}")  # fmt: skip
    nav = st.container(horizontal=True, vertical_alignment="center")
    nav.button("Previous", key="queue_pred_prev", on_click=walks.move, args=(-1, _WALK),
               shortcut="Left", icon=":material/arrow_back:", width="stretch")  # fmt: skip
    nav.button("Skip", key="queue_pred_skip", on_click=walks.move, args=(1, _WALK),
               shortcut=SKIP_KEY, icon=":material/arrow_forward:", width="stretch",
               help="Move on without a decision")  # fmt: skip
    nav.button("Accept", key="queue_pred_accept_enter", type="tertiary",
               shortcut=ACCEPT_KEY_2, on_click=_decide, args=accept_args, disabled=not can,
               icon=":material/check:", help="Same as A")  # fmt: skip
    nav.button("Undo", key="queue_pred_undo", on_click=walks.undo,
               args=(user, _WALK, UNDO_NOTHING), shortcut="Z", disabled=not user,
               icon=":material/undo:", width="stretch",
               help="Undo your last label from this queue")  # fmt: skip
    nav.caption("Keys: A or Enter accepts, a digit gives that class, S skips, Z undoes, "
                "← goes back.")  # fmt: skip


def render(
    q: LabelQueue,
    walk: dict[str, Any],
    *,
    user: str,
    samples: pd.DataFrame,
    rel_index: pd.Series,
    source: DatasourceConfig,
    style: CompositeStyle,
) -> None:
    """Draws the prediction walk ``walk`` of the queue ``q``: the sample, the model's class
    and probability, its current label, and the decision keys.

    Args:
        q: The session's queue (one image a page).
        walk: Its walk (``state.prediction_walk``): kind, model, predicted and confidence.
        user: The reviewer ("" disables the decisions).
        samples: The samples frame (metadata shown beside the image).
        rel_index: Sample key -> relative path.
        source: The input datasource.
        style: The nucleus view's style (``widgets.queue_view_controls``, drawn above).
    """
    with state.open_project() as p:
        current = cache.review_states(p).frame.set_index("key")
        classes = [(c.name, c.hotkey) for c in p.classes()]
    disagreements = walk["kind"] in LABEL_WALKS
    what = {
        "disagreements": "disagreements (out-of-fold)",
        "cell": "samples of a confusion-matrix cell",
    }.get(walk["kind"], "predictions")
    where = "finished" if q.finished else f"image {q.position + 1:,} of {len(q.keys):,}"
    st.progress(min(q.position, len(q.keys)) / len(q.keys),
                text=f"Model {walk['model']}: {len(q.keys):,} {what} · {where}")  # fmt: skip
    if q.finished:
        st.success("End of this queue. Start another above, or walk it again.")
        st.button("Walk it again", key="queue_pred_again", type="primary",
                  on_click=lambda: state.set_prediction_queue(LabelQueue.of(q.keys, 1)),
                  icon=":material/replay:")  # fmt: skip
        return
    key = q.current[0]
    row = current.loc[[key]].iloc[0] if key in current.index else None
    _buttons(walk, key, row, user, classes)
    left, right = st.columns([3, 2])
    with left:
        widgets.nucleus_image(key, rel_index[key], source, style)
    widgets.prefetch_views(q.upcoming(widgets.PREFETCH_AHEAD), rel_index, source, style)
    right.markdown(f"**{md(widgets.file_name(key))}**")
    predicted, confidence = walk["predicted"][key], float(walk["confidence"][key])
    right.metric("Model (out-of-fold) predicts" if disagreements else "Model predicts",
                 md(predicted), f"{confidence:.0%} probability", delta_color="off",
                 delta_arrow="off")  # fmt: skip
    label = row.label if row is not None else None
    right.metric("Current label", md(label) if isinstance(label, str) else widgets.UNLABELED)
    if row is not None:
        right.caption(f"by **{md(row.user)}** · {md(row.source)} · review: {md(row.review)}")
    widgets.sample_facts(right, samples, key, rel_index.index)
