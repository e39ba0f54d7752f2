"""The tag verbs: settings validated up front, one action per call, keys read from files."""

from __future__ import annotations

import pytest

from bps_core import verbs
from bps_core.errors import UnknownSampleError
from bps_core.project import Project


def test_tag_settings__a_bad_tag_or_no_keys_fails_before_any_work() -> None:
    with pytest.raises(verbs.SettingsError, match="tag: a tag must be 1-48"):
        verbs.TagSettings(("k",), "   ")
    with pytest.raises(verbs.SettingsError, match="tag: .*U\\+202E"):
        verbs.TagSettings(("k",), "x\u202ey")
    with pytest.raises(verbs.SettingsError, match="keys: give at least one sample"):
        verbs.TagSettings((), "unsure")


def test_tag_samples__adds_then_removes_and_reports_progress(tiny_project: Project) -> None:
    keys = tuple(tiny_project.samples().key.head(3))
    seen: list[float] = []
    done = verbs.tag_samples(tiny_project, verbs.TagSettings(keys, "unsure"), seen.append,
                             user="ann")  # fmt: skip
    assert (done.n_changed, seen) == (3, [1.0])
    gone = verbs.tag_samples(tiny_project, verbs.TagSettings(keys[:1], "unsure", remove=True),
                             user="bob")  # fmt: skip
    assert (gone.present, gone.n_changed) == (False, 1)
    assert verbs.tags_table(tiny_project).tags.tolist() == ["unsure", "unsure"]


def test_tag_samples__a_blind_labelers_tag_is_written_where_another_users_is_current(
    tiny_project: Project,
) -> None:
    """alice sees only her own tags: her "track?" where bob's is current must be written (a
    tag that never appears would tell her bob's is there); everyone else's compares with all."""
    key = tiny_project.samples().key.iloc[0]
    tiny_project.assignments.configure(["alice", "bob"], 1.0, blind=True)
    verbs.tag_samples(tiny_project, verbs.TagSettings((key,), "track?"), user="bob")
    done = verbs.tag_samples(tiny_project, verbs.TagSettings((key,), "track?"), user="alice")
    assert done.n_changed == 1
    assert tiny_project.tags.of([key], user="alice") == {key: ["track?"]}
    carol = verbs.tag_samples(tiny_project, verbs.TagSettings((key,), "track?"), user="carol")
    assert carol.n_changed == 0


def test_tag_samples__an_unknown_key_writes_nothing(tiny_project: Project) -> None:
    keys = (*tiny_project.samples().key.head(2), "ds:missing.tif")
    with pytest.raises(UnknownSampleError):
        verbs.tag_samples(tiny_project, verbs.TagSettings(keys, "unsure"), user="ann")
    assert tiny_project.tags.version() == 0


def test_read_keys__keys_paths_and_basenames_with_unknowns_kept_apart(
    tiny_project: Project,
) -> None:
    s = tiny_project.samples()
    key, rel = s.key.iloc[0], s.relpath.iloc[1]
    data = f"{key}\n{rel}\n\n{rel}\nnope.tif\n".encode()
    found = verbs.read_keys(tiny_project, data, "k.txt", csv_file=False)
    assert found.keys == [key, s.key.iloc[1]]
    assert found.unknown == ["nope.tif"]
    csv = f"\ufefffilename,x\n{rel},1\n'=cmd,2\n".encode()
    found = verbs.read_keys(tiny_project, csv, "k.csv", csv_file=True)
    assert found.keys == [s.key.iloc[1]]
    assert found.unknown == ["=cmd"]
    with pytest.raises(verbs.MetadataError, match="not UTF-8"):
        verbs.read_keys(tiny_project, b"\xff\xfe\x00", "k.txt", csv_file=False)
