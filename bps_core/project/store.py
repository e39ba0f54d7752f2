"""A project: a folder holding ``project.toml``, ``project.db`` and array files.

Samples are identified by a stable key, ``<datasource id>:<relative path>``. Labels are an
append-only event log; current labels are derived from the last event per sample.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd

from bps_core.errors import (
    DatasourceError,
    ProjectError,
    ReadOnlyProjectError,
    StaleLabelError,
    UnknownSampleError,
)
from bps_core.project import db, reversals, samples_frame
from bps_core.project.assignments import Assignments
from bps_core.project.config import CONFIG_NAME, ProjectConfig
from bps_core.project.embedding_sets import EmbeddingSets
from bps_core.project.image_stats import ImageStatsStore
from bps_core.project.keys import id_rows, key_rows, sample_ids
from bps_core.project.label_writes import (
    LabelAction,
    LabelWrite,
    UndoResult,
    newest_event,
    read_back,
)
from bps_core.project.maps import Maps
from bps_core.project.reviews import Reviews
from bps_core.project.rounds import Models, Rounds
from bps_core.project.saved_queues import SavedQueues
from bps_core.project.settings import INGEST_STATE_KEY, get_setting, put_setting
from bps_core.project.tags import Tags
from bps_core.storage import (
    DataSource,
    DatasourceConfig,
    WritableSource,
    open_source,
    open_writable,
)

DB_NAME = "project.db"
ARRAYS_DIR = "arrays"
OBJECT_CACHE_DIR = Path("cache") / "objects"
LABEL_SOURCES = ("lasso", "queue", "import", "undo", "redo", "api", "adjudication", "review")
# Colour-blind-safe palette (Okabe-Ito, then Tableau 10) for label classes, in creation order.
CLASS_COLORS = (
    "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
    "#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F", "#EDC948", "#B07AA1",
)  # fmt: skip
_MAX_NAME = 64
#: From this many keys, labels take the ids from the cached samples frame (when current).
_CACHED_IDS_FROM = 5_000
SAMPLE_COLUMNS = ("key", "sample_id", "relpath", "status", "error")
#: Column names the samples frame and the frames joined to it use (map coordinates, labels,
#: predictions, rounds, label events, the facets' confidence and tags). A metadata column with
#: one of these names, or any name starting with ``META_PREFIX``, appears in
#: ``Project.samples()`` as ``META_PREFIX + name``.
RESERVED_COLUMNS = frozenset(
    SAMPLE_COLUMNS
    + ("x", "y", "label", "prediction", "uncertainty", "round", "user", "created_at", "source",
       "action_id", "event_id", "filename", "index", "level_0", "meta_json", "confidence",
       "tags", "tag_names")
)  # fmt: skip
META_PREFIX = "meta:"
_DATASOURCE_COLUMNS = "id, kind, uri, purpose, created_at"


def utc_now() -> str:
    """Returns the current UTC time as ISO 8601 text with microseconds (how times are stored)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def sample_key(datasource_id: str, relpath: str) -> str:
    """Returns a sample's key: ``<datasource_id>:<relpath>``."""
    return f"{datasource_id}:{relpath}"


def metadata_column(name: str) -> str:
    """The column of ``Project.samples()`` that holds metadata field ``name``.

    User metadata keeps its own namespace: a field named like an internal column (``label``,
    ``x``, ``status``, ...) is exposed as ``meta:label`` and so on, so every column name works
    and never shadows or duplicates an internal one. The stored metadata (and Lightly
    write-back) keeps the original names.
    """
    name = str(name)
    if name in RESERVED_COLUMNS or name.startswith(META_PREFIX):
        return f"{META_PREFIX}{name}"
    return name


#: Unicode categories refused in class and user names: control (Cc), format (Cf: the bidi
#: overrides U+202A-202E, isolates U+2066-2069, marks U+200E/F and U+061C, and the zero-width
#: U+200B-200D, U+2060, U+FEFF) and surrogates (Cs). They make a name display reversed or two
#: different names look identical.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})


def _shown(value: object, limit: int = 40) -> str:
    """``value`` for a message: repr'd, cut to ``limit`` characters (never 5,000)."""
    text = repr(str(value))
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _clean_name(value: str, what: str) -> str:
    name = " ".join(str(value).split())
    if not name or len(name) > _MAX_NAME:
        raise ValueError(
            f"{what} must be 1-{_MAX_NAME} characters, got {len(name)}: {_shown(value)}"
        )
    for i, ch in enumerate(name, start=1):
        if unicodedata.category(ch) in _INVISIBLE_CATEGORIES:
            raise ValueError(
                f"{what} holds an invisible or text-direction character (U+{ord(ch):04X} at "
                f"character {i}); retype the name without it"
            )
    return name


def clean_name(value: str, what: str) -> str:
    """Returns a class or user name as stored, or refuses it.

    Whitespace is collapsed; the result must be 1-64 characters without control, zero-width
    or bidi-control characters.

    Args:
        value: The name as typed.
        what: What the name is (e.g. ``"class name"``), the subject of the error message.

    Raises:
        ValueError: The name is empty, too long or holds an invisible character (short
            message).
    """
    return _clean_name(value, what)


@dataclass(frozen=True)
class LabelClass:
    """A label class: its unique ``name``, display ``color`` and keyboard ``hotkey`` (or None)."""

    name: str
    color: str
    hotkey: str | None


