"""Write-back in Lightly's ``.lightly/`` layout, so other tools can read what we computed.

Under the output datasource (an S3 prefix or a local folder) this writes::

    .lightly/relevant_filenames.txt                     readable samples, one path per line
    .lightly/embeddings/<name>.csv                      Lightly embeddings CSV
    .lightly/metadata/schema.json                       [{name, path, defaultValue, valueDataType}]
    .lightly/metadata/<relpath without ext>.json        {file_name, type: image, metadata}
    .lightly/predictions/tasks.json                     ["<task>", ...]
    .lightly/predictions/<task>/schema.json             {task_type: classification, categories}
    .lightly/predictions/<task>/<relpath w/o ext>.json  {file_name, predictions: [...]}
    .lightly/thumbnails/<relpath w/o ext>_thumb.<ext>   8-bit display thumbnails

File names are relative to the input datasource root, as Lightly expects. Objects are written
with a pool of threads; each failure is reported with its key and the rest continue.
"""

from __future__ import annotations

import io
import json
import math
import re
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image

from bps_core.errors import BpsError, ImageDecodeError
from bps_core.images import BPS_WINDOW, DisplayWindow, decode_image, thumbnail
from bps_core.project.store import Project
from bps_core.storage import DataSource, WritableSource
from bps_core.storage.base import join_uri
from bps_core.storage.fetch import DEFAULT_WORKERS
from bps_core.storage.local import safe_relative_key

PARTS = ("relevant_filenames", "embeddings", "metadata", "predictions", "thumbnails")
DEFAULT_TASK = "bps-classification"
TASK_RE = re.compile(r"^[a-zA-Z0-9_+=,.@:-]+$")
_THUMB_FORMATS = {".tif": "TIFF", ".tiff": "TIFF", ".png": "PNG", ".jpg": "JPEG",
                  ".jpeg": "JPEG", ".bmp": "BMP", ".gif": "GIF"}  # fmt: skip
Progress = Callable[[float], None]


class WritebackError(BpsError):
    """Write-back cannot start (nothing to write, a bad task name)."""


@dataclass
class WritebackReport:
    """Objects written per part, and the keys that failed with why."""

    dest: str
    written: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: what was written per part, and how many files failed."""
        parts = ", ".join(f"{n} {part}" for part, n in self.written.items())
        extra = f"; {len(self.failed)} failed" if self.failed else ""
        return f"wrote {parts or 'nothing'} under {join_uri(self.dest, '.lightly/')}{extra}"


def _unsafe(relpath: str) -> str:
    try:
        safe_relative_key(relpath)
    except BpsError as exc:
        return str(exc)
    return ""


def stem(relpath: str) -> str:
    """The relative path without its extension, as Lightly names per-file JSONs."""
    return str(PurePosixPath(safe_relative_key(relpath)).with_suffix(""))


def thumbnail_key(relpath: str) -> str:
    """Lightly's default ``thumbSuffix``: ``.lightly/thumbnails/[filename]_thumb.[extension]``."""
    ext = PurePosixPath(relpath).suffix
    return f".lightly/thumbnails/{stem(relpath)}_thumb{ext}"


def _json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _value_type(values: Sequence[Any]) -> tuple[str, Any]:
    """Lightly's ``valueDataType`` and a default value for one metadata column."""
    present = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if present and all(isinstance(v, bool) for v in present):
        return "CATEGORICAL_BOOLEAN", False
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "NUMERIC_INT", 0
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "NUMERIC_FLOAT", 0.0
    return "CATEGORICAL_STRING", ""


