"""Exports of labels and predictions, for teams that continue in other tools.

- ``csv``: one row per labeled sample: filename, label, user, time (text cells neutralised
  against formula injection, see ``bps_core.csvsafe``).
- ``imagefolder``: one folder per class holding copies of the images (torchvision's layout).
- ``label-studio``: a folder Label Studio can import: ``label_studio.json`` (one task per
  labeled image, its label as a ``choices`` annotation), ``labeling_config.xml`` and 8-bit PNG
  previews under ``images/`` (windowed like the app), referenced as Label Studio local files
  (``/data/local-files/?d=...``) or, for an S3 output, as ``s3://`` object URLs.
- ``lightly``: the latest model's predictions in Lightly's ``.lightly/predictions`` layout.

Every file goes under the destination folder: names derived from sample paths are validated
and resolved, and a write that would land outside is refused. Names that would collide (two
classes or two paths mapping to one file name, also after Unicode case folding, as on macOS and
Windows) are made unique and reported. A single-file export never replaces an existing file
unless asked to (``overwrite``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

from bps_core.csvsafe import csv_bytes
from bps_core.errors import BpsError
from bps_core.paths import typed_path
from bps_core.project.store import Project
from bps_core.storage.copy import CopyReport
from bps_core.storage.local import safe_relative_key

if TYPE_CHECKING:
    from bps_core.storage.base import WritableSource

_R = TypeVar("_R")

FORMATS = ("csv", "imagefolder", "label-studio", "lightly")
_UNSAFE = re.compile(r"[^A-Za-z0-9._ +=,@-]")

#: Label Studio's names for the image and the choices in the tasks and the labeling config.
LS_IMAGE, LS_CHOICES = "image", "label"
LS_TASKS = "label_studio.json"
LS_CONFIG = "labeling_config.xml"
LS_IMAGES = "images"


class ExportError(BpsError):
    """An export cannot be written as asked."""


class ExportExistsError(ExportError):
    """The destination file exists and the export was not asked to replace it."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        super().__init__(f"{path} already exists; choose another destination or replace it")


@dataclass(frozen=True)
class ExportReport:
    """What one export wrote.

    Attributes:
        format: The export format (``csv``, ``imagefolder``, ``label-studio``, ``lightly``).
        dest: The file or folder written.
        n_written: Labels, images or predictions written.
        n_skipped: Files left as they were (already there and not to be replaced).
        failed: ``"path: why"`` for each file that could not be exported.
        renamed: ``"what -> name (why)"`` for each name made unique.
    """

    format: str
    dest: Path
    n_written: int
    n_skipped: int = 0
    failed: tuple[str, ...] = ()  # "path: why" for files that could not be exported
    renamed: tuple[str, ...] = ()  # "what -> name (why)" for names made unique


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


def name_key(name: str) -> str:
    """What a file system may treat as the same name: Unicode-normalised and case-folded.

    macOS and Windows folders are case-insensitive; macOS also normalises Unicode.
    """
    return unicodedata.normalize("NFC", name).casefold()


def _suffixed(name: str, original: str) -> str:
    """``name`` made unique with a short, stable hash of the ``original`` it came from."""
    tag = hashlib.sha1(original.encode(), usedforsecurity=False).hexdigest()[:8]
    p = PurePosixPath(name)
    return f"{p.stem}~{tag}{p.suffix}" if p.suffix else f"{name}~{tag}"


def unique_names(
    wanted: dict[str, str], what: str, *, key: Callable[[str], str] = name_key
) -> tuple[dict[str, str], list[str]]:
    """Maps each original to its wanted name, making clashing names unique.

    ``wanted`` maps an original (a class, a path) to the name derived from it. Originals whose
    names clash (after ``key``) keep the name for the first in sorted order; the others get a
    ``~hash`` suffix, stable across runs. Returns the names and one report line per rename.
    """
    groups: dict[str, list[str]] = {}
    for original in sorted(wanted):
        groups.setdefault(key(wanted[original]), []).append(original)
    out: dict[str, str] = {}
    renamed: list[str] = []
    taken = set(groups)
    for members in groups.values():
        out[members[0]] = wanted[members[0]]
        for original in members[1:]:
            name = _suffixed(wanted[original], original)
            while key(name) in taken:  # a suffixed name that clashes again (vanishingly rare)
                name = _suffixed(name, original)
            taken.add(key(name))
            out[original] = name
            renamed.append(
                f"{what} {original!r} -> {name!r} ({wanted[original]!r} is taken by {members[0]!r})"
            )
    return out, renamed


