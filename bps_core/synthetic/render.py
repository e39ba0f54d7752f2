"""Pixels from a scene: FITC (53BP1), DAPI and instance MASK crops (sections 8.4 and 8.6)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from bps_core.synthetic.scene import Focus, NucleusShape, Scene

_F32 = NDArray[np.float32]


@dataclass(frozen=True)
class RenderedNucleus:
    """The three channels of one nucleus crop, all of shape (height, width)."""

    fitc: NDArray[np.uint16]
    dapi: NDArray[np.uint16]
    mask: NDArray[np.uint16]
    nucleus_area_px: int
    nucleus_mean_fitc: float


def _add_foci(img: _F32, foci: list[Focus] | tuple[Focus, ...]) -> None:
    """Adds a*exp(-r^2/2s^2) + 0.12*a*exp(-r^2/2(3s)^2) per focus, in a local window."""
    h, w = img.shape
    for f in foci:
        reach = int(math.ceil(9.0 * f.sigma))
        y0, y1 = max(int(f.y) - reach, 0), min(int(f.y) + reach + 1, h)
        x0, x1 = max(int(f.x) - reach, 0), min(int(f.x) + reach + 1, w)
        if y0 >= y1 or x0 >= x1:
            continue
        dy = np.arange(y0, y1, dtype=np.float32) - f.y
        dx = np.arange(x0, x1, dtype=np.float32) - f.x
        s2, h2 = 2 * f.sigma**2, 2 * (3 * f.sigma) ** 2
        core = np.outer(np.exp(-(dy**2) / s2), np.exp(-(dx**2) / s2))
        halo = np.outer(np.exp(-(dy**2) / h2), np.exp(-(dx**2) / h2))
        img[y0:y1, x0:x1] += f.amplitude * (core + 0.12 * halo)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> _F32:
    """Unit-variance Gaussian noise smoothed with a Gaussian of width ``sigma``."""
    g: _F32 = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma)
    std = float(g.std())
    return (g / std) if std > 0 else g


def _blur(mask: NDArray[np.bool_], sigma: float) -> _F32:
    out: _F32 = ndimage.gaussian_filter(mask.astype(np.float32), sigma)
    return out


def _camera(
    rng: np.random.Generator,
    signal: _F32,
    offset: float,
    gain: float,
    read_noise: float,
    clip_max: int,
) -> NDArray[np.uint16]:
    """Shot noise Poisson(photo/g)*g on the signal above the camera offset, Gaussian read
    noise, then quantisation and clipping.

    The offset (bias) carries no shot noise. Section 8.4 applies shot noise to the total, but
    that puts the image minimum near 100 ADU, below the section's own 120-250 target; a bias
    without shot noise is also what a real camera does. Where a pixel collects at least 50
    photo-electrons the Poisson draw is replaced by its normal approximation (skewness below
    0.15), merged with the read noise into one draw; dimmer pixels get an exact Poisson draw.
    """
    photo = np.maximum(signal - offset, 0.0)
    z = rng.standard_normal(signal.shape, dtype=np.float32)
    counts = offset + photo + np.sqrt(gain * photo + read_noise**2) * z
    dim = photo < 50.0 * gain
    if dim.any():
        exact = rng.poisson(photo[dim] / gain).astype(np.float32) * gain
        counts[dim] = offset + exact + read_noise * z[dim]
    out: NDArray[np.uint16] = np.clip(np.rint(counts), 0, clip_max).astype(np.uint16)
    return out


def _shape_fields(
    shape: NucleusShape, yy: NDArray[np.float64], xx: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    return shape.polar(yy, xx)


def render_scene(scene: Scene, rng: np.random.Generator, clip_max: int = 4095) -> RenderedNucleus:
    """Renders the FITC, DAPI and MASK crops of ``scene``; ``rng`` only draws pixel noise."""
    h, w = scene.height, scene.width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    rho, bnd = _shape_fields(scene.nucleus, yy, xx)
    inside = rho <= bnd
    soft = _blur(inside, 1.5)
    r_eff = scene.nucleus.r_eff
    cyto = _blur(rho <= bnd + scene.cyto_dilation_px / r_eff, 4.0) * scene.cyto_level

    ramp = (
        (xx - w / 2) * math.cos(scene.gradient_angle)
        + (yy - h / 2) * math.sin(scene.gradient_angle)
    ) / (math.hypot(h, w) / 2)  # in [-1, 1] over the crop
    ramp32 = ramp.astype(np.float32)

    nucleoli = np.ones((h, w), dtype=np.float32)
    for n in scene.nucleoli:
        nucleoli[((yy - n.cy) / n.ry) ** 2 + ((xx - n.cx) / n.rx) ** 2 <= 1.0] = 0.75
    texture = 1.0 + 0.15 * _smooth_noise(rng, (h, w), scene.texture_sigma)
    fitc = scene.b0 + scene.gradient_amp * ramp32 + cyto
    fitc += scene.nuc_level * texture * nucleoli * soft

    dapi_tex = 1.0 + 0.2 * _smooth_noise(rng, (h, w), scene.dapi_texture_sigma)
    depth = np.clip((bnd - rho) * r_eff, 0.0, None)
    rim = 1.0 + 0.25 * np.exp(-(depth**2) / (2 * 3.0**2)).astype(np.float32)
    dapi_nucleoli = np.where(nucleoli < 1.0, 0.6, 1.0).astype(np.float32)
    dapi = scene.dapi_b0 * (1.0 + 0.5 * (scene.gradient_amp / scene.b0) * ramp32)
    dapi += scene.dapi_level * soft * dapi_tex * rim * dapi_nucleoli

    mask = np.zeros((h, w), dtype=np.uint16)
    mask[inside] = scene.object_label
    for nb in scene.neighbours:
        nb_rho, nb_bnd = _shape_fields(nb.shape, yy, xx)
        nb_inside = nb_rho <= nb_bnd
        if not nb_inside.any():
            continue
        nb_soft = _blur(nb_inside, 1.5)
        fitc += nb.intensity_factor * (
            scene.nuc_level * texture * nb_soft + _blur(nb_rho <= nb_bnd + 0.2, 4.0) * 40.0
        )
        dapi += nb.intensity_factor * scene.dapi_level * nb_soft * dapi_tex
        mask[nb_inside & (mask == 0)] = nb.label
        spots = np.zeros((h, w), dtype=np.float32)
        _add_foci(spots, nb.foci)
        fitc += spots

    spots = np.zeros((h, w), dtype=np.float32)
    _add_foci(spots, scene.foci)
    fitc += spots

    if scene.debris is not None:
        cy, cx, radius, period = scene.debris
        r = np.hypot(yy - cy, xx - cx)
        out = np.clip(r - radius, 0.0, None)
        rings = 1500.0 * np.cos(math.pi * out / period) ** 2 * np.exp(-out / (1.5 * period))
        fitc += np.where(r < radius, 8000.0, rings).astype(np.float32)

    fitc_offset = scene.b0 - scene.gradient_amp  # the plane's lowest point
    dapi_offset = scene.dapi_b0 * (1.0 - 0.5 * scene.gradient_amp / scene.b0)
    fitc_u16 = _camera(rng, fitc, fitc_offset, scene.gain, scene.read_noise, clip_max)
    dapi_u16 = _camera(rng, dapi, dapi_offset, scene.gain, scene.read_noise, clip_max)
    target = mask == scene.object_label
    area = int(target.sum())
    mean_fitc = float(fitc_u16[target].mean()) if area else 0.0
    return RenderedNucleus(fitc_u16, dapi_u16, mask, area, mean_fitc)
