"""PostgreSQL beside SQLite: the SQL translation, the URL rules, one schema on both engines,
a project created with ``init --database-url`` and opened through its URL, and the database
errors the store sees as one clear line."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from bps_cli.main import main
from bps_core.errors import ProjectError, ReadOnlyProjectError
from bps_core.project import Project, create_project_from_folder, pg
from bps_core.project import db as project_db
from bps_core.project.config import CONFIG_NAME
from bps_core.synthetic import SynthResult
from tests.helpers import free_port
from tests.pg_server import PgServer


def test_translate__placeholders_percent_and_the_reserved_user_column() -> None:
    sql = (
        "SELECT e.user, user, 'a user %' FROM label_events e "
        "WHERE user = ? AND current_user <> ? AND x LIKE '%?%' -- user ?"
    )
    assert pg.translate(sql) == (  # after a dot PostgreSQL reads any keyword as a column
        "SELECT e.user, \"user\", 'a user %%' FROM label_events e "
        "WHERE \"user\" = %s AND current_user <> %s AND x LIKE '%%?%%' -- user ?"
    )
    assert pg.translate('SELECT "user", users, user_version FROM t') == (
        'SELECT "user", users, user_version FROM t'
    )


def test_translate__insert_or_ignore_becomes_on_conflict_and_or_replace_is_refused() -> None:
    assert pg.translate("INSERT OR IGNORE INTO t (a) VALUES (?)") == (
        "INSERT INTO t (a) VALUES (%s) ON CONFLICT DO NOTHING"
    )
    with pytest.raises(sqlite3.DatabaseError, match="ON CONFLICT"):
        pg.translate("INSERT OR REPLACE INTO t (a) VALUES (?)")


def test_store_sql__has_no_sqlite_only_statements() -> None:
    """New store code must run on both engines: these forms run on SQLite alone."""
    forbidden = ("INSERT OR REPLACE", "lastrowid", "randomblob", "executescript(")
    for path in sorted(Path(project_db.__file__).parent.glob("*.py")):
        if path.name in ("db.py", "pg.py"):  # the SQLite migrations; the translation itself
            continue
        text = path.read_text()
        assert not [f for f in forbidden if f in text], path.name


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("postgresql://ann:s3cret@db.lab:5432/screen", "holds a password.*PGPASSWORD.*pgpass"),
        ("postgresql://ann@db.lab:5432/screen?password=x", "holds a password"),
        ("mysql://ann@db.lab/screen", "not a PostgreSQL URL"),
        ("postgresql://ann@db.lab:5432", "names no database"),
    ],
)
def test_check_database_url__refuses_passwords_and_other_urls(url: str, match: str) -> None:
    with pytest.raises(ProjectError, match=match) as caught:
        pg.check_database_url(url, "--database-url")
    assert "s3cret" not in str(caught.value)
    assert str(caught.value).startswith("--database-url: ")


def test_connect__nothing_listening_is_one_line_naming_host_and_port() -> None:
    port = free_port()
    with pytest.raises(ProjectError) as caught:
        pg.connect(f"postgresql://ann@127.0.0.1:{port}/screen")
    assert str(caught.value) == (
        f"cannot reach PostgreSQL at 127.0.0.1:{port} (connection refused): start the server, "
        "or fix [database] url in project.toml"
    )


def test_pg_migrations__every_version_from_the_baseline_has_its_postgresql_form() -> None:
    expected = set(range(project_db.PG_BASELINE_VERSION, project_db.SCHEMA_VERSION + 1))
    assert set(project_db.PG_MIGRATIONS) == expected


def _sqlite_schema(path: Path) -> tuple[dict[str, set[str]], set[str]]:
    conn = project_db.connect(path)
    project_db.migrate(conn)
    tables = [
        r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
    ]
    columns = {
        t: {r[1] for r in conn.execute(f"PRAGMA table_info({t})")}
        for t in tables
        if not t.startswith("sqlite_")
    }
    indexes = {
        r[0]
        for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql != ''")
    }
    conn.close()
    return columns, indexes


def test_schema__both_engines_have_the_same_tables_columns_and_indexes(
    tmp_path: Path, database_url: str
) -> None:
    columns, indexes = _sqlite_schema(tmp_path / "p.db")
    conn = project_db.connect_url(database_url)
    project_db.migrate(conn)
    rows = conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'public'"
    ).fetchall()
    pg_columns: dict[str, set[str]] = {}
    for table, column in rows:
        pg_columns.setdefault(table, set()).add(column)
    pg_indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes")}
    conn.close()
    # PostgreSQL's own: the version table, and rowid where SQLite has an implicit one.
    pg_columns.pop("schema_version")
    for table in ("label_actions", "models"):
        pg_columns[table].remove("rowid")
    assert pg_columns == columns
    assert indexes <= pg_indexes


def test_append_only_logs__refuse_update_delete_and_truncate_on_postgresql(
    database_url: str,
) -> None:
    conn = project_db.connect_url(database_url)
    project_db.migrate(conn)
    for table in ("label_events", "label_reviews"):
        for sql in (f"UPDATE {table} SET user = 'mallory'", f"DELETE FROM {table}",
                    f"TRUNCATE {table} CASCADE"):  # fmt: skip
            with pytest.raises(sqlite3.IntegrityError, match=f"{table} is append-only"):
                conn.execute(sql)
    conn.close()


def test_init__database_url_keeps_no_sqlite_file_and_every_open_uses_the_url(
    tiny_dataset: SynthResult, tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "proj"
    args = ["init", str(folder), "--source", str(tiny_dataset.root)]
    assert main([*args, "--database-url", database_url]) == 0
    assert "170 samples" in capsys.readouterr().out
    assert not (folder / "project.db").exists()
    assert f'url = "{database_url}"' in (folder / CONFIG_NAME).read_text()
    with Project.open(folder) as project:
        project.add_labels(project.samples().key.head(3), "track", user="ann", source="api")
    assert main(["info", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "labeled: 3" in out
    assert f"database: PostgreSQL 127.0.0.1:{database_url.split(':')[-1]}\n" in out
    with psycopg.connect(database_url) as raw:  # the labels are on the server
        assert raw.execute("SELECT COUNT(*) FROM current_labels").fetchone() == (3,)
    # a second project cannot take the same database
    assert main(["init", str(tmp_path / "other"), "--source", str(tiny_dataset.root),
                 "--database-url", database_url]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "already holds a project" in err
    assert err.count("\n") == 1


def test_init__url_with_a_password_is_refused_before_anything_is_written(
    tiny_dataset: SynthResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "proj"
    url = "postgresql://ann:s3cret@127.0.0.1:5432/screen"
    args = ["init", str(folder), "--source", str(tiny_dataset.root), "--database-url", url]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "holds a password" in err
    assert "s3cret" not in err
    assert not folder.exists()


def test_from_toml__a_password_in_the_database_url_names_the_field() -> None:
    from bps_core.project.config import ProjectConfig

    text = (
        '[project]\nname = "p"\ncreated_at = "now"\n'
        '[datasource]\nid = "input"\nkind = "local"\npath = "/data"\npurpose = "input"\n'
        '[database]\nurl = "postgresql://a:pw@h:1/d"\n'
    )
    with pytest.raises(ProjectError, match=r"^p.toml \[database\] url: holds a password"):
        ProjectConfig.from_toml(text, "p.toml")
    ok = ProjectConfig.from_toml(text.replace("a:pw@", "a@"), "p.toml")
    assert ok.database_url == "postgresql://a@h:1/d"
    assert ProjectConfig.from_toml(ok.to_toml(), "p.toml") == ok


def test_open__newer_schema_on_postgresql_is_refused(
    tiny_copy: Path, tmp_path: Path, database_url: str
) -> None:
    project, _ = create_project_from_folder(tmp_path / "p", tiny_copy, database_url=database_url)
    project.close()
    with psycopg.connect(database_url, autocommit=True) as raw:
        raw.execute("UPDATE schema_version SET version = %s", (project_db.SCHEMA_VERSION + 1,))
    with pytest.raises(ProjectError, match="newer"):
        Project.open(tmp_path / "p")


def test_open__server_down_is_one_line_naming_host_and_port(
    tiny_copy: Path, tmp_path: Path, database_url: str
) -> None:
    project, _ = create_project_from_folder(tmp_path / "p", tiny_copy, database_url=database_url)
    project.close()
    port = free_port()
    toml = tmp_path / "p" / CONFIG_NAME
    toml.write_text(toml.read_text().replace(database_url.split("@")[1].split("/")[0],
                                             f"127.0.0.1:{port}"))  # fmt: skip
    with pytest.raises(ProjectError, match=f"cannot reach PostgreSQL at 127.0.0.1:{port}"):
        Project.open(tmp_path / "p")


def test_write__a_role_that_may_only_read_gets_the_read_only_error(
    tiny_copy: Path, tmp_path: Path, database_url: str, pg_server: PgServer
) -> None:
    project, _ = create_project_from_folder(tmp_path / "p", tiny_copy, database_url=database_url)
    key = project.samples().key.iloc[0]
    project.close()
    role = f"reader_{tmp_path.name[-8:].replace('-', '_')}".lower()
    with psycopg.connect(database_url, autocommit=True) as raw:
        raw.execute(f"DROP ROLE IF EXISTS {role}")
        raw.execute(f"CREATE ROLE {role} LOGIN")
        raw.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    reader_url = database_url.replace("postgres@", f"{role}@")
    toml = tmp_path / "p" / CONFIG_NAME
    toml.write_text(toml.read_text().replace(database_url, reader_url))
    with Project.open(tmp_path / "p") as project:
        assert project.n_samples() == 170
        with pytest.raises(ReadOnlyProjectError, match="read-only for this user .its PostgreSQL"):
            project.add_labels([key], "track", user="ann", source="api")


@pytest.mark.parametrize(
    ("error", "kind", "message"),
    [
        (psycopg.errors.DiskFull, sqlite3.OperationalError, "database or disk is full"),
        (psycopg.errors.SerializationFailure, sqlite3.OperationalError, "database is locked"),
        (psycopg.errors.LockNotAvailable, sqlite3.OperationalError, "database is locked"),
        (psycopg.errors.InsufficientPrivilege, sqlite3.OperationalError, "readonly"),
        (psycopg.errors.UniqueViolation, sqlite3.IntegrityError, "UNIQUE constraint failed"),
        (psycopg.errors.AdminShutdown, sqlite3.OperationalError, "lost the connection"),
    ],
)
def test_translate_error__postgresql_failures_read_as_the_store_expects(
    error: type[psycopg.Error], kind: type[Exception], message: str
) -> None:
    out = pg.translate_error(error("raw server text"), "db.lab:5432/screen")
    assert isinstance(out, kind)
    assert message in str(out)
    assert "\n" not in str(out)
    assert project_db.database_error_message(out).startswith("PostgreSQL db.lab:5432/screen: ")


def test_app_role__labels_but_may_not_change_the_logs_even_without_triggers(
    tiny_copy: Path, tmp_path: Path, database_url: str
) -> None:
    """The role setup docs/projects.md gives: the app's role appends to the logs, and the
    database refuses it UPDATE and DELETE on them by privilege (not only by trigger)."""
    project, _ = create_project_from_folder(tmp_path / "p", tiny_copy, database_url=database_url)
    key = project.samples().key.iloc[0]
    project.close()
    role = f"labeler_{tmp_path.name[-8:].replace('-', '_')}".lower()
    with psycopg.connect(database_url, autocommit=True) as raw:
        raw.execute(f"DROP ROLE IF EXISTS {role}")
        raw.execute(f"CREATE ROLE {role} LOGIN")
        raw.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
        )
        raw.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON label_events, label_reviews FROM {role}")
        raw.execute("ALTER TABLE label_events DISABLE TRIGGER label_events_append_only")
    app_url = database_url.replace("postgres@", f"{role}@")
    toml = tmp_path / "p" / CONFIG_NAME
    toml.write_text(toml.read_text().replace(database_url, app_url))
    with Project.open(tmp_path / "p") as project:
        project.add_labels([key], "track", user="ann", source="api")
        assert project.undo("ann") is not None
        assert len(project.label_events()) == 2
        for sql in ("UPDATE label_events SET user = 'mallory'", "DELETE FROM label_events"):
            with pytest.raises(sqlite3.OperationalError, match="permission denied"):
                project._conn.execute(sql)


def test_write__writers_take_turns_and_a_lock_timeout_is_retried(database_url: str) -> None:
    """PostgreSQL's counterpart of BEGIN IMMEDIATE: a second writer waits for the first; one
    whose lock wait times out (made short here) is rolled back and rerun, not failed."""
    import threading

    first, second = project_db.connect_url(database_url), project_db.connect_url(database_url)
    project_db.migrate(first)
    second.execute("SET lock_timeout = 50")  # the default waits 15 s before retrying
    inside, release = threading.Event(), threading.Event()
    order: list[str] = []

    def hold(c: project_db.Connection) -> None:
        c.execute("INSERT INTO settings (key, value) VALUES ('who', 'first')")
        inside.set()
        release.wait(10)
        order.append("first")

    holder = threading.Thread(target=project_db.write, args=(first, hold))
    holder.start()
    inside.wait(10)
    threading.Timer(0.4, release.set).start()  # longer than several 50 ms lock waits

    def upsert(c: project_db.Connection) -> None:
        value = c.execute("SELECT value FROM settings WHERE key = 'who'").fetchone()
        order.append(f"second saw {value[0] if value else None}")

    project_db.write(second, upsert)
    holder.join(10)
    assert order == ["first", "second saw first"]  # it waited, then read the first's commit
    first.close()
    second.close()


def test_secrets_password__read_from_streamlit_secrets_unless_pgpassword_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    assert pg._secrets_password() is None
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text('[postgresql]\npassword = "pw1"\n')
    assert pg._secrets_password() == "pw1"
    monkeypatch.setenv("PGPASSWORD", "from-env")  # libpq reads it; the file is not needed
    assert pg._secrets_password() is None


def test_connection__dropped_by_the_server_is_opened_again_for_reads_and_writes(
    tiny_copy: Path, tmp_path: Path, database_url: str
) -> None:
    """A server restart or failover between two statements (what a long job meets): the next
    read and the next write run on a new connection, nothing is written twice."""
    project, _ = create_project_from_folder(tmp_path / "p", tiny_copy, database_url=database_url)
    keys = project.samples().key.tolist()

    def drop() -> None:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'bps-labeler' AND datname = current_database()"
            )

    drop()
    assert project.n_samples() == 170  # a read
    drop()
    project.add_labels(keys[:3], "track", user="ann", source="api")  # a write
    drop()
    assert project.undo("ann") is not None
    assert len(project.label_events()) == 6
    project.close()


def test_open__read_only_on_postgresql_reads_and_refuses_writes(
    tiny_copy: Path, tmp_path: Path, database_url: str
) -> None:
    create_project_from_folder(tmp_path / "p", tiny_copy, database_url=database_url)[0].close()
    with Project.open(tmp_path / "p", read_only=True) as project:
        assert project.read_only
        assert project.n_samples() == 170
        with pytest.raises(ReadOnlyProjectError, match="read-only for this user"):
            project.add_labels(project.samples().key.head(1), "x", user="ann", source="api")
        assert project.label_events().empty


def test_label_sources__every_source_is_accepted_on_both_engines(engine_project: Project) -> None:
    """The sources' CHECK is written once per dialect: both must allow every source."""
    from bps_core.project.store import LABEL_SOURCES

    keys = engine_project.samples().key.tolist()
    for key, source in zip(keys, LABEL_SOURCES, strict=False):
        engine_project.add_labels([key], "x", user="ann", source=source)
    assert list(engine_project.label_events().source) == list(LABEL_SOURCES)
