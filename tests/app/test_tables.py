"""The tables pages show (bps_app/tables.py): plain pandas, tested without Streamlit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bps_app import tables
from bps_app.figures import UNLABELED
from bps_core.selection.rounds import ModelRecord, Round


def _samples() -> pd.DataFrame:
    return pd.DataFrame(
        {"key": ["in:a/1.tif", "in:a/2.tif", "in:b/3.tif", "in:b/4.tif"],
         "sample_id": [1, 2, 3, 4], "relpath": ["a/1.tif", "a/2.tif", "b/3.tif", "b/4.tif"],
         "status": ["ok", "ok", "ok", "bad"], "error": [None, None, None, "truncated"],
         "particle_type": ["Fe", "Fe", "X-ray", "X-ray"], "dose_Gy": [0.82, 0.82, 1.0, 1.0],
         "hr_post_exposure": [4, 24, 4, 4], "well": ["A1", "A1", "B2", "B2"]}
    )  # fmt: skip


def _labels() -> pd.DataFrame:
    return pd.DataFrame({"key": ["in:a/1.tif", "in:b/3.tif"], "label": ["track", "debris"]})


def test_n_conditions__counts_particle_dose_time_combinations() -> None:
    assert tables.n_conditions(_samples()) == 3


def test_map_table__joins_label_model_and_round_columns_when_present() -> None:
    frame = pd.DataFrame({"key": ["in:a/1.tif", "in:a/2.tif"], "x": [0.0, 1.0]})
    model = pd.DataFrame({"key": ["in:a/2.tif"], "prediction": ["track"], "uncertainty": ["0.2"]})
    rounds = pd.DataFrame({"key": ["in:a/1.tif"], "round": ["round 2"]})
    out = tables.map_table(frame, _labels(), model, rounds)
    assert out.label.tolist()[0] == "track"
    assert pd.isna(out.label[1])
    assert out.prediction.tolist()[1] == "track"
    assert out["round"].tolist()[0] == "round 2"
    bare = tables.map_table(frame, _labels(), None, pd.DataFrame(columns=["key", "round"]))
    assert list(bare.columns) == ["key", "x", "label"]
    issues = pd.DataFrame({"key": ["in:a/1.tif"], "issue score": ["0.8-1.0"]})
    scored = tables.map_table(frame, _labels(), None, rounds, issues)
    assert scored["issue score"].tolist()[0] == "0.8-1.0"
    assert pd.isna(scored["issue score"][1])


def _merged_map_table(
    frame: pd.DataFrame,
    labels: pd.DataFrame,
    model: pd.DataFrame | None,
    rounds: pd.DataFrame,
    issues: pd.DataFrame | None,
    colours: pd.DataFrame,
) -> pd.DataFrame:
    """The map table as it was built before issue 21: a merge on the key text per part (the
    label column then made categorical, as ``placed_categories`` makes it)."""
    out = frame.merge(labels[["key", "label"]], on="key", how="left")
    categories = pd.Index(labels.label.dropna().unique())
    out["label"] = pd.Categorical(out.label, dtype=pd.CategoricalDtype(categories))
    for part in (model, issues, None if rounds.empty else rounds):
        if part is not None:
            out = out.merge(part, on="key", how="left")
    new = [c for c in colours.columns if c not in out.columns]
    return out.merge(colours[new], left_on="key", right_index=True, how="left")


def _big_map_inputs(n: int = 3000) -> tuple[pd.DataFrame, ...]:
    rng = np.random.default_rng(0)
    keys = np.asarray([f"in:p/{i}.tif" for i in rng.permutation(n)], dtype=object)
    frame = pd.DataFrame({"key": pd.array(keys, dtype="str"), "x": rng.random(n),
                          "sample_id": np.arange(n), "plate": rng.choice(["P1", "P2"], n),
                          "hr_post_exposure": rng.choice([4, 24, 48], n)})  # fmt: skip
    labeled = rng.choice(keys, n // 3, replace=False)
    labels = pd.DataFrame({"key": pd.array(labeled, dtype="str"),
                           "label": pd.array(rng.choice(["track", "debris"], len(labeled)),
                                             dtype="str"),
                           "user": "ann"})  # fmt: skip
    model = pd.DataFrame({"key": keys[: n // 2], "prediction": "track", "uncertainty": "0.2"})
    rounds = pd.DataFrame({"key": keys[::7], "round": "round 1"})
    issues = pd.DataFrame({"key": labeled[:50], "issue score": "0.8-1.0"})
    facet_keys = sorted(keys)[: n - 10]  # the facets hold decodable samples only
    colours = pd.DataFrame({"label": "x", "confidence": rng.choice(["0-0.5", "0.5-1"], n - 10),
                            "tags": [None if i % 3 else "unsure" for i in range(n - 10)],
                            "flag": rng.random(n - 10) > 0.5},
                           index=pd.Index(facet_keys, name="key"))  # fmt: skip
    return frame, labels, model, rounds, issues, colours


def test_map_table__joined_by_position_equals_the_key_merges() -> None:
    """Issue 21: the map table's parts are placed by key position, not merged on the key text
    (seconds per rerun at a million points); the table is the same, column for column."""
    frame, labels, model, rounds, issues, colours = _big_map_inputs()
    for parts in [(model, rounds, issues), (None, rounds.iloc[:0], None)]:
        got = tables.map_table(frame, labels, parts[0], parts[1], parts[2], colours)
        want = _merged_map_table(frame, labels, parts[0], parts[1], parts[2], colours)
        pd.testing.assert_frame_equal(got, want)
    # again with the same objects: the positions are reused and the result is the same
    again = tables.map_table(frame, labels, model, rounds, issues, colours)
    pd.testing.assert_frame_equal(again, _merged_map_table(frame, labels, model, rounds, issues,
                                                           colours))  # fmt: skip
    assert "label" not in frame.columns  # the cached frame is never changed


def test_selected_rows__by_position_equals_the_index_intersection() -> None:
    frame = _big_map_inputs()[0]
    rng = np.random.default_rng(1)
    keys = [*rng.choice(frame.key.to_numpy(dtype=object), 500).tolist(), "in:gone.tif"]
    by_key = frame.set_index("key")
    want = by_key.loc[by_key.index.intersection(keys, sort=False)].reset_index()
    pd.testing.assert_frame_equal(tables.selected_rows(frame, keys), want)
    positions = tables.KeyPositions.of(frame)
    pd.testing.assert_frame_equal(tables.selected_rows(frame.copy(), keys, positions), want)
    assert tables.selected_rows(frame, []).empty


def test_browse_table__decodable_samples_unlabeled_filled_prediction_joined() -> None:
    model = pd.DataFrame({"key": ["in:a/2.tif"], "prediction": ["track"], "uncertainty": ["x"]})
    out = tables.browse_table(_samples(), _labels(), model)
    assert out.key.tolist() == ["in:a/1.tif", "in:a/2.tif", "in:b/3.tif"]  # not the bad one
    assert out.label.tolist() == ["track", UNLABELED, "debris"]
    assert "uncertainty" not in out.columns
    assert out.prediction.tolist()[1] == "track"


def test_thumbnail_captions__file_label_and_prediction() -> None:
    chosen = tables.browse_table(_samples(), _labels(), None).assign(
        prediction=["debris", None, None]
    )
    out = tables.thumbnail_captions(chosen, ["in:a/1.tif", "in:a/2.tif"])
    assert out == {"in:a/1.tif": "1.tif · track · predicted debris",
                   "in:a/2.tif": f"2.tif · {UNLABELED}"}  # fmt: skip


def test_sample_row__one_row_or_key_error() -> None:
    row = tables.sample_row(_samples(), "in:b/3.tif")
    assert isinstance(row, pd.Series)
    assert row.relpath == "b/3.tif"
    with pytest.raises(KeyError):
        tables.sample_row(_samples(), "in:nope.tif")


def test_label_actions__one_row_per_action_newest_first_clears_named() -> None:
    events = pd.DataFrame(
        {"action_id": ["a", "a", "b"], "created_at": ["2026-01-01", "2026-01-01", "2026-01-02"],
         "user": ["ann", "ann", "bob"], "source": ["lasso", "lasso", "queue"],
         "label": ["track", "track", None], "key": ["k1", "k2", "k1"]}
    )  # fmt: skip
    out = tables.label_actions(events)
    assert out.user.tolist() == ["bob", "ann"]
    assert out.label.tolist() == ["(cleared)", "track"]
    assert out.samples.tolist() == [1, 2]


def test_label_actions__an_action_of_several_classes_names_each_with_its_count() -> None:
    """An import of 3 'foci' and 2 'no_foci' read "foci, 5 samples" in the History tab."""
    events = pd.DataFrame(
        {"action_id": ["a"] * 6 + ["b"], "created_at": ["2026-01-01"] * 6 + ["2026-01-02"],
         "user": ["ann"] * 7, "source": ["import"] * 6 + ["queue"],
         "label": ["foci", "no_foci", "foci", None, "no_foci", "foci", "foci"],
         "key": ["k1", "k2", "k3", "k4", "k5", "k6", "k1"]}
    )  # fmt: skip
    out = tables.label_actions(events)
    assert out.label.tolist() == ["foci", "(cleared) (1), foci (3), no_foci (2)"]
    assert out.samples.tolist() == [1, 6]
    assert list(out.columns) == ["time", "user", "how", "label", "samples"]


def test_metadata_columns__groups_have_two_to_fifty_values_numeric_ones_threshold() -> None:
    groups, numeric = tables.metadata_columns(_samples())
    assert groups == ["particle_type", "dose_Gy", "hr_post_exposure", "well"]
    assert numeric == ["dose_Gy", "hr_post_exposure"]  # never sample_id


def test_describe_round__balance_threshold_and_similarity_in_words() -> None:
    config = {"balance_by": ["well", "particle_type"],
              "threshold": {"column": "dose_Gy", "operation": "SMALLER", "value": 0.5},
              "similar_to": ["k1", "k2"]}  # fmt: skip
    assert tables.describe_round(config) == [
        "balanced by well x particle_type",
        "dose_Gy < 0.5",
        "similar to 2 samples",
    ]
    assert tables.describe_round({}) == []


def _round(rid: int, keys: list[str], before: str | None, after: str | None) -> Round:
    return Round(id=rid, strategy="random", config={"strategy": "random"}, seed=rid, keys=keys,
                 user="ann", created_at=f"2026-01-0{rid}T10:00:00.123",
                 model_before=before, model_after=after)  # fmt: skip


def _model(mid: str, bal: float | None) -> ModelRecord:
    return ModelRecord(id=mid, kind="logreg", embedding_version="v1", classes=["a", "b"],
                       n_labeled=4, metrics={"balanced_accuracy": bal}, created_at="")  # fmt: skip


def test_rounds_table__newest_first_after_only_once_every_good_sample_is_labeled() -> None:
    rounds = [
        _round(1, ["in:a/1.tif", "in:b/4.tif"], None, "m1"),  # the bad sample does not count
        _round(2, ["in:a/2.tif", "in:b/3.tif"], "m1", "m2"),  # 2.tif is not labeled yet
    ]
    models = [_model("m1", 0.61234), _model("m2", 0.9)]
    out = tables.rounds_table(rounds, models, _samples(), {"in:a/1.tif", "in:b/3.tif"})
    assert out["round"].tolist() == [2, 1]
    assert out.labeled.tolist() == ["1 / 2", "1 / 1"]
    assert out["balanced acc. before"].tolist() == ["0.612", tables.NO_MODEL]
    assert out["balanced acc. after"].tolist() == [tables.STILL_LABELING, "0.612"]
    assert out.created.tolist()[1] == "2026-01-01 10:00:00"


def test_labels_to_reach_table__not_reached_beyond_the_simulated_labels() -> None:
    reach = pd.DataFrame(
        {"mean_curve": [40.0, 200.0], "low": [30.0, 150.0], "high": [60.0, 200.0],
         "beyond": [200.0, 200.0], "per_seed": [41.6, 180.0], "never": [0, 2]},
        index=pd.Index(["diversity", "random"], name="strategy"),
    )  # fmt: skip
    out = tables.labels_to_reach_table(reach)
    assert out.to_dict("records") == [
        {"strategy": "diversity", "labels to 95%": "40", "90% interval": "30 to 60",
         "per seed (mean)": 42, "seeds never reaching": 0},
        {"strategy": "random", "labels to 95%": "not reached",
         "90% interval": "150 to not reached", "per seed (mean)": 180, "seeds never reaching": 2},
    ]  # fmt: skip


def test_simulation_tables__reads_the_result_csvs_or_raises_oserror(tmp_path: Path) -> None:
    (tmp_path / "curve.csv").write_text("strategy,n_labeled,balanced_accuracy\nrandom,10,0.5\n")
    (tmp_path / "reach.csv").write_text("strategy,mean_curve\nrandom,40\n")
    curve, reach = tables.simulation_tables(
        tmp_path, {"curve": "curve.csv", "labels_to_95": "reach.csv"}
    )
    assert len(curve) == 1
    assert reach.index.tolist() == ["random"]
    with pytest.raises(FileNotFoundError):
        tables.simulation_tables(tmp_path, {"curve": "gone.csv", "labels_to_95": "reach.csv"})


def test_per_class_table__one_row_per_class_rounded() -> None:
    out = tables.per_class_table({"a": {"precision": 0.12345}, "b": {"precision": 1.0}})
    assert out.index.tolist() == ["a", "b"]
    assert out.loc["a", "precision"] == 0.123


def test_thumbnail_captions__tags_when_the_rows_carry_them() -> None:
    chosen = tables.browse_table(_samples(), _labels(), None).assign(
        tag_names=["unsure, ask an expert", "", None]
    )
    out = tables.thumbnail_captions(chosen, ["in:a/1.tif", "in:a/2.tif", "in:b/3.tif"])
    assert out["in:a/1.tif"] == "1.tif · track · tags: unsure, ask an expert"
    assert not out["in:a/2.tif"].endswith("tags: ")
    assert "tags" not in out["in:b/3.tif"]


def test_read_labels__events_since_the_last_read_equal_a_full_read(
    tiny_project, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Issue 21: after a label only the events since the last read are read and applied;
    after labels by two users, a relabel, a clear, undo and redo, a removed sample, and
    double labeling switched on (blind) and off, the labels equal ``current_labels``."""
    from bps_app import cache

    keys = tiny_project.samples().key.tolist()
    p = tiny_project
    steps = [
        lambda: None,
        lambda: p.add_labels(keys[:30], "track", user="ann", source="lasso"),
        lambda: p.add_labels(keys[20:40], "debris", user="bob", source="lasso"),
        lambda: p.add_labels(keys[:10], None, user="ann", source="lasso"),
        lambda: p.undo("ann"),
        lambda: p.redo("ann"),
        lambda: p.undo("bob"),
        lambda: p.undo("bob"),  # nothing left of bob's: no event, the labels stay
        lambda: p.add_labels(keys[5:6], "track", user="cy", source="queue"),
        lambda: p.assignments.configure(["ann", "bob"], 0.5, seed=1, blind=True),
        lambda: p.add_labels(keys[40:45], "debris", user="ann", source="queue"),
        lambda: p.assignments.configure(["ann", "bob"], 0.5, seed=1, blind=False),
        lambda: p.add_labels(keys[45:50], "track", user="bob", source="queue"),
    ]
    for step in steps:
        step()
        got = cache.read_labels(p, p.current_labels_token()).frame
        want = p.current_labels()
        pd.testing.assert_frame_equal(got, want, check_dtype=not want.empty)
    assert not got.empty
    read: list[int] = []
    changes = p.label_changes
    monkeypatch.setattr(p, "label_changes", lambda after=0: read.append(after) or changes(after))
    p.add_labels(keys[60:62], "track", user="ann", source="lasso")
    got = cache.read_labels(p, p.current_labels_token()).frame
    assert read == [p.labels_version() - 2]  # only the two new events
    pd.testing.assert_frame_equal(got, p.current_labels())


