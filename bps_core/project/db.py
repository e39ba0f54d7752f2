"""The project's database: connection settings, numbered migrations, safe writes.

Two engines run the same store code: SQLite (the embedded default, ``project.db`` in the
project folder) and PostgreSQL (``database_url`` in ``project.toml``; see ``pg``). The store
speaks to either through ``Connection``: ``execute``/``executemany`` with ``?`` placeholders,
``in_transaction``, and the DB-API errors below.
"""

from __future__ import annotations

import random
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from bps_core.errors import (
    ProjectDatabaseError,
    ProjectError,
    ReadOnlyProjectError,
    StorageWriteError,
)

T = TypeVar("T")
BUSY_TIMEOUT_MS = 15_000
_WRITE_ATTEMPTS = 8

#: Engine-neutral errors the store catches: the DB-API 2.0 classes (sqlite3's). The
#: PostgreSQL connection raises subclasses of them, so code naming these, or sqlite3's, catches
#: both engines' failures.
DatabaseError = sqlite3.DatabaseError
IntegrityError = sqlite3.IntegrityError
OperationalError = sqlite3.OperationalError


class Cursor(Protocol):
    """What the store reads from a statement's result."""

    def fetchone(self) -> Any:
        """The next row (a tuple), or None."""

    def fetchall(self) -> list[Any]:
        """The remaining rows."""

    def __iter__(self) -> Any:
        """The remaining rows, one by one."""


class Connection(Protocol):
    """A project database connection: ``sqlite3.Connection`` or ``pg.PgConnection``."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any:
        """Runs one statement with ``?`` placeholders; returns a ``Cursor``."""

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> Any:
        """Runs one statement once per parameter row; returns a ``Cursor``."""

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open."""

    def commit(self) -> None:
        """Commits an open transaction."""

    def close(self) -> None:
        """Closes the connection."""


def upsert_sql(table: str, columns: str, key: str) -> str:
    """``INSERT ... ON CONFLICT (key) DO UPDATE`` of every other column: runs on both engines.

    SQLite's ``INSERT OR REPLACE`` does not run on PostgreSQL (and deletes the old row first).

    Args:
        table: The table.
        columns: Its columns, comma-separated, as in ``_COLUMNS`` constants.
        key: The unique column (or columns, comma-separated) a row is matched by.
    """
    cols = [c.strip() for c in columns.split(",")]
    keys = {k.strip() for k in key.split(",")}
    marks = ", ".join("?" * len(cols))
    sets = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in keys)
    return (
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks}) "  # noqa: S608
        f"ON CONFLICT ({key}) DO UPDATE SET {sets}"
    )


def engine(conn: Connection) -> str:
    """``sqlite`` or ``postgresql``: the engine behind ``conn``."""
    return "sqlite" if isinstance(conn, sqlite3.Connection) else "postgresql"


