"""Helpers shared by tests: polling with a deadline, waiting for jobs and servers, free ports,
the app under AppTest, and the lasso geometry browser tests check selections against."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pytest
from numpy.typing import NDArray

from bps_core import jobs
from bps_core.embeddings.store import EmbeddingSet, save_embedding_set
from bps_core.project import Project
from bps_core.projection import MapConfig, get_or_compute_map
from bps_core.selection.combine import SelectionConfig
from bps_core.selection.options import RoundOptions
from bps_core.selection.rounds import ModelRecord, Round, record_round, select_round

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"


def poll_until(condition: Callable[[], T], *, timeout: float, interval: float = 0.3) -> T | None:
    """Calls ``condition`` every ``interval`` seconds until it returns a truthy value.

    It is called at least once, and the deadline is checked after each call, so a condition
    met in the last interval still counts.

    Returns:
        The first truthy value, or None when ``timeout`` seconds passed without one.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


def wait_until(
    condition: Callable[[], T],
    *,
    timeout: float = 120.0,
    interval: float = 0.3,
    what: str | Callable[[], object] = "the condition",
) -> T:
    """Like :func:`poll_until`, but fails the test when the deadline passes.

    Args:
        what: what was awaited, for the failure message; a callable is asked at the time of
            failure (for the state the test was stuck in).

    Returns:
        The first truthy value of ``condition``.

    Raises:
        AssertionError: ``timeout`` seconds passed without a truthy value.
    """
    value = poll_until(condition, timeout=timeout, interval=interval)
    if not value:
        said = what() if callable(what) else what
        raise AssertionError(f"{said} not reached within {timeout:g} s")
    return value


def wait_for_job(
    project: Project, job_id: str, *, timeout: float = 180.0, reap: bool = False
) -> jobs.JobRecord:
    """Waits until job ``job_id`` is no longer active and returns its final record.

    Args:
        reap: mark jobs whose worker process died as failed while waiting (else a dead worker
            shows as a timeout).
    """

    def finished() -> jobs.JobRecord | None:
        if reap:
            jobs.reap_dead_jobs(project)
        job = jobs.get_job(project, job_id)
        return None if job.active else job

    return wait_until(
        finished,
        timeout=timeout,
        what=lambda: f"the end of job {jobs.get_job(project, job_id)}",
    )


def save_random_embeddings(
    project: Project, *, dim: int = 8, seed: int = 0, params: dict[str, Any] | None = None
) -> EmbeddingSet:
    """Saves seeded random vectors of ``dim`` values for every sample as the current
    ``pixels`` embedding set (no image is decoded), and returns it."""
    keys = project.samples().key.tolist()
    vectors = np.random.default_rng(seed).normal(size=(len(keys), dim))
    return save_embedding_set(project, "pixels", params or {}, keys, vectors)


def map_project(project: Project, config: MapConfig | None = None) -> list[str]:
    """Gives ``project`` random embeddings and their map (UMAP unless ``config`` says other);
    returns the sample keys."""
    save_random_embeddings(project)
    get_or_compute_map(project, config or MapConfig())
    return project.samples().key.tolist()


def train_with_flips(project: Project, n: int = 10, flips: int = 3) -> ModelRecord:
    """Pixel embeddings, ``n`` labels per particle type (Fe, X-ray) with the first ``flips``
    flipped to the other type (disagreements for the model to find), and a model on them."""
    from bps_core import verbs

    verbs.compute_embeddings(project, verbs.EmbedConfig(method="pixels", image_size=32))
    s = project.samples()
    for particle in ("Fe", "X-ray"):
        keys = s[s.particle_type == particle].key.head(n).tolist()
        project.add_labels(keys, particle, user="ann", source="api")
    labels = project.current_labels().head(flips)
    for k, lab in zip(labels.key, labels.label, strict=True):
        project.add_labels([k], "X-ray" if lab == "Fe" else "Fe", user="ann", source="api")
    return verbs.train_model(project, verbs.TrainSettings(), user="ann")


def create_round(
    project: Project,
    n: int | None = None,
    *,
    strategy: str = "default",
    config: SelectionConfig | None = None,
    seed: int | None = None,
    reinclude_selected: bool = False,
    options: RoundOptions | None = None,
    user: str = "cli",
) -> Round:
    """Selects ``n`` samples and records the round (``select_round`` then ``record_round``)."""
    preview = select_round(project, n, strategy=strategy, config=config, seed=seed,
                           reinclude_selected=reinclude_selected, options=options)  # fmt: skip
    return record_round(project, preview, user=user)


def button(app: AppTest, label: str) -> Any:
    """The AppTest button labeled ``label`` (StopIteration when the page shows none)."""
    return next(b for b in app.button if b.label == label)


