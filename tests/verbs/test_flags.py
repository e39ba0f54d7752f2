"""The ``flags`` verb and ``quality_facets``: pixel stats from the decode, duplicates, leaks."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from bps_core import verbs
from bps_core.project import Project, create_project_from_folder
from bps_core.quality.flags import FLAG_NAMES
from tests.helpers import save_random_embeddings

#: A copy of a sample under another well's name: an exact duplicate that leaks across wells.
COPY_NAME = "P242_73665006707-Z9_099_099_proj.tif"


@pytest.fixture
def with_copy(tiny_copy: Path, tmp_path: Path) -> tuple[Project, str]:
    """A project whose datasource holds one image twice (under another well), and its name."""
    train = next(p.parent for p in tiny_copy.rglob("*_proj.tif"))
    original = sorted(train.glob("*_proj.tif"))[0]
    shutil.copy(original, train / COPY_NAME)
    project, _ = create_project_from_folder(tmp_path / "dup-project", tiny_copy)
    yield project, original.name
    project.close()


def test_compute_embeddings__stores_pixel_stats_measured_while_decoding(
    embedded: Project,
) -> None:
    stats = embedded.image_stats.frame()
    assert len(stats) == embedded.n_samples("ok")
    assert embedded.image_stats.missing() == []
    assert stats.width.gt(0).all()
    assert stats.bit_depth.eq(16).all()


def test_flags__finds_the_copy_as_duplicate_near_duplicate_and_leak(
    with_copy: tuple[Project, str],
) -> None:
    project, original = with_copy
    verbs.compute_embeddings(project, verbs.EmbedConfig(method="pixels", image_size=32))
    seen: list[float] = []
    report = verbs.flags(project, verbs.FlagSettings(), seen.append)
    r = report.result
    rel = r.frame.relpath
    dup = set(rel[r.frame.duplicate].str.rsplit("/", n=1).str[-1])
    assert dup == {original, COPY_NAME}
    assert set(rel[r.frame.near_duplicate].str.rsplit("/", n=1).str[-1]) >= dup
    assert r.group_column == "well"
    assert len(r.leaks) == 1
    assert bool(r.leaks.exact.iloc[0])
    assert report.measured == 0
    assert report.missing_stats == 0
    assert seen[-1] == 1.0


def test_flags__measures_samples_embedded_without_stats(
    with_copy: tuple[Project, str], tmp_path: Path
) -> None:
    project, _ = with_copy
    save_random_embeddings(project)  # nothing decoded: no stats yet
    assert project.image_stats.count() == 0
    seen: list[float] = []
    report = verbs.flags(project, verbs.FlagSettings(), seen.append)
    assert report.measured == project.n_samples("ok") == project.image_stats.count()
    assert report.result.counts["duplicate"] == 2
    assert seen == sorted(seen)
    assert seen[-1] == 1.0
    out = tmp_path / "flags.csv"
    assert report.result.write_csv(out) >= 2
    assert COPY_NAME in out.read_text()


def test_flags__no_decode_leaves_pixel_flags_off(with_copy: tuple[Project, str]) -> None:
    project, _ = with_copy
    save_random_embeddings(project)
    report = verbs.flags(project, verbs.FlagSettings(fill_missing=False))
    assert report.measured == 0
    assert report.missing_stats == project.n_samples("ok")
    assert report.result.counts["duplicate"] == 0
    assert report.result.frame.outlier_score.notna().all()


def test_flags__nothing_to_flag_from_is_one_clear_error(tiny_project: Project) -> None:
    with pytest.raises(verbs.BpsError, match="run bps-labeler embed first"):
        verbs.flags(tiny_project, verbs.FlagSettings(fill_missing=False))


def test_flag_settings__roundtrip_through_params() -> None:
    settings = verbs.FlagSettings(verbs.FlagThresholds(dim_ratio=0.4, k=3), group_by="mouse")
    assert verbs.FlagSettings.from_params(settings.to_params()) == settings
    with pytest.raises(verbs.SettingsError, match="thresholds"):
        verbs.FlagSettings.from_params({"thresholds": {"nope": 1}})


def test_quality_facets__flag_columns_indexed_by_key(embedded: Project) -> None:
    facets = verbs.quality_facets(embedded)
    assert facets is not None
    assert list(facets.columns) == ["outlier_score", *FLAG_NAMES, "flags"]
    assert set(facets.index) == set(embedded.samples().key)
    assert facets.outlier_score.dtype == np.float64
    assert all(facets[name].dtype == bool for name in FLAG_NAMES)
    flagged = facets[facets["flags"] != ""]
    assert all(all(flagged.loc[k, n] for n in flagged.loc[k, "flags"].split(","))
               for k in flagged.index)  # fmt: skip


def test_quality_facets__none_without_stats_or_embeddings(tiny_project: Project) -> None:
    assert verbs.quality_facets(tiny_project) is None


def test_sample_facets__filter_by_the_duplicate_flag_and_labeling_keeps_the_flags(
    with_copy: tuple[Project, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flags are registered facets: Explore, Browse and the queue filter by them; a label
    rebuilds the facets but never redoes the neighbour search (seconds at 100k)."""
    from bps_core import facets
    from bps_core.quality import flags as quality_flags

    project, original = with_copy
    verbs.compute_embeddings(project, verbs.EmbedConfig(method="pixels", image_size=32))
    frame = verbs.sample_facets(project)
    assert {"outlier_score", "flags"} <= set(frame.columns)
    assert verbs.facet_columns(frame)["flags"] == "list"  # any-of, like tags
    assert all(isinstance(v, list) for v in frame["flags"])
    keys = verbs.filtered_keys(frame, [verbs.FacetFilter("flags", values=("duplicate",))])
    names = sorted(k.split(":", 1)[1].rsplit("/", 1)[-1] for k in keys)
    assert names == sorted([original, COPY_NAME])
    calls: list[str] = []
    real = quality_flags.facet_columns
    monkeypatch.setattr(quality_flags, "facet_columns", lambda p: calls.append("x") or real(p))
    project.add_labels(keys[:1], "track", user="ann", source="api")
    assert verbs.sample_facets(project).label.notna().sum() == 1
    assert calls == []  # same samples, stats and embeddings: the flags were kept
    assert facets.quality_facet(project) is not None