_V1 = """
CREATE TABLE datasources (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    uri TEXT NOT NULL,
    purpose TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE samples (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,          -- '<datasource id>:<relative path>', the stable identity
    datasource_id TEXT NOT NULL REFERENCES datasources(id),
    relpath TEXT NOT NULL,
    size_bytes INTEGER,
    status TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'bad')),
    error TEXT,
    meta_json TEXT NOT NULL DEFAULT '{}',
    added_at TEXT NOT NULL,
    UNIQUE (datasource_id, relpath)
);
CREATE TABLE label_classes (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    color TEXT NOT NULL,
    hotkey TEXT UNIQUE,
    created_at TEXT NOT NULL
);
-- Append-only: current labels are derived from the last event per sample.
CREATE TABLE label_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sample_id INTEGER NOT NULL REFERENCES samples(id),
    class_id INTEGER REFERENCES label_classes(id),   -- NULL clears the label
    user TEXT NOT NULL,
    created_at TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('lasso', 'queue', 'import', 'undo', 'redo', 'api')),
    action_id TEXT NOT NULL                           -- one user action, e.g. one lasso
);
CREATE INDEX label_events_by_sample ON label_events (sample_id, id);
CREATE INDEX label_events_by_action ON label_events (action_id);
CREATE TRIGGER label_events_no_update BEFORE UPDATE ON label_events
BEGIN SELECT RAISE(ABORT, 'label_events is append-only'); END;
CREATE TRIGGER label_events_no_delete BEFORE DELETE ON label_events
BEGIN SELECT RAISE(ABORT, 'label_events is append-only'); END;
CREATE VIEW current_labels AS
    SELECT e.sample_id, e.class_id, e.user, e.created_at, e.source
    FROM label_events AS e
    JOIN (SELECT sample_id, MAX(id) AS id FROM label_events GROUP BY sample_id) AS last
        ON last.id = e.id
    WHERE e.class_id IS NOT NULL;
CREATE TABLE ingest_problems (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,     -- no_metadata, missing_file, bad_file
    path TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""

_V2 = """
-- Long-running work (training, embedding, maps) run by a detached worker process.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    params_json TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    metrics_json TEXT NOT NULL DEFAULT '{}',
    result_json TEXT,
    error TEXT,
    user TEXT NOT NULL,
    pid INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    started_at TEXT,
    heartbeat_at TEXT,
    finished_at TEXT
);
-- At most one queued or running job of a kind: two users cannot start the same work twice.
CREATE UNIQUE INDEX jobs_one_active_per_kind ON jobs (kind) WHERE state IN ('queued', 'running');
CREATE TABLE embeddings (
    version TEXT PRIMARY KEY,        -- hash of method, parameters, checkpoint and sample keys
    method TEXT NOT NULL,
    params_json TEXT NOT NULL,
    checkpoint_sha TEXT,
    n_samples INTEGER NOT NULL,
    dim INTEGER NOT NULL,
    path TEXT NOT NULL,              -- relative to the project folder
    quality_json TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
);
CREATE TABLE maps (
    id TEXT PRIMARY KEY,             -- hash of embedding version, method and parameters
    embedding_version TEXT NOT NULL REFERENCES embeddings(version),
    method TEXT NOT NULL,
    params_json TEXT NOT NULL,
    path TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_V3 = """
-- One row per user action on labels, for undo and redo. label_events stays append-only.
CREATE TABLE label_actions (
    action_id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('label', 'undo', 'redo')),
    target_action_id TEXT,             -- undo/redo: the action undone or re-applied
    undone INTEGER NOT NULL DEFAULT 0, -- label/redo actions: undone since
    redone INTEGER NOT NULL DEFAULT 0, -- undo actions: redone since
    n_events INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX label_actions_by_user ON label_actions (user);
INSERT INTO label_actions (action_id, user, kind, n_events, created_at)
    SELECT action_id, MIN(user), 'label', COUNT(*), MIN(created_at)
    FROM label_events GROUP BY action_id ORDER BY MIN(id);
"""

_V4 = """
-- Models trained on the labels (predictions are arrays in the project folder), and selection
-- rounds: what was picked, how, by whom, and the model before and after its labels.
CREATE TABLE models (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    params_json TEXT NOT NULL,
    embedding_version TEXT NOT NULL REFERENCES embeddings(version),
    classes_json TEXT NOT NULL,
    n_labeled INTEGER NOT NULL,
    metrics_json TEXT NOT NULL,
    path TEXT NOT NULL,              -- probabilities, relative to the project folder
    user TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE rounds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    strategy TEXT NOT NULL,
    config_json TEXT NOT NULL,
    seed INTEGER,
    n_selected INTEGER NOT NULL,
    embedding_version TEXT NOT NULL,
    model_before TEXT REFERENCES models(id),
    model_after TEXT REFERENCES models(id),
    user TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE round_samples (
    round_id INTEGER NOT NULL REFERENCES rounds(id),
    sample_id INTEGER NOT NULL REFERENCES samples(id),
    rank INTEGER NOT NULL,
    PRIMARY KEY (round_id, sample_id)
);
"""

_V5 = """
-- A counter that every change to samples bumps (and a token unique to this database), so a
-- process can tell whether its copy of the samples table is current: loading 100k rows of
-- metadata JSON takes over a second, and selection rounds read it twice per round.
CREATE TABLE samples_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    token TEXT NOT NULL
);
INSERT INTO samples_version (id, version, token) VALUES (1, 0, lower(hex(randomblob(8))));
CREATE TRIGGER samples_version_on_insert AFTER INSERT ON samples
BEGIN UPDATE samples_version SET version = version + 1; END;
CREATE TRIGGER samples_version_on_update AFTER UPDATE ON samples
BEGIN UPDATE samples_version SET version = version + 1; END;
CREATE TRIGGER samples_version_on_delete AFTER DELETE ON samples
BEGIN UPDATE samples_version SET version = version + 1; END;
"""

_V6 = """
-- Two new label sources: 'adjudication' (a reviewer settles a blind double-labeling
-- disagreement) and 'review' (a reviewer fixes or rejects a label, or accepts a prediction).
-- SQLite cannot change a CHECK constraint in place: the append-only log is copied into a new
-- table with the wider check (ids kept, so the AUTOINCREMENT sequence continues), then the
-- view, indexes and triggers are recreated. DROP TABLE fires no DELETE trigger.
DROP VIEW current_labels;
CREATE TABLE label_events_v6 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sample_id INTEGER NOT NULL REFERENCES samples(id),
    class_id INTEGER REFERENCES label_classes(id),   -- NULL clears the label
    user TEXT NOT NULL,
    created_at TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('lasso', 'queue', 'import', 'undo', 'redo', 'api',
                                           'adjudication', 'review')),
    action_id TEXT NOT NULL                           -- one user action, e.g. one lasso
);
INSERT INTO label_events_v6 (id, sample_id, class_id, user, created_at, source, action_id)
    SELECT id, sample_id, class_id, user, created_at, source, action_id FROM label_events;
DROP TABLE label_events;
ALTER TABLE label_events_v6 RENAME TO label_events;
CREATE INDEX label_events_by_sample ON label_events (sample_id, id);
CREATE INDEX label_events_by_action ON label_events (action_id);
CREATE INDEX label_events_by_user ON label_events (user, sample_id);
CREATE TRIGGER label_events_no_update BEFORE UPDATE ON label_events
BEGIN SELECT RAISE(ABORT, 'label_events is append-only'); END;
CREATE TRIGGER label_events_no_delete BEFORE DELETE ON label_events
BEGIN SELECT RAISE(ABORT, 'label_events is append-only'); END;
CREATE VIEW current_labels AS
    SELECT e.sample_id, e.class_id, e.user, e.created_at, e.source
    FROM label_events AS e
    JOIN (SELECT sample_id, MAX(id) AS id FROM label_events GROUP BY sample_id) AS last
        ON last.id = e.id
    WHERE e.class_id IS NOT NULL;
-- Blind double labeling: which labelers must each label a sample on their own.
CREATE TABLE label_assignments (
    sample_id INTEGER NOT NULL REFERENCES samples(id),
    user TEXT NOT NULL,
    assigned_at TEXT NOT NULL,
    PRIMARY KEY (sample_id, user)
);
CREATE INDEX label_assignments_by_user ON label_assignments (user, sample_id);
-- A reviewer's verdict on one label event (append-only, like the log it judges). A 'fix' or
-- 'reject' also appends a label event with source 'review' (the new label, or NULL), named
-- by result_event_id.
CREATE TABLE label_reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sample_id INTEGER NOT NULL REFERENCES samples(id),
    event_id INTEGER NOT NULL REFERENCES label_events(id),
    verdict TEXT NOT NULL CHECK (verdict IN ('accept', 'fix', 'reject')),
    result_event_id INTEGER REFERENCES label_events(id),
    user TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX label_reviews_by_sample ON label_reviews (sample_id, id);
CREATE TRIGGER label_reviews_no_update BEFORE UPDATE ON label_reviews
BEGIN SELECT RAISE(ABORT, 'label_reviews is append-only'); END;
CREATE TRIGGER label_reviews_no_delete BEFORE DELETE ON label_reviews
BEGIN SELECT RAISE(ABORT, 'label_reviews is append-only'); END;
"""

_V7 = """
-- Tags beside the class ("unsure", "ask an expert", "debris?"): several per sample, kept as an
-- append-only log like the labels, so who tagged what and when is never lost. A sample carries
-- a tag while the last event for that (sample, tag) pair has present = 1.
CREATE TABLE tag_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sample_id INTEGER NOT NULL REFERENCES samples(id),
    tag TEXT NOT NULL,
    present INTEGER NOT NULL CHECK (present IN (0, 1)),   -- 1 adds the tag, 0 removes it
    user TEXT NOT NULL,
    created_at TEXT NOT NULL,
    action_id TEXT NOT NULL                               -- one user action
);
CREATE INDEX tag_events_by_sample ON tag_events (sample_id, tag, id);
CREATE INDEX tag_events_by_tag ON tag_events (tag);
CREATE TRIGGER tag_events_no_update BEFORE UPDATE ON tag_events
BEGIN SELECT RAISE(ABORT, 'tag_events is append-only'); END;
CREATE TRIGGER tag_events_no_delete BEFORE DELETE ON tag_events
BEGIN SELECT RAISE(ABORT, 'tag_events is append-only'); END;
CREATE VIEW current_tags AS
    SELECT e.sample_id, e.tag, e.user, e.created_at
    FROM tag_events AS e
    JOIN (SELECT sample_id, tag, MAX(id) AS id FROM tag_events GROUP BY sample_id, tag) AS last
        ON last.id = e.id
    WHERE e.present = 1;
-- What the pixels say about each image, measured once when it is decoded: the basis of the
-- quality flags (dim, saturated, blurry, nearly empty, odd size) and of exact duplicates.
-- Thresholds are applied when reading, so changing one needs no new pass over the images.
CREATE TABLE image_stats (
    sample_id INTEGER PRIMARY KEY REFERENCES samples(id),
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    bit_depth INTEGER NOT NULL,      -- the range saturation is measured against (8, 16)
    mean REAL NOT NULL,              -- in [0, 1] of the range
    p01 REAL NOT NULL,               -- 1st percentile, in [0, 1] of the range
    p99 REAL NOT NULL,               -- 99th percentile, in [0, 1] of the range
    saturated REAL NOT NULL,         -- share of pixels at the top of the range
    foreground REAL NOT NULL,        -- share of pixels clearly above the background
    sharpness REAL NOT NULL,         -- variance of the Laplacian of the contrast-scaled image
    pixel_sha TEXT NOT NULL,         -- hash of the decoded pixels: equal hashes, equal images
    computed_at TEXT NOT NULL
);
CREATE INDEX image_stats_by_pixel_sha ON image_stats (pixel_sha);
"""

_V8 = """
-- Every change to samples also draws a new token. A database restored from a backup then
-- never returns to a (token, version) pair that a later state of it already had, so a
-- columnar snapshot of the samples frame stamped with that pair (samples_frame.py) is never
-- taken for current after a restore.
DROP TRIGGER samples_version_on_insert;
DROP TRIGGER samples_version_on_update;
DROP TRIGGER samples_version_on_delete;
CREATE TRIGGER samples_version_on_insert AFTER INSERT ON samples
BEGIN UPDATE samples_version SET version = version + 1, token = lower(hex(randomblob(8))); END;
CREATE TRIGGER samples_version_on_update AFTER UPDATE ON samples
BEGIN UPDATE samples_version SET version = version + 1, token = lower(hex(randomblob(8))); END;
CREATE TRIGGER samples_version_on_delete AFTER DELETE ON samples
BEGIN UPDATE samples_version SET version = version + 1, token = lower(hex(randomblob(8))); END;
UPDATE samples_version SET token = lower(hex(randomblob(8)));
-- Rounds and the queue ask for the good (or bad) samples: at a million rows, by index.
CREATE INDEX samples_by_status ON samples (status, id);
"""

_V9 = """
-- Which samples were updated or deleted at which samples_version, so the samples frame's
-- snapshot is patched with the rows changed since it was built instead of decoding every
-- row's metadata again (about 7 s at a million samples). Inserted rows need no entry: their
-- ids are above every id of the snapshot (SQLite reuses an id only after deleting its row,
-- which is logged). sample_id is no reference: the sample may be gone.
CREATE TABLE sample_changes (
    sample_id INTEGER PRIMARY KEY,
    version INTEGER NOT NULL           -- samples_version.version right after its last change
);
CREATE INDEX sample_changes_by_version ON sample_changes (version);
-- The (token, version) states a snapshot of the samples frame was built at. A snapshot is
-- patched only when this database holds its stamp, so it is in this database's history (a
-- database restored from a backup older than the snapshot lacks the stamp).
CREATE TABLE samples_frame_stamps (
    token TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
DROP TRIGGER samples_version_on_update;
DROP TRIGGER samples_version_on_delete;
CREATE TRIGGER samples_version_on_update AFTER UPDATE ON samples
BEGIN
    UPDATE samples_version SET version = version + 1, token = lower(hex(randomblob(8)));
    INSERT INTO sample_changes (sample_id, version)
        SELECT OLD.id, version FROM samples_version WHERE id = 1
        ON CONFLICT (sample_id) DO UPDATE SET version = excluded.version;
END;
CREATE TRIGGER samples_version_on_delete AFTER DELETE ON samples
BEGIN
    UPDATE samples_version SET version = version + 1, token = lower(hex(randomblob(8)));
    INSERT INTO sample_changes (sample_id, version)
        SELECT OLD.id, version FROM samples_version WHERE id = 1
        ON CONFLICT (sample_id) DO UPDATE SET version = excluded.version;
END;
"""

_V10 = """
-- A removed class that label events still name is retired, not deleted: it leaves the class
-- list and frees its digit key, and the history still shows its name.
ALTER TABLE label_classes ADD COLUMN retired_at TEXT;
"""

#: Numbered migrations; the database's ``PRAGMA user_version`` is the last one applied.
MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4, _V5, _V6, _V7, _V8, _V9, _V10)
SCHEMA_VERSION = len(MIGRATIONS)

