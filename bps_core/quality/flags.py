"""Quality flags per sample: poor images, exact and near-duplicates, leaks, outliers.

The pixel statistics are measured once at decode time (``image_stats``); the flags apply
``FlagThresholds`` to them when read, so a moved threshold needs no pass over the images.
Where a good absolute value depends on the data (brightness, sharpness, size, embedding
distances), the rule is relative to the dataset's median, so the defaults carry over to other
microscopes and crops; where it does not (a clipping plateau, an empty crop, the aspect
ratio), it is absolute. ``FlagsResult.cutoffs`` gives the absolute values a run resolved.

Checks are those of cleanvision (dark, light, blurry, low information, odd size and aspect,
exact and near duplicates), measured on the 16-bit pixels; cleanvision itself assumes 8-bit
images and decodes files itself (docs/label_quality_flags.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bps_core.atomic import atomic_write_text
from bps_core.csvsafe import safe_frame
from bps_core.embeddings.store import load_embedding_set
from bps_core.errors import DatasourceError, ImageDecodeError
from bps_core.images import decode_image
from bps_core.project.image_stats import STAT_COLUMNS, ImageStats
from bps_core.project.store import Project, utc_now
from bps_core.quality.duplicates import (
    EXACT_BELOW,
    Neighbours,
    exact_duplicate_groups,
    near_duplicate_pairs,
    nearest_neighbours,
)
from bps_core.quality.graph import INLINE_MAX, neighbour_graph, rows_digest
from bps_core.quality.image_stats import measure
from bps_core.quality.outliers import knn_outlier_scores, percentile_cutoff
from bps_core.quality.shift_descriptor import (
    DESCRIPTOR_DIM,
    Descriptors,
    descriptors_token,
    load_descriptors,
    save_descriptors,
    shift_descriptor,
)
from bps_core.selection.rounds import group_column
from bps_core.settings import check_range

Progress = Callable[[float], None]

#: The stored share of saturated pixels is ``saturated_share`` in frames, beside the flag.
_SATURATED = "saturated_share"
#: The pixel statistics as frame columns (``STAT_COLUMNS``, ``saturated`` renamed).
FRAME_STATS = tuple(_SATURATED if c == "saturated" else c for c in STAT_COLUMNS)

#: The pixel flags, then the embedding and hash flags, in the order they are listed.
PIXEL_FLAGS = ("dim", "saturated", "blurry", "empty", "odd_size")
FLAG_NAMES = (*PIXEL_FLAGS, "duplicate", "near_duplicate", "outlier")
#: What each flag means, in words, for tables and help texts.
FLAG_HELP = {
    "dim": "99th percentile (the object's bright end) below dim_ratio x the dataset's median",
    "saturated": "more than saturated_share of the pixels on a plateau at the image's maximum",
    "blurry": "sharpness (Laplacian variance) below blurry_ratio x the dataset's median",
    "empty": "less than empty_foreground of the pixels clearly above the background",
    "odd_size": "area off the median by more than size_ratio, or aspect above max_aspect",
    "duplicate": "the same pixels as another sample",
    "near_duplicate": "an embedding neighbour closer than near_duplicate_ratio x the median "
    "distance to the k-th nearest neighbour, or a neighbour by shift-tolerant pixel descriptor "
    "closer than shift_ratio x that descriptor's median (finds crops shifted by a few pixels)",
    "outlier": "k-NN outlier score above the outlier_percentile-th percentile",
}


@dataclass(frozen=True)
class FlagThresholds:
    """Where each flag starts; validated when built.

    Defaults were chosen on the demo data (synthetic BPS crops) and are stated relative to
    the dataset's median where the right absolute value depends on the data.

    Attributes:
        dim_ratio: Dim: the 99th percentile (the bright end: the object, not the background)
            below this share of the dataset's median 99th percentile.
        saturated_share: Saturated: more than this share of pixels equal to the maximum.
        blurry_ratio: Blurry: sharpness below this share of the median sharpness.
        empty_foreground: Nearly empty: less than this share of pixels in the foreground.
        size_ratio: Odd size: area above ``size_ratio`` x or below 1 / ``size_ratio`` x the
            median area.
        max_aspect: Odd aspect: the longer side over the shorter above this.
        near_duplicate_ratio: Near-duplicate: an embedding neighbour closer than this share of
            the median distance to the k-th nearest neighbour (the k-th, not the first: a set
            with many duplicate pairs would shrink a first-neighbour median towards 0).
        outlier_percentile: Outlier: k-NN outlier score above this percentile (0..100).
        k: Neighbours of the outlier score.
        shift_ratio: Near-duplicate, too: a neighbour by shift-tolerant pixel descriptor
            (``bps_core.quality.shift_descriptor``) closer than this share of the median
            distance to the k-th nearest neighbour by that descriptor.

    Raises:
        SettingsError: a value out of range (the message names the field).
    """

    dim_ratio: float = 0.65
    saturated_share: float = 0.005
    blurry_ratio: float = 0.15
    empty_foreground: float = 0.05
    size_ratio: float = 2.5
    max_aspect: float = 2.0
    near_duplicate_ratio: float = 0.15
    outlier_percentile: float = 99.0
    k: int = 5
    shift_ratio: float = 0.25

    def __post_init__(self) -> None:
        for name in ("dim_ratio", "saturated_share", "blurry_ratio", "empty_foreground",
                     "near_duplicate_ratio", "shift_ratio"):  # fmt: skip
            check_range(name, getattr(self, name), 0.0, 1.0)
        check_range("size_ratio", self.size_ratio, 1.0)
        check_range("max_aspect", self.max_aspect, 1.0)
        check_range("outlier_percentile", self.outlier_percentile, 0.0, 100.0)
        check_range("k", self.k, 1, 100)


@dataclass(frozen=True)
class FlagsResult:
    """The flags of every sample and what they rest on.

    Attributes:
        frame: One row per sample (index: sample key): relpath, group, the pixel statistics
            (``FRAME_STATS``: ``saturated`` is ``saturated_share`` beside the flag),
            ``outlier_score``, ``nn_distance``, ``nn_key`` (nearest other sample),
            ``duplicate_group`` (-1: none), ``duplicate_of`` (another key with equal pixels),
            ``near_partner`` (the near-duplicate's partner: by embedding where it has one, else
            by descriptor), ``near_by`` (what found it: ``embedding``, ``descriptor`` or
            ``embedding+descriptor``; empty when not a near-duplicate), one boolean column per
            flag, and ``flags`` (the set flags, comma-joined).
        pairs: Near-duplicate and exact-duplicate pairs: key_a, key_b, distance (by
            embedding; NaN for a pair only the descriptor found), exact, found_by (``same
            pixels``, ``embedding``, ``descriptor`` or ``embedding+descriptor``), group_a,
            group_b, leak (the two samples are in different groups, so a grouped split can
            put them on both sides of it).
        cutoffs: The absolute values the thresholds resolved to on this data, by name.
        thresholds: The thresholds applied.
        group_column: The metadata column the split groups by (None: none).
        embedding_version: The embedding set used (None: no embeddings, no neighbour flags).
        exact_search: Whether the neighbour search was exact (else HNSW).
    """

    frame: pd.DataFrame
    pairs: pd.DataFrame
    cutoffs: dict[str, float]
    thresholds: FlagThresholds
    group_column: str | None
    embedding_version: str | None
    exact_search: bool

    @property
    def counts(self) -> dict[str, int]:
        """How many samples carry each flag, in ``FLAG_NAMES`` order."""
        return {name: int(self.frame[name].sum()) for name in FLAG_NAMES}

    @property
    def leaks(self) -> pd.DataFrame:
        """The pairs that span two groups (``pairs`` rows with ``leak``)."""
        return self.pairs[self.pairs.leak].reset_index(drop=True)

    def duplicate_groups(self) -> list[list[str]]:
        """The keys of each exact-duplicate group, largest group first."""
        dup = self.frame[self.frame.duplicate_group >= 0]
        groups = [list(g.index) for _, g in dup.groupby("duplicate_group", sort=True)]
        return sorted(groups, key=len, reverse=True)

    def table(self) -> pd.DataFrame:
        """The CSV table: one row per flagged sample, most flags first, then by outlier score.

        Columns: filename (the relative path), flags, outlier_score, nn_distance,
        near_partner, duplicate_group, duplicate_of, group, leak, near_by (what found the
        near-duplicate: embedding, descriptor or both), then the pixel statistics.
        """
        f = self.frame
        relpath = f.relpath.to_dict()
        leaking = set(self.leaks.key_a) | set(self.leaks.key_b)
        out = pd.DataFrame({
            "filename": f.relpath,
            "flags": f["flags"],
            "outlier_score": f.outlier_score,
            "nn_distance": f.nn_distance,
            "near_partner": [relpath.get(k, "") for k in f.near_partner],
            "duplicate_group": f.duplicate_group,
            "duplicate_of": [relpath.get(k, "") for k in f.duplicate_of],
            "group": f.group,
            "leak": [k in leaking for k in f.index],
            "near_by": f.near_by,
            **{c: f[c] for c in FRAME_STATS},
        })  # fmt: skip
        out = out[f["flags"].to_numpy() != ""]
        order = np.lexsort((-out.outlier_score.fillna(-1).to_numpy(),
                            -out["flags"].str.count(",").to_numpy()))  # fmt: skip
        ranked: pd.DataFrame = out.iloc[order].reset_index(drop=True)
        return ranked

    def write_csv(self, path: str | Path) -> int:
        """Writes ``table()`` as CSV, atomically (text cells made formula-safe).

        Returns:
            The number of rows written.
        """
        t = self.table()
        atomic_write_text(path, safe_frame(t).to_csv(index=False))
        return len(t)


def pixel_flags(stats: pd.DataFrame, t: FlagThresholds) -> tuple[pd.DataFrame, dict[str, float]]:
    """The pixel flags of each measured sample, and the absolute cutoffs they resolved to.

    Args:
        stats: Columns ``FRAME_STATS`` (NaN where a sample was not measured).
        t: The thresholds.

    Returns:
        A boolean frame (columns ``PIXEL_FLAGS``, same index; False where unmeasured) and the
        cutoffs: dim_p99, saturated_share, blurry_sharpness, empty_foreground, area_low,
        area_high, max_aspect.
    """
    measured = stats.width.notna()
    m = stats[measured]
    area = m.width.astype(float) * m.height.astype(float)
    median_area = float(area.median()) if len(m) else float("nan")
    cut = {
        "dim_p99": t.dim_ratio * float(m.p99.median()) if len(m) else float("nan"),
        "saturated_share": t.saturated_share,
        "blurry_sharpness": t.blurry_ratio * float(m.sharpness.median())
        if len(m) else float("nan"),
        "empty_foreground": t.empty_foreground,
        "area_low": median_area / t.size_ratio,
        "area_high": median_area * t.size_ratio,
        "max_aspect": t.max_aspect,
    }  # fmt: skip
    aspect = np.maximum(m.width, m.height) / np.maximum(np.minimum(m.width, m.height), 1)
    out = pd.DataFrame(False, index=stats.index, columns=list(PIXEL_FLAGS))
    out.loc[m.index, "dim"] = (m.p99 < cut["dim_p99"]).to_numpy()
    out.loc[m.index, "saturated"] = (m[_SATURATED] > t.saturated_share).to_numpy()
    out.loc[m.index, "blurry"] = (m.sharpness < cut["blurry_sharpness"]).to_numpy()
    out.loc[m.index, "empty"] = (m.foreground < t.empty_foreground).to_numpy()
    odd = (area < cut["area_low"]) | (area > cut["area_high"]) | (aspect > t.max_aspect)
    out.loc[m.index, "odd_size"] = odd.to_numpy()
    return out.astype(bool), cut


def compute_flags(
    samples: pd.DataFrame,
    stats: pd.DataFrame,
    keys: Sequence[str] | None,
    vectors: np.ndarray[Any, Any] | None,
    thresholds: FlagThresholds,
    *,
    group_by: str | None = None,
    exact_below: int = EXACT_BELOW,
    embedding_version: str | None = None,
    neighbours: Neighbours | None = None,
    descriptors: Descriptors | None = None,
    descriptor_neighbours: Neighbours | None = None,
) -> FlagsResult:
    """Every flag of every sample from stored statistics and an embedding set.

    Args:
        samples: ``Project.samples()`` rows to flag (columns key, relpath, metadata).
        stats: ``ImageStatsStore.frame()`` (key plus ``STAT_COLUMNS``).
        keys: The embedding set's keys (None: no embeddings).
        vectors: Its vectors, shape (len(keys), dim).
        thresholds: The thresholds.
        group_by: The metadata column of the grouped split (None: no leak check).
        exact_below: Exact neighbour search below this many vectors, HNSW above.
        embedding_version: Recorded in the result.
        neighbours: The ``nearest_neighbours`` of the rows of ``vectors`` whose key is in
            ``samples`` (``flag_rows``), at least ``thresholds.k`` of them, computed earlier (the
            app keeps them while thresholds move); None computes them.
        descriptors: Shift-tolerant pixel descriptors (``shift_descriptor``) of samples; the
            near-duplicates they find count too. None: embeddings only.
        descriptor_neighbours: The ``nearest_neighbours`` of the rows of
            ``descriptors.subset(samples.key)``, at least ``thresholds.k`` of them, computed
            earlier (as ``neighbours``); None computes them.

    Returns:
        The ``FlagsResult``.
    """
    t = thresholds
    frame = samples.set_index("key")[["relpath"]].copy()
    frame["group"] = samples.set_index("key")[group_by].astype(str) if group_by else ""
    stats = stats.set_index("key")[list(STAT_COLUMNS)].rename(columns={"saturated": _SATURATED})
    frame = frame.join(stats, how="left")
    flags, cutoffs = pixel_flags(frame, t)
    for name in PIXEL_FLAGS:
        frame[name] = flags[name]
    sha = frame.pixel_sha.fillna("").astype(str).tolist()
    frame["duplicate_group"] = exact_duplicate_groups(sha)
    first = frame[frame.duplicate_group >= 0].reset_index().groupby("duplicate_group").key.agg(list)
    frame["duplicate_of"] = ""
    for members in first:
        for i, k in enumerate(members):
            frame.loc[k, "duplicate_of"] = members[1] if i == 0 else members[0]
    frame["duplicate"] = frame.duplicate_group >= 0
    frame["outlier_score"] = np.nan
    frame["nn_distance"] = np.nan
    frame["nn_key"] = ""
    frame["near_duplicate"] = False
    frame["outlier"] = False
    frame["near_partner"] = ""
    frame["near_by"] = ""
    pair_rows: list[tuple[str, str, float, bool, str]] = []
    exact_search = True
    if keys is not None and vectors is not None and len(keys):
        rows = flag_rows(keys, frame.index)
        ekeys = [keys[i] for i in rows]
        if neighbours is None:
            nb = nearest_neighbours(np.asarray(vectors)[rows], t.k, exact_below=exact_below)
        else:
            kk = min(t.k, neighbours.indices.shape[1])
            nb = Neighbours(neighbours.distances[:, :kk], neighbours.indices[:, :kk],
                            neighbours.exact)  # fmt: skip
        exact_search = nb.exact
        scores = knn_outlier_scores(nb)
        nn = nb.distances[:, 0]
        cutoffs["near_distance"] = t.near_duplicate_ratio * neighbour_scale(nb)
        cutoffs["outlier_score"] = percentile_cutoff(scores, t.outlier_percentile)
        frame.loc[ekeys, "outlier_score"] = scores
        frame.loc[ekeys, "nn_distance"] = np.where(np.isfinite(nn), nn, np.nan)
        frame.loc[ekeys, "nn_key"] = [ekeys[j] if j >= 0 else "" for j in nb.indices[:, 0]]
        near_emb = nn <= cutoffs["near_distance"]
        frame.loc[ekeys, "near_duplicate"] = near_emb
        frame.loc[ekeys, "near_partner"] = np.where(near_emb, frame.loc[ekeys, "nn_key"], "")
        frame.loc[ekeys, "near_by"] = np.where(near_emb, "embedding", "")
        frame.loc[ekeys, "outlier"] = scores > cutoffs["outlier_score"]
        near = near_duplicate_pairs(nb, cutoffs["near_distance"])
        pair_rows += [(ekeys[a], ekeys[b], d, False, "embedding")
                      for a, b, d in near.itertuples(index=False)]  # fmt: skip
    if descriptors is not None:
        pair_rows += _descriptor_near(frame, descriptors, t, exact_below, cutoffs,
                                      descriptor_neighbours)  # fmt: skip
    for members in first:
        pair_rows += [(a, b, 0.0, True, "same pixels")
                      for i, a in enumerate(members) for b in members[i + 1 :]]  # fmt: skip
    pairs = pd.DataFrame(pair_rows, columns=["key_a", "key_b", "distance", "exact", "found_by"])
    pairs["key_a"], pairs["key_b"] = (
        np.minimum(pairs.key_a, pairs.key_b), np.maximum(pairs.key_a, pairs.key_b)
    )  # fmt: skip
    # A pair found twice keeps one row: exact first, else by embedding (it has a distance),
    # naming everything that found it.
    found = pairs.groupby(["key_a", "key_b"]).found_by.agg(_found_by)
    pairs = pairs.sort_values(["exact", "distance"], ascending=[False, True], kind="stable")
    pairs = pairs.drop_duplicates(["key_a", "key_b"])
    pairs["found_by"] = [found[(a, b)] for a, b in zip(pairs.key_a, pairs.key_b, strict=True)]
    pairs = pairs.sort_values(["distance", "key_a", "key_b"], kind="stable")
    group = frame.group.to_dict()
    pairs["group_a"] = [group[k] for k in pairs.key_a]
    pairs["group_b"] = [group[k] for k in pairs.key_b]
    pairs["leak"] = bool(group_by) & (pairs.group_a != pairs.group_b)
    frame["flags"] = [
        ",".join(n for n, on in zip(FLAG_NAMES, row, strict=True) if on)
        for row in frame[list(FLAG_NAMES)].itertuples(index=False)
    ]
    for name in FLAG_NAMES:
        frame[name] = frame[name].astype(bool)
    return FlagsResult(frame, pairs.reset_index(drop=True), cutoffs, t, group_by,
                       embedding_version, exact_search)  # fmt: skip


def _found_by(sources: pd.Series) -> str:
    """One pair's finders, joined: ``same pixels`` wins; else embedding, descriptor, or both."""
    seen = set(sources)
    if "same pixels" in seen:
        return "same pixels"
    return "+".join(s for s in ("embedding", "descriptor") if s in seen)


