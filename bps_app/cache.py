"""Cached reads keyed by plain values, so they are callable (and testable) without the UI."""

from __future__ import annotations

import dataclasses
import functools
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st
from numpy.typing import NDArray

from bps_app import figures, jobs, state
from bps_app.current_labels import LABEL_COLUMNS, CurrentLabels, LabelChanges, applied
from bps_core.composite import CompositeStyle, NucleusView
from bps_core.composite import nucleus_view as composite_view
from bps_core.csvsafe import safe_frame
from bps_core.embeddings.index import QUERY_EXACT_BELOW, NeighbourIndex, embedding_set_index
from bps_core.embeddings.neighbours import most_similar, nearest_neighbours
from bps_core.embeddings.store import current_version, load_embedding_set
from bps_core.errors import BpsError, DatasourceError, ImageDecodeError
from bps_core.exports import labels_csv_bytes
from bps_core.facets import FacetParts, build_facets, facets_version, kept_facets_token
from bps_core.images import DisplayWindow, decode_image, thumbnail_png
from bps_core.mapview import ViewWindow
from bps_core.partners import sibling_config
from bps_core.positions import IdPositions
from bps_core.project import LabelWrite, Project
from bps_core.project.store import ARRAYS_DIR, OBJECT_CACHE_DIR
from bps_core.projection import MapConfig, current_map, load_map, load_map_id
from bps_core.quality.duplicates import Neighbours
from bps_core.quality.flags import FlagsResult, FlagThresholds, compute_flags, flag_rows
from bps_core.quality.graph import neighbour_graph, rows_digest
from bps_core.quality.label_issues import LabelIssuesError, facet_columns, pick_model
from bps_core.quality.shift_descriptor import Descriptors, descriptors_token, load_descriptors
from bps_core.selection.rounds import (
    ModelRecord,
    group_column,
    latest_model,
    list_models,
    predictions,
)
from bps_core.selection.scores import uncertainty
from bps_core.storage import DataSource, DatasourceConfig, open_source
from bps_core.storage.cache import CachedSource
from bps_core.storage.fetch import fetch_many
from bps_core.verbs.results import ReportSettings, report


@st.cache_resource(show_spinner=False)
def warm_job_worker() -> None:
    """Starts the server's warm job worker once per server process (``bps_core.jobs``), so
    map and embedding jobs skip the 25-50 s of UMAP compilation a fresh process pays."""
    jobs.start_warm_worker()


def hold_database(project_dir: Path) -> None:
    """Keeps one idle connection to the served project's SQLite database open in this server.

    SQLite checkpoints the write-ahead log and deletes it whenever the last connection to a
    database closes; with a connection per rerun (``state.open_project``) that was every
    rerun's close, about 20 ms of each queue key press after its label write (py-spy, issue
    20). While this one stays open, checkpoints happen as SQLite's auto-checkpoint decides.
    A PostgreSQL project holds nothing (its connections are the server's).
    """
    _held_database(str(project_dir))


@st.cache_resource(show_spinner=False, max_entries=2)
def _held_database(project_dir: str) -> Project | None:
    try:
        project = Project.open(project_dir)
    except BpsError:  # the page opening it says what is wrong
        return None
    if project.config.database_url:
        project.close()
        return None
    return project


def samples_version(project: Project) -> str:
    """Changes whenever a sample is added, updated or removed (a database trigger)."""
    return project.samples_version()


def samples_frame(project_dir: str, version: str) -> pd.DataFrame:
    """The samples table with metadata columns; ``version`` invalidates the cache.

    Each call gets its own shallow copy of one frame held per server: with pandas' copy on
    write, changing it never changes the held one, and no call pays for a copy (a pickled
    copy per call, as ``st.cache_data`` hands out, cost 1 s per rerun at a million samples).
    """
    return _samples_frame(project_dir, version).copy(deep=False)


@st.cache_resource(show_spinner=False, max_entries=4)
def _samples_frame(project_dir: str, version: str) -> pd.DataFrame:
    with Project.open(project_dir) as project:
        return project.samples()


def load_samples(project: Project) -> pd.DataFrame:
    return samples_frame(str(project.folder), samples_version(project))


def map_frame(project: Project, cfg: MapConfig | None = None) -> pd.DataFrame | None:
    """The map of the current embedding joined to sample metadata, or None: the one for
    ``cfg``, else the current map (the one chosen for the current embedding set, else its most
    recently computed one).

    Held once per server in ``st.cache_resource``, keyed by the map id and the samples
    version (plain strings, never a hash of the arrays): every session shares one read-only
    frame, and a rerun costs a dictionary lookup. Callers must not modify it.
    """
    if cfg is not None:
        m = load_map(project, cfg)
        map_id = m.id if m is not None else None
    else:
        map_id = current_map_id(project)
    if map_id is None:
        return None
    return _map_frame(str(project.folder), map_id, samples_version(project))


