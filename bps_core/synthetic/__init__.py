"""Synthetic BPS-like microscopy data: 53BP1 foci crops with DAPI and masks, plus ground truth.

Entry point: ``generate_dataset(out_dir, preset_config("tiny", seed=1))``.
"""

from bps_core.synthetic.config import PRESETS, SynthConfig, load_priors, preset_config
from bps_core.synthetic.generator import SynthResult, generate_dataset, plan_dataset

__all__ = [
    "PRESETS",
    "SynthConfig",
    "SynthResult",
    "generate_dataset",
    "load_priors",
    "plan_dataset",
    "preset_config",
]
