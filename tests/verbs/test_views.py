"""Verb ``view_nucleus``: a sample drawn with its DAPI and MASK partners, local and on S3."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bps_core import verbs
from bps_core.project import Project, create_project
from bps_core.storage.s3 import clear_clients
from tests.s3_server import REGION, S3Server

OUTLINE = (255, 0, 255)


def _rgb(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_view_nucleus__draws_fitc_dapi_and_the_outline_of_a_tiny_sample(
    tiny_project: Project,
) -> None:
    key = tiny_project.samples().key.iloc[0]
    seen: list[float] = []
    view = verbs.view_nucleus(tiny_project, verbs.ViewSettings(key, size=256), seen.append)
    assert isinstance(view, verbs.NucleusView)
    assert view.notes == ()
    assert view.drawn == ("FITC", "DAPI", "MASK outline")
    out = _rgb(view.png)
    assert max(out.shape[:2]) == 256
    assert (out == OUTLINE).all(axis=-1).sum() > 100
    assert seen == [1.0]


def test_view_nucleus__a_deleted_partner_falls_back_with_a_note(tiny_project: Project) -> None:
    key, rel = tiny_project.samples()[["key", "relpath"]].iloc[0]
    dapi = Path(tiny_project.config.datasource.path).parent / "DAPI_MASK_images"
    (dapi / rel.replace("_proj.tif", "_DAPI.tif")).unlink()
    view = verbs.view_nucleus(tiny_project, verbs.ViewSettings(key))
    assert view.notes == (f"No DAPI: {rel.replace('_proj', '_DAPI')} not found.",)
    assert view.drawn == ("FITC", "MASK outline")


def test_view_nucleus__an_unknown_key_or_bad_settings_are_refused(tiny_project: Project) -> None:
    with pytest.raises(verbs.UnknownSampleError):
        verbs.view_nucleus(tiny_project, verbs.ViewSettings("input:nope_proj.tif"))
    with pytest.raises(verbs.SettingsError, match="size"):
        verbs.ViewSettings("input:x.tif", size=10_000)
    with pytest.raises(verbs.SettingsError, match="key"):
        verbs.ViewSettings(" ")


def test_view_settings__round_trip_through_params() -> None:
    style = verbs.CompositeStyle(dapi=verbs.ChannelStyle(color="#ff0000"),
                                 outline=verbs.OutlineStyle(width=3))  # fmt: skip
    settings = verbs.ViewSettings("input:a_proj.tif", style, size=300)
    assert verbs.ViewSettings.from_params(settings.to_params()) == settings


def test_view_nucleus__over_s3_reads_the_partners_from_the_sibling_prefix(
    s3_server: S3Server, bps_bucket: str, tmp_path: Path
) -> None:
    clear_clients()
    config = verbs.DatasourceConfig.s3(
        f"s3://{bps_bucket}/Microscopy/train", region=REGION, endpoint_url=s3_server.endpoint,
        allow_private_endpoint=True, auth="anonymous",
    )  # fmt: skip
    project, _ = create_project(tmp_path / "p", config)
    try:
        key = project.samples().key.iloc[0]
        view = verbs.view_nucleus(project, verbs.ViewSettings(key, size=128))
    finally:
        project.close()
    assert view.notes == ()
    assert view.drawn == ("FITC", "DAPI", "MASK outline")
