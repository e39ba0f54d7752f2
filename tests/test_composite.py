"""The nucleus view: channel colours, windows and toggles, the target's outline, and the
fallback where partners are absent (``bps_core.composite``)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from bps_core.composite import (
    ChannelStyle,
    CompositeStyle,
    OutlineStyle,
    compose,
    hex_rgb,
    nucleus_view,
    outline,
)
from bps_core.errors import DatasourceError, SettingsError
from bps_core.images import DisplayWindow
from bps_core.storage import LocalFolderSource

STEM = "P242_73665006707-A6_003_013"
CROP = f"{STEM}_proj.tif"
TARGET = 13
NEIGHBOUR = 7
MANUAL = DisplayWindow(mode="manual", vmin=0, vmax=1000)
ONLY_FITC = CompositeStyle(
    fitc=ChannelStyle(window=MANUAL),
    dapi=ChannelStyle(show=False, color="#0000ff"),
    outline=OutlineStyle(show=False),
)


def _scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 40x60 crop: the target nucleus (label 13) left of centre, a neighbour (label 7) at
    the right edge with a bright focus of its own, FITC 500 in nuclei and 1000 in foci."""
    yy, xx = np.mgrid[:40, :60]
    target = (yy - 20) ** 2 + (xx - 22) ** 2 <= 12**2
    neighbour = (yy - 20) ** 2 + (xx - 62) ** 2 <= 10**2
    mask = np.zeros((40, 60), np.uint16)
    mask[target] = TARGET
    mask[neighbour] = NEIGHBOUR
    fitc = np.full((40, 60), 100, np.uint16)
    fitc[target | neighbour] = 500
    fitc[18:21, 20:23] = 1000  # the target's focus
    fitc[18:21, 55:58] = 1000  # the neighbour's focus
    dapi = np.where(target | neighbour, 2000, 200).astype(np.uint16)
    return fitc, dapi, mask


def _write(folder: Path, **channels: np.ndarray) -> LocalFolderSource:
    for channel, arr in channels.items():
        tifffile.imwrite(folder / f"{STEM}_{channel}.tif", arr)
    return LocalFolderSource(folder)


