"""Writes a synthetic BPS-like dataset in the real bucket's layout (section 8 of bps_dataset.md)."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import tifffile

from bps_core.bps import (
    DAPI_MASK_PREFIX,
    META_COLUMNS,
    TRAIN_PREFIX,
    BpsName,
    Condition,
    Mouse,
    mice_for_branch,
    well_of,
)
from bps_core.synthetic.config import SynthConfig, load_priors
from bps_core.synthetic.render import render_scene
from bps_core.synthetic.scene import FeCalibration, Scene, calibrate_fe, sample_scene

GENERATOR_VERSION = "1"
TRUTH_COLUMNS = (
    "filename", "plate", "acquisition", "well", "field", "object", "mouse", "strain", "sex",
    "particle_type", "dose_Gy", "hr_post_exposure", "height", "width", "nucleus_area_px",
    "nucleus_mean_fitc", "n_foci", "n_subfoci", "n_clusters", "n_traversals", "n_streaks",
    "has_track", "is_outlier", "artifact", "pixel_size_um", "seed",
)  # fmt: skip
FOCI_COLUMNS = ("filename", "focus_id", "cluster_id", "x", "y", "sigma_px", "amplitude", "kind")
_MAX_FIELDS, _MAX_OBJECTS = 40, 80

Progress = Callable[[float], None]


@dataclass(frozen=True)
class PlannedNucleus:
    """One nucleus to generate: its name, condition, source and which files it gets."""

    name: BpsName
    condition: Condition
    mouse: Mouse
    has_fitc: bool
    has_partners: bool


@dataclass(frozen=True)
class SynthResult:
    """What ``generate_dataset`` wrote."""

    root: Path
    n_fitc: int
    n_dapi_only: int
    fe_calibration: dict[str, FeCalibration]

    @property
    def train_dir(self) -> Path:
        """The folder holding the image crops (``<root>/Microscopy/train``)."""
        return self.root / TRAIN_PREFIX

    @property
    def truth_csv(self) -> Path:
        """The ground-truth table written beside the crops (``<root>/_synthetic/truth.csv``)."""
        return self.root / "_synthetic" / "truth.csv"


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from the parts' text: independent of order, process and platform."""
    text = ":".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") >> 1


def _lognormal_factor(seed: int, kind: str, name: str, sigma: float = 0.1) -> float:
    rng = np.random.default_rng(stable_seed(seed, kind, name))
    return math.exp(sigma * float(rng.standard_normal()))


