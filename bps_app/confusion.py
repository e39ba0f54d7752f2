"""The confusion drill-down: click a cell of the cross-validated confusion matrix to see the
samples in it (label x out-of-fold prediction) and walk them in the label queue, one at a time
with the prediction beside the label, to keep or relabel each (the disagreement walk's keys).

A plotly heatmap reports no selection on a click (Streamlit's ``on_select`` needs a trace that
supports selection, which a heatmap does not), so the clickable matrix is a table with
single-cell selection, beside the heatmap.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from bps_app import state, tables, widgets
from bps_app.safe_text import md
from bps_core.errors import BpsError
from bps_core.images import DisplayWindow
from bps_core.project.rounds import ModelRecord
from bps_core.queue import LabelQueue
from bps_core.storage import DatasourceConfig
from bps_core.verbs.predictions import ConfusionCellSettings, confusion_samples

QUEUE_PAGE = "pages/4_Queue.py"
#: The widget key of the clickable confusion table.
CELLS_KEY = "confusion_cells"
#: Thumbnails shown of one cell (the queue walks all of them).
SHOWN = 24


def picked_cell(table: pd.DataFrame, cells: list[tuple[int, str]]) -> tuple[str, str] | None:
    """The (label, predicted) of the table cell a user clicked, or None (none, or the index)."""
    if not cells:
        return None
    row, col = cells[0]
    if col not in table.columns or not 0 <= int(row) < len(table):
        return None
    return str(table.index[int(row)]), str(col)


def drill_down(
    model: ModelRecord,
    *,
    rel_index: pd.Series,
    source: DatasourceConfig,
    window: DisplayWindow,
) -> None:
    """Draws the clickable confusion table of ``model`` and, for a clicked cell, its samples.

    Args:
        model: The current model (its metrics hold the matrix).
        rel_index: Sample key -> relative path.
        source: The input datasource.
        window: The display window of the thumbnails.
    """
    q = model.metrics
    table = tables.confusion_table(q["confusion"], q["classes"])
    st.caption("Click a cell to see its samples: rows are the labels, columns the out-of-fold "
               "predictions.")  # fmt: skip
    event = st.dataframe(table, on_select="rerun", selection_mode="single-cell", key=CELLS_KEY)
    cell = picked_cell(table, list(event.selection.cells))
    if cell is None:
        return
    label, predicted = cell
    try:
        with state.open_project() as p:
            found = confusion_samples(p, ConfusionCellSettings(label, predicted, model=model.id))
    except BpsError as exc:
        st.error(md(exc))
        return
    found = found[found.key.isin(rel_index.index)]
    right = "correctly" if label == predicted else "as " + md(predicted)
    st.markdown(f"**{len(found):,}** samples labeled **{md(label)}** and predicted {right} "
                "(out-of-fold), most confident first.")  # fmt: skip
    if not len(found):
        return
    if n_changed := int(found.changed.sum()):
        st.caption(f"{n_changed:,} of them were relabeled since the model was trained "
                   "(their caption shows the label now).")  # fmt: skip
    keys = tuple(str(k) for k in found.key)
    tip = ("Walks them one at a time with the model's out-of-fold prediction beside the label: "
           "A keeps the label, a digit relabels (a review, refused if someone relabeled the "
           "sample meanwhile)")  # fmt: skip
    if st.button(f"Relabel these {len(keys):,} in the label queue", key="confusion_open_queue",
                 type="primary", icon=":material/playlist_play:", help=tip):  # fmt: skip
        walk = {
            "kind": "cell", "model": model.id, "keys": keys,
            "predicted": dict(zip(keys, found.predicted.astype(str), strict=True)),
            "confidence": dict(zip(keys, found.confidence.astype(float), strict=True)),
        }  # fmt: skip
        state.set_prediction_queue(LabelQueue.of(keys, 1), walk)
        state.switch_page(QUEUE_PAGE)
    head = found.head(SHOWN)
    captions = {
        str(k): f"{widgets.file_name(str(k))} · {pred} {conf:.0%}"
        + (f" · now {now or 'unlabeled'}" if changed else "")
        for k, pred, conf, now, changed in zip(head.key, head.predicted, head.confidence,
                                               head.current, head.changed, strict=True)
    }  # fmt: skip
    widgets.thumbnail_grid(list(keys[:SHOWN]), rel_index, source, window, size=160,
                           captions=captions, open_key="confusion_open")  # fmt: skip
    if len(keys) > SHOWN:
        st.caption(f"The first {SHOWN} of {len(keys):,} shown; the queue walks all of them.")
