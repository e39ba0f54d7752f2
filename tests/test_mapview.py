"""Server-side map selection (lasso polygon, box), view windows and density overviews."""

from __future__ import annotations

import numpy as np
import pytest

from bps_core.mapview import (
    DensityGrid,
    ViewWindow,
    clean_polygon,
    density_overview,
    grid_cells,
    points_in_box,
    points_in_polygon,
    selection_mask,
)


def _brute_force(x: np.ndarray, y: np.ndarray, polygon: list[tuple[float, float]]) -> np.ndarray:
    """Even-odd ray casting, one edge at a time over every point (the reference)."""
    inside = np.zeros(len(x), dtype=bool)
    for i in range(len(polygon)):
        (x1, y1), (x2, y2) = polygon[i], polygon[(i + 1) % len(polygon)]
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < x_at)
    return inside


def _random_polygon(rng: np.random.Generator, n: int) -> list[tuple[float, float]]:
    """A star-shaped polygon with random radii: concave for most draws."""
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = rng.uniform(0.1, 1.0, n)
    centre = rng.uniform(-0.3, 0.3, 2)
    return [(float(centre[0] + r * np.cos(a)), float(centre[1] + r * np.sin(a)))
            for a, r in zip(angles, radii, strict=True)]  # fmt: skip


@pytest.mark.parametrize("seed", range(12))
def test_points_in_polygon__agrees_exactly_with_brute_force_on_random_polygons(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(-1.2, 1.2, (2, 20_000))
    polygon = _random_polygon(rng, int(rng.integers(3, 60)))
    got = points_in_polygon(x, y, polygon)
    assert got.dtype == bool
    assert got.shape == x.shape
    np.testing.assert_array_equal(got, _brute_force(x, y, polygon))
    assert 0 < got.sum() < len(x)


def test_points_in_polygon__concave_notch_is_outside() -> None:
    # A "U": the notch between the arms is outside the polygon.
    u = [(0, 0), (3, 0), (3, 3), (2, 3), (2, 1), (1, 1), (1, 3), (0, 3)]
    x = np.array([0.5, 1.5, 2.5, 1.5])
    y = np.array([2.0, 2.0, 2.0, 0.5])
    assert points_in_polygon(x, y, u).tolist() == [True, False, True, True]


def test_points_in_polygon__self_crossing_lasso_uses_the_even_odd_rule() -> None:
    bowtie = [(0, 0), (2, 2), (2, 0), (0, 2)]
    x, y = np.array([0.2, 1.0, 1.8, 1.0]), np.array([1.0, 0.2, 1.0, 1.8])
    assert points_in_polygon(x, y, bowtie).tolist() == _brute_force(x, y, bowtie).tolist()
    assert points_in_polygon(x, y, bowtie).tolist() == [True, False, True, False]


def test_points_in_polygon__closed_and_open_paths_agree() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-1, 1, (2, 2000))
    polygon = _random_polygon(rng, 20)
    np.testing.assert_array_equal(
        points_in_polygon(x, y, polygon), points_in_polygon(x, y, [*polygon, polygon[0]])
    )


def test_points_in_polygon__edge_points_belong_to_exactly_one_of_two_neighbours() -> None:
    # Two unit squares sharing the edge x = 1; points on every edge and corner.
    grid = np.array([(a, b) for a in np.linspace(0, 2, 9) for b in np.linspace(0, 1, 5)])
    x, y = grid[:, 0], grid[:, 1]
    left = points_in_polygon(x, y, [(0, 0), (1, 0), (1, 1), (0, 1)])
    right = points_in_polygon(x, y, [(1, 0), (2, 0), (2, 1), (1, 1)])
    assert not (left & right).any()
    on_shared = (x == 1) & (y < 1)
    assert (left | right)[on_shared].all()
    # Half-open: the left and bottom edges are in, the right and top ones out.
    assert points_in_polygon([0.0, 0.5], [0.5, 0.0], [(0, 0), (1, 0), (1, 1), (0, 1)]).all()
    assert not points_in_polygon([1.0, 0.5], [0.5, 1.0], [(0, 0), (1, 0), (1, 1), (0, 1)]).any()


def test_points_in_box__same_points_as_the_polygon_of_its_corners() -> None:
    rng = np.random.default_rng(2)
    x = np.round(rng.uniform(0, 4, 5000), 1)  # many points exactly on the edges
    y = np.round(rng.uniform(0, 4, 5000), 1)
    box = points_in_box(x, y, (3.0, 1.0), (0.5, 2.5))  # dragged right to left
    corners = [(1.0, 0.5), (3.0, 0.5), (3.0, 2.5), (1.0, 2.5)]
    np.testing.assert_array_equal(box, points_in_polygon(x, y, corners))
    assert box.any()


@pytest.mark.parametrize(
    "polygon",
    [[], [(0, 0)], [(0, 0), (1, 1)], [(0, 0), (1, 1), (2, 2)], [(0, 0), (1, 0), (float("nan"), 1)],
     [(0, 0), (0, 0), (0, 0), (0, 0)]],
    ids=["empty", "one vertex", "two vertices", "collinear", "nan vertex", "one point"],
)  # fmt: skip
def test_points_in_polygon__degenerate_polygon_selects_nothing(polygon: list) -> None:
    x, y = np.linspace(-1, 3, 50), np.linspace(-1, 3, 50)
    assert clean_polygon(polygon) is None
    got = points_in_polygon(x, y, polygon)
    assert got.shape == (50,)
    assert not got.any()


