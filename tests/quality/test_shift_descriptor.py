"""The shift-tolerant descriptor: a crop shifted by 2 px is a near-duplicate, distinct nuclei
are not, and the stored descriptors survive a reload only in their own version."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from numpy.typing import NDArray
from PIL import Image

from bps_core.quality.duplicates import nearest_neighbours
from bps_core.quality.flags import FlagThresholds, compute_flags
from bps_core.quality.shift_descriptor import (
    DESCRIPTOR_DIM,
    Descriptors,
    load_descriptors,
    save_descriptors,
    shift_descriptor,
)
from bps_core.synthetic import SynthResult


def shifted(img: NDArray[np.uint16], by: int = 2) -> NDArray[np.uint16]:
    """The crop window moved by ``by`` px down and right, the uncovered border filled with the
    background level (as bench/bench_duplicates.py plants it)."""
    h, w = img.shape
    out = np.empty_like(img)
    out[: h - by, : w - by] = img[by:, by:]
    out[h - by :, :] = np.median(img[:by])
    out[:, w - by :] = np.median(img[:, :by])
    return out


def jpeg_rewindowed(img: NDArray[np.uint16]) -> NDArray[np.uint16]:
    """Through an 8-bit JPEG (quality 90), then intensities x 1.2 + 30."""
    lo, hi = float(img.min()), float(img.max())
    eight = np.round((img - lo) / max(hi - lo, 1.0) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(eight).save(buf, format="JPEG", quality=90)
    back = np.asarray(Image.open(io.BytesIO(buf.getvalue())), dtype=np.float64)
    return np.clip((back / 255 * (hi - lo) + lo) * 1.2 + 30, 0, 65535).astype(np.uint16)


@pytest.fixture(scope="module")
def crops(tiny_dataset: SynthResult) -> list[NDArray[np.uint16]]:
    """The tiny set's distinct crops (one per nucleus)."""
    paths = sorted(Path(tiny_dataset.root).rglob("*_proj.tif"))
    return [tifffile.imread(p) for p in paths]


def test_shift_descriptor__unit_length_and_flat_image_is_zero() -> None:
    flat = shift_descriptor(np.full((40, 50), 300, dtype=np.uint16))
    assert flat.shape == (DESCRIPTOR_DIM,)
    assert not flat.any()
    img = np.random.default_rng(0).integers(0, 4000, (60, 70)).astype(np.uint16)
    assert np.linalg.norm(shift_descriptor(img)) == pytest.approx(1.0, abs=1e-5)


def test_shift_descriptor__shifted_copy_is_closer_than_any_other_nucleus(
    crops: list[NDArray[np.uint16]],
) -> None:
    x = np.stack([shift_descriptor(c) for c in crops])
    nb = nearest_neighbours(x, k=1)
    nearest_other = float(nb.distances[:, 0].min())
    for img in crops[:20]:
        d = np.linalg.norm(shift_descriptor(shifted(img)) - shift_descriptor(img))
        assert d < 0.5 * nearest_other
        d = np.linalg.norm(shift_descriptor(jpeg_rewindowed(shifted(img))) - shift_descriptor(img))
        assert d < 0.5 * nearest_other


def test_compute_flags__a_shifted_copy_is_a_near_duplicate_by_descriptor_only(
    crops: list[NDArray[np.uint16]],
) -> None:
    n = len(crops)
    keys = [f"k{i}" for i in range(n + 1)]
    samples = pd.DataFrame({"key": keys, "relpath": [f"{k}.tif" for k in keys],
                            "well": [f"W{i}" for i in range(n + 1)]})  # fmt: skip
    stats = pd.DataFrame(columns=["key", *_stat_columns()], dtype=object)
    images = [*crops, shifted(crops[5])]
    desc = Descriptors(keys, np.stack([shift_descriptor(c) for c in images]))
    r = compute_flags(samples, stats, None, None, FlagThresholds(), group_by="well",
                      descriptors=desc)  # fmt: skip
    assert r.frame.index[r.frame.near_duplicate].tolist() == ["k5", f"k{n}"]
    assert r.frame.loc[f"k{n}", "near_partner"] == "k5"
    assert r.frame.loc[f"k{n}", "near_by"] == "descriptor"
    assert len(r.pairs) == 1
    pair = r.pairs.iloc[0]
    assert (pair.key_a, pair.key_b, pair.found_by) == (f"k{n}", "k5", "descriptor")
    assert bool(pair.leak)
    assert r.cutoffs["shift_distance"] > 0
    table = r.table()
    assert table.set_index("filename").loc[f"k{n}.tif", "near_by"] == "descriptor"


def test_compute_flags__pair_found_by_embedding_and_descriptor_says_both(
    crops: list[NDArray[np.uint16]],
) -> None:
    keys = [f"k{i}" for i in range(len(crops) + 1)]
    samples = pd.DataFrame({"key": keys, "relpath": [f"{k}.tif" for k in keys]})
    images = [*crops, shifted(crops[0])]
    desc = Descriptors(keys, np.stack([shift_descriptor(c) for c in images]))
    vectors = np.random.default_rng(0).normal(size=(len(keys), 8))
    vectors[-1] = vectors[0] + 1e-4
    stats = pd.DataFrame(columns=["key", *_stat_columns()], dtype=object)
    r = compute_flags(samples, stats, keys, vectors, FlagThresholds(), descriptors=desc)
    assert r.pairs.found_by.tolist() == ["embedding+descriptor"]
    assert r.frame.loc[keys[-1], "near_by"] == "embedding+descriptor"


def test_save_descriptors__round_trip_and_other_version_reads_empty(tmp_path: Path) -> None:
    d = Descriptors(["a", "b"], np.eye(2, DESCRIPTOR_DIM, dtype=np.float32))
    save_descriptors(tmp_path, d)
    back = load_descriptors(tmp_path)
    assert back.keys == ["a", "b"]
    np.testing.assert_array_equal(back.vectors, d.vectors)
    assert back.subset(["b", "zz"]).keys == ["b"]
    meta = tmp_path / "quality" / "shift_descriptors.json"
    meta.write_text(json.dumps({"version": -1, "keys": ["a", "b"]}))
    assert load_descriptors(tmp_path).keys == []
    assert load_descriptors(tmp_path / "nowhere").keys == []


def _stat_columns() -> list[str]:
    from bps_core.project.image_stats import STAT_COLUMNS

    return list(STAT_COLUMNS)
