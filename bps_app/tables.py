"""The tables pages show, built with pandas from the project's frames: joins, groupings and
one-line descriptions. Plain functions of plain values (no Streamlit), so tests call them."""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, TypeAlias

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bps_app.figures import UNLABELED
from bps_app.safe_text import md
from bps_core.facets import COLUMN_TOKENS
from bps_core.positions import IdPositions
from bps_core.selection.rounds import ModelRecord, Round
from bps_core.selection.strategies import Operation

CONDITION_COLUMNS = ["particle_type", "dose_Gy", "hr_post_exposure"]
THRESHOLD_OPS: dict[str, Operation] = {
    "≥": "BIGGER_EQUAL", ">": "BIGGER", "≤": "SMALLER_EQUAL", "<": "SMALLER",
}  # fmt: skip
"""The Rounds form's threshold operators, as shown -> as in a Lightly config."""
HIDDEN_COLUMNS = {"key", "sample_id", "relpath", "status", "error", "nucleus_key"}
"""Sample columns that are not metadata to balance or threshold on."""
Frame: TypeAlias = pd.DataFrame
"""A table as pages pass it around (so a page names the type without importing pandas)."""


def n_conditions(samples: pd.DataFrame) -> int:
    """How many BPS conditions (particle type x dose x time after exposure) the samples hold."""
    return int(samples.dropna(subset=["particle_type"]).groupby(CONDITION_COLUMNS).ngroups)


def map_table(
    frame: pd.DataFrame,
    labels: pd.DataFrame,
    model_columns: pd.DataFrame | None,
    round_column: pd.DataFrame,
    issue_column: pd.DataFrame | None = None,
    colours: pd.DataFrame | None = None,
    *,
    label_ids: NDArray[np.int64] | None = None,
) -> pd.DataFrame:
    """The map's points with what the map can be coloured by: the current label, the model's
    prediction and uncertainty (when a model of the current embedding exists), the latest
    round each sample was selected in, the binned label issue score (``issue_column``) and
    the ``colours`` columns (indexed by key) the frame does not have yet.

    Each is a left join on ``key``, made by position (``KeyPositions``): at a million points
    merging on the key text cost seconds per rerun. A part that is the same object as on an
    earlier rerun (the app's caches hand out the same frames) reuses its positions.
    ``label_ids``: the sample id of each row of ``labels`` (``cache.CurrentLabels``): the
    labels are then placed by id (a binary search of integers) where the frame has
    ``sample_id``, not by key (a hash lookup of each key's text: 0.3 s after a 100k-sample
    label at a million points).
    """
    positions = KeyPositions.of(frame)
    out = frame.copy(deep=False)  # copy on write: new columns never touch the cached frame
    if label_ids is not None and positions.by_id is not None:
        rows = positions.rows_of_ids(labels, label_ids)
    else:
        rows = positions.rows_of(labels, labels.key)
    _add_columns(out, rows, labels, ["label"], categorical=True)
    for part in (model_columns, issue_column, None if round_column.empty else round_column):
        if part is not None:
            _add_columns(out, positions.rows_of(part, part.key), part,
                         [c for c in part.columns if c != "key"])  # fmt: skip
    if colours is not None:
        new = [c for c in colours.columns if c not in out.columns]
        if new:  # a column whose token is unchanged is placed once (not again at each label)
            rows = positions.rows_of(colours, colours.index)
            tokens = colours.attrs.get(COLUMN_TOKENS, {})
            for name in new:
                out[name] = positions.placed(colours[name], tokens.get(name), rows)
    return out


def _add_columns(
    out: pd.DataFrame,
    rows: NDArray[np.intp],
    part: pd.DataFrame,
    columns: list[str],
    *,
    categorical: bool = False,
) -> None:
    for name in columns:
        if name in out.columns:  # as a merge would: both kept, suffixed
            out.rename(columns={name: f"{name}_x"}, inplace=True)
            name_out = f"{name}_y"
        else:
            name_out = name
        if categorical:
            out[name_out] = placed_categories(part, name, rows)
        else:
            out[name_out] = pd.api.extensions.take(part[name].array, rows, allow_fill=True)


_MEMO_LOCK = threading.Lock()  # sessions run in threads: the memos below are shared