def current_map_id(project: Project) -> str | None:
    """The id of ``current_map``, decided once per choice of map and state of its files.

    ``current_map`` reads the map's keys (a JSON list: 0.7 s at a million samples) to decide;
    that decision only changes with the current embedding set, its chosen and latest maps and
    their files, which a few small queries and ``stat`` calls name here.
    """
    version = current_version(project)
    if version is None:
        return None
    chosen, latest = project.maps.chosen_id(version), project.maps.latest_id(version)
    paths = [r.path for r in (project.maps.get(m) for m in (chosen, latest) if m) if r]
    if (record := project.embedding_sets.get(version)) is not None:
        vectors = project.folder / record.path
        paths += [record.path, str(vectors.with_name(f"{version}.keys.json"))]
    files = [_file_state(project.folder / p) for p in paths]
    token = (version, chosen, latest, tuple(files))
    return _current_map_id(str(project.folder), token)


def _file_state(path: Path) -> tuple[int, int] | None:
    try:
        st_ = path.stat()
    except OSError:
        return None
    return st_.st_mtime_ns, st_.st_size


@st.cache_resource(show_spinner=False, max_entries=4)
def _current_map_id(project_dir: str, token: tuple[object, ...]) -> str | None:
    with Project.open(project_dir) as project:
        m = current_map(project)
    return m.id if m is not None else None


@st.cache_resource(show_spinner=False, max_entries=4)
def _map_frame(project_dir: str, map_id: str, version: str) -> pd.DataFrame:
    with Project.open(project_dir) as project:
        m = load_map_id(project, map_id)
        assert m is not None
        xy = pd.DataFrame({"key": m.keys, "x": m.xy[:, 0], "y": m.xy[:, 1]})
        frame = xy.merge(project.samples(), on="key", how="left")
    frame.attrs[_MAP_TOKEN] = f"{map_id}|{version}"
    return frame


_MAP_TOKEN = "bps_map_token"


def map_token(frame: pd.DataFrame) -> str:
    """Names the map and samples version a ``map_frame`` was built from (a cache key)."""
    return str(frame.attrs.get(_MAP_TOKEN, ""))


def facets_token(project: Project) -> tuple[object, ...]:
    """``facets_version``: changes with the samples, labels, tags, verdicts and current model."""
    return facets_version(project)


def map_inputs_token(facets: tuple[object, ...], rounds: pd.DataFrame) -> tuple[object, ...]:
    """What the map's colour columns are made of besides the map itself: the facets token and
    the rounds each sample was picked in (a cheap hash of that small table)."""
    digest = int(pd.util.hash_pandas_object(rounds, index=False).sum()) if len(rounds) else 0
    return (*facets, len(rounds), digest)


def map_view(
    token: tuple[object, ...],
    frame: pd.DataFrame,
    color_by: str,
    class_colors: dict[str, str],
    window: tuple[float, float, float, float] | None,
    rows: tuple[object, ...] | None = None,
) -> figures.MapView:
    """The map figure of ``frame`` (already filtered) in ``window``, built once per ``token``.

    ``rows``: what names the frame's rows and their coordinates (the map, the filters, and
    the facets when a filter is set), so the overview keeps each point's grid cell across
    recolours (``figures.map_view_figure``).

    ``token`` must change whenever the frame's rows or colours may have (the map, samples,
    labels, facets, rounds, filters); the colour column, class colours and window are part of
    the key already. A rerun that changed none of them gets the same spec back, byte for
    byte, so Streamlit sends the browser a reference to the chart it holds instead of the
    chart (its forward-message cache), and the server skips the build.
    """
    return _map_view(token, color_by, tuple(sorted(class_colors.items())), window, frame, rows)


@st.cache_data(show_spinner=False, max_entries=6)
def _map_view(
    token: tuple[object, ...],
    color_by: str,
    class_colors: tuple[tuple[str, str], ...],
    window: tuple[float, float, float, float] | None,
    _frame: pd.DataFrame,
    _rows: tuple[object, ...] | None = None,
) -> figures.MapView:
    view = ViewWindow(*window) if window is not None else None
    return figures.map_view_figure(_frame, color_by, dict(class_colors), view, rows=_rows)


def thumbnail(source: DatasourceConfig, relpath: str, size: int, window: DisplayWindow) -> bytes:
    """PNG thumbnail of one sample (not cached when it fails).

    Raises:
        ImageDecodeError: The file cannot be decoded, or is gone from the datasource (deleted
            or moved after ingest): the sample is bad.
        DatasourceError: The file exists but could not be read now (e.g. S3 unreachable).

    The cache is keyed by plain strings and tuples: hashing the config dataclasses on every
    lookup cost more than the lookup itself (24 thumbnails took 130 ms at 77k samples). The
    last few hundred are held in front of it (``_RECENT_THUMBNAILS``): a selection panel's
    24 were looked up again on every rerun of the page, each through Streamlit's hashing of
    its arguments and a copy of its bytes.
    """
    key = (_config_json(source), relpath, size, dataclasses.astuple(window))
    with _RECENT_LOCK:
        png = _RECENT_THUMBNAILS.get(key)
        if png is not None:
            _RECENT_THUMBNAILS.move_to_end(key)
            return png
    png = _thumbnail(*key)
    with _RECENT_LOCK:
        _RECENT_THUMBNAILS[key] = png
        while len(_RECENT_THUMBNAILS) > _RECENT_KEPT:
            _RECENT_THUMBNAILS.popitem(last=False)
    return png