def _relpath(project: Project, key: str) -> str:
    return key.split(":", 1)[1] if ":" in key else key


def check_file_dest(dest: Path, *, overwrite: bool = False, example: str = "labels.csv") -> None:
    """Refuses a destination file that is a folder, or exists and may not be replaced."""
    if dest.is_dir():
        raise ExportError(f"{dest} is a folder; give a file name, e.g. {dest / example}")
    if (dest.exists() or dest.is_symlink()) and not overwrite:
        raise ExportExistsError(dest)


def write_file(dest: Path, data: bytes, *, overwrite: bool = False) -> None:
    """Writes ``data`` to ``dest`` through a temporary file and a rename.

    A reader never sees half a file, and a failed write leaves the previous file whole.
    Without ``overwrite`` an existing ``dest`` is never replaced, even one another writer
    creates meanwhile.

    Raises:
        ExportExistsError: ``dest`` exists and ``overwrite`` is False.
        ExportError: ``dest`` is a folder, or the write failed.
    """
    check_file_dest(dest, overwrite=overwrite, example=dest.name or "export")
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        if overwrite:
            tmp.replace(dest)
        else:  # a link fails if another writer created ``dest`` meanwhile: never replace
            try:
                os.link(tmp, dest)
            except FileExistsError:
                raise
            except OSError:  # no hard links on this file system: check, then rename
                if dest.exists():
                    raise FileExistsError(dest) from None
                tmp.replace(dest)
    except FileExistsError:
        raise ExportExistsError(dest) from None
    except OSError as exc:
        raise ExportError(f"cannot write {dest}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def labels_csv_bytes(project: Project) -> bytes:
    """The labels CSV (filename, label, user, time), safe to open in a spreadsheet."""
    labels = project.current_labels()
    rows = zip(
        [_relpath(project, k) for k in labels.key], labels.label, labels.user, labels.created_at,
        strict=True,
    )  # fmt: skip
    return csv_bytes(["filename", "label", "user", "time"], rows)


def export_labels_csv(project: Project, dest: Path, *, overwrite: bool = False) -> ExportReport:
    """Writes the project's current labels to the CSV file ``dest`` (see ``labels_csv_bytes``).

    Raises:
        ExportExistsError: ``dest`` exists and ``overwrite`` is False.
        ExportError: ``dest`` is a folder, or the write failed.
    """
    data = labels_csv_bytes(project)
    write_file(dest, data, overwrite=overwrite)
    return ExportReport("csv", dest, len(project.current_labels()))


def imagefolder_names(relpaths_by_label: dict[str, list[str]]) -> tuple[dict[str, str], list[str]]:
    """``{relpath: 'class folder/file name'}`` for an ImageFolder export, names made unique.

    Class folders are ``folder_name(label)``; file names are the relative path with ``/`` as
    ``__``. Two classes with one folder (``x/y``, ``x?y``, ``x_y``) or two paths with one file
    name (``a/b.tif``, ``a__b.tif``) are made unique, and each rename is reported.
    """
    folders, renamed = unique_names(
        {label: folder_name(label) for label in relpaths_by_label}, "class"
    )
    out: dict[str, str] = {}
    for label, relpaths in relpaths_by_label.items():
        files, more = unique_names(
            {r: safe_relative_key(r).replace("/", "__") for r in relpaths},
            f"in class {label!r}, file",
        )
        renamed += more
        out.update({r: f"{folders[label]}/{name}" for r, name in files.items()})
    return out, renamed


def export_imagefolder(
    project: Project,
    dest: Path,
    *,
    overwrite: bool = False,
    progress: Callable[[float], None] | None = None,
) -> ExportReport:
    """Copies each labeled image to ``dest/<class>/<path with / as __>``.

    An existing file is kept unless ``overwrite``, so re-running completes an interrupted
    export. Clashing class or file names are made unique (see ``imagefolder_names``).
    """
    labels = project.current_labels()
    source = project.source()
    _make_folder(dest)
    written = skipped = 0
    failed: list[str] = []
    by_label: dict[str, list[str]] = {}
    for key, label in zip(labels.key, labels.label, strict=True):
        rel = _relpath(project, key)
        try:
            safe_relative_key(rel)
        except BpsError as exc:
            failed.append(f"{rel}: {exc}")
            continue
        by_label.setdefault(label, []).append(rel)
    names, renamed = imagefolder_names(by_label)
    for i, (rel, name) in enumerate(sorted(names.items())):
        try:
            target = _inside(dest, name)
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
        except OSError as exc:
            raise ExportError(f"cannot write under {dest}: {exc.strerror or exc}") from None
        if progress:
            progress((i + 1) / len(names))
    return ExportReport("imagefolder", dest, written, skipped, tuple(failed), tuple(renamed))


def _make_folder(dest: Path) -> None:
    if dest.exists() and not dest.is_dir():
        raise ExportError(f"{dest} is a file; give a folder for this export")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create the folder {dest}: {exc.strerror or exc}") from None


def local_files_url(path: Path, document_root: Path) -> str:
    """Label Studio's URL for a file it serves from ``LOCAL_FILES_DOCUMENT_ROOT``."""
    path, root = path.resolve(), document_root.resolve()
    if not path.is_relative_to(root):
        raise ExportError(
            f"{path} is not under the document root {root}; Label Studio serves local files "
            "only from inside LOCAL_FILES_DOCUMENT_ROOT"
        )
    return "/data/local-files/?d=" + quote(path.relative_to(root).as_posix(), safe="/")


def labeling_config(classes: Iterable[str]) -> str:
    """A Label Studio labeling config: the image and one choice per class."""
    choices = "\n".join(f"    <Choice value={quoteattr(c)}/>" for c in classes)
    return (
        f'<View>\n  <Image name="{LS_IMAGE}" value="${LS_IMAGE}"/>\n'
        f'  <Choices name="{LS_CHOICES}" toName="{LS_IMAGE}" choice="single">\n'
        f"{choices}\n  </Choices>\n</View>\n"
    )


def export_label_studio(
    project: Project,
    dest: Path,
    *,
    document_root: Path | None = None,
    url_prefix: str = "",
    overwrite: bool = False,
    progress: Callable[[float], None] | None = None,
) -> ExportReport:
    """Writes a folder Label Studio can import: tasks, labeling config and PNG previews.

    Each image is an 8-bit PNG preview windowed with the project's display settings (Label
    Studio cannot show 16-bit TIFFs). Tasks reference them as Label Studio local files,
    ``/data/local-files/?d=<path relative to document_root>`` (default: ``dest`` itself, so
    Label Studio runs with ``LOCAL_FILES_DOCUMENT_ROOT=dest``), or as ``url_prefix`` plus the
    path inside ``dest`` (``s3://bucket/prefix/`` when the folder is uploaded to S3).
    Annotations name no Label Studio user (an unknown one makes Label Studio refuse the whole
    import); who labeled and when is kept in each task's ``meta``.
    """
    from bps_core.images import decode_image, encode_png, to_display

    if dest.suffix.lower() == ".json":
        raise ExportError(
            f"{dest}: the Label Studio export is a folder (tasks JSON and PNG previews); "
            "give a folder"
        )
    check_file_dest(dest / LS_TASKS, overwrite=overwrite, example=LS_TASKS)
    root = document_root if document_root is not None else dest
    if not url_prefix:
        local_files_url(dest, root)  # refuse a dest outside the root before any work
    labels = project.current_labels()
    window = project.config.display
    source = project.source()
    _make_folder(dest)
    relpaths = {_relpath(project, k): k for k in labels.key}
    wanted: dict[str, str] = {}
    failed: list[str] = []
    for rel in relpaths:
        try:
            wanted[rel] = str(PurePosixPath(LS_IMAGES, safe_relative_key(rel)).with_suffix(".png"))
        except BpsError as exc:
            failed.append(f"{rel}: {exc}")
    names, renamed = unique_names(wanted, "image")
    tasks = []
    for i, (key, label, user, time) in enumerate(
        zip(labels.key, labels.label, labels.user, labels.created_at, strict=True)
    ):
        rel = _relpath(project, key)
        if rel in names:
            try:
                png = encode_png(to_display(decode_image(source.read_bytes(rel), rel), window))
                target = _inside(dest, names[rel])
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(png)
            except BpsError as exc:  # a deleted or broken image: no task for it, reported
                failed.append(f"{rel}: {exc}")
            except OSError as exc:
                raise ExportError(f"cannot write under {dest}: {exc.strerror or exc}") from None
            else:
                image = url_prefix + names[rel] if url_prefix else local_files_url(target, root)
                tasks.append({
                    "data": {LS_IMAGE: image, "filename": rel},
                    "annotations": [{"result": [{
                        "from_name": LS_CHOICES, "to_name": LS_IMAGE, "type": "choices",
                        "value": {"choices": [label]},
                    }]}],
                    "meta": {"labeled_by": user, "labeled_at": time, "source_key": key},
                })  # fmt: skip
        if progress:
            progress((i + 1) / len(labels))
    classes = sorted(set(labels.label))
    write_file(dest / LS_CONFIG, labeling_config(classes).encode(), overwrite=True)
    write_file(dest / LS_TASKS, json.dumps(tasks, indent=1).encode(), overwrite=overwrite)
    return ExportReport("label-studio", dest, len(tasks), 0, tuple(failed), tuple(renamed))


def export_lightly_predictions(
    project: Project, dest: Path, task: str = "bps-classification"
) -> ExportReport:
    """Writes the latest model's classification predictions under ``dest/.lightly/predictions``.

    It uses the same writer that writes back to an output datasource.

    Raises:
        ExportError: ``task`` has characters Lightly refuses, there is no model yet, or
            writing failed.
    """
    from bps_core.selection.rounds import latest_model
    from bps_core.storage import LocalFolderSource
    from bps_core.writeback import WritebackError, write_lightly

    if not re.fullmatch(r"[a-zA-Z0-9_+=,.@:-]+", task):
        raise ExportError(f"task name {task!r} has characters Lightly refuses")
    if latest_model(project) is None:
        raise ExportError("no model yet: train one first (bps-labeler train, or the Rounds page)")
    _make_folder(dest)
    try:
        report = write_lightly(
            project, LocalFolderSource(dest, create=True), parts=("predictions",), task=task
        )
    except WritebackError as exc:
        raise ExportError(str(exc)) from None
    if "predictions" in report.skipped:
        raise ExportError(report.skipped["predictions"])
    if report.failed:
        key, why = next(iter(report.failed.items()))
        raise ExportError(f"{len(report.failed)} prediction files failed, e.g. {key}: {why}")
    return ExportReport("lightly", dest, report.written["predictions"] - 2)  # minus the schemas


def export(
    project: Project,
    fmt: str,
    dest: Path,
    *,
    overwrite: bool = False,
    task: str = "bps-classification",
    document_root: Path | None = None,
    url_prefix: str = "",
    progress: Callable[[float], None] | None = None,
) -> ExportReport:
    """Writes one export to ``dest``: a file for ``csv``, a folder for the other formats.

    ``overwrite`` replaces existing files (the CSV, the Label Studio tasks, ImageFolder copies);
    without it, a single-file export refuses an existing file (``ExportExistsError``).
    A format that writes images is refused inside the local input folder
    (``check_outside_input``).
    """
    check_outside_input(project, dest, fmt)
    if fmt == "csv":
        return export_labels_csv(project, dest, overwrite=overwrite)
    if fmt == "imagefolder":
        return export_imagefolder(project, dest, overwrite=overwrite, progress=progress)
    if fmt == "label-studio":
        return export_label_studio(project, dest, document_root=document_root,
                                   url_prefix=url_prefix, overwrite=overwrite,
                                   progress=progress)  # fmt: skip
    if fmt == "lightly":
        return export_lightly_predictions(project, dest, task or "bps-classification")
    raise ExportError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")


#: The formats that write image files (copies, PNG previews).
IMAGE_FORMATS = ("imagefolder", "label-studio")


def check_outside_input(project: Project, dest: Path, fmt: str) -> None:
    """Refuses an export that would write images inside the project's local input folder.

    Listing walks every subfolder of the input, so the next re-list would take the exported
    copies (or previews) as new samples: the same nucleus twice on the map, in the rounds and,
    with metadata, in the results. A file format (a CSV, Lightly's JSON) adds no sample.

    Raises:
        ExportError: ``fmt`` writes images and ``dest`` is the input folder or lies inside it.
    """
    source = project.config.datasource
    if fmt not in IMAGE_FORMATS or source.kind != "local" or not source.path:
        return
    root = Path(source.path).expanduser().resolve()
    where = Path(dest).expanduser().resolve()
    if where == root or root in where.parents:
        raise ExportError(
            f"{dest} lies inside the input image folder {root}: the next re-list would take "
            f"the exported images as new samples. Choose a folder outside it, e.g. "
            f"{project.folder / 'exports'}"
        )


#: File names of the single-file formats when written to a datasource.
FILE_NAMES = {"csv": "labels.csv", "embeddings-csv": "embeddings.csv"}
#: The file whose presence means an export is already there (refused without overwrite).
MARKER_FILES = {"csv": "labels.csv", "label-studio": LS_TASKS}


def resolve_dest(project: Project, dest: str | os.PathLike[str]) -> Path:
    """The absolute path for a destination typed in the app.

    ``~`` is expanded, and a relative path is taken under the project folder (never the
    server's working folder).

    Raises:
        ExportError: The text is empty or holds a NUL character.
    """
    text = os.fspath(dest).strip()
    if not text:
        raise ExportError("give a destination folder")
    if "\x00" in text:
        raise ExportError(f"{text!r}: a path cannot hold a NUL character")
    return typed_path(text, project.folder)


def upload_export(
    build: Callable[[Path, str], _R],
    dest: WritableSource,
    fmt: str,
    prefix: str = "exports",
    *,
    own_folder: bool = True,
    file_name: str = "",
    overwrite: bool = False,
    progress: Callable[[float], None] | None = None,
) -> tuple[_R, CopyReport]:
    """Builds an export in a temporary folder and uploads it to ``dest`` under ``prefix``.

    A single-file format (``FILE_NAMES``) lands as ``<prefix>/<file_name>``; a folder format in
    ``<prefix>/<fmt>/`` (``own_folder``, so formats sit side by side) or in ``<prefix>/``
    itself. An export whose file (or marker file, ``MARKER_FILES``) is already there is
    refused before anything is built, unless ``overwrite``.

    Args:
        build: Writes the export to the path it is given (the file, or the folder) and returns
            its report; its second argument is the destination's ``s3://`` URL of that folder
            (for Label Studio's image references), or "" for a local destination.
        dest: The writable datasource.
        fmt: The format's name.
        prefix: The folder under ``dest``.
        own_folder: Put a folder format in a subfolder named for it.
        file_name: A single-file format's name (default: ``FILE_NAMES[fmt]``).
        overwrite: Replace existing files.
        progress: Called with the upload's fraction done.

    Returns:
        What ``build`` returned, and the upload's report.

    Raises:
        ExportExistsError: the export's file is there already and ``overwrite`` is off.
    """
    import tempfile

    from bps_core.storage.base import join_uri
    from bps_core.storage.copy import upload_folder
    from bps_core.storage.validation import check_prefix

    name = file_name or FILE_NAMES.get(fmt, "")
    if name or not own_folder:
        target = check_prefix(prefix)
    else:
        target = check_prefix(f"{prefix.strip('/')}/{fmt}")
    marker = name or MARKER_FILES.get(fmt)
    if marker and not overwrite and dest.head(target + marker) is not None:
        raise ExportExistsError(join_uri(dest.uri(), target + marker))
    url_prefix = join_uri(dest.uri(), target) if dest.uri().startswith("s3://") else ""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "export"
        result = build(root / name if name else root, url_prefix)
        # every file was checked above (or is regenerated each time, as Lightly's are)
        upload = upload_folder(root, dest, target, overwrite=overwrite or fmt != "imagefolder",
                               progress=progress)  # fmt: skip
    return result, upload


def export_to_output(
    project: Project,
    fmt: str,
    prefix: str = "exports",
    *,
    overwrite: bool = False,
    task: str = "bps-classification",
    dest: WritableSource | None = None,
    own_folder: bool = True,
    file_name: str = "",
    progress: Callable[[float], None] | None = None,
    export_progress: Callable[[float], None] | None = None,
) -> tuple[ExportReport, CopyReport]:
    """Builds an export in a temporary folder and uploads it to the project's output datasource.

    It lands under ``<output>/<prefix>/`` (``labels.csv``, or ``imagefolder/``,
    ``label-studio/`` and ``lightly/`` folders) on the output datasource, an S3 prefix or a
    folder. Label Studio tasks on S3 reference
    their previews as ``s3://`` object URLs (connect that bucket as cloud storage in Label
    Studio); in a folder, as local files relative to the ``label-studio/`` folder.

    ``dest`` uploads to another writable datasource instead; ``own_folder``, ``file_name`` and
    ``progress`` are as for ``upload_export``; ``export_progress`` follows the export's build.
    """

    def build(path: Path, url_prefix: str) -> ExportReport:
        return export(project, fmt, path, overwrite=True, task=task, progress=export_progress,
                      url_prefix=url_prefix if fmt == "label-studio" else "")  # fmt: skip

    return upload_export(build, project.output_source() if dest is None else dest, fmt, prefix,
                         own_folder=own_folder, file_name=file_name, overwrite=overwrite,
                         progress=progress)  # fmt: skip
