"""The map figure, built as a plain plotly spec so 100k points cost milliseconds, not seconds."""

from __future__ import annotations

import base64
import re
from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from numpy.typing import NDArray

from bps_app.safe_text import plot_text

UNLABELED = "(unlabeled)"
UNLABELED_COLOR = "#BBBBBB"
PARTICLE_COLORS = {"Fe": "#D55E00", "X-ray": "#0072B2"}
_QUALITATIVE = px.colors.qualitative.Safe + px.colors.qualitative.Vivid
_SEQUENTIAL = ["#440154", "#3B528B", "#21918C", "#5EC962", "#FDE725"]  # viridis, 5 steps
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
        text = text + "<br>label: " + frame.label.fillna(UNLABELED).map(plot_text)
    if "prediction" in frame.columns:
        text = text + "<br>prediction: " + frame.prediction.fillna("(none)").map(plot_text)
    return text.to_numpy(dtype=object)


def typed_array(values: NDArray[Any]) -> dict[str, str]:
    """A numpy array as plotly's binary array spec (base64 of the little-endian bytes), which
    plotly.js reads straight into a typed array: no JSON number per point."""
    a = np.ascontiguousarray(values)
    return {
        "dtype": a.dtype.newbyteorder("<").str[1:],
        "bdata": base64.b64encode(a.tobytes()).decode(),
    }


def map_figure(
    frame: pd.DataFrame,
    color_by: str,
    class_colors: dict[str, str],
    height: int = 640,
    *,
    colors: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A WebGL scatter of ``frame`` (columns x, y, sample_id and ``color_by``), one trace per
    category so the legend toggles it.

    ``class_colors`` (the label classes' colours) colour the categories of ``label`` and
    ``prediction`` only; ``colors`` fix the colour of categories of any column (a round
    preview's "selected" and "other"), over the palette.

    Only what the chart needs travels: float32 coordinates and int32 sample ids (the
    customdata a selection maps back through, never row positions) as binary arrays, and no
    colour arrays. Hover lines (file name, label, prediction) travel only up to
    ``HOVER_TEXT_MAX_POINTS`` points; above, each trace's hover names the sample id and the
    category. Categories sort naturally (4, 24, 48 h), the unlabeled last.
    It is a plain spec rather than ``go.Figure`` objects, whose per-property validation
    costs more than everything else here at 100k points.
    """
    missing = UNLABELED if color_by == "label" else "(none)"
    column = frame[color_by]
    if pd.api.types.is_numeric_dtype(column):  # 4 h, not 4.0 h
        column = column.map(lambda v: f"{v:g}", na_action="ignore")
    values = column.astype(object).where(column.notna(), missing).astype(str)
    codes, categories = pd.factorize(values)
    order = sorted(
        range(len(categories)),
        key=lambda i: (categories[i] in (UNLABELED, "(none)"), natural_key(str(categories[i]))),
    )
    x = frame.x.to_numpy(dtype=np.float32)
    y = frame.y.to_numpy(dtype=np.float32)
    ids = frame.sample_id.to_numpy(dtype=np.int32)
    text = hover_lines(frame) if len(frame) <= HOVER_TEXT_MAX_POINTS else None
    data = []
    for n, i in enumerate(order):
        cat = str(categories[i])
        sel = codes == i
        if colors and cat in colors:
            color = colors[cat]
        elif color_by in ("label", "prediction") and cat in class_colors:
            color = class_colors[cat]
        elif color_by == "label":
            color = UNLABELED_COLOR
        elif color_by == "uncertainty" and cat != missing:
            color = _SEQUENTIAL[min(n, len(_SEQUENTIAL) - 1)]  # bins sort low to high
        elif color_by == "particle_type" and cat in PARTICLE_COLORS:
            color = PARTICLE_COLORS[cat]
        else:
            color = _QUALITATIVE[n % len(_QUALITATIVE)]
        trace: dict[str, Any] = {
            "type": "scattergl",
            "mode": "markers",
            "name": f"{plot_text(cat)} ({int(sel.sum()):,})",  # Plotly renders HTML
            "x": typed_array(x[sel]),
            "y": typed_array(y[sel]),
            "customdata": typed_array(ids[sel]),
            "marker": {"size": 5, "color": color, "opacity": 0.8},
        }
        if text is not None:
            trace["hovertext"] = text[sel].tolist()
            trace["hovertemplate"] = "%{hovertext}<extra></extra>"
        else:  # one string per trace, not per point
            what = f"{plot_text(color_by)}: {plot_text(cat)}".replace("%", "&#37;")
            trace["hovertemplate"] = f"sample %{{customdata}}<br>{what}<extra></extra>"
        data.append(trace)
    layout = {
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
    return {"data": data, "layout": layout}


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