# PostgreSQL: the same schema, in its dialect. Projects on PostgreSQL start at version 6 (the
# schema when PostgreSQL support came), created in one step; every later migration is written
# twice, once per dialect, under the same number (tests/project/test_engines.py checks that
# both engines end with the same tables, columns and indexes). The dialects differ in: identity
# columns for AUTOINCREMENT, plpgsql trigger functions for RAISE(ABORT) and the counter
# triggers, a quoted "user" (reserved in PostgreSQL), BIGINT and DOUBLE PRECISION where SQLite's
# INTEGER and REAL are 64-bit, and an explicit "rowid" column where SQLite's implicit one orders
# rows (label_actions, models). Every TEXT column sorts and compares byte-wise (COLLATE "C"), as
# in SQLite, whatever the database's locale. The version lives in table schema_version.
_PG_V6 = """
CREATE TABLE schema_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO schema_version (id, version) VALUES (1, 6);
CREATE TABLE datasources (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    uri TEXT NOT NULL,
    purpose TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE samples (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    datasource_id TEXT NOT NULL REFERENCES datasources(id),
    relpath TEXT NOT NULL,
    size_bytes BIGINT,
    status TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'bad')),
    error TEXT,
    meta_json TEXT NOT NULL DEFAULT '{}',
    added_at TEXT NOT NULL,
    UNIQUE (datasource_id, relpath)
);
CREATE TABLE label_classes (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    color TEXT NOT NULL,
    hotkey TEXT UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE label_events (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    sample_id BIGINT NOT NULL REFERENCES samples(id),
    class_id BIGINT REFERENCES label_classes(id),
    "user" TEXT NOT NULL,
    created_at TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('lasso', 'queue', 'import', 'undo', 'redo', 'api',
                                           'adjudication', 'review')),
    action_id TEXT NOT NULL
);
CREATE INDEX label_events_by_sample ON label_events (sample_id, id);
CREATE INDEX label_events_by_action ON label_events (action_id);
CREATE INDEX label_events_by_user ON label_events ("user", sample_id);
CREATE FUNCTION bps_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER label_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON label_events
    FOR EACH STATEMENT EXECUTE FUNCTION bps_append_only();
CREATE VIEW current_labels AS
    SELECT e.sample_id, e.class_id, e."user", e.created_at, e.source
    FROM label_events AS e
    JOIN (SELECT sample_id, MAX(id) AS id FROM label_events GROUP BY sample_id) AS last
        ON last.id = e.id
    WHERE e.class_id IS NOT NULL;
CREATE TABLE ingest_problems (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    params_json TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    progress DOUBLE PRECISION NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    metrics_json TEXT NOT NULL DEFAULT '{}',
    result_json TEXT,
    error TEXT,
    "user" TEXT NOT NULL,
    pid BIGINT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    started_at TEXT,
    heartbeat_at TEXT,
    finished_at TEXT
);
CREATE UNIQUE INDEX jobs_one_active_per_kind ON jobs (kind) WHERE state IN ('queued', 'running');
CREATE TABLE embeddings (
    version TEXT PRIMARY KEY,
    method TEXT NOT NULL,
    params_json TEXT NOT NULL,
    checkpoint_sha TEXT,
    n_samples BIGINT NOT NULL,
    dim INTEGER NOT NULL,
    path TEXT NOT NULL,
    quality_json TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
);
CREATE TABLE maps (
    id TEXT PRIMARY KEY,
    embedding_version TEXT NOT NULL REFERENCES embeddings(version),
    method TEXT NOT NULL,
    params_json TEXT NOT NULL,
    path TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE label_actions (
    action_id TEXT PRIMARY KEY,
    "user" TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('label', 'undo', 'redo')),
    target_action_id TEXT,
    undone INTEGER NOT NULL DEFAULT 0,
    redone INTEGER NOT NULL DEFAULT 0,
    n_events BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    rowid BIGINT GENERATED BY DEFAULT AS IDENTITY UNIQUE
);
CREATE INDEX label_actions_by_user ON label_actions ("user");
CREATE TABLE models (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    params_json TEXT NOT NULL,
    embedding_version TEXT NOT NULL REFERENCES embeddings(version),
    classes_json TEXT NOT NULL,
    n_labeled BIGINT NOT NULL,
    metrics_json TEXT NOT NULL,
    path TEXT NOT NULL,
    "user" TEXT NOT NULL,
    created_at TEXT NOT NULL,
    rowid BIGINT GENERATED BY DEFAULT AS IDENTITY UNIQUE
);
CREATE TABLE rounds (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    strategy TEXT NOT NULL,
    config_json TEXT NOT NULL,
    seed BIGINT,
    n_selected BIGINT NOT NULL,
    embedding_version TEXT NOT NULL,
    model_before TEXT REFERENCES models(id),
    model_after TEXT REFERENCES models(id),
    "user" TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE round_samples (
    round_id BIGINT NOT NULL REFERENCES rounds(id),
    sample_id BIGINT NOT NULL REFERENCES samples(id),
    rank BIGINT NOT NULL,
    PRIMARY KEY (round_id, sample_id)
);
CREATE TABLE samples_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL,
    token TEXT NOT NULL
);
INSERT INTO samples_version (id, version, token)
    VALUES (1, 0, substr(md5(random()::text || clock_timestamp()::text), 1, 16));
CREATE FUNCTION bps_bump_samples_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE samples_version SET version = version + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER samples_version_on_change AFTER INSERT OR UPDATE OR DELETE ON samples
    FOR EACH ROW EXECUTE FUNCTION bps_bump_samples_version();
CREATE TABLE label_assignments (
    sample_id BIGINT NOT NULL REFERENCES samples(id),
    "user" TEXT NOT NULL,
    assigned_at TEXT NOT NULL,
    PRIMARY KEY (sample_id, "user")
);
CREATE INDEX label_assignments_by_user ON label_assignments ("user", sample_id);
CREATE TABLE label_reviews (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    sample_id BIGINT NOT NULL REFERENCES samples(id),
    event_id BIGINT NOT NULL REFERENCES label_events(id),
    verdict TEXT NOT NULL CHECK (verdict IN ('accept', 'fix', 'reject')),
    result_event_id BIGINT REFERENCES label_events(id),
    "user" TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX label_reviews_by_sample ON label_reviews (sample_id, id);
CREATE TRIGGER label_reviews_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON label_reviews
    FOR EACH STATEMENT EXECUTE FUNCTION bps_append_only();
-- Beyond the triggers: no role but the owner may change the logs (see docs/postgresql.md
-- for an app role that may only read and append them).
REVOKE UPDATE, DELETE, TRUNCATE ON label_events, label_reviews FROM PUBLIC;
"""