def _descriptor_near(
    frame: pd.DataFrame,
    descriptors: Descriptors,
    t: FlagThresholds,
    exact_below: int,
    cutoffs: dict[str, float],
    neighbours: Neighbours | None,
) -> list[tuple[str, str, float, bool, str]]:
    """Marks the near-duplicates found by descriptor in ``frame``; returns their pairs."""
    d = descriptors.subset(list(frame.index))
    if len(d.keys) < 2:
        return []
    if neighbours is None:
        nb = nearest_neighbours(d.vectors, t.k, exact_below=exact_below)
    else:
        kk = min(t.k, neighbours.indices.shape[1])
        nb = Neighbours(neighbours.distances[:, :kk], neighbours.indices[:, :kk],
                        neighbours.exact)  # fmt: skip
    cutoffs["shift_distance"] = t.shift_ratio * neighbour_scale(nb)
    near = near_duplicate_pairs(nb, cutoffs["shift_distance"])
    first = nb.distances[:, 0] <= cutoffs["shift_distance"]
    for row in np.flatnonzero(first):
        key = d.keys[row]
        if frame.at[key, "near_by"] == "":
            frame.at[key, "near_partner"] = d.keys[int(nb.indices[row, 0])]
            frame.at[key, "near_by"] = "descriptor"
        elif frame.at[key, "near_by"] == "embedding":
            frame.at[key, "near_by"] = "embedding+descriptor"
        frame.at[key, "near_duplicate"] = True
    return [(d.keys[a], d.keys[b], float("nan"), False, "descriptor")
            for a, b, _ in near.itertuples(index=False)]  # fmt: skip