def _ensure_class(c: db.Connection, name: str, color: str | None, hotkey: str | None) -> LabelClass:
    row = c.execute(
        "SELECT name, color, hotkey, retired_at FROM label_classes WHERE name = ?", (name,)
    )
    found = row.fetchone()
    if found and found[3] is None:
        return LabelClass(*found[:3])
    if found:  # a retired class used again: back in the list, with the next free digit
        used = {r[0] for r in c.execute("SELECT hotkey FROM label_classes")}
        key = hotkey or next((d for d in "123456789" if d not in used), None)
        c.execute(
            "UPDATE label_classes SET retired_at = NULL, hotkey = ? WHERE name = ?", (key, name)
        )
        return LabelClass(found[0], found[1], key)
    # "Track" next to "track" splits one class in two without a word (the model, the
    # results and the exports then count them apart): refused, naming the one to use.
    for (existing,) in c.execute("SELECT name FROM label_classes"):
        if str(existing).casefold() == name.casefold():
            raise ValueError(
                f"class name {_shown(name, 80)} differs from the existing class "
                f"{_shown(existing, 80)} only in upper and lower case: use "
                f"{_shown(existing, 80)}, or a name that differs in more than case"
            )
    n = int(c.execute("SELECT COUNT(*) FROM label_classes").fetchone()[0])
    used = {r[0] for r in c.execute("SELECT hotkey FROM label_classes")}
    key = hotkey or next((d for d in "123456789" if d not in used), None)
    col = color or CLASS_COLORS[n % len(CLASS_COLORS)]
    c.execute(
        "INSERT INTO label_classes (name, color, hotkey, created_at) VALUES (?, ?, ?, ?)",
        (name, col, key, utc_now()),
    )
    return LabelClass(name, col, key)


def _refuse_used_database(conn: db.Connection, url: str) -> None:
    """Refuses a PostgreSQL database that already holds a project's samples or labels.

    Tables left empty (an ``init`` that found no images) are reused.
    """
    version = db.schema_version(conn)
    if not version and conn.execute("SELECT to_regclass('samples') IS NOT NULL").fetchone()[0]:
        from bps_core.project.pg import describe

        raise ProjectError(
            f"database {describe(url)} already holds a table 'samples' of something else: "
            "give the project its own empty database (createdb NAME)"
        )
    if version > db.SCHEMA_VERSION or (
        version
        and conn.execute(
            "SELECT EXISTS (SELECT 1 FROM samples) OR EXISTS (SELECT 1 FROM label_events)"
        ).fetchone()[0]
    ):
        from bps_core.project.pg import describe

        raise ProjectError(
            f"database {describe(url)} already holds a project: give each project its own "
            "empty database (createdb NAME), or open the project that uses it"
        )


def _set_ingest_state(c: db.Connection, state: str) -> None:
    put_setting(c, INGEST_STATE_KEY, json.dumps({"state": state, "at": utc_now()}))


def _append_reversal(
    c: db.Connection,
    user: str,
    kind: str,
    target: str,
    events: list[tuple[int, int | None]],
) -> tuple[str, LabelWrite | None]:
    """Appends an undo or redo action: one event per (sample id, class id), and its record.

    Returns its action id and what it wrote (``LabelWrite``).
    """
    action = uuid.uuid4().hex
    now = utc_now()
    before = newest_event(c)
    c.executemany(
        "INSERT INTO label_events (sample_id, class_id, user, created_at, source, action_id) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(sid, cls, user, now, kind, action) for sid, cls in events],
    )
    c.execute(
        "INSERT INTO label_actions (action_id, user, kind, target_action_id, n_events, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (action, user, kind, target, len(events), now),
    )
    return action, read_back(c, before, len(events), user, now, kind)


def _refuse_relabeled(c: db.Connection, shown: dict[str, str | None], user: str) -> None:
    """Refuses ``shown`` keys whose label another user changed since it was shown.

    Raises StaleLabelError. The user's own events (from another tab, say) are theirs to replace.
    """
    keys = list(shown)
    ids = sample_ids(c, keys)
    marks = ",".join("?" * len(ids))
    rows = c.execute(
        "SELECT e.sample_id, k.name, e.user, e.created_at FROM label_events e "
        "LEFT JOIN label_classes k ON k.id = e.class_id JOIN (SELECT sample_id, MAX(id) AS id "
        f"FROM label_events WHERE sample_id IN ({marks}) GROUP BY sample_id) AS last "  # noqa: S608
        "ON last.id = e.id",
        list(ids.values()),
    ).fetchall() if ids else []  # fmt: skip
    now = {int(r[0]): (r[1], str(r[2]), str(r[3])) for r in rows}
    stale = [k for k in keys if k in ids and ids[k] in now
             and now[ids[k]][0] != shown[k] and now[ids[k]][1] != user]  # fmt: skip
    if stale:
        name, who, when = now[ids[stale[0]]]
        what = f"labeled {name!r}" if name is not None else "cleared"
        files = ", ".join(repr(k.split(":", 1)[-1]) for k in stale[:3])
        more = f" and {len(stale) - 3} more" if len(stale) > 3 else ""
        raise StaleLabelError(
            f"{files}{more} {what} by {who} at {when[11:16]} UTC since it was shown to you: "
            "nothing was written. The screen shows that label now; press a class key again to "
            "replace it.",
            stale,
        )


def _event_batches(
    pairs: Sequence[tuple[str, str | None]], class_ids: dict[str | None, int | None]
) -> list[tuple[int | None, list[str]]]:
    """(class id, keys) batches whose keys are unique within each: one INSERT per batch.

    A key listed more than once gets its later events in later batches (first occurrences
    first, then second ones, ...), so one sample's events keep their order.
    """
    keys = [k for k, _ in pairs]
    distinct = {lab for _, lab in pairs}
    if len(distinct) == 1 and len(set(keys)) == len(keys):  # a lasso: one class, keys once
        return [(class_ids[distinct.pop()], keys)]
    seen: dict[str, int] = {}
    layers: list[dict[int | None, list[str]]] = []
    for key, label in pairs:
        n = seen.get(key, 0)
        seen[key] = n + 1
        if n == len(layers):
            layers.append({})
        layers[n].setdefault(class_ids[label], []).append(key)
    return [(cls, keys) for layer in layers for cls, keys in layer.items()]