_PG_V7 = """
CREATE TABLE tag_events (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    sample_id BIGINT NOT NULL REFERENCES samples(id),
    tag TEXT NOT NULL,
    present INTEGER NOT NULL CHECK (present IN (0, 1)),
    "user" TEXT NOT NULL,
    created_at TEXT NOT NULL,
    action_id TEXT NOT NULL
);
CREATE INDEX tag_events_by_sample ON tag_events (sample_id, tag, id);
CREATE INDEX tag_events_by_tag ON tag_events (tag);
CREATE TRIGGER tag_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON tag_events
    FOR EACH STATEMENT EXECUTE FUNCTION bps_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON tag_events FROM PUBLIC;
CREATE VIEW current_tags AS
    SELECT e.sample_id, e.tag, e."user", e.created_at
    FROM tag_events AS e
    JOIN (SELECT sample_id, tag, MAX(id) AS id FROM tag_events GROUP BY sample_id, tag) AS last
        ON last.id = e.id
    WHERE e.present = 1;
CREATE TABLE image_stats (
    sample_id BIGINT PRIMARY KEY REFERENCES samples(id),
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    bit_depth INTEGER NOT NULL,
    mean DOUBLE PRECISION NOT NULL,
    p01 DOUBLE PRECISION NOT NULL,
    p99 DOUBLE PRECISION NOT NULL,
    saturated DOUBLE PRECISION NOT NULL,
    foreground DOUBLE PRECISION NOT NULL,
    sharpness DOUBLE PRECISION NOT NULL,
    pixel_sha TEXT NOT NULL,
    computed_at TEXT NOT NULL
);
CREATE INDEX image_stats_by_pixel_sha ON image_stats (pixel_sha);
"""

