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


def test_selection_map_figure__selected_points_orange_and_drawn_last() -> None:
    df = _frame(50)
    fig = figures.selection_map_figure(df, df.key.head(5).tolist())
    names = [t["name"] for t in fig["data"]]
    assert names == ["other (45)", "selected (5)"]  # the selection drawn last, on top
    assert [len(_decode(t["customdata"])) for t in fig["data"]] == [45, 5]
    assert fig["layout"]["height"] == 420


def test_selection_map_figure__uses_its_orange_and_grey_not_the_palette() -> None:
    df = _frame(50)
    fig = figures.selection_map_figure(df, df.key.head(5).tolist())
    colors = {t["name"]: t["marker"]["color"] for t in fig["data"]}
    assert colors == {"other (45)": "#C8C8C8", "selected (5)": "#D55E00"}


def test_map_figure__class_colours_only_colour_labels_and_predictions() -> None:
    df = _frame(40).assign(well=["track", "debris"] * 20)  # a well named like a class
    fig = map_figure(df, "well", {"track": "#123456"})
    assert "#123456" not in {t["marker"]["color"] for t in fig["data"]}


def test_embedding_preview_figure__colours_by_particle_type_escaped_or_none_without_it() -> None:
    df = _frame(20).assign(particle_type=["Fe", "<b>X</b>"] * 10)
    fig = figures.embedding_preview_figure(df)
    assert fig is not None
    names = sorted(t.name for t in fig.data)
    assert names == ["&lt;b&gt;X&lt;/b&gt;", "Fe"]
    assert next(t for t in fig.data if t.name == "Fe").marker.color == figures.PARTICLE_COLORS["Fe"]
    assert figures.embedding_preview_figure(_frame(20)) is None


def test_learning_curve_figure__three_metrics_on_a_zero_to_one_axis() -> None:
    curve = pd.DataFrame(
        {"n_labeled": [10, 20], "balanced_accuracy": [0.5, 0.7], "accuracy": [0.6, 0.8],
         "macro_f1": [0.4, 0.6]}
    )  # fmt: skip
    fig = figures.learning_curve_figure(curve)
    assert [t.name for t in fig.data] == ["balanced_accuracy", "accuracy", "macro_f1"]
    assert tuple(fig.layout.yaxis.range) == (0, 1)


def test_condition_counts_figure__one_bar_per_condition_none_without_metadata() -> None:
    samples = pd.DataFrame(
        {"particle_type": ["Fe", "Fe", "X-ray", None], "dose_Gy": [0.82, 0.82, 1.0, 1.0],
         "hr_post_exposure": [4, 4, 24, 24]}
    )  # fmt: skip
    fig = figures.condition_counts_figure(samples)
    assert fig is not None
    bars = {x: int(y) for t in fig.data for x, y in zip(t.x, t.y, strict=True)}
    assert bars == {"Fe 0.82 Gy 4 h": 2, "X-ray 1 Gy 24 h": 1}
    assert figures.condition_counts_figure(samples[["dose_Gy"]]) is None


def test_label_counts_figure__class_colours_first_class_on_top_none_when_empty() -> None:
    fig = figures.label_counts_figure({"track": 3, "<i>x</i>": 1}, {"track": "#123456"})
    assert fig is not None
    assert next(t for t in fig.data if t.name == "track").marker.color == "#123456"
    assert list(fig.layout.yaxis.categoryarray) == ["&lt;i&gt;x&lt;/i&gt;", "track"]
    assert figures.label_counts_figure({}, {}) is None


def test_loss_figure__one_point_per_epoch() -> None:
    fig = figures.loss_figure([3.0, 2.5, 2.2])
    assert list(fig.data[0].x) == [1, 2, 3]
    assert fig.layout.yaxis.title.text == "NT-Xent loss"


def _results_table() -> pd.DataFrame:
    rows = [(p, d, h) for p in ("Fe", "X-ray") for d in (0.0, 0.3, 1.0) for h in (4, 24)]
    t = pd.DataFrame(rows, columns=["particle_type", "dose_Gy", "hr_post_exposure"])
    t["corrected_fraction"] = np.linspace(0.05, 0.6, len(t))
    t["raw_fraction"] = t.corrected_fraction + 0.05
    t["ci_low"] = t.corrected_fraction - 0.04
    t["ci_high"] = t.corrected_fraction + 0.06
    return t


