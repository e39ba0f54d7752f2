"""The facet filter: one control per facet column, shared by Explore (Map, Browse) and the Queue.

Generic over the columns ``bps_core.facets`` provides: a numeric column (confidence, an issue
score) gets a range slider, a list column (tags) an any-of multiselect, every other column
(label, prediction, a boolean flag) a multiselect of its values. A provider registered later
shows up here with no change.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np
import pandas as pd
import streamlit as st

from bps_app import state
from bps_app.figures import natural_key
from bps_core.facets import COLUMN_TOKENS
from bps_core.verbs import (
    FACET_NONE,
    FacetFilter,
    FacetKind,
    facet_columns,
    facet_values,
    filter_mask,
)

#: How the filter names a column (others show their own name).
TITLES = {"label": "Label", "prediction": "Prediction", "confidence": "Confidence",
          "tags": "Tags", "issue_score": "Issue score", "outlier_score": "Outlier score",
          "suggested": "Suggested label", "flags": "Flags"}  # fmt: skip
#: Numeric columns with more distinct values than this are binned to colour the map.
_MAX_COLOUR_VALUES = 12
_BINS = 5


def title(column: str) -> str:
    """How a facet column is named on screen."""
    return TITLES.get(column, column.replace("_", " "))


def facet_filters(frame: pd.DataFrame, place: str) -> list[FacetFilter]:
    """Draws the filter controls for every facet column of ``frame`` and returns the filters
    chosen (an untouched control filters nothing).

    Args:
        frame: The facets frame (``cache.facets``), indexed by key.
        place: Where the controls are (``state.FILTER_PLACES``); keys the widgets.
    """
    choices = facet_choices(frame)
    if not choices:
        return []
    out: list[FacetFilter] = []
    cols = st.columns(min(len(choices), 4))
    for i, choice in enumerate(choices):
        box = cols[i % len(cols)]
        column = choice.column
        key = state.filter_widget_key(place, column)
        if choice.kind == "numeric":
            low, high = choice.bounds
            chosen = box.slider(title(column), low, high, (low, high), key=key)
            if tuple(chosen) != (low, high):
                out.append(FacetFilter(column, low=float(chosen[0]), high=float(chosen[1])))
        else:
            picked = box.multiselect(
                title(column), list(choice.options), key=key,
                help="Samples holding any of these" if choice.kind == "list" else None,
            )  # fmt: skip
            if picked:
                out.append(FacetFilter(column, values=tuple(picked)))
    return out


@dataclass(frozen=True)
class FacetChoice:
    """What one facet filter control offers: a range (numeric) or the values to pick."""

    column: str
    kind: FacetKind
    options: tuple[str, ...] = ()
    bounds: tuple[float, float] = (0.0, 1.0)


#: The choices of the last few facet frames, by object: ``cache.facets`` hands every rerun the
#: same read-only frame until a facet changes, so its choices (a pass over every value of
#: every column, about 0.3 s at 77k samples) are worked out once per version, not per rerun.
_CHOICES: dict[int, tuple[pd.DataFrame, Any]] = {}
_COLOURS: dict[int, tuple[pd.DataFrame, Any]] = {}
_CHOICES_KEPT = 4
_CHOICES_LOCK = threading.Lock()


def facet_choices(frame: pd.DataFrame) -> list[FacetChoice]:
    """The filter controls a facets frame gets, one per usable column, in column order.

    Remembered per frame object (the frame is held, so its id is not reused while kept): the
    frame must not be modified after the first call, as ``cache.facets``'s is not.
    """
    return _per_frame(_CHOICES, frame, _facet_choices)


T = TypeVar("T")


def _per_frame(
    memo: dict[int, tuple[pd.DataFrame, Any]],
    frame: pd.DataFrame,
    make: Callable[[pd.DataFrame], T],
) -> T:
    """``make(frame)``, remembered in ``memo`` for the last few frame objects (each held, so
    its id is not reused while kept)."""
    with _CHOICES_LOCK:
        kept = memo.get(id(frame))
    if kept is not None and kept[0] is frame:
        return cast(T, kept[1])
    made = make(frame)
    with _CHOICES_LOCK:
        while len(memo) >= _CHOICES_KEPT:
            memo.pop(next(iter(memo)))
        memo[id(frame)] = (frame, made)
    return made


def _facet_choices(frame: pd.DataFrame) -> list[FacetChoice]:
    out = []
    for column, kind in facet_columns(frame).items():
        choice = _per_column(_CHOICE_COLUMNS, frame, column, kind, _facet_choice)
        if choice is not None:
            out.append(choice)
    return out


def _facet_choice(values: pd.Series, kind: FacetKind) -> FacetChoice | None:
    column = str(values.name)
    if not _usable(values, kind):
        return None
    if kind == "numeric":
        return FacetChoice(
            column, kind, bounds=_bounds(pd.to_numeric(values, errors="coerce").dropna())
        )
    options = sorted(facet_values(values), key=_option_order)
    if kind == "list":
        options.append(FACET_NONE)
    return FacetChoice(column, kind, options=tuple(options))


def apply(frame: pd.DataFrame, filters: list[FacetFilter], keys: pd.Series) -> pd.Series:
    """Which of ``keys`` pass ``filters`` (a boolean series aligned with ``keys``)."""
    if not filters:
        return pd.Series(True, index=keys.index)
    passing = frame.index[filter_mask(frame, filters)]
    return keys.isin(passing)


#: Facets the map does not offer as colours: the label-issue score has its own fixed-colour
#: "issue score".
_NOT_COLOURS = frozenset({"issue_score"})


def colour_options(frame: pd.DataFrame, facets: pd.DataFrame, first: tuple[str, ...]) -> list[str]:
    """What the map can be coloured by: ``first`` (in that order), then the facets, each once."""
    options = [c for c in first if c in frame.columns]
    options += [c for c in facets.columns if c in frame.columns and c not in options
                and c not in _NOT_COLOURS]  # fmt: skip
    return options


def colour_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The facet columns the map can be coloured by, as text categories per key: numeric ones
    with many values binned into ranges ("0.6-0.8"), tags comma-joined.

    Remembered per frame object like ``facet_choices`` (about 0.15 s per rerun at 77k
    samples otherwise): the frame returned is shared, and must not be modified.
    """
    return _per_frame(_COLOURS, frame, _colour_columns)


