"""Pixel statistics measured at decode time."""

from __future__ import annotations

import numpy as np
import pytest

from bps_core.quality.image_stats import measure, pixel_sha


def _crop(seed: int = 0, *, amplitude: float = 400.0, size: int = 64) -> np.ndarray:
    """A 16-bit crop: noisy background near 200 with a bright disc (a nucleus) in the middle."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 4) ** 2
    img = 200 + 10 * rng.standard_normal((size, size)) + amplitude * disc
    return np.clip(img, 0, 65535).astype(np.uint16)


class TestMeasure:
    def test_measure__reports_size_depth_and_range_fractions(self) -> None:
        img = np.zeros((10, 20), dtype=np.uint16)
        img[:, 10:] = 65535
        s = measure(img)
        assert (s.width, s.height, s.bit_depth) == (20, 10, 16)
        assert s.mean == pytest.approx(0.5)
        assert (s.p01, s.p99) == (0.0, 1.0)

    def test_measure__saturated_is_the_plateau_at_the_maximum(self) -> None:
        img = _crop()
        clipped = img.copy()
        clipped[28:36, 28:36] = 4095  # a 12-bit camera's ceiling, far below 65535
        assert measure(img).saturated < 0.001
        assert measure(clipped).saturated == pytest.approx(64 / img.size, rel=0.05)

    def test_measure__flat_image_is_not_saturated(self) -> None:
        assert measure(np.full((8, 8), 300, dtype=np.uint16)).saturated == 0.0

    def test_measure__foreground_is_the_object_and_noise_has_none(self) -> None:
        disc_share = np.pi / 16  # radius size/4
        assert measure(_crop()).foreground == pytest.approx(disc_share, abs=0.02)
        assert measure(_crop(amplitude=0.0)).foreground < 0.01

    def test_measure__blur_lowers_sharpness(self) -> None:
        img = _crop().astype(np.float64)
        blurred = img.copy()
        for _ in range(4):  # a few box blurs
            blurred[1:-1, 1:-1] = (blurred[:-2, 1:-1] + blurred[2:, 1:-1] + blurred[1:-1, :-2]
                                   + blurred[1:-1, 2:] + blurred[1:-1, 1:-1]) / 5  # fmt: skip
        sharp, soft = measure(img.astype(np.uint16)), measure(blurred.astype(np.uint16))
        assert soft.sharpness < 0.5 * sharp.sharpness

    def test_measure__float_and_rgb_images_are_measured(self) -> None:
        rgb = np.random.default_rng(1).random((12, 16, 3))
        s = measure(rgb)
        assert (s.width, s.height, s.bit_depth) == (16, 12, 32)
        assert 0.0 <= s.p01 <= s.mean <= s.p99 <= 1.0


class TestPixelSha:
    def test_pixel_sha__equal_pixels_equal_hash(self) -> None:
        img = _crop()
        assert pixel_sha(img) == pixel_sha(img.copy())

    def test_pixel_sha__differs_by_one_pixel_shape_or_type(self) -> None:
        img = _crop()
        changed = img.copy()
        changed[0, 0] += 1
        shas = {pixel_sha(img), pixel_sha(changed), pixel_sha(img.reshape(32, 128)),
                pixel_sha(img.astype(np.int32))}  # fmt: skip
        assert len(shas) == 4