def test_results_figure__error_bars_per_particle_one_panel_per_time() -> None:
    t = _results_table()
    fig = figures.results_figure(t, ("particle_type", "dose_Gy", "hr_post_exposure"), "many")
    corrected = [tr for tr in fig.data if tr.error_y.array is not None]
    assert {tr.name for tr in corrected} == {"Fe", "X-ray"}
    assert len(corrected) == 4  # 2 particles x 2 times
    assert {tr.xaxis for tr in corrected} == {"x", "x2"}
    fe4 = next(tr for tr in corrected if tr.name == "Fe" and tr.xaxis == "x")
    assert np.allclose(fe4.error_y.array, 0.06)
    assert np.allclose(fe4.error_y.arrayminus, 0.04)
    raw = [tr for tr in fig.data if tr.error_y.array is None]
    assert len(raw) == 4
    assert all(tr.opacity < 1 for tr in raw)


def test_results_figure__a_group_with_one_label_is_hollow_with_a_note() -> None:
    """A group with one label (an estimate, no interval) drew as a plain point, looking more
    precise than its neighbours with their bars."""
    t = _results_table()
    t["n_labeled"] = 5
    t.loc[0, ["n_labeled", "ci_low", "ci_high"]] = [1, np.nan, np.nan]  # Fe, 0 Gy, 4 h
    fig = figures.results_figure(t, ("particle_type", "dose_Gy", "hr_post_exposure"), "many")
    fe4 = next(tr for tr in fig.data if tr.error_y.array is not None and tr.name == "Fe"
               and tr.xaxis == "x")  # fmt: skip
    assert list(fe4.marker.symbol) == ["circle-open", "circle", "circle"]
    note = next(tr for tr in fig.data if tr.name == "1 label: no interval")
    assert note.marker.symbol == "circle-open"
    plain = figures.results_figure(_results_table(), ("particle_type", "dose_Gy"), "many")
    assert not any("circle-open" in str(tr.marker.symbol) for tr in plain.data)
    assert not any(tr.name == "1 label: no interval" for tr in plain.data)


def test_results_png__is_a_png() -> None:
    png = figures.results_png(_results_table(), ("particle_type", "dose_Gy",
                                                 "hr_post_exposure"), "many")  # fmt: skip
    assert png.startswith(b"\x89PNG")


def test_plate_heatmap_figure__one_heat_map_per_plate_wells_in_place() -> None:
    t = pd.DataFrame({"plate": ["P1", "P1", "P2"], "well": ["A1", "B02", "A3"],
                      "corrected_fraction": [0.1, 0.5, 0.9]})  # fmt: skip
    fig = figures.plate_heatmap_figure(t, "many")
    assert fig is not None
    assert len(fig.data) == 2
    z = np.array(fig.data[0].z, dtype=float)
    assert list(fig.data[0].y) == ["A", "B"]
    assert list(fig.data[0].x) == [1, 2, 3]
    assert z[0, 0] == 0.1
    assert z[1, 1] == 0.5
    assert np.isnan(z[0, 2])


def test_plate_heatmap_figure__a_plate_without_values_keeps_its_wells_axes() -> None:
    """With random-round labels only, most plates had no value: plotly drew their axes from
    -1 to 6 without row letters, unlike the plates beside them."""
    t = pd.DataFrame({"plate": ["P1", "P1", "P2", "P2"], "well": ["A1", "C8", "A1", "C8"],
                      "corrected_fraction": [0.1, 0.5, np.nan, np.nan]})  # fmt: skip
    fig = figures.plate_heatmap_figure(t, "many")
    assert fig is not None
    layout = fig.layout
    for x_name, y_name in (("xaxis", "yaxis"), ("xaxis2", "yaxis2")):
        assert tuple(layout[x_name].range) == (0.5, 8.5)
        assert layout[y_name].type == "category"
        assert tuple(layout[y_name].categoryarray) == ("A", "C")
        assert tuple(layout[y_name].range) == (1.5, -0.5)  # A on top


def test_plate_heatmap_figure__wells_not_like_b03_give_none() -> None:
    t = pd.DataFrame({"plate": ["P1"], "well": ["center"], "corrected_fraction": [0.1]})
    assert figures.plate_heatmap_figure(t, "many") is None


def test_map_figure__issue_score_bins_keep_their_colour_and_unscored_are_grey() -> None:
    df = _frame(30).assign(**{figures.ISSUE_SCORE: ["0.8-1.0", None, "0.0-0.2"] * 10})
    fig = map_figure(df, figures.ISSUE_SCORE, {})
    colors = {t["name"].split(" (")[0]: t["marker"]["color"] for t in fig["data"]}
    assert colors["(none)"] == figures.UNLABELED_COLOR
    assert colors["0.8-1.0"] == "#FDE725"  # the top bin is the brightest, even with gaps
    assert colors["0.0-0.2"] == "#440154"


