"""Each labeler's last plain queue, kept so that a reload resumes it (on both engines)."""

from __future__ import annotations

import pytest

from bps_core.project import Project
from bps_core.project.saved_queues import MAX_SAVED_KEYS, QUEUE_PREFIX, SavedQueue
from bps_core.project.settings import put_setting


def test_saved_queue__round_trip_per_user_replaced_and_cleared(tiny_project: Project) -> None:
    queues = tiny_project.saved_queues
    assert queues.load("ada") is None
    queues.save("ada", ("k1", "k2"), 1, "Selection round 1")
    queues.save("bob", ("k3",), 6, "")
    assert queues.load("ada") == SavedQueue(("k1", "k2"), 1, "Selection round 1")
    queues.save("ada", ("k9",), 6, "the map selection")  # a new queue replaces the old
    assert queues.load("ada") == SavedQueue(("k9",), 6, "the map selection")
    queues.clear("ada")
    assert queues.load("ada") is None
    assert queues.load("bob") == SavedQueue(("k3",), 6, "")  # another labeler's is kept


def test_saved_queue__a_long_queue_keeps_its_first_keys_and_says_so(
    tiny_project: Project,
) -> None:
    keys = tuple(f"k{i}" for i in range(MAX_SAVED_KEYS + 5))
    tiny_project.saved_queues.save("ada", keys, 1, "")
    saved = tiny_project.saved_queues.load("ada")
    assert saved is not None
    assert saved.truncated
    assert saved.keys == keys[:MAX_SAVED_KEYS]


@pytest.mark.parametrize("raw", ["not json", '{"keys": 3}', '{"page_size": 1}', "[]"])
def test_saved_queue__an_unreadable_value_is_no_queue(tiny_project: Project, raw: str) -> None:
    from bps_core.project import db

    db.write(tiny_project._conn, lambda c: put_setting(c, QUEUE_PREFIX + "ada", raw))
    assert tiny_project.saved_queues.load("ada") is None
