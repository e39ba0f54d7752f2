"""Sample facets: one key-indexed frame of what samples can be filtered and coloured by.

The frame is assembled from providers, each a callable ``Project -> pd.DataFrame | None``
returning columns indexed by sample key (None: nothing to add, e.g. no model yet). The built-in
providers give the current label, the current model's prediction and confidence and the tags;
adding a provider (label issues, quality flags) is one line in ``PROVIDERS``. Filters are
generic over the columns: numeric ones filter by range, list-valued ones (tags) by any-of, every
other one by its values, so a new provider's columns are filterable with no other change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bps_core.arrays import load_keys
from bps_core.embeddings.store import RECOMPUTE, current_version
from bps_core.positions import IdPositions
from bps_core.project.store import Project
from bps_core.quality import flags, label_issues
from bps_core.quality.graph import graphs_token
from bps_core.quality.shift_descriptor import descriptors_token
from bps_core.selection.rounds import latest_model, predictions

#: A facet provider: columns per sample key (the frame's index), or None when it has nothing.
FacetProvider = Callable[[Project], "pd.DataFrame | None"]
#: How a facet column filters: a range, a set of values, or any of a list's items.
FacetKind = Literal["numeric", "categorical", "list"]
#: The value a missing label, prediction or other category shows as.
NONE = "(none)"


def label_facet(project: Project) -> pd.DataFrame:
    """The current label of each labeled sample (column ``label``, categorical)."""
    return _label_part(project.current_labels())


def _label_part(labels: pd.DataFrame) -> pd.DataFrame:
    """The label column of ``Project.current_labels`` by key, categorical.

    A facets frame places its codes on a million rows, not their text (about 40 ms of every
    label at 1M samples), and its filters read its few distinct values.
    """
    return pd.DataFrame(
        {"label": pd.Categorical(labels.label.array)}, index=pd.Index(labels.key.array, name="key")
    )


def prediction_facet(project: Project) -> pd.DataFrame | None:
    """The current model's predicted class and its probability (``prediction``, ``confidence``).

    The current model is the latest trained on the current embedding set; None without one (a
    model of another set is stale and never shown as current).
    """
    version = current_version(project)
    model = latest_model(project, version) if version is not None else None
    record = project.embedding_sets.get(version) if version is not None else None
    if model is None or record is None:
        return None
    probs = predictions(project, model)
    path = project.folder / record.path
    keys = load_keys(path.with_name(f"{version}.keys.json"), fix=RECOMPUTE, n=len(probs))
    classes = np.asarray(model.classes, dtype=object)
    return pd.DataFrame(
        {"prediction": classes[probs.argmax(axis=1)], "confidence": probs.max(axis=1)},
        index=pd.Index(keys, name="key"),
    )


def tag_facet(project: Project) -> pd.DataFrame | None:
    """The current tags of each tagged sample, or None before the first tag.

    Columns: ``tags`` (a sorted list) and ``tag_names`` (comma-joined, for tables and CSVs).
    """
    current = project.tags.current()
    if current.empty:
        return None
    lists = current.groupby("key", sort=False).tag.agg(lambda s: sorted(s))
    return pd.DataFrame({"tags": lists, "tag_names": lists.map(", ".join)})


#: The last flag columns per project folder, with the inputs they came from (see
#: ``quality_facet``). A flag depends on pixels and neighbours only, never on labels or tags.
_FLAGS_MEMO: dict[str, tuple[tuple[object, ...], pd.DataFrame | None]] = {}


def _flags_inputs(project: Project) -> tuple[object, ...]:
    return (project.samples_version(), project.image_stats.count(), current_version(project),
            descriptors_token(project.arrays_dir), graphs_token(project.arrays_dir))  # fmt: skip


def quality_facet(project: Project) -> pd.DataFrame | None:
    """The quality flags with their default thresholds (``flags.facet_columns``).

    Columns: ``outlier_score`` and ``flags``, the list of the flags a sample has (filtered by
    any-of, like tags).

    The neighbour search behind near-duplicates and outliers takes seconds at 50k samples and
    minutes at a million, so it runs here only up to ``quality.graph.INLINE_MAX`` samples
    (above, a graph stored by the Quality page or ``bps-labeler flags`` is used, else those
    flags are left out), and the columns are kept per project until the samples, the pixel
    statistics, the stored descriptors or graphs or the current embedding set change:
    labeling or tagging, which rebuild the facets, never redo it.
    """
    folder = str(project.folder)
    inputs = _flags_inputs(project)
    kept = _FLAGS_MEMO.get(folder)
    if kept is not None and kept[0] == inputs:
        return kept[1]
    columns = flags.facet_columns(project)
    if columns is not None:  # one any-of list, as tags: the booleans would be 8 more filters
        names = columns["flags"].fillna("").astype(str)
        columns = pd.DataFrame(
            {"outlier_score": columns.outlier_score,
             "flags": [sorted(n for n in v.split(",") if n) for v in names.str.replace(" ", "")]},
            index=columns.index,
        )  # fmt: skip
    _FLAGS_MEMO[folder] = (inputs, columns)
    return columns


#: The providers ``sample_facets`` joins, in column order. Register another with one line.
PROVIDERS: tuple[FacetProvider, ...] = (
    label_facet,
    prediction_facet,
    tag_facet,
    label_issues.facet_columns,  # issue_score, suggested (cleanlab on out-of-fold predictions)
    quality_facet,  # outlier_score, flags and one boolean column per flag (quality flags)
)


def facets_version(project: Project) -> tuple[object, ...]:
    """A token that changes whenever a built-in facet may have; cache ``sample_facets`` on it.

    It follows the samples, labels, tags, verdicts, the current model, the pixel statistics,
    the stored shift-tolerant descriptors and the stored neighbour graphs (``quality.graph``).
    """
    version = current_version(project)
    model = latest_model(project, version) if version is not None else None
    return (
        project.samples_version(),
        project.labels_version(),
        project.tags.version(),
        project.reviews.version(),
        version,
        model.id if model is not None else None,
        project.image_stats.count(),
        descriptors_token(project.arrays_dir),
        graphs_token(project.arrays_dir),
    )


#: The providers whose columns follow the labels: a label, a clear, an undo or a verdict
#: changes them. ``build_facets`` keeps every other provider's columns across such a change.
LABEL_PROVIDERS: tuple[FacetProvider, ...] = (label_facet, label_issues.facet_columns)
#: ``frame.attrs`` key of a built facets frame: per column, a value that changes whenever the
#: column may (``build_facets``), so derived columns can be kept per column.
COLUMN_TOKENS = "bps_facet_column_tokens"


@dataclass(frozen=True)
class FacetParts:
    """The columns each provider gave, aligned with the facets frame's rows, for reuse.

    Attributes:
        index: The facets frame's index (the decodable samples' keys, in sample order).
        by_id: The rows of ``index`` by sample id (None when the samples had no
            ``sample_id``).
        columns: Per provider, its columns (name -> values, one per row), or None when it
            had nothing.
        tokens: Per provider, the token its columns were made under.
    """

    index: pd.Index
    columns: dict[FacetProvider, dict[str, pd.Series] | None]
    tokens: dict[FacetProvider, object]
    by_id: IdPositions | None = None  #: the index's rows by sample id (when the samples had it)


def kept_facets_token(version: tuple[object, ...]) -> tuple[object, ...]:
    """What the providers outside ``LABEL_PROVIDERS`` follow, out of a ``facets_version``.

    Everything but the labels and the verdicts: while it stays the same, ``build_facets`` may
    keep those providers' columns.
    """
    return (version[0], version[2], *version[4:])


def sample_facets(
    project: Project,
    providers: Sequence[FacetProvider] | None = None,
    *,
    samples: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every decodable sample with the columns of every provider, indexed by key.

    Samples a provider leaves out get a missing value (an empty list for ``tags``).

    Args:
        project: The project.
        providers: The providers to join (default: ``PROVIDERS`` as it is at the call).
        samples: ``project.samples()`` when the caller holds it already (the app's cached
            frame): reading it again parses every row's metadata, about 1 s at 77k samples,
            on each label a labeler gives.

    Returns:
        One row per sample with status ``ok``, in sample order; the index is the key.
    """
    return build_facets(project, providers, samples=samples)[0]


