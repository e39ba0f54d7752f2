"""Exports of labels and predictions, for teams that continue in other tools.

- ``csv``: one row per labeled sample: filename, label, user, time.
- ``imagefolder``: one folder per class holding copies of the images (torchvision's layout).
- ``label-studio``: a Label Studio import JSON, one task per labeled image with its choice.
- ``lightly``: the latest model's predictions in Lightly's ``.lightly/predictions`` layout.

Every file goes under the destination folder: names derived from sample paths are validated
and resolved, and a write that would land outside is refused.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bps_core.errors import BpsError
from bps_core.project.store import Project
from bps_core.storage.copy import CopyReport
from bps_core.storage.local import safe_relative_key

FORMATS = ("csv", "imagefolder", "label-studio", "lightly")
_UNSAFE = re.compile(r"[^A-Za-z0-9._ +=,@-]")


class ExportError(BpsError):
    """An export cannot be written as asked."""


@dataclass(frozen=True)
class ExportReport:
    format: str
    dest: Path
    n_written: int
    n_skipped: int = 0
    failed: tuple[str, ...] = ()  # "path: why" for files that could not be exported


def _inside(root: Path, rel: str) -> Path:
    """``root / rel`` after checking that it stays under ``root``."""
    path = (root / safe_relative_key(rel)).resolve()
    if not path.is_relative_to(root.resolve()):
        raise ExportError(f"refusing to write {rel!r}: it would leave {root}")
    return path


def folder_name(name: str) -> str:
    """A class name as one safe folder name (no separators, no leading dots)."""
    cleaned = _UNSAFE.sub("_", name).lstrip(".").strip() or "_"
    return cleaned[:120]


def _relpath(project: Project, key: str) -> str:
    return key.split(":", 1)[1] if ":" in key else key


def export_labels_csv(project: Project, dest: Path) -> ExportReport:
    labels = project.current_labels()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "label", "user", "time"])
        for key, label, user, time in zip(
            labels.key, labels.label, labels.user, labels.created_at, strict=True
        ):
            w.writerow([_relpath(project, key), label, user, time])
    return ExportReport("csv", dest, len(labels))


def export_imagefolder(
    project: Project,
    dest: Path,
    *,
    overwrite: bool = False,
    progress: Callable[[float], None] | None = None,
) -> ExportReport:
    """Copies each labeled image to ``dest/<class>/<path with / as __>``; an existing file is
    kept unless ``overwrite`` (re-running completes an interrupted export)."""
    labels = project.current_labels()
    source = project.source()
    dest.mkdir(parents=True, exist_ok=True)
    written = skipped = 0
    failed: list[str] = []
    for i, (key, label) in enumerate(zip(labels.key, labels.label, strict=True)):
        rel = _relpath(project, key)
        try:
            flat = safe_relative_key(rel).replace("/", "__")
            target = _inside(dest, f"{folder_name(label)}/{flat}")
            if target.exists() and not overwrite:
                skipped += 1
            else:
                data = source.read_bytes(rel)
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(target.name + ".part")
                tmp.write_bytes(data)
                tmp.replace(target)
                written += 1
        except BpsError as exc:  # one unreadable or unsafe file does not stop the export
            failed.append(f"{rel}: {exc}")
        if progress:
            progress((i + 1) / len(labels))
    return ExportReport("imagefolder", dest, written, skipped, tuple(failed))


def export_label_studio(project: Project, dest: Path) -> ExportReport:
    """Label Studio tasks with the current label as a ``choices`` annotation; images are
    referenced by the datasource URI (configure matching local or cloud storage there)."""
    labels = project.current_labels()
    base = project.config.datasource.uri.rstrip("/")
    tasks = [
        {
            "data": {"image": f"{base}/{_relpath(project, key)}"},
            "annotations": [{
                "completed_by": {"email": f"{user}@bps-labeler"},
                "result": [{"from_name": "label", "to_name": "image", "type": "choices",
                            "value": {"choices": [label]}}],
            }],
            "meta": {"labeled_by": user, "labeled_at": time},
        }
        for key, label, user, time in zip(
            labels.key, labels.label, labels.user, labels.created_at, strict=True
        )
    ]  # fmt: skip
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(tasks, indent=1))
    return ExportReport("label-studio", dest, len(tasks))


def export_lightly_predictions(
    project: Project, dest: Path, task: str = "bps-classification"
) -> ExportReport:
    """The latest model's classification predictions under ``dest/.lightly/predictions``
    (the same writer that writes back to an output datasource)."""
    from bps_core.storage import LocalFolderSource
    from bps_core.writeback import WritebackError, write_lightly

    if not re.fullmatch(r"[a-zA-Z0-9_+=,.@:-]+", task):
        raise ExportError(f"task name {task!r} has characters Lightly refuses")
    try:
        report = write_lightly(
            project, LocalFolderSource(dest, create=True), parts=("predictions",), task=task
        )
    except WritebackError as exc:
        raise ExportError(str(exc)) from None
    if "predictions" in report.skipped:
        raise ExportError(f"{report.skipped['predictions']}: train one first (bps-labeler train)")
    if report.failed:
        key, why = next(iter(report.failed.items()))
        raise ExportError(f"{len(report.failed)} prediction files failed, e.g. {key}: {why}")
    return ExportReport("lightly", dest, report.written["predictions"] - 2)  # minus the schemas


def export(project: Project, fmt: str, dest: Path, **kwargs: object) -> ExportReport:
    if fmt == "csv":
        return export_labels_csv(project, dest)
    if fmt == "imagefolder":
        return export_imagefolder(project, dest, overwrite=bool(kwargs.get("overwrite")))
    if fmt == "label-studio":
        return export_label_studio(project, dest)
    if fmt == "lightly":
        return export_lightly_predictions(
            project, dest, str(kwargs.get("task") or "bps-classification")
        )
    raise ExportError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")


#: File names of the single-file formats when written to a datasource.
FILE_NAMES = {"csv": "labels.csv", "label-studio": "label_studio.json"}


def export_to_output(
    project: Project,
    fmt: str,
    prefix: str = "exports",
    *,
    overwrite: bool = False,
    progress: Callable[[float], None] | None = None,
) -> tuple[ExportReport, CopyReport]:
    """Builds an export in a temporary folder and uploads it under ``<output>/<prefix>/``
    (``labels.csv``, ``label_studio.json``, or ``imagefolder/`` and ``lightly/`` folders) on the
    project's output datasource, an S3 prefix or a folder."""
    import tempfile

    from bps_core.storage.copy import upload_folder

    dest = project.output_source()
    name = FILE_NAMES.get(fmt)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        report = export(project, fmt, root / name if name else root, overwrite=overwrite)
        target = prefix.strip("/") if name else f"{prefix.strip('/')}/{fmt}"
        upload = upload_folder(root, dest, target, overwrite=overwrite or fmt != "imagefolder",
                               progress=progress)  # fmt: skip
    return report, upload