def test_map_view_figure__every_point_up_to_the_threshold_density_above() -> None:
    df = _frame(2000)
    full = figures.map_view_figure(df, "label", {}, full_points_max=2000)
    assert full.full
    assert full.n_shown == 2000
    assert {t["type"] for t in full.spec["data"]} == {"scattergl"}
    dense = figures.map_view_figure(df, "label", {"track": "#ff0000"}, full_points_max=1999)
    assert not dense.full
    assert [t["type"] for t in dense.spec["data"][:2]] == ["image", "heatmap"]
    legend = dense.spec["data"][2:]
    # One empty legend trace per category, its count in the name; no point travels.
    counts = df.label.fillna(UNLABELED).value_counts()
    assert {t["name"] for t in legend} == {f"{k} ({v:,})" for k, v in counts.items()}
    assert all(t["x"] == [None] for t in legend)
    assert next(t for t in legend if t["name"].startswith("track"))["marker"]["color"] == "#ff0000"
    assert "samples" in dense.spec["data"][1]["hovertemplate"]
    assert dense.spec["data"][0]["source"].startswith("data:image/png;base64,")


def test_map_view_figure__window_keeps_only_its_points_and_sets_the_axes() -> None:
    df = _frame(3000)
    window = figures.ViewWindow(-0.5, 0.5, -0.5, 0.5)
    view = figures.map_view_figure(df, "label", {}, window)
    inside = df[(df.x.abs() <= 0.5) & (df.y.abs() <= 0.5)]
    assert view.full
    assert view.n_shown == len(inside)
    ids = np.concatenate([_decode(t["customdata"]) for t in view.spec["data"]])
    assert set(ids.tolist()) == set(inside.sample_id.tolist())
    assert view.spec["layout"]["xaxis"]["range"] == [-0.5, 0.5]


def test_map_view_figure__kept_cells_recolour_as_a_fresh_figure() -> None:
    """Issue 21: with ``rows`` the overview keeps its points' grid cells; a recolour (a label
    landing) with them gives the spec a fresh build gives, in and out of a window."""
    df = _frame(3000)
    for window in (None, figures.ViewWindow(-0.5, 0.5, -0.5, 0.5)):
        rows = ("map", repr(window))
        figures.map_view_figure(df, "label", {}, window, full_points_max=100, rows=rows)
        relabeled = df.assign(label=df.label.where(df.x < 0, "track"))
        got = figures.map_view_figure(relabeled, "label", {}, window, full_points_max=100,
                                      rows=rows)  # fmt: skip
        want = figures.map_view_figure(relabeled, "label", {}, window, full_points_max=100)
        assert got.spec == want.spec
        assert (got.full, got.n_shown) == (want.full, want.n_shown)


def test_map_view_figure__overview_spec_is_small_at_200k_points() -> None:
    rng = np.random.default_rng(1)
    n = 200_000
    df = pd.DataFrame({"key": [f"k{i}" for i in range(n)], "sample_id": np.arange(n),
                       "x": rng.normal(size=n), "y": rng.normal(size=n),
                       "label": rng.choice(["a", "b", None], size=n)})  # fmt: skip
    view = figures.map_view_figure(df, "label", {})
    sent = pio.to_json(plotly.tools.return_figure_from_figure_or_data(view.spec, True))
    assert not view.full
    assert len(sent) < 1_000_000  # every point would be about 3 MB


def test_density_image__mixes_category_colours_by_count_and_leaves_empty_cells_clear() -> None:
    counts = np.zeros((2, 1, 3), dtype=np.int64)
    counts[0, 0, 0] = 4  # all red
    counts[0, 0, 1], counts[1, 0, 1] = 1, 1  # half red, half blue
    grid = figures.DensityGrid(counts, 0.0, 0.0, 1.0, 6)
    rgba = figures.density_image(grid, ["#ff0000", "#0000ff"])
    assert rgba.shape == (1, 3, 4)
    assert rgba[0, 0, :3].tolist() == [255, 0, 0]
    assert rgba[0, 1, :3].tolist() == [128, 0, 128]
    assert rgba[0, 2, 3] == 0
    assert rgba[0, 0, 3] > rgba[0, 1, 3] > 0  # denser cells are more opaque


def test_chart_selection__lasso_and_box_come_from_the_shape_not_the_point_list() -> None:
    df = pd.DataFrame({"key": ["a", "b", "c", "d"], "sample_id": [1, 2, 3, 4],
                       "x": [0.5, 1.5, 5.0, 9.0], "y": [0.5, 0.5, 5.0, 9.0]})  # fmt: skip
    lasso = {"xref": "x", "yref": "y", "x": [0, 2, 2, 0], "y": [0, 0, 1, 1]}
    # A point list that disagrees with the shape (the overview lists none): it is ignored.
    selection = {"points": [{"customdata": 4}], "lasso": [lasso], "box": []}
    signature, keys = figures.chart_selection(selection, df)
    assert keys == ["a", "b"]
    assert signature
    box = {"xref": "x", "yref": "y", "x": [10, 4], "y": [4, 10]}
    _, keys = figures.chart_selection({"points": [], "lasso": [lasso], "box": [box]}, df)
    assert keys == ["a", "b", "c", "d"]