#: The codes and categories of the last few label columns, per table object and column (the
#: labels frame is held per label version, so its column is factorized once, not per rerun).
_CODES: dict[tuple[int, str], tuple[pd.DataFrame, NDArray[np.signedinteger[Any]], pd.Index]] = {}


def placed_categories(part: pd.DataFrame, name: str, rows: NDArray[np.intp]) -> pd.Categorical:
    """Column ``name`` of ``part`` placed on a frame's rows by ``rows`` (a left join's
    positions, -1: none), as a categorical (missing where -1 or missing in ``part``).

    For a column of few distinct values over a million rows (the labels on the map): the
    column is factorized once per ``part`` object (which must not change while held) and only
    its small integer codes are placed; placing the text itself cost about 40 ms after each
    label, and the codes make the map's colour categories and a selection's counts cheaper.
    """
    held = (id(part), name)
    with _MEMO_LOCK:
        kept = _CODES.get(held)
    if kept is not None and kept[0] is part:
        codes, categories = kept[1], kept[2]
    else:
        raw, categories = pd.factorize(part[name], use_na_sentinel=True)
        codes = raw.astype(np.min_scalar_type(-max(len(categories), 1)), copy=False)
        with _MEMO_LOCK:
            while len(_CODES) >= 4:
                _CODES.pop(next(iter(_CODES)))
            _CODES[held] = (part, codes, categories)
    placed = codes.take(rows, mode="clip") if len(codes) else np.zeros(len(rows), codes.dtype)
    placed[rows < 0] = -1
    return pd.Categorical.from_codes(placed, dtype=pd.CategoricalDtype(categories))


