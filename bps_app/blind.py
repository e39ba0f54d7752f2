"""What a blind double labeler may see outside the queue: their own labels, no model's view.

While blind double labeling is on, a labeler of it must not see another person's label, nor
anything derived from everyone's labels (the model's predictions and confidence, cleanlab's
label issues), until the agreement round ends. Explore and the sample detail ask ``view``;
it is None for everyone else, after one settings read, and their pages stay as they were.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from bps_app import cache
from bps_core.facets import COLUMN_TOKENS
from bps_core.project import Project
from bps_core.project.reversals import REVERSAL_SOURCES
from bps_core.verbs import STRATEGIES, LabelerView, labeler_view

#: The one line a blind labeler reads where labels or predictions are left out.
NOTE = (
    "Blind labeling: predictions and others' labels and tags are hidden until the agreement "
    "round ends."
)
#: The selection strategies a blind labeler may run: none reads a model's predictions (made of
#: everyone's labels) nor switches to one once it exists (``default``, ``error_adaptive``),
#: and none reads the labels' classes. A new strategy stays off this list until judged.
ROUND_STRATEGIES: tuple[str, ...] = tuple(
    s for s in ("random", "diversity", "typicality", "typiclust", "probcover") if s in STRATEGIES
)
#: Facet columns made from everyone's labels (``bps_core.facets.PROVIDERS``: the model's
#: ``prediction_facet``, cleanlab's ``label_issues.facet_columns``); a blind labeler gets none.
LABEL_DERIVED_FACETS = ("prediction", "confidence", "issue_score", "suggested")
#: Facet columns of the tags (``bps_core.facets.tag_facet``): a blind labeler's hold their own.
TAG_FACETS = ("tags", "tag_names")


@dataclass(frozen=True, eq=False)
class Blind:
    """A blind labeler's view (``labeler_view``), their own tags, and what names them in a
    cache key."""

    mine: LabelerView
    #: Their own current tags (``Tags.current(user=...)``): columns key, tag, user, created_at.
    tags: pd.DataFrame
    #: The folder, user, ``Project.current_labels_token`` and tags version it was made under:
    #: a map built for one labeler's labels must never be handed to another user.
    key: tuple[object, ...]

    @property
    def user(self) -> str:
        return self.mine.user

    @property
    def own(self) -> pd.DataFrame:
        """Their own labels: columns key, label."""
        return self.mine.own

    def classes(self) -> list[str]:
        """The classes of their own labels, sorted."""
        return sorted(set(self.own.label.dropna()))

    def label_counts(self, classes: Sequence[str]) -> dict[str, int]:
        """Their own labels per class, in the order of ``classes``; unused classes left out."""
        counts = self.own.label.value_counts()
        return {c: int(counts[c]) for c in classes if c in counts}


def view(project: Project, user: str) -> Blind | None:
    """``user``'s own labels while blind double labeling is on and they are one of its
    labelers, else None (one settings read: nothing else is made for anyone else).

    Made once per label or tag change (``Project.current_labels_token``, the tags version)
    and user; the same object is handed to every rerun until then, so what is made of it is
    kept per object, as the map does with the current labels.
    """
    if not user:
        return None
    setting = project.assignments.active()
    if setting is None or not setting.blind or user not in setting.labelers:
        return None
    made_under = (project.current_labels_token(), project.tags.version())
    return _view(str(project.folder), user, made_under, project)


@st.cache_resource(show_spinner=False, max_entries=8)
def _view(project_dir: str, user: str, token: tuple[object, ...], _project: Project) -> Blind:
    # The folder, user and token are the key; the caller's open project reads it.
    mine = labeler_view(_project, user, lambda: cache.current_labels(_project).frame)
    assert mine is not None  # the caller checked that ``user`` is a blind labeler
    return Blind(mine, _project.tags.current(user=user), ("blind", project_dir, user, token))


def user_of(blind: Blind | None) -> str | None:
    """Whose own labels and tags alone a user may see: a blind labeler's name, else None."""
    return None if blind is None else blind.user


def token(blind: Blind | None) -> tuple[object, ...] | None:
    """What names a blind view in a cache key; None for everyone else."""
    return None if blind is None else blind.key


_FACETS: dict[tuple[int, int], tuple[pd.DataFrame, Blind, pd.DataFrame]] = {}
_LOCK = threading.Lock()


