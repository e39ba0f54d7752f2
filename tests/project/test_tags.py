"""Tags: several per sample, added and removed as one action, an append-only history."""

from __future__ import annotations

import sqlite3

import pytest

from bps_core.errors import UnknownSampleError
from bps_core.project import Project
from bps_core.project.tags import MAX_TAG, clean_tag


def _keys(project: Project, n: int = 4) -> list[str]:
    return project.samples().key.head(n).tolist()


def test_set__adds_a_tag_to_many_samples_in_one_action(tiny_project: Project) -> None:
    keys = _keys(tiny_project)
    done = tiny_project.tags.add(keys[:3], "unsure", user="ann")
    assert (done.tag, done.present, done.n_changed, done.n_unchanged) == ("unsure", True, 3, 0)
    hist = tiny_project.tags.history()
    assert set(hist.action_id) == {done.action_id}
    assert tiny_project.tags.of(keys) == {
        keys[0]: ["unsure"], keys[1]: ["unsure"], keys[2]: ["unsure"], keys[3]: []
    }  # fmt: skip


def test_set__several_tags_per_sample_and_counts(tiny_project: Project) -> None:
    keys = _keys(tiny_project)
    tiny_project.tags.add(keys[:2], "unsure", user="ann")
    tiny_project.tags.add(keys[1:4], "ask an expert", user="bob")
    assert tiny_project.tags.of([keys[1]]) == {keys[1]: ["ask an expert", "unsure"]}
    assert tiny_project.tags.counts() == {"ask an expert": 3, "unsure": 2}
    cur = tiny_project.tags.current()
    assert list(cur.columns) == ["key", "tag", "user", "created_at"]
    assert len(cur) == 5


def test_set__remove_appends_an_event_and_history_keeps_both(tiny_project: Project) -> None:
    keys = _keys(tiny_project, 2)
    tiny_project.tags.add(keys, "debris?", user="ann")
    done = tiny_project.tags.remove([keys[0]], "debris?", user="bob")
    assert (done.present, done.n_changed) == (False, 1)
    assert tiny_project.tags.of(keys) == {keys[0]: [], keys[1]: ["debris?"]}
    hist = tiny_project.tags.history(keys[0])
    assert hist[["tag", "present", "user"]].values.tolist() == [
        ["debris?", True, "ann"], ["debris?", False, "bob"]
    ]  # fmt: skip
    assert tiny_project.tags.counts() == {"debris?": 1}


def test_set__samples_already_as_asked_get_no_event(tiny_project: Project) -> None:
    keys = _keys(tiny_project, 3)
    tiny_project.tags.add(keys[:1], "unsure", user="ann")
    version = tiny_project.tags.version()
    done = tiny_project.tags.add([*keys, keys[0]], "unsure", user="ann")
    assert (done.n_changed, done.n_unchanged) == (2, 1)
    assert len(tiny_project.tags.history()) == 3
    assert tiny_project.tags.version() > version
    assert tiny_project.tags.remove(keys[2:], "never-there", user="ann").n_changed == 0


def test_set__an_unknown_key_writes_nothing(tiny_project: Project) -> None:
    keys = _keys(tiny_project, 2)
    with pytest.raises(UnknownSampleError):
        tiny_project.tags.add([keys[0], "ds:nope.tif", keys[1]], "unsure", user="ann")
    assert tiny_project.tags.history().empty
    assert tiny_project.tags.version() == 0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "1-48 characters"),
        ("   ", "1-48 characters"),
        ("x" * (MAX_TAG + 1), "1-48 characters"),
        ("bad\x00tag", "U\\+0000"),
        ("new\nline", None),  # whitespace collapses: "new line" is a fine tag
        ("rtl\u202eflip", "U\\+202E"),
        ("zero\u200bwidth", "U\\+200B"),
        ("a,b", "comma"),
    ],
)
def test_clean_tag__refuses_empty_long_and_control_characters(
    raw: str, message: str | None
) -> None:
    if message is None:
        assert clean_tag(raw) == "new line"
        return
    with pytest.raises(ValueError, match=message):
        clean_tag(raw)


