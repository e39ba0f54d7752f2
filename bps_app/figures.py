"""The map figure, built as a plain plotly spec so 100k points cost milliseconds, not seconds."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from numpy.typing import NDArray
from plotly.subplots import make_subplots

from bps_app.safe_text import plot_text
from bps_core.verbs import (
    DensityGrid,
    GridCells,
    ViewWindow,
    density_overview,
    grid_cells,
    selected_ids,
    selection_mask,
)

UNLABELED = "(unlabeled)"
UNLABELED_COLOR = "#BBBBBB"
PARTICLE_COLORS = {"Fe": "#D55E00", "X-ray": "#0072B2"}
_QUALITATIVE = px.colors.qualitative.Safe + px.colors.qualitative.Vivid
_SEQUENTIAL = ["#440154", "#3B528B", "#21918C", "#5EC962", "#FDE725"]  # viridis, 5 steps
#: The map colour of the label issue score (cleanlab), binned: one viridis step per bin, so
#: a bin keeps its colour whichever bins are present; unscored samples are grey.
ISSUE_SCORE = "issue score"
ISSUE_BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
ISSUE_BIN_LABELS = [f"{a:.1f}-{b:.1f}" for a, b in zip(ISSUE_BINS, ISSUE_BINS[1:], strict=False)]
HOVER_TEXT_MAX_POINTS = 20_000
"""Up to this many points, each carries a hover line (file name, label, prediction); above
it the hover names only the sample id and its category, so 100k points stay light."""
_NUMBER = re.compile(r"(\d+(?:\.\d+)?)")


def natural_key(text: str) -> tuple[tuple[int, float | str], ...]:
    """Sort key that orders the numbers inside text by value: 4 h, 24 h, 48 h; round 2 before
    round 10; 0.82 Gy before 1 Gy."""
    return tuple((0, float(p)) if i % 2 else (1, p) for i, p in enumerate(_NUMBER.split(text)))


def hover_lines(frame: pd.DataFrame) -> NDArray[np.object_]:
    """One hover line per row: the file name, its label and, when present, the prediction."""
    names = frame.key.astype(str).str.split(":", n=1).str[-1].str.rsplit("/", n=1).str[-1]
    text = names.map(plot_text)  # user-controlled: Plotly renders HTML in hover text
    if "label" in frame.columns:
        text = text + "<br>label: " + _text_or(frame.label, UNLABELED).map(plot_text)
    if "prediction" in frame.columns:
        text = text + "<br>prediction: " + _text_or(frame.prediction, "(none)").map(plot_text)
    return text.to_numpy(dtype=object)


def _text_or(values: pd.Series, missing: str) -> pd.Series:
    """``values`` with ``missing`` for a missing value (a categorical column too: the map's
    labels are one, and it takes no value outside its categories)."""
    return values.astype(object).fillna(missing)


def typed_array(values: NDArray[Any]) -> dict[str, str]:
    """A numpy array as plotly's binary array spec (base64 of the little-endian bytes), which
    plotly.js reads straight into a typed array: no JSON number per point."""
    a = np.ascontiguousarray(values)
    return {
        "dtype": a.dtype.newbyteorder("<").str[1:],
        "bdata": base64.b64encode(a.tobytes()).decode(),
    }


def map_categories(frame: pd.DataFrame, color_by: str) -> tuple[NDArray[np.int64], list[str]]:
    """The colour category of each row of ``frame`` as a code, and the categories in legend
    order (naturally sorted: 4, 24, 48 h; the unlabeled or "(none)" last)."""
    missing = UNLABELED if color_by == "label" else "(none)"
    column = frame[color_by]
    # Factorized as it is, then each distinct value named: a text per distinct value, not per
    # row (converting a million rows to text cost 0.4 s of each recolour). Values that name
    # alike (1.0 and 1 as "1") share a category, as their texts would.
    raw_codes, uniques = _factorized(column)
    numeric = pd.api.types.is_numeric_dtype(column)  # 4 h, not 4.0 h
    names = [f"{v:g}" if numeric else str(v) for v in uniques]
    if len(raw_codes) and raw_codes.min() < 0:
        names.append(missing)  # last: the missing values' code -1 indexes it below
    merged, categories = pd.factorize(np.asarray(names, dtype=object))
    order = sorted(
        range(len(categories)),
        key=lambda i: (categories[i] in (UNLABELED, "(none)"), natural_key(str(categories[i]))),
    )
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    # One lookup per row (a million at 1M points): the code of each name, in legend order.
    return rank[merged][raw_codes], [str(categories[i]) for i in order]


def _factorized(column: pd.Series) -> tuple[NDArray[np.intp], pd.Index]:
    """``pd.factorize(column)``'s codes and values, except that a categorical column's
    values come in category order: its own codes are renumbered over the categories in use,
    not factorized again (the label column at a million points: a tenth of the cost)."""
    if not isinstance(column.dtype, pd.CategoricalDtype):
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        return codes, pd.Index(uniques)
    own = column.cat.codes.to_numpy()
    categories = column.cat.categories
    used = np.bincount(own[own >= 0], minlength=len(categories)) > 0
    renumber = np.full(len(categories) + 1, -1, dtype=np.intp)  # the last: the missing (-1)
    renumber[:-1][used] = np.arange(int(used.sum()))
    return renumber[own], categories[used]


def category_colors(
    categories: list[str],
    color_by: str,
    class_colors: dict[str, str],
    colors: dict[str, str] | None = None,
) -> list[str]:
    """The colour of each category (in legend order, as ``map_categories`` gives them).

    ``class_colors`` colour the categories of ``label`` and ``prediction`` only; ``colors``
    fix the colour of categories of any column, over the palette."""
    missing = UNLABELED if color_by == "label" else "(none)"
    out = []
    for n, cat in enumerate(categories):
        if colors and cat in colors:
            color = colors[cat]
        elif color_by in ("label", "prediction") and cat in class_colors:
            color = class_colors[cat]
        elif color_by == "label" or (color_by == ISSUE_SCORE and cat == missing):
            color = UNLABELED_COLOR
        elif color_by == ISSUE_SCORE and cat in ISSUE_BIN_LABELS:
            color = _SEQUENTIAL[ISSUE_BIN_LABELS.index(cat)]
        elif color_by == "uncertainty" and cat != missing:
            color = _SEQUENTIAL[min(n, len(_SEQUENTIAL) - 1)]  # bins sort low to high
        elif color_by == "particle_type" and cat in PARTICLE_COLORS:
            color = PARTICLE_COLORS[cat]
        else:
            color = _QUALITATIVE[n % len(_QUALITATIVE)]
        out.append(color)
    return out


def _map_layout(color_by: str, height: int, window: ViewWindow | None) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "height": height,
        # The top margin holds the toolbar (modebar), so the legend below it never covers it.
        "margin": {"t": 40, "b": 10, "l": 10, "r": 10},
        "dragmode": "lasso",
        "legend": {
            "itemsizing": "constant",
            "title": {"text": plot_text(color_by)},
            "y": 1.0,
            "yanchor": "top",
        },
        "xaxis": {"visible": False},
        "yaxis": {"visible": False, "scaleanchor": "x"},
    }
    if window is not None:  # zoomed: the window, not the points' extent
        layout["xaxis"]["range"] = [window.x0, window.x1]
        layout["yaxis"]["range"] = [window.y0, window.y1]
    return layout


#: Marker diameter (pixels) by the number of points drawn: (up to this many points, size).
MARKER_SIZES = ((20_000, 5), (50_000, 4))
MARKER_SIZE_MANY = 3


def marker_size(n_points: int) -> int:
    """The map's marker diameter for ``n_points`` points: smaller as they crowd the chart.

    Past 50,000 points a 5-pixel marker only piles points on each other, and the pixels it
    fills are what a redraw costs where WebGL runs in software (a lasso redraws every point
    to dim the unselected ones): at 77k points, 5 px took 400 ms a redraw, 3 px 230 ms.
    """
    for up_to, size in MARKER_SIZES:
        if n_points <= up_to:
            return size
    return MARKER_SIZE_MANY


def map_figure(
    frame: pd.DataFrame,
    color_by: str,
    class_colors: dict[str, str],
    height: int = 640,
    *,
    colors: dict[str, str] | None = None,
    window: ViewWindow | None = None,
) -> dict[str, Any]:
    """A WebGL scatter of ``frame`` (columns x, y, sample_id and ``color_by``), one trace per
    category so the legend toggles it.

    ``class_colors`` (the label classes' colours) colour the categories of ``label`` and
    ``prediction`` only; ``colors`` fix the colour of categories of any column (a round
    preview's "selected" and "other"), over the palette. ``window``: the axes show that part
    of the map (a zoomed view).

    Only what the chart needs travels: float32 coordinates and int32 sample ids (the
    customdata a click maps back through, never row positions) as binary arrays, and no
    colour arrays. Hover lines (file name, label, prediction) travel only up to
    ``HOVER_TEXT_MAX_POINTS`` points; above, each trace's hover names the sample id and the
    category. Categories sort naturally (4, 24, 48 h), the unlabeled last.
    It is a plain spec rather than ``go.Figure`` objects, whose per-property validation
    costs more than everything else here at 100k points.
    """
    codes, categories = map_categories(frame, color_by)
    palette = category_colors(categories, color_by, class_colors, colors)
    x = frame.x.to_numpy(dtype=np.float32)
    y = frame.y.to_numpy(dtype=np.float32)
    ids = frame.sample_id.to_numpy(dtype=np.int32)
    text = hover_lines(frame) if len(frame) <= HOVER_TEXT_MAX_POINTS else None
    size = marker_size(len(frame))
    data = []
    for i, (cat, color) in enumerate(zip(categories, palette, strict=True)):
        sel = codes == i
        trace: dict[str, Any] = {
            "type": "scattergl",
            "mode": "markers",
            "name": f"{plot_text(cat)} ({int(sel.sum()):,})",  # Plotly renders HTML
            "x": typed_array(x[sel]),
            "y": typed_array(y[sel]),
            "customdata": typed_array(ids[sel]),
            "marker": {"size": size, "color": color, "opacity": 0.8},
        }
        if text is not None:
            trace["hovertext"] = text[sel].tolist()
            trace["hovertemplate"] = "%{hovertext}<extra></extra>"
        else:  # one string per trace, not per point
            what = f"{plot_text(color_by)}: {plot_text(cat)}".replace("%", "&#37;")
            trace["hovertemplate"] = f"sample %{{customdata}}<br>{what}<extra></extra>"
        data.append(trace)
    return {"data": data, "layout": _map_layout(color_by, height, window)}


def _rgb(color: str) -> tuple[int, int, int]:
    h = color.lstrip("#")
    if len(h) == 6:
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
    m = re.match(r"rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)", color)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else (128, 128, 128)


def density_image(grid: DensityGrid, palette: list[str]) -> NDArray[np.uint8]:
    """The overview's RGBA pixels, one per grid cell, top row first: each cell's colour is
    the mix of its categories' colours weighted by their counts, its opacity grows with the
    log of its count (a lone point stays visible, a dense core does not swamp it); an empty
    cell is transparent."""
    counts = grid.counts.astype(np.float64)
    total = counts.sum(axis=0)
    rgb = np.asarray([_rgb(c) for c in palette], dtype=np.float64)  # (n_cat, 3)
    with np.errstate(invalid="ignore", divide="ignore"):
        mix = np.einsum("cyx,ck->yxk", counts, rgb) / total[..., None]
    peak = float(total.max()) if total.size else 0.0
    alpha = 0.35 + 0.65 * np.log1p(total) / np.log1p(peak) if peak > 0 else np.zeros_like(total)
    out = np.zeros((*total.shape, 4), dtype=np.uint8)
    filled = total > 0
    out[filled, :3] = np.clip(np.rint(mix[filled]), 0, 255).astype(np.uint8)
    out[filled, 3] = np.clip(np.rint(alpha[filled] * 255), 1, 255).astype(np.uint8)
    return out[::-1]  # image rows run top to bottom; grid rows bottom to top


def _png_data_uri(rgba: NDArray[np.uint8]) -> str:
    import io

    from PIL import Image

    buf = io.BytesIO()
    # The fastest compression: as small as ``optimize`` for these images (their cells are
    # colour mixes, little for zlib to find), at a tenth of its time on every recolour.
    Image.fromarray(rgba, mode="RGBA").save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def density_figure(
    grid: DensityGrid,
    categories: list[str],
    palette: list[str],
    color_by: str,
    height: int = 640,
    *,
    window: ViewWindow | None = None,
) -> dict[str, Any]:
    """The density overview of a map too large to draw point by point (``density_overview``).

    Three layers, none of which lists a point: an image of the cells (``density_image``, a
    PNG: a few hundred kB whatever the number of points), a transparent heat map of the
    counts under the pointer (its hover says how many samples a cell holds), and one empty
    WebGL trace per category for the legend (its name carries the count). Neither the image
    nor the heat map is selectable, so a lasso or box sends the browser's shape only, never a
    list of points: the server selects with ``points_in_polygon``.
    """
    ny, nx = grid.shape
    total = grid.total().astype(np.float32)
    total[total == 0] = np.nan  # no hover over empty cells
    # Image pixels are drawn from the top: x0/y0 are the centre of the top-left pixel.
    top = grid.y0 + (ny - 0.5) * grid.cell
    data: list[dict[str, Any]] = [
        {
            "type": "image",
            "source": _png_data_uri(density_image(grid, palette)),
            "x0": grid.x0 + grid.cell / 2,
            "y0": top,
            "dx": grid.cell,
            "dy": -grid.cell,
            "hoverinfo": "skip",
            "name": "density",
        },
        {
            "type": "heatmap",
            "z": {**typed_array(total.ravel()), "shape": f"{ny}, {nx}"},
            "x0": grid.x0 + grid.cell / 2,
            "dx": grid.cell,
            "y0": grid.y0 + grid.cell / 2,
            "dy": grid.cell,
            "colorscale": [[0, "rgba(0,0,0,0)"], [1, "rgba(0,0,0,0)"]],
            "showscale": False,
            "hoverongaps": False,
            "hovertemplate": "%{z:,} samples<extra></extra>",
            "name": "counts",
            "showlegend": False,
        },
    ]
    per_category = grid.counts.sum(axis=(1, 2))
    for cat, color, n in zip(categories, palette, per_category.tolist(), strict=True):
        data.append({
            "type": "scattergl",
            "mode": "markers",
            "name": f"{plot_text(cat)} ({int(n):,})",  # Plotly renders HTML
            "x": [None],
            "y": [None],
            "marker": {"size": 8, "color": color},
            "showlegend": True,
            "hoverinfo": "skip",
        })  # fmt: skip
    layout = _map_layout(color_by, height, window)
    if window is None:  # the grid's extent; the image would otherwise flip the y axis
        layout["xaxis"]["range"] = [grid.x0, grid.x0 + nx * grid.cell]
        layout["yaxis"]["range"] = [grid.y0, grid.y0 + ny * grid.cell]
    layout["yaxis"]["autorange"] = False
    layout["xaxis"]["autorange"] = False
    return {"data": data, "layout": layout}


def chart_selection(selection: dict[str, Any], in_view: pd.DataFrame) -> tuple[str, list[str]]:
    """What a map chart's selection event holds: a signature ("" when empty) and the keys
    (``chart_signature`` and ``chart_keys``).

    Args:
        selection: ``event.selection`` of ``st.plotly_chart`` (points, box, lasso).
        in_view: The map rows in view (columns key, sample_id, x, y).
    """
    return chart_signature(selection), chart_keys(selection, in_view)


def _shapes(selection: dict[str, Any]) -> tuple[list[list[Any]], list[tuple[Any, Any]]]:
    """The lasso polygons and boxes of a chart selection, as ``selection_mask`` takes them."""
    lassos = [list(zip(s.get("x", []), s.get("y", []), strict=False))
              for s in selection.get("lasso", []) or []]  # fmt: skip
    boxes = [(tuple(s.get("x", [0, 0])[:2]), tuple(s.get("y", [0, 0])[:2]))
             for s in selection.get("box", []) or []]  # fmt: skip
    return lassos, boxes


def chart_signature(selection: dict[str, Any]) -> str:
    """Names a map chart's selection ("" when empty): its lasso and box shapes, else the
    sample ids of its clicked points. Cheap (no point is looked at), so a rerun can tell
    whether the selection changed before it pays for ``chart_keys`` (a 100k-point lasso
    over a million points: about 0.1 s)."""
    lassos, boxes = _shapes(selection)
    if lassos or boxes:
        return json.dumps({"lasso": lassos, "box": boxes}, default=str)
    ids = selected_ids(selection.get("points", []) or [])
    return json.dumps({"points": sorted(ids)}) if ids else ""


def chart_keys(selection: dict[str, Any], in_view: pd.DataFrame) -> list[str]:
    """The keys a map chart's selection holds, in the rows' order.

    A lasso or box is applied on the server to the points in view (``selection_mask`` over
    their map coordinates, the shapes as Streamlit reports them in ``selection["lasso"]`` and
    ``selection["box"]``): the browser's per-point list is never read for it, so it works the
    same over a density overview, which lists no point. A click (no shape) selects its point
    by sample id (``customdata``).

    Args:
        selection: ``event.selection`` of ``st.plotly_chart`` (points, box, lasso).
        in_view: The map rows in view (columns key, sample_id, x, y).
    """
    lassos, boxes = _shapes(selection)
    if lassos or boxes:
        mask = selection_mask(in_view.x.to_numpy(), in_view.y.to_numpy(), lassos, boxes)
        return in_view.key[mask].tolist()
    ids = selected_ids(selection.get("points", []) or [])
    if not ids:
        return []
    return in_view.key[in_view.sample_id.isin(ids)].tolist()


FULL_POINTS_MAX = 100_000
"""Above this many points in the view, the map draws a density overview, not every point."""


@dataclass(frozen=True)
class MapView:
    """The map figure of one view and what it shows.

    Attributes:
        spec: The plotly spec (``map_figure`` or ``density_figure``).
        full: Every point is drawn (else a density overview).
        n_shown: Points in the view.
    """

    spec: dict[str, Any]
    full: bool
    n_shown: int


def map_view_figure(
    frame: pd.DataFrame,
    color_by: str,
    class_colors: dict[str, str],
    window: ViewWindow | None = None,
    *,
    full_points_max: int = FULL_POINTS_MAX,
    height: int = 640,
    rows: Hashable = None,
) -> MapView:
    """The map of the rows of ``frame`` inside ``window`` (all rows when None): every point up
    to ``full_points_max`` of them, a density overview above.

    ``rows``: a value that names ``frame``'s rows and their coordinates (the map and the
    filters), when the caller has one: the overview's grid cell of each point is then kept
    per ``rows`` and ``window`` (``grid_cells``), so a recolour (a label) only counts."""
    if window is not None:
        frame = frame[window.contains(frame.x.to_numpy(), frame.y.to_numpy())]
    if len(frame) <= full_points_max:
        spec = map_figure(frame, color_by, class_colors, height, window=window)
        return MapView(spec, True, len(frame))
    codes, categories = map_categories(frame, color_by)
    palette = category_colors(categories, color_by, class_colors)
    cells = None
    if rows is not None:
        cells = _kept_cells((rows, window, len(frame)), frame, window)
    grid = density_overview(frame.x.to_numpy(), frame.y.to_numpy(), codes, len(categories),
                            window=window, cells=cells)  # fmt: skip
    spec = density_figure(grid, categories, palette, color_by, height, window=window)
    return MapView(spec, False, len(frame))


#: The grid cells of the last few maps' points, per (rows, window, number of rows).
_CELLS: dict[Hashable, GridCells] = {}
_CELLS_KEPT = 4
_CELLS_LOCK = threading.Lock()  # sessions run in threads


def _kept_cells(key: Hashable, frame: pd.DataFrame, window: ViewWindow | None) -> GridCells:
    with _CELLS_LOCK:
        kept = _CELLS.get(key)
    if kept is not None:
        return kept
    made = grid_cells(frame.x.to_numpy(), frame.y.to_numpy(), window)
    with _CELLS_LOCK:
        while len(_CELLS) >= _CELLS_KEPT:
            _CELLS.pop(next(iter(_CELLS)))
        _CELLS[key] = made
    return made


def selection_map_figure(frame: pd.DataFrame, keys: list[str], height: int = 420) -> dict[str, Any]:
    """The map with the samples ``keys`` in orange over the others in grey (a round preview):
    the selected points are drawn last, on top."""
    shown = frame.assign(
        selection=frame.key.isin(keys).map({True: "selected", False: "other"})
    ).sort_values("selection")
    return map_figure(
        shown, "selection", {}, height, colors={"selected": "#D55E00", "other": "#C8C8C8"}
    )


def embedding_preview_figure(frame: pd.DataFrame) -> go.Figure | None:
    """A small map of the current embedding coloured by particle type (the Embeddings page's
    preview), or None when the samples carry no particle type."""
    if "particle_type" not in frame.columns:
        return None
    # metadata values: Plotly renders HTML in legends and hover
    shown = frame.assign(particle_type=frame.particle_type.map(plot_text))
    fig = px.scatter(
        shown, x="x", y="y", color="particle_type", render_mode="webgl", height=420,
        color_discrete_map=PARTICLE_COLORS, opacity=0.7,
    )  # fmt: skip
    fig.update_traces(marker={"size": 4})
    fig.update_layout(margin={"t": 10, "b": 10}, xaxis_visible=False, yaxis_visible=False)
    return fig


def learning_curve_figure(curve: pd.DataFrame) -> go.Figure:
    """Cross-validated balanced accuracy, accuracy and macro-F1 of each trained model against
    the number of labels it was trained on (``rounds.learning_curve``)."""
    fig = px.line(
        curve, x="n_labeled", y=["balanced_accuracy", "accuracy", "macro_f1"], markers=True,
        labels={"n_labeled": "labels", "value": "cross-validated", "variable": ""},
    )  # fmt: skip
    fig.update_layout(height=320, margin={"t": 10, "b": 10}, yaxis_range=[0, 1])
    return fig


def condition_counts_figure(samples: pd.DataFrame) -> go.Figure | None:
    """Bar chart of samples per BPS condition, or None when the metadata has no conditions."""
    cols = ["particle_type", "dose_Gy", "hr_post_exposure"]
    if not set(cols) <= set(samples.columns) or samples[cols].isna().all().all():
        return None
    counts = samples.dropna(subset=cols).groupby(cols).size().reset_index(name="samples")
    counts["particle_type"] = counts.particle_type.map(plot_text)  # metadata: Plotly HTML
    counts["condition"] = [
        f"{p} {d:g} Gy {int(h)} h"
        for p, d, h in zip(
            counts.particle_type, counts.dose_Gy, counts.hr_post_exposure, strict=True
        )
    ]
    fig = px.bar(
        counts,
        x="condition",
        y="samples",
        color="particle_type",
        color_discrete_map=PARTICLE_COLORS,
        text="samples",
        labels={"condition": "", "particle_type": "Particle"},
    )
    fig.update_layout(height=360, margin={"t": 10, "b": 10}, xaxis_tickangle=-45)
    return fig


def label_counts_figure(counts: dict[str, int], colors: dict[str, str]) -> go.Figure | None:
    """Horizontal bars of samples per label class, each in its class colour; None when empty."""
    if not counts:
        return None
    names = [plot_text(c) for c in counts]  # class names: Plotly renders HTML in tick labels
    frame = pd.DataFrame({"class": names, "samples": list(counts.values())})
    fig = px.bar(
        frame, x="samples", y="class", color="class", orientation="h", text="samples",
        color_discrete_map={plot_text(c): v for c, v in colors.items()}, labels={"class": ""},
    )  # fmt: skip
    order = {"categoryorder": "array", "categoryarray": names[::-1]}  # first on top
    fig.update_layout(height=60 + 36 * len(frame), margin={"t": 10, "b": 10}, showlegend=False,
                      yaxis=order)  # fmt: skip
    return fig


def loss_figure(loss: list[float]) -> go.Figure:
    """A training job's loss per epoch (the NT-Xent loss of SimCLR), as it runs."""
    fig = px.line(
        x=list(range(1, len(loss) + 1)), y=loss, markers=True, height=260,
        labels={"x": "epoch", "y": "NT-Xent loss"},
    )  # fmt: skip
    fig.update_layout(margin={"t": 10, "b": 10})
    return fig


def simulation_figure(curve: pd.DataFrame, metric: str = "balanced_accuracy") -> go.Figure:
    """Simulated learning curves: the mean over seeds per strategy, a band of one standard
    error of the mean (as the CLI's PNG), labels on x."""
    fig = go.Figure()
    for i, (name, g) in enumerate(curve.groupby("strategy", sort=False)):
        stats = g.groupby("n_labeled")[metric].agg(["mean", "sem"]).fillna(0.0)
        color = _QUALITATIVE[i % len(_QUALITATIVE)]
        x = stats.index.tolist()
        fig.add_trace(go.Scatter(
            x=x + x[::-1], y=(stats["mean"] + stats["sem"]).tolist()
            + (stats["mean"] - stats["sem"]).tolist()[::-1], mode="lines", fill="toself",
            fillcolor=color,
            opacity=0.15, line={"width": 0}, hoverinfo="skip", showlegend=False,
        ))  # fmt: skip
        fig.add_trace(go.Scatter(x=x, y=stats["mean"], mode="lines+markers", name=str(name),
                                 line={"color": color}))  # fmt: skip
    fig.update_layout(
        height=380, margin={"t": 30, "b": 10}, xaxis_title="labels",
        yaxis_title=f"{metric.replace('_', ' ')} (held-out test split)",
        title={"text": f"mean over {curve.seed.nunique()} seeds, band: one standard error",
               "font": {"size": 12}},
    )  # fmt: skip
    return fig


def short_label(name: str, limit: int = 18) -> str:
    """A class name cut to ``limit`` characters for an axis tick (the hover keeps it whole)."""
    return name if len(name) <= limit else name[: limit - 1] + "…"


def confusion_figure(confusion: list[list[int]], classes: list[str]) -> go.Figure:
    """The cross-validated confusion matrix: ticks cut short so long class names cannot
    squeeze the matrix, the whole names in the hover, one colour bar that keeps its ticks apart."""
    ticks = [plot_text(short_label(c)) for c in classes]
    if len(set(ticks)) < len(ticks):  # two long names cut alike: number them
        ticks = [f"{i + 1}. {t}" for i, t in enumerate(ticks)]
    full = np.array([[f"labeled {plot_text(a)}<br>predicted {plot_text(b)}" for b in classes]
                     for a in classes], dtype=object)  # fmt: skip
    fig = px.imshow(
        np.asarray(confusion), x=ticks, y=ticks, text_auto=True,
        labels={"x": "predicted", "y": "labeled", "color": "samples"},
        color_continuous_scale="Blues",
    )  # fmt: skip
    fig.update_traces(customdata=full, hovertemplate="%{customdata}<br>%{z} samples<extra></extra>")
    fig.update_layout(
        height=max(320, 60 * len(classes) + 140), margin={"t": 10, "b": 10, "l": 10, "r": 10},
        coloraxis_colorbar={"thickness": 12, "nticks": 4},
    )  # fmt: skip
    fig.update_xaxes(tickangle=-30, automargin=True)
    fig.update_yaxes(automargin=True)
    return fig


def _results_axes(by: tuple[str, ...]) -> tuple[str, str | None, str | None]:
    """The x column, colour column and facet column of a results plot over ``by``."""
    x = "dose_Gy" if "dose_Gy" in by else by[0]
    color = "particle_type" if "particle_type" in by and x != "particle_type" else None
    rest = [c for c in by if c not in (x, color)]
    facet = "hr_post_exposure" if "hr_post_exposure" in rest else (rest[0] if rest else None)
    return x, color, facet


#: The legend entry of a group with one label (hollow marker, no interval).
SINGLE_LABEL_NOTE = "1 label: no interval"


def results_figure(table: pd.DataFrame, by: tuple[str, ...], class_name: str) -> go.Figure:
    """The corrected share of ``class_name`` per group with its interval bars (x: dose where
    grouped by it, colour: particle type, one panel per time), the raw share shown faintly."""
    x, color, facet = _results_axes(by)
    t = table.copy()
    for c in (x, color, facet):
        if c is not None and not pd.api.types.is_numeric_dtype(t[c]):
            t[c] = t[c].astype(str).map(plot_text)
    if color is not None:
        t[color] = t[color].astype(str)
    t["err_plus"] = (t.ci_high - t.corrected_fraction).clip(lower=0)
    t["err_minus"] = (t.corrected_fraction - t.ci_low).clip(lower=0)
    orders = {c: sorted(t[c].unique(), key=lambda v: natural_key(str(v)))
              for c in (color, facet) if c is not None}  # fmt: skip
    t = t.sort_values(x)
    common: dict[str, Any] = {"x": x, "color": color, "facet_col": facet,
                              "category_orders": orders}  # fmt: skip
    common["color_discrete_sequence"] = px.colors.qualitative.D3
    # A group with one label has an estimate but no interval: a plain point looked more
    # precise than its neighbours' bars, so it is drawn hollow, with a note.
    t["_single"] = t.n_labeled.eq(1) if "n_labeled" in t.columns else False
    fig = px.line(t, y="corrected_fraction", error_y="err_plus", error_y_minus="err_minus",
                  markers=True, custom_data=["_single"], **common)  # fmt: skip
    for trace in fig.data:
        single = [bool(v) for v in trace.customdata[:, 0]]
        if any(single):
            trace.update(marker_symbol=["circle-open" if v else "circle" for v in single],
                         marker_size=[11 if v else 6 for v in single])  # fmt: skip
    if t._single.any():  # the note as a legend entry: an annotation hit the panel titles
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=SINGLE_LABEL_NOTE,
                                 marker={"symbol": "circle-open", "size": 11, "color": "grey"},
                                 hoverinfo="skip"))  # fmt: skip
    raw = px.scatter(t, y="raw_fraction", **common)
    for trace in raw.data:
        trace.update(opacity=0.5, marker_symbol="x", marker_size=7, showlegend=False,
                     hovertemplate=f"raw share %{{y:.3f}}<extra>{trace.name}</extra>")  # fmt: skip
        fig.add_trace(trace)
    fig.update_yaxes(range=[-0.02, 1.02])
    fig.update_layout(
        height=420, margin={"l": 10, "r": 10, "t": 40, "b": 10},
        yaxis_title=f"share {plot_text(class_name)} (corrected; x: raw)",
        legend_title_text=color or "",
    )  # fmt: skip
    return fig