def _colour_columns(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=frame.index)
    for column, kind in facet_columns(frame).items():
        out[column] = _per_column(_COLOUR_COLUMNS, frame, column, kind, _colour_column)
    # Each column's token, as the facets' (a column's colours change only with it): the map
    # table places a column again only when its token changed (``tables.map_table``).
    tokens = frame.attrs.get(COLUMN_TOKENS, {})
    out.attrs[COLUMN_TOKENS] = {c: tokens[c] for c in out.columns if c in tokens}
    return out


def _colour_column(values: pd.Series, kind: FacetKind) -> pd.Series:
    if kind == "list":
        return values.map(", ".join).replace("", np.nan)
    if kind == "numeric" and values.nunique() > _MAX_COLOUR_VALUES:
        return _binned(pd.to_numeric(values, errors="coerce"))
    if pd.api.types.is_bool_dtype(values):
        return values.map({True: "yes", False: "no"})
    return values


#: Per facet column and its token (``COLUMN_TOKENS`` of a built facets frame): what was
#: derived from it. After a label only the label columns are new, so a million samples'
#: tags and flags are not joined and binned again.
_COLOUR_COLUMNS: dict[tuple[str, object], Any] = {}
_CHOICE_COLUMNS: dict[tuple[str, object], Any] = {}
_COLUMNS_KEPT = 32
_NOTHING = object()


def _per_column(
    memo: dict[tuple[str, object], Any],
    frame: pd.DataFrame,
    column: str,
    kind: FacetKind,
    make: Callable[[pd.Series, FacetKind], T],
) -> T:
    """``make(frame[column], kind)``, remembered per column token when the frame has one."""
    token = frame.attrs.get(COLUMN_TOKENS, {}).get(column)
    if token is None:
        return make(frame[column], kind)
    with _CHOICES_LOCK:
        kept = memo.get((column, token), _NOTHING)
    if kept is not _NOTHING:  # None is a result too (a column with nothing to filter by)
        return cast(T, kept)
    made = make(frame[column], kind)
    with _CHOICES_LOCK:
        while len(memo) >= _COLUMNS_KEPT:
            memo.pop(next(iter(memo)))
        memo[(column, token)] = made
    return made


def _binned(values: pd.Series) -> pd.Series:
    low, high = float(values.min()), float(values.max())
    if not math.isfinite(low) or low == high:
        return values.map(lambda v: f"{v:.2g}", na_action="ignore")
    edges = np.linspace(low, high, _BINS + 1)
    labels = [f"{a:.2g}-{b:.2g}" for a, b in zip(edges, edges[1:], strict=False)]
    binned = pd.cut(values, edges.tolist(), labels=labels, include_lowest=True)
    return pd.Series(binned, index=values.index).astype(object)


def _usable(values: pd.Series, kind: str) -> bool:
    if kind == "list":
        return any(len(v) for v in values)
    return bool(values.notna().any())


def _bounds(values: pd.Series) -> tuple[float, float]:
    low, high = float(values.min()), float(values.max())
    if low == high:
        high = low + 1.0
    return math.floor(low * 100) / 100, math.ceil(high * 100) / 100


def _option_order(value: str) -> tuple[bool, tuple[tuple[int, float | str], ...]]:
    return value == FACET_NONE, natural_key(value)
