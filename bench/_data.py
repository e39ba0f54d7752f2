"""Benchmark data: a FITC-only synthetic dataset at (a fraction of) the real scale, cached."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from _common import WORK

from bps_core.verbs import (
    CONFIG_NAME,
    Project,
    create_project_from_folder,
    generate_dataset,
    preset_config,
)


def full_dataset(n_total: int | None = None) -> Path:
    """The ``full`` preset (about 77k images), or its per-cell counts scaled to ``n_total``."""
    cfg = preset_config("full", seed=0)
    if n_total is not None:
        scale = n_total / sum(c for _, c in cfg.cell_counts)
        counts = tuple((k, max(1, round(c * scale))) for k, c in cfg.cell_counts)
        cfg = replace(cfg, cell_counts=counts)
    cfg = replace(cfg, dapi_mask_fraction=0.0, extra_dapi_only=0.0)
    n = sum(cfg.count_for(p.condition) for p in cfg.plates())
    root = WORK / f"full_{n}"
    if not (root / "_synthetic" / "manifest.json").exists():
        print(f"generating {n} synthetic FITC crops in {root} (once) ...", flush=True)
        generate_dataset(root, cfg, workers=os.cpu_count() or 1, overwrite=True)
    return root


def full_project(n_total: int | None = None) -> Project:
    root = full_dataset(n_total)
    folder = root.with_name(root.name + "_project")
    if (folder / CONFIG_NAME).exists():
        return Project.open(folder)
    project, _ = create_project_from_folder(folder, root)
    return project