_PG_V8 = """
CREATE OR REPLACE FUNCTION bps_bump_samples_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE samples_version SET version = version + 1,
        token = substr(md5(random()::text || clock_timestamp()::text), 1, 16);
    RETURN NULL;
END $$;
UPDATE samples_version SET token = substr(md5(random()::text || clock_timestamp()::text), 1, 16);
CREATE INDEX samples_by_status ON samples (status, id);
"""

_PG_V9 = """
CREATE TABLE sample_changes (
    sample_id BIGINT PRIMARY KEY,
    version BIGINT NOT NULL
);
CREATE INDEX sample_changes_by_version ON sample_changes (version);
CREATE TABLE samples_frame_stamps (
    token TEXT COLLATE "C" PRIMARY KEY,
    version BIGINT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL
);
CREATE OR REPLACE FUNCTION bps_bump_samples_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    now_version BIGINT;
BEGIN
    UPDATE samples_version SET version = version + 1,
        token = substr(md5(random()::text || clock_timestamp()::text), 1, 16)
        RETURNING version INTO now_version;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO sample_changes (sample_id, version) VALUES (OLD.id, now_version)
            ON CONFLICT (sample_id) DO UPDATE SET version = excluded.version;
    END IF;
    RETURN NULL;
END $$;
"""