def test_read_labels__a_noted_write_is_applied_without_reading_the_log_and_equals_a_full_read(
    tiny_project, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Issue 21: the rerun after a page's own label, clear, undo or redo applies what the
    write noted (``cache.note_label_write``) instead of reading the label log; a write by
    anyone else in between (a second session, a second project handle), blind double
    labeling or a stale note falls back to reading the log. Every read equals
    ``current_labels``, sample ids included."""
    from bps_app import cache
    from bps_core.project import Project

    p = tiny_project
    other = Project.open(p.folder)  # a second session, writing on its own connection
    samples = p.samples()
    keys = samples.key.tolist()
    id_of = dict(zip(samples.key, samples.sample_id, strict=True))
    log_reads: list[int] = []
    changes = p.label_changes
    monkeypatch.setattr(p, "label_changes",
                        lambda after=0: log_reads.append(after) or changes(after))  # fmt: skip

    def check(*, read_log: bool) -> None:
        log_reads.clear()
        got = cache.read_labels(p, p.current_labels_token())
        want = p.current_labels()
        pd.testing.assert_frame_equal(got.frame, want, check_dtype=not want.empty)
        assert bool(log_reads) == read_log
        if got.sample_ids is not None:
            assert got.sample_ids.tolist() == [id_of[k] for k in want.key]

    def noted(result) -> None:  # type: ignore[no-untyped-def]
        assert result is not None
        assert result.written is not None
        cache.note_label_write(p, result.written)

    check(read_log=True)  # the first read reads the log
    noted(p.add_labels(keys[:30], "track", user="ann", source="lasso"))
    check(read_log=False)
    noted(p.add_labels(keys[20:40], "debris", user="ann", source="lasso"))  # relabels 10
    check(read_log=False)
    noted(p.add_labels(keys[:10], None, user="ann", source="lasso"))  # a clear
    check(read_log=False)
    noted(p.undo("ann"))
    check(read_log=False)
    noted(p.redo("ann"))
    check(read_log=False)
    noted(p.add_label_events([(keys[50], "track"), (keys[50], "debris"), (keys[51], None)],
                             user="ann", source="queue"))  # fmt: skip
    check(read_log=False)
    # A second session labels between this session's write and its read: the note is stale.
    noted(p.add_labels(keys[60:70], "track", user="ann", source="lasso"))
    other.add_labels(keys[65:75], "debris", user="bob", source="lasso")
    check(read_log=True)
    # ... and between this session's last read and its write: the note does not follow it.
    other.add_labels(keys[80:85], "debris", user="bob", source="lasso")
    noted(p.add_labels(keys[84:90], "track", user="ann", source="lasso"))
    check(read_log=True)
    noted(p.add_labels(keys[90:95], "track", user="ann", source="lasso"))
    check(read_log=False)
    # The same note again after the log moved on is never applied twice.
    other.add_labels(keys[95:97], "track", user="bob", source="lasso")
    check(read_log=True)
    # Blind double labeling: every read is a full one (its hidden disagreements follow every
    # event), noted or not.
    p.assignments.configure(["ann", "bob"], 0.5, seed=1, blind=True)
    noted(p.add_labels(keys[100:105], "debris", user="ann", source="queue"))
    got = cache.read_labels(p, p.current_labels_token())
    pd.testing.assert_frame_equal(got.frame, p.current_labels())
    p.assignments.configure(["ann", "bob"], 0.5, seed=1, blind=False)
    noted(p.add_labels(keys[105:110], "track", user="bob", source="queue"))
    check(read_log=True)  # the setting changed: a full read
    noted(p.add_labels(keys[110:112], "debris", user="ann", source="lasso"))
    check(read_log=False)
    other.close()


def test_label_write__changes_equal_the_logs_changes(tiny_project) -> None:  # type: ignore[no-untyped-def]
    """``LabelWrite.changes`` (what a write read back) is ``label_changes`` of the log right
    after it, less the key: a sample written twice keeps its last event."""
    p = tiny_project
    keys = p.samples().key.tolist()
    p.add_labels(keys[:5], "track", user="ann", source="lasso")
    action = p.add_label_events(
        [(keys[3], "debris"), (keys[7], "track"), (keys[3], None), (keys[8], "debris")],
        user="ann", source="queue",
    )  # fmt: skip
    assert action.written is not None
    want = p.label_changes(action.written.after_event).drop(columns="key")
    pd.testing.assert_frame_equal(action.written.changes(), want)
    assert action.written.last_event == p.labels_version()


def test_shuffled_page__pages_the_order_a_seeded_frame_sample_gives() -> None:
    """The map panel's thumbnails page through the selection in the order
    ``chosen.sample(frac=1.0, random_state=0)`` gave before (issue 21: without shuffling
    every column of a 100k-row selection on each rerun)."""
    keys = [f"in:{i}.tif" for i in range(103)]
    want = pd.DataFrame({"key": keys}).sample(frac=1.0, random_state=0).key.tolist()
    pages = [tables.shuffled_page(keys, page, 24) for page in range(1, 6)]
    assert [k for p in pages for k in p] == want
    assert len(pages[-1]) == 103 - 4 * 24
    assert tables.shuffled_page([], 1, 24) == []


def test_map_table__labels_placed_by_sample_id_equal_those_placed_by_key() -> None:
    """Issue 21: the labels' sample ids place them on the map rows (a binary search) as
    their keys do (a hash lookup of each key's text), map rows in any id order, a map key
    without a sample (no id) and a label of a sample off the map included."""
    frame = pd.DataFrame({"key": ["in:c", "in:a", "in:x", "in:b", "in:d"],
                          "sample_id": [3.0, 1.0, np.nan, 2.0, 4.0],
                          "x": np.arange(5.0)})  # fmt: skip
    labels = pd.DataFrame({"key": ["in:a", "in:b", "in:d", "in:z"],
                           "label": ["track", "debris", "track", "track"]})  # fmt: skip
    ids = np.array([1, 2, 4, 9], dtype=np.int64)
    rounds = pd.DataFrame(columns=["key", "round"])
    want = tables.map_table(frame, labels, None, rounds)
    got = tables.map_table(frame, labels, None, rounds, label_ids=ids)
    pd.testing.assert_frame_equal(got, want)
    assert got.label[1] == "track"
    assert got.label[3] == "debris"
    assert got.label[4] == "track"
    assert pd.isna(got.label[0])  # sample 3 has no label
    assert pd.isna(got.label[2])  # no sample


def test_sample_row__by_a_held_key_index_the_same_row_or_key_error() -> None:
    samples = _samples()
    keys = pd.Index(samples.key)
    row = tables.sample_row(samples, "in:b/3.tif", keys)
    assert row.relpath == "b/3.tif"
    assert row.equals(tables.sample_row(samples, "in:b/3.tif"))
    with pytest.raises(KeyError):
        tables.sample_row(samples, "in:nope.tif", keys)


def test_count_lines__most_frequent_first_then_how_many_more() -> None:
    values = pd.Series(["b", "a", "b", "c_d", "e", "b", "a"])
    assert tables.count_lines(values, "class", most=2) == (
        "**class**  \nb: 3  \na: 2  \n… and 2 more values"
    )
    assert tables.count_lines(values, "class").endswith("c\\_d: 1  \ne: 1")


def test_count_lines__names_missing_values_and_leaves_out_unused_categories() -> None:
    values = pd.Series(pd.Categorical(["b", None, "b", None, None], categories=["a", "b"]))
    assert tables.count_lines(values, "label", missing="unlabeled") == (
        "**label**  \nunlabeled: 3  \nb: 2"
    )
    assert tables.count_lines(values, "label") == "**label**  \nb: 2"


def test_placed_categories__equal_the_values_placed_and_factorize_once_per_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    part = pd.DataFrame({"label": pd.array(["track", None, "debris", "track"], dtype="str")})
    rows = np.array([3, -1, 1, 2, 0, -1], dtype=np.intp)
    calls: list[int] = []
    factorize = pd.factorize
    monkeypatch.setattr(pd, "factorize", lambda *a, **k: calls.append(1) or factorize(*a, **k))
    got = tables.placed_categories(part, "label", rows)
    want = pd.api.extensions.take(part.label.array, rows, allow_fill=True)
    assert list(got.astype(object)) == list(pd.Series(want).astype(object))
    assert list(got.categories) == ["track", "debris"]
    again = tables.placed_categories(part, "label", rows[::-1].copy())
    assert list(again.astype(object)) == list(got.astype(object))[::-1]
    assert len(calls) == 1  # the same table: its codes are reused
    tables.placed_categories(part.copy(), "label", rows)
    assert len(calls) == 2


def test_read_labels__the_lookups_made_before_carry_over_with_the_change_applied(
    tiny_project,
) -> None:  # type: ignore[no-untyped-def]
    """Issue 20: a queue key press changes one label; the next read gives ``label_of`` and
    ``keys`` made from the last read's with the change applied (not rebuilt from every
    label), equal to building them from the frame; a read whose lookups were never made
    leaves them to be made on use."""
    from bps_app import cache

    p = tiny_project
    keys = p.samples().key.tolist()
    p.add_labels(keys[:5], "track", user="ann", source="lasso")
    first = cache.read_labels(p, p.current_labels_token())
    assert len(first.label_of) == 5
    written = p.add_labels(keys[3:7], "debris", user="ann", source="queue")  # relabels 2
    cache.note_label_write(p, written.written)
    got = cache.read_labels(p, p.current_labels_token())
    assert "label_of" in got.__dict__  # carried over, not made from the frame
    want = dict(zip(got.frame.key, got.frame.label, strict=True))
    assert got.label_of == want
    assert got.keys == frozenset(want)
    p.add_labels(keys[:2], None, user="ann", source="queue")  # a clear, read from the log
    cleared = cache.read_labels(p, p.current_labels_token())
    assert cleared.label_of == dict(zip(cleared.frame.key, cleared.frame.label, strict=True))
    assert keys[0] not in cleared.keys
    p.add_labels(keys[9:10], "track", user="ann", source="queue")
    fresh = cache.read_labels(p, p.current_labels_token())
    assert "label_of" in fresh.__dict__  # `cleared` made them (its asserts)
    assert fresh.label_of[keys[9]] == "track"


def test_current_labels__a_new_token_is_read_through_the_callers_project_not_a_new_one(
    tiny_project, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Issue 20: after each queue label the token changes and the labels are read again;
    they are read through the project the page has open (opening another cost about 5 ms
    of each key press), and equal the project's. The first read may open it once for the
    samples frame it keeps."""
    from bps_app import cache
    from bps_core.project import Project

    p = tiny_project
    keys = p.samples().key.tolist()
    opened: list[object] = []
    real_open = Project.open

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(args)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(Project, "open", counted)
    cache.current_labels(p)  # the first read (the samples frame behind it opens it once)
    opened.clear()
    for i in range(3):
        p.add_labels(keys[i : i + 1], "track", user="ann", source="queue")
        got = cache.current_labels(p)
        pd.testing.assert_frame_equal(got.frame, p.current_labels(), check_dtype=False)
    assert opened == []


def test_page_positions__rows_equal_the_page_keys_looked_up_in_the_selection() -> None:
    """Issue 21: the map panel takes its thumbnails' rows of the selection by position; they
    are the rows (and captions, and relpaths) the page's keys looked up by ``isin`` gave, in
    order and in the seeded random order, on every page, the last one short included."""
    n = range(103)
    chosen = pd.DataFrame({"key": [f"in:d/{i}.tif" for i in n],
                           "relpath": [f"d/{i}.tif" for i in n],
                           "label": [("track", None, "debris")[i % 3] for i in n],
                           "prediction": [("debris", None)[i % 2] for i in n],
                           "tag_names": [("", "odd")[i % 2] for i in n],
                           "dose_Gy": [0.1 * i for i in n]})  # fmt: skip
    keys = chosen.key.tolist()
    for shuffled in (False, True):
        for page in range(1, 6):
            at = tables.page_positions(len(keys), page, 24, shuffled=shuffled)
            shown = [keys[i] for i in at]
            want_keys = (tables.shuffled_page(keys, page, 24) if shuffled
                         else keys[(page - 1) * 24 : page * 24])  # fmt: skip
            assert shown == want_keys
            rows = chosen.iloc[at]
            old = chosen[chosen.key.isin(shown)]
            assert tables.thumbnail_captions(rows, shown) == tables.thumbnail_captions(old, shown)
            assert rows.set_index("key").relpath.to_dict() == (
                old.set_index("key").relpath.to_dict()
            )
    assert len(tables.page_positions(0, 1, 24, shuffled=False)) == 0
    assert len(tables.page_positions(0, 1, 24, shuffled=True)) == 0


def test_selected_rows__remembered_rows_equal_a_fresh_lookup() -> None:
    """Issue 21: the selection's sorted rows are remembered with its positions; a rerun with
    the same selection (duplicates and a key off the map in it) and a frame with new columns
    (a label) gets the rows a fresh lookup gives, and another selection its own."""
    frame = _big_map_inputs()[0]
    rng = np.random.default_rng(2)
    keys = [*rng.choice(frame.key.to_numpy(dtype=object), 300).tolist(), "in:gone.tif"]
    other = rng.choice(frame.key.to_numpy(dtype=object), 50).tolist()
    positions = tables.KeyPositions.of(frame)
    first = tables.selected_rows(frame, keys, positions)
    relabeled = frame.assign(label="track")
    for _ in range(2):
        pd.testing.assert_frame_equal(tables.selected_rows(relabeled, keys, positions),
                                      tables.selected_rows(relabeled, keys))  # fmt: skip
        pd.testing.assert_frame_equal(tables.selected_rows(frame, other, positions),
                                      tables.selected_rows(frame, other))  # fmt: skip
    pd.testing.assert_frame_equal(tables.selected_rows(frame, keys, positions), first)


def test_selected_rows__base_columns_remembered_per_selection_the_label_taken_anew() -> None:
    """Issue 21: with ``base`` (the cached map frame the map table adds columns to), the
    columns the table shares with it are taken once per selection and reused by later reruns
    (a label's rerun takes only the new label column); every result equals the plain
    lookup's, also for another selection and after the label changed."""
    base = _big_map_inputs()[0]
    rng = np.random.default_rng(3)
    keys = [*rng.choice(base.key.to_numpy(dtype=object), 400).tolist(), "in:gone.tif"]
    other = rng.choice(base.key.to_numpy(dtype=object), 60).tolist()
    before = base.assign(label=pd.Categorical(["track"] * len(base)))
    after = base.assign(label=pd.Categorical(["debris"] * len(base)))
    first = tables.selected_rows(before, keys, base=base)
    pd.testing.assert_frame_equal(first, tables.selected_rows(before, keys))
    second = tables.selected_rows(after, keys, base=base)
    pd.testing.assert_frame_equal(second, tables.selected_rows(after, keys))
    assert set(second.label) == {"debris"}
    kept = tables.KeyPositions.of(base).selection_columns(keys, base, ["key"])["key"]
    assert kept is tables.KeyPositions.of(base).selection_columns(keys, base, ["key"])["key"]
    pd.testing.assert_frame_equal(tables.selected_rows(after, other, base=base),
                                  tables.selected_rows(after, other))  # fmt: skip
    pd.testing.assert_frame_equal(tables.selected_rows(after, keys, base=base), second)
    assert tables.selected_rows(after, [], base=base).empty


def test_map_table__colour_columns_with_tokens_equal_the_key_merges() -> None:
    """Issue 21: a colour column with an unchanged facet token is placed once and reused by
    later map tables (a label rebuilds the facets, not every column); a changed token gets
    its new values, and the tables equal the key merges every time."""
    from bps_core.facets import COLUMN_TOKENS

    frame, labels, model, rounds, issues, colours = _big_map_inputs()
    colours.attrs[COLUMN_TOKENS] = {"confidence": ("c", 1), "tags": ("t", 1), "flag": ("f", 1)}
    first = tables.map_table(frame, labels, model, rounds, issues, colours)
    pd.testing.assert_frame_equal(first, _merged_map_table(frame, labels, model, rounds,
                                                           issues, colours))  # fmt: skip
    rebuilt = colours.copy()  # the facets after a label: a new frame, the same index
    rebuilt.index = colours.index
    rebuilt["confidence"] = rebuilt.confidence.map({"0-0.5": "0.5-1", "0.5-1": "0-0.5"})
    rebuilt.attrs[COLUMN_TOKENS] = {"confidence": ("c", 2), "tags": ("t", 1), "flag": ("f", 1)}
    relabeled = labels.assign(label="track")
    got = tables.map_table(frame, relabeled, model, rounds, issues, rebuilt)
    pd.testing.assert_frame_equal(got, _merged_map_table(frame, relabeled, model, rounds,
                                                         issues, rebuilt))  # fmt: skip
    assert (got.confidence != first.confidence).any()  # the new token's values, not the old
    assert "confidence" not in frame.columns
