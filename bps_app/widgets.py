"""Reusable widgets: the sidebar, display controls, charts."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from bps_app import state
from bps_core import jobs
from bps_core.images import DisplayWindow
from bps_core.project import Project

PARTICLE_COLORS = {"Fe": "#D55E00", "X-ray": "#0072B2"}


def sidebar(project_name: str) -> None:
    """Project name and the labeler's name, shared by every page."""
    with st.sidebar:
        st.caption(f"Project: **{project_name}**")
        st.text_input(
            "Your name",
            key=state.USER_NAME,
            placeholder="e.g. ada",
            help="Stored with every label you make.",
        )


def display_controls(default: DisplayWindow, key: str) -> DisplayWindow:
    """16-bit display window controls: auto percentiles, or manual min/max, and gamma."""
    cols = st.columns([1, 2, 1])
    auto = cols[0].toggle("Auto contrast", value=default.mode == "auto", key=f"{key}_auto")
    if auto:
        lo, hi = cols[1].slider(
            "Percentiles", 0.0, 100.0, (default.low_pct, default.high_pct), 0.5, key=f"{key}_pct"
        )
        window = DisplayWindow(mode="auto", low_pct=lo, high_pct=hi)
    else:
        lo, hi = cols[1].slider(
            "Min / max", 0, 65535, (int(default.vmin), int(default.vmax)), 50, key=f"{key}_mm"
        )
        window = DisplayWindow(mode="manual", vmin=lo, vmax=max(hi, lo + 1))
    gamma = cols[2].slider("Gamma", 0.2, 3.0, default.gamma, 0.1, key=f"{key}_gamma")
    return DisplayWindow(
        window.mode, window.low_pct, window.high_pct, window.vmin, window.vmax, gamma
    )


def condition_counts_chart(samples: pd.DataFrame) -> go.Figure | None:
    """Bar chart of samples per BPS condition, or None when the metadata has no conditions."""
    cols = ["particle_type", "dose_Gy", "hr_post_exposure"]
    if not set(cols) <= set(samples.columns) or samples[cols].isna().all().all():
        return None
    counts = samples.dropna(subset=cols).groupby(cols).size().reset_index(name="samples")
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


def submit_job(project: Project, kind: str, params: dict[str, Any]) -> None:
    """Starts a background job; a job of the same kind already running is an info, not an error."""
    try:
        jobs.submit_job(project, kind, params, user=state.user_name() or "anonymous")
    except jobs.JobAlreadyRunning as exc:
        st.info(str(exc))
    except ValueError as exc:
        st.error(str(exc))


@st.fragment(run_every=1.0)
def job_monitor(job_id: str) -> None:
    """Live progress, message, loss curve and a cancel button; reruns the page when done."""
    with state.open_project() as project:
        jobs.reap_dead_jobs(project)
        job = jobs.get_job(project, job_id)
        if not job.active:
            st.rerun()
        st.progress(job.progress, text=f"{job.kind} job: {job.message or job.state}")
        loss = job.metrics.get("loss") or []
        if loss:
            fig = px.line(
                x=list(range(1, len(loss) + 1)), y=loss, markers=True, height=260,
                labels={"x": "epoch", "y": "NT-Xent loss"},
            )  # fmt: skip
            fig.update_layout(margin={"t": 10, "b": 10})
            st.plotly_chart(fig, key=f"loss_{job_id}")
        if st.button("Cancel", key=f"cancel_{job_id}", icon=":material/stop:"):
            jobs.cancel_job(project, job_id)
            st.toast("Cancelling: the job stops at its next progress report.")


def jobs_frame(records: list[jobs.JobRecord]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"job": j.id, "state": j.state, "user": j.user, "started": j.started_at,
             "finished": j.finished_at, "message": j.error or j.message}
            for j in records
        ]
    )  # fmt: skip


def embedding_sets_frame(sets: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"current": "yes" if s["current"] else "", "version": s["version"],
             "method": s["method"], "samples": s["samples"], "dims": s["dim"],
             "created": s["created_at"][:19].replace("T", " ")}
            for s in sets
        ]
    )  # fmt: skip


def quality_frame(quality: dict[str, dict[str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"truth": label, "balanced accuracy": round(q["balanced_accuracy"], 3),
             "accuracy": round(q["accuracy"], 3),
             "ROC AUC": round(q.get("roc_auc", float("nan")), 3), "samples": int(q["n"])}
            for label, q in quality.items()
        ]
    )  # fmt: skip


UNLABELED = "(unlabeled)"
UNLABELED_COLOR = "#BBBBBB"
_QUALITATIVE = px.colors.qualitative.Safe + px.colors.qualitative.Vivid


def map_figure(
    frame: pd.DataFrame, color_by: str, class_colors: dict[str, str], height: int = 640
) -> go.Figure:
    """A WebGL scatter, one trace per category (legend toggles); each point's customdata holds
    its sample key, so selections map back to samples, never to row positions."""
    fig = go.Figure()
    values = frame[color_by].astype("string").fillna(UNLABELED if color_by == "label" else "(none)")
    categories = sorted(values.unique(), key=lambda v: (v == UNLABELED, v))
    for i, cat in enumerate(categories):
        sel = (values == cat).to_numpy()
        if color_by == "label":
            color = class_colors.get(cat, UNLABELED_COLOR)
        elif color_by == "particle_type" and cat in PARTICLE_COLORS:
            color = PARTICLE_COLORS[cat]
        else:
            color = _QUALITATIVE[i % len(_QUALITATIVE)]
        fig.add_trace(
            go.Scattergl(
                x=frame.x.to_numpy()[sel],
                y=frame.y.to_numpy()[sel],
                mode="markers",
                name=f"{cat} ({int(sel.sum()):,})",
                customdata=frame.key.to_numpy()[sel][:, None],
                marker={"size": 5, "color": color, "opacity": 0.8},
                hovertemplate="%{customdata[0]}<extra></extra>",
            )
        )
    fig.update_layout(
        height=height,
        margin={"t": 10, "b": 10, "l": 10, "r": 10},
        dragmode="lasso",
        legend={"itemsizing": "constant", "title": {"text": color_by}},
        xaxis={"visible": False},
        yaxis={"visible": False, "scaleanchor": "x"},
    )
    return fig