#: The version a PostgreSQL database starts at, created by ``PG_MIGRATIONS`` of that number.
PG_BASELINE_VERSION = 6
#: PostgreSQL migrations by number, from the baseline up to ``SCHEMA_VERSION``.
PG_MIGRATIONS: dict[int, str] = {
    6: re.sub(r"\bTEXT\b", 'TEXT COLLATE "C"', _PG_V6),
    7: re.sub(r"\bTEXT\b", 'TEXT COLLATE "C"', _PG_V7),
    8: _PG_V8,
    9: _PG_V9,
    10: 'ALTER TABLE label_classes ADD COLUMN retired_at TEXT COLLATE "C";',
}


_RESTORE = "restore it from a backup (labels live only in this file)"


def check_file(path: Path) -> None:
    """Refuses a database file that is missing or empty.

    Checked before SQLite would silently treat such a file as a new, empty database (every
    label gone from view). A file that is not SQLite fails on the first query (see
    ``damaged``).

    Only ``stat`` is used, never ``open``: closing another descriptor of a database file
    drops the POSIX locks this process's connections hold on it, which corrupts databases.

    Raises:
        ProjectError: what is wrong with ``path`` and what to do.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ProjectError(
            f"{path} is missing: the project's samples and labels live there; {_RESTORE}. "
            "Only 'bps-labeler init' creates a new database"
        ) from None
    except OSError as exc:
        raise ProjectError(f"{path}: cannot be read ({exc.strerror})") from None
    if size == 0:
        raise ProjectError(f"{path} is empty (0 bytes): the database was lost; {_RESTORE}")


def damaged(path: str | Path, exc: sqlite3.DatabaseError) -> ProjectError:
    """One line for a database SQLite cannot read."""
    if "not a database" in str(exc):
        return ProjectError(
            f"{path} is not an SQLite database (damaged or overwritten); {_RESTORE}"
        )
    return ProjectError(f"{path} is damaged ({exc}); {_RESTORE}")


def database_error_message(exc: sqlite3.DatabaseError) -> str:
    """One line for a database error that escaped a project's methods."""
    msg = str(exc)
    where = getattr(exc, "where", None)
    if where:  # PostgreSQL: its messages already say what failed
        if "disk is full" in msg:
            return f"{where}: the server's disk is full; free space there and retry"
        return f"{where}: {msg}"
    if "disk is full" in msg:
        return "project.db: the disk is full; free space and retry"
    if any(s in msg for s in ("malformed", "not a database", "disk image")):
        return f"project.db is damaged ({msg}); restore it from a backup"
    return f"project.db: {msg}"


