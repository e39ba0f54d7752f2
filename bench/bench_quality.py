"""Embedding quality on the demo preset: SimCLR (time-bounded) against the pixel baseline.

k-NN (k = 10, cosine) over 5 folds grouped by well, with prior-corrected votes; balanced
accuracy is the figure to compare (``has_track`` is about 2% of the data). The SimCLR row must
beat the pixels row on ``has_track``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import WORK, write_results  # noqa: E402

from bps_core.verbs import (  # noqa: E402
    EmbedConfig,
    compute_embeddings,
    create_project_from_folder,
    generate_dataset,
    preset_config,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-seconds", type=float, default=110.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = WORK / "demo_data"
    if not (data / "_synthetic" / "manifest.json").exists():
        generate_dataset(data, preset_config("demo", seed=0), workers=2, overwrite=True)
    folder = WORK / "demo_quality_project"
    shutil.rmtree(folder, ignore_errors=True)
    project, _ = create_project_from_folder(folder, data)
    rows = []
    with project:
        configs = [
            ("pixels (block-mean 16x16, PCA 64)", EmbedConfig(method="pixels")),
            (
                f"SimCLR ResNet-18, {args.train_seconds:.0f} s from scratch",
                EmbedConfig(epochs=500, max_seconds=args.train_seconds, seed=args.seed),
            ),
        ]
        for name, cfg in configs:
            q = compute_embeddings(project, cfg).quality
            rows.append(
                {
                    "embedding": name,
                    "has_track bal. acc.": f"{q['has_track']['balanced_accuracy']:.3f}",
                    "has_track ROC AUC": f"{q['has_track']['roc_auc']:.3f}",
                    "particle_type bal. acc.": f"{q['particle_type']['balanced_accuracy']:.3f}",
                }
            )
    beats = rows[1]["has_track bal. acc."] > rows[0]["has_track bal. acc."]
    write_results(
        "quality",
        rows,
        "Demo preset (1,020 nuclei), k-NN k=10 cosine, 5 folds grouped by well, prior-corrected "
        f"votes. SimCLR beats pixels on has_track: {'yes' if beats else 'NO'}.",
    )


if __name__ == "__main__":
    main()
