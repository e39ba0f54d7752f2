"""Decoding every supported format safely, and display windowing."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from bps_core.errors import ImageDecodeError
from bps_core.images import (
    DecodeLimits,
    DisplayWindow,
    decode_image,
    encode_png,
    thumbnail,
    thumbnail_png,
    to_display,
)
from tests.hostile_corpus import huge_tiff_header, pil_bytes, png_bomb, tiff_bytes

RNG = np.random.default_rng(0)
U16 = RNG.integers(100, 4000, size=(37, 53)).astype(np.uint16)


class TestDecode:
    def test_decode_image__uint16_tiff_keeps_dtype_and_values(self) -> None:
        out = decode_image(tiff_bytes(U16), "a.tif")
        assert out.dtype == np.uint16
        assert np.array_equal(out, U16)

    def test_decode_image__big_endian_tiff_to_native_uint16(self) -> None:
        out = decode_image(tiff_bytes(U16.astype(">u2"), byteorder=">"), "be.tif")
        assert out.dtype == np.dtype("uint16")
        assert out.dtype.isnative
        assert np.array_equal(out, U16)

    def test_decode_image__float32_tiff_with_nan_and_inf(self) -> None:
        arr = np.array([[np.nan, np.inf], [1.5, -np.inf]], dtype=np.float32)
        out = decode_image(tiff_bytes(arr), "f.tiff")
        assert out.dtype == np.float32
        assert np.isnan(out[0, 0])
        disp = to_display(out)
        assert disp.dtype == np.uint8
        assert disp[0, 0] == 0

    def test_decode_image__compressed_tiffs(self) -> None:
        for comp in ("zlib", "lzw"):
            assert np.array_equal(decode_image(tiff_bytes(U16, compression=comp), "c.tif"), U16)

    def test_decode_image__multipage_first_page_or_max_projection(self) -> None:
        stack = np.stack([U16, U16 + 5, U16 // 2])
        for data in [tiff_bytes(stack, photometric="minisblack")]:
            assert np.array_equal(decode_image(data, "s.tif"), U16)
            assert np.array_equal(decode_image(data, "s.tif", pages="max"), U16 + 5)

    def test_decode_image__planar_rgb_tiff_is_interleaved(self) -> None:
        rgb = RNG.integers(0, 255, size=(8, 9, 3)).astype(np.uint8)
        planar = tiff_bytes(np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate")
        assert np.array_equal(decode_image(planar, "planar.tif"), rgb)

    def test_decode_image__rgb_and_palette_tiff(self) -> None:
        rgb = RNG.integers(0, 255, size=(8, 9, 3)).astype(np.uint8)
        assert np.array_equal(decode_image(tiff_bytes(rgb, photometric="rgb"), "rgb.tif"), rgb)
        idx = RNG.integers(0, 4, size=(8, 9)).astype(np.uint8)
        cmap = np.zeros((3, 256), dtype=np.uint16)
        cmap[0, 1] = 65535  # index 1 is red
        pal = decode_image(tiff_bytes(idx, photometric="palette", colormap=cmap), "p.tif")
        assert pal.shape == (8, 9, 3)
        assert (pal[idx == 1] == [255, 0, 0]).all()

    @pytest.mark.parametrize(
        ("mode", "fmt", "ext", "shape", "dtype"),
        [
            ("L", "PNG", "png", (12, 10), np.uint8),
            ("I;16", "PNG", "png", (12, 10), np.uint16),
            ("RGB", "JPEG", "jpg", (12, 10, 3), np.uint8),
            ("CMYK", "JPEG", "jpeg", (12, 10, 3), np.uint8),
            ("RGB", "BMP", "bmp", (12, 10, 3), np.uint8),
            ("P", "GIF", "gif", (12, 10, 3), np.uint8),
            ("1", "PNG", "png", (12, 10), np.uint8),
        ],
    )
    def test_decode_image__pillow_formats(
        self, mode: str, fmt: str, ext: str, shape: tuple[int, ...], dtype: type
    ) -> None:
        out = decode_image(pil_bytes(Image.new(mode, (10, 12)), fmt), f"x.{ext}")
        assert out.shape == shape
        assert out.dtype == dtype

    def test_decode_image__16bit_png_values(self) -> None:
        out = decode_image(pil_bytes(Image.fromarray(U16), "PNG"), "x.png")
        assert out.dtype == np.uint16
        assert np.array_equal(out, U16)


class TestBadFiles:
    @pytest.mark.parametrize(
        ("data", "name", "match"),
        [
            (b"", "empty.tif", "empty file"),
            (b"hello world, not an image", "text.png", "not a supported image"),
            (RNG.bytes(5000), "noise.tif", "not a supported image"),
            (tiff_bytes(U16)[:300], "truncated.tif", "corrupt or truncated TIFF"),
            (tiff_bytes(U16)[:12], "header_only.tif", "corrupt or truncated TIFF"),
            (pil_bytes(Image.fromarray(U16 // 16).convert("L"), "PNG")[:120], "cut.png",
             "truncated PNG"),
            (pil_bytes(Image.new("L", (4, 4)), "PNG"), "mislabeled.tif",
             "content is PNG but the extension says TIFF"),
            (tiff_bytes(U16, compression="zlib")[:400], "zlib_cut.tif", "corrupt or truncated"),
        ],
    )  # fmt: skip
    def test_decode_image__bad_input_raises_one_typed_error_naming_the_file(
        self, data: bytes, name: str, match: str
    ) -> None:
        with pytest.raises(ImageDecodeError, match=match) as info:
            decode_image(data, name)
        assert info.value.name == name
        assert str(info.value).startswith(name)

    def test_decode_image__tiff_declaring_100000_squared_pixels_is_refused_unallocated(
        self,
    ) -> None:
        import tracemalloc

        tracemalloc.start()
        with pytest.raises(ImageDecodeError, match="100000 x 100000"):
            decode_image(huge_tiff_header(100_000, 100_000), "huge.tif")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 50_000_000

    def test_decode_image__png_decompression_bomb_is_refused(self) -> None:
        with pytest.raises(ImageDecodeError, match="refus"):
            decode_image(png_bomb(60_000, 60_000), "bomb.png")
        # Under Pillow's own bomb limit, our (lower) pixel cap refuses it from the header.
        with pytest.raises(
            ImageDecodeError, match="8000 x 8000 = 64,000,000 pixels, over the limit"
        ):
            decode_image(png_bomb(8000, 8000), "bomb2.png")

    def test_decode_image__file_size_cap(self) -> None:
        with pytest.raises(ImageDecodeError, match="over the limit"):
            decode_image(tiff_bytes(U16), "a.tif", limits=DecodeLimits(max_bytes=100))


class TestDisplay:
    def test_to_display__manual_window_maps_vmin_to_0_and_vmax_to_255(self) -> None:
        img = np.array([[0, 400, 2200, 4000, 60000]], dtype=np.uint16)
        out = to_display(img, DisplayWindow(mode="manual", vmin=400, vmax=4000))
        assert out.tolist() == [[0, 0, 128, 255, 255]]

    def test_to_display__auto_clips_at_percentiles(self) -> None:
        img = np.arange(1000, dtype=np.uint16).reshape(10, 100)
        img[0, 0] = 65000  # one hot pixel must not flatten the rest
        out = to_display(img, DisplayWindow(low_pct=1, high_pct=99))
        assert out.min() == 0
        assert out.max() == 255
        assert 100 < int(out[5, 0]) < 160

    def test_to_display__gamma_below_one_brightens_midtones(self) -> None:
        img = np.array([[0, 50, 100]], dtype=np.uint16)
        base = to_display(img, DisplayWindow(mode="manual", vmin=0, vmax=100))
        bright = to_display(img, DisplayWindow(mode="manual", vmin=0, vmax=100, gamma=0.5))
        assert bright[0, 1] > base[0, 1]
        assert bright[0, 2] == base[0, 2] == 255

    def test_display_window__invalid_values_are_refused(self) -> None:
        with pytest.raises(ValueError, match="vmin"):
            to_display(U16, DisplayWindow(mode="manual", vmin=5, vmax=5))
        with pytest.raises(ValueError, match="gamma"):
            to_display(U16, DisplayWindow(gamma=0))

    @given(arrays(np.uint16, st.tuples(st.integers(1, 40), st.integers(1, 40))))
    def test_to_display__any_uint16_image_gives_uint8_of_same_shape(self, img: np.ndarray) -> None:
        out = to_display(img)
        assert out.dtype == np.uint8
        assert out.shape == img.shape

    def test_thumbnail__longer_side_is_size_and_aspect_is_kept(self) -> None:
        t = thumbnail(np.zeros((100, 50), dtype=np.uint16), size=64)
        assert t.shape == (64, 32)
        png = thumbnail_png(U16, size=32)
        back = np.asarray(Image.open(io.BytesIO(png)))
        assert max(back.shape) == 32
        assert back.dtype == np.uint8


class TestEncodePng:
    def test_encode_png__compress_level_trades_size_not_pixels(self) -> None:
        rng = np.random.default_rng(0)
        img = np.repeat(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), 4, axis=0)
        fast, small = encode_png(img, compress_level=1), encode_png(img, compress_level=9)
        for png in (fast, small):
            assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), img)
        assert len(fast) > len(small)