def metadata_schema(metas: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``.lightly/metadata/schema.json`` entries: one per column, with its inferred type."""
    columns = sorted({k for m in metas for k in m})
    schema = []
    for col in columns:
        kind, default = _value_type([m.get(col) for m in metas])
        schema.append({"name": col, "path": col, "defaultValue": default, "valueDataType": kind})
    return schema


#: (key, the bytes or a function making them, content type)
_Item = tuple[str, bytes | Callable[[], bytes], str]
_JSON = "application/json"


def _write_all(
    dest: WritableSource,
    items: Sequence[_Item],
    report: WritebackReport,
    part: str,
    progress: Progress | None,
    workers: int,
) -> None:
    """Writes items concurrently; each failure goes to the report with its key."""

    def one(item: _Item) -> None:
        key, body, ctype = item
        dest.write_bytes(key, body if isinstance(body, bytes) else body(), ctype)

    done = 0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(one, item): item[0] for item in items}
        for fut in as_completed(futures):
            try:
                fut.result()
                done += 1
            except BpsError as exc:
                report.failed[futures[fut]] = str(exc)
            if progress is not None:
                progress((done + len(report.failed)) / max(1, len(items)))
    report.written[part] = report.written.get(part, 0) + done


def _staged(progress: Progress | None, i: int, n: int) -> Progress | None:
    if progress is None:
        return None
    return lambda f: progress((i + f) / n)


def write_lightly(
    project: Project,
    dest: WritableSource | None = None,
    *,
    parts: Sequence[str] = PARTS,
    task: str = DEFAULT_TASK,
    embeddings_name: str = "bps_labeler",
    thumb_size: int = 128,
    window: DisplayWindow | None = None,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> WritebackReport:
    """Writes the chosen ``parts`` of the project under ``<dest>/.lightly/``.

    ``dest`` defaults to the project's output datasource. Parts that have nothing to write yet
    (no model, no embeddings) are reported in ``skipped`` with the reason.
    """
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise WritebackError(
            f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}"
        )
    if not TASK_RE.match(task):
        raise WritebackError(f"task name {task!r}: use letters, digits and _+=,.@:- only")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", embeddings_name):
        raise WritebackError(f"embeddings name {embeddings_name!r}: letters, digits, _ . - only")
    dest = dest or project.output_source()
    report = WritebackReport(dest.uri())
    samples = project.samples()
    samples = samples[samples.status == "ok"]
    unsafe = {rel: reason for rel in samples.relpath if (reason := _unsafe(rel))}
    report.failed.update(unsafe)  # never written: their names would leave .lightly/
    samples = samples[~samples.relpath.isin(unsafe)]
    relpath_of = dict(zip(samples.key, samples.relpath, strict=True))
    steps = [p for p in PARTS if p in parts]
    for i, part in enumerate(steps):
        stage = _staged(progress, i, len(steps))
        if part == "relevant_filenames":
            body = "".join(f"{r}\n" for r in sorted(relpath_of.values())).encode()
            items: list[_Item] = [(".lightly/relevant_filenames.txt", body, "text/plain")]
            _write_all(dest, items, report, part, stage, 1)
        elif part == "embeddings":
            _write_embeddings(project, dest, relpath_of, embeddings_name, report)
        elif part == "metadata":
            rows = [r for r in project.stored_metadata() if r[0] not in unsafe]
            metas = [m for _, m in rows]
            items = [(".lightly/metadata/schema.json", _json(metadata_schema(metas)), _JSON)]
            for (rel, _), meta in zip(rows, metas, strict=True):
                doc = {"file_name": rel, "type": "image", "metadata": meta}
                items.append((f".lightly/metadata/{stem(rel)}.json", _json(doc), _JSON))
            _write_all(dest, items, report, part, stage, workers)
        elif part == "predictions":
            _write_predictions(project, dest, relpath_of, task, report, stage, workers)
        elif part == "thumbnails":
            make = partial(_thumbnail_bytes, project.source(), thumb_size, window or BPS_WINDOW)
            items = [(thumbnail_key(rel), partial(make, rel), "") for rel in samples.relpath]
            _write_all(dest, items, report, part, stage, workers)
    if progress is not None:
        progress(1.0)
    return report


def _thumbnail_bytes(source: DataSource, size: int, window: DisplayWindow, relpath: str) -> bytes:
    """An 8-bit display thumbnail in the image's own format (Lightly keeps the extension)."""
    raw = source.read_bytes(relpath)
    try:
        small = thumbnail(decode_image(raw, relpath), size, window)
    except ImageDecodeError as exc:
        raise BpsError(str(exc)) from None
    buf = io.BytesIO()
    Image.fromarray(small).save(
        buf, format=_THUMB_FORMATS.get(PurePosixPath(relpath).suffix.lower(), "PNG")
    )
    return buf.getvalue()


def _write_embeddings(
    project: Project,
    dest: WritableSource,
    relpath_of: dict[str, str],
    name: str,
    report: WritebackReport,
) -> None:
    from bps_core.embeddings import load_embedding_set
    from bps_core.embeddings.lightly_csv import export_embeddings_csv

    emb = load_embedding_set(project)
    if emb is None:
        report.skipped["embeddings"] = "no embeddings yet (compute them on the Embeddings page)"
        return
    rows = [i for i, k in enumerate(emb.keys) if k in relpath_of]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.csv"
        export_embeddings_csv(path, emb.vectors[rows], [relpath_of[emb.keys[i]] for i in rows])
        body = path.read_bytes()
    _write_all(dest, [(f".lightly/embeddings/{name}.csv", body, "text/csv")],
               report, "embeddings", None, 1)  # fmt: skip


def _write_predictions(
    project: Project,
    dest: WritableSource,
    relpath_of: dict[str, str],
    task: str,
    report: WritebackReport,
    progress: Progress | None,
    workers: int,
) -> None:
    from bps_core.embeddings.store import load_embedding_set
    from bps_core.selection.rounds import latest_model, predictions

    model = latest_model(project)
    if model is None:
        report.skipped["predictions"] = "no model yet (train one on the Rounds page)"
        return
    emb = load_embedding_set(project, model.embedding_version)
    if emb is None:
        report.skipped["predictions"] = f"the model's embeddings {model.embedding_version} are gone"
        return
    probs = predictions(project, model)
    try:
        existing = json.loads(dest.read_bytes(".lightly/predictions/tasks.json"))
        tasks = [t for t in existing if isinstance(t, str)] if isinstance(existing, list) else []
    except (BpsError, ValueError):
        tasks = []
    if task not in tasks:
        tasks.append(task)
    schema = {
        "task_type": "classification",
        "categories": [{"id": i, "name": c} for i, c in enumerate(model.classes)],
    }
    items: list[_Item] = [
        (".lightly/predictions/tasks.json", _json(tasks), _JSON),
        (f".lightly/predictions/{task}/schema.json", _json(schema), _JSON),
    ]
    for key, p in zip(emb.keys, probs, strict=True):
        rel = relpath_of.get(key)
        if rel is None:
            continue
        p = np.asarray(p, dtype=np.float64)
        p = p / p.sum()
        doc = {"file_name": rel, "predictions": [
            {"category_id": int(p.argmax()), "probabilities": [round(float(v), 6) for v in p]}
        ]}  # fmt: skip
        items.append((f".lightly/predictions/{task}/{stem(rel)}.json", _json(doc), _JSON))
    _write_all(dest, items, report, "predictions", progress, workers)