#: The thumbnails this server made or looked up last (``thumbnail``), most recent last.
_RECENT_THUMBNAILS: OrderedDict[tuple[str, str, int, tuple[Any, ...]], bytes] = OrderedDict()
_RECENT_KEPT = 256
_RECENT_LOCK = threading.Lock()  # sessions run in threads


@st.cache_data(show_spinner=False, max_entries=4096)
def _thumbnail(source_json: str, relpath: str, size: int, window: tuple[Any, ...]) -> bytes:
    reader = _source(source_json, str(state.project_dir() / OBJECT_CACHE_DIR))
    return thumbnail_png(_read_sample(reader, relpath), size, DisplayWindow(*window))


def _read_sample(reader: DataSource, relpath: str) -> NDArray[Any]:
    """The decoded sample; a file gone from the datasource is an ``ImageDecodeError``."""
    try:
        data = reader.read_bytes(relpath)
    except DatasourceError as exc:
        if _still_there(reader, relpath):
            raise  # a passing failure (network, permissions): not the file's fault
        raise ImageDecodeError(
            relpath, "file is missing from the datasource (deleted or moved after ingest)"
        ) from exc
    return decode_image(data, relpath)


def nucleus_view(
    source: DatasourceConfig, relpath: str, size: int, style: CompositeStyle
) -> NucleusView:
    """The composite of one sample with its DAPI and MASK partners (``composite``), cached.

    A view whose partner could not be read now (network, permissions) is not kept, so the
    next rerun tries again.

    Raises:
        ImageDecodeError: The sample's own file cannot be decoded, or is gone.
        DatasourceError: The sample's own file could not be read now.
    """
    source_json, style_json = _config_json(source), _config_json(style)
    ready = _view_prefetcher().take((source_json, relpath, size, style_json))
    if ready is not None:
        return ready
    try:
        return _nucleus_view(source_json, relpath, size, style_json)
    except _NotKept as passing:
        return passing.view


def prefetch_views(
    source: DatasourceConfig, relpaths: list[str], size: int, style: CompositeStyle
) -> None:
    """Starts making the nucleus views of ``relpaths`` (the next images of a queue) in the
    background, in order, so ``nucleus_view`` hands them out without a decode or a PNG encode
    when the labeler moves on. One worker per server; views kept for the last few dozen
    requests; a view that fails is not kept (``nucleus_view`` then makes it and reports)."""
    source_json, style_json = _config_json(source), _config_json(style)
    prefetcher = _view_prefetcher()
    todo = [r for r in relpaths if not prefetcher.has((source_json, r, size, style_json))]
    if not todo:
        return
    try:
        reader, partners = _readers(source_json)
    except DatasourceError:
        return  # the source is unreachable now: the page says so when it reads the image
    for relpath in todo:
        prefetcher.submit(
            (source_json, relpath, size, style_json),
            functools.partial(_make_view, reader, partners, relpath, size, style),
        )


@functools.lru_cache(maxsize=32)
def _config_json(config: DatasourceConfig | CompositeStyle) -> str:
    """A frozen config as sorted JSON (part of a cache key), made once per distinct config:
    ``dataclasses.asdict`` deep-copies every field, about 1 ms of each queue key press for
    the image's and its prefetch's source and style (issue 20)."""
    doc = config.to_dict() if isinstance(config, CompositeStyle) else dataclasses.asdict(config)
    return json.dumps(doc, sort_keys=True)


def _readers(source_json: str) -> tuple[DataSource, DataSource | None]:
    """The reader of a source and of its sibling partner folder (None when it has none)."""
    cache_dir = str(state.project_dir() / OBJECT_CACHE_DIR)
    reader = _source(source_json, cache_dir)
    sibling = sibling_config(DatasourceConfig.from_dict(json.loads(source_json)))
    partners: DataSource | None = None
    if sibling is not None:
        try:
            partners = _source(_config_json(sibling), cache_dir)
        except DatasourceError:  # the sibling folder went away: partners are absent
            partners = None
    return reader, partners


def _make_view(
    reader: DataSource, partners: DataSource | None, relpath: str, size: int, style: CompositeStyle
) -> NucleusView:
    """The nucleus view of ``relpath``; one with a passing failure raises ``_NotKept``."""
    fitc = _read_sample(reader, relpath)
    view = composite_view(fitc, relpath, reader, sibling=partners, size=size, style=style)
    if view.passing:
        raise _NotKept(view)
    return view


