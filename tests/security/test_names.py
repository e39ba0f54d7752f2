"""Issue 15 item 4 (names): bidi-control and zero-width characters are refused in class and
user names, with a short message that names the code point, never a 5,000-character echo."""

from __future__ import annotations

import pytest

from bps_core.project import Project
from bps_core.project.store import clean_name

INVISIBLE = [
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
    "\u200e", "\u200f", "\u061c", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\x00",
    "\x1b",
]  # fmt: skip


@pytest.mark.parametrize("ch", INVISIBLE)
def test_clean_name__bidi_zero_width_and_control_characters_are_refused(ch: str) -> None:
    with pytest.raises(ValueError, match=f"U\\+{ord(ch):04X}.*retype") as err:
        clean_name(f"tr{ch}ack", "class name")
    assert ch not in str(err.value)


def test_clean_name__ordinary_unicode_names_are_kept() -> None:
    assert clean_name("  noyau  é\tß 核 ", "class name") == "noyau é ß 核"
    assert clean_name("ann-marie o'neil", "user name") == "ann-marie o'neil"


def test_clean_name__too_long_message_is_short() -> None:
    with pytest.raises(ValueError, match="1-64 characters, got 5000") as err:
        clean_name("x" * 5000, "class name")
    assert len(str(err.value)) < 120


def test_project__refuses_bidi_class_and_user_names(tiny_project: Project) -> None:
    key = tiny_project.samples().key.iloc[0]
    with pytest.raises(ValueError, match="class name .*U\\+202E"):
        tiny_project.add_labels([key], "\u202etrack", user="ann", source="lasso")
    with pytest.raises(ValueError, match="user name .*U\\+200B"):
        tiny_project.add_labels([key], "track", user="a\u200bnn", source="lasso")
    with pytest.raises(ValueError, match="class name .*U\\+2066"):
        tiny_project.ensure_class("\u2066x")
    assert tiny_project.current_labels().empty
    assert [c.name for c in tiny_project.classes()] == []