@contextmanager
def database_errors() -> Iterator[None]:
    """Turns an SQLite error raised in its block into a one-line ``ProjectDatabaseError``.

    Raises:
        ProjectDatabaseError: the database failed (damaged, disk full, ...).
    """
    try:
        yield
    except sqlite3.DatabaseError as exc:
        raise ProjectDatabaseError(database_error_message(exc)) from exc


def connect_url(url: str, *, read_only: bool = False) -> Connection:
    """Opens a project database on a PostgreSQL server (``postgresql://USER@HOST:PORT/DB``).

    ``read_only`` refuses every write on the server's side (``ReadOnlyProjectError``).

    Raises:
        ProjectError: the URL holds a password, or the server cannot be reached or refuses
            the connection (one line naming host and port, and what to do).
    """
    from bps_core.project import pg  # psycopg is imported only for PostgreSQL projects

    return pg.connect(url, read_only=read_only)


def connect(
    path: str | Path,
    *,
    read_only: bool = False,
    must_exist: bool = False,
    any_thread: bool = False,
) -> sqlite3.Connection:
    """Opens the database with WAL, a busy timeout and foreign keys, in autocommit mode.

    Writes go through ``write`` (explicit ``BEGIN IMMEDIATE`` transactions). ``read_only``
    opens it for reading only (a project folder this user cannot write): writes then raise
    ``ReadOnlyProjectError``. ``must_exist`` never creates the file. ``any_thread`` lets
    threads other than this one use the connection, one at a time (the caller serialises
    them; sqlite3 refuses by default).
    """
    if read_only:
        conn = _connect_read_only(Path(path), any_thread=any_thread)
    else:
        target, uri = (
            (Path(path).resolve().as_uri() + "?mode=rw", True) if must_exist else (str(path), False)
        )
        conn = sqlite3.connect(
            target, uri=uri, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
            check_same_thread=not any_thread,
        )  # fmt: skip
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _connect_read_only(path: Path, *, any_thread: bool = False) -> sqlite3.Connection:
    """Opens a read-only connection to the database at ``path``.

    Where the folder is not writable (WAL needs its -shm file), the file is opened as
    immutable.
    """
    uri = path.resolve().as_uri()
    for mode in ("?mode=ro", "?mode=ro&immutable=1"):
        conn = sqlite3.connect(
            uri + mode, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
            check_same_thread=not any_thread,
        )  # fmt: skip
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError:
            conn.close()
    raise ProjectError(f"{path}: cannot be opened for reading; check its permissions")