class _ViewPrefetcher:
    """One background worker making nucleus views ahead, and the last ``kept`` of them.

    Each view is started ``delay`` seconds after it was asked for, not at once: it is asked
    for in the middle of a key press's run, and making it then (a decode, a render and a PNG
    encode: about 35 ms of CPU) competed with that run, its messages and the browser's
    drawing for the machine's cores. The labeler looks at the image shown meanwhile; a view
    wanted before its start is started at once (``take``).
    """

    def __init__(self, kept: int = 48, delay: float = 0.3) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bps-view-prefetch")
        self._views: OrderedDict[tuple[str, str, int, str], Future[NucleusView]] = OrderedDict()
        self._starts: dict[tuple[str, str, int, str], _Start] = {}
        self._kept = kept
        self._delay = delay
        self._lock = threading.Lock()

    def has(self, key: tuple[str, str, int, str]) -> bool:
        with self._lock:
            return key in self._views

    def submit(self, key: tuple[str, str, int, str], make: Callable[[], NucleusView]) -> None:
        with self._lock:
            if key in self._views:
                return
            start = self._starts[key] = _Start(time.monotonic() + self._delay)
            self._views[key] = self._pool.submit(start.then, make)
            while len(self._views) > self._kept:
                gone, future = self._views.popitem(last=False)
                self._starts.pop(gone).drop()
                future.cancel()

    def take(self, key: tuple[str, str, int, str]) -> NucleusView | None:
        """The view made ahead for ``key``: waits for it when it is being made (started now
        if it was waiting for its start); None when it was not asked for, was still queued
        (it is dropped) or failed: the caller makes it."""
        with self._lock:
            future = self._views.get(key)
            if future is None:
                return None
            if future.cancel():  # still queued: the caller makes it now
                del self._views[key]
                self._starts.pop(key, None)
                return None
            if start := self._starts.get(key):
                start.now()
            self._views.move_to_end(key)
        try:
            return future.result()
        except Exception:  # noqa: BLE001 - the caller makes it again and reports why
            with self._lock:
                self._views.pop(key, None)
                self._starts.pop(key, None)
            return None

    def settle(self) -> None:
        """Waits until every view asked for is made or failed (starting them now)."""
        with self._lock:
            futures = list(self._views.values())
            for start in self._starts.values():
                start.now()
        wait(futures)

    def clear(self) -> None:
        with self._lock:
            views, self._views = self._views, OrderedDict()
            starts, self._starts = self._starts, {}
        for start in starts.values():
            start.drop()  # a job waiting for its start ends without making its view
        for future in views.values():
            future.cancel()


class _Start:
    """When a prefetched view is made: at ``at`` (``time.monotonic``), at once when wanted
    (``now``), or never once dropped (``drop``: the cache let it go)."""

    def __init__(self, at: float) -> None:
        self._at = at
        self._go = threading.Event()
        self._dropped = False

    def now(self) -> None:
        self._go.set()

    def drop(self) -> None:
        self._dropped = True
        self._go.set()

    def then(self, make: Callable[[], NucleusView]) -> NucleusView:
        """Waits for the start, then ``make()``; raises ``_Dropped`` when dropped first."""
        self._go.wait(max(0.0, self._at - time.monotonic()))
        if self._dropped:
            raise _Dropped
        return make()


class _Dropped(Exception):  # noqa: N818 (a signal, not an error)
    """A prefetched view let go before it was made."""


@st.cache_resource(show_spinner=False)
def _view_prefetcher() -> _ViewPrefetcher:
    return _ViewPrefetcher()


class _NotKept(Exception):  # noqa: N818 (a carrier, not an error)
    """Carries a view out of the cached function without the cache keeping it."""

    def __init__(self, view: NucleusView) -> None:
        super().__init__("not cached")
        self.view = view


@st.cache_data(show_spinner=False, max_entries=512)
def _nucleus_view(source_json: str, relpath: str, size: int, style_json: str) -> NucleusView:
    reader, partners = _readers(source_json)
    return _make_view(reader, partners, relpath, size,
                      CompositeStyle.from_dict(json.loads(style_json)))  # fmt: skip


def _still_there(reader: DataSource, relpath: str) -> bool:
    try:
        return reader.exists(relpath)
    except DatasourceError:
        return True  # cannot tell: do not mark the sample bad for it


@st.cache_resource(show_spinner=False, max_entries=8)
def _source(source_json: str, cache_dir: str) -> DataSource:
    """One reader per datasource per server: S3 clients, connection pools and the local object
    cache are reused across reruns and sessions."""
    config = DatasourceConfig.from_dict(json.loads(source_json))
    return open_source(config, cache_dir=cache_dir)


def prefetch(source: DatasourceConfig, relpaths: list[str]) -> None:
    """Fetches the remote objects behind a page of thumbnails concurrently (one request each,
    16 in flight) into the local object cache; local sources need nothing."""
    if source.kind == "local":
        return
    reader = _source(_config_json(source), str(state.project_dir() / OBJECT_CACHE_DIR))
    if isinstance(reader, CachedSource):
        missing = [r for r in relpaths if not reader.contains(r)]
        if missing:
            fetch_many(reader, missing)


def clear_thumbnails() -> None:
    with _RECENT_LOCK:
        _RECENT_THUMBNAILS.clear()
    _thumbnail.clear()
    _nucleus_view.clear()
    _view_prefetcher().clear()


def relpaths(project: Project) -> pd.Series:
    """Relative path per sample key, held once per samples version (O(1) lookups)."""
    return _relpaths(str(project.folder), samples_version(project))


@st.cache_resource(show_spinner=False, max_entries=2)
def _relpaths(project_dir: str, version: str) -> pd.Series:
    return samples_frame(project_dir, version).set_index("key").relpath