def test_chart_selection__a_click_selects_its_point_by_id_and_nothing_is_empty() -> None:
    df = pd.DataFrame({"key": ["a", "b"], "sample_id": [7, 8], "x": [0.0, 1.0], "y": [0.0, 1.0]})
    signature, keys = figures.chart_selection({"points": [{"customdata": 8}]}, df)
    assert keys == ["b"]
    assert signature
    assert figures.chart_selection({}, df) == ("", [])
    assert figures.chart_selection({"points": [], "lasso": [], "box": []}, df) == ("", [])


def _categories_by_text(frame: pd.DataFrame, color_by: str) -> tuple[np.ndarray, list[str]]:
    """``map_categories`` as it was before issue 21: every row converted to text first."""
    missing = figures.UNLABELED if color_by == "label" else "(none)"
    column = frame[color_by]
    if pd.api.types.is_numeric_dtype(column):
        column = column.map(lambda v: f"{v:g}", na_action="ignore")
    values = column.astype(object).where(column.notna(), missing).astype(str)
    codes, categories = pd.factorize(values)
    last = (figures.UNLABELED, "(none)")

    def rank_key(i: int) -> tuple[bool, tuple[tuple[int, float | str], ...]]:
        return categories[i] in last, figures.natural_key(str(categories[i]))

    order = sorted(range(len(categories)), key=rank_key)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[codes], [str(categories[i]) for i in order]


def test_map_categories__per_distinct_value_equals_the_text_of_every_row() -> None:
    """Issue 21: the categories are named per distinct value, not per row (0.4 s of each
    recolour at a million points); codes and legend order stay the same, values that print
    alike (1.0 and 1.0000001 as "1") still share a category."""
    rng = np.random.default_rng(0)
    n = 5000
    labels = np.full(n, None, dtype=object)
    labels[rng.random(n) < 0.2] = "track"
    labels[rng.random(n) < 0.1] = "(unlabeled)"
    frame = pd.DataFrame({
        "label": pd.array(labels, dtype="str"),
        "hr_post_exposure": rng.choice([4.0, 24.0, 48.0, np.nan], n),
        "plate": rng.choice([1, 2, 10], n),
        "flag": rng.choice([True, False], n),
        "mixed": pd.Series(rng.choice(np.array(["a", "(none)", None, 1.0], dtype=object), n)),
        "dose_Gy": rng.choice([1.0, 1.0000001, 2.5], n),
    })  # fmt: skip
    # Categoricals (the map table's label column) by their own codes: an unused category and
    # a missing value left out or named as the text path names them.
    frame["label_codes"] = pd.Categorical(labels, categories=["unused", "track", "(unlabeled)"])
    frame["hours_codes"] = pd.Categorical(frame.hr_post_exposure, categories=[48.0, 24.0, 4.0, 1.0])
    for column in frame.columns:
        codes, categories = figures.map_categories(frame, column)
        want_codes, want_categories = _categories_by_text(frame, column)
        assert categories == want_categories, column
        np.testing.assert_array_equal(codes, want_codes)


def test_map_figure__markers_shrink_as_points_crowd_the_chart() -> None:
    """Issue 20: at 77k points a 5-pixel marker only piles points up, and each pixel it fills
    costs a software-WebGL redraw (every lasso) time."""
    sizes = {n: {t["marker"]["size"] for t in map_figure(_frame(n), "label", {})["data"]}
             for n in (1_000, 40_000, 77_180)}  # fmt: skip
    assert sizes == {1_000: {5}, 40_000: {4}, 77_180: {3}}


def test_chart_signature__names_the_shapes_or_clicked_ids_without_the_points() -> None:
    lasso = {"xref": "x", "yref": "y", "x": [0, 2, 2, 0], "y": [0, 0, 1, 1]}
    with_points = figures.chart_signature({"points": [{"customdata": 4}], "lasso": [lasso]})
    assert with_points == figures.chart_signature({"points": [], "lasso": [lasso]})
    moved = {**lasso, "x": [0, 3, 3, 0]}
    assert figures.chart_signature({"lasso": [moved]}) != with_points
    click = figures.chart_signature({"points": [{"customdata": 8}]})
    assert click
    assert click != figures.chart_signature({"points": [{"customdata": 7}]})
    assert figures.chart_signature({"points": [], "lasso": [], "box": []}) == ""