def _objects_in_fields(rng: np.random.Generator, n: int) -> Iterator[tuple[int, int]]:
    """(field, object) pairs for ``n`` nuclei of one well.

    They spread over up to 40 fields, objects increasing within a field with small gaps (as
    left by filtered nuclei).
    """
    per_field = max(1, math.ceil(n / (_MAX_FIELDS - 4)))
    max_gap = max(1, min(3, (_MAX_OBJECTS - 1) // per_field))
    if n > _MAX_FIELDS * _MAX_OBJECTS:
        raise ValueError(
            f"{n} nuclei do not fit one well ({_MAX_FIELDS} fields x {_MAX_OBJECTS} objects); "
            "lower n_per_cell"
        )
    field, obj, in_field = 1, 0, 0
    for _ in range(n):
        gap = int(rng.integers(1, max_gap + 1))
        if in_field >= per_field or obj + gap > _MAX_OBJECTS:
            field, obj, in_field = field + 1, 0, 0
        obj += gap
        in_field += 1
        yield field, obj


def _split_evenly(rng: np.random.Generator, n: int, parts: int) -> np.ndarray:
    counts = np.full(parts, n // parts)
    counts[rng.choice(parts, size=n % parts, replace=False)] += 1
    return counts


def plan_dataset(cfg: SynthConfig) -> list[PlannedNucleus]:
    """Names every nucleus: 17 condition cells, split over the branch's mice (wells)."""
    rng = np.random.default_rng(stable_seed(cfg.seed, "plan"))
    planned: list[PlannedNucleus] = []
    for plate in cfg.plates():
        cond = plate.condition
        mice = mice_for_branch(cond.particle_type)
        n = cfg.count_for(cond)
        per_mouse = _split_evenly(rng, n, len(mice))
        extra = _split_evenly(rng, int(round(n * cfg.extra_dapi_only)), len(mice))
        for i, mouse in enumerate(mice):
            well = well_of(mouse, cond.particle_type)
            acquisition = plate.acquisitions[i % len(plate.acquisitions)]
            n_extra = int(extra[i])
            total = int(per_mouse[i]) + n_extra
            dapi_only = set(rng.choice(total, size=n_extra, replace=False).tolist())
            for j, (field, obj) in enumerate(_objects_in_fields(rng, total)):
                name = BpsName(plate.plate, acquisition, well, field, obj, "proj")
                has_fitc = j not in dapi_only
                partners = (not has_fitc) or bool(rng.random() < cfg.dapi_mask_fraction)
                planned.append(PlannedNucleus(name, cond, mouse, has_fitc, partners))
    return planned


def _format_dose(dose: float, fmt: str) -> str:
    if fmt == "int_if_whole" and float(dose).is_integer():
        return str(int(dose))
    return repr(float(dose))


def fe_calibrations(cfg: SynthConfig) -> dict[Condition, FeCalibration]:
    """Traversal visibility per irradiated Fe cell, so mean foci counts match section 4."""
    priors = load_priors()
    out = {}
    for plate in cfg.plates():
        c = plate.condition
        if c.particle_type == "Fe" and not c.is_sham:
            sham = priors[Condition("Fe", 0.0, c.hr_post_exposure)]
            out[c] = calibrate_fe(c, priors[c].mean_foci, sham.mean_foci, cfg.pixel_size_um)
    return out


@dataclass(frozen=True)
class _Job:
    item: PlannedNucleus
    root: str
    cfg: SynthConfig
    calibration: FeCalibration | None


def _write_tiff(path: Path, array: np.ndarray, compression: str | None) -> None:
    tifffile.imwrite(path, array, photometric="minisblack", compression=compression)


def scene_for(
    item: PlannedNucleus, cfg: SynthConfig, calibration: FeCalibration | None
) -> tuple[int, Scene]:
    """The per-image seed and the scene of one planned nucleus (no pixels)."""
    seed = stable_seed(cfg.seed, item.name.stem)
    scene = sample_scene(
        np.random.default_rng([seed, 0]),
        item.condition,
        load_priors(),
        calibration,
        _lognormal_factor(cfg.seed, "mouse", item.mouse.name),
        _lognormal_factor(cfg.seed, "plate", item.name.plate),
        item.name.object,
        cfg,
    )
    return seed, scene


def _generate_one(job: _Job) -> tuple[list[object] | None, list[list[object]]]:
    item, cfg = job.item, job.cfg
    stem = item.name.stem
    seed, scene = scene_for(item, cfg, job.calibration)
    img = render_scene(scene, seed, cfg.clip_max, dapi=item.has_partners)
    root = Path(job.root)
    if img.dapi is not None:
        _write_tiff(root / DAPI_MASK_PREFIX / f"{stem}_DAPI.tif", img.dapi, cfg.compression)
        _write_tiff(root / DAPI_MASK_PREFIX / f"{stem}_MASK.tif", img.mask, cfg.compression)
    if not item.has_fitc:
        return None, []
    filename = f"{stem}_proj.tif"
    _write_tiff(root / TRAIN_PREFIX / filename, img.fitc, cfg.compression)
    c = item.condition
    truth: list[object] = [
        filename, item.name.plate, item.name.acquisition, item.name.well, item.name.field,
        item.name.object, item.mouse.name, item.mouse.strain, item.mouse.sex, c.particle_type,
        _format_dose(c.dose_Gy, "repr"), c.hr_post_exposure, scene.height, scene.width,
        img.nucleus_area_px, round(img.nucleus_mean_fitc, 2), scene.n_foci, len(scene.foci),
        scene.n_clusters, scene.n_traversals, scene.n_streaks, int(scene.has_track),
        int(scene.is_outlier), scene.artifact, cfg.pixel_size_um, seed,
    ]  # fmt: skip
    foci = [
        [filename, i, f.cluster_id, round(f.x, 2), round(f.y, 2), round(f.sigma, 3),
         round(f.amplitude, 1), f.kind]
        for i, f in enumerate(scene.foci)
    ]  # fmt: skip
    return truth, foci


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_csv(path: Path, header: tuple[str, ...], rows: list[list[object]]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def generate_dataset(
    out_dir: str | os.PathLike[str],
    cfg: SynthConfig,
    *,
    workers: int = 1,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> SynthResult:
    """Generates the dataset described by ``cfg`` under ``out_dir``.

    The same configuration gives byte-identical files: every image draws from a seed derived
    from the global seed and its file stem, so order and worker count do not matter.

    Raises:
        FileExistsError: ``out_dir`` already holds a dataset and ``overwrite`` is False.
        ValueError: ``cfg`` is out of range.
    """
    cfg.validate()
    root = Path(out_dir)
    for sub in ("Microscopy", "_synthetic"):
        if (root / sub).exists():
            if not overwrite:
                raise FileExistsError(
                    f"{root / sub} exists; choose an empty folder or pass overwrite=True"
                )
            shutil.rmtree(root / sub)
    for sub in (TRAIN_PREFIX, DAPI_MASK_PREFIX, "_synthetic"):
        (root / sub).mkdir(parents=True, exist_ok=True)

    planned = plan_dataset(cfg)
    calib = fe_calibrations(cfg)
    jobs = [_Job(p, str(root), cfg, calib.get(p.condition)) for p in planned]
    truth_rows: list[list[object]] = []
    foci_rows: list[list[object]] = []

    def collect(results: Iterator[tuple[list[object] | None, list[list[object]]]]) -> None:
        for i, (truth, foci) in enumerate(results, start=1):
            if truth is not None:
                truth_rows.append(truth)
                foci_rows.extend(foci)
            if progress is not None and (i % 50 == 0 or i == len(jobs)):
                progress(i / len(jobs))

    if workers > 1 and len(jobs) > 200:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            collect(pool.map(_generate_one, jobs, chunksize=64))
    else:
        collect(map(_generate_one, jobs))

    fmt = cfg.dose_format
    meta_rows: list[list[object]] = []
    dapi_rows: list[list[object]] = []
    for p in planned:
        c = p.condition
        values = [_format_dose(c.dose_Gy, fmt), c.particle_type, c.hr_post_exposure]
        if p.has_fitc:
            meta_rows.append([p.name.filename("proj"), *values])
        if p.has_partners:
            dapi_rows.append([p.name.filename("DAPI"), *values])
            dapi_rows.append([p.name.filename("MASK"), *values])
    meta_csv = root / TRAIN_PREFIX / "meta.csv"
    dapi_csv = root / DAPI_MASK_PREFIX / "meta_DAPI_MASK.csv"
    _write_csv(meta_csv, META_COLUMNS, meta_rows)
    _write_csv(dapi_csv, META_COLUMNS, dapi_rows)
    truth_csv = root / "_synthetic" / "truth.csv"
    foci_csv = root / "_synthetic" / "foci.csv"
    _write_csv(truth_csv, TRUTH_COLUMNS, truth_rows)
    _write_csv(foci_csv, FOCI_COLUMNS, foci_rows)

    calib_out = {c.label: v for c, v in calib.items()}
    n_dapi_only = sum(not p.has_fitc for p in planned)
    manifest = {
        "generator": "bps_core.synthetic",
        "generator_version": GENERATOR_VERSION,
        "config": asdict(cfg),
        "counts": {"fitc": len(meta_rows), "dapi_only": n_dapi_only},
        "fe_calibration": {k: asdict(v) for k, v in calib_out.items()},
        "sha256": {
            str(p.relative_to(root)): _sha256(p) for p in (meta_csv, dapi_csv, truth_csv, foci_csv)
        },
    }
    (root / "_synthetic" / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return SynthResult(root, len(meta_rows), n_dapi_only, calib_out)