@st.cache_resource(show_spinner=False, max_entries=2)
def embeddings(
    project_dir: str, version: str
) -> tuple[list[str], dict[str, int], NDArray[np.float32]]:
    """Keys, row index per key and the read-only vectors of embedding ``version``."""
    with Project.open(project_dir) as project:
        emb = load_embedding_set(project, version)
    if emb is None:
        raise KeyError(f"embedding set {version} is not in the project")
    vectors = np.ascontiguousarray(emb.vectors, dtype=np.float32)
    vectors.setflags(write=False)
    return emb.keys, {k: i for i, k in enumerate(emb.keys)}, vectors


@st.cache_resource(show_spinner="Building the neighbour index (once per embedding set)...",
                   max_entries=2)  # fmt: skip
def neighbour_index(
    project_dir: str, version: str, exact_below: int = QUERY_EXACT_BELOW
) -> NeighbourIndex | None:
    """The HNSW index of embedding ``version``, held once per server; None below
    ``exact_below`` samples, where every query scans the vectors exactly. Read from the
    project's arrays folder when an earlier process built it."""
    _, _, vectors = embeddings(project_dir, version)
    with Project.open(project_dir) as project:
        return embedding_set_index(project, version, vectors, exact_below=exact_below)


def neighbours(project: Project, key: str, k: int = 8) -> list[tuple[str, float]]:
    """The ``k`` samples nearest to ``key`` in the current embedding, with cosine similarity;
    empty when there is no embedding or the sample is not in it."""
    version = current_version(project)
    if version is None:
        return []
    keys, index, vectors = embeddings(str(project.folder), version)
    if key not in index:
        return []
    graph = neighbour_index(str(project.folder), version)
    near = nearest_neighbours(vectors, index[key], k, index=graph)
    return [(keys[n.index], n.similarity) for n in near]


def similar(
    project: Project,
    keys: list[str],
    n: int,
    *,
    unlabeled_only: bool,
    labeled: Collection[str] | None = None,
) -> list[str]:
    """The ``n`` samples most similar to any of ``keys`` in the current embedding (query by
    example), most similar first; never one of ``keys``, nor a labeled or bad sample when
    ``unlabeled_only``. Empty without an embedding.

    ``labeled``: the samples that count as labeled (default: the current labels); a blind
    labeler's own, so that what is left out never tells which samples others labeled.
    """
    version = current_version(project)
    if version is None:
        return []
    all_keys, index, vectors = embeddings(str(project.folder), version)
    query = [index[k] for k in keys if k in index]
    exclude = np.zeros(len(all_keys), dtype=bool)
    samples = load_samples(project)
    blocked = set(samples.key[samples.status != "ok"])
    if unlabeled_only:
        blocked |= set(labeled) if labeled is not None else current_labels(project).keys
    for k in blocked:
        if k in index:
            exclude[index[k]] = True
    graph = neighbour_index(str(project.folder), version)
    found = most_similar(vectors, query, n, exclude=exclude, index=graph)
    return [all_keys[m.index] for m in found]


UNCERTAINTY_BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
ISSUE_SCORE = figures.ISSUE_SCORE


@st.cache_resource(show_spinner=False, max_entries=2)
def prediction_frame(project_dir: str, model_id: str) -> pd.DataFrame:
    """Key, predicted class and binned prediction entropy of every sample under a model."""
    with Project.open(project_dir) as project:
        model = next(m for m in list_models(project) if m.id == model_id)
        emb = load_embedding_set(project, model.embedding_version)
        probs = predictions(project, model)
    assert emb is not None
    unc = uncertainty(probs, "entropy")
    labels = [
        f"{a:.1f}-{b:.1f}" for a, b in zip(UNCERTAINTY_BINS, UNCERTAINTY_BINS[1:], strict=False)
    ]
    binned = pd.cut(unc, UNCERTAINTY_BINS, labels=labels, include_lowest=True)
    return pd.DataFrame(
        {"key": emb.keys, "prediction": np.asarray(model.classes)[probs.argmax(axis=1)],
         "uncertainty": binned.astype(str)}
    )  # fmt: skip


def current_model(project: Project) -> ModelRecord | None:
    """The latest model trained on the current embedding set, or None. A model trained on
    another set is stale: its predictions belong to other vectors and are never shown."""
    version = current_version(project)
    return latest_model(project, version) if version is not None else None


def stale_model(project: Project) -> ModelRecord | None:
    """The latest model when it was trained on another embedding set than the current one."""
    model = latest_model(project)
    if model is None or model.embedding_version == current_version(project):
        return None
    return model


def model_columns(project: Project) -> pd.DataFrame | None:
    """Prediction and uncertainty per key from the latest model of the current embedding set,
    or None without one (models of other sets are stale and never coloured as current)."""
    model = current_model(project)
    if model is None:
        return None
    return prediction_frame(str(project.folder), model.id)


