"""The map at any size: selection by lasso or box geometry, view windows, density overviews.

A map of a million points cannot travel to the browser on every rerun, nor come back from it
as a list of selected points. The page draws a density overview (``density_overview``: counts
per grid cell and colour category) above a size threshold, every point below it, and
computes a selection on the server from the lasso polygon or box the browser reports
(``points_in_polygon``, ``points_in_box``), in map coordinates.

Points on a boundary follow one rule everywhere (even-odd ray casting with half-open edges):
a box ``[x0, x1) x [y0, y1)`` holds its left and bottom edges, not its right and top ones,
and so does the polygon of its corners, so two shapes that share an edge never both hold a
point on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

Polygon = Sequence[tuple[float, float]]

DENSITY_BINS = 256
"""Grid cells along the longer side of a density overview's window (square cells)."""


def _xy(x: ArrayLike, y: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    xa = np.asarray(x, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    if xa.shape != ya.shape:
        raise ValueError(f"x holds {len(xa)} values, y {len(ya)}: they must match")
    return xa, ya


def clean_polygon(polygon: Polygon | NDArray[Any]) -> NDArray[np.float64] | None:
    """The vertices of ``polygon`` as an (n, 2) float array, or None when it encloses nothing.

    A closing vertex equal to the first is dropped. None for fewer than three vertices, any
    non-finite coordinate, or a polygon whose vertices all lie on one line.

    Args:
        polygon: (x, y) vertices in order (a lasso path), open or closed.

    Returns:
        The vertices, or None for an empty or degenerate polygon.
    """
    v = np.asarray(polygon, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 2 or len(v) == 0 or not np.isfinite(v).all():
        return None
    if len(v) > 1 and (v[0] == v[-1]).all():
        v = v[:-1]
    if len(v) < 3:
        return None
    d = v - v[0]
    moved = np.flatnonzero(d.any(axis=1))
    if len(moved) == 0:
        return None  # every vertex at one point
    u = d[moved[0]]
    if not (d[:, 0] * u[1] - d[:, 1] * u[0]).any():
        return None  # every vertex on one line: nothing is enclosed
    return v


def points_in_polygon(
    x: ArrayLike, y: ArrayLike, polygon: Polygon | NDArray[Any]
) -> NDArray[np.bool_]:
    """Which points lie inside ``polygon`` (even-odd rule, so self-crossing lassos work too).

    Vectorised: the points outside the polygon's bounding box are set aside first, the rest
    are sorted by y once, and each edge tests only the points in its own band of y, so a lasso
    of hundreds of vertices over a million points costs one sort and a few passes.

    Boundary rule (half-open edges): a point exactly on a left or bottom edge is inside, one
    on a right or top edge is not; the same as ``points_in_box`` for the box's corners.

    Args:
        x: X coordinates of the points.
        y: Y coordinates of the points (same length).
        polygon: (x, y) vertices in order, open or closed (the lasso path).

    Returns:
        A boolean mask over the points; all False for an empty or degenerate polygon, and for
        points with a non-finite coordinate.

    Raises:
        ValueError: ``x`` and ``y`` differ in length.
    """
    xa, ya = _xy(x, y)
    inside = np.zeros(len(xa), dtype=bool)
    v = clean_polygon(polygon)
    if v is None or len(xa) == 0:
        return inside
    (xmin, ymin), (xmax, ymax) = v.min(axis=0), v.max(axis=0)
    near = np.flatnonzero((xa >= xmin) & (xa <= xmax) & (ya >= ymin) & (ya <= ymax))
    if len(near) == 0:
        return inside
    order = near[np.argsort(ya[near], kind="stable")]
    xs, ys = xa[order], ya[order]
    hit = np.zeros(len(order), dtype=bool)
    nxt = np.roll(v, -1, axis=0)
    for (x1, y1), (x2, y2) in zip(v.tolist(), nxt.tolist(), strict=True):
        if y1 == y2:
            continue  # a horizontal edge: no ray crosses it
        # (y1 > y) != (y2 > y) holds exactly for min(y1, y2) <= y < max(y1, y2)
        a = int(np.searchsorted(ys, min(y1, y2), side="left"))
        b = int(np.searchsorted(ys, max(y1, y2), side="left"))
        if a == b:
            continue
        band = slice(a, b)
        x_at = x1 + (ys[band] - y1) * (x2 - x1) / (y2 - y1)
        hit[band] ^= xs[band] < x_at
    inside[order] = hit
    return inside


def points_in_box(
    x: ArrayLike, y: ArrayLike, x_range: tuple[float, float], y_range: tuple[float, float]
) -> NDArray[np.bool_]:
    """Which points lie in the box ``[x0, x1) x [y0, y1)`` (a box selection).

    The ranges may come in either order (a box dragged right to left). The same points as
    ``points_in_polygon`` over the box's four corners.

    Args:
        x: X coordinates of the points.
        y: Y coordinates of the points (same length).
        x_range: The box's two x bounds.
        y_range: The box's two y bounds.

    Returns:
        A boolean mask over the points; all False for a box without area or with a
        non-finite bound.

    Raises:
        ValueError: ``x`` and ``y`` differ in length.
    """
    xa, ya = _xy(x, y)
    x0, x1 = sorted(float(v) for v in x_range)
    y0, y1 = sorted(float(v) for v in y_range)
    if not all(map(math.isfinite, (x0, x1, y0, y1))) or x0 == x1 or y0 == y1:
        return np.zeros(len(xa), dtype=bool)
    return (xa >= x0) & (xa < x1) & (ya >= y0) & (ya < y1)


def selection_mask(
    x: ArrayLike,
    y: ArrayLike,
    lassos: Sequence[Polygon | NDArray[Any]] = (),
    boxes: Sequence[tuple[tuple[float, float], tuple[float, float]]] = (),
) -> NDArray[np.bool_]:
    """The points inside any of ``lassos`` or ``boxes`` (a chart selection of several shapes).

    Args:
        x: X coordinates of the points.
        y: Y coordinates of the points.
        lassos: Polygons (``points_in_polygon``).
        boxes: ((x0, x1), (y0, y1)) boxes (``points_in_box``).

    Returns:
        A boolean mask over the points: the union of the shapes.
    """
    xa, ya = _xy(x, y)
    mask = np.zeros(len(xa), dtype=bool)
    for polygon in lassos:
        mask |= points_in_polygon(xa, ya, polygon)
    for xr, yr in boxes:
        mask |= points_in_box(xa, ya, xr, yr)
    return mask


@dataclass(frozen=True)
class ViewWindow:
    """A rectangle of the map in map coordinates (the part the page draws).

    Attributes:
        x0: Left bound.
        x1: Right bound (greater than ``x0``).
        y0: Bottom bound.
        y1: Top bound (greater than ``y0``).
    """

    x0: float
    x1: float
    y0: float
    y1: float

    def __post_init__(self) -> None:
        """Checks the bounds are finite and ordered."""
        bounds = (self.x0, self.x1, self.y0, self.y1)
        if not all(math.isfinite(v) for v in bounds) or self.x0 >= self.x1 or self.y0 >= self.y1:
            raise ValueError(f"a view window needs finite bounds with x0 < x1, y0 < y1: {bounds}")

    def contains(self, x: ArrayLike, y: ArrayLike) -> NDArray[np.bool_]:
        """Which points lie in the window, its bounds included."""
        xa, ya = _xy(x, y)
        return (xa >= self.x0) & (xa <= self.x1) & (ya >= self.y0) & (ya <= self.y1)

    def as_tuple(self) -> tuple[float, float, float, float]:
        """(x0, x1, y0, y1): a plain value for cache keys and session state."""
        return (self.x0, self.x1, self.y0, self.y1)

    @classmethod
    def around(cls, x: ArrayLike, y: ArrayLike, pad: float = 0.05) -> ViewWindow | None:
        """The bounding box of the finite points, grown by ``pad`` of its size on each side.

        A single point gets a small square; None without a finite point.
        """
        xa, ya = _xy(x, y)
        if not len(xa):
            return None
        x0, x1, y0, y1 = float(xa.min()), float(xa.max()), float(ya.min()), float(ya.max())
        if not all(map(math.isfinite, (x0, x1, y0, y1))):  # a NaN or an infinity: leave out
            ok = np.isfinite(xa) & np.isfinite(ya)  # (four reductions first: no copies when
            if not ok.any():  # every point is finite, as in a computed map)
                return None
            xa, ya = xa[ok], ya[ok]
            x0, x1, y0, y1 = float(xa.min()), float(xa.max()), float(ya.min()), float(ya.max())
        size = max(x1 - x0, y1 - y0)
        margin = size * pad if size > 0 else max(1e-6, abs(x0) * 1e-3, abs(y0) * 1e-3)
        return cls(x0 - margin, x1 + margin, y0 - margin, y1 + margin)


@dataclass(frozen=True)
class DensityGrid:
    """Point counts per grid cell and colour category over a window (a density overview).

    Attributes:
        counts: Shape (n_categories, ny, nx): points of category ``c`` in cell row ``iy``
            (from the bottom), column ``ix`` (from the left).
        x0: Left edge of the grid.
        y0: Bottom edge of the grid.
        cell: Side of one square cell, in map units.
        n_points: Points counted (those inside the window).
    """

    counts: NDArray[np.int64]
    x0: float
    y0: float
    cell: float
    n_points: int

    @property
    def shape(self) -> tuple[int, int]:
        """(ny, nx): the grid's rows and columns."""
        return int(self.counts.shape[1]), int(self.counts.shape[2])

    def total(self) -> NDArray[np.int64]:
        """Points per cell over all categories, shape (ny, nx)."""
        return np.asarray(self.counts.sum(axis=0))

    def centres(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The x centres of the columns and the y centres of the rows."""
        ny, nx = self.shape
        xs = self.x0 + (np.arange(nx, dtype=np.float64) + 0.5) * self.cell
        ys = self.y0 + (np.arange(ny, dtype=np.float64) + 0.5) * self.cell
        return xs.astype(np.float64), ys.astype(np.float64)


@dataclass(frozen=True, eq=False)
class GridCells:
    """The cell of a density grid each point falls in (``grid_cells``).

    The part of a density overview that the points' positions alone decide, kept while only
    their colours change.

    Attributes:
        cells: Per point, its cell as ``iy * nx + ix``; -1 outside the window or not finite.
        x0: Left edge of the grid.
        y0: Bottom edge of the grid.
        cell: Side of one square cell, in map units.
        nx: Columns.
        ny: Rows.
        n_points: Points inside the window.
    """

    cells: NDArray[np.int64]
    x0: float
    y0: float
    cell: float
    nx: int
    ny: int
    n_points: int


def grid_cells(
    x: ArrayLike, y: ArrayLike, window: ViewWindow | None = None, bins: int = DENSITY_BINS
) -> GridCells:
    """Places points on the square cells of a density grid over ``window``.

    Args:
        x: X coordinates of the points.
        y: Y coordinates of the points.
        window: The part of the map to cover; None: the finite points' bounding box.
        bins: Cells along the window's longer side (the shorter gets as many as fit).

    Returns:
        The cell of each point (``GridCells``).

    Raises:
        ValueError: ``bins`` is below 1.
    """
    xa, ya = _xy(x, y)
    if bins < 1:
        raise ValueError(f"bins must be at least 1 (got {bins})")
    if window is None:
        window = ViewWindow.around(xa, ya, pad=0.0)
    if window is None:  # no finite point: one empty cell
        return GridCells(np.full(len(xa), -1, dtype=np.int64), 0.0, 0.0, 1.0, 1, 1, 0)
    cell = max(window.x1 - window.x0, window.y1 - window.y0) / bins
    nx = max(1, min(bins, math.ceil((window.x1 - window.x0) / cell)))
    ny = max(1, min(bins, math.ceil((window.y1 - window.y0) / cell)))
    keep = window.contains(xa, ya)
    ix = np.minimum(((xa[keep] - window.x0) / cell).astype(np.int64), nx - 1)
    iy = np.minimum(((ya[keep] - window.y0) / cell).astype(np.int64), ny - 1)
    cells = np.full(len(xa), -1, dtype=np.int64)
    cells[keep] = iy * nx + ix
    return GridCells(cells, window.x0, window.y0, cell, nx, ny, int(keep.sum()))


def density_overview(
    x: ArrayLike,
    y: ArrayLike,
    codes: ArrayLike,
    n_categories: int,
    window: ViewWindow | None = None,
    bins: int = DENSITY_BINS,
    *,
    cells: GridCells | None = None,
) -> DensityGrid:
    """Counts the points of each colour category per square cell of a grid over ``window``.

    Args:
        x: X coordinates of the points.
        y: Y coordinates of the points.
        codes: The colour category of each point, 0 to ``n_categories - 1``.
        n_categories: Number of categories.
        window: The part of the map to cover; None: the finite points' bounding box.
        bins: Cells along the window's longer side (the shorter gets as many as fit).
        cells: ``grid_cells(x, y, window, bins)`` when the caller keeps it (the points did
            not move, only their colours changed): ``x``, ``y``, ``window`` and ``bins`` are
            then not read again.

    Returns:
        The grid; points outside the window or with a non-finite coordinate are not counted.

    Raises:
        ValueError: Lengths differ, a code is out of range, or ``bins`` is below 1.
    """
    c = np.asarray(codes, dtype=np.int64).ravel()
    if cells is None:
        xa, _ = _xy(x, y)
        if len(c) != len(xa):
            raise ValueError(f"{len(c)} category codes for {len(xa)} points: they must match")
    elif len(c) != len(cells.cells):
        raise ValueError(f"{len(c)} category codes for {len(cells.cells)} points: they must match")
    if bins < 1 or n_categories < 1:
        raise ValueError(f"bins and n_categories must be at least 1 (got {bins}, {n_categories})")
    if len(c) and (c.min() < 0 or c.max() >= n_categories):
        raise ValueError(f"category codes must lie in 0..{n_categories - 1}")
    if cells is None:
        cells = grid_cells(x, y, window, bins)
    nx, ny = cells.nx, cells.ny
    if cells.n_points == len(c):  # every point inside: no mask to apply
        flat = c * (ny * nx) + cells.cells
    else:
        inside = cells.cells >= 0
        flat = c[inside] * (ny * nx) + cells.cells[inside]
    counts = np.bincount(flat, minlength=n_categories * ny * nx).reshape(n_categories, ny, nx)
    return DensityGrid(counts.astype(np.int64), cells.x0, cells.y0, cells.cell, cells.n_points)