#: A copy of a sample whose crop window moved by 2 px, under another well's name.
SHIFTED_NAME = "P242_73665006707-Z8_098_098_proj.tif"


def test_flags__a_shifted_copy_is_a_near_duplicate_and_a_leak_found_by_its_descriptor(
    tiny_copy: Path, tmp_path: Path
) -> None:
    from tests.quality.test_shift_descriptor import shifted

    train = next(p.parent for p in tiny_copy.rglob("*_proj.tif"))
    original = sorted(train.glob("*_proj.tif"))[3]
    tifffile.imwrite(train / SHIFTED_NAME, shifted(tifffile.imread(original)))
    project, _ = create_project_from_folder(tmp_path / "shift-project", tiny_copy)
    with project:
        verbs.compute_embeddings(project, verbs.EmbedConfig(method="pixels", image_size=32))
        report = verbs.flags(project, verbs.FlagSettings())
        assert report.described == project.n_samples("ok")
        assert report.missing_descriptors == 0
        r = report.result
        names = r.frame.relpath.str.rsplit("/", n=1).str[-1]
        near = r.frame[r.frame.near_duplicate]
        assert set(names[near.index]) == {original.name, SHIFTED_NAME}
        assert set(near.near_by) <= {"descriptor", "embedding+descriptor"}
        assert len(r.leaks) == 1
        assert "descriptor" in r.leaks.found_by.iloc[0]
        again = verbs.flags(project, verbs.FlagSettings())  # stored: nothing decoded again
        assert again.described == 0
        assert again.result.pairs.equals(r.pairs)
        out = tmp_path / "flags.csv"
        report.result.write_csv(out)
        table = pd.read_csv(out, keep_default_na=False).set_index("filename")
        row = table[table.index.str.endswith(SHIFTED_NAME)].iloc[0]
        assert row.near_partner.endswith(original.name)
        assert "descriptor" in row.near_by


def test_quality_facet__recomputed_once_the_flags_verb_stores_descriptors(
    embedded: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bps_core import facets
    from bps_core.quality import flags as quality_flags

    facets.quality_facet(embedded)
    calls: list[str] = []
    real = quality_flags.facet_columns
    monkeypatch.setattr(quality_flags, "facet_columns", lambda p: calls.append("x") or real(p))
    facets.quality_facet(embedded)
    assert calls == []
    verbs.flags(embedded, verbs.FlagSettings())  # computes and stores the descriptors
    facets.quality_facet(embedded)
    assert calls == ["x"]