@st.cache_data(show_spinner=False, max_entries=4)
def issue_frame(project_dir: str, model_id: str, labels_version: int) -> pd.DataFrame:
    """Key and binned issue score (``ISSUE_SCORE``) of every scored label under the current
    model; the model and ``labels_version`` (the last label event) invalidate it."""
    with Project.open(project_dir) as project:
        facet = facet_columns(project)
    if facet is None:
        return pd.DataFrame({"key": [], ISSUE_SCORE: []})
    binned = pd.cut(facet.issue_score, figures.ISSUE_BINS, labels=figures.ISSUE_BIN_LABELS,
                    include_lowest=True)  # fmt: skip
    return pd.DataFrame({"key": facet.index, ISSUE_SCORE: binned.astype(str).to_numpy()})


def issue_column(project: Project) -> pd.DataFrame | None:
    """The binned issue score per labeled sample (cleanlab on the current model's out-of-fold
    predictions), or None without a model that has them."""
    try:
        model = pick_model(project)
    except LabelIssuesError:
        return None
    frame = issue_frame(str(project.folder), model.id, project.labels_version())
    return frame if len(frame) else None


def round_column(project: Project) -> pd.DataFrame:
    """The latest round each sample was selected in ("round 3"), keyed by sample."""
    latest = project.rounds.latest_round_of()
    return pd.DataFrame([(k, f"round {r}") for k, r in latest.items()], columns=["key", "round"])


@st.cache_data(show_spinner=False, max_entries=4)
def labels_csv(project_dir: str, labels_version: int) -> bytes:
    """The labels CSV; ``labels_version`` (the last label event) invalidates it, so reruns of
    the Export page do not rebuild it."""
    with Project.open(project_dir) as p:
        return labels_csv_bytes(p)


@st.cache_data(show_spinner=False, max_entries=16)
def report_table(
    project_dir: str,
    labels_version: int,
    model_id: str,
    class_name: str,
    by: tuple[str, ...],
    cluster: str | None,
    level: float,
    reviewed_only: bool = False,
    reviews_version: int = 0,
    random_only: bool = False,
) -> pd.DataFrame:
    """The per-group results table of ``model_id``; ``labels_version`` (the last label event),
    ``reviews_version`` (the last verdict: an accept writes no label event) and the model
    invalidate it. ``reviewed_only``: only reviewed labels count as labeled; ``random_only``:
    only labels of samples random rounds picked. Raises BpsError as ``bps_core.verbs.report``
    does."""
    settings = ReportSettings(class_name=class_name, by=by, model_id=model_id, level=level,
                              cluster=cluster, reviewed_only=reviewed_only,
                              labeled="random-only" if random_only else "all")  # fmt: skip
    with Project.open(project_dir) as p:
        return report(p, settings).table


def table_csv(table: pd.DataFrame) -> bytes:
    """A table as CSV bytes, its text cells safe from spreadsheet formulas."""
    return safe_frame(table).to_csv(index=False).encode()


# -- quality flags (pages/9_Quality.py) --------------------------------------------------------
def quality_flags(project: Project, thresholds: FlagThresholds) -> FlagsResult | None:
    """The flags of every good sample for ``thresholds``; None without stats and embeddings.

    The neighbour searches (the slow part at scale: by embedding and by shift-tolerant
    descriptor) are kept per embedding set, stored descriptors and k, so moving a threshold
    only re-applies them.
    """
    version = current_version(project)
    stats_count = project.image_stats.count()
    if version is None and stats_count == 0:
        return None
    token = descriptors_token(project.arrays_dir)
    return _quality_flags(str(project.folder), samples_version(project), stats_count,
                          version or "", token, thresholds)  # fmt: skip


@st.cache_data(show_spinner=False, max_entries=8, hash_funcs={FlagThresholds: hash})
def _quality_flags(
    project_dir: str,
    samples_ver: str,
    stats_count: int,
    version: str,
    token: tuple[int, int],
    t: FlagThresholds,
) -> FlagsResult:
    samples, stats = _quality_inputs(project_dir, samples_ver, stats_count)
    desc, desc_nb = _quality_descriptors(project_dir, samples_ver, token, t.k)
    group = group_column(samples)
    if not version:
        return compute_flags(samples, stats, None, None, t, group_by=group, descriptors=desc,
                             descriptor_neighbours=desc_nb)  # fmt: skip
    keys, _, vectors = embeddings(project_dir, version)
    nb = _quality_neighbours(project_dir, samples_ver, version, t.k)
    return compute_flags(samples, stats, keys, vectors, t, group_by=group,
                         embedding_version=version, neighbours=nb, descriptors=desc,
                         descriptor_neighbours=desc_nb)  # fmt: skip


@st.cache_resource(show_spinner=False, max_entries=4)
def _quality_descriptors(
    project_dir: str, samples_ver: str, token: tuple[int, int], k: int
) -> tuple[Descriptors | None, Neighbours | None]:
    """The stored shift-tolerant descriptors of the good samples and their neighbours."""
    if token == (0, 0):
        return None, None
    samples = samples_frame(project_dir, samples_ver)
    stored = load_descriptors(Path(project_dir) / ARRAYS_DIR)
    desc = stored.subset(samples.key[samples.status == "ok"].tolist())
    if len(desc.keys) < 2:
        return None, None
    graph = neighbour_graph(Path(project_dir) / ARRAYS_DIR, "descriptor", "-".join(map(str, token)),
                            desc.vectors, rows_digest(desc.keys), k)  # fmt: skip
    return desc, graph