def neighbour_scale(neighbours: Neighbours) -> float:
    """The median distance to the k-th (farthest kept) nearest neighbour (0 without any).

    The near-duplicate distance scale: robust to duplicate pairs and small duplicate groups,
    which pull a first-neighbour median towards 0.
    """
    d = neighbours.distances
    if d.shape[1] == 0:
        return 0.0
    n_found = np.isfinite(d).sum(axis=1)  # distances ascend; missing ones are inf at the end
    has = n_found > 0
    if not has.any():
        return 0.0
    return float(np.median(d[np.flatnonzero(has), n_found[has] - 1]))


def flag_rows(keys: Sequence[str], flagged: Iterable[str]) -> NDArray[np.intp]:
    """The rows of an embedding set's ``keys`` whose sample is among ``flagged`` (in order)."""
    wanted = set(flagged)
    return np.array([i for i, k in enumerate(keys) if k in wanted], dtype=np.intp)


def fill_missing_stats(project: Project, progress: Progress | None = None) -> int:
    """Decodes the good samples that have no pixel statistics yet, measures and stores them.

    Unreadable files are skipped (the embedding step marks them bad). Reads run on threads,
    so a remote datasource keeps several requests in flight.

    Args:
        project: The project, opened writable.
        progress: Called with the fraction done.

    Returns:
        How many samples were measured.
    """
    missing = project.image_stats.missing()
    if not missing:
        if progress:
            progress(1.0)
        return 0
    source = project.source()

    def one(rel: str) -> ImageStats | None:
        try:
            return measure(decode_image(source.read_bytes(rel), rel))
        except (ImageDecodeError, DatasourceError, ValueError):
            return None

    done = 0
    step = 256
    with ThreadPoolExecutor(max_workers=4) as pool:
        for start in range(0, len(missing), step):
            chunk = missing[start : start + step]
            found = dict(zip([k for k, _ in chunk], pool.map(one, [r for _, r in chunk]),
                             strict=True))  # fmt: skip
            stats = {k: s for k, s in found.items() if s is not None}
            project.image_stats.put(stats, computed_at=utc_now())
            done += len(stats)
            if progress:
                progress(min(start + step, len(missing)) / len(missing))
    return done


