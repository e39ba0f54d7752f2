"""Lightly's embeddings CSV: export ours, import theirs (``lightly.utils.io``)."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from lightly.utils import io as lightly_io
from numpy.typing import NDArray

from bps_core.embeddings.store import l2_normalise
from bps_core.errors import MetadataError


def export_embeddings_csv(
    path: str | Path,
    vectors: NDArray[np.floating[Any]],
    relpaths: list[str],
) -> None:
    """Writes ``filenames,embedding_0..,labels`` with file names relative to the input root."""
    if len(vectors) != len(relpaths):
        raise ValueError(f"{len(relpaths)} file names for {len(vectors)} vectors")
    lightly_io.save_embeddings(
        str(path), np.asarray(vectors, dtype=np.float64), [0] * len(relpaths), list(relpaths)
    )


@dataclass
class CsvImport:
    keys: list[str]
    vectors: NDArray[np.float32]
    unknown_files: list[str] = field(default_factory=list)


def import_embeddings_csv(path: str | Path, relpath_to_key: dict[str, str]) -> CsvImport:
    """Reads a Lightly embeddings CSV and maps its file names to sample keys.

    Names match a relative path, or a basename when that is unique. Unmatched names are
    reported. Raises ``MetadataError`` when the CSV does not follow Lightly's format.
    """
    try:
        lightly_io.check_embeddings(str(path), remove_additional_columns=False)
        vectors, _labels, filenames = lightly_io.load_embeddings(str(path))
    except (RuntimeError, ValueError, KeyError, IndexError, OSError) as exc:
        raise MetadataError(f"{path}: not a Lightly embeddings CSV ({exc})") from None
    by_base: dict[str, list[str]] = {}
    for rel, sample in relpath_to_key.items():
        by_base.setdefault(posixpath.basename(rel), []).append(sample)
    keys: list[str] = []
    rows: list[int] = []
    unknown: list[str] = []
    for i, name in enumerate(filenames):
        key = relpath_to_key.get(name)
        candidates = by_base.get(posixpath.basename(name), [])
        if key is None and len(candidates) == 1:
            key = candidates[0]
        if key is None:
            unknown.append(name)
            continue
        keys.append(key)
        rows.append(i)
    if not keys:
        raise MetadataError(f"{path}: no file name matches a sample of this project")
    return CsvImport(keys, l2_normalise(np.asarray(vectors)[rows]), unknown)
