"""Verbs: exports to a local path or the project's output datasource.

Labels or predictions (csv, ImageFolder, Label Studio, Lightly) and embeddings (a Lightly
embeddings CSV).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bps_core.embeddings.lightly_csv import export_embeddings_csv
from bps_core.embeddings.store import load_embedding_set
from bps_core.errors import BpsError, SettingsError
from bps_core.exports import (
    FILE_NAMES,
    FORMATS,
    ExportReport,
    check_file_dest,
    upload_export,
    write_file,
)
from bps_core.exports import export as _export
from bps_core.exports import export_to_output as _export_to_output
from bps_core.project.store import Project
from bps_core.settings import check_choice
from bps_core.storage import open_writable
from bps_core.storage.base import DatasourceConfig
from bps_core.storage.copy import CopyReport


@dataclass(frozen=True)
class ExportSettings:
    """One export of labels or predictions to a local path.

    Attributes:
        format: One of ``FORMATS``: ``csv`` (a file), ``imagefolder``, ``label-studio`` or
            ``lightly`` (folders).
        dest: The file (``csv``) or folder to write.
        overwrite: Replace existing files.
        task: The Lightly prediction task's name (``lightly``).
        document_root: Label Studio's LOCAL_FILES_DOCUMENT_ROOT (``label-studio``).
        url_prefix: Label Studio image URLs under this prefix instead of local files.
    """

    format: str
    dest: Path
    overwrite: bool = False
    task: str = "bps-classification"
    document_root: Path | None = None
    url_prefix: str = ""

    def __post_init__(self) -> None:
        check_choice("format", self.format, FORMATS)
        if not str(self.dest).strip():
            raise SettingsError("dest: give a destination file or folder")
        if self.document_root is not None and self.format != "label-studio":
            raise SettingsError("document_root is for format 'label-studio' only")


def export(
    project: Project, settings: ExportSettings, progress: Callable[[float], None] | None = None
) -> ExportReport:
    """Writes one export to ``settings.dest``.

    Args:
        project: The project.
        settings: Format, destination and options.
        progress: Called with the fraction done.

    Returns:
        The export report (written, skipped, failed, renamed).

    Raises:
        ExportExistsError: a single-file export's file exists and ``overwrite`` is off.
    """
    return _export(project, settings.format, Path(settings.dest), overwrite=settings.overwrite,
                   task=settings.task, document_root=settings.document_root,
                   url_prefix=settings.url_prefix, progress=progress)  # fmt: skip


#: What ``export_to_output`` writes: the export formats and a Lightly embeddings CSV.
_OUTPUT_FORMATS = (*FORMATS, "embeddings-csv")


@dataclass(frozen=True)
class OutputExportSettings:
    """One export uploaded under ``<output datasource>/<prefix>/``, or to another destination.

    Attributes:
        format: One of ``FORMATS`` or ``embeddings-csv``.
        prefix: The folder under the datasource. On the project's output datasource a folder
            format gets a subfolder named for it (``exports/imagefolder/``); on a
            ``destination`` it lands in ``prefix`` itself.
        overwrite: Replace existing files.
        task: The Lightly prediction task's name (``lightly``).
        destination: A writable datasource (an S3 prefix or a folder) to upload to instead of
            the project's output datasource.
        file_name: A single-file format's name (default ``labels.csv``, ``embeddings.csv``).
    """

    format: str
    prefix: str = "exports"
    overwrite: bool = False
    task: str = "bps-classification"
    destination: DatasourceConfig | None = None
    file_name: str = ""

    def __post_init__(self) -> None:
        check_choice("format", self.format, _OUTPUT_FORMATS)
        if self.file_name and self.format not in FILE_NAMES:
            raise SettingsError(
                f"file_name is for the single-file formats ({', '.join(FILE_NAMES)}); "
                f"format {self.format!r} writes a folder"
            )
        if "/" in self.file_name or self.file_name in (".", ".."):
            raise SettingsError(f"file_name {self.file_name!r}: give a name without '/'")


@dataclass(frozen=True)
class OutputExportRecord:
    """What an export to the output datasource (or a destination) did: the export, its upload.

    Attributes:
        export: The export's report (for ``embeddings-csv``: the embeddings written).
        upload: The upload's report.
        embeddings: The embeddings CSV's record, for ``embeddings-csv``; else None.
    """

    export: ExportReport
    upload: CopyReport
    embeddings: EmbeddingsExportRecord | None = None


def export_to_output(
    project: Project,
    settings: OutputExportSettings,
    progress: Callable[[float], None] | None = None,
) -> OutputExportRecord:
    """Builds an export in a temporary folder and uploads it to the output datasource.

    Or to ``settings.destination`` when one is given.

    Args:
        project: The project (with an output datasource, or a writable input, unless a
            destination is given).
        settings: Format, where, and whether to overwrite.
        progress: Called with the fraction done (the export's build, then its upload).

    Returns:
        The export's and the upload's reports.

    Raises:
        ExportExistsError: the export is there already and ``overwrite`` is off.
        DatasourceError: no output datasource, or the destination cannot be written.
    """
    dest = (project.output_source() if settings.destination is None
            else open_writable(settings.destination))  # fmt: skip
    build_progress = upload_progress = None
    if progress is not None:
        report_to = progress

        def build_progress(f: float) -> None:
            report_to(f / 2)

        def upload_progress(f: float) -> None:
            report_to(0.5 + f / 2)

    own_folder = settings.destination is None
    if settings.format == "embeddings-csv":

        def build(path: Path, _url_prefix: str) -> EmbeddingsExportRecord:
            return export_embeddings(project, EmbeddingsExportSettings(path, overwrite=True),
                                     build_progress)  # fmt: skip

        emb, upload = upload_export(build, dest, settings.format, settings.prefix,
                                    own_folder=own_folder, file_name=settings.file_name,
                                    overwrite=settings.overwrite,
                                    progress=upload_progress)  # fmt: skip
        return OutputExportRecord(ExportReport(settings.format, emb.dest, emb.n), upload, emb)
    report, upload = _export_to_output(project, settings.format, settings.prefix,
                                       overwrite=settings.overwrite, task=settings.task,
                                       dest=dest, own_folder=own_folder,
                                       file_name=settings.file_name, progress=upload_progress,
                                       export_progress=build_progress)  # fmt: skip
    return OutputExportRecord(report, upload)


@dataclass(frozen=True)
class EmbeddingsExportSettings:
    """The current embedding set as a Lightly embeddings CSV.

    Attributes:
        dest: The CSV file to write.
        overwrite: Replace an existing file.
    """

    dest: Path
    overwrite: bool = False

    def __post_init__(self) -> None:
        if not str(self.dest).strip():
            raise SettingsError("dest: give the CSV file to write")


@dataclass(frozen=True)
class EmbeddingsExportRecord:
    """What an embeddings export wrote."""

    dest: Path
    n: int
    dims: int


def export_embeddings(
    project: Project,
    settings: EmbeddingsExportSettings,
    progress: Callable[[float], None] | None = None,
) -> EmbeddingsExportRecord:
    """Writes the current embedding set as a Lightly embeddings CSV (whole, then moved).

    Args:
        project: The project.
        settings: The file and whether to overwrite it.
        progress: Called with 1.0 when written.

    Returns:
        The file and how many embeddings of how many dimensions it holds.

    Raises:
        BpsError: no embeddings yet, or the file exists and ``overwrite`` is off.
    """
    dest = Path(settings.dest)
    check_file_dest(dest, overwrite=settings.overwrite, example="embeddings.csv")
    emb = load_embedding_set(project)
    if emb is None:
        raise BpsError("no embeddings yet: run 'bps-labeler embed PROJECT_DIR' first")
    prefix = f"{project.config.datasource.id}:"
    relpaths = [k.removeprefix(prefix) for k in emb.keys]
    with tempfile.TemporaryDirectory() as tmp:
        export_embeddings_csv(Path(tmp) / "e.csv", emb.vectors, relpaths)
        write_file(dest, (Path(tmp) / "e.csv").read_bytes(), overwrite=settings.overwrite)
    if progress is not None:
        progress(1.0)
    return EmbeddingsExportRecord(dest, len(relpaths), int(emb.vectors.shape[1]))
