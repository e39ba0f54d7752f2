"""The shared test helpers: the lasso geometry browser tests check selections against, and
polling with a deadline."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import (
    _distance_to_polygon,
    clear_hexagon,
    points_in_polygon,
    poll_until,
    wait_until,
)


def test_points_in_polygon__square_triangle_and_against_brute_force() -> None:
    xy = np.array([[0.5, 0.5], [1.5, 0.5], [0.1, 0.9], [0.9, 0.05]])
    square = [(0, 0), (1, 0), (1, 1), (0, 1)]
    assert points_in_polygon(xy, square).tolist() == [True, False, True, True]
    triangle = [(0, 0), (1, 0), (0, 1)]
    assert points_in_polygon(xy, triangle).tolist() == [False, False, False, True]


@given(st.floats(0.01, 0.99), st.floats(0.01, 0.99))
def test_points_in_polygon__convex_matches_half_planes(x: float, y: float) -> None:
    poly = [(0.0, 0.0), (1.0, 0.2), (0.8, 1.0), (0.1, 0.7)]
    inside = points_in_polygon(np.array([[x, y]]), poly)[0]
    cross = [
        (bx - ax) * (y - ay) - (by - ay) * (x - ax)
        for (ax, ay), (bx, by) in zip(poly, poly[1:] + poly[:1], strict=True)
    ]
    if min(abs(c) for c in cross) > 1e-9:
        assert inside == all(c > 0 for c in cross)


def test_clear_hexagon__no_point_within_the_margin_of_an_edge() -> None:
    rng = np.random.default_rng(0)
    px = rng.normal(400, 120, size=(170, 2))  # a map of the tiny project's size
    hexagon, inside = clear_hexagon(px, 30, margin=2.0)
    assert _distance_to_polygon(px, hexagon).min() >= 2.0
    assert inside.tolist() == points_in_polygon(px, hexagon).tolist()
    assert 0.1 * len(px) < inside.sum() < 0.5 * len(px)  # about the 30th percentile
    # a point put on the first hexagon's edge moves the next one off it
    a, b = np.asarray(hexagon[0]), np.asarray(hexagon[1])
    moved, _ = clear_hexagon(np.vstack([px, (a + b) / 2]), 30, margin=2.0)
    assert _distance_to_polygon(np.vstack([px, (a + b) / 2]), moved).min() >= 2.0


def test_wait_until__returns_the_first_truthy_value() -> None:
    answers = iter([None, 0, "", "done", "later"])
    assert wait_until(lambda: next(answers), timeout=5, interval=0) == "done"


def test_wait_until__fails_with_what_was_awaited_after_the_deadline() -> None:
    with pytest.raises(AssertionError, match="the moon not reached within 0 s"):
        wait_until(lambda: False, timeout=0, interval=0, what="the moon")


def test_poll_until__checks_at_least_once_and_gives_none_on_timeout() -> None:
    calls: list[int] = []
    assert poll_until(lambda: calls.append(1), timeout=0, interval=0) is None
    assert calls == [1]
