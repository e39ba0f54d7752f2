from __future__ import annotations

import base64
import json

import numpy as np
import pandas as pd
import plotly.io as pio
import plotly.tools

from bps_app import figures
from bps_app.figures import UNLABELED, map_figure, typed_array


def _decode(spec: dict[str, str]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(spec["bdata"]), dtype=np.dtype(spec["dtype"]))


def _frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "key": [f"input:P242_{i:08d}-A1_001_002_proj.tif" for i in range(n)],
            "sample_id": np.arange(10, 10 + n),
            "x": rng.normal(size=n),
            "y": rng.normal(size=n),
            "label": rng.choice(["track", "debris", None], size=n),
        }
    )


def test_typed_array__round_trips() -> None:
    a = np.array([1.5, -2.25, 3.0], dtype=np.float32)
    spec = typed_array(a)
    assert spec["dtype"] == "f4"
    np.testing.assert_array_equal(_decode(spec), a)


def test_map_figure__one_trace_per_class_ids_and_coordinates_survive() -> None:
    df = _frame(1000)
    fig = map_figure(df, "label", {"track": "#ff0000", "debris": "#00ff00"})
    names = [t["name"].split(" (")[0] for t in fig["data"]]
    assert names == ["debris", "track", UNLABELED]  # unlabeled last
    by_id = df.set_index("sample_id")
    seen = []
    for t in fig["data"]:
        ids = _decode(t["customdata"])
        xs = _decode(t["x"])
        np.testing.assert_allclose(xs, by_id.loc[ids, "x"].to_numpy(), rtol=1e-6)
        cls = t["name"].split(" (")[0]
        assert set(by_id.loc[ids, "label"].fillna(UNLABELED)) == {cls}
        seen.extend(ids.tolist())
    assert sorted(seen) == df.sample_id.tolist()
    assert fig["data"][0]["marker"]["color"] == "#00ff00"


def test_map_figure__what_streamlit_sends_is_small_and_has_no_keys() -> None:
    df = _frame(100_000)
    fig = plotly.tools.return_figure_from_figure_or_data(
        map_figure(df, "label", {}), validate_figure=True
    )
    spec = pio.to_json(fig, validate=False)
    assert len(spec) < 2_000_000
    assert "proj.tif" not in spec
    trace = json.loads(spec)["data"][0]
    assert set(trace["x"]) == {"dtype", "bdata"}  # still binary after plotly's validation


def test_map_figure__numeric_categories_sort_by_value_missing_last() -> None:
    df = _frame(40).assign(hr_post_exposure=[4.0, 24.0, 48.0, None] * 10)
    names = [t["name"].split(" (")[0] for t in map_figure(df, "hr_post_exposure", {})["data"]]
    assert names == ["4", "24", "48", "(none)"]
    rounds = _frame(3).assign(round=["round 10", "round 2", "round 1"])
    names = [t["name"].split(" (")[0] for t in map_figure(rounds, "round", {})["data"]]
    assert names == ["round 1", "round 2", "round 10"]


def test_map_figure__hover_names_file_label_and_prediction() -> None:
    df = _frame(50).assign(prediction="debris")
    fig = map_figure(df, "label", {})
    trace = fig["data"][0]
    assert trace["hovertemplate"] == "%{hovertext}<extra></extra>"
    ids = _decode(trace["customdata"])
    row = df.set_index("sample_id").loc[ids[0]]
    name = row.key.split(":", 1)[1]
    assert trace["hovertext"][0] == f"{name}<br>label: {row.label}<br>prediction: debris"
    big = map_figure(_frame(30_000), "label", {})["data"][0]
    assert "hovertext" not in big
    assert big["hovertemplate"] == "sample %{customdata}<br>label: debris<extra></extra>"


def test_map_figure__the_legend_starts_below_the_toolbar() -> None:
    layout = map_figure(_frame(10), "label", {})["layout"]
    assert layout["margin"]["t"] >= 30  # plotly's modebar lives in the top margin
    assert layout["legend"]["y"] == 1.0
    assert layout["legend"]["yanchor"] == "top"


def test_confusion_figure__long_class_names_are_cut_on_the_axes_and_whole_in_the_hover() -> None:
    long = '<b style="font-size:90px">a very long class name indeed</b>'
    fig = figures.confusion_figure([[3, 1], [0, 5]], [long, "track"])
    ticks = list(fig.data[0].x)
    assert all(len(t) <= 40 for t in ticks)  # cut (and HTML-escaped), never the whole name
    assert "track" in ticks
    assert "a very long class name indeed" in fig.data[0].customdata[0][0]
    assert "&quot;" not in str(fig.data[0].customdata[0][0])


def test_confusion_figure__names_cut_alike_stay_apart() -> None:
    a, b = "x" * 30 + "1", "x" * 30 + "2"
    fig = figures.confusion_figure([[1, 0], [0, 1]], [a, b])
    assert len(set(fig.data[0].x)) == 2