def build_facets(
    project: Project,
    providers: Sequence[FacetProvider] | None = None,
    *,
    samples: pd.DataFrame | None = None,
    labels: pd.DataFrame | None = None,
    label_ids: NDArray[np.int64] | None = None,
    keep: FacetParts | None = None,
    tokens: tuple[object, object] = (None, None),
) -> tuple[pd.DataFrame, FacetParts]:
    """``sample_facets``, keeping the columns of providers that did not change.

    Each provider's columns are aligned with the samples by position (one hash lookup per
    key the provider gives), not joined on the key index: at a million samples the joins
    cost seconds.

    Args:
        project: The project.
        providers: The providers to join (default: ``PROVIDERS`` as it is at the call).
        samples: ``project.samples()`` when the caller holds it already.
        labels: ``project.current_labels()`` when the caller holds it already: the label
            column is made from it instead of reading the labels again.
        label_ids: The sample id of each row of ``labels``: the label column is then placed
            by id (a binary search of integers), not by key text (a hash lookup per key:
            0.2 s for 100k labels at a million samples).
        keep: The parts of an earlier build whose providers outside ``LABEL_PROVIDERS`` are
            still current (the caller checks: same samples, tags, model, quality inputs):
            their columns are taken as they are.
        tokens: (what names the kept providers' inputs, what names the label providers'
            inputs): stored per column in ``frame.attrs[COLUMN_TOKENS]``.

    Returns:
        The facets frame (as ``sample_facets``) and its parts, to pass as ``keep`` next time.
    """
    if samples is None:
        samples = project.samples()
    if keep is not None:
        index, by_id = keep.index, keep.by_id
    else:
        ok = samples[samples.status == "ok"]
        index = pd.Index(ok.key.to_numpy(dtype=object), name="key")
        index.get_indexer(index[:1])  # its hash table built now (kept), not at the next label
        by_id = IdPositions(ok.sample_id.to_numpy()) if "sample_id" in ok.columns else None
    data: dict[str, pd.Series] = {}
    kept_columns: dict[FacetProvider, dict[str, pd.Series] | None] = {}
    kept_tokens: dict[FacetProvider, object] = {}
    column_tokens: dict[str, object] = {}
    for provider in PROVIDERS if providers is None else providers:
        follows_labels = provider in LABEL_PROVIDERS
        token = tokens[1] if follows_labels else tokens[0]
        if keep is not None and not follows_labels and provider in keep.columns:
            columns = keep.columns[provider]
        else:
            rows = None
            if provider is label_facet and labels is not None:
                part: pd.DataFrame | None = _label_part(labels)
                if label_ids is not None and by_id is not None:
                    rows = by_id.rows_of(label_ids)
            else:
                part = provider(project)
            columns = _aligned(index, part, rows)
        kept_columns[provider], kept_tokens[provider] = columns, token
        for name, values in (columns or {}).items():
            if name not in data:
                data[name] = values
                column_tokens[name] = (token, getattr(provider, "__qualname__", repr(provider)))
    frame = pd.DataFrame(data, index=index) if data else pd.DataFrame(index=index)
    frame.attrs[COLUMN_TOKENS] = column_tokens
    return frame, FacetParts(index, kept_columns, kept_tokens, by_id)


