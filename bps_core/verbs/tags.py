"""Verbs of tags beside the class: tag or untag samples, read keys from a file, the tags table."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bps_core.atomic import atomic_write_text
from bps_core.csvsafe import safe_frame, unsafe_cell
from bps_core.errors import MetadataError, SettingsError
from bps_core.labels import FileNames
from bps_core.project.store import Project
from bps_core.project.tags import TagAction, clean_tag
from bps_core.settings import Settings


@dataclass(frozen=True)
class TagSettings(Settings):
    """A tag to add to (or remove from) samples.

    Attributes:
        keys: The sample keys.
        tag: The tag; trimmed, 1-48 characters, no comma or control character.
        remove: Remove the tag instead of adding it.
    """

    keys: tuple[str, ...]
    tag: str
    remove: bool = False

    def __post_init__(self) -> None:
        if not self.keys:
            raise SettingsError("keys: give at least one sample")
        try:
            clean_tag(self.tag)
        except ValueError as exc:
            raise SettingsError(f"tag: {exc}") from None


def tag_samples(
    project: Project,
    settings: TagSettings,
    progress: Callable[[float], None] | None = None,
    *,
    user: str,
) -> TagAction:
    """Adds or removes a tag on samples, as one action in one transaction.

    A blind double labeler sees only their own tags: theirs are compared with their own
    (``Tags.set(own=True)``), so a tag of theirs is written where someone else's is current.

    Args:
        project: The project.
        settings: The samples, the tag, and whether to remove it.
        progress: Called with 1.0 when done.
        user: Who tags.

    Raises:
        UnknownSampleError: a key is not in the project; nothing is written.
        ValueError: a user name that cannot be stored.
    """
    setting = project.assignments.active()
    own = setting is not None and setting.blind and user in setting.labelers
    done = project.tags.set(
        settings.keys, settings.tag, present=not settings.remove, user=user, own=own
    )
    if progress is not None:
        progress(1.0)
    return done


@dataclass
class KeysRead:
    """The samples a keys file or CSV names.

    Attributes:
        keys: Their keys, in file order, each once.
        unknown: Names that match no sample.
        ambiguous: Basenames several samples share (give the relative path).
    """

    keys: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)


def read_keys(project: Project, data: bytes, name: str, *, csv_file: bool) -> KeysRead:
    """The samples a file names: one per line (a key or a file name), or a CSV's ``filename``.

    A file name matches a sample's relative path, or its basename when only one sample has it.

    Args:
        project: The project.
        data: The file's bytes.
        name: The file's name, for messages.
        csv_file: A CSV with a ``filename`` column rather than one name per line.

    Raises:
        MetadataError: the file is not UTF-8 text, or the CSV has no ``filename`` column.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MetadataError(f"{name}: not UTF-8 text; save it as UTF-8 and retry") from None
    if csv_file:
        reader = csv.DictReader(io.StringIO(text))
        fields = [f.strip() for f in reader.fieldnames or []]
        if "filename" not in fields:
            raise MetadataError(f"{name}: no 'filename' column (found: {', '.join(fields)[:80]}); "
                                "the first row must name the columns")  # fmt: skip
        reader.fieldnames = fields
        names = [unsafe_cell((row.get("filename") or "").strip()) for row in reader]
    else:
        names = [line.strip() for line in text.splitlines()]
    known = set(project.samples().key)
    files = FileNames.of(project)
    out = KeysRead()
    for fname in dict.fromkeys(n for n in names if n):
        if fname in known:
            out.keys.append(fname)
            continue
        key, ambiguous = files.find(fname)
        if key is not None:
            out.keys.append(key)
        else:
            (out.ambiguous if ambiguous else out.unknown).append(fname)
    out.keys = list(dict.fromkeys(out.keys))
    return out


def tags_table(project: Project) -> pd.DataFrame:
    """One row per tagged sample, in sample order.

    Columns: ``filename`` (the relative path) and ``tags`` (comma-joined, sorted).
    """
    current = project.tags.current()
    rel = project.samples().set_index("key").relpath
    if current.empty:
        return pd.DataFrame(columns=["filename", "tags"])
    per = current.groupby("key", sort=False).tag.agg(lambda s: ", ".join(sorted(s)))
    return pd.DataFrame({"filename": rel.reindex(per.index).to_numpy(), "tags": per.to_numpy()})


def write_tags_csv(project: Project, path: str | Path) -> int:
    """Writes ``tags_table`` as CSV, atomically, safe from spreadsheet formulas; returns rows."""
    table = tags_table(project)
    atomic_write_text(path, safe_frame(table).to_csv(index=False))
    return len(table)