def test_points_in_box__without_area_or_finite_bounds_selects_nothing() -> None:
    x, y = np.linspace(0, 1, 10), np.linspace(0, 1, 10)
    assert not points_in_box(x, y, (0.5, 0.5), (0, 1)).any()
    assert not points_in_box(x, y, (0, float("inf")), (0, 1)).any()


def test_points_in_polygon__non_finite_points_are_outside_and_no_points_is_fine() -> None:
    square = [(0, 0), (1, 0), (1, 1), (0, 1)]
    got = points_in_polygon([0.5, np.nan, 0.5], [0.5, 0.5, np.inf], square)
    assert got.tolist() == [True, False, False]
    assert points_in_polygon([], [], square).shape == (0,)
    with pytest.raises(ValueError, match="must match"):
        points_in_polygon([0.5], [0.5, 0.2], square)


def test_selection_mask__is_the_union_of_lassos_and_boxes() -> None:
    x, y = np.array([0.5, 2.5, 5.0]), np.array([0.5, 2.5, 5.0])
    mask = selection_mask(x, y, lassos=[[(0, 0), (1, 0), (1, 1), (0, 1)]],
                          boxes=[((2, 3), (2, 3))])  # fmt: skip
    assert mask.tolist() == [True, True, False]
    assert not selection_mask(x, y).any()


def test_view_window__around_pads_and_contains_its_points() -> None:
    w = ViewWindow.around([0, 10], [0, 5], pad=0.1)
    assert w is not None
    assert w.as_tuple() == (-1.0, 11.0, -1.0, 6.0)
    assert w.contains([0, 10, 12], [0, 5, 0]).tolist() == [True, True, False]
    single = ViewWindow.around([2.0], [3.0])
    assert single is not None
    assert single.contains([2.0], [3.0]).all()
    assert ViewWindow.around([np.nan], [1.0]) is None
    with pytest.raises(ValueError, match="x0 < x1"):
        ViewWindow(1.0, 1.0, 0.0, 1.0)


def test_density_overview__counts_every_point_in_its_category_and_cell() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(2, 10_000))
    codes = rng.integers(0, 3, 10_000)
    grid = density_overview(x, y, codes, 3, bins=64)
    assert isinstance(grid, DensityGrid)
    assert grid.counts.sum() == grid.n_points == 10_000
    np.testing.assert_array_equal(grid.counts.sum(axis=(1, 2)), np.bincount(codes, minlength=3))
    ny, nx = grid.shape
    assert max(ny, nx) == 64
    # Each point lies in the cell the grid puts it in.
    ix = np.minimum(((x - grid.x0) / grid.cell).astype(int), nx - 1)
    iy = np.minimum(((y - grid.y0) / grid.cell).astype(int), ny - 1)
    ref = np.zeros((3, ny, nx), dtype=int)
    np.add.at(ref, (codes, iy, ix), 1)
    np.testing.assert_array_equal(grid.counts, ref)
    cx, cy = grid.centres()
    assert len(cx) == nx
    assert len(cy) == ny
    assert cx[0] == pytest.approx(grid.x0 + grid.cell / 2)


def test_density_overview__window_counts_only_the_points_inside() -> None:
    x = np.array([0.0, 1.0, 2.0, 3.0, np.nan])
    y = np.array([0.0, 1.0, 2.0, 3.0, 1.0])
    grid = density_overview(x, y, [0, 1, 0, 1, 0], 2, window=ViewWindow(0.5, 2.5, 0.5, 2.5), bins=4)
    assert grid.n_points == 2
    assert grid.counts.sum() == 2
    assert grid.counts[1].sum() == 1
    assert grid.counts[0].sum() == 1


def test_density_overview__no_points_and_bad_codes() -> None:
    empty = density_overview([], [], [], 2)
    assert empty.n_points == 0
    assert empty.counts.sum() == 0
    with pytest.raises(ValueError, match="category codes"):
        density_overview([0.0], [0.0], [2], 2)


@pytest.mark.parametrize("window", [None, ViewWindow(-0.5, 1.0, -1.0, 0.3)])
def test_density_overview__kept_grid_cells_count_as_the_points_do(window) -> None:  # type: ignore[no-untyped-def]
    """Issue 21: the grid cells of the points (kept while only colours change) give the same
    overview as placing the points again, with points outside the window or not finite."""
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(2, 5_000))
    x[:7] = np.nan
    y[7:9] = np.inf
    cells = grid_cells(x, y, window, bins=32)
    for seed in range(3):  # three recolours over the same cells
        codes = np.random.default_rng(seed).integers(0, 4, 5_000)
        want = density_overview(x, y, codes, 4, window, bins=32)
        got = density_overview(x, y, codes, 4, window, bins=32, cells=cells)
        np.testing.assert_array_equal(got.counts, want.counts)
        assert (got.x0, got.y0, got.cell, got.n_points) == (want.x0, want.y0, want.cell,
                                                             want.n_points)  # fmt: skip
    with pytest.raises(ValueError, match="must match"):
        density_overview(x[:10], y[:10], np.zeros(10, dtype=int), 4, cells=cells)
    nothing = grid_cells([np.nan], [1.0])
    assert density_overview([np.nan], [1.0], [0], 2, cells=nothing).counts.shape == (2, 1, 1)
