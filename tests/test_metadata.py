"""Parsing meta.csv and generic CSVs, and joining them to listed files."""

from __future__ import annotations

import pandas as pd
import pytest

from bps_core import bps
from bps_core.errors import MetadataError
from bps_core.metadata import join_metadata, read_metadata_csv

HEADER = "filename,dose_Gy,particle_type,hr_post_exposure\n"
F1 = "P242_73665006707-A6_003_013_proj.tif"
F2 = "P280_73668439105-F5_003_024_proj.tif"
F3 = "P278_73668090728-C7_001_002_proj.tif"


class TestReadMetadataCsv:
    @pytest.mark.parametrize(
        ("dose", "particle", "expected"),
        [("0", "Fe", 0.0), ("0.0", "X-ray", 0.0), ("1", "X-ray", 1.0), ("1.0", "X-ray", 1.0),
         ("0.82", "Fe", 0.82), ("0.3", "Fe", 0.3), ("0.10", "X-ray", 0.1)],
    )  # fmt: skip
    def test_read__doses_in_any_notation_parse_as_floats(
        self, dose: str, particle: str, expected: float
    ) -> None:
        df = read_metadata_csv(f"{HEADER}{F1},{dose},{particle},4\n".encode(), "meta.csv")
        assert df.dose_Gy.iloc[0] == expected
        assert isinstance(df.dose_Gy.iloc[0], float)
        assert df.hr_post_exposure.iloc[0] == 4

    @pytest.mark.parametrize(
        ("row", "match"),
        [
            (f"{F1},0.82,Gamma,4", "row 1 .*'particle_type'.*expected 'Fe' or 'X-ray'"),
            (f"{F1},abc,Fe,4", "row 1 .*'dose_Gy'.*not a number"),
            (f"{F1},1.0,Fe,4", "row 1 .*Fe doses are 0, 0.3, 0.82"),
            (f"{F1},0.82,Fe,12", "row 1 .*'hr_post_exposure'.*4, 24 or 48"),
        ],
    )
    def test_read__invalid_bps_values_name_file_row_and_column(self, row: str, match: str) -> None:
        with pytest.raises(MetadataError, match=f"^meta.csv, {match}"):
            read_metadata_csv(f"{HEADER}{row}\n".encode(), "meta.csv")

    @pytest.mark.parametrize(
        ("data", "match"),
        [
            (b"", "empty"),
            (HEADER.encode(), "no data rows"),
            (b"\xff\xfe\x00bad", "not UTF-8"),
            (f"{HEADER}{F1},0.82,Fe,4\n{F1},0.82,Fe,4\n".encode(), "more than once"),
            (f"{HEADER},0.82,Fe,4\n".encode(), "empty file name"),
        ],
    )
    def test_read__malformed_files_raise_clear_errors(self, data: bytes, match: str) -> None:
        with pytest.raises(MetadataError, match=match):
            read_metadata_csv(data, "m.csv")

    def test_read__generic_csv_first_column_is_filename_others_typed(self) -> None:
        df = read_metadata_csv(b"image,stain,exposure_ms\na.png,dapi,12.5\nb.png,fitc,7\n", "x.csv")
        assert list(df.columns) == ["filename", "stain", "exposure_ms"]
        assert df.exposure_ms.tolist() == [12.5, 7.0]
        assert df.stain.tolist() == ["dapi", "fitc"]


class TestJoin:
    def test_join__reports_files_without_rows_and_rows_without_files(self) -> None:
        meta = read_metadata_csv(f"{HEADER}{F1},0.82,Fe,4\n{F2},1.0,X-ray,4\n".encode(), "m.csv")
        result = join_metadata([F1, F3], meta)
        assert result.files_without_metadata == [F3]
        assert result.rows_without_files == [F2]
        md = result.metadata[F1]
        assert md["dose_Gy"] == 0.82
        assert md["particle_type"] == "Fe"
        assert md["plate"] == "P242"
        assert md["well"] == "A6"
        assert md["object"] == 13
        assert md["mouse"] == "C57BLF1"
        assert result.metadata[F3]["plate"] == "P278"  # name parsed even without a row

    def test_join__matches_by_basename_when_files_sit_in_subfolders(self) -> None:
        meta = read_metadata_csv(f"{HEADER}{F1},0.82,Fe,4\n".encode(), "m.csv")
        result = join_metadata([f"Microscopy/train/{F1}"], meta)
        assert result.metadata[f"Microscopy/train/{F1}"]["particle_type"] == "Fe"
        assert not result.files_without_metadata
        assert not result.rows_without_files

    def test_join__ambiguous_basenames_are_not_guessed(self) -> None:
        meta = pd.DataFrame({"filename": ["x.png"], "stain": ["dapi"]})
        result = join_metadata(["a/x.png", "b/x.png"], meta)
        assert sorted(result.files_without_metadata) == ["a/x.png", "b/x.png"]

    def test_join__without_metadata_nothing_is_reported_missing(self) -> None:
        result = join_metadata(["a.png"], None)
        assert result.metadata == {"a.png": {}}
        assert not result.files_without_metadata


class TestFileNames:
    def test_parse_filename__all_channels_and_paths(self) -> None:
        for ch in ("proj", "DAPI", "MASK"):
            name = bps.parse_filename(f"some/dir/P242_73665006707-A6_003_013_{ch}.tif")
            assert name is not None
            assert name.channel == ch
            assert (name.plate, name.acquisition, name.well, name.field, name.object) == (
                "P242", "73665006707", "A6", 3, 13,
            )  # fmt: skip
            assert name.filename() == f"P242_73665006707-A6_003_013_{ch}.tif"

    @pytest.mark.parametrize(
        "bad",
        [
            "P242_73665006707-A6_003_013.tif",
            "x.tif",
            "P242_1-A6_3_13_proj.tif",
            "P242_73665006707-A6_003_013_proj.png",
        ],
    )
    def test_parse_filename__rejects_other_names(self, bad: str) -> None:
        assert bps.parse_filename(bad) is None

    def test_conditions__17_benchmark_cells_and_branch_mice(self) -> None:
        assert len(bps.BENCHMARK_CONDITIONS) == 17
        assert len(bps.mice_for_branch("Fe")) == 8
        assert len(bps.mice_for_branch("X-ray")) == 8