def facets(frame: pd.DataFrame, mine: Blind | None) -> pd.DataFrame:
    """The facets (``cache.facets``) a user may filter and colour by: unchanged (the same
    object) for everyone but a blind labeler, whose ``label`` and tag columns hold their own
    labels and tags and who gets no column made from everyone's labels
    (``LABEL_DERIVED_FACETS``).

    Made once per facets frame and view (both held read-only), so the filter and colour
    memos, kept per frame object and column token, work as for everyone else.
    """
    if mine is None:
        return frame
    held = (id(frame), id(mine))
    with _LOCK:
        kept = _FACETS.get(held)
    if kept is not None and kept[0] is frame and kept[1] is mine:
        return kept[2]
    hidden = (*LABEL_DERIVED_FACETS, *TAG_FACETS)
    out = frame.drop(columns=[c for c in hidden if c in frame.columns])
    if "label" in out.columns:
        where = frame.index.get_indexer(pd.Index(mine.own.key.array))
        found = where >= 0
        rows = np.full(len(frame), -1, dtype=np.intp)
        rows[where[found]] = np.flatnonzero(found)
        own = pd.Categorical(mine.own.label.array)
        out["label"] = pd.api.extensions.take(own, rows, allow_fill=True)
    tokens = dict(frame.attrs.get(COLUMN_TOKENS, {}))
    for name in hidden:
        tokens.pop(name, None)
    if "label" in tokens:  # never the label column's colours or choices of everyone's labels
        tokens["label"] = (token(mine), tokens["label"])
    if not mine.tags.empty:  # as ``tag_facet`` makes them, of their own tags
        lists = _own_tags(frame.index, mine.tags)
        out["tags"] = lists
        out["tag_names"] = lists.map(", ".join)
        for name in TAG_FACETS:
            tokens[name] = ("tags", token(mine))
    out.attrs[COLUMN_TOKENS] = tokens
    with _LOCK:
        while len(_FACETS) >= 4:
            _FACETS.pop(next(iter(_FACETS)))
        _FACETS[held] = (frame, mine, out)
    return out


def _own_tags(index: pd.Index, tags: pd.DataFrame) -> pd.Series:
    """The sorted tags of each key of ``index`` (an empty list for an untagged one)."""
    lists = tags.groupby("key", sort=False).tag.agg(sorted)
    where = index.get_indexer(lists.index)
    values: list[list[str]] = [[] for _ in range(len(index))]
    for at, tagged in zip(where, lists, strict=True):
        if at >= 0:
            values[at] = tagged
    return pd.Series(values, index=index, dtype=object)


def own_events(events: pd.DataFrame, mine: Blind | None) -> pd.DataFrame:
    """The tag events (``Tags.history``) a user may see: all, or a blind labeler's own."""
    return events if mine is None else events[events.user == mine.user]


def own_label_events(events: pd.DataFrame, mine: Blind | None, project: Project) -> pd.DataFrame:
    """The label events (``Project.label_events``) a user may see: all, or a blind labeler's
    own, each undo of theirs showing the label it gave back to them, not someone else's.

    Undoing her label on a sample bob labeled before her puts his label back, in an event of
    hers. On a sample assigned to her, the undo shows her own label it restored
    (``Assignments.own_labels_after_undos``: her earlier label, or "(cleared)" when none);
    elsewhere, an undo or redo of hers that put back someone else's label shows no class
    ("(cleared)": from her side the sample holds no label of hers)."""
    if mine is None:
        return events
    out = events[events.user == mine.user]
    reversal = out.source.isin(REVERSAL_SOURCES)
    if not reversal.any():
        return out
    restored = project.assignments.own_labels_after_undos(mine.user)
    assigned = reversal & out.event_id.isin(list(restored))
    label = out.label.where(~assigned, out.event_id.map(restored))
    put_back = reversal & ~assigned & label.notna()
    if put_back.any():
        authors = project.put_back_authors(out.event_id[put_back].tolist())
        label = label.where(~(put_back & (out.event_id.map(authors) != mine.user)), None)
    return out.assign(label=label)


def round_config(config: dict[str, object], mine: Blind | None) -> dict[str, object]:
    """A round's recorded config as a user may read it: unchanged, or for a blind labeler
    without the keys it was ranked by similarity to (another labeler's "samples labeled X"
    names the samples they labeled): their count only."""
    similar = config.get("similar_to")
    if mine is None or not isinstance(similar, list | tuple) or not similar:
        return config
    return config | {"similar_to": f"{len(similar):,} samples (hidden: blind labeling)"}
