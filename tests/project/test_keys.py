"""Keys to sample ids in one statement (bps_core.project.keys)."""

from __future__ import annotations

import pytest

from bps_core.project import Project
from bps_core.project.ingest import add_samples_without_files
from bps_core.project.keys import sample_ids


def _add(project: Project, relpaths: list[str]) -> list[str]:
    add_samples_without_files(project, relpaths, [{} for _ in relpaths])
    samples = project.samples()
    keys = samples[samples.relpath.isin(relpaths)].key.tolist()
    assert len(keys) == len(relpaths)
    return keys


# SQLite only: PostgreSQL's text cannot hold a NUL (such a key is refused when it is added).
@pytest.mark.sqlite_only
def test_sample_ids__keys_with_a_nul_character_find_their_samples(tiny_project: Project) -> None:
    # json_each's text ends at the first NUL: such keys matched nothing (a hostile file name
    # could then never be labeled), and a key sharing the text before the NUL must not match.
    keys = _add(tiny_project, ["x\x00.tif", "\x00", "a/\x00/b"])
    plain = tiny_project.samples().key.iloc[0]
    found = sample_ids(tiny_project._conn, [*keys, plain, "input:x"])
    assert set(found) == {*keys, plain}
    assert len(set(found.values())) == 4


@pytest.mark.sqlite_only
def test_add_labels__keys_with_a_nul_character_are_labeled(tiny_project: Project) -> None:
    keys = _add(tiny_project, ["x\x00.tif", "../x\x00.tif"])
    tiny_project.add_labels(keys, "track", user="ann", source="api")
    labels = tiny_project.current_labels().set_index("key").label
    assert labels.loc[keys].tolist() == ["track", "track"]
