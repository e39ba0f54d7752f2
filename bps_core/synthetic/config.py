"""Configuration, presets and condition priors of the synthetic BPS-like generator."""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from importlib import resources

from bps_core.bps import PLATES, Condition, Plate

PRESET_PER_CELL = {"tiny": 10, "demo": 60}
#: Estimated images per condition cell of the real bucket (bps_dataset.md section 2.6).
FULL_SCALE_COUNTS: dict[tuple[str, float, int], int] = {
    ("Fe", 0.0, 4): 4350, ("Fe", 0.0, 24): 4390, ("Fe", 0.0, 48): 4190,
    ("Fe", 0.3, 4): 4290, ("Fe", 0.3, 24): 4400, ("Fe", 0.3, 48): 4300,
    ("Fe", 0.82, 4): 3730, ("Fe", 0.82, 24): 4250, ("Fe", 0.82, 48): 4300,
    ("X-ray", 0.0, 4): 5100, ("X-ray", 0.0, 24): 4780, ("X-ray", 0.0, 48): 4770,
    ("X-ray", 0.1, 4): 5060, ("X-ray", 0.1, 24): 4700, ("X-ray", 0.1, 48): 4750,
    ("X-ray", 1.0, 4): 4770, ("X-ray", 1.0, 24): 4820, ("X-ray", 1.0, 48): 4530,
}  # fmt: skip
PRESETS = (*PRESET_PER_CELL, "full")

#: Artefact kinds and their share of all images at the default total rate of 6%.
ARTIFACT_SHARES: dict[str, float] = {
    "debris_blob": 2 / 6,
    "bright_neighbour": 2 / 6,
    "dim_nucleus": 1 / 6,
    "strong_gradient": 1 / 6,
}


@dataclass(frozen=True)
class ConditionPrior:
    """Per-condition foci and intensity statistics measured on the real plates (section 4)."""

    condition: Condition
    mean_foci: float
    k_nb: float
    mean_nuc_fitc: float
    mean_fitc_bg: float


@functools.cache
def load_priors() -> dict[Condition, ConditionPrior]:
    """Reads the packaged ``bps_condition_priors.csv`` (one row per condition cell)."""
    text = resources.files("bps_core.data").joinpath("bps_condition_priors.csv").read_text()
    priors: dict[Condition, ConditionPrior] = {}
    for row in csv.DictReader(text.splitlines()):
        cond = Condition(row["particle_type"], float(row["dose_Gy"]), int(row["hr_post_exposure"]))
        priors[cond] = ConditionPrior(
            condition=cond,
            mean_foci=float(row["mean_nfoci_no_outl"]),
            k_nb=float(row["k_nb_no_outl"]),
            mean_nuc_fitc=float(row["mean_nuc_fitc"]),
            mean_fitc_bg=float(row["mean_fitc_bg"]),
        )
    return priors


@dataclass(frozen=True)
class SynthConfig:
    """Parameters of one generated dataset.

    ``n_per_cell`` images are drawn for every condition cell unless ``cell_counts`` gives
    per-cell numbers (the ``full`` preset). See ``shared/bps_dataset.md`` section 8.
    """

    n_per_cell: int = 10
    seed: int = 0
    cell_counts: tuple[tuple[tuple[str, float, int], int], ...] = ()
    include_missing_cell: bool = False
    batch_effects: bool = True
    pixel_size_um: float = 0.16
    dapi_mask_fraction: float = 1.0
    extra_dapi_only: float = 0.1
    outlier_rate: float = 0.16
    artifact_rate: float = 0.06
    neighbour_rate: float = 0.35
    clip_max: int = 4095
    compression: str | None = None
    dose_format: str = "repr"

    def plates(self) -> tuple[Plate, ...]:
        """The plates (condition cells) this dataset covers, in table order."""
        return tuple(p for p in PLATES if p.in_benchmark or self.include_missing_cell)

    def count_for(self, cond: Condition) -> int:
        """How many images to draw for one condition cell.

        With ``cell_counts`` set, a cell it does not list gets ``n_per_cell``.
        """
        counts = dict(self.cell_counts)
        key = (cond.particle_type, cond.dose_Gy, cond.hr_post_exposure)
        return counts.get(key, self.n_per_cell) if counts else self.n_per_cell

    def validate(self) -> None:
        """Raises ValueError naming the first field that is out of range."""
        if self.n_per_cell < 1 and not self.cell_counts:
            raise ValueError("n_per_cell must be at least 1")
        for name in ("dapi_mask_fraction", "extra_dapi_only", "outlier_rate", "artifact_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")
        if self.compression not in (None, "zlib"):
            raise ValueError(f"compression must be None or 'zlib', got {self.compression!r}")
        if self.dose_format not in ("repr", "int_if_whole"):
            raise ValueError(
                f"dose_format must be 'repr' or 'int_if_whole', got {self.dose_format}"
            )
        if not 255 <= self.clip_max <= 65535:
            raise ValueError(f"clip_max must lie in [255, 65535], got {self.clip_max}")


def preset_config(preset: str, seed: int = 0, n_per_cell: int | None = None) -> SynthConfig:
    """The configuration of a named preset (``tiny``, ``demo`` or ``full``)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if n_per_cell is not None:
        return SynthConfig(n_per_cell=n_per_cell, seed=seed)
    if preset == "full":
        return SynthConfig(seed=seed, cell_counts=tuple(sorted(FULL_SCALE_COUNTS.items())))
    return SynthConfig(n_per_cell=PRESET_PER_CELL[preset], seed=seed)