def _rgb(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


class TestOutline:
    def test_outline__rings_the_region_just_outside_it(self) -> None:
        region = np.zeros((7, 7), bool)
        region[2:5, 2:5] = True
        ring = outline(region, 1)
        assert not (ring & region).any()
        expected = np.zeros((7, 7), bool)
        expected[1:6, 1:6] = True
        assert (ring == (expected & ~region)).all()
        assert outline(region, 2).sum() == 7 * 7 - 9

    def test_compose__outlines_only_the_target_label_never_a_neighbour(self) -> None:
        fitc, _, mask = _scene()
        style = CompositeStyle(fitc=ChannelStyle(show=False), dapi=ChannelStyle(show=False),
                               outline=OutlineStyle(color="#ff00ff", width=1))  # fmt: skip
        out = compose(fitc, mask=mask, target=TARGET, style=style)
        drawn = (out == (255, 0, 255)).all(axis=-1)
        assert (drawn == outline(mask == TARGET, 1)).all()
        assert not drawn[:, 45:].any()  # nothing around the neighbour
        assert not drawn[mask == TARGET].any()  # no nuclear pixel hidden

    def test_compose__the_outline_stays_a_line_when_enlarged(self) -> None:
        fitc, _, mask = _scene()
        style = CompositeStyle(fitc=ChannelStyle(show=False), dapi=ChannelStyle(show=False),
                               outline=OutlineStyle(color="#ffffff", width=2))  # fmt: skip
        out = compose(fitc, mask=mask, target=TARGET, style=style, size=240)
        assert out.shape == (160, 240, 3)  # the longer side is 240, the aspect kept
        drawn = (out == 255).all(axis=-1)
        # a ring 2-3 pixels thick just outside the disc (radius 12.5 crop pixels, 50 shown)
        yy, xx = np.nonzero(drawn)
        r = np.hypot(yy + 0.5 - 20.5 * 4, xx + 0.5 - 22.5 * 4)
        assert r.min() > 45
        assert r.max() < 55
        assert drawn.sum() > 2 * np.pi * 50 * 2


class TestChannels:
    def test_compose__fitc_and_dapi_each_in_its_own_colour(self) -> None:
        fitc, dapi, _ = _scene()
        style = CompositeStyle(
            fitc=ChannelStyle(color="#00ff00", window=MANUAL),
            dapi=ChannelStyle(color="#ff0000", window=DisplayWindow("manual", vmin=0, vmax=2000)),
            outline=OutlineStyle(show=False),
        )
        out = compose(fitc, dapi=dapi, style=style)
        assert out[19, 21].tolist() == [255, 255, 0]  # the focus: full green, nucleus red
        assert out[0, 0].tolist() == [26, 26, 0]  # background: 100/1000 green, 200/2000 red
        assert (out[..., 2] == 0).all()

    def test_compose__toggles_switch_each_layer_off(self) -> None:
        fitc, dapi, mask = _scene()
        full = CompositeStyle()
        none = CompositeStyle(ChannelStyle(show=False), ChannelStyle(show=False),
                              OutlineStyle(show=False))  # fmt: skip
        assert (compose(fitc, dapi=dapi, mask=mask, target=TARGET, style=none) == 0).all()
        only_dapi = CompositeStyle(ChannelStyle(show=False), full.dapi, OutlineStyle(show=False))
        out = compose(fitc, dapi=dapi, mask=mask, target=TARGET, style=only_dapi)
        assert out[..., :2].max() == 0
        assert out[..., 2].max() == 255

    def test_compose__each_channel_has_its_own_window(self) -> None:
        fitc, dapi, _ = _scene()
        dim = ChannelStyle(color="#0000ff", window=DisplayWindow("manual", vmin=0, vmax=4000))
        bright = ChannelStyle(color="#0000ff", window=DisplayWindow("manual", vmin=0, vmax=2000))
        off = OutlineStyle(show=False)
        a = compose(fitc, dapi=dapi, style=CompositeStyle(ONLY_FITC.fitc, dim, off))
        b = compose(fitc, dapi=dapi, style=CompositeStyle(ONLY_FITC.fitc, bright, off))
        assert a[20, 30, 2] == 128
        assert b[20, 30, 2] == 255
        assert (a[..., 1] == b[..., 1]).all()  # FITC untouched by the DAPI window

    def test_compose__a_colour_crop_is_drawn_as_stored(self) -> None:
        rgb = np.zeros((4, 4, 3), np.uint8)
        rgb[..., 0] = 200
        out = compose(rgb, style=CompositeStyle(fitc=ChannelStyle(window=DisplayWindow(
            "manual", vmin=0, vmax=255))))  # fmt: skip
        assert out[..., 0].min() == 200
        assert out[..., 1:].max() == 0

    def test_compose__partners_of_another_shape_are_refused(self) -> None:
        fitc, dapi, _ = _scene()
        with pytest.raises(ValueError, match="DAPI shape"):
            compose(fitc, dapi=dapi[:, :50])


class TestStyle:
    def test_composite_style__round_trips_through_plain_values(self) -> None:
        style = CompositeStyle(
            ChannelStyle(False, "#123456", DisplayWindow("manual", vmin=10, vmax=20, gamma=0.5)),
            ChannelStyle(True, "#abcdef", DisplayWindow(low_pct=2, high_pct=98)),
            OutlineStyle(True, "#ffffff", 3),
        )
        assert CompositeStyle.from_dict(style.to_dict()) == style

    @pytest.mark.parametrize("color", ["green", "#12345", "#gggggg", "00ff00"])
    def test_channel_style__a_colour_not_rrggbb_is_refused(self, color: str) -> None:
        with pytest.raises(SettingsError, match="#rrggbb"):
            ChannelStyle(color=color)

    def test_styles__bad_windows_widths_and_documents_are_refused(self) -> None:
        with pytest.raises(SettingsError, match="window"):
            ChannelStyle(window=DisplayWindow("manual", vmin=5, vmax=5))
        with pytest.raises(SettingsError, match="outline width"):
            OutlineStyle(width=0)
        with pytest.raises(SettingsError, match="malformed"):
            CompositeStyle.from_dict({"fitc": {}})
        assert hex_rgb("#FF8000") == (255, 128, 0)


class TestNucleusView:
    def test_nucleus_view__all_three_layers_from_the_partners(self, tmp_path: Path) -> None:
        fitc, dapi, mask = _scene()
        source = _write(tmp_path, DAPI=dapi, MASK=mask)
        view = nucleus_view(fitc, CROP, source)
        assert view.notes == ()
        assert view.drawn == ("FITC", "DAPI", "MASK outline")
        out = _rgb(view.png)
        assert out.shape == (40, 60, 3)
        assert (out == (255, 0, 255)).all(axis=-1).sum() == outline(mask == TARGET, 2).sum()

    def test_nucleus_view__absent_partners_fall_back_to_fitc_with_a_note_each(
        self, tmp_path: Path
    ) -> None:
        fitc, _, _ = _scene()
        view = nucleus_view(fitc, CROP, LocalFolderSource(tmp_path),
                            style=CompositeStyle(fitc=ONLY_FITC.fitc))  # fmt: skip
        assert view.notes == (
            f"No DAPI: {STEM}_DAPI.tif not found.",
            f"No MASK outline: {STEM}_MASK.tif not found.",
        )
        assert view.drawn == ("FITC",)
        alone = nucleus_view(fitc, CROP, LocalFolderSource(tmp_path), style=ONLY_FITC)
        assert (_rgb(view.png) == _rgb(alone.png)).all()  # exactly the FITC view

    def test_nucleus_view__an_unreadable_or_misfit_partner_is_left_out_with_its_reason(
        self, tmp_path: Path
    ) -> None:
        fitc, _, mask = _scene()
        source = _write(tmp_path, MASK=mask[:, :50])
        (tmp_path / f"{STEM}_DAPI.tif").write_bytes(b"")
        view = nucleus_view(fitc, CROP, source)
        assert view.notes == (
            f"No DAPI: {STEM}_DAPI.tif unreadable: empty file (0 bytes); re-export or remove it.",
            f"No MASK outline: {STEM}_MASK.tif is 40x50 px, the FITC crop 40x60 px.",
        )
        assert view.drawn == ("FITC",)

    def test_nucleus_view__a_mask_without_the_target_label_draws_no_outline(
        self, tmp_path: Path
    ) -> None:
        fitc, dapi, mask = _scene()
        mask[mask == TARGET] = 0  # only the neighbour is labelled: never fall back to mask > 0
        view = nucleus_view(fitc, CROP, _write(tmp_path, DAPI=dapi, MASK=mask))
        assert view.notes == (f"No MASK outline: {STEM}_MASK.tif holds no label {TARGET}.",)
        assert view.drawn == ("FITC", "DAPI")
        assert not (_rgb(view.png) == (255, 0, 255)).all(axis=-1).any()

    def test_nucleus_view__a_name_outside_the_grammar_shows_fitc_alone(
        self, tmp_path: Path
    ) -> None:
        fitc, _, _ = _scene()
        view = nucleus_view(fitc, "cells/img_001.tif", LocalFolderSource(tmp_path))
        assert view.notes == ("No DAPI or MASK: the file name does not follow the BPS grammar.",)
        assert view.drawn == ("FITC",)

    def test_nucleus_view__switched_off_layers_are_not_read(self, tmp_path: Path) -> None:
        class Refuses(LocalFolderSource):
            def exists(self, key: str) -> bool:
                raise AssertionError(f"read {key}")

        fitc, _, _ = _scene()
        view = nucleus_view(fitc, CROP, Refuses(tmp_path), style=ONLY_FITC)
        assert view.notes == ()
        assert view.drawn == ("FITC",)

    def test_nucleus_view__a_passing_datasource_failure_is_flagged(self, tmp_path: Path) -> None:
        class Down(LocalFolderSource):
            def exists(self, key: str) -> bool:
                raise DatasourceError("endpoint unreachable")

        fitc, _, _ = _scene()
        view = nucleus_view(fitc, CROP, Down(tmp_path))
        assert view.passing
        assert view.notes[0] == (
            f"No DAPI: {STEM}_DAPI.tif could not be read now (endpoint unreachable)."
        )