class KeyPositions:
    """The row of each key of a frame's ``key`` column, for joins and lookups by position.

    Held per frame object (the map frame is cached and read-only), so the hash table of a
    million keys is built once per map, not per rerun.
    """

    _kept: dict[int, tuple[pd.DataFrame, KeyPositions]] = {}

    def __init__(self, keys: pd.Series, ids: pd.Series | None = None) -> None:
        self.index = pd.Index(keys.to_numpy(dtype=object))
        self.index.get_indexer(self.index[:1])  # builds the hash table now, not at a label
        self.n = len(keys)
        #: The rows by sample id, when the frame has ``sample_id`` (joins by integer).
        self.by_id = IdPositions(ids.to_numpy()) if ids is not None else None
        self._rows: dict[int, tuple[object, NDArray[np.intp]]] = {}
        self._placed: dict[tuple[object, object], tuple[NDArray[np.intp], Any]] = {}
        self._selections: dict[tuple[str, ...], tuple[NDArray[np.intp], NDArray[np.intp]]] = {}
        #: Per selection's rows (by ``id``, the rows held): its columns taken so far.
        self._selection_columns: dict[int, tuple[NDArray[np.intp], dict[str, pd.Series]]] = {}

    @classmethod
    def of(cls, frame: pd.DataFrame) -> KeyPositions:
        """The positions of ``frame``'s keys (and sample ids, when it has them), made once
        per frame object (the last few)."""
        kept = cls._kept.get(id(frame))
        if kept is not None and kept[0] is frame:
            return kept[1]
        made = cls(frame.key, frame["sample_id"] if "sample_id" in frame.columns else None)
        with _MEMO_LOCK:
            while len(cls._kept) >= 2:
                cls._kept.pop(next(iter(cls._kept)))
            cls._kept[id(frame)] = (frame, made)
        return made

    def positions(self, keys: list[str] | pd.Series | pd.Index) -> NDArray[np.intp]:
        """The row of each of ``keys`` (-1 where the frame has no such key)."""
        values = keys.to_numpy(dtype=object) if hasattr(keys, "to_numpy") else keys
        return np.asarray(self.index.get_indexer(values), dtype=np.intp)

    def selection(self, keys: list[str]) -> NDArray[np.intp]:
        """``positions`` of the distinct ``keys``, remembered for the last two selections: a
        selection stays the same over many reruns (0.2 s per rerun for a 100k lasso at a
        million points otherwise)."""
        return self._selection(keys)[0]

    def selection_rows(self, keys: list[str]) -> NDArray[np.intp]:
        """The rows of the distinct ``keys`` the frame has, in frame order (``selection``
        without the missing, sorted), remembered with it: sorting a 100k lasso's rows cost
        every rerun a few ms."""
        return self._selection(keys)[1]

    def selection_columns(
        self, keys: list[str], frame: pd.DataFrame, columns: list[str]
    ) -> dict[str, pd.Series]:
        """Columns ``columns`` of ``frame`` (the frame these positions were made of: see
        ``of``) at ``selection_rows(keys)``, each taken once per selection and remembered
        with it; read-only by copy on write."""
        rows = self.selection_rows(keys)
        with _MEMO_LOCK:
            kept = self._selection_columns.get(id(rows))
            if kept is None or kept[0] is not rows:
                kept = self._selection_columns[id(rows)] = (rows, {})
            taken = dict(kept[1])
        made = {c: frame[c].iloc[rows].reset_index(drop=True) for c in columns if c not in taken}
        if made:
            with _MEMO_LOCK:
                kept[1].update(made)
        return {c: made[c] if c in made else taken[c] for c in columns}

    def _selection(self, keys: list[str]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        held = tuple(keys)
        kept = self._selections.get(held)
        if kept is None:
            where = self.positions(list(dict.fromkeys(keys)))
            kept = (where, np.sort(where[where >= 0]))
            with _MEMO_LOCK:
                while len(self._selections) >= 2:
                    gone = self._selections.pop(next(iter(self._selections)))
                    self._selection_columns.pop(id(gone[1]), None)
                self._selections[held] = kept
        return kept

    def rows_of(self, part: object, keys: pd.Series | pd.Index) -> NDArray[np.intp]:
        """For each row of the frame, the row of ``part`` with its key (-1: none), as a left
        join on a part with unique keys; remembered for the last part objects (or, for keys
        given as an index, the last index objects: the facets keep theirs across labels)."""
        held = keys if isinstance(keys, pd.Index) else part  # an Index is immutable
        kept = self._rows.get(id(held))
        if kept is not None and kept[0] is held:
            return kept[1]
        where = self.positions(keys)
        found = where >= 0
        rows = np.full(self.n, -1, dtype=np.intp)
        rows[where[found]] = np.flatnonzero(found)
        self._keep_rows(held, rows)
        return rows

    def rows_of_ids(self, part: object, ids: NDArray[np.int64]) -> NDArray[np.intp]:
        """``rows_of`` for a part whose rows hold the sample ``ids`` (unique), joined by id;
        only for a frame with sample ids (``by_id``). Remembered per part object."""
        assert self.by_id is not None
        kept = self._rows.get(id(part))
        if kept is not None and kept[0] is part:
            return kept[1]
        rows = self.by_id.rows_of(ids)
        self._keep_rows(part, rows)
        return rows

    def placed(self, values: pd.Series, token: object, rows: NDArray[np.intp]) -> Any:
        """``values`` placed on the frame's rows by ``rows`` (``rows_of``), remembered per
        column name and ``token`` (the facets' column token: same token, same values) for
        the same ``rows`` object; None ``token``: placed every time."""
        if token is None:
            return pd.api.extensions.take(values.array, rows, allow_fill=True)
        held = (values.name, token)
        kept = self._placed.get(held)
        if kept is not None and kept[0] is rows:
            return kept[1]
        made = pd.api.extensions.take(values.array, rows, allow_fill=True)
        if isinstance(made, np.ndarray):
            made.flags.writeable = False  # shared by the reruns' tables: never changed
        with _MEMO_LOCK:
            while len(self._placed) >= 16:
                self._placed.pop(next(iter(self._placed)))
            self._placed[held] = (rows, made)
        return made

    def _keep_rows(self, held: object, rows: NDArray[np.intp]) -> None:
        with _MEMO_LOCK:
            while len(self._rows) >= 8:
                self._rows.pop(next(iter(self._rows)))
            self._rows[id(held)] = (held, rows)


def selected_rows(
    frame: pd.DataFrame,
    keys: list[str],
    positions: KeyPositions | None = None,
    *,
    base: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The rows of ``frame`` whose key is one of ``keys``, in frame order, once each (what
    ``frame.set_index("key").loc[index.intersection(keys)]`` gave, by position: a second at a
    million rows for a 100k lasso otherwise). ``positions``: those of a frame with the same
    keys in the same order (the cached map frame ``frame`` was made from); without, they are
    made for this call (a filtered frame is new on every rerun: holding it would push the
    map's own positions out).

    ``base``: that cached frame itself, when ``frame`` is ``base`` with columns added (the
    map table: ``base``'s columns unchanged, its rows in order); its positions are then
    ``KeyPositions.of(base)``, and the columns ``frame`` shares with it are taken once per
    selection and remembered (the key and file texts of a 100k lasso cost 70 ms a rerun at a
    million points); only the others (the label) are taken on every call.
    """
    if base is None:
        rows = (positions or KeyPositions(frame.key)).selection_rows(keys)
        return frame.iloc[rows].reset_index(drop=True)
    positions = KeyPositions.of(base)
    rows = positions.selection_rows(keys)
    fixed = positions.selection_columns(keys, base, [c for c in frame.columns if c in base])
    columns = {
        name: fixed[name] if name in fixed else frame[name].iloc[rows].reset_index(drop=True)
        for name in frame.columns
    }
    return pd.DataFrame(columns, copy=False)


def page_positions(n: int, page: int, size: int, *, shuffled: bool) -> NDArray[np.intp]:
    """The positions (of ``n`` items) on page ``page`` (from 1) of ``size``: in order, or
    ``shuffled`` in the seeded random order ``shuffled_page`` pages. A selection panel takes
    its thumbnails' rows by these positions (no lookup of the page's keys among 100k)."""
    if shuffled:
        return _permutation(n)[(page - 1) * size : page * size]
    return np.arange((page - 1) * size, min(page * size, n), dtype=np.intp)


@functools.lru_cache(maxsize=4)
def _permutation(n: int) -> NDArray[np.intp]:
    """The seeded order of ``n`` items, made once per size (a 100k one cost 5 ms a rerun)."""
    order = np.random.RandomState(0).permutation(n)
    order.flags.writeable = False
    return order


def shuffled_page(keys: list[str], page: int, size: int) -> list[str]:
    """Page ``page`` (from 1) of ``size`` keys of ``keys`` in a seeded random order: the order
    ``frame.sample(frac=1.0, random_state=0)`` gives a frame of these rows, without shuffling
    every column of 100k rows for the page's few keys."""
    return [keys[i] for i in page_positions(len(keys), page, size, shuffled=True)]


def browse_table(
    samples: pd.DataFrame, labels: pd.DataFrame, model_columns: pd.DataFrame | None
) -> pd.DataFrame:
    """The decodable samples with their label (``UNLABELED`` when none) and, with a model, the
    predicted class: what the Browse tab filters."""
    ok = samples[samples.status == "ok"].merge(labels[["key", "label"]], on="key", how="left")
    if model_columns is not None:
        ok = ok.merge(model_columns[["key", "prediction"]], on="key", how="left")
    ok["label"] = ok.label.fillna(UNLABELED)
    return ok


def sample_row(samples: pd.DataFrame, key: str, keys: pd.Index | None = None) -> pd.Series:
    """The row of sample ``key`` in the samples table.

    ``keys``: the keys of ``samples``' rows in order, as an index held across reruns (the
    index of ``cache.relpaths``): a hash lookup instead of comparing every key (a queue key
    press at 77k samples spent 6 ms on that, at a million 80 ms).

    Raises:
        KeyError: No sample has that key.
    """
    if keys is not None and len(keys) == len(samples):
        at = int(keys.get_indexer(pd.Index([key]))[0])
        if at < 0:
            raise KeyError(key)
        return samples.iloc[[at]].iloc[0]
    rows = samples[samples.key == key]
    if rows.empty:
        raise KeyError(key)
    return rows.iloc[0]


def count_lines(values: pd.Series, title: str, most: int = 8, *, missing: str | None = None) -> str:
    """Markdown of how many of ``values`` take each value, most frequent first: a bold
    ``title``, then "value: count" lines, the ``most`` first and then how many more values
    there are. Text, not a data frame: each grid canvas cost a selection panel's browser
    about 15 ms (issue 20). ``missing``: missing values are counted under this name (else
    left out); ``values`` may be categorical (its unused categories are left out)."""
    counts = values.value_counts(dropna=missing is None)
    counts = counts[counts > 0]
    if missing is not None and counts.index.hasnans:
        names = [missing if pd.isna(v) else v for v in counts.index]
        named = pd.Series(counts.to_numpy(), index=pd.Index(names, dtype=object))
        counts = named.groupby(level=0, sort=False).sum().sort_values(ascending=False)
    lines = [f"**{md(title)}**"]
    lines += [f"{md(v)}: {n:,}" for v, n in counts.head(most).items()]
    if len(counts) > most:
        lines.append(f"… and {len(counts) - most:,} more values")
    return "  \n".join(lines)


def thumbnail_captions(chosen: pd.DataFrame, keys: list[str]) -> dict[str, str]:
    """File name and current label (and prediction, when a model exists, and tags, when the
    rows carry ``tag_names``) per thumbnail of ``keys``, rows of ``chosen``."""
    shown = chosen[chosen.key.isin(keys)]  # not 100k in an index
    held = [c for c in ("key", "label", "prediction", "tag_names") if c in shown.columns]
    rows = shown[held].set_index("key").loc[keys]  # iterrows over the columns used only
    out = {}
    for key, row in rows.iterrows():
        label = row.label if isinstance(row.label, str) else UNLABELED
        text = f"{file_name(str(key))} · {label}"
        if isinstance(row.get("prediction"), str):
            text += f" · predicted {row.prediction}"
        if isinstance(row.get("tag_names"), str) and row.tag_names:
            text += f" · tags: {row.tag_names}"
        out[str(key)] = text
    return out


def file_name(key: str) -> str:
    """The file name part of a sample key (``datasource:path/to/name.tif`` -> ``name.tif``)."""
    return key.split(":", 1)[-1].rsplit("/", 1)[-1]


def label_actions(events: pd.DataFrame) -> pd.DataFrame:
    """Label events (``Project.label_events``) grouped per action, newest first: when, who,
    how, which class ("(cleared)" for a clear) and how many samples. An action that gave
    several classes (an import, an undo restoring different labels) names each with its count,
    e.g. "foci (3), no_foci (2)": its first class alone read as if all were that class."""
    events = events.assign(label=events.label.fillna("(cleared)"))
    per_action = (
        events.groupby("action_id", sort=False)
        .agg(time=("created_at", "first"), user=("user", "first"), how=("source", "first"),
             label=("label", "first"), n_labels=("label", "nunique"), samples=("key", "size"))
        .sort_values("time", ascending=False)
    )  # fmt: skip
    mixed = per_action.index[per_action.n_labels > 1]
    if len(mixed):  # few: most actions give one class
        counts = (
            events[events.action_id.isin(mixed)]
            .groupby(["action_id", "label"])
            .size()
            .reset_index(name="n")
        )
        parts: dict[str, list[str]] = {}
        for action_id, label, n in zip(counts.action_id, counts.label, counts.n, strict=True):
            parts.setdefault(action_id, []).append(f"{label} ({int(n):,})")
        joined = pd.Series({a: ", ".join(p) for a, p in parts.items()}, dtype=object)
        per_action.loc[joined.index, "label"] = joined
    return per_action.drop(columns="n_labels")


def tag_actions(events: pd.DataFrame) -> pd.DataFrame:
    """Tag events (``Project.tags.history``) grouped per action, newest first: when, who,
    which tag, added or removed, and how many samples."""
    per_action = (
        events.groupby("action_id", sort=False)
        .agg(time=("created_at", "first"), user=("user", "first"), tag=("tag", "first"),
             present=("present", "first"), samples=("key", "size"))
        .sort_values("time", ascending=False)
    )  # fmt: skip
    per_action["present"] = per_action.present.map({True: "added", False: "removed"})
    return per_action.rename(columns={"present": "what"})


def with_columns(frame: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (with a ``key`` column) joined with the columns of ``extra`` (indexed by key)
    it does not have yet."""
    new = [c for c in extra.columns if c not in frame.columns]
    if not new:
        return frame
    return frame.merge(extra[new], left_on="key", right_index=True, how="left")


def metadata_columns(samples: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The sample metadata columns a round can balance over (2 to 50 values) and those it can
    threshold on (numeric)."""
    meta = [c for c in samples.columns if c not in HIDDEN_COLUMNS]
    groups = [c for c in meta if 2 <= samples[c].nunique() <= 50]
    numeric = [c for c in meta if pd.api.types.is_numeric_dtype(samples[c])]
    return groups, numeric


def describe_round(config: dict[str, Any]) -> list[str]:
    """The round options of a round config, in words."""
    out = []
    if config.get("balance_by"):
        out.append(f"balanced by {' x '.join(config['balance_by'])}")
    if t := config.get("threshold"):
        op = next(k for k, v in THRESHOLD_OPS.items() if v == t["operation"])
        out.append(f"{t['column']} {op} {t['value']:g}")
    if config.get("similar_to"):
        out.append(f"similar to {len(config['similar_to'])} samples")
    return out


#: The rounds table's words for a balanced accuracy it cannot show (a blank cell read "None").
NO_MODEL = "no model"
STILL_LABELING = "still labeling"


def rounds_table(
    rounds: list[Round], models: list[ModelRecord], samples: pd.DataFrame, labeled: set[str]
) -> pd.DataFrame:
    """One row per round, newest first: its strategy and options, how many of its decodable
    samples are labeled, and the balanced accuracy of the models before and after it (as
    text: NO_MODEL when there was none, STILL_LABELING for "after" until the round is
    labeled)."""
    by_id = {m.id: m for m in models}
    ok_keys = set(samples.key[samples.status == "ok"])

    def _bal(model_id: str | None) -> str:
        m = by_id.get(model_id or "")
        value = m.metrics.get("balanced_accuracy") if m else None
        return NO_MODEL if value is None else f"{value:.3f}"

    rows = []
    for r in reversed(rounds):
        good = [k for k in r.keys if k in ok_keys]
        done, total = sum(k in labeled for k in good), len(good)
        rows.append({
            "round": r.id,
            "strategy": ", ".join([r.config.get("strategy", r.strategy),
                                   *describe_round(r.config)]),
            "samples": len(r.keys), "labeled": f"{done} / {total}", "seed": r.seed,
            "user": r.user, "created": r.created_at[:19].replace("T", " "),
            "balanced acc. before": _bal(r.model_before),
            # "after" means a model trained on this round's labels: only once they exist
            "balanced acc. after": _bal(r.model_after) if done == total else STILL_LABELING,
        })  # fmt: skip
    return pd.DataFrame(rows)


def per_class_table(per_class: dict[str, dict[str, float]]) -> pd.DataFrame:
    """A model's cross-validated metrics per class (``metrics["per_class"]``): one row per
    class, rounded to three places."""
    return pd.DataFrame(per_class).T.round(3)


def confusion_table(confusion: list[list[int]], classes: list[str]) -> pd.DataFrame:
    """The cross-validated confusion matrix as a table: one row per label, one column per
    out-of-fold prediction (the cells a user clicks to see their samples)."""
    table = pd.DataFrame(confusion, index=list(classes), columns=list(classes))
    table.index.name = "label \\ predicted"
    return table


def csv_header(data: IO[bytes]) -> list[str]:
    """The column names of an uploaded CSV (its first line), every one as text.

    Raises:
        ValueError: Not a CSV pandas can read.
        UnicodeDecodeError: Not UTF-8.
    """
    return pd.read_csv(data, nrows=0, dtype=str).columns.tolist()


def simulation_tables(folder: Path, result: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A finished simulation job's learning curve and labels-to-95% table, read from the CSVs
    its ``result`` names under the project ``folder``.

    Raises:
        OSError: A file is gone.
    """
    curve = pd.read_csv(folder / result["curve"])
    reach = pd.read_csv(folder / result["labels_to_95"], index_col="strategy")
    return curve, reach


def labels_to_reach_table(reach: pd.DataFrame) -> pd.DataFrame:
    """A simulation's labels-to-95% table (its ``labels_to_95`` CSV, indexed by strategy) in
    words: "not reached" where a curve never got there within the simulated labels."""

    def _n(v: float, beyond: float) -> str:
        return "not reached" if v >= beyond else f"{v:.0f}"

    return pd.DataFrame([{
        "strategy": name, "labels to 95%": _n(r.mean_curve, r.beyond),
        "90% interval": f"{_n(r.low, r.beyond)} to {_n(r.high, r.beyond)}",
        "per seed (mean)": round(float(r.per_seed)),
        "seeds never reaching": int(r.never),
    } for name, r in reach.iterrows()])  # fmt: skip


def results_view(table: pd.DataFrame, by: tuple[str, ...]) -> pd.DataFrame:
    """The results table as the Results page shows it: the groups, the counts, the shares
    rounded, the interval as ``[low, high]`` text, the interval's kind, clusters and notes."""

    def share(v: float) -> str:
        return "" if pd.isna(v) else f"{v:.3f}"

    out = table[list(by)].copy()
    out["images"] = table.n_images
    out["labeled"] = table.n_labeled
    out["labeled as class"] = table.n_labeled_class
    out["raw share"] = table.raw_fraction.map(share)
    # the corrected share starts from the model's mean probability, not the raw share
    out["model's share"] = table.predicted_fraction.map(share)
    out["corrected share"] = table.corrected_fraction.map(share)
    out["interval"] = [
        "" if pd.isna(lo) or pd.isna(hi) else f"[{lo:.3f}, {hi:.3f}]"
        for lo, hi in zip(table.ci_low, table.ci_high, strict=True)
    ]
    out["method"] = table.interval.fillna("")
    if table.n_clusters.notna().any():
        out["clusters"] = table.n_clusters
    out["note"] = table.note.fillna("")
    return out


#: ``results_view`` columns shown only when picked, so that the table fits a 1280 px window: the
#: counts behind the raw share, and the interval's method and clusters (the note says where a
#: group's interval is not the one asked for).
RESULTS_MORE = ("labeled as class", "raw share", "method", "clusters")


def results_columns(view: pd.DataFrame, more: Sequence[str]) -> list[str]:
    """The columns of ``view`` (``results_view``) the Results page shows, in order: all but
    those of ``RESULTS_MORE`` not in ``more``."""
    return [c for c in view.columns if c not in RESULTS_MORE or c in more]


def _figure(v: float) -> str:
    return "" if pd.isna(v) else f"{v:.3f}"


def agreement_pairs_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """The agreement report's pair table as the Agreement page shows it: the pair, the samples
    both labeled, the share labeled alike, Cohen's kappa (blank when undefined) and the note."""
    return pd.DataFrame({
        "labelers": pairs.labeler_a + " / " + pairs.labeler_b,
        "samples both labeled": pairs.n,
        "labeled alike": pairs.agreement.map(_figure),
        "Cohen's kappa": pairs.kappa.map(_figure),
        "note": pairs.note,
    })  # fmt: skip


def agreement_figures_table(figures: pd.DataFrame) -> pd.DataFrame:
    """A per-class or multi-rater table (columns measure, n, value, note, and class, raters
    where present) with the value rounded, blank when undefined."""
    out = figures.copy()
    out["value"] = out.value.map(_figure)
    return out.rename(columns={"n": "samples"})


def labeler_labels_table(wide: pd.DataFrame, relpaths: pd.Series) -> pd.DataFrame:
    """Each labeler's own labels side by side (``labeler_labels``), one row per assigned sample
    named by its relative path, "" where a labeler has not labeled it."""
    out = wide.fillna("").copy()
    out.insert(0, "file", [relpaths.get(k, file_name(str(k))) for k in wide.index])
    return out.reset_index(drop=True)


def quality_pairs_view(pairs: pd.DataFrame) -> pd.DataFrame:
    """Duplicate and near-duplicate pairs (``FlagsResult.pairs``) as the Quality page shows
    them: both file names, their groups, the embedding distance (empty for a pair only the
    shift-tolerant descriptor found), what found it and whether pixels are equal."""
    return pd.DataFrame({
        "file A": [file_name(k) for k in pairs.key_a],
        "file B": [file_name(k) for k in pairs.key_b],
        "found by": pairs.found_by,
        "group A": pairs.group_a,
        "group B": pairs.group_b,
        "distance": pairs.distance.round(4),
        "same pixels": pairs.exact,
        "leak": pairs.leak,
    })  # fmt: skip


def quality_captions(frame: pd.DataFrame, keys: list[str], column: str) -> dict[str, str]:
    """File name and one number (``column`` of the flags frame) per thumbnail of ``keys``."""
    values = frame[column].astype(float)
    return {k: f"{file_name(k)} · {column} {values[k]:.3g}" for k in keys}


def pair_keys(pairs: pd.DataFrame, n: int) -> list[tuple[str, str]]:
    """The (key_a, key_b) of the first ``n`` rows of a pairs table."""
    head = pairs.head(n)
    return [(str(a), str(b)) for a, b in zip(head.key_a, head.key_b, strict=True)]
