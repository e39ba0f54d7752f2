"""The ``image_stats`` store (pixel facts per sample), on SQLite and PostgreSQL."""

from __future__ import annotations

import pandas as pd

from bps_core.project import Project
from bps_core.project.image_stats import STAT_COLUMNS, ImageStats


def _stats(seed: int) -> ImageStats:
    return ImageStats(100 + seed, 90, 16, 0.005, 0.002, 0.01 + seed / 1000, 0.0, 0.5, 0.04,
                      f"sha{seed}")  # fmt: skip


def test_image_stats__put_then_frame_roundtrips_in_sample_order(tiny_project: Project) -> None:
    keys = tiny_project.samples().key.tolist()
    store = tiny_project.image_stats
    assert store.count() == 0
    assert store.frame().empty
    written = store.put({keys[2]: _stats(2), keys[0]: _stats(0)}, computed_at="2026-01-01")
    assert written == 2
    assert store.count() == 2
    frame = store.frame()
    assert frame.key.tolist() == [keys[0], keys[2]]
    assert list(frame.columns) == ["key", *STAT_COLUMNS]
    assert ImageStats(*frame.iloc[1][list(STAT_COLUMNS)]) == _stats(2)


def test_image_stats__put_replaces_and_skips_unknown_keys(tiny_project: Project) -> None:
    key = tiny_project.samples().key.iloc[0]
    store = tiny_project.image_stats
    store.put({key: _stats(1)}, computed_at="2026-01-01")
    assert store.put({key: _stats(5), "input:nope.tif": _stats(6)}, computed_at="x") == 1
    frame = store.frame()
    assert len(frame) == 1
    assert frame.pixel_sha.iloc[0] == "sha5"


def test_image_stats__missing_lists_good_samples_without_stats(tiny_project: Project) -> None:
    samples = tiny_project.samples()
    keys = samples.key.tolist()
    tiny_project.image_stats.put({keys[0]: _stats(0)}, computed_at="x")
    tiny_project.mark_bad(keys[1], "unreadable")
    missing = tiny_project.image_stats.missing()
    assert [k for k, _ in missing] == keys[2:]
    relpath = dict(zip(samples.key, samples.relpath, strict=True))
    assert all(rel == relpath[k] for k, rel in missing)
    assert isinstance(tiny_project.image_stats.frame(), pd.DataFrame)
