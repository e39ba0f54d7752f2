"""Acceptance tests of the synthetic generator (bps_dataset.md section 8.10) and determinism."""

from __future__ import annotations

import csv
import filecmp
import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from bps_core import bps
from bps_core.synthetic import SynthConfig, SynthResult, generate_dataset, plan_dataset
from bps_core.synthetic.generator import TRUTH_COLUMNS, fe_calibrations, scene_for

NAME_RE = bps.FILENAME_RE


def _meta(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / bps.TRAIN_PREFIX / "meta.csv")


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


class TestLayout:
    def test_generate__names_follow_grammar_and_meta_matches_files_exactly(
        self, tiny_dataset: SynthResult
    ) -> None:
        train = tiny_dataset.root / bps.TRAIN_PREFIX
        files = sorted(p.name for p in train.glob("*.tif"))
        assert len(files) == 170
        assert all(NAME_RE.match(f) and f.endswith("_proj.tif") for f in files)
        meta = _meta(tiny_dataset.root)
        assert Counter(meta.filename) == Counter(files)  # every row a file, every file once

    def test_meta_csv__exact_columns_and_the_17_condition_cells(
        self, tiny_dataset: SynthResult
    ) -> None:
        meta = _meta(tiny_dataset.root)
        assert tuple(meta.columns) == bps.META_COLUMNS
        cells = set(zip(meta.particle_type, meta.dose_Gy, meta.hr_post_exposure, strict=True))
        expected = {
            (c.particle_type, c.dose_Gy, c.hr_post_exposure) for c in bps.BENCHMARK_CONDITIONS
        }
        assert cells == expected
        assert len(cells) == 17
        assert ("Fe", 0.3, 48) not in cells  # the missing cell (P252)
        assert not meta[(meta.particle_type == "X-ray") & meta.dose_Gy.isin([0.3, 0.82])].size
        assert not meta[(meta.particle_type == "Fe") & meta.dose_Gy.isin([0.1, 1.0])].size

    def test_names__use_real_plate_acquisition_and_well_codes(
        self, tiny_dataset: SynthResult
    ) -> None:
        meta = _meta(tiny_dataset.root)
        for f, dose, particle, hr in meta.itertuples(index=False):
            name = bps.parse_filename(f)
            assert name is not None
            plate = bps.PLATE_BY_NAME[name.plate]
            assert name.acquisition in plate.acquisitions
            assert plate.condition == bps.Condition(particle, dose, hr)
            assert bps.mouse_for(name.plate, name.well) is not None
            assert 1 <= name.field <= 40
            assert 1 <= name.object <= 80
        keys = [
            (n.plate, n.well, n.field, n.object) for n in map(bps.parse_filename, meta.filename)
        ]
        assert len(set(keys)) == len(keys)

    def test_images__uint16_2d_clipped_with_matching_partners(
        self, tiny_dataset: SynthResult
    ) -> None:
        root = tiny_dataset.root
        sizes = []
        for f in _meta(root).filename:
            fitc = tifffile.imread(root / bps.TRAIN_PREFIX / f)
            assert fitc.dtype == np.uint16
            assert fitc.ndim == 2
            assert fitc.max() <= 4095
            stem = f.removesuffix("_proj.tif")
            dapi = tifffile.imread(root / bps.DAPI_MASK_PREFIX / f"{stem}_DAPI.tif")
            mask = tifffile.imread(root / bps.DAPI_MASK_PREFIX / f"{stem}_MASK.tif")
            assert dapi.shape == mask.shape == fitc.shape
            assert dapi.dtype == np.uint16
            assert mask.dtype == np.uint16
            obj = bps.parse_filename(f).object
            h, w = mask.shape
            assert mask[h // 2, w // 2] == obj
            target = mask == obj
            assert not (target[0].any())
            assert not (target[-1].any())
            assert not (target[:, 0].any())
            assert not (target[:, -1].any())
            sizes.append(h)
        assert len(set(sizes)) > 10  # variable crop sizes

    def test_dapi_mask_meta__two_rows_per_nucleus_and_dapi_only_nuclei(
        self, tiny_dataset: SynthResult
    ) -> None:
        root = tiny_dataset.root
        dm = pd.read_csv(root / bps.DAPI_MASK_PREFIX / "meta_DAPI_MASK.csv")
        assert tuple(dm.columns) == bps.META_COLUMNS
        stems = dm.filename.str.replace(r"_(DAPI|MASK)\.tif$", "", regex=True)
        assert (stems.value_counts() == 2).all()
        fitc_stems = set(_meta(root).filename.str.removesuffix("_proj.tif"))
        dapi_only = set(stems) - fitc_stems
        assert len(dapi_only) == tiny_dataset.n_dapi_only == 17  # 10% extra per cell
        for f in dm.filename:
            assert (root / bps.DAPI_MASK_PREFIX / f).is_file()

    def test_truth__columns_and_ground_truth_fields(self, tiny_dataset: SynthResult) -> None:
        truth = pd.read_csv(tiny_dataset.truth_csv, keep_default_na=False)
        assert tuple(truth.columns) == TRUTH_COLUMNS
        assert set(truth.filename) == set(_meta(tiny_dataset.root).filename)
        assert set(truth.artifact) <= {
            "",
            "debris_blob",
            "bright_neighbour",
            "dim_nucleus",
            "strong_gradient",
        }
        foci = pd.read_csv(tiny_dataset.root / "_synthetic" / "foci.csv")
        assert set(foci.kind) <= {"bg", "xray", "fe_cluster", "fe_streak", "delta"}
        per_file = foci.groupby("filename").size()
        assert (truth.set_index("filename").n_subfoci.loc[per_file.index] == per_file).all()
        manifest = (tiny_dataset.root / "_synthetic" / "manifest.json").read_text()
        assert (
            hashlib.sha256(
                (tiny_dataset.root / bps.TRAIN_PREFIX / "meta.csv").read_bytes()
            ).hexdigest()
            in manifest
        )


class TestDeterminism:
    def test_generate__same_seed_gives_byte_identical_trees(self, tmp_path: Path) -> None:
        cfg = SynthConfig(n_per_cell=2, seed=7)
        a = generate_dataset(tmp_path / "a", cfg)
        b = generate_dataset(tmp_path / "b", cfg, workers=2)
        assert _tree_digest(a.root) == _tree_digest(b.root)

    def test_generate__other_seed_gives_other_images(self, tmp_path: Path) -> None:
        a = generate_dataset(tmp_path / "a", SynthConfig(n_per_cell=1, seed=1))
        b = generate_dataset(tmp_path / "b", SynthConfig(n_per_cell=1, seed=2))
        fa = sorted((a.root / bps.TRAIN_PREFIX).glob("*.tif"))
        fb = sorted((b.root / bps.TRAIN_PREFIX).glob("*.tif"))
        assert not all(filecmp.cmp(x, y, shallow=False) for x, y in zip(fa, fb, strict=False))

    def test_generate__image_does_not_depend_on_dataset_size(self, tmp_path: Path) -> None:
        # Per-image seeds come from (global seed, stem): a nucleus present in both plans is
        # identical however many others are generated around it.
        small = plan_dataset(SynthConfig(n_per_cell=1, seed=5))
        large = plan_dataset(SynthConfig(n_per_cell=3, seed=5))
        common = {p.name.stem for p in small} & {p.name.stem for p in large}
        assert common
        cfg_s, cfg_l = SynthConfig(n_per_cell=1, seed=5), SynthConfig(n_per_cell=3, seed=5)
        cal = fe_calibrations(cfg_s)
        by_stem_s = {p.name.stem: p for p in small}
        by_stem_l = {p.name.stem: p for p in large}
        for stem in sorted(common)[:5]:
            s1 = scene_for(by_stem_s[stem], cfg_s, cal.get(by_stem_s[stem].condition))
            s2 = scene_for(by_stem_l[stem], cfg_l, cal.get(by_stem_l[stem].condition))
            assert s1[0] == s2[0]
            assert s1[1] == s2[1]

    def test_generate__fitc_pixels_do_not_depend_on_rendering_partners(
        self, tmp_path: Path
    ) -> None:
        with_p = generate_dataset(tmp_path / "a", SynthConfig(n_per_cell=1, seed=9))
        without = generate_dataset(
            tmp_path / "b", SynthConfig(n_per_cell=1, seed=9, dapi_mask_fraction=0.0)
        )
        assert not list((without.root / bps.DAPI_MASK_PREFIX).glob("*_proj*"))
        fa = sorted((with_p.root / bps.TRAIN_PREFIX).glob("*.tif"))
        assert [f.name for f in fa] == sorted(
            f.name for f in (without.root / bps.TRAIN_PREFIX).glob("*.tif")
        )
        for f in fa:
            assert filecmp.cmp(f, without.root / bps.TRAIN_PREFIX / f.name, shallow=False)

    def test_generate__refuses_to_overwrite_without_permission(self, tmp_path: Path) -> None:
        generate_dataset(tmp_path, SynthConfig(n_per_cell=1))
        with pytest.raises(FileExistsError, match="overwrite"):
            generate_dataset(tmp_path, SynthConfig(n_per_cell=1))


class TestOptions:
    def test_dose_format_int_if_whole__writes_0_and_1(self, tmp_path: Path) -> None:
        res = generate_dataset(tmp_path, SynthConfig(n_per_cell=1, dose_format="int_if_whole"))
        with (res.root / bps.TRAIN_PREFIX / "meta.csv").open() as fh:
            doses = {row["dose_Gy"] for row in csv.DictReader(fh)}
        assert doses == {"0", "1", "0.1", "0.3", "0.82"}

    def test_zlib_compression__is_readable_and_equal(self, tmp_path: Path) -> None:
        plain = generate_dataset(tmp_path / "p", SynthConfig(n_per_cell=1, seed=3))
        packed = generate_dataset(
            tmp_path / "z", SynthConfig(n_per_cell=1, seed=3, compression="zlib")
        )
        for f in sorted((plain.root / bps.TRAIN_PREFIX).glob("*.tif"))[:5]:
            z = packed.root / bps.TRAIN_PREFIX / f.name
            assert z.stat().st_size < f.stat().st_size
            assert np.array_equal(tifffile.imread(f), tifffile.imread(z))

    def test_include_missing_cell__adds_plate_p252(self, tmp_path: Path) -> None:
        plan = plan_dataset(SynthConfig(n_per_cell=1, include_missing_cell=True))
        assert {p.name.plate for p in plan} >= {"P252"}
        assert len({p.condition for p in plan}) == 18

    def test_partner_fraction__some_fitc_images_lack_partners(self, tmp_path: Path) -> None:
        plan = plan_dataset(SynthConfig(n_per_cell=20, dapi_mask_fraction=0.5, extra_dapi_only=0.0))
        share = np.mean([p.has_partners for p in plan])
        assert 0.35 < share < 0.65
