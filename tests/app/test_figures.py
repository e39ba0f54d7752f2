from __future__ import annotations

import base64
import json

import numpy as np
import pandas as pd
import plotly.io as pio
import plotly.tools

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