def missing_descriptors(project: Project) -> list[tuple[str, str]]:
    """(key, relpath) of every good sample without a stored shift-tolerant descriptor."""
    stored = set(load_descriptors(project.arrays_dir).keys)
    s = project.samples()
    s = s[s.status == "ok"]
    return [(k, r) for k, r in zip(s.key, s.relpath, strict=True) if k not in stored]


def fill_missing_descriptors(project: Project, progress: Progress | None = None) -> int:
    """Decodes the good samples without a shift-tolerant descriptor and stores theirs.

    The store keeps the descriptors of the current good samples only (those of removed
    samples are dropped). Unreadable files are skipped. Costs a decode plus about 0.4 ms per
    crop, once per sample.

    Args:
        project: The project.
        progress: Called with the fraction done.

    Returns:
        How many descriptors were computed.
    """
    missing = missing_descriptors(project)
    s = project.samples()
    good = s.key[s.status == "ok"].tolist()
    stored = load_descriptors(project.arrays_dir)
    if not missing:
        if len(stored.keys) != len(good):  # samples went away: drop theirs
            save_descriptors(project.arrays_dir, stored.subset(good))
        if progress:
            progress(1.0)
        return 0
    source = project.source()

    def one(rel: str) -> NDArray[np.float32] | None:
        try:
            return shift_descriptor(decode_image(source.read_bytes(rel), rel))
        except (ImageDecodeError, DatasourceError, ValueError):
            return None

    found: dict[str, NDArray[np.float32]] = dict(zip(stored.keys, stored.vectors, strict=True))
    done = 0
    step = 256
    with ThreadPoolExecutor(max_workers=4) as pool:
        for start in range(0, len(missing), step):
            chunk = missing[start : start + step]
            for (k, _), v in zip(chunk, pool.map(one, [r for _, r in chunk]), strict=True):
                if v is not None:
                    found[k] = v
                    done += 1
            if progress:
                progress(min(start + step, len(missing)) / len(missing))
    keys = [k for k in good if k in found]
    vectors = np.stack([found[k] for k in keys]) if keys else np.zeros((0, DESCRIPTOR_DIM))
    save_descriptors(project.arrays_dir, Descriptors(keys, vectors.astype(np.float32)))
    return done


