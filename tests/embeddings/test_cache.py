"""The decode cache: normalisation, padding, reuse, bad files, neighbour masking."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from bps_core.embeddings.cache import (
    CacheSpec,
    build_cache,
    mask_out_neighbours,
    mask_partner_source,
    normalise_square,
)
from bps_core.images import decode_image
from bps_core.project import Project
from bps_core.quality.image_stats import measure
from bps_core.storage import LocalFolderSource


def test_normalise_square__pads_without_stretching_and_spans_uint16() -> None:
    img = np.full((20, 80), 100, dtype=np.uint16)
    img[:, 30:50] = 4000
    out = normalise_square(img, 16)
    assert out.shape == (16, 16)
    assert out.dtype == np.uint16
    # 20x80 padded to 80x80: the content fills the middle quarter of the rows only.
    assert out[:5].max() == 0
    assert out[-5:].max() == 0
    assert out[8, 8] > 60000
    assert out[8, 0] < 5000


def test_normalise_square__rgb_and_nan_images() -> None:
    rgb = np.random.default_rng(0).integers(0, 255, (10, 12, 3)).astype(np.uint8)
    assert normalise_square(rgb, 16).shape == (16, 16)
    f = np.array([[np.nan, 1.0], [2.0, np.inf]], dtype=np.float32)
    assert normalise_square(f, 16).dtype == np.uint16


def _source(project: Project) -> LocalFolderSource:
    return LocalFolderSource(project.config.datasource.path)


def test_build_cache__one_row_per_sample_then_reused(tiny_project: Project) -> None:
    s = tiny_project.samples()
    spec = CacheSpec(size=32)
    cache = build_cache(
        tiny_project.arrays_dir, _source(tiny_project), s.relpath.tolist(), s.key.tolist(), spec
    )
    assert cache.images.shape == (170, 32, 32)
    assert cache.images.dtype == np.uint16
    assert cache.keys == s.key.tolist()
    assert not cache.bad
    npy = tiny_project.arrays_dir / "cache" / "img32.npy"
    mtime = os.stat(npy).st_mtime_ns
    again = build_cache(
        tiny_project.arrays_dir, _source(tiny_project), s.relpath.tolist(), s.key.tolist(), spec
    )
    assert os.stat(npy).st_mtime_ns == mtime  # not rebuilt
    assert np.array_equal(again.images, cache.images)


def test_build_cache__bad_files_are_skipped_and_reported(tiny_project: Project) -> None:
    s = tiny_project.samples()
    bad = Path(tiny_project.config.datasource.path) / s.relpath.iloc[3]
    bad.write_bytes(b"II*\x00" + b"\x00" * 20)
    cache = build_cache(
        tiny_project.arrays_dir,
        _source(tiny_project),
        s.relpath.tolist(),
        s.key.tolist(),
        CacheSpec(32),
    )
    assert len(cache) == 169
    assert s.key.iloc[3] not in cache.keys
    assert "no image pages" in cache.bad[s.key.iloc[3]]


def test_build_cache__measures_each_decoded_image_once(tiny_project: Project) -> None:
    s = tiny_project.samples()
    args = (tiny_project.arrays_dir, _source(tiny_project), s.relpath.tolist(), s.key.tolist())
    cache = build_cache(*args, CacheSpec(32))
    assert set(cache.stats) == set(cache.keys)
    first = s.relpath.iloc[0]
    raw = decode_image((Path(tiny_project.config.datasource.path) / first).read_bytes(), first)
    assert cache.stats[s.key.iloc[0]] == measure(raw)  # the stored file's pixels, not the row's
    assert build_cache(*args, CacheSpec(32)).stats == {}  # reused: nothing decoded again


def test_mask_out_neighbours__replaces_other_labels_with_background() -> None:
    img = np.full((6, 6), 10.0, dtype=np.float32)
    mask = np.zeros((6, 6), dtype=np.uint16)
    mask[1:3, 1:3] = 7  # target
    mask[4:, 4:] = 9  # neighbour
    img[1:3, 1:3] = 500
    img[4:, 4:] = 3000
    out = mask_out_neighbours(img, mask, 7)
    assert out[5, 5] == 10.0
    assert out[1, 1] == 500.0
    with pytest.raises(ValueError, match="shape"):
        mask_out_neighbours(img, mask[:3], 7)


def test_masked_cache__differs_where_neighbours_exist(tiny_project: Project) -> None:
    s = tiny_project.samples()
    partners = mask_partner_source(tiny_project.config.datasource)
    assert partners is not None
    args = (tiny_project.arrays_dir, _source(tiny_project), s.relpath.tolist(), s.key.tolist())
    plain = build_cache(*args, CacheSpec(32))
    masked = build_cache(*args, CacheSpec(32, mask_neighbours=True), partners=partners)
    changed = [
        i for i in range(len(plain)) if not np.array_equal(plain.images[i], masked.images[i])
    ]
    assert 0 < len(changed) < len(plain)  # only crops with neighbours or debris labels change


@pytest.mark.parametrize(
    "damage",
    ["empty meta", "truncated meta", "meta of other rows", "truncated rows", "meta missing"],
)
def test_build_cache__a_damaged_cache_is_rebuilt(tiny_project: Project, damage: str) -> None:
    # What a process killed while writing the cache can leave behind.
    s = tiny_project.samples()
    args = (tiny_project.arrays_dir, _source(tiny_project), s.relpath.tolist(), s.key.tolist())
    good = np.array(build_cache(*args, CacheSpec(32)).images)
    npy = tiny_project.arrays_dir / "cache" / "img32.npy"
    meta = npy.with_suffix(".json")
    if damage == "empty meta":
        meta.write_text("")
    elif damage == "truncated meta":
        meta.write_text(meta.read_text()[:50])
    elif damage == "meta of other rows":
        np.save(npy, good[:10])
    elif damage == "truncated rows":
        npy.write_bytes(npy.read_bytes()[:1000])
    else:
        meta.unlink()
    cache = build_cache(*args, CacheSpec(32))
    assert cache.keys == s.key.tolist()
    assert np.array_equal(cache.images, good)