def test_set__trims_the_tag_and_a_bad_one_writes_nothing(tiny_project: Project) -> None:
    keys = _keys(tiny_project, 1)
    assert tiny_project.tags.add(keys, "  ask   an expert ", user="ann").tag == "ask an expert"
    assert tiny_project.tags.counts() == {"ask an expert": 1}
    with pytest.raises(ValueError, match="invisible or control"):
        tiny_project.tags.add(keys, "\x1b[31mred", user="ann")
    assert len(tiny_project.tags.history()) == 1


def test_recent__newest_added_tags_first_each_once(tiny_project: Project) -> None:
    keys = _keys(tiny_project, 2)
    for key, tag in ((keys[0], "a"), (keys[0], "b"), (keys[1], "a"), (keys[0], "c")):
        tiny_project.tags.add([key], tag, user="ann")
    tiny_project.tags.add(keys, "z", user="bob")
    assert tiny_project.tags.recent("ann") == ["c", "a", "b"]
    assert tiny_project.tags.recent(limit=2) == ["z", "c"]


def test_tag_events__the_table_is_append_only(tiny_project: Project) -> None:
    tiny_project.tags.add(_keys(tiny_project, 1), "unsure", user="ann")
    for sql in ("UPDATE tag_events SET present = 0", "DELETE FROM tag_events"):
        with pytest.raises(sqlite3.IntegrityError, match="tag_events is append-only"):
            tiny_project._conn.execute(sql)  # the project's own connection: either engine
    assert tiny_project.tags.counts() == {"unsure": 1}


class TestOwnTags:
    """A blind labeler reads their own tags only: as their own events leave them (a tag can
    name a class, so another labeler's must not show)."""

    def test_current_and_of__with_a_user_hold_only_what_their_own_events_leave(
        self, tiny_project: Project
    ) -> None:
        keys = tiny_project.samples().key.head(3).tolist()
        tiny_project.tags.add(keys[:2], "track?", user="bob")
        tiny_project.tags.add([keys[1]], "focus", user="alice")
        tiny_project.tags.add([keys[2]], "dim", user="alice")
        tiny_project.tags.remove([keys[2]], "dim", user="alice")
        assert tiny_project.tags.current(user="alice")[["key", "tag"]].values.tolist() == [
            [keys[1], "focus"]
        ]
        assert tiny_project.tags.of(keys, user="alice") == {keys[0]: [], keys[1]: ["focus"],
                                                            keys[2]: []}  # fmt: skip
        assert tiny_project.tags.of(keys)[keys[1]] == ["focus", "track?"]  # everyone's
        assert set(tiny_project.tags.history(user="alice").tag) == {"focus", "dim"}
        assert tiny_project.tags.history(keys[1], user="bob").tag.tolist() == ["track?"]
        assert len(tiny_project.tags.history(keys[1])) == 2

    def test_set__own_writes_a_tag_where_someone_elses_is_current(
        self, tiny_project: Project
    ) -> None:
        key = tiny_project.samples().key.iloc[0]
        tiny_project.tags.add([key], "track?", user="bob")
        assert tiny_project.tags.add([key], "track?", user="alice").n_changed == 0  # shared
        done = tiny_project.tags.set([key], "track?", present=True, user="alice", own=True)
        assert done.n_changed == 1
        assert tiny_project.tags.of([key], user="alice") == {key: ["track?"]}
        tiny_project.tags.remove([key], "track?", user="bob")  # bob's removal: shared state
        assert tiny_project.tags.of([key], user="alice") == {key: ["track?"]}  # hers stays
        done = tiny_project.tags.set([key], "track?", present=False, user="alice", own=True)
        assert done.n_changed == 1
        assert tiny_project.tags.of([key], user="alice") == {key: []}
