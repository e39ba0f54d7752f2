"""Finding and reading a crop's DAPI and MASK partners (``bps_core.partners``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from bps_core.bps import DAPI_MASK_FOLDER, parse_filename
from bps_core.errors import DatasourceError
from bps_core.images import DecodeLimits
from bps_core.partners import (
    partner_keys,
    partner_name,
    read_partner,
    sibling_config,
)
from bps_core.storage import DatasourceConfig, LocalFolderSource
from bps_core.synthetic import SynthResult

STEM = "P242_73665006707-A6_003_013"


def _tiff(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, arr)


def _first_crop(dataset: Path) -> str:
    train = dataset / "Microscopy" / "train"
    return sorted(p.name for p in train.glob("*_proj.tif"))[0]


class TestNames:
    def test_partner_name__swaps_the_channel_and_keeps_the_stems_spelling(self) -> None:
        assert partner_name(f"train/{STEM}_proj.tif", "DAPI") == f"{STEM}_DAPI.tif"
        assert partner_name(f"{STEM}_proj.tif", "MASK") == f"{STEM}_MASK.tif"
        lower = "p242_73665006707-a6_003_013_proj.tif"  # the grammar ignores case
        assert partner_name(lower, "MASK") == "p242_73665006707-a6_003_013_MASK.tif"

    def test_partner_name__none_outside_the_grammar_and_unknown_channels_refused(self) -> None:
        assert partner_name("cells/img_001.png", "DAPI") is None
        with pytest.raises(ValueError, match="DAPI, MASK"):
            partner_name(f"{STEM}_proj.tif", "FITC")

    def test_partner_keys__beside_the_crop_then_beside_a_train_folder(self) -> None:
        assert partner_keys(f"Microscopy/train/{STEM}_proj.tif", "DAPI") == (
            f"Microscopy/train/{STEM}_DAPI.tif",
            f"Microscopy/{DAPI_MASK_FOLDER}/{STEM}_DAPI.tif",
        )
        assert partner_keys(f"{STEM}_proj.tif", "MASK") == (f"{STEM}_MASK.tif",)
        assert partner_keys("img_001.png", "MASK") == ()


class TestSiblingConfig:
    def test_sibling_config__a_local_train_folder_has_dapi_mask_images_beside_it(
        self, tiny_dataset: SynthResult
    ) -> None:
        train = tiny_dataset.root / "Microscopy" / "train"
        sib = sibling_config(DatasourceConfig(path=str(train)))
        assert sib is not None
        assert Path(sib.path) == train.parent / DAPI_MASK_FOLDER
        assert sib.purpose == "input"

    def test_sibling_config__none_for_another_folder_or_a_missing_sibling(
        self, tmp_path: Path
    ) -> None:
        (tmp_path / "train").mkdir()
        assert sibling_config(DatasourceConfig(path=str(tmp_path / "train"))) is None
        assert sibling_config(DatasourceConfig(path=str(tmp_path))) is None

    def test_sibling_config__an_s3_train_prefix_has_a_sibling_prefix(self) -> None:
        cfg = DatasourceConfig.s3("s3://nasa-bps-training-data/Microscopy/train", auth="anonymous")
        sib = sibling_config(cfg)
        assert sib is not None
        assert (sib.bucket, sib.prefix, sib.auth) == (
            "nasa-bps-training-data", f"Microscopy/{DAPI_MASK_FOLDER}/", "anonymous"
        )  # fmt: skip
        top = sibling_config(DatasourceConfig.s3("s3://bkt/train"))
        assert top is not None
        assert top.prefix == f"{DAPI_MASK_FOLDER}/"
        assert sibling_config(DatasourceConfig.s3("s3://bkt/Microscopy")) is None


class TestReadPartner:
    def test_read_partner__finds_both_in_the_sibling_of_the_buckets_layout(
        self, tiny_dataset: SynthResult
    ) -> None:
        micro = tiny_dataset.root / "Microscopy"
        crop = _first_crop(tiny_dataset.root)
        source = LocalFolderSource(micro / "train")
        sibling = LocalFolderSource(micro / DAPI_MASK_FOLDER)
        dapi = read_partner(crop, "DAPI", source, sibling)
        mask = read_partner(crop, "MASK", source, sibling)
        assert dapi.found
        assert mask.found
        assert not dapi.problem
        assert dapi.image is not None
        assert dapi.image.dtype == np.uint16
        assert mask.image is not None
        name = parse_filename(crop)
        assert name is not None
        assert mask.image[mask.image.shape[0] // 2, mask.image.shape[1] // 2] == name.object

    def test_read_partner__a_source_rooted_above_train_holds_them_itself(
        self, tiny_dataset: SynthResult
    ) -> None:
        crop = _first_crop(tiny_dataset.root)
        source = LocalFolderSource(tiny_dataset.root / "Microscopy")
        assert read_partner(f"train/{crop}", "MASK", source).found

    def test_read_partner__a_flat_folder_holds_them_beside_the_crop(self, tmp_path: Path) -> None:
        _tiff(tmp_path / f"{STEM}_DAPI.tif", np.ones((4, 5), np.uint16))
        part = read_partner(f"{STEM}_proj.tif", "DAPI", LocalFolderSource(tmp_path))
        assert part.found
        assert part.image is not None
        assert part.image.shape == (4, 5)

    def test_read_partner__absent_says_not_found(self, tmp_path: Path) -> None:
        part = read_partner(f"{STEM}_proj.tif", "MASK", LocalFolderSource(tmp_path))
        assert (part.image, part.name, part.problem) == (None, f"{STEM}_MASK.tif", "not found")
        assert not part.passing

    def test_read_partner__a_name_outside_the_grammar_says_so(self, tmp_path: Path) -> None:
        part = read_partner("img_001.png", "DAPI", LocalFolderSource(tmp_path))
        assert not part.found
        assert "BPS grammar" in part.problem

    def test_read_partner__a_corrupt_file_is_unreadable_not_an_exception(
        self, tmp_path: Path
    ) -> None:
        (tmp_path / f"{STEM}_DAPI.tif").write_bytes(b"II*\x00garbage")
        part = read_partner(f"{STEM}_proj.tif", "DAPI", LocalFolderSource(tmp_path))
        assert not part.found
        assert part.problem == "unreadable: TIFF holds no image pages"

    def test_read_partner__over_the_decode_limits_is_refused_before_decoding(
        self, tmp_path: Path
    ) -> None:
        _tiff(tmp_path / f"{STEM}_MASK.tif", np.zeros((64, 64), np.uint16))
        part = read_partner(f"{STEM}_proj.tif", "MASK", LocalFolderSource(tmp_path),
                            limits=DecodeLimits(max_pixels=1000))  # fmt: skip
        assert not part.found
        assert "over the limit of 1,000" in part.problem

    def test_read_partner__a_colour_image_is_no_mask(self, tmp_path: Path) -> None:
        _tiff(tmp_path / f"{STEM}_MASK.tif", np.zeros((8, 8, 3), np.uint8))
        part = read_partner(f"{STEM}_proj.tif", "MASK", LocalFolderSource(tmp_path))
        assert not part.found
        assert part.problem.startswith("not a single-channel image")

    def test_read_partner__a_datasource_failure_is_passing(self, tmp_path: Path) -> None:
        class Unreachable(LocalFolderSource):
            def exists(self, key: str) -> bool:
                raise DatasourceError("s3://b/x: endpoint unreachable")

        part = read_partner(f"{STEM}_proj.tif", "DAPI", Unreachable(tmp_path))
        assert not part.found
        assert part.passing
        assert "could not be read now" in part.problem
