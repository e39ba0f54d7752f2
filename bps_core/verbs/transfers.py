"""Verbs: copy samples to a datasource, write results back in Lightly's layout."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from bps_core.errors import BpsError, SettingsError
from bps_core.project.store import Project
from bps_core.settings import Settings
from bps_core.storage.base import DatasourceConfig
from bps_core.storage.copy import CopyReport
from bps_core.transfers import CopySelection, copy_samples
from bps_core.verbs.agreement import labeler_view
from bps_core.writeback import DEFAULT_TASK, PARTS, TASK_RE, WritebackReport, write_lightly


@dataclass(frozen=True)
class CopySettings(Settings):
    """Settings of a copy (a ``copy`` job).

    Attributes:
        dest: Where to copy to (a folder or an S3 prefix); never holds secrets.
        selection: Which samples: all, a round, label classes or chosen keys.
        overwrite: Replace destination objects that differ.
    """

    dest: DatasourceConfig
    selection: CopySelection = field(default_factory=CopySelection)
    overwrite: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.dest, DatasourceConfig):  # a config validates itself when made
            raise SettingsError(f"dest must be a datasource config, got {self.dest!r}")
        try:
            self.selection.validate()
        except BpsError as exc:
            raise SettingsError(f"selection: {exc}") from None
        if not isinstance(self.overwrite, bool):
            raise SettingsError(f"overwrite must be true or false, got {self.overwrite!r}")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Self:
        """Rebuilds the settings stored by ``to_params`` (nested dest and selection)."""
        unknown = sorted(set(params) - {"dest", "selection", "overwrite"})
        if unknown:
            raise SettingsError(f"unknown setting(s) {', '.join(unknown)} for CopySettings")
        if not isinstance(params.get("dest"), dict):
            raise SettingsError("dest: give the copy destination")
        sel = params.get("selection") or {}
        try:
            dest = DatasourceConfig.from_dict(params["dest"], "copy destination")
            selection = CopySelection(kind=sel.get("kind", "all"), keys=tuple(sel.get("keys", ())),
                                      round=int(sel.get("round", 0)),
                                      classes=tuple(sel.get("classes", ())),
                                      labeler=str(sel.get("labeler", "")))  # fmt: skip
        except (BpsError, TypeError, ValueError) as exc:
            raise SettingsError(f"copy settings: {exc}") from None
        return cls(dest, selection, bool(params.get("overwrite", False)))


def copy(
    project: Project, settings: CopySettings, progress: Callable[[float], None] | None = None
) -> CopyReport:
    """Copies the selected samples' files to ``settings.dest`` (same relative paths).

    A class selection naming a ``labeler`` who labels blind (``labeler_view``) reads their
    own labels only: what they copy, and how many, tells them nothing of another labeler's
    labels. Once they no longer label blind, it reads the current labels, as for everyone.

    Args:
        project: The project.
        settings: Destination, selection and whether to overwrite.
        progress: Called with the fraction done.

    Returns:
        The copy report (copied, skipped, failed, name collisions).
    """
    selection, labels = settings.selection, None
    if selection.kind == "classes" and selection.labeler:
        mine = labeler_view(project, selection.labeler, project.current_labels)
        labels = mine.own if mine is not None and mine.blind else None
    return copy_samples(project, settings.dest, selection, overwrite=settings.overwrite,
                        progress=progress, labels=labels)  # fmt: skip


@dataclass(frozen=True)
class WritebackSettings(Settings):
    """Settings of a write-back to ``<output>/.lightly/`` (a ``writeback`` job).

    Attributes:
        parts: Which parts to write (``PARTS``).
        task: The prediction task's name.
    """

    parts: tuple[str, ...] = PARTS
    task: str = DEFAULT_TASK

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", tuple(self.parts))
        if not self.parts:
            raise SettingsError(f"parts: choose at least one of {', '.join(PARTS)}")
        unknown = [p for p in self.parts if p not in PARTS]
        if unknown:
            raise SettingsError(
                f"parts: unknown {', '.join(map(repr, unknown))}; choose from {', '.join(PARTS)}"
            )
        if not isinstance(self.task, str) or not TASK_RE.match(self.task):
            raise SettingsError(f"task name {self.task!r}: use letters, digits and _+=,.@:- only")


def writeback(
    project: Project,
    settings: WritebackSettings | None = None,
    progress: Callable[[float], None] | None = None,
) -> WritebackReport:
    """Writes the chosen parts of the project under the output datasource's ``.lightly/``.

    Args:
        project: The project.
        settings: Parts and task name; every part when None.
        progress: Called with the fraction done.

    Returns:
        The write-back report (written, skipped parts with why, failed files).
    """
    settings = settings or WritebackSettings()
    return write_lightly(project, parts=settings.parts, task=settings.task, progress=progress)
