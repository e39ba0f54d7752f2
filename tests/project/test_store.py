"""The project store: folder layout, schema, label event log, and concurrent writers."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import threading
from pathlib import Path

import pytest

from bps_core.errors import ProjectError, UnknownSampleError
from bps_core.project import Project
from bps_core.project import db as project_db
from bps_core.project.config import CONFIG_NAME


def _keys(project: Project, n: int) -> list[str]:
    return project.samples().key.head(n).tolist()


class TestLayout:
    @pytest.mark.sqlite_only
    def test_create__folder_holds_toml_config_sqlite_db_and_arrays(
        self, tiny_project: Project
    ) -> None:
        folder = tiny_project.folder
        assert (folder / CONFIG_NAME).is_file()
        assert (folder / "project.db").is_file()
        assert (folder / "arrays").is_dir()
        text = (folder / CONFIG_NAME).read_text()
        assert "[datasource]" in text
        assert 'kind = "local"' in text
        assert "secret" not in text.lower()
        assert "key_id" not in text.lower()

    def test_open__roundtrips_config_and_refuses_non_projects(
        self, tiny_project: Project, tmp_path: Path
    ) -> None:
        with Project.open(tiny_project.folder) as again:
            assert again.config == tiny_project.config
            assert again.n_samples() == 170
        with pytest.raises(ProjectError, match="not a project"):
            Project.open(tmp_path / "nothing")
        with pytest.raises(ProjectError, match="already holds a project"):
            Project.create(tiny_project.folder, tiny_project.config.datasource)

    def test_open__broken_toml_names_the_file(self, tiny_project: Project) -> None:
        (tiny_project.folder / CONFIG_NAME).write_text("[project\nname=")
        with pytest.raises(ProjectError, match="project.toml: not valid TOML"):
            Project.open(tiny_project.folder)

    @pytest.mark.sqlite_only
    def test_db__wal_busy_timeout_and_foreign_keys(self, tiny_project: Project) -> None:
        c = tiny_project._conn
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert c.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert c.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
        assert c.execute("PRAGMA user_version").fetchone()[0] == project_db.SCHEMA_VERSION

    @pytest.mark.sqlite_only
    def test_db__newer_schema_is_refused(self, tiny_project: Project) -> None:
        tiny_project._conn.execute(f"PRAGMA user_version = {project_db.SCHEMA_VERSION + 1}")
        with pytest.raises(ProjectError, match="newer"):
            Project.open(tiny_project.folder)

    def test_samples__keyed_by_datasource_and_relative_path(self, tiny_project: Project) -> None:
        df = tiny_project.samples()
        assert df.key.is_unique
        assert (df.key == "input:" + df.relpath).all()


def _in_thread(project: Project) -> BaseException | int:
    """``n_samples`` read in another thread: the count, or what it raised."""
    out: list[BaseException | int] = []

    def read() -> None:
        try:
            out.append(project.n_samples())
        except Exception as exc:  # noqa: BLE001 - handed back to the test
            out.append(exc)

    t = threading.Thread(target=read)
    t.start()
    t.join()
    return out[0]


class TestHeldProject:
    """What a project held across uses (the app's per-session one) relies on."""

    @pytest.mark.sqlite_only
    def test_open__any_thread_serves_other_threads(self, tiny_project: Project) -> None:
        assert isinstance(_in_thread(tiny_project), sqlite3.ProgrammingError)  # the default
        with Project.open(tiny_project.folder, any_thread=True) as held:
            assert _in_thread(held) == 170

    def test_idle__false_when_closed_or_a_transaction_is_open(self, tiny_project: Project) -> None:
        held = Project.open(tiny_project.folder, any_thread=True)
        assert held.idle()
        held._conn.execute("BEGIN")
        assert not held.idle()
        held._conn.execute("ROLLBACK")
        assert held.idle()
        held.close()
        if tiny_project.config.database_url:  # a PgConnection opens itself again when used
            assert held.idle()
            assert held.n_samples() == 170
        else:
            assert not held.idle()

    def test_forget_kept__drops_the_samples_frame(self, tiny_project: Project) -> None:
        tiny_project.samples()
        assert tiny_project._samples is not None
        tiny_project.forget_kept()
        assert tiny_project._samples is None
        assert len(tiny_project.samples()) == 170  # read again


class TestLabels:
    def test_add_labels__current_label_is_the_last_event(self, tiny_project: Project) -> None:
        a, b = _keys(tiny_project, 2)
        tiny_project.add_labels([a, b], "track", user="ann", source="lasso")
        tiny_project.add_labels([a], "debris", user="bob", source="queue")
        cur = tiny_project.current_labels().set_index("key")
        assert cur.loc[a, "label"] == "debris"
        assert cur.loc[a, "user"] == "bob"
        assert cur.loc[b, "label"] == "track"
        assert cur.loc[b, "source"] == "lasso"
        assert len(tiny_project.label_events()) == 3
        history = tiny_project.label_events(a)
        assert history.label.tolist() == ["track", "debris"]
        assert history.user.tolist() == ["ann", "bob"]
        assert set(history.key) == {a}

    def test_add_labels__none_clears_but_keeps_history(self, tiny_project: Project) -> None:
        (a,) = _keys(tiny_project, 1)
        tiny_project.add_labels([a], "track", user="ann", source="queue")
        tiny_project.add_labels([a], None, user="ann", source="queue")
        assert tiny_project.current_labels().empty
        events = tiny_project.label_events()
        assert events.label.iloc[0] == "track"
        assert events.label.isna().iloc[1]

    def test_add_labels__unknown_key_writes_nothing(self, tiny_project: Project) -> None:
        keys = [*_keys(tiny_project, 3), "input:nope.tif"]
        with pytest.raises(UnknownSampleError, match="nope.tif"):
            tiny_project.add_labels(keys, "fresh-class", user="ann", source="lasso")
        assert tiny_project.label_events().empty
        assert tiny_project.classes() == []  # the class insert rolled back too

    def test_add_labels__one_action_id_per_call(self, tiny_project: Project) -> None:
        action = tiny_project.add_labels(_keys(tiny_project, 50), "x", user="u", source="lasso")
        events = tiny_project.label_events()
        assert action.n_events == 50
        assert set(events.action_id) == {action.action_id}

    def test_add_label_events__mixed_classes_and_repeated_keys_keep_each_samples_order(
        self, tiny_project: Project
    ) -> None:
        a, b, c = _keys(tiny_project, 3)
        pairs = [(c, "x"), (a, "y"), (a, None), (b, "x"), (a, "x"), (c, None)]
        action = tiny_project.add_label_events(pairs, user="ann", source="import")
        assert action.n_events == 6
        events = tiny_project.label_events()
        assert set(events.action_id) == {action.action_id}
        assert events[events.key == a].label.fillna("-").tolist() == ["y", "-", "x"]
        assert events[events.key == c].label.fillna("-").tolist() == ["x", "-"]
        cur = tiny_project.current_labels().set_index("key").label.to_dict()
        assert cur == {a: "x", b: "x"}
        undone = tiny_project.undo("ann")
        assert undone is not None
        assert undone.n_changed == 3
        assert tiny_project.current_labels().empty

    def test_add_labels__thousands_of_keys_in_one_call(self, tiny_project: Project) -> None:
        # More keys than SQLite's bound-parameter limit, with duplicates, in one statement.
        keys = tiny_project.samples().key.tolist()
        many = keys * 20
        action = tiny_project.add_labels(many, "x", user="ann", source="lasso")
        assert action.n_events == len(keys)
        assert len(tiny_project.current_labels()) == len(keys)
        with pytest.raises(UnknownSampleError, match="ghost"):
            tiny_project.add_labels([*many, "input:ghost.tif"], "y", user="ann", source="lasso")
        assert len(tiny_project.label_events()) == len(keys)

    def test_label_events__are_append_only(self, tiny_project: Project) -> None:
        tiny_project.add_labels(_keys(tiny_project, 1), "x", user="u", source="api")
        for sql in ("UPDATE label_events SET user = 'mallory'", "DELETE FROM label_events"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                tiny_project._conn.execute(sql)

    def test_classes__get_distinct_colours_and_digit_hotkeys(self, tiny_project: Project) -> None:
        for name in ("a", "b", "c"):
            tiny_project.ensure_class(name)
        classes = tiny_project.classes()
        assert [c.hotkey for c in classes] == ["1", "2", "3"]
        assert len({c.color for c in classes}) == 3
        assert tiny_project.ensure_class("a") == classes[0]

    def test_classes__a_name_differing_only_in_case_is_refused_and_nothing_is_written(
        self, tiny_project: Project
    ) -> None:
        """A user typed "Track" for "track": two classes the model, results and exports count
        apart, without a word. Refused by ensure_class and by a label with the new name (no
        event, no class written); the existing name itself still labels."""
        p = tiny_project
        keys = _keys(p, 3)
        p.add_labels(keys[:1], "<b>x</b> cells", user="ann", source="lasso")
        for name in ("<B>X</B> CELLS", "<b>X</b>  Cells"):
            existing = "'<b>x</b> cells'"
            match = f"from the existing class {existing} only in upper and lower case: use "
            with pytest.raises(ValueError, match=match + existing):
                p.ensure_class(name)
            with pytest.raises(ValueError, match="only in upper and lower case"):
                p.add_labels(keys, name, user="ann", source="lasso")
        assert [c.name for c in p.classes()] == ["<b>x</b> cells"]
        assert len(p.label_events()) == 1
        p.add_labels(keys, "<b>x</b> cells", user="ann", source="queue")
        assert p.current_labels().label.tolist() == ["<b>x</b> cells"] * 3

    @pytest.mark.parametrize(
        ("user", "label", "source", "match"),
        [
            ("", "x", "api", "user name"),
            ("u", " ", "api", "class name"),
            ("u", "x", "magic", "source"),
        ],
    )
    def test_add_labels__invalid_arguments_are_refused(
        self, tiny_project: Project, user: str, label: str, source: str, match: str
    ) -> None:
        with pytest.raises(ValueError, match=match):
            tiny_project.add_labels(_keys(tiny_project, 1), label, user=user, source=source)


def _label_worker(folder: str, keys: list[str], worker: int, n_events: int) -> None:
    with Project.open(folder) as project:
        for i in range(n_events):
            key = keys[(worker * 7 + i) % len(keys)]
            project.add_labels([key], f"class{worker % 3}", user=f"w{worker}", source="api")


def test_concurrent_processes__lose_no_label_events(tiny_project: Project) -> None:
    keys = _keys(tiny_project, 20)  # a small, overlapping set of samples
    n_workers, n_events = 4, 60
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=_label_worker, args=(str(tiny_project.folder), keys, w, n_events))
        for w in range(n_workers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    events = tiny_project.label_events()
    assert len(events) == n_workers * n_events
    assert events.groupby("user").size().eq(n_events).all()
    last = events.groupby("key").last()
    cur = tiny_project.current_labels().set_index("key")
    assert (cur.label == last.loc[cur.index, "label"]).all()
    if project_db.engine(tiny_project._conn) == "sqlite":
        assert tiny_project._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_migrate__v1_database_gains_jobs_embeddings_and_undoable_actions(tmp_path: Path) -> None:
    conn = project_db.connect(tmp_path / "old.db")
    for statement in project_db._split_sql(project_db.MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO datasources VALUES ('input', 'local', 'file:///x', 'input', 't')")
    conn.execute(
        "INSERT INTO samples (key, datasource_id, relpath, added_at) "
        "VALUES ('input:a', 'input', 'a', 't')"
    )
    conn.execute("INSERT INTO label_classes (name, color, created_at) VALUES ('x', '#000', 't')")
    conn.execute(
        "INSERT INTO label_events (sample_id, class_id, user, created_at, source, action_id) "
        "VALUES (1, 1, 'ann', 't', 'lasso', 'act1')"
    )
    assert project_db.migrate(conn) == project_db.SCHEMA_VERSION
    row = conn.execute("SELECT user, kind, n_events FROM label_actions WHERE action_id = 'act1'")
    assert row.fetchone() == ("ann", "label", 1)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"jobs", "embeddings", "maps", "settings", "label_actions", "samples_version"} <= tables


def test_migrate__v5_label_log_keeps_its_events_ids_and_append_only_rule(tmp_path: Path) -> None:
    conn = project_db.connect(tmp_path / "old.db")
    for number, script in enumerate(project_db.MIGRATIONS[:5], start=1):
        for statement in project_db._split_sql(script):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")
    conn.execute("INSERT INTO datasources VALUES ('input', 'local', 'file:///x', 'input', 't')")
    conn.execute(
        "INSERT INTO samples (key, datasource_id, relpath, added_at) "
        "VALUES ('input:a', 'input', 'a', 't')"
    )
    conn.execute("INSERT INTO label_classes (name, color, created_at) VALUES ('x', '#000', 't')")
    for n in range(3):
        conn.execute(
            "INSERT INTO label_events (sample_id, class_id, user, created_at, source, action_id) "
            f"VALUES (1, {'1' if n != 1 else 'NULL'}, 'ann', 't', 'lasso', 'act{n}')"
        )
    assert project_db.migrate(conn) == project_db.SCHEMA_VERSION
    rows = conn.execute("SELECT id, class_id, source FROM label_events ORDER BY id").fetchall()
    assert rows == [(1, 1, "lasso"), (2, None, "lasso"), (3, 1, "lasso")]
    assert conn.execute("SELECT sample_id, class_id FROM current_labels").fetchall() == [(1, 1)]
    conn.execute(
        "INSERT INTO label_events (sample_id, class_id, user, created_at, source, action_id) "
        "VALUES (1, 1, 'rev', 't', 'adjudication', 'act4')"
    )
    assert conn.execute("SELECT MAX(id) FROM label_events").fetchone()[0] == 4  # ids continue
    for statement in ("UPDATE label_events SET class_id = NULL", "DELETE FROM label_events"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(statement)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        conn.execute(
            "INSERT INTO label_events (sample_id, class_id, user, created_at, source, action_id) "
            "VALUES (1, 1, 'rev', 't', 'guess', 'act5')"
        )
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"label_assignments", "label_reviews"} <= tables
    assert "label_events_v6" not in tables


@pytest.mark.sqlite_only
def test_samples__cached_copy_follows_changes_from_any_connection(tiny_project: Project) -> None:
    first = tiny_project.samples()
    version = tiny_project.samples_version()
    statements: list[str] = []
    tiny_project._conn.set_trace_callback(statements.append)
    tiny_project.samples()
    tiny_project._conn.set_trace_callback(None)
    assert not [s for s in statements if "meta_json" in s]  # served from the cached frame
    first.loc[:, "status"] = "changed by the caller"  # callers get a copy
    again = tiny_project.samples()
    assert (again.status == "ok").all()
    assert tiny_project.samples_version() == version  # reads change nothing
    key = again.key.iloc[3]
    with Project.open(tiny_project.folder) as other:  # another connection, as a job would be
        other.mark_bad(key, "truncated TIFF")
    assert tiny_project.samples_version() != version
    after = tiny_project.samples().set_index("key")
    assert after.loc[key, "status"] == "bad"
    assert after.loc[key, "error"] == "truncated TIFF"
    # an insert bumps it as well (what ingest does)
    before_insert = tiny_project.samples_version()
    tiny_project._conn.execute(
        "INSERT INTO samples (key, datasource_id, relpath, added_at) "
        "SELECT 'input:new.tif', datasource_id, 'new.tif', 't' FROM samples LIMIT 1"
    )
    assert tiny_project.samples_version() != before_insert
    assert "input:new.tif" in set(tiny_project.samples().key)


def test_samples_version__differs_between_databases(tmp_path: Path) -> None:
    tokens = set()
    for name in ("a.db", "b.db"):
        conn = project_db.connect(tmp_path / name)
        project_db.migrate(conn)
        tokens.add(conn.execute("SELECT token FROM samples_version").fetchone()[0])
    assert len(tokens) == 2


@pytest.mark.parametrize(
    ("raised", "message"),
    [
        (sqlite3.OperationalError("database or disk is full"),
         "project.db: the disk is full; free space and retry"),
        (sqlite3.DatabaseError("database disk image is malformed"),
         "project.db is damaged (database disk image is malformed); restore it from a backup"),
        (sqlite3.OperationalError("no such table: x"), "project.db: no such table: x"),
    ],
)  # fmt: skip
def test_database_errors__an_sqlite_error_becomes_one_project_error_line(
    raised: sqlite3.DatabaseError, message: str
) -> None:
    from bps_core.errors import ProjectDatabaseError
    from bps_core.project import database_errors

    with pytest.raises(ProjectDatabaseError) as caught, database_errors():
        raise raised
    assert str(caught.value) == message
    assert isinstance(caught.value, ProjectError)


def test_keys_with_status__good_and_bad_keys_in_id_order(tiny_project: Project) -> None:
    keys = tiny_project.samples().key.tolist()
    tiny_project.mark_bad(keys[2], "truncated")
    assert tiny_project.keys_with_status("bad") == [keys[2]]
    assert tiny_project.keys_with_status() == keys[:2] + keys[3:]


def test_add_labels__shown_refuses_a_sample_another_user_relabeled_since(
    tiny_project: Project,
) -> None:
    """Two labelers on one queue image: the second key press replaced the first label
    unseen. With ``shown`` (what the screen showed) the write is refused, whole."""
    from bps_core.errors import StaleLabelError

    a, b = tiny_project.samples().key.tolist()[:2]
    tiny_project.add_labels([a], "Fe", user="carol", source="queue")
    with pytest.raises(StaleLabelError, match=r"labeled 'Fe' by carol at \d\d:\d\d UTC since "
                       "it was shown to you: nothing was written") as caught:  # fmt: skip
        tiny_project.add_labels([a, b], "X-ray", user="tester", source="queue",
                                shown={a: None, b: None})  # fmt: skip
    assert caught.value.keys == [a]
    assert dict(zip(tiny_project.current_labels().key, tiny_project.current_labels().label,
                    strict=True)) == {a: "Fe"}  # fmt: skip
    # shown as it is now: replaced; the user's own newer label is theirs to replace too
    tiny_project.add_labels([a, b], "X-ray", user="tester", source="queue",
                            shown={a: "Fe", b: None})  # fmt: skip
    tiny_project.add_labels([b], "Fe", user="tester", source="queue", shown={b: None})
    # a clear by someone else is a change too
    tiny_project.add_labels([b], None, user="carol", source="queue")
    with pytest.raises(StaleLabelError, match="cleared by carol"):
        tiny_project.add_labels([b], "X-ray", user="tester", source="queue", shown={b: "Fe"})
    labels = tiny_project.current_labels()
    assert dict(zip(labels.key, labels.label, strict=True)) == {a: "X-ray"}