def read_only_error(
    what: str = "the project", *, why: str = "its folder or project.db cannot be written"
) -> ReadOnlyProjectError:
    """Builds the one-line error for a write refused on a read-only project.

    Args:
        what: What could not be written, as the message's subject.
        why: Why, in the parenthesis (the file, or the PostgreSQL role's rights).
    """
    return ReadOnlyProjectError(
        f"{what} is read-only for this user ({why}): "
        "reading works; to change it, ask for write access or work on a copy"
    )


def _read_only(conn: Connection, what: str = "the project") -> ReadOnlyProjectError:
    if engine(conn) == "sqlite":
        return read_only_error(what)
    return read_only_error(what, why="its PostgreSQL role may not write these tables")


def migrate(conn: Connection, *, read_only: bool = False) -> int:
    """Applies pending migrations in one transaction each; returns the schema version.

    Raises:
        ProjectError: the database was written by a newer version of this tool.
    """
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise ProjectError(
            f"database schema version {version} is newer than this tool supports "
            f"({SCHEMA_VERSION}); upgrade bps-labeler"
        )
    if read_only and version < SCHEMA_VERSION:
        raise _read_only(conn, f"the database needs an upgrade (schema {version}), but it")
    pg = engine(conn) == "postgresql"
    first = max(version + 1, PG_BASELINE_VERSION) if pg else version + 1
    for number in range(first, SCHEMA_VERSION + 1):

        def apply(c: Connection, number: int = number) -> None:
            if schema_version(c) >= number:  # another process migrated first
                return
            if pg:
                c.executescript(PG_MIGRATIONS[number])  # type: ignore[attr-defined]
                c.execute("UPDATE schema_version SET version = ?", (number,))
                return
            for statement in _split_sql(MIGRATIONS[number - 1]):
                c.execute(statement)
            c.execute(f"PRAGMA user_version = {number}")

        write(conn, apply)
    return SCHEMA_VERSION


def schema_version(conn: Connection) -> int:
    """The last migration applied to the database (0: an empty database)."""
    if engine(conn) == "sqlite":
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    if conn.execute("SELECT to_regclass('schema_version') IS NULL").fetchone()[0]:
        return 0
    return int(conn.execute("SELECT version FROM schema_version").fetchone()[0])


def _split_sql(script: str) -> list[str]:
    """Statements of a migration script (triggers keep their inner semicolons)."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--") and not buf.strip():
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out


def _is_read_only(exc: sqlite3.OperationalError) -> bool:
    # SQLite: "attempt to write a readonly database"; pg words permission failures so too.
    return "readonly" in str(exc).lower()


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


def _begin_write(conn: Connection) -> None:
    if isinstance(conn, sqlite3.Connection):
        conn.execute("BEGIN IMMEDIATE")
    else:
        conn.begin_write()  # type: ignore[attr-defined]


def _backoff(attempt: int) -> None:
    time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))  # noqa: S311


def write(conn: Connection, fn: Callable[[Any], T]) -> T:
    """Runs ``fn`` in a write transaction: all of it commits, or none of it.

    SQLite: ``BEGIN IMMEDIATE``. PostgreSQL: ``BEGIN`` and the project's write lock (see
    ``pg``), so writers take turns on both engines. Lock contention beyond the busy timeout
    is retried with jittered exponential backoff, so concurrent writers wait rather than
    fail; on PostgreSQL a transaction that lost a lock wait is rolled back and rerun whole.

    Args:
        conn: The project's connection.
        fn: Does the transaction's work with the connection it is given; may be rerun.

    Raises:
        ReadOnlyProjectError: this user may not write the database.
        StorageWriteError: the disk (the server's, for PostgreSQL) is full.
    """
    rerun_busy = engine(conn) != "sqlite"
    for attempt in range(_WRITE_ATTEMPTS):
        try:
            _begin_write(conn)
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if _is_read_only(exc):
                raise _read_only(conn) from None
            if _is_busy(exc) and attempt < _WRITE_ATTEMPTS - 1:
                _backoff(attempt)
                continue
            raise
        try:
            result = fn(conn)
            conn.execute("COMMIT")
            return result
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if _is_read_only(exc):
                raise _read_only(conn) from None
            if "disk is full" in str(exc):
                raise StorageWriteError(
                    "could not write the project database: the disk is full; free space and retry"
                ) from None
            if rerun_busy and _is_busy(exc) and attempt < _WRITE_ATTEMPTS - 1:
                _backoff(attempt)
                continue
            raise
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    raise AssertionError("unreachable")