def project_flags(
    project: Project,
    thresholds: FlagThresholds,
    *,
    group_by: str | None = None,
    exact_below: int = EXACT_BELOW,
    inline_max: int | None = None,
) -> FlagsResult | None:
    """The flags of a project's good samples from what is stored (nothing is decoded).

    The neighbour graphs behind near-duplicates and outliers are read from the project when
    stored (``graph``), else computed and stored.

    Args:
        project: The project.
        thresholds: The thresholds.
        group_by: The metadata column of the grouped split; None: the default (BPS: well).
        exact_below: Exact neighbour search below this many vectors, HNSW above.
        inline_max: Compute a graph that is not stored only up to this many rows, and
            without storing it; above it the flags that need it are left out (False, no
            outlier score). None: always, and store it.

    Returns:
        The ``FlagsResult``, or None when the project has neither statistics nor embeddings.
    """
    samples = project.samples()
    samples = samples[samples.status == "ok"]
    stats = project.image_stats.frame()
    emb = load_embedding_set(project)
    if stats.empty and emb is None:
        return None
    col = group_column(samples, group_by)
    keys: list[str] | None = None
    vectors: NDArray[np.floating] | None = None
    neighbours: Neighbours | None = None
    if emb is not None:
        rows = flag_rows(emb.keys, samples.key)
        graph = neighbour_graph(
            project.arrays_dir, "embedding", emb.version, emb.vectors[rows], rows_digest(rows),
            thresholds.k, compute=inline_max is None or len(rows) <= inline_max,
            store=inline_max is None, exact_below=exact_below,
        )  # fmt: skip
        if graph is not None:
            keys, vectors, neighbours = emb.keys, emb.vectors, graph
    descriptors: Descriptors | None = load_descriptors(project.arrays_dir)
    descriptor_nb: Neighbours | None = None
    if descriptors is not None and descriptors.keys:
        d = descriptors.subset(samples.key.tolist())
        token = "-".join(map(str, descriptors_token(project.arrays_dir)))
        descriptor_nb = None if len(d.keys) < 2 else neighbour_graph(
            project.arrays_dir, "descriptor", token, d.vectors, rows_digest(d.keys),
            thresholds.k, compute=inline_max is None or len(d.keys) <= inline_max,
            store=inline_max is None, exact_below=exact_below,
        )  # fmt: skip
        if len(d.keys) >= 2 and descriptor_nb is None:
            descriptors = None
    else:
        descriptors = None
    return compute_flags(
        samples, stats, keys, vectors, thresholds, group_by=col, exact_below=exact_below,
        embedding_version=emb.version if emb is not None else None, neighbours=neighbours,
        descriptors=descriptors, descriptor_neighbours=descriptor_nb,
    )  # fmt: skip


