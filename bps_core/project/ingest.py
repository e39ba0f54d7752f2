"""Ingest: list a datasource, read its metadata CSV, and record samples and problems."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from bps_core import bps
from bps_core.errors import DatasourceError, MetadataError
from bps_core.images import DEFAULT_LIMITS, format_for_name, is_image_name, sniff_format
from bps_core.metadata import MAX_CSV_BYTES, join_metadata, read_metadata_csv
from bps_core.project import db
from bps_core.project.store import Project, _set_ingest_state, sample_key, utc_now
from bps_core.storage import DataSource, DatasourceConfig, open_source
from bps_core.storage.local import not_a_folder, safe_relative_key

Progress = Callable[[float], None]


@dataclass
class IngestReport:
    """What an ingest found: samples, bad files, and metadata that did not match."""

    n_samples: int = 0
    n_bad: int = 0
    files_without_metadata: list[str] = field(default_factory=list)
    rows_without_files: list[str] = field(default_factory=list)
    bad_files: dict[str, str] = field(default_factory=dict)


def resolve_local_root(path: str | Path) -> Path:
    """The image folder for a path: a BPS download root maps to its ``Microscopy/train``."""
    p = Path(path).resolve()
    train = p / bps.TRAIN_PREFIX
    return train if train.is_dir() else p


def find_metadata_csv(source: DataSource) -> str:
    """The key of ``meta.csv`` at the source root, or '' when there is none."""
    return bps.META_CSV if source.exists(bps.META_CSV) else ""


#: Every character of the Unicode categories Cc, Zl and Zp (a quick test before the full scan).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _control_character(key: str) -> str | None:
    """Says why a key holding a control or line-break character cannot be a sample, else None.

    Such a key would break every line-based file (``.lightly/relevant_filenames.txt``, CSV
    exports, logs).
    """
    if not _CONTROL.search(key):
        return None
    for i, ch in enumerate(key):
        if unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
            return (
                f"the file name holds a control character (U+{ord(ch):04X}, position {i + 1}), "
                "such as a newline; rename the file"
            )
    return None


def is_disk_path(meta_csv: str) -> bool:
    """Tells whether a metadata CSV reference is a file on this machine (an absolute path).

    Otherwise it is a key inside the source (keys are relative).
    """
    return Path(meta_csv).is_absolute()


def check_metadata_csv(source: DataSource, meta_csv: str, uri: str) -> None:
    """Fails with what to do when the metadata CSV ``meta_csv`` cannot be found.

    Raises:
        DatasourceError: no such file on this machine, or no such key under the source.
    """
    if is_disk_path(meta_csv):
        if not Path(meta_csv).is_file():
            raise DatasourceError(f"metadata CSV {meta_csv}: no such file")
    elif not source.exists(meta_csv):
        raise DatasourceError(
            f"metadata CSV {meta_csv!r} not found under {uri} nor on this machine; give its "
            "path (absolute, or relative to the working directory) or a name inside the source"
        )


def read_metadata(source: DataSource, meta_csv: str) -> pd.DataFrame:
    """Reads and checks the metadata CSV.

    ``meta_csv`` is a file on this machine (absolute path) or a key inside ``source``.

    Raises:
        DatasourceError: the file cannot be read.
        MetadataError: the CSV is malformed (the message names file, row, column).
    """
    if not is_disk_path(meta_csv):
        try:
            data = source.read_bytes(meta_csv)
        except DatasourceError as exc:
            raise DatasourceError(
                f"metadata CSV {meta_csv!r} under {source.uri()}: {exc}. Put the metadata CSV "
                "there, or choose the folder that holds it"
            ) from None
        return read_metadata_csv(data, meta_csv)
    path = Path(meta_csv)
    try:
        if path.stat().st_size > MAX_CSV_BYTES:
            raise MetadataError(f"{path}: {path.stat().st_size:,} bytes is too large for a "
                                "metadata CSV")  # fmt: skip
        data = path.read_bytes()
    except OSError as exc:
        raise DatasourceError(
            f"metadata CSV {path}: cannot read it ({exc.strerror or type(exc).__name__})"
        ) from None
    return read_metadata_csv(data, str(path))


def _unsafe_key(key: str) -> str | None:
    """Says why a listed key cannot be a sample path, or None when it can.

    Refused: control characters, or (S3 keys) '..', '//' or backslashes.
    """
    if problem := _control_character(key):
        return problem
    try:
        safe_relative_key(key)
    except DatasourceError as exc:
        return f"{exc}; rename the object"
    return None


def _header_problem(source: DataSource, key: str, size: int) -> str | None:
    """A cheap check of the first bytes; full decoding errors are recorded when they happen."""
    if size == 0:
        return "empty file (0 bytes); re-export or remove it"
    try:
        fmt = sniff_format(source.read_bytes(key, 16))
    except DatasourceError as exc:
        return str(exc)
    if fmt is None:
        return "not a supported image (png, jpeg, bmp, gif, tiff): unrecognised content"
    expected = format_for_name(key)
    if expected != fmt:
        return f"content is {fmt.upper()} but the extension says {str(expected).upper()}"
    return None


#: Threads reading file headers at once: the reads wait on the disk (or the page cache), and a
#: cold folder of small files answers many outstanding reads far faster than one at a time.
HEADER_WORKERS = 16
_HEADER_CHUNK = 256


def _scaled(progress: Progress | None, top: float) -> Progress | None:
    return None if progress is None else (lambda f: progress(top * f))


def check_headers_parallel(
    source: DataSource,
    items: Sequence[tuple[str, int]],
    *,
    workers: int = HEADER_WORKERS,
    progress: Progress | None = None,
) -> dict[str, str | None]:
    """Checks the first bytes of many files at once (``_header_problem`` per file).

    Args:
        source: Where the files are.
        items: (key, size in bytes) of each file to check.
        workers: Threads reading at once.
        progress: Called with the fraction checked.

    Returns:
        Key -> the problem found (one line saying what to do), or None for a good header.
    """
    chunks = [items[i : i + _HEADER_CHUNK] for i in range(0, len(items), _HEADER_CHUNK)]

    def check(chunk: Sequence[tuple[str, int]]) -> list[tuple[str, str | None]]:
        return [(key, _header_problem(source, key, size)) for key, size in chunk]

    out: dict[str, str | None] = {}
    if len(chunks) <= 1 or workers <= 1:
        results: Iterable[list[tuple[str, str | None]]] = map(check, chunks)
        for found in results:
            out.update(found)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for done, found in enumerate(pool.map(check, chunks), start=1):
                out.update(found)
                if progress is not None:
                    progress(done / len(chunks))
    if progress is not None:
        progress(1.0)
    return out


def _listed_images(
    source: DataSource,
    bps_channel: str | None,
    on_listed: Callable[[int], None] | None,
    refuse_empty: bool,
) -> list[Any]:
    """The image files ``source`` lists (of ``bps_channel`` for BPS file names).

    Raises:
        DatasourceError: it lists none and ``refuse_empty``: a re-list of a wrong folder or
            prefix would otherwise leave every sample's file missing.
    """
    listing = []
    n_listed = n_images = 0
    for item in source.list(progress=on_listed):
        n_listed += 1
        if not is_image_name(item.key):
            continue
        n_images += 1
        parsed = bps.parse_filename(item.key)
        if bps_channel and parsed is not None and parsed.channel != bps_channel:
            continue
        listing.append(item)
    if not listing and refuse_empty:
        what = f"{n_listed:,} files, none of them an image" if n_listed else "no files"
        if n_images:  # BPS images, none of the channel kept
            what = (f"{n_images:,} images, none of the BPS channel {bps_channel!r} (ingest "
                    "every channel to keep them)")  # fmt: skip
        raise DatasourceError(
            f"{source.uri()} holds {what}: nothing was ingested and the project is unchanged. "
            "Choose the folder (or S3 prefix) that holds the TIFF or PNG images"
        )
    return listing


def ingest(
    project: Project,
    source: DataSource,
    *,
    meta_csv_key: str = "",
    bps_channel: str | None = "proj",
    check_headers: bool = True,
    progress: Progress | None = None,
    on_listed: Callable[[int], None] | None = None,
    refuse_empty: bool = False,
) -> IngestReport:
    """Lists ``source`` and upserts every image as a sample, keyed by its relative path.

    Args:
        project: The open project.
        source: The datasource to list.
        meta_csv_key: Key of a metadata CSV in the source, or its absolute path on this
            machine ('' for none).
        bps_channel: For BPS file names, keep only this channel (``proj`` = FITC); None keeps all.
        check_headers: Read each file's first bytes to flag empty or mislabeled files.
        progress: Called with the fraction done.
        on_listed: Called with the number of keys listed so far (listing has no known total).
        refuse_empty: Fail when ``source`` lists no image (a re-list), before any change.

    Raises:
        MetadataError: the metadata CSV is malformed (the message names file, row, column).
        DatasourceError: the metadata CSV cannot be read, or no image is listed and
            ``refuse_empty``; the project is unchanged either way.
    """
    before = project.ingest_state()
    project.set_ingest_state("running")
    try:
        listing = _listed_images(source, bps_channel, on_listed, refuse_empty)
        meta = read_metadata(source, meta_csv_key) if meta_csv_key else None
    except Exception:
        # Nothing was written: the project is as it was, and says so (not "unfinished").
        project.set_ingest_state(str((before or {}).get("state", "finished")))
        raise
    joined = join_metadata((i.key for i in listing), meta)
    report = IngestReport(
        files_without_metadata=joined.files_without_metadata,
        rows_without_files=joined.rows_without_files,
    )
    ds_id = project.config.datasource.id
    problems_by_key: dict[str, str | None] = {}
    for item in listing:
        problem = _unsafe_key(item.key)
        if problem is None and item.size > DEFAULT_LIMITS.max_bytes:  # never fetched whole
            problem = (
                f"file is {item.size:,} bytes, over the limit of {DEFAULT_LIMITS.max_bytes:,}; "
                "crop or downscale it"
            )
        problems_by_key[item.key] = problem
    if check_headers:
        to_check = [i for i in listing if problems_by_key[i.key] is None]
        checked = check_headers_parallel(
            source, [(i.key, i.size) for i in to_check], progress=_scaled(progress, 0.9)
        )
        problems_by_key.update(checked)
    now = utc_now()
    rows = []
    for item in listing:
        problem = problems_by_key[item.key]
        if problem is None and item.size == 0:
            problem = "empty file (0 bytes); re-export or remove it"
        if problem:
            report.bad_files[item.key] = problem
        md = json.dumps(joined.metadata[item.key], sort_keys=True)
        rows.append(
            (sample_key(ds_id, item.key), ds_id, item.key, item.size,
             "bad" if problem else "ok", problem, md, now)
        )  # fmt: skip
    if progress is not None:
        progress(0.9)
    problems = (
        [("no_metadata", f, f"no row in {meta_csv_key}", now)
         for f in joined.files_without_metadata]
        + [("missing_file", f, f"listed in {meta_csv_key} but not found", now)
           for f in joined.rows_without_files]
    )  # fmt: skip

    def tx(c: db.Connection) -> None:
        c.executemany(
            "INSERT INTO samples (key, datasource_id, relpath, size_bytes, status, error, "
            "meta_json, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
            "size_bytes = excluded.size_bytes, status = excluded.status, "
            "error = excluded.error, meta_json = excluded.meta_json",
            rows,
        )
        c.execute("DELETE FROM ingest_problems")
        c.executemany(
            "INSERT INTO ingest_problems (kind, path, message, created_at) VALUES (?, ?, ?, ?)",
            problems,
        )
        _set_ingest_state(c, "finished")

    db.write(project._conn, tx)
    report.n_samples = len(rows)
    report.n_bad = len(report.bad_files)
    if progress is not None:
        progress(1.0)
    return report


def create_project(
    project_dir: str | Path,
    datasource: DatasourceConfig,
    *,
    name: str | None = None,
    meta_csv: str | None = None,
    bps_channel: str | None = "proj",
    check_headers: bool | None = None,
    progress: Progress | None = None,
    on_listed: Callable[[int], None] | None = None,
    database_url: str = "",
) -> tuple[Project, IngestReport]:
    """Creates a project over any datasource (local folder or S3 prefix) and ingests it.

    ``meta_csv`` is a key inside the source or an absolute path on this machine (kept in the
    project's config, so a re-list reads it again); by default ``meta.csv`` at the source root
    if present. Header checks (a ranged read per file) default to on for local folders and off
    for remote ones, where they would cost one request per image; bad remote files are flagged
    when first decoded instead. Nothing is created when the source cannot be listed.
    ``database_url`` puts the database on a PostgreSQL server (see ``Project.create``).
    """
    if datasource.kind == "local":
        datasource = replace(datasource, path=str(resolve_local_root(datasource.path)))
    source = open_source(datasource)
    key = meta_csv if meta_csv is not None else find_metadata_csv(source)
    if key:
        check_metadata_csv(source, key, datasource.uri)
    project = Project.create(
        project_dir, datasource, name=name, meta_csv=key, ingest_pending=True,
        database_url=database_url,
    )  # fmt: skip
    try:
        report = ingest(
            project,
            project.source(),
            meta_csv_key=key,
            bps_channel=bps_channel,
            check_headers=datasource.kind == "local" if check_headers is None else check_headers,
            progress=progress,
            on_listed=on_listed,
        )
    except BaseException:
        project.close()
        raise
    return project, report


def create_project_from_folder(
    project_dir: str | Path,
    source_path: str | Path,
    *,
    name: str | None = None,
    meta_csv: str | None = None,
    bps_channel: str | None = "proj",
    progress: Progress | None = None,
    database_url: str = "",
) -> tuple[Project, IngestReport]:
    """Creates a project over a local folder and ingests it (``bps-labeler init``).

    ``meta_csv`` is a key inside the folder or an absolute path on this machine; by default
    ``meta.csv`` at the folder's root is used if present. ``database_url`` puts the database
    on a PostgreSQL server (see ``Project.create``).
    """
    root = resolve_local_root(source_path)
    if not root.is_dir():
        raise DatasourceError(not_a_folder(root))
    config = DatasourceConfig(id="input", kind="local", path=str(root), purpose="input")
    return create_project(
        project_dir, config, name=name, meta_csv=meta_csv, bps_channel=bps_channel,
        progress=progress, database_url=database_url,
    )  # fmt: skip


def reingest(
    project: Project,
    *,
    all_channels: bool = False,
    check_headers: bool | None = None,
    progress: Progress | None = None,
    on_listed: Callable[[int], None] | None = None,
    datasource: DatasourceConfig | None = None,
) -> IngestReport:
    """Re-lists the project's input datasource and adds or updates its samples (idempotent).

    Completes an ingest that was killed (``bps-labeler ingest``), and picks up files added
    since, or a datasource that moved (keys are ``<input id>:<relative path>``, so labels of
    files found again are kept). Header checks default to on for local folders only.

    ``datasource``: a new input (the same id) to list instead; the project switches to it
    only after its images are ingested. A folder or prefix without images, or without the
    metadata CSV the project names, fails before anything changes: the project keeps
    reading the images it has.
    """
    config = datasource or project.config.datasource
    project.check_input_id(config)  # before any listing
    source = open_source(config, cache_dir=project.object_cache_dir)
    meta_key = project.config.meta_csv or find_metadata_csv(source)
    report = ingest(
        project,
        source,
        meta_csv_key=meta_key,
        bps_channel=None if all_channels else "proj",
        check_headers=config.kind == "local" if check_headers is None else check_headers,
        progress=progress,
        on_listed=on_listed,
        refuse_empty=True,
    )
    if config != project.config.datasource:  # switched only once its images are in
        project.set_datasources(input=config)
    return report


def add_samples_without_files(
    project: Project, relpaths: list[str], metadata: list[dict[str, Any]]
) -> int:
    """Registers samples whose images are not on disk (synthetic scale tests and benchmarks).

    Each becomes an ``ok`` sample of the project's datasource with ``metadata``; nothing is
    listed or read. Returns the number of rows written.

    Raises:
        ValueError: ``relpaths`` and ``metadata`` differ in length.
    """
    if len(relpaths) != len(metadata):
        raise ValueError(f"{len(relpaths)} paths for {len(metadata)} metadata rows")
    ds_id = project.config.datasource.id
    now = utc_now()
    rows = [
        (sample_key(ds_id, rel), ds_id, rel, 0, "ok", None, json.dumps(md, sort_keys=True), now)
        for rel, md in zip(relpaths, metadata, strict=True)
    ]

    def tx(c: db.Connection) -> None:
        c.executemany(
            "INSERT INTO samples (key, datasource_id, relpath, size_bytes, status, error, "
            "meta_json, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        _set_ingest_state(c, "finished")

    db.write(project._conn, tx)
    return len(rows)