def _well_position(well: str) -> tuple[str, int] | None:
    m = re.fullmatch(r"\s*([A-Za-z]+)\s*0*(\d+)\s*", str(well))
    return (m.group(1).upper(), int(m.group(2))) if m else None


def plate_heatmap_figure(
    table: pd.DataFrame, class_name: str, per_row: int = 4
) -> go.Figure | None:
    """The corrected share per well, one heat map per plate (rows: well letters, columns:
    well numbers), ``per_row`` plates a row; None when the wells are not named like ``B03``."""
    pos = table.well.map(_well_position)
    if pos.isna().any() or table.empty:
        return None
    t = table.assign(row=[p[0] for p in pos], col=[p[1] for p in pos])
    plates = sorted(t.plate.astype(str).unique(), key=natural_key)
    rows = sorted(t.row.unique(), key=lambda r: (len(r), r))
    cols = list(range(1, int(t.col.max()) + 1))
    ncols = min(per_row, len(plates))
    nrows = -(-len(plates) // ncols)
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=[plot_text(p) for p in plates],
                        horizontal_spacing=0.04, vertical_spacing=0.5 / nrows)  # fmt: skip
    for i, plate in enumerate(plates):
        g = t[t.plate.astype(str) == plate]
        z = g.pivot_table(index="row", columns="col", values="corrected_fraction")
        z = z.reindex(index=rows, columns=cols)
        at = {"row": i // ncols + 1, "col": i % ncols + 1}
        fig.add_trace(
            go.Heatmap(z=z.to_numpy(), x=cols, y=rows, zmin=0, zmax=1, colorscale="Viridis",
                       showscale=i == 0, colorbar={"title": "share"}, xgap=1, ygap=1,
                       hovertemplate=f"{plot_text(plate)} %{{y}}%{{x}}: %{{z:.3f}}"
                       "<extra></extra>"),
            **at,
        )  # fmt: skip
        # Fixed axes: a plate whose wells have no value (no labeled image counts, e.g. with
        # random-round labels only) drew empty axes from -1 to 6 and no row letters.
        fig.update_yaxes(type="category", categoryorder="array", categoryarray=rows,
                         range=[len(rows) - 0.5, -0.5], **at)  # fmt: skip
        fig.update_xaxes(dtick=1, range=[0.5, len(cols) + 0.5], **at)
    fig.update_layout(height=60 + 170 * nrows, margin={"l": 10, "r": 10, "t": 60, "b": 10},
                      title_text=f"corrected share {plot_text(class_name)} per well")  # fmt: skip
    return fig


def results_png(table: pd.DataFrame, by: tuple[str, ...], class_name: str) -> bytes:
    """The results plot as PNG bytes (matplotlib: plotly's PNG export needs kaleido)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, color, facet = _results_axes(by)
    panels = sorted(table[facet].unique(), key=lambda v: natural_key(str(v))) if facet else [None]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels) + 1, 3.6), sharey=True,
                             squeeze=False)  # fmt: skip
    for ax, panel in zip(axes[0], panels, strict=True):
        sub = table if facet is None else table[table[facet] == panel]
        groups = sub.groupby(color, sort=False) if color else [("", sub)]
        for name, g in groups:
            g = g.sort_values(x)
            err = [(g.corrected_fraction - g.ci_low).clip(lower=0),
                   (g.ci_high - g.corrected_fraction).clip(lower=0)]  # fmt: skip
            line = ax.errorbar(g[x].astype(str) if not pd.api.types.is_numeric_dtype(g[x])
                               else g[x], g.corrected_fraction, yerr=err, marker="o",
                               capsize=3, label=str(name) or None)  # fmt: skip
            ax.plot(g[x], g.raw_fraction, "x", alpha=0.35, color=line[0].get_color())
        ax.set_xlabel(x)
        ax.set_ylim(-0.02, 1.02)
        if facet is not None:
            ax.set_title(f"{facet} = {panel}")
    axes[0][0].set_ylabel(f"share {class_name} (corrected; x: raw)")
    if color:
        axes[0][-1].legend(title=color, fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def quality_histogram(
    values: pd.Series, cutoffs: list[float], title: str, *, log_x: bool = False
) -> go.Figure:
    """A histogram of one quality statistic with its flag cutoff(s) as dashed red lines.

    Args:
        values: The statistic per sample (NaN values are left out).
        cutoffs: Where the flag starts (one or two values; non-finite ones are not drawn).
        title: The x-axis title.
        log_x: Histogram of log10 of the values (sizes, sharpness: spread over decades).
    """
    v: NDArray[np.float64] = values.dropna().to_numpy(dtype=float)
    if log_x:
        v = np.log10(v[v > 0])
    fig = go.Figure(go.Histogram(x=v, nbinsx=60, marker_color="#4E79A7"))
    for c in cutoffs:
        if np.isfinite(c) and (not log_x or c > 0):
            fig.add_vline(x=float(np.log10(c)) if log_x else float(c), line_dash="dash",
                          line_color="#D55E00")  # fmt: skip
    fig.update_layout(
        height=220, margin={"t": 10, "b": 10, "l": 10, "r": 10}, showlegend=False,
        xaxis_title=plot_text(f"log10 {title}" if log_x else title), yaxis_title="samples",
        bargap=0.02,
    )  # fmt: skip
    return fig
