"""Embedding sets in the store: the current one is the user's choice and survives a reopen."""

from __future__ import annotations

import numpy as np
import pytest

from bps_core.embeddings.store import (
    current_version,
    list_embedding_sets,
    load_embedding_set,
    save_embedding_set,
    set_current_version,
)
from bps_core.errors import BpsError
from bps_core.project import Project


def _two_sets(project: Project) -> tuple[str, str]:
    keys = project.samples().key.tolist()
    rng = np.random.default_rng(0)
    a = save_embedding_set(project, "pixels", {"v": 1}, keys, rng.normal(size=(len(keys), 8)))
    b = save_embedding_set(project, "csv", {"v": 2}, keys, rng.normal(size=(len(keys), 4)))
    return a.version, b.version


def test_set_current_version__switches_back_and_forth_and_survives_reopen(
    tiny_project: Project,
) -> None:
    a, b = _two_sets(tiny_project)
    assert current_version(tiny_project) == b  # a new set becomes current
    assert set_current_version(tiny_project, a[:6]) == a  # a unique prefix is enough
    emb = load_embedding_set(tiny_project)
    assert emb is not None
    assert emb.version == a
    assert emb.vectors.shape[1] == 8
    assert [s["version"] for s in list_embedding_sets(tiny_project) if s["current"]] == [a]
    folder = tiny_project.folder  # a second connection reads what the first one wrote
    with Project.open(folder) as again:
        assert current_version(again) == a
        set_current_version(again, b)
    with Project.open(folder) as again:
        assert current_version(again) == b
        assert {s["version"] for s in list_embedding_sets(again)} == {a, b}


def test_set_current_version__unknown_or_empty_is_a_clear_error(tiny_project: Project) -> None:
    a, _ = _two_sets(tiny_project)
    with pytest.raises(BpsError, match="no embedding set 'zzz'.*stored"):
        set_current_version(tiny_project, "zzz")
    with pytest.raises(BpsError, match="no embedding set ''"):
        set_current_version(tiny_project, "")
    assert current_version(tiny_project) != a  # nothing changed
