"""Removing a label class: deleted when unused, retired when the history names it."""

from __future__ import annotations

import pytest

from bps_core.project import Project
from bps_core.project.reviews import ReviewError, Verdict


def test_remove_class__unused_class_is_deleted_and_frees_its_digit(tiny_project: Project) -> None:
    tiny_project.ensure_class("debris")
    typo = tiny_project.ensure_class("trakc")
    assert "trakc" in [c.name for c in tiny_project.classes()]

    assert tiny_project.remove_class("trakc") == "removed class 'trakc'"

    assert "trakc" not in [c.name for c in tiny_project.classes()]
    assert tiny_project.ensure_class("track").hotkey == typo.hotkey


def test_remove_class__refuses_a_class_samples_carry_and_says_how_many(
    tiny_project: Project,
) -> None:
    keys = tiny_project.keys_with_status("ok")[:2]
    tiny_project.add_labels(keys, "debris", user="ann", source="api")

    with pytest.raises(ValueError, match="current label of 2 samples"):
        tiny_project.remove_class("debris")
    assert "debris" in [c.name for c in tiny_project.classes()]


def test_remove_class__a_class_the_history_names_is_retired_and_still_shown(
    tiny_project: Project,
) -> None:
    key = tiny_project.keys_with_status("ok")[0]
    tiny_project.ensure_class("debris")
    tiny_project.add_labels([key], "trakc", user="ann", source="api")
    tiny_project.add_labels([key], "debris", user="ann", source="api")

    assert tiny_project.remove_class("trakc").startswith("retired class 'trakc'")

    assert [c.name for c in tiny_project.classes()] == ["debris"]
    history = tiny_project.label_events()
    assert "trakc" in set(history.label)
    # used again: back in the list with a digit key
    assert tiny_project.ensure_class("trakc").hotkey is not None
    assert "trakc" in [c.name for c in tiny_project.classes()]


def test_remove_class__unknown_name_is_refused(tiny_project: Project) -> None:
    with pytest.raises(ValueError, match="there is no class 'nope'"):
        tiny_project.remove_class("nope")


def test_ensure_class__a_new_class_never_shifts_existing_digits(tiny_project: Project) -> None:
    before = {c.name: c.hotkey for c in tiny_project.classes()}
    tiny_project.ensure_class("aaa-first-alphabetically")
    after = {c.name: c.hotkey for c in tiny_project.classes()}
    assert {n: after[n] for n in before} == before


def test_review_fix__to_a_retired_class_is_refused_like_a_missing_one(
    tiny_project: Project,
) -> None:
    key = tiny_project.keys_with_status("ok")[0]
    tiny_project.add_labels([key], "trakc", user="ann", source="api")
    tiny_project.add_labels([key], "debris", user="ann", source="api")
    tiny_project.remove_class("trakc")

    with pytest.raises(ReviewError, match="no class 'trakc'"):
        tiny_project.reviews.record([Verdict(key, "fix", label="trakc")], user="rita")
    assert [c.name for c in tiny_project.classes()] == ["debris"]