def facet_columns(project: Project) -> pd.DataFrame | None:
    """The flags as columns to filter and colour by, with the default thresholds.

    Pages show these on every load, so the neighbour graphs are computed here only up to
    ``graph.INLINE_MAX`` samples; a larger project shows its near-duplicate and outlier
    flags once a graph is stored (the Quality page or ``bps-labeler flags``).

    Args:
        project: The project.

    Returns:
        Indexed by sample key: ``outlier_score`` (float, NaN without embeddings), one boolean
        column per flag (``FLAG_NAMES``) and ``flags`` (the set flags, comma-joined); None when
        the project has neither pixel statistics nor embeddings.
    """
    result = project_flags(project, FlagThresholds(), inline_max=INLINE_MAX)
    if result is None:
        return None
    out: pd.DataFrame = result.frame[["outlier_score", *FLAG_NAMES, "flags"]].copy()
    return out


def threshold_fields() -> tuple[str, ...]:
    """The names of ``FlagThresholds``' fields, in order."""
    return tuple(f.name for f in fields(FlagThresholds))


__all__ = [
    "FLAG_HELP", "FLAG_NAMES", "FRAME_STATS", "PIXEL_FLAGS", "FlagThresholds", "FlagsResult",
    "compute_flags", "facet_columns", "fill_missing_descriptors", "fill_missing_stats",
    "flag_rows", "missing_descriptors", "neighbour_scale",
    "pixel_flags", "project_flags", "threshold_fields",
]  # fmt: skip