@st.cache_resource(show_spinner=False, max_entries=2)
def _quality_inputs(
    project_dir: str, samples_ver: str, stats_count: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    samples = samples_frame(project_dir, samples_ver)
    with Project.open(project_dir) as project:
        stats = project.image_stats.frame()
    return samples[samples.status == "ok"], stats


@st.cache_resource(
    show_spinner="Finding every sample's nearest neighbours (once per embedding set; "
    "minutes at a million samples)...", max_entries=4,
)  # fmt: skip
def _quality_neighbours(project_dir: str, samples_ver: str, version: str, k: int) -> Neighbours:
    keys, _, vectors = embeddings(project_dir, version)
    samples = samples_frame(project_dir, samples_ver)
    rows = flag_rows(keys, samples.key[samples.status == "ok"])
    index = None
    if len(rows) == len(keys):  # every row: the set's stored index serves, when it has one
        index = neighbour_index(project_dir, version)
    graph = neighbour_graph(Path(project_dir) / ARRAYS_DIR, "embedding", version, vectors[rows],
                            rows_digest(rows), k, index=index)  # fmt: skip
    assert graph is not None  # computed when not stored
    return graph


def quality_csv(result: FlagsResult) -> bytes:
    """The flags table (``FlagsResult.table``) as CSV bytes, formula-safe."""
    return safe_frame(result.table()).to_csv(index=False).encode()


def facets(project: Project) -> pd.DataFrame:
    """The sample facets (``bps_core.facets.sample_facets``: label, prediction, confidence,
    tags and every registered provider's columns), rebuilt only when ``facets_version``
    changes, so a rerun that changed nothing reads it from the cache.

    Held once per server in ``st.cache_resource``: every rerun gets the same read-only frame
    (no copy of 77k rows per rerun), so ``filters.facet_filters`` can keep the filter choices
    it derives from it. Callers must not modify it.
    """
    return _facets(str(project.folder), facets_version(project))


#: The parts of the last facets frame built per project, with the ``kept_facets_token`` they
#: were built under: after a label only the label providers' columns are made again.
_FACET_PARTS: dict[str, tuple[tuple[object, ...], FacetParts]] = {}


@st.cache_resource(show_spinner=False, max_entries=4)
def _facets(project_dir: str, version: tuple[object, ...]) -> pd.DataFrame:
    stable = kept_facets_token(version)
    with Project.open(project_dir) as project:
        # The samples frame and the labels from their own caches: a label changes the facets,
        # not the samples, and the page holds the labels already.
        samples = samples_frame(project_dir, samples_version(project))
        labels = current_labels(project)
        kept = _FACET_PARTS.get(project_dir)
        frame, parts = build_facets(
            project, samples=samples, labels=labels.frame, label_ids=labels.sample_ids,
            keep=kept[1] if kept is not None and kept[0] == stable else None,
            tokens=(stable, version),
        )  # fmt: skip
    _FACET_PARTS[project_dir] = (stable, parts)
    return frame


# -- history (pages/3_Explore_and_label.py) ------------------------------------------------------
def label_history(project: Project) -> pd.DataFrame:
    """The label event log (``Project.label_events``), read once per label written: at 100k
    events it is a second of every rerun of the page otherwise. Read-only: filter, never
    modify it in place."""
    return _label_history(str(project.folder), project.labels_version())


@st.cache_resource(show_spinner=False, max_entries=2)
def _label_history(project_dir: str, labels_version: int) -> pd.DataFrame:
    with Project.open(project_dir) as p:
        return p.label_events()


def tag_history(project: Project) -> pd.DataFrame:
    """The tag event log (``TagStore.history``), read once per tag written. Read-only."""
    return _tag_history(str(project.folder), project.tags.version())


@st.cache_resource(show_spinner=False, max_entries=2)
def _tag_history(project_dir: str, tags_version: int) -> pd.DataFrame:
    with Project.open(project_dir) as p:
        return p.tags.history()


def current_labels(project: Project) -> CurrentLabels:
    """The current labels, re-read only when ``Project.current_labels_token`` changes (a label
    written by anyone, an undo, the double-labeling setting, the samples), so a rerun that
    changed nothing costs four small queries instead of the label join. A label written in a
    callback is read on the rerun it causes: the token is read at each call.

    Shared by every session (``st.cache_resource``): callers must not modify it.
    """
    return _current_labels(str(project.folder), project.current_labels_token(), project)


@st.cache_resource(show_spinner=False, max_entries=4)
def _current_labels(
    project_dir: str, token: tuple[object, ...], _project: Project
) -> CurrentLabels:
    # The caller's open project reads them (not hashed: the folder and token are the key);
    # opening another cost about 5 ms of every queue key press (issue 20).
    return read_labels(_project, token)


@dataclasses.dataclass(frozen=True)
class _LabelsRead:
    """The last labels read of a project, with what they were read under."""

    samples_version: object
    setting: object  #: the double-labeling setting (``Assignments.token``'s last part)
    last_event: int  #: the newest label event they include
    labels: CurrentLabels  #: with sample ids


#: The last labels read per project folder: the next read applies the label events since.
_LABELS_READ: dict[str, _LabelsRead] = {}
#: The last label write of this server per project folder (``LabelWrite``): the next read
#: applies it without reading the label log, when it is all that changed since the last read.
_LABELS_WRITTEN: dict[str, LabelWrite] = {}


def note_label_write(project: Project, written: LabelWrite | None) -> None:
    """Hands the labels a page just wrote (``LabelAction.written``, ``UndoResult.written``)
    to the next ``current_labels`` read, so the rerun after a label does not read back what
    it wrote (half a second for a 100k-sample lasso at a million samples). The read checks
    that nothing else changed since: else it reads the label log as always."""
    if written is not None:
        _LABELS_WRITTEN[str(project.folder)] = written


def _written_changes(
    project: Project, last: _LabelsRead | None, samples_version: object
) -> LabelChanges | None:
    """The label changes since ``last`` from the write noted for the project, with their
    keys from the cached samples frame; None unless that write is all that changed since
    (its first event follows ``last``'s newest, and its last is the newest in the log)."""
    folder = str(project.folder)
    written = _LABELS_WRITTEN.get(folder)
    if written is None or last is None or written.after_event != last.last_event:
        return None
    if project.labels_version() != written.last_event:
        return None  # someone else wrote a label since (or the log is not the one noted)
    ids, _ = written.last_per_sample()
    keys, positions = _sample_keys(folder, str(samples_version))
    rows = positions.positions(ids)
    if (rows < 0).any():
        return None
    return LabelChanges.from_write(written, keys.take(rows))


@st.cache_resource(show_spinner=False, max_entries=2)
def _sample_keys(project_dir: str, version: str) -> tuple[Any, IdPositions]:
    """The key column of the samples frame (its array, as held) and its rows by sample id."""
    samples = _samples_frame(project_dir, version)
    return samples.key.array, IdPositions(samples.sample_id.to_numpy())


def read_labels(project: Project, token: tuple[object, ...]) -> CurrentLabels:
    """``Project.current_labels``, read as the events since the last read applied to it.

    The label log is append-only and a sample's label is its last event's, so the labels
    after a change are the last ones with each sample that has a newer event replaced (or
    dropped, when the event cleared it): a 100k-sample label reads its 100k events, not
    every label of the project, and a page's own write is not read back at all
    (``note_label_write``). The result makes its frame and lookups on first use
    (``CurrentLabels``). A full read when the samples or the double-labeling setting
    changed, and always under blind double labeling (its hidden disagreements follow every
    event) and on PostgreSQL. ``token`` is ``Project.current_labels_token`` read before.
    """
    folder = str(project.folder)
    setting = project.assignments.active()
    # PostgreSQL hands out event ids before commit, so an event can land below one read
    # already: there, every read is a full one.
    if (setting is not None and setting.blind) or project.config.database_url:
        _LABELS_READ.pop(folder, None)
        return CurrentLabels(project.current_labels())
    samples_version, double_labeling = token[0], token[-1]
    last = _LABELS_READ.get(folder)
    if last is not None and (last.samples_version, last.setting) != token_parts(token):
        last = None
    changes = _written_changes(project, last, samples_version)
    if changes is None:
        changes = LabelChanges.from_frame(
            project.label_changes(last.last_event if last is not None else 0)
        )
    if last is not None and not len(changes):
        return last.labels
    if last is not None:
        labels = CurrentLabels.changed(last.labels, changes)
        newest = max(changes.newest_event, last.last_event)
    else:
        empty = pd.DataFrame([], columns=LABEL_COLUMNS)
        frame, ids = applied(empty, np.zeros(0, dtype=np.int64), [changes])
        labels, newest = CurrentLabels(frame, ids), changes.newest_event
    _LABELS_READ[folder] = _LabelsRead(samples_version, double_labeling, newest, labels)
    _sample_keys(folder, str(samples_version))  # made now (0.1 s at 1M), not after a label
    return labels


def token_parts(token: tuple[object, ...]) -> tuple[object, object]:
    """The samples version and the double-labeling setting of a ``current_labels_token``."""
    return token[0], token[-1]


@dataclasses.dataclass(frozen=True)
class ReviewStates:
    """Every current label with its review state (``Reviews.current``), held read-only."""

    frame: pd.DataFrame  #: ``bps_core.project.reviews.CURRENT_COLUMNS``
    unreviewed: frozenset[str]  #: keys whose current label nobody reviewed yet


def review_states(project: Project) -> ReviewStates:
    """The review state of every current label, re-read only when a label event, a verdict
    or the samples change (a Python pass over every label: about 0.2 s per key press of a
    reviewer at 77k labels otherwise). Shared by every session: do not modify it."""
    token = (project.samples_version(), project.labels_version(), project.reviews.version())
    return _review_states(str(project.folder), token)


@st.cache_resource(show_spinner=False, max_entries=4)
def _review_states(project_dir: str, token: tuple[object, ...]) -> ReviewStates:
    with Project.open(project_dir) as project:
        frame = project.reviews.current()
    return ReviewStates(frame, frozenset(frame.key[frame.review == "unreviewed"]))
