"""The map page's server costs: the figure for 100k points, and storing a 10k-sample lasso label.

Figure: our ``map_figure`` (a plain spec with float32 coordinates and int32 sample ids as
binary arrays, one trace per class, no hover strings) against ``px.scatter`` built from
Python lists with hover text and the sample key as custom data, the common way to write it.
Both are timed through what ``st.plotly_chart`` does on the server: build, then
``plotly.tools.return_figure_from_figure_or_data(validate_figure=True)`` and
``plotly.io.to_json``. Targets: at most 2 MB and at most 30 ms.

Lasso store: one ``Project.add_labels`` call of 10,000 samples (one transaction, one undoable
action) on a copy of the 77,180-sample benchmark project. Target: at most 0.5 s.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.io as pio
import plotly.tools

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median_time, write_results  # noqa: E402
from _data import full_project  # noqa: E402

from bps_app.figures import map_figure  # noqa: E402
from bps_core.verbs import Project  # noqa: E402

N_POINTS = 100_000
CLASSES = ["track", "no track", "debris", "mitotic", "out of focus"]


def frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = rng.choice([*CLASSES, None], size=n, p=[0.05, 0.05, 0.02, 0.02, 0.01, 0.85])
    return pd.DataFrame(
        {
            "key": [f"input:P{242 + i % 60}_7366{i:07d}-A{i % 9 + 1}_001_002_proj.tif"
                    for i in range(n)],
            "sample_id": np.arange(1, n + 1),
            "x": rng.normal(size=n) * 5,
            "y": rng.normal(size=n) * 5,
            "label": labels,
        }
    )  # fmt: skip


def streamlit_server_path(fig: object) -> str:
    figure = plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True)
    return str(pio.to_json(figure, validate=False))


def ours(df: pd.DataFrame) -> str:
    colors = dict(zip(CLASSES, px.colors.qualitative.Safe, strict=False))
    return streamlit_server_path(map_figure(df, "label", colors))


def peer(df: pd.DataFrame) -> str:
    fig = px.scatter(
        x=df.x.tolist(),
        y=df.y.tolist(),
        color=df.label.fillna("(unlabeled)").tolist(),
        hover_name=df.key.tolist(),
        custom_data=[df.key.tolist()],
        render_mode="webgl",
    )
    return streamlit_server_path(fig)


def figure_rows() -> list[dict[str, object]]:
    df = frame(N_POINTS)
    rows = []
    for name, fn in (("ours: map_figure", ours), ("peer: px.scatter from lists", peer)):
        seconds = median_time(lambda fn=fn: fn(df), repeats=5)
        mb = len(fn(df).encode()) / 1e6
        rows.append({"what": f"figure, {N_POINTS:,} points", "path": name,
                     "time": f"{seconds * 1000:.0f} ms", "payload": f"{mb:.2f} MB"})  # fmt: skip
    t_ours, t_peer = (float(r["time"].split()[0]) for r in rows)  # type: ignore[union-attr]
    rows[0]["vs peer"] = f"{t_peer / t_ours:.1f}x faster"
    rows[1]["vs peer"] = ""
    return rows


def store_rows() -> list[dict[str, object]]:
    src = full_project()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "project"
        shutil.copytree(src.folder, folder, ignore=shutil.ignore_patterns("arrays"))
        src.close()
        with Project.open(folder) as project:
            keys = project.samples().key.to_numpy()
            rng = np.random.default_rng(0)
            picks = iter([rng.choice(keys, 10_000, replace=False).tolist() for _ in range(6)])

            def store() -> None:
                project.add_labels(next(picks), "track", user="bench", source="lasso")

            seconds = median_time(store, repeats=5, warmup=1)
            n = project.n_samples()
    return [{"what": f"store a 10,000-sample lasso label ({n:,}-sample project)",
             "path": "ours: Project.add_labels", "time": f"{seconds * 1000:.0f} ms",
             "payload": "", "vs peer": "target 500 ms"}]  # fmt: skip


def main() -> None:
    rows = figure_rows() + store_rows()
    write_results(
        "map",
        rows,
        notes="Median of 5 after a warm-up. Targets: figure at most 2 MB and 30 ms; "
        "lasso store at most 0.5 s.",
    )


if __name__ == "__main__":
    main()
