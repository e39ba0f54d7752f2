"""The samples frame's columnar snapshot: the same frame as the database's, never a stale one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bps_core.errors import UnknownSampleError
from bps_core.project import Project, samples_frame, store
from bps_core.project.ingest import add_samples_without_files
from bps_core.project.store import metadata_column
from bps_core.verbs import create_project_from_folder

SNAPSHOT = Path("arrays") / samples_frame.SNAPSHOT_NAME


def _from_database(project: Project) -> pd.DataFrame:
    """The frame built the slow way: every row's metadata JSON decoded."""
    rows = project._conn.execute(
        "SELECT key, id, relpath, status, error, meta_json FROM samples ORDER BY id"
    ).fetchall()
    return samples_frame.frame_from_rows(rows, metadata_column)


def _no_database_build(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> pd.DataFrame:
        raise AssertionError("the frame was rebuilt from the database")

    monkeypatch.setattr(samples_frame, "frame_from_rows", refuse)


def _add_mixed_metadata(project: Project) -> None:
    """Samples whose metadata has missing keys, reserved names, ints, floats, bools."""
    add_samples_without_files(
        project,
        ["extra/a.tif", "extra/b.tif", "extra/c.tif"],
        [
            {"label": "x", "dose_Gy": 0.5, "count": 3, "flag": True, "meta:odd": "m"},
            {"dose_Gy": 1.0, "count": 4, "flag": False},
            {"label": "y", "count": 5, "flag": True},
        ],
    )


def test_samples__fresh_process_reads_the_snapshot_equal_to_the_database(
    tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add_mixed_metadata(tiny_project)
    built = tiny_project.samples()
    expected = _from_database(tiny_project)
    assert (tiny_project.folder / SNAPSHOT).is_file()
    _no_database_build(monkeypatch)
    with Project.open(tiny_project.folder) as fresh:
        loaded = fresh.samples()
    pd.testing.assert_frame_equal(loaded, built, check_exact=True)
    pd.testing.assert_frame_equal(loaded, expected, check_exact=True)
    assert loaded["flag"].dtype == object  # booleans with missing values, NaN not None
    assert loaded["flag"].map(type).value_counts().to_dict() == {float: len(loaded) - 3, bool: 3}
    assert {"meta:label", "meta:meta:odd", "count", "flag"} <= set(loaded.columns)
    assert loaded["meta:label"].isna().sum() == len(loaded) - 2  # missing keys are NaN


def test_samples__changed_metadata_is_seen_by_a_fresh_process(tiny_project: Project) -> None:
    tiny_project.samples()  # stores the snapshot
    key = tiny_project.samples().key.iloc[0]
    with Project.open(tiny_project.folder) as other:  # another process changes one sample
        other._conn.execute(
            "UPDATE samples SET meta_json = ? WHERE key = ?", ('{"stain": "DAPI"}', key)
        )
        other._conn.commit()
    with Project.open(tiny_project.folder) as fresh:
        after = fresh.samples().set_index("key")
    assert after.loc[key, "stain"] == "DAPI"
    pd.testing.assert_frame_equal(after.reset_index(), _from_database(tiny_project))


def test_samples__added_samples_are_seen_and_the_snapshot_replaced(
    tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = len(tiny_project.samples())
    add_samples_without_files(tiny_project, ["late/z.tif"], [{"stain": "H2AX"}])
    with Project.open(tiny_project.folder) as fresh:
        frame = fresh.samples()
    assert len(frame) == before + 1
    assert frame.set_index("relpath").loc["late/z.tif", "stain"] == "H2AX"
    _no_database_build(monkeypatch)  # the rebuilt frame was stored for the new version
    with Project.open(tiny_project.folder) as fresh:
        pd.testing.assert_frame_equal(fresh.samples(), frame, check_exact=True)


def test_samples__bad_sample_seen_after_snapshot(tiny_project: Project) -> None:
    tiny_project.samples()
    key = tiny_project.samples().key.iloc[2]
    tiny_project.mark_bad(key, "truncated TIFF")
    with Project.open(tiny_project.folder) as fresh:
        row = fresh.samples().set_index("key").loc[key]
    assert (row["status"], row["error"]) == ("bad", "truncated TIFF")


def test_samples__unstorable_metadata_keeps_the_database_path(tiny_project: Project) -> None:
    add_samples_without_files(
        tiny_project, ["odd/a.tif", "odd/b.tif"], [{"shape": [1, 2]}, {"shape": "round"}]
    )
    frame = tiny_project.samples()
    assert not (tiny_project.folder / SNAPSHOT).exists()
    assert frame.set_index("relpath").loc["odd/a.tif", "shape"] == [1, 2]
    pd.testing.assert_frame_equal(frame, _from_database(tiny_project))


@pytest.mark.sqlite_only
def test_samples__damaged_snapshot_is_rebuilt(tiny_project: Project) -> None:
    built = tiny_project.samples()
    (tiny_project.folder / SNAPSHOT).write_bytes(b"not parquet")
    with Project.open(tiny_project.folder) as fresh:
        pd.testing.assert_frame_equal(fresh.samples(), built, check_exact=True)
    with Project.open(tiny_project.folder) as fresh:  # and stored again
        assert samples_frame.load_snapshot(fresh.arrays_dir, fresh.samples_version()) is not None


@pytest.mark.sqlite_only
def test_samples__read_only_project_writes_no_snapshot(tiny_project: Project) -> None:
    with Project.open(tiny_project.folder, read_only=True) as reader:
        frame = reader.samples()
    assert not (tiny_project.folder / SNAPSHOT).exists()
    pd.testing.assert_frame_equal(frame, _from_database(tiny_project))


def test_add_labels__large_selection_maps_keys_with_the_current_frame(
    tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "_CACHED_IDS_FROM", 1)  # the tiny project's lassos take the path
    keys = tiny_project.samples().key.tolist()
    chosen = keys[1:8:2]
    tiny_project.add_labels(chosen, "track", user="ann", source="lasso")
    labels = tiny_project.current_labels().set_index("key")["label"].to_dict()
    assert {k: labels.get(k) for k in chosen} == dict.fromkeys(chosen, "track")
    assert set(labels) == set(chosen)
    with pytest.raises(UnknownSampleError):
        tiny_project.add_labels([keys[0], "input:nope.tif"], "foci", user="ann", source="lasso")
    assert tiny_project.current_labels().key.tolist().count(keys[0]) == 0  # all or nothing


def test_add_labels__stale_frame_falls_back_to_the_database(
    tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "_CACHED_IDS_FROM", 1)
    keys = tiny_project.samples().key.tolist()  # cached, then another process adds a sample
    with Project.open(tiny_project.folder) as other:
        add_samples_without_files(other, ["late/n.tif"], [{}])
    new_key = "input:late/n.tif"
    tiny_project.add_labels([keys[0], new_key], "foci", user="ann", source="lasso")
    labels = tiny_project.current_labels().set_index("key")["label"].to_dict()
    assert labels == {keys[0]: "foci", new_key: "foci"}


@pytest.mark.sqlite_only
def test_samples__a_database_restored_from_a_backup_never_reads_a_later_snapshot(
    tiny_copy: Path, tmp_path: Path
) -> None:
    """Backup at version v; one change (snapshot at v+1); restore; a different change. The
    restored database is at v+1 again, but its frame must not be the other timeline's."""
    project, _ = create_project_from_folder(tmp_path / "project", tiny_copy)
    folder = project.folder
    first, second = project.samples().key.tolist()[:2]
    project.close()
    db_file = folder / store.DB_NAME
    backup = db_file.read_bytes()  # closed: the write-ahead log is checkpointed into the file
    with Project.open(folder) as p:
        p.mark_bad(first, "decode failed")
        assert p.samples().set_index("key").status[first] == "bad"  # the snapshot is written
    assert (folder / SNAPSHOT).is_file()
    db_file.write_bytes(backup)  # the user restores last night's copy
    with Project.open(folder) as p:
        p.mark_bad(second, "decode failed")  # without reading the frame in between
    with Project.open(folder) as fresh:
        status = fresh.samples().set_index("key").status
        pd.testing.assert_frame_equal(fresh.samples(), _from_database(fresh), check_exact=True)
    assert status[first] == "ok"
    assert status[second] == "bad"


def _rebuilds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the frames built from every database row (the slow path)."""
    calls: list[int] = []
    build = samples_frame.frame_from_rows

    def counted(rows: Any, rename: Any) -> pd.DataFrame:
        calls.append(len(rows))
        return build(rows, rename)

    monkeypatch.setattr(samples_frame, "frame_from_rows", counted)
    return calls


def _set_meta(
    project: Project, relpath: str, meta: dict[str, Any], *, sort_keys: bool = True
) -> None:
    """Another writer's metadata (sorted keys, as ingest writes them, unless told)."""
    import json

    text = json.dumps(meta, sort_keys=sort_keys)
    project._conn.execute("UPDATE samples SET meta_json = ? WHERE relpath = ?", (text, relpath))
    project._conn.commit()


def test_samples__changed_rows_patch_the_snapshot_equal_to_a_full_rebuild(
    tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    tiny_project.samples()  # the snapshot, stamped in the database
    keys = tiny_project.samples().key.tolist()
    with Project.open(tiny_project.folder) as other:  # another process changes a few samples
        other.mark_bad(keys[0], "truncated TIFF")  # error: from all-NULL to text
        other.mark_bad(keys[3], "odd size")
        rel, meta_json = other._conn.execute(
            "SELECT relpath, meta_json FROM samples WHERE key = ?", (keys[5],)
        ).fetchone()
        meta = json.loads(meta_json)
        meta.update(dose_Gy=meta["dose_Gy"] + 0.25, well="H12", hr_post_exposure=48)
        _set_meta(other, rel, meta)
    _no_database_build(monkeypatch)  # a fresh process patches the snapshot
    with Project.open(tiny_project.folder) as fresh:
        patched = fresh.samples()
    monkeypatch.undo()
    pd.testing.assert_frame_equal(patched, _from_database(tiny_project), check_exact=True)
    row = patched.set_index("key").loc[keys[5]]
    assert (row["well"], row["hr_post_exposure"]) == ("H12", 48)
    assert patched.set_index("key").error[keys[0]] == "truncated TIFF"


def test_samples__mixed_metadata_rows_patch_equal_to_a_full_rebuild(
    tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add_mixed_metadata(tiny_project)
    tiny_project.samples()
    with Project.open(tiny_project.folder) as other:
        other.mark_bad("input:extra/c.tif", "empty file")
        _set_meta(
            other,
            "extra/a.tif",
            {"label": "z", "dose_Gy": 2.5, "count": 9, "flag": False, "meta:odd": "n"},
        )
        _set_meta(other, "extra/b.tif", {"dose_Gy": 1.5, "count": 7, "flag": True})
    _no_database_build(monkeypatch)
    with Project.open(tiny_project.folder) as fresh:
        patched = fresh.samples()
    monkeypatch.undo()
    pd.testing.assert_frame_equal(patched, _from_database(tiny_project), check_exact=True)
    row = patched.set_index("relpath").loc["extra/a.tif"]
    assert (row["meta:label"], row["count"], row["flag"]) == ("z", 9, False)


def test_samples__a_gap_before_a_columns_first_value_is_rebuilt(
    tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first sample lacks the keys the extra samples bring: whether its missing value was
    # a JSON null (the column would start there) or an absent key cannot be told, so rebuild.
    _add_mixed_metadata(tiny_project)
    tiny_project.samples()
    with Project.open(tiny_project.folder) as other:
        other.mark_bad(other.samples().key.iloc[0], "bad")
    calls = _rebuilds(monkeypatch)
    with Project.open(tiny_project.folder) as fresh:
        frame = fresh.samples()
    monkeypatch.undo()
    assert len(calls) == 1
    pd.testing.assert_frame_equal(frame, _from_database(tiny_project), check_exact=True)


def test_samples__inserts_deletes_and_changed_kinds_rebuild_equal_to_the_database(
    tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add_mixed_metadata(tiny_project)
    changes = [
        lambda p: _set_meta(
            p,
            "extra/a.tif",
            {"label": "x", "dose_Gy": 0.5, "count": 3, "flag": True, "meta:odd": "m"},
            sort_keys=False,
        ),  # the columns it brings first, reordered
        lambda p: add_samples_without_files(p, ["late/q.tif"], [{"count": 1}]),  # inserted
        lambda p: _set_meta(p, "extra/a.tif", {"count": "three"}),  # int to text
        lambda p: _set_meta(p, "extra/b.tif", {"count": 4, "flag": False, "stain": "x"}),
        lambda p: _set_meta(p, "extra/c.tif", {"label": "y", "flag": True}),  # key removed
        lambda p: (
            p._conn.execute("DELETE FROM samples WHERE relpath = 'late/q.tif'"),
            p._conn.commit(),
        ),  # fmt: skip
    ]
    for change in changes:
        tiny_project.samples()  # a current snapshot
        with Project.open(tiny_project.folder) as other:
            change(other)
        calls = _rebuilds(monkeypatch)
        with Project.open(tiny_project.folder) as fresh:
            frame = fresh.samples()
        monkeypatch.undo()
        assert len(calls) == 1  # not patched: rebuilt
        pd.testing.assert_frame_equal(frame, _from_database(tiny_project), check_exact=True)


def test_samples__error_cleared_everywhere_rebuilds_to_an_all_null_column(
    tiny_project: Project,
) -> None:
    key = tiny_project.samples().key.iloc[1]
    tiny_project.mark_bad(key, "decode failed")
    tiny_project.samples()  # snapshot with one error
    with Project.open(tiny_project.folder) as other:
        other._conn.execute("UPDATE samples SET status = 'ok', error = NULL WHERE key = ?", (key,))
        other._conn.commit()
    with Project.open(tiny_project.folder) as fresh:
        frame = fresh.samples()
    pd.testing.assert_frame_equal(frame, _from_database(tiny_project), check_exact=True)
    assert frame.error.isna().all()


def test_samples__patch_is_not_taken_past_its_limit(
    tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny_project.samples()
    monkeypatch.setattr(samples_frame, "patch_limit", lambda n: 2)
    with Project.open(tiny_project.folder) as other:
        for key in other.samples().key.tolist()[:3]:
            other.mark_bad(key, "bad")
    calls = _rebuilds(monkeypatch)
    with Project.open(tiny_project.folder) as fresh:
        frame = fresh.samples()
    assert len(calls) == 1
    pd.testing.assert_frame_equal(frame, _from_database(tiny_project), check_exact=True)


def _downgrade_to_v8(project: Project) -> None:
    """The database as schema 8 left it: no change log, no stamps, the old triggers."""
    from bps_core.project import db as project_db

    c = project._conn
    if project_db.engine(c) == "sqlite":
        for statement in (
            "ALTER TABLE label_classes DROP COLUMN retired_at",  # schema 10
            "DROP TABLE sample_changes",
            "DROP TABLE samples_frame_stamps",
            "DROP TRIGGER samples_version_on_update",
            "DROP TRIGGER samples_version_on_delete",
            "CREATE TRIGGER samples_version_on_update AFTER UPDATE ON samples BEGIN UPDATE "
            "samples_version SET version = version + 1, token = lower(hex(randomblob(8))); END",
            "CREATE TRIGGER samples_version_on_delete AFTER DELETE ON samples BEGIN UPDATE "
            "samples_version SET version = version + 1, token = lower(hex(randomblob(8))); END",
            "PRAGMA user_version = 8",
        ):
            c.execute(statement)
        return
    c.executescript(  # type: ignore[attr-defined]
        "DROP TABLE sample_changes; DROP TABLE samples_frame_stamps; "
        "ALTER TABLE label_classes DROP COLUMN retired_at; "
        + project_db._PG_V8.split("UPDATE samples_version SET token")[0]
        + "UPDATE schema_version SET version = 8;"
    )


def test_migrate__v8_project_gains_the_change_log_and_patches_after_upgrade(
    tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bps_core.project import db as project_db

    key = tiny_project.keys_with_status("ok")[0]
    _downgrade_to_v8(tiny_project)
    tiny_project.mark_bad(key, "before the upgrade")  # logged nowhere: no table yet
    with Project.open(tiny_project.folder) as upgraded:
        assert project_db.schema_version(upgraded._conn) == project_db.SCHEMA_VERSION >= 9
        before = upgraded.samples()  # rebuilt (no stamp yet), snapshot stamped
        assert before.set_index("key").error[key] == "before the upgrade"
        second = before.key.iloc[1]
        upgraded.mark_bad(second, "after the upgrade")
    _no_database_build(monkeypatch)
    with Project.open(tiny_project.folder) as fresh:
        frame = fresh.samples()
        monkeypatch.undo()
        pd.testing.assert_frame_equal(frame, _from_database(fresh), check_exact=True)
    assert frame.set_index("key").error[second] == "after the upgrade"