def _aligned(
    index: pd.Index, part: pd.DataFrame | None, rows: NDArray[np.intp] | None = None
) -> dict[str, pd.Series] | None:
    """The columns of ``part`` (indexed by key) on the rows of ``index``, a left join by position.

    A sample the part leaves out gets a missing value (an empty list in a list column, an
    empty text in ``tag_names``). ``rows``: the row of ``part`` for each row of ``index``
    (-1: none), when the caller knows them (by sample id).
    """
    if part is None or part.empty:
        return None
    if rows is None and not part.index.equals(index):
        # The part's keys looked up in the samples' (kept) hash table, then scattered: a part
        # covers a few of a million samples (the labels), so this beats looking every sample
        # up in the part. Keys are unique on both sides.
        where = index.get_indexer(part.index)
        found = where >= 0
        rows = np.full(len(index), -1, dtype=np.intp)
        rows[where[found]] = np.flatnonzero(found)
    out = {}
    for name in part.columns:
        values = part[name].array
        if rows is not None:
            values = pd.api.extensions.take(values, rows, allow_fill=True)
        column = pd.Series(values, index=index, name=name, copy=False)
        if has_lists(column):  # a sample a list provider left out holds an empty list
            column = pd.Series([v if isinstance(v, list) else [] for v in column],
                               index=index, name=name, dtype=object)  # fmt: skip
        if name == "tag_names":
            column = column.fillna("")
        out[name] = column
    return out