class Project:
    """Open project. Use ``Project.create`` or ``Project.open``; close it, or use ``with``.

    Every database access goes through its methods and these typed stores (the connection
    is private: SQL runs only in ``bps_core.project``).

    Attributes:
        embedding_sets: The records of the stored embedding sets and the current one.
        maps: The records of the stored maps and each embedding set's chosen map.
        models: The records of the trained models.
        rounds: The recorded selection rounds and their samples.
        saved_queues: Each labeler's last plain labeling queue (a reload resumes it).
        reviews: A reviewer's verdicts on labels and the review state of current labels.
        assignments: Blind double labeling: the setting, who must label what, and each
            labeler's own labels.
        image_stats: Pixel facts per sample, measured once at decode time (quality flags,
            exact duplicates).
        tags: Tags beside the class (several per sample), an append-only log with history.
    """

    def __init__(
        self,
        folder: Path,
        config: ProjectConfig,
        conn: db.Connection,
        *,
        read_only: bool = False,
    ) -> None:
        self.folder = folder
        self.config = config
        #: The only database connection; private: SQL runs only in ``bps_core.project``.
        self._conn = conn
        self.embedding_sets = EmbeddingSets(conn)
        self.maps = Maps(conn)
        self.models = Models(conn)
        self.rounds = Rounds(conn)
        self.saved_queues = SavedQueues(conn)
        self.reviews = Reviews(conn, clean_name=clean_name)
        self.assignments = Assignments(conn)
        self.image_stats = ImageStatsStore(conn)
        self.tags = Tags(conn, clean_name=clean_name)
        #: Opened read-only (this user cannot write the folder or its database): reads work,
        #: label and job writes raise ``ReadOnlyProjectError``.
        self.read_only = read_only
        self._samples: tuple[str, pd.DataFrame] | None = None
        self._key_index: tuple[str, pd.Index] | None = None

    # -- lifecycle -------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        folder: str | Path,
        datasource: DatasourceConfig,
        *,
        name: str | None = None,
        meta_csv: str = "",
        ingest_pending: bool = False,
        database_url: str = "",
    ) -> Project:
        """Creates the folder, its config and an empty, migrated database.

        ``ingest_pending`` records an unfinished ingest before the config is written, so a
        process killed before its ingest finished leaves a project that says so (``info``,
        the Project page) and that ``bps-labeler ingest`` completes.

        ``database_url`` (``postgresql://USER@HOST:PORT/DBNAME``, no password) puts the
        database on that PostgreSQL server, which must hold no project yet; no ``project.db``
        is written. Empty: SQLite, ``project.db`` in the folder.

        Raises:
            ProjectError: the folder already holds a project, the URL holds a password, the
                server cannot be reached, or its database already holds a project.
        """
        folder = Path(folder).resolve()
        if (folder / CONFIG_NAME).exists():
            raise ProjectError(
                f"{folder} already holds a project; open it, re-list its images with "
                f"'bps-labeler ingest {folder}', or choose another folder"
            )
        conn: db.Connection
        if database_url:
            conn = db.connect_url(database_url)  # checks the URL (no password) first
            try:
                _refuse_used_database(conn, database_url)
            except BaseException:
                conn.close()
                raise
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ARRAYS_DIR).mkdir(exist_ok=True)
        config = ProjectConfig(
            name=name or folder.name,
            created_at=utc_now(),
            datasource=datasource,
            meta_csv=meta_csv,
            database_url=database_url,
        )
        if not database_url:
            conn = db.connect(folder / DB_NAME)
        db.migrate(conn)
        project = cls(folder, config, conn)

        def tx(c: db.Connection) -> None:
            c.execute(
                db.upsert_sql("datasources", _DATASOURCE_COLUMNS, "id"),
                (datasource.id, datasource.kind, datasource.uri, datasource.purpose, utc_now()),
            )
            if ingest_pending:
                _set_ingest_state(c, "pending")

        db.write(conn, tx)
        config.save(folder)  # written last: a folder with project.toml is a complete project
        return project

    @classmethod
    def open(
        cls, folder: str | Path, *, read_only: bool | None = None, any_thread: bool = False
    ) -> Project:
        """Opens an existing project and applies pending schema migrations.

        The config is validated and the database checked first: a missing, empty, foreign or
        damaged ``project.db`` is refused (never silently recreated empty). ``read_only``
        defaults to whether this user can write the folder and its database. ``any_thread``
        lets other threads use the project, one at a time (the caller serialises them): the
        app holds one per browser session, and Streamlit runs each rerun in a new thread.

        Raises:
            ProjectError: one line naming the file (and field) that is wrong, and what to do.
        """
        folder = Path(folder).resolve()
        cfg_path = folder / CONFIG_NAME
        if not cfg_path.is_file():
            raise ProjectError(
                f"{folder} is not a project (no {CONFIG_NAME}); create one with "
                "'bps-labeler init PROJECT_DIR --source PATH'"
            )
        try:
            text = cfg_path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProjectError(
                f"{cfg_path}: not UTF-8 text (byte {exc.start}); fix its encoding or restore it"
            ) from None
        except OSError as exc:
            raise ProjectError(f"{cfg_path}: cannot be read ({exc.strerror})") from None
        config = ProjectConfig.from_toml(text, str(cfg_path))
        if config.database_url:
            conn = db.connect_url(config.database_url, read_only=bool(read_only))
            try:
                db.migrate(conn, read_only=bool(read_only))
            except BaseException:
                conn.close()
                raise
            return cls(folder, config, conn, read_only=bool(read_only))
        db_path = folder / DB_NAME
        db.check_file(db_path)
        if read_only is None:
            read_only = not all(os.access(p, os.W_OK) for p in (folder, db_path))
        try:
            conn = db.connect(db_path, read_only=read_only, must_exist=True, any_thread=any_thread)
        except sqlite3.DatabaseError as exc:
            raise db.damaged(db_path, exc) from None
        try:
            db.migrate(conn, read_only=read_only)
            conn.execute("SELECT COUNT(*) FROM samples_version").fetchone()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise db.damaged(db_path, exc) from None
        except BaseException:
            conn.close()
            raise
        return cls(folder, config, conn, read_only=read_only)

    def close(self) -> None:
        """Closes the database connection; the project cannot be used afterwards."""
        self._conn.close()

    def idle(self) -> bool:
        """Whether the project can be used with no transaction left open.

        A transaction a stopped caller left open would hold the write lock: a project held
        across uses is opened again when not idle. A closed SQLite project is not idle; a
        PostgreSQL connection that was closed or dropped opens itself again when used.
        """
        try:
            return not self._conn.in_transaction
        except sqlite3.ProgrammingError:  # closed
            return False

    def forget_kept(self) -> None:
        """Drops the samples frame kept for repeated reads (``samples``).

        A project held across uses keeps none between them, as one closed after each would.
        """
        self._samples = None
        self._key_index = None

    def __enter__(self) -> Project:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def database_location(self) -> str:
        """Where the database is: ``SQLite FOLDER/project.db`` or ``PostgreSQL HOST:PORT/DB``."""
        if self.config.database_url:
            from bps_core.project.pg import describe

            return f"PostgreSQL {describe(self.config.database_url)}"
        return f"SQLite {self.folder / DB_NAME}"

    @property
    def arrays_dir(self) -> Path:
        """The folder of array files: embeddings, maps, image caches, checkpoints, models."""
        return self.folder / ARRAYS_DIR

    # -- datasources -----------------------------------------------------------------------
    @property
    def object_cache_dir(self) -> Path:
        """Where fetched remote objects are cached (bounded, least recently used evicted)."""
        return self.folder / OBJECT_CACHE_DIR

    def source(self) -> DataSource:
        """The input datasource; remote objects are read through the project's local cache."""
        return open_source(self.config.datasource, cache_dir=self.object_cache_dir)

    def output_source(self) -> WritableSource:
        """The output datasource. Raises ``DatasourceError`` when none is configured."""
        out = self.config.output_datasource
        if out is None:
            raise DatasourceError(
                "no output datasource: add one on the Datasources page or with "
                "'bps-labeler datasource set-output PROJECT_DIR --dest s3://BUCKET/PREFIX'"
            )
        return open_writable(out)

    def check_input_id(self, config: DatasourceConfig) -> None:
        """Refuses a new input whose id differs from the project's (keys hold the id).

        Raises:
            DatasourceError: the ids differ; sample keys (and labels) would no longer match.
        """
        if config.id != self.config.datasource.id:
            raise DatasourceError(
                f"input id {config.id!r} differs from the project's "
                f"{self.config.datasource.id!r}: sample keys would no longer match"
            )

    def set_datasources(
        self, *, input: DatasourceConfig | None = None, output: DatasourceConfig | None = None
    ) -> None:
        """Replaces the input and/or output datasource (validated) and saves the config.

        The input keeps its id, so sample keys (and every label) stay valid when the same
        images move, e.g. from a local copy to the S3 bucket they came from; re-ingest after.
        """
        new_input = input or self.config.datasource
        self.check_input_id(new_input)
        new_output = self.config.output
        if output is not None:
            new_output = output
            if not new_output.can_write:
                raise DatasourceError(
                    "the output datasource needs purpose 'output' or 'input_output'"
                )
            if new_output.id == new_input.id:
                raise DatasourceError(f"output id {new_output.id!r} must differ from the input's")
        config = replace(self.config, datasource=new_input, output=new_output)
        rows = [config.datasource] + ([new_output] if new_output is not None else [])
        db.write(
            self._conn,
            lambda c: c.executemany(
                db.upsert_sql("datasources", _DATASOURCE_COLUMNS, "id"),
                [(d.id, d.kind, d.uri, d.purpose, utc_now()) for d in rows],
            ),
        )
        config.save(self.folder)
        self.config = config

    # -- samples ---------------------------------------------------------------------------
    def n_samples(self, status: str | None = None) -> int:
        """Counts the samples, all of them or only those with ``status`` (``ok`` or ``bad``)."""
        if status is None:
            return int(self._conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0])
        q = "SELECT COUNT(*) FROM samples WHERE status = ?"
        return int(self._conn.execute(q, (status,)).fetchone()[0])

    def samples_version(self) -> str:
        """Changes with every insert, update or delete of a sample, by any process."""
        version, token = self._conn.execute("SELECT version, token FROM samples_version").fetchone()
        return f"{token}:{version}"

    def samples(self) -> pd.DataFrame:
        """Returns one row per sample, in id order, with its metadata as columns.

        Columns: key, sample_id (stable, never reused), relpath, status, error, then one column
        per metadata key (named by ``metadata_column``: a key that collides with an internal
        column gets the ``meta:`` prefix). The frame is a copy of one kept while
        ``samples_version`` stays the same (read before the rows, so a change in between only
        costs a reload). A process whose version matches the columnar snapshot in the arrays
        folder reads that instead of decoding every row (``samples_frame``).
        """
        version = self.samples_version()
        if self._samples is None or self._samples[0] != version:
            self._samples = (version, self._load_samples(version))
        return self._samples[1].copy()

    def _load_samples(self, version: str) -> pd.DataFrame:
        frame = samples_frame.load_snapshot(self.arrays_dir, version)
        if frame is not None:
            return frame
        frame = self._patched_snapshot()
        if frame is not None:
            return frame
        rows = self._conn.execute(
            "SELECT key, id, relpath, status, error, meta_json FROM samples ORDER BY id"
        ).fetchall()
        frame = samples_frame.frame_from_rows(rows, metadata_column)
        # Stored only when no sample changed while reading: the file then matches ``version``.
        if (
            not self.read_only
            and self.samples_version() == version
            and samples_frame.save_snapshot(self.arrays_dir, version, frame)
        ):
            self._stamp_snapshot(version)
        return frame

    def _stamp_snapshot(self, version: str) -> None:
        """Records that a snapshot was built at ``version`` (the newest stamps are kept)."""
        token, _, number = version.partition(":")

        def tx(c: db.Connection) -> None:
            c.execute(
                "INSERT INTO samples_frame_stamps (token, version, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (token) DO NOTHING",
                (token, int(number), utc_now()),
            )
            c.execute(
                "DELETE FROM samples_frame_stamps WHERE token NOT IN (SELECT token FROM "
                "samples_frame_stamps ORDER BY version DESC, token LIMIT 8)"
            )

        # A role that may only read: no stamp, and the next process rebuilds the frame.
        with contextlib.suppress(ReadOnlyProjectError):
            db.write(self._conn, tx)

    def _patched_snapshot(self) -> pd.DataFrame | None:
        """The last snapshot patched with the samples changed since, or None (then rebuild).

        Only a snapshot this database has a stamp of is patched (so it is in this database's
        history, not a state it was restored away from), only when no sample was inserted
        or deleted since and at most ``samples_frame.patch_limit`` were updated, and only
        where ``samples_frame.patch_frame`` can match a full rebuild exactly.
        """
        found = samples_frame.load_any_snapshot(self.arrays_dir)
        if found is None:
            return None
        stamp, frame = found
        token, _, number = stamp.partition(":")
        if not number.isdigit():
            return None
        built = int(number)
        c = self._conn
        if (
            c.execute(
                "SELECT 1 FROM samples_frame_stamps WHERE token = ? AND version = ?", (token, built)
            ).fetchone()
            is None
        ):
            return None
        limit = samples_frame.patch_limit(len(frame))
        (n_changed,) = c.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM sample_changes WHERE version > ? LIMIT ?) AS t",
            (built, limit + 1),
        ).fetchone()
        if n_changed > limit:
            return None
        last = int(frame["sample_id"].iloc[-1]) if len(frame) else 0
        if c.execute("SELECT 1 FROM samples WHERE id > ? LIMIT 1", (last,)).fetchone():
            return None  # samples inserted since
        rows = c.execute(
            "SELECT key, id, relpath, status, error, meta_json FROM samples WHERE id IN "
            "(SELECT sample_id FROM sample_changes WHERE version > ?) ORDER BY id",
            (built,),
        ).fetchall()
        if len(rows) != n_changed:
            return None  # a sample deleted since (or changed while reading)
        return samples_frame.patch_frame(frame, rows, metadata_column)

    def stored_metadata(self) -> list[tuple[str, dict[str, Any]]]:
        """Returns (relpath, metadata) of every good sample in id order: what write-back exports.

        The metadata keeps its original field names (not ``metadata_column``'s).
        """
        rows = self._conn.execute(
            "SELECT relpath, meta_json FROM samples WHERE status = 'ok' ORDER BY id"
        ).fetchall()
        return [(str(rel), json.loads(meta)) for rel, meta in rows]

    def ingest_state(self) -> dict[str, str] | None:
        """Returns the last ingest's ``state`` (pending, running, finished) and ``at`` (UTC).

        None for projects from before it was recorded (or when the stored value is unreadable).
        """
        stored = get_setting(self._conn, INGEST_STATE_KEY)
        if stored is None:
            return None
        try:
            value = json.loads(stored)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def ingest_unfinished(self) -> bool:
        """Whether an ingest was started and never finished (killed, or still running)."""
        state = self.ingest_state()
        return state is not None and state.get("state") != "finished"

    def set_ingest_state(self, state: str) -> None:
        """Records the ingest's ``state`` (pending, running, finished), stamped with the time."""
        db.write(self._conn, lambda c: _set_ingest_state(c, state))

    def mark_bad(self, key: str, error: str) -> None:
        """Records that a sample could not be decoded; it stays listed with its error."""
        db.write(
            self._conn,
            lambda c: c.execute(
                "UPDATE samples SET status = 'bad', error = ? WHERE key = ?", (error, key)
            ),
        )

    def keys_with_status(self, status: str = "ok") -> list[str]:
        """The keys of the samples with ``status`` (``ok`` or ``bad``), in id order.

        Without the metadata: a selection round needs only which samples may be picked.
        """
        rows = self._conn.execute("SELECT key FROM samples WHERE status = ? ORDER BY id", (status,))
        return [k for (k,) in rows]

    def problems(self) -> pd.DataFrame:
        """Files without metadata, metadata rows without files, and bad files."""
        rows = self._conn.execute(
            "SELECT kind, path, message FROM ingest_problems ORDER BY kind, path"
        ).fetchall()
        bad = self._conn.execute(
            "SELECT 'bad_file', relpath, error FROM samples WHERE status = 'bad' ORDER BY relpath"
        ).fetchall()
        return pd.DataFrame(rows + bad, columns=["kind", "path", "message"]).drop_duplicates()

    # -- label classes ---------------------------------------------------------------------
    def classes(self) -> list[LabelClass]:
        """Returns the label classes in the order they were created."""
        rows = self._conn.execute(
            "SELECT name, color, hotkey FROM label_classes WHERE retired_at IS NULL ORDER BY id"
        )
        return [LabelClass(*r) for r in rows.fetchall()]

    def remove_class(self, name: str) -> str:
        """Removes the class ``name`` that no current label uses; returns what was done.

        A class no label event ever named is deleted. One that the history names (a sample
        labeled with it, then relabeled) is retired instead: it leaves ``classes()`` and its
        digit key is freed, while the history still shows its name. Labeling a sample with
        the name again brings the class back.

        Raises:
            ValueError: no such class, or samples are currently labeled with it (how many).
        """

        def remove(c: db.Connection) -> str:
            row = c.execute(
                "SELECT id FROM label_classes WHERE name = ? AND retired_at IS NULL", (name,)
            ).fetchone()
            if row is None:
                raise ValueError(f"there is no class {_shown(name, 80)}")
            class_id = int(row[0])
            n = int(
                c.execute(
                    "SELECT COUNT(*) FROM current_labels WHERE class_id = ?", (class_id,)
                ).fetchone()[0]
            )
            if n:
                raise ValueError(
                    f"class {_shown(name, 80)} is the current label of {n} "
                    f"sample{'s' if n != 1 else ''}: relabel them first, then remove it"
                )
            named = c.execute(
                "SELECT 1 FROM label_events WHERE class_id = ? LIMIT 1", (class_id,)
            ).fetchone()
            if named is None:
                c.execute("DELETE FROM label_classes WHERE id = ?", (class_id,))
                return f"removed class {_shown(name, 80)}"
            c.execute(
                "UPDATE label_classes SET retired_at = ?, hotkey = NULL WHERE id = ?",
                (utc_now(), class_id),
            )
            return f"retired class {_shown(name, 80)} (the label history still names it)"

        return db.write(self._conn, remove)

    def ensure_class(
        self, name: str, *, color: str | None = None, hotkey: str | None = None
    ) -> LabelClass:
        """Returns the class called ``name``, creating it with the next free colour and digit."""
        name = _clean_name(name, "class name")
        return db.write(self._conn, lambda c: _ensure_class(c, name, color, hotkey))

    # -- labels ----------------------------------------------------------------------------
    def _cached_sample_ids(self, c: db.Connection, keys: list[str]) -> list[int] | None:
        """The ids of ``keys`` (distinct) from the cached samples frame, sorted, or None.

        Large selections only (a 100k-sample lasso: one hash lookup in memory instead of
        100k index searches in the database). Called inside the write transaction, so the
        version read here is the one the events are written against. None when the frame is
        not cached or is stale, or a key is not in it (the database then says which).
        """
        if len(keys) < _CACHED_IDS_FROM or self._samples is None:
            return None
        version, token = c.execute("SELECT version, token FROM samples_version").fetchone()
        current = f"{token}:{version}"
        if self._samples[0] != current:
            return None
        if self._key_index is None or self._key_index[0] != current:
            self._key_index = (current, pd.Index(self._samples[1]["key"]))
        rows = self._key_index[1].get_indexer(pd.Index(keys))
        if (rows < 0).any():
            return None
        ids = self._samples[1]["sample_id"].to_numpy()[rows]
        return list(np.sort(ids).tolist())

    def add_labels(
        self,
        keys: Iterable[str],
        label: str | None,
        *,
        user: str,
        source: str,
        action_id: str | None = None,
        shown: dict[str, str | None] | None = None,
    ) -> LabelAction:
        """Appends one label event per sample, all in one transaction (all or nothing).

        Args:
            keys: Sample keys; duplicates are written once.
            label: Class name (created if new), or None to clear the samples' labels.
            user: Who labeled.
            source: One of ``LABEL_SOURCES`` (lasso, queue, import, undo, redo, api,
                adjudication, review).
            action_id: Groups the events of one user action; generated when omitted.
            shown: Per key, the label the user saw (None: unlabeled). A sample whose label
                another user changed since is refused, checked inside the transaction (two
                labelers on one queue image: the second key press replaced the first label
                unseen).

        Raises:
            UnknownSampleError: a key is not in the project; nothing is written.
            StaleLabelError: with ``shown``, another user relabeled a sample since it was shown;
                nothing is written.
            ValueError: empty user or class name, or unknown source.
        """
        pairs = [(k, label) for k in dict.fromkeys(keys)]
        return self.add_label_events(pairs, user=user, source=source, action_id=action_id,
                                     shown=shown)  # fmt: skip

    def add_label_events(
        self,
        pairs: Sequence[tuple[str, str | None]],
        *,
        user: str,
        source: str,
        action_id: str | None = None,
        shown: dict[str, str | None] | None = None,
    ) -> LabelAction:
        """Appends (key, class or None) events as one undoable action in one transaction.

        ``shown``: as for `add_labels`.
        """
        user = _clean_name(user, "user name")
        if source not in LABEL_SOURCES:
            raise ValueError(f"source must be one of {', '.join(LABEL_SOURCES)}, got {source!r}")
        labels = {lab for _, lab in pairs if lab is not None}
        names = {lab: _clean_name(lab, "class name") for lab in labels}
        action = action_id or uuid.uuid4().hex

        def tx(c: db.Connection) -> tuple[int, LabelWrite | None]:
            if shown:
                _refuse_relabeled(c, shown, user)
            before = newest_event(c)
            class_ids: dict[str | None, int | None] = {None: None}
            for raw, name in names.items():
                _ensure_class(c, name, None, None)
                q = "SELECT id FROM label_classes WHERE name = ?"
                class_ids[raw] = int(c.execute(q, (name,)).fetchone()[0])
            now = utc_now()
            written = 0
            values = "CAST(? AS INTEGER), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), "
            values += "CAST(? AS TEXT)"
            for class_id, batch in _event_batches(pairs, class_ids):
                args = (class_id, user, now, source, action)
                # One statement per class. A large lasso takes its ids from the cached frame
                # when it is current (checked here, inside the transaction); else the engine
                # joins the keys to the samples (no per-row Python either way). In sample
                # order, the index inserts walk the B-trees in order.
                ids = self._cached_sample_ids(c, batch)
                if ids is not None:
                    rows, arg = id_rows(c, ids)
                    sql = f"SELECT j.value, {values} FROM {rows}"
                else:
                    rows, arg = key_rows(c, batch)
                    sql = (f"SELECT s.id, {values} FROM {rows} "
                           "JOIN samples AS s ON s.key = j.value ORDER BY s.id")  # fmt: skip
                written += c.execute(
                    "INSERT INTO label_events (sample_id, class_id, user, created_at, source, "
                    f"action_id) {sql}",
                    (*args, arg),
                ).rowcount
            if written != len(pairs):  # some key is not a sample: write nothing
                keys = list(dict.fromkeys(k for k, _ in pairs))
                known = sample_ids(c, keys)
                raise UnknownSampleError([k for k in keys if k not in known])
            c.execute(
                "INSERT INTO label_actions (action_id, user, kind, n_events, created_at) "
                "VALUES (?, ?, 'label', ?, ?) ON CONFLICT(action_id) DO UPDATE SET "
                "n_events = label_actions.n_events + excluded.n_events",
                (action, user, len(pairs), now),
            )
            return len(pairs), read_back(c, before, written, user, now, source)

        n_events, write = db.write(self._conn, tx)
        return LabelAction(action, n_events, write)

    def undo(self, user: str) -> UndoResult | None:
        """Undoes ``user``'s most recent label (or redo) action; None when there is none.

        Each sample returns to its label before that action, unless someone relabeled it since:
        such samples are kept as they are and counted in ``n_skipped``, so undo never
        overwrites another person's newer label.
        """
        user = _clean_name(user, "user name")

        def tx(c: db.Connection) -> UndoResult | None:
            row = c.execute(
                "SELECT action_id FROM label_actions WHERE user = ? AND kind IN ('label', 'redo') "
                "AND undone = 0 ORDER BY rowid DESC LIMIT 1",
                (user,),
            ).fetchone()
            if row is None:
                return None
            target = str(row[0])
            # Per sample of the target: its current label, the label the target set, and the
            # label before the target. Compared by value: an undo that restored the label the
            # target set (undoing a later action) still counts as the target's state.
            rows = c.execute(
                "SELECT t.sample_id, "
                "(SELECT class_id FROM label_events WHERE sample_id = t.sample_id "
                " ORDER BY id DESC LIMIT 1), "
                "(SELECT class_id FROM label_events WHERE id = t.last_id), "
                "(SELECT class_id FROM label_events WHERE sample_id = t.sample_id "
                " AND id < t.first_id ORDER BY id DESC LIMIT 1) "
                "FROM (SELECT sample_id, MIN(id) AS first_id, MAX(id) AS last_id FROM label_events "
                "      WHERE action_id = ? GROUP BY sample_id) AS t",
                (target,),
            ).fetchall()
            restore = [(sid, prev) for sid, current, set_to, prev in rows if current == set_to]
            action, write = _append_reversal(c, user, "undo", target, restore)
            c.execute("UPDATE label_actions SET undone = 1 WHERE action_id = ?", (target,))
            return UndoResult(action, target, len(restore), len(rows) - len(restore), write)

        return db.write(self._conn, tx)

    def redo(self, user: str) -> UndoResult | None:
        """Re-applies the action ``user`` undid most recently, unless they labeled since.

        Samples relabeled by anyone after the undo are kept and counted in ``n_skipped``.
        """
        user = _clean_name(user, "user name")

        def tx(c: db.Connection) -> UndoResult | None:
            last_label = c.execute(
                "SELECT COALESCE(MAX(rowid), 0) FROM label_actions "
                "WHERE user = ? AND kind = 'label'",
                (user,),
            ).fetchone()[0]
            row = c.execute(
                "SELECT action_id, target_action_id FROM label_actions WHERE user = ? "
                "AND kind = 'undo' AND redone = 0 AND rowid > ? ORDER BY rowid DESC LIMIT 1",
                (user, last_label),
            ).fetchone()
            if row is None:
                return None
            undo_id, target = str(row[0]), str(row[1])
            rows = c.execute(
                "SELECT u.sample_id, u.class_id, "
                "(SELECT class_id FROM label_events WHERE sample_id = u.sample_id "
                " ORDER BY id DESC LIMIT 1), "
                "(SELECT class_id FROM label_events WHERE sample_id = u.sample_id "
                " AND action_id = ? ORDER BY id DESC LIMIT 1) "
                "FROM label_events u WHERE u.action_id = ?",
                (target, undo_id),
            ).fetchall()
            reapply = [(sid, cls) for sid, undone_to, current, cls in rows if current == undone_to]
            action, write = _append_reversal(c, user, "redo", target, reapply)
            c.execute("UPDATE label_actions SET redone = 1 WHERE action_id = ?", (undo_id,))
            return UndoResult(action, target, len(reapply), len(rows) - len(reapply), write)

        return db.write(self._conn, tx)

    def current_labels(self) -> pd.DataFrame:
        """Columns key, label, user, created_at, source: one row per labeled sample.

        A sample's label is its last event's. While blind double labeling is on, a sample its
        labelers disagree on counts as unlabeled until a reviewer adjudicates it
        (``Assignments.hidden_keys``).
        """
        rows = self._conn.execute(
            "SELECT s.key, k.name, cl.user, cl.created_at, cl.source FROM current_labels cl "
            "JOIN samples s ON s.id = cl.sample_id JOIN label_classes k ON k.id = cl.class_id "
            "ORDER BY s.id"
        ).fetchall()
        frame = pd.DataFrame(rows, columns=["key", "label", "user", "created_at", "source"])
        if hidden := self.assignments.hidden_keys():
            frame = frame[~frame.key.isin(hidden)].reset_index(drop=True)
        return frame

    def label_changes(self, after_event: int = 0) -> pd.DataFrame:
        """The last label event of each sample that has one newer than event ``after_event``.

        With ``after_event`` 0 and no blind double labeling, the rows with a label are
        ``current_labels`` (plus ``sample_id``); with the id of the newest event read before,
        they are what changed since, a label of None meaning the sample's label was cleared.
        Read-only: the label log is append-only, so this applies the change to an earlier read.

        Returns:
            Columns key, label, user, created_at, source, sample_id, event_id, in sample id
            order.
        """
        rows = self._conn.execute(
            "SELECT s.key, k.name, e.user, e.created_at, e.source, s.id, e.id FROM label_events e "
            "JOIN (SELECT sample_id, MAX(id) AS id FROM label_events WHERE id > ? "
            "      GROUP BY sample_id) AS last ON last.id = e.id "
            "JOIN samples s ON s.id = e.sample_id "
            "LEFT JOIN label_classes k ON k.id = e.class_id ORDER BY s.id",
            (int(after_event),),
        ).fetchall()
        cols = ["key", "label", "user", "created_at", "source", "sample_id", "event_id"]
        return pd.DataFrame(rows, columns=cols)

    def current_labels_token(self) -> tuple[object, ...]:
        """A cheap value that changes whenever ``current_labels`` may; cache it on this.

        It follows the label log (append-only: a label, an undo, a verdict that relabels), the
        label actions and the double-labeling setting (which labels are hidden) and the
        samples (a sample removed takes its label along). Classes are never renamed.
        """
        return (self.samples_version(), *self.assignments.token())

    def label_events(self, key: str | None = None) -> pd.DataFrame:
        """Returns the label event log, oldest first, of every sample or of sample ``key`` only.

        A ``label`` of None means the label was cleared.
        """
        where, args = ("WHERE s.key = ? ", (key,)) if key is not None else ("", ())
        rows = self._conn.execute(
            "SELECT e.id, s.key, k.name, e.user, e.created_at, e.source, e.action_id "
            "FROM label_events e JOIN samples s ON s.id = e.sample_id "
            f"LEFT JOIN label_classes k ON k.id = e.class_id {where}ORDER BY e.id",
            args,
        ).fetchall()
        cols = ["event_id", "key", "label", "user", "created_at", "source", "action_id"]
        return pd.DataFrame(rows, columns=cols)

    def current_label_authors(self, keys: Sequence[str]) -> dict[str, str]:
        """Who wrote the label each of ``keys`` holds in the log now.

        The user of its last label event, or for an undo or redo the user of the event whose
        label it puts back (``put_back_authors``): an undo is its user's action, but the label
        it restores may be another person's. Keys without a label event, or whose undo put
        back no label, are left out.
        """
        ids = sample_ids(self._conn, list(keys))
        wanted = sorted(ids.values())
        last: dict[int, tuple[int, str, str]] = {}
        for i in range(0, len(wanted), 900):
            chunk = wanted[i : i + 900]
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                "SELECT e.sample_id, e.id, e.source, e.user FROM label_events e "
                "JOIN (SELECT sample_id, MAX(id) AS id FROM label_events "
                f"      WHERE sample_id IN ({marks}) GROUP BY sample_id) AS l ON l.id = e.id",  # noqa: S608
                chunk,
            ).fetchall()
            last.update((int(sid), (int(e), str(src), str(u))) for sid, e, src, u in rows)
        put_back = reversals.put_back_authors(
            self._conn, [e for e, src, _ in last.values() if src in reversals.REVERSAL_SOURCES]
        )
        out: dict[str, str] = {}
        for key, sid in ids.items():
            if sid not in last:
                continue
            event_id, source, user = last[sid]
            if source not in reversals.REVERSAL_SOURCES:
                out[key] = user
            elif event_id in put_back:
                out[key] = put_back[event_id]
        return out

    def put_back_authors(self, event_ids: Iterable[int]) -> dict[int, str]:
        """Who wrote the label each undo or redo event puts back (``reversals``)."""
        return reversals.put_back_authors(self._conn, event_ids)

    def label_counts(self) -> dict[str, int]:
        """Counts the current labels per class name; classes with no sample are left out.

        Samples ``current_labels`` leaves out (blind disagreements) are not counted.
        """
        if self.assignments.hidden_keys():
            counts = self.current_labels().label.value_counts()
            return {c.name: int(counts[c.name]) for c in self.classes() if c.name in counts}
        rows = self._conn.execute(
            "SELECT k.name, COUNT(*) FROM current_labels cl "
            "JOIN label_classes k ON k.id = cl.class_id GROUP BY k.id, k.name ORDER BY k.id"
        ).fetchall()
        return {str(name): int(n) for name, n in rows}

    def labels_version(self) -> int:
        """Returns the id of the newest label event (0 before the first).

        It changes with every label written, by any process.
        """
        return int(self._conn.execute("SELECT MAX(id) FROM label_events").fetchone()[0] or 0)

    def summary(self) -> dict[str, Any]:
        """Returns the project's overview as plain data: name, datasource, counts, ingest state.

        Keys: ``name``, ``datasource`` (its URI), ``database`` (``database_location``),
        ``samples``, ``bad_samples``, ``labeled``, ``label_counts`` (per class), ``reviewed``
        (current labels a reviewer accepted, fixed or adjudicated) and ``ingest`` (``complete``
        or what to do to finish it).
        """
        counts = self.label_counts()
        return {
            "name": self.config.name,
            "datasource": self.config.datasource.uri,
            "database": self.database_location(),
            "samples": self.n_samples(),
            "bad_samples": self.n_samples("bad"),
            "labeled": sum(counts.values()),
            "label_counts": counts,
            "reviewed": len(self.reviews.reviewed_keys()),
            "ingest": self._ingest_summary(),
        }

    def _ingest_summary(self) -> str:
        state = self.ingest_state()
        if state is None or state.get("state") == "finished":
            return "complete"
        return (
            f"not finished (started {state.get('at', '?')}); unless one is running now, "
            f"complete it with 'bps-labeler ingest {self.folder}'"
        )
