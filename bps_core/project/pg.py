"""A project's database on a PostgreSQL server, through psycopg 3.

``PgConnection`` speaks the store's SQL as the SQLite connection does: ``execute`` and
``executemany`` with ``?`` placeholders return a cursor with ``fetchone``/``fetchall``,
``in_transaction`` tells whether a transaction is open, and failures raise the DB-API classes
the store catches (``db.IntegrityError``, ``db.OperationalError``, ...) with SQLite-like
messages, so store code runs unchanged on both engines.

Translation, done once per statement text: ``?`` becomes ``%s``, ``%`` is doubled, and the
column ``user`` (a reserved word in PostgreSQL, where a bare ``user`` means the session's
role) is quoted. ``INSERT OR IGNORE`` becomes ``ON CONFLICT DO NOTHING``; ``INSERT OR
REPLACE`` has no general translation and is refused (write ``ON CONFLICT (...) DO UPDATE``,
which both engines run).

Writes are serialised as SQLite's ``BEGIN IMMEDIATE`` serialises them: every write
transaction first takes one transaction-scoped advisory lock, so a read-then-write inside
``db.write`` sees every earlier commit (READ COMMITTED takes a new snapshot per statement)
and no two writers interleave; reads never wait.
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import psycopg
import tomllib
from psycopg import pq

from bps_core.errors import ProjectError
from bps_core.storage.s3.redaction import remember_secrets

#: The advisory lock every write transaction takes first (one project per database).
WRITE_LOCK_KEY = 0x6270_735F_6C61_6265  # 'bps_labe'
#: How long a writer waits for the write lock before the attempt counts as busy (retried).
LOCK_TIMEOUT_MS = 15_000
_SCHEMES = ("postgresql", "postgres")


class IntegrityError(sqlite3.IntegrityError):
    """A constraint or append-only rule refused a PostgreSQL write (``sqlstate`` says which)."""

    sqlstate: str | None = None
    where = ""


class OperationalError(sqlite3.OperationalError):
    """PostgreSQL could not run a statement: busy, disk full, read-only, connection lost."""

    sqlstate: str | None = None
    where = ""


class DatabaseError(sqlite3.DatabaseError):
    """Any other PostgreSQL failure."""

    sqlstate: str | None = None
    where = ""


def is_database_url(value: str | os.PathLike[str]) -> bool:
    """Whether ``value`` is a PostgreSQL URL (``postgresql://...``) rather than a file path."""
    return (
        isinstance(value, str) and value.split("://", 1)[0].lower() in _SCHEMES and ("://" in value)
    )


def check_database_url(url: str, where: str = "database URL") -> str:
    """Validates a PostgreSQL URL as stored in ``project.toml``; returns it unchanged.

    Args:
        url: ``postgresql://USER@HOST:PORT/DBNAME``.
        where: What to name in the error (the option or the config field).

    Raises:
        ProjectError: not a PostgreSQL URL, no database name, or a password in it.
    """
    if not is_database_url(url):  # not echoed: it may hold a password
        raise ProjectError(
            f"{where}: not a PostgreSQL URL; give postgresql://USER@HOST:PORT/DBNAME"
        )
    try:
        parts = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        raise ProjectError(
            f"{where}: cannot be parsed; give postgresql://USER@HOST:PORT/DBNAME"
        ) from None
    if parts.get("password"):
        raise ProjectError(
            f"{where}: holds a password, which would be stored in project.toml; remove it and "
            "set PGPASSWORD, add it to ~/.pgpass, or put it under [postgresql] password in "
            ".streamlit/secrets.toml"
        )
    if not parts.get("dbname"):
        raise ProjectError(f"{where}: names no database; end it with /DBNAME")
    return url


def describe(url: str) -> str:
    """``HOST:PORT/DBNAME`` of a URL, for messages (never a password: none is stored)."""
    parts = psycopg.conninfo.conninfo_to_dict(url)
    return f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"


def _secrets_password() -> str | None:
    """``[postgresql] password`` from Streamlit's ``secrets.toml``, when PGPASSWORD is unset."""
    if os.environ.get("PGPASSWORD"):
        return None
    for path in (Path.home() / ".streamlit" / "secrets.toml",
                 Path.cwd() / ".streamlit" / "secrets.toml"):  # fmt: skip
        try:
            table = tomllib.loads(path.read_text()).get("postgresql", {})
        except (OSError, tomllib.TOMLDecodeError):
            continue
        if isinstance(table, dict) and table.get("password"):
            return str(table["password"])
    return None


def _connect_error(url: str, exc: psycopg.Error) -> ProjectError:
    """One line for a server that cannot be reached or refuses the connection."""
    parts = psycopg.conninfo.conninfo_to_dict(url)
    host, port = parts.get("host", "localhost"), parts.get("port", 5432)
    dbname, user = parts.get("dbname", ""), parts.get("user", os.environ.get("USER", ""))
    msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    low = str(exc).lower()
    if "connection refused" in low or ("could not connect" in low and "timeout" not in low):
        return ProjectError(
            f"cannot reach PostgreSQL at {host}:{port} (connection refused): start the server, "
            "or fix [database] url in project.toml"
        )
    if "timeout" in low:
        return ProjectError(
            f"PostgreSQL at {host}:{port} did not answer in time: check the host, port and "
            "firewall, or fix [database] url in project.toml"
        )
    if "password" in low or "authentication" in low:
        return ProjectError(
            f"PostgreSQL at {host}:{port} refused user {user!r} ({msg}): set PGPASSWORD, add "
            "the password to ~/.pgpass, or put it under [postgresql] password in "
            ".streamlit/secrets.toml"
        )
    if "does not exist" in low and "database" in low:
        return ProjectError(
            f"database {dbname!r} does not exist on {host}:{port}: create it "
            f"(createdb -h {host} -p {port} {dbname}) or fix [database] url in project.toml"
        )
    return ProjectError(f"cannot connect to PostgreSQL at {host}:{port}/{dbname}: {msg}")


def connect(url: str, *, read_only: bool = False) -> PgConnection:
    """Opens a connection in autocommit mode (``db.write`` opens the transactions).

    ``read_only`` makes every transaction read-only on the server (writes then fail as on a
    read-only SQLite file).

    The password, if any, comes from ``PGPASSWORD``, ``~/.pgpass`` (libpq reads both) or
    ``[postgresql] password`` in ``.streamlit/secrets.toml``; never from the URL.

    Raises:
        ProjectError: the server cannot be reached or refuses the connection (one line
            naming host and port, and what to do).
    """
    check_database_url(url)
    return PgConnection(_open(url, read_only), url, read_only=read_only)


def _open(url: str, read_only: bool = False) -> psycopg.Connection[Any]:
    extra: dict[str, Any] = {}
    password = _secrets_password()
    if password:
        remember_secrets(password)  # never in a log record
        extra["password"] = password
    try:
        return psycopg.connect(
            url, autocommit=True, connect_timeout=10, application_name="bps-labeler",
            options=f"-c lock_timeout={LOCK_TIMEOUT_MS}"
            + (" -c default_transaction_read_only=on" if read_only else ""),
            **extra,
        )  # fmt: skip
    except psycopg.Error as exc:
        raise _connect_error(url, exc) from None


_TOKENS = re.compile(
    r"'(?:[^']|'')*'"  # a string literal: kept (its % doubled)
    r"|\"(?:[^\"]|\"\")*\""  # a quoted identifier: kept
    r"|--[^\n]*"  # a comment: kept
    r"|\?|%|(?<![\w.\"$])user(?![\w\"$])",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """The store's SQL (SQLite dialect, ``?`` placeholders) as psycopg runs it on PostgreSQL.

    Raises:
        DatabaseError: ``INSERT OR REPLACE``, which has no general PostgreSQL form.
    """
    head = sql.lstrip()[:40].upper()
    ignore = False
    if re.match(r"INSERT\s+OR\s+REPLACE\b", head):
        raise DatabaseError(
            "INSERT OR REPLACE is SQLite-only: write INSERT ... ON CONFLICT (...) DO UPDATE"
        )
    if re.match(r"INSERT\s+OR\s+IGNORE\b", head):
        sql = re.sub(r"^\s*INSERT\s+OR\s+IGNORE\b", "INSERT", sql, count=1, flags=re.I)
        ignore = True

    def sub(m: re.Match[str]) -> str:
        t = m.group(0)
        if t == "?":
            return "%s"
        if t == "%":
            return "%%"
        if t[0] in "'-\"":
            return t.replace("%", "%%")
        return '"user"'

    out = _TOKENS.sub(sub, sql)
    if ignore:
        out = out.rstrip().rstrip(";") + " ON CONFLICT DO NOTHING"
    return out


def _is_read_or_begin(query: str) -> bool:
    return query.lstrip()[:6].upper() in ("SELECT", "BEGIN")


def _first_line(exc: psycopg.Error) -> str:
    primary = exc.diag.message_primary if exc.diag else None
    text = primary or str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def translate_error(
    exc: psycopg.Error, where: str
) -> IntegrityError | OperationalError | DatabaseError:
    """The DB-API error the store catches for a psycopg error, with an SQLite-like message.

    Constraint failures read ``UNIQUE constraint failed: ...`` (and CHECK, NOT NULL, FOREIGN
    KEY) as SQLite words them; busy and lock timeouts ``database is locked``, a full disk
    ``database or disk is full``, missing write rights ``attempt to write a readonly
    database``, so ``db.write``'s handling is the same for both engines.
    """
    state = exc.sqlstate or ""
    msg = _first_line(exc)
    constraint = (exc.diag.constraint_name if exc.diag else None) or ""
    out: IntegrityError | OperationalError | DatabaseError
    if state == "23505":
        out = IntegrityError(f"UNIQUE constraint failed: {constraint} ({msg})")
    elif state == "23514":
        out = IntegrityError(f"CHECK constraint failed: {constraint} ({msg})")
    elif state == "23502":
        out = IntegrityError(f"NOT NULL constraint failed: {msg}")
    elif state == "23503":
        out = IntegrityError(f"FOREIGN KEY constraint failed: {msg}")
    elif state.startswith("23"):
        out = IntegrityError(msg)
    elif state in ("40001", "40P01", "55P03", "55006"):
        out = OperationalError(f"database is locked (PostgreSQL: {msg})")
    elif state.startswith("53"):
        out = OperationalError(f"database or disk is full (PostgreSQL {where}: {msg})")
    elif state in ("25006", "42501"):
        out = OperationalError(f"attempt to write a readonly database (PostgreSQL: {msg})")
    elif state.startswith(("08", "57P")) or isinstance(exc, psycopg.OperationalError) and not state:
        out = OperationalError(
            f"lost the connection to PostgreSQL at {where} ({msg}); check the server and retry"
        )
    elif state.startswith("42"):
        out = OperationalError(msg)
    else:
        out = DatabaseError(msg)
    out.sqlstate = state or None
    out.where = f"PostgreSQL {where}"
    return out


class PgConnection:
    """A psycopg connection that runs the store's SQL (see the module docstring).

    A connection the server dropped (a restart, a failover, an idle timeout) is opened again
    at the next statement outside a transaction; a read or ``BEGIN`` that found it dropped is
    run once more on the new one. A transaction it broke is not rerun (whether its COMMIT
    landed is unknown): that write fails with one line, and the next one reconnects.

    Attributes:
        url: The database URL (it never holds a password).
    """

    engine = "postgresql"

    def __init__(self, raw: psycopg.Connection[Any], url: str, *, read_only: bool = False) -> None:
        self._raw = raw
        self.url = url
        self.read_only = read_only
        self._where = describe(url)

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        """Runs one statement (``?`` placeholders); returns its cursor, rows already fetched."""
        query, args = translate(sql), tuple(parameters)
        idle = self._reconnect_if_dropped()
        try:
            return self._raw.execute(query, args)
        except psycopg.Error as exc:
            retry = idle and self._raw.broken and _is_read_or_begin(query)
            if not retry:
                raise translate_error(exc, self._where) from exc
        self._reconnect_if_dropped()
        try:
            return self._raw.execute(query, args)
        except psycopg.Error as exc:
            raise translate_error(exc, self._where) from exc

    def _reconnect_if_dropped(self) -> bool:
        """Opens the connection again if the server dropped it; returns whether it is idle."""
        if self._raw.broken or self._raw.closed:
            self._raw.close()
            self._raw = _open(self.url, self.read_only)
            return True
        return not self.in_transaction

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]], /) -> psycopg.Cursor[Any]:
        """Runs one statement once per parameter row (pipelined: one round trip per batch)."""
        self._reconnect_if_dropped()
        cur = self._raw.cursor()
        try:
            cur.executemany(translate(sql), [tuple(r) for r in seq])
        except psycopg.Error as exc:
            raise translate_error(exc, self._where) from exc
        return cur

    def executescript(self, script: str) -> None:
        """Runs DDL text as written (several statements, no placeholders, no translation)."""
        try:
            self._raw.execute(script)
        except psycopg.Error as exc:
            raise translate_error(exc, self._where) from exc

    def begin_write(self) -> None:
        """Opens a write transaction and waits for the project's write lock."""
        self.execute("BEGIN")
        self.execute("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK_KEY,))

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open (also a failed one, until rolled back).

        False once the server dropped the connection: its transaction is gone with it.
        """
        if self._raw.broken or self._raw.closed:
            return False
        return self._raw.info.transaction_status != pq.TransactionStatus.IDLE

    def commit(self) -> None:
        """Commits an open transaction (nothing to do in autocommit mode otherwise)."""
        if self.in_transaction:
            self.execute("COMMIT")

    def close(self) -> None:
        """Closes the connection."""
        self._raw.close()