def client_error(
    code: str,
    status: int,
    *,
    headers: dict[str, str] | None = None,
    operation: str = "GetObject",
) -> Exception:
    """A botocore ``ClientError`` as S3 answers it, for responses moto cannot produce (wrong
    region, expired tokens); its message is a raw server body no user should ever see."""
    from botocore.exceptions import ClientError

    return ClientError(
        {"Error": {"Code": code, "Message": "<raw body from the server>"},
         "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers or {}}},
        operation,
    )  # fmt: skip


def thumbnail_captions(app: AppTest) -> list[str]:
    """The captions of every image the app shows, in order: one image element can hold many
    (``widgets.thumbnail_grid`` draws its thumbnails as one list)."""
    return [img.caption for element in app.image for img in element.proto.imgs]


def open_in_detail(app: AppTest, open_key: str, number: int) -> AppTest:
    """Picks thumbnail ``number`` in the "Open in detail" control ``open_key`` and runs."""
    return app.pills(key=open_key).set_value(number).run()


def free_port() -> int:
    """A loopback TCP port nothing listens on at the moment."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str, expect: bytes | None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return expect is None or r.read() == expect
    except OSError:
        return False


def wait_for_http(
    url: str,
    proc: subprocess.Popen[Any],
    *,
    timeout: float,
    interval: float = 0.3,
    expect: bytes | None = None,
) -> bool:
    """Waits until ``url`` answers with a success (and the body ``expect``, when given).

    Returns:
        True once it does; False when ``proc`` (the server) exits first or ``timeout`` seconds
        pass, for the caller to fail with the server's output.
    """

    def up_or_gone() -> str | None:
        if _answers(url, expect):
            return "up"
        return "exited" if proc.poll() is not None else None

    return poll_until(up_or_gone, timeout=timeout, interval=interval) == "up"


def open_app(monkeypatch: pytest.MonkeyPatch, project: str | os.PathLike[str]) -> AppTest:
    """The app (``app.py``) under Streamlit's AppTest over the project folder ``project``,
    working from the repository root as ``bps-labeler app`` does; not yet run."""
    from streamlit.testing.v1 import AppTest  # here: helpers for servers need no Streamlit

    monkeypatch.setenv("BPS_PROJECT", os.fspath(project))
    monkeypatch.chdir(ROOT)
    return AppTest.from_file(str(APP), default_timeout=60)


def points_in_polygon(
    xy: NDArray[np.floating[Any]], polygon: Sequence[tuple[float, float]]
) -> NDArray[np.bool_]:
    """Which points of shape (n, 2) lie inside ``polygon`` (even-odd ray casting): the points a
    lasso along ``polygon`` should select."""
    x, y = xy[:, 0], xy[:, 1]
    inside = np.zeros(len(xy), dtype=bool)
    n = len(polygon)
    for i in range(n):
        (x1, y1), (x2, y2) = polygon[i], polygon[(i + 1) % n]
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < x_at)
    return inside


def clear_hexagon(
    px: NDArray[np.floating[Any]], percentile: float, margin: float = 2.0
) -> tuple[list[tuple[float, float]], NDArray[np.bool_]]:
    """A screen-space hexagon around the points' median of about the ``percentile``-th distance
    from it, whose edges pass no point closer than ``margin`` pixels, and which points it holds.

    A point a fraction of a pixel from the lasso's edge is inside or not by the browser's
    rounding of the mouse path (a machine's screen metrics moved one out of a hexagon), so the
    radius moves half a pixel at a time around the percentile, and the hexagon turns, until
    every point is clear of it.
    """
    cx, cy = np.median(px, axis=0)
    r0 = float(np.percentile(np.hypot(px[:, 0] - cx, px[:, 1] - cy), percentile))
    for step in (0, *[d * k / 2 for k in range(1, 40) for d in (1, -1)]):
        for turn in np.linspace(0, np.pi / 3, 12, endpoint=False):
            r = r0 + step
            angles = np.linspace(0, 2 * np.pi, 7)[:-1] + turn
            hexagon = [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in angles]
            if _distance_to_polygon(px, hexagon).min() >= margin:
                return hexagon, points_in_polygon(px, hexagon)
    raise AssertionError(f"no hexagon near the {percentile}th percentile clears every point")


def _distance_to_polygon(
    xy: NDArray[np.floating[Any]], polygon: Sequence[tuple[float, float]]
) -> NDArray[np.float64]:
    """Each point's distance to the nearest edge of ``polygon``."""
    best = np.full(len(xy), np.inf)
    for i in range(len(polygon)):
        a, b = np.asarray(polygon[i], float), np.asarray(polygon[(i + 1) % len(polygon)], float)
        t = np.clip(((xy - a) @ (b - a)) / float((b - a) @ (b - a)), 0.0, 1.0)
        best = np.minimum(best, np.hypot(*(xy - (a + t[:, None] * (b - a))).T))
    return best