def facet_kind(values: pd.Series) -> FacetKind:
    """How a facet column filters: ``numeric`` (a range), ``list`` or ``categorical``."""
    if pd.api.types.is_bool_dtype(values):
        return "categorical"
    if pd.api.types.is_numeric_dtype(values):
        return "numeric"
    if has_lists(values):
        return "list"
    return "categorical"


def has_lists(values: pd.Series) -> bool:
    """Whether any value of ``values`` is a list (only object columns can hold one)."""
    if values.dtype != object:
        return False
    return any(isinstance(v, list) for v in values.array)


def facet_columns(frame: pd.DataFrame) -> dict[str, FacetKind]:
    """Each filterable column of a facets frame and its kind.

    ``tag_names`` is the text twin of ``tags`` and left out.
    """
    return {c: facet_kind(frame[c]) for c in frame.columns if c != "tag_names"}


def facet_values(values: pd.Series) -> list[str]:
    """The values a categorical or list facet can be filtered by, as sorted text.

    A missing value shows as ``NONE`` (last).
    """
    if facet_kind(values) == "list":
        return sorted({str(v) for items in values for v in items})
    # One str() per distinct value, not per row; no filtered copy of a million rows.
    distinct = values.unique()
    missing = np.asarray(pd.isna(distinct), dtype=bool)
    shown = {str(v) for v, gone in zip(distinct, missing, strict=True) if not gone}
    if missing.any():
        shown.add(NONE)
    return sorted(shown, key=lambda v: (v == NONE, v))


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA


@dataclass(frozen=True)
class FacetFilter:
    """A condition on one facet column.

    Attributes:
        column: The facet column.
        values: Categorical and list facets: the values to keep (a list facet keeps samples
            holding any of them); ``NONE`` keeps missing values (a sample without tags).
        low: Numeric facets: the smallest value kept (None: no bound).
        high: Numeric facets: the largest value kept (None: no bound).
    """

    column: str
    values: tuple[str, ...] = field(default_factory=tuple)
    low: float | None = None
    high: float | None = None


def filter_mask(frame: pd.DataFrame, filters: Sequence[FacetFilter]) -> pd.Series:
    """Which rows of a facets frame pass every filter (a boolean series on its index).

    A filter on a column the frame lacks keeps nothing (its provider is gone, so nothing can
    match); a numeric range drops samples with no value; an empty filter keeps everything.
    """
    keep = pd.Series(True, index=frame.index)
    for f in filters:
        if f.column not in frame.columns:
            return pd.Series(False, index=frame.index)
        col = frame[f.column]
        kind = facet_kind(col)
        if kind == "numeric":
            if f.low is None and f.high is None:
                continue
            num = pd.to_numeric(col, errors="coerce")
            cond = num.notna()
            if f.low is not None:
                cond &= num >= f.low
            if f.high is not None:
                cond &= num <= f.high
            keep &= cond
        elif f.values:
            wanted = set(f.values)
            if kind == "list":
                keep &= pd.Series(
                    [bool(wanted & set(items)) or (NONE in wanted and not items) for items in col],
                    index=frame.index,
                )
            else:
                text = col.map(lambda v: NONE if _missing(v) else str(v))
                keep &= text.isin(wanted)
    return keep


def filtered_keys(frame: pd.DataFrame, filters: Sequence[FacetFilter]) -> list[str]:
    """The keys of the rows of a facets frame that pass every filter, in frame order."""
    return [str(k) for k in frame.index[filter_mask(frame, filters)]]
