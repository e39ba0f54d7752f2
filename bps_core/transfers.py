"""Copy a chosen set of samples from the project's input to another bucket or folder.

What to copy is plain data (``CopySelection``), so the app, the CLI and background jobs share
it: explicit sample keys (a map selection), the samples of a selection round, the samples whose
current label is one of some classes, or everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from bps_core.errors import BpsError
from bps_core.project.store import Project
from bps_core.storage import DatasourceConfig, open_writable
from bps_core.storage.copy import CopyReport, copy_objects

SELECTION_KINDS = ("keys", "round", "classes", "all")


@dataclass(frozen=True)
class CopySelection:
    """Which samples a copy takes: picked keys, a round's picks, label classes, or all.

    ``labeler``: whose labels the classes are read from, a blind double labeler's own
    (``verbs.copy`` reads them; empty: the current labels, everyone's).
    """

    kind: str = "all"
    keys: tuple[str, ...] = ()
    round: int = 0
    classes: tuple[str, ...] = ()
    labeler: str = ""

    def validate(self) -> None:
        """Raises ``BpsError`` naming what is missing when the selection cannot be copied."""
        if self.kind not in SELECTION_KINDS:
            raise BpsError(
                f"copy selection {self.kind!r}: choose one of {', '.join(SELECTION_KINDS)}"
            )
        if self.kind == "keys" and not self.keys:
            raise BpsError("nothing selected to copy: select samples on the map first")
        if self.kind == "classes" and not self.classes:
            raise BpsError("choose at least one label class to copy")

    def describe(self) -> str:
        """The selection in words, for progress and result messages ("12 selected samples")."""
        if self.kind == "keys":
            return f"{len(self.keys)} selected samples"
        if self.kind == "round":
            return f"the samples of round {self.round}"
        if self.kind == "classes":
            return f"samples labeled {', '.join(self.classes)}"
        return "all samples"


def _clip(name: str, limit: int = 40) -> str:
    """A class name for a message: repr'd (one line) and cut, never 5,000 characters."""
    text = repr(name)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def selected_relpaths(
    project: Project, selection: CopySelection, labels: pd.DataFrame | None = None
) -> list[str]:
    """Relative paths (in the input datasource) of the samples a selection names.

    ``labels`` (columns key, label) are the labels a class selection reads: the current
    labels when None.
    """
    selection.validate()
    samples = project.samples()
    relpath_of = dict(zip(samples.key, samples.relpath, strict=True))
    if selection.kind == "all":
        keys = samples.key.tolist()
    elif selection.kind == "keys":
        keys = list(selection.keys)
    elif selection.kind == "round":
        keys = project.rounds.keys(selection.round)
        if not keys:
            raise BpsError(f"round {selection.round} does not exist or selected nothing")
    else:
        if labels is None:
            labels = project.current_labels()
        unknown = sorted(set(selection.classes) - set(labels.label))
        if unknown:
            shown = ", ".join(_clip(c) for c in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise BpsError(f"no sample is labeled {shown}{more}")
        keys = labels[labels.label.isin(selection.classes)].key.tolist()
    missing = [k for k in keys if k not in relpath_of]
    if missing:
        raise BpsError(f"{len(missing)} unknown sample keys, e.g. {missing[0]!r}")
    return [relpath_of[k] for k in keys]


def copy_samples(
    project: Project,
    dest: DatasourceConfig,
    selection: CopySelection,
    *,
    overwrite: bool = False,
    progress: Any = None,
    labels: pd.DataFrame | None = None,
) -> CopyReport:
    """Copies the selected samples' files to ``dest`` (same relative paths under its root).

    ``labels``: those a class selection reads (``selected_relpaths``).
    """
    relpaths = selected_relpaths(project, selection, labels)
    # read the input directly, not through the local cache: server-side copy needs the S3 source
    from bps_core.storage import open_source

    return copy_objects(
        open_source(project.config.datasource),
        open_writable(dest),
        relpaths,
        overwrite=overwrite,
        progress=progress,
    )
