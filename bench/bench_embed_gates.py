"""Quality gates for a cheaper embedding at 100k: smaller input or lower precision, same backbone.

The end-to-end budget (bench/bench_e2e.py) is mostly inference. This measures what a cheaper
forward pass would cost in quality, with the checkpoint bench_e2e embeds with, on a random
subset of the 100k synthetic set:

- 10-NN overlap with today's vectors (64 px, ``mixed`` precision): gate >= 0.95 (the fidelity
  gate of bench/bench_embed.py);
- a downstream linear probe (logistic regression, 5 folds grouped by well) on the generator's
  truth: ``has_track`` balanced accuracy and ``particle_type`` accuracy; gate: within 0.01 of
  today's;
- CPU seconds per 1,000 images of inference (one torch thread), and of decoding.

A variant is adopted only when every gate holds. Run:
``.venv/bin/python bench/bench_embed_gates.py [--n 8000]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import WORK, write_results  # noqa: E402
from _data import full_dataset  # noqa: E402
from bench_e2e import prepare_checkpoint  # noqa: E402
from bench_embed import knn_overlap  # noqa: E402

from bps_core.embeddings.cache import CacheSpec, decode_normalised  # noqa: E402
from bps_core.embeddings.inference import inference_model  # noqa: E402
from bps_core.embeddings.train import embed_with_model, load_checkpoint  # noqa: E402
from bps_core.storage import LocalFolderSource  # noqa: E402

VARIANTS = (("64 px, mixed (today)", 64, "mixed"), ("64 px, bf16", 64, "bf16"),
            ("48 px, mixed", 48, "mixed"), ("32 px, mixed", 32, "mixed"))  # fmt: skip


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def probe(x: np.ndarray, y: np.ndarray, groups: np.ndarray, balanced: bool) -> float:
    """Grouped 5-fold accuracy of a logistic regression on standardised vectors."""
    pred = np.empty_like(y)
    for train, test in GroupKFold(n_splits=5).split(x, y, groups):
        scaler = StandardScaler().fit(x[train])
        clf = LogisticRegression(
            max_iter=2000, C=0.1, class_weight="balanced" if balanced else None
        )
        clf.fit(scaler.transform(x[train]), y[train])
        pred[test] = clf.predict(scaler.transform(x[test]))
    score = balanced_accuracy_score if balanced else accuracy_score
    return float(score(y, pred))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=8000, help="images in the evaluation subset")
    args = parser.parse_args()
    root = full_dataset(105_600)
    sha = prepare_checkpoint(root)
    backbone, meta = load_checkpoint(WORK / "checkpoints", sha)
    truth = pd.read_csv(root / "_synthetic" / "truth.csv", keep_default_na=False)
    pick = np.sort(np.random.default_rng(1).choice(len(truth), args.n, replace=False))
    rows = truth.iloc[pick]
    source = LocalFolderSource(root / "Microscopy" / "train")
    torch.set_num_threads(1)
    vectors: dict[str, np.ndarray] = {}
    figures: dict[str, tuple[float, float]] = {}
    decoded: dict[int, tuple[np.ndarray, float]] = {}
    for name, size, precision in VARIANTS:
        if size not in decoded:
            c0 = cpu_seconds()
            imgs = np.stack([decode_normalised(source, None, f, CacheSpec(size))
                             for f in rows.filename])  # fmt: skip
            decoded[size] = (imgs, (cpu_seconds() - c0) / len(rows) * 1000)
        imgs, _ = decoded[size]
        model = inference_model(backbone, precision, image_size=(size, size))
        embed_with_model(model, imgs[:512])  # warm-up
        c0, t0 = cpu_seconds(), time.perf_counter()
        vectors[name] = embed_with_model(model, imgs)
        figures[name] = ((cpu_seconds() - c0) / len(imgs) * 1000,
                         (time.perf_counter() - t0) / len(imgs) * 1000)  # fmt: skip
    groups = rows.well.astype(str).to_numpy()
    today = VARIANTS[0][0]
    out = []
    base: dict[str, float] = {}
    for name, size, _ in VARIANTS:
        x = vectors[name]
        track = probe(x, rows.has_track.astype(str).to_numpy(), groups, balanced=True)
        ptype = probe(x, rows.particle_type.astype(str).to_numpy(), groups, balanced=False)
        if name == today:
            base = {"track": track, "ptype": ptype}
        overlap = 1.0 if name == today else knn_overlap(vectors[today], x)
        ok = overlap >= 0.95 and abs(track - base["track"]) <= 0.01
        ok = ok and abs(ptype - base["ptype"]) <= 0.01
        cpu_ms, wall_ms = figures[name]
        out.append({
            "variant": name, "10-NN overlap vs today": f"{overlap:.3f}",
            "probe has_track (bal. acc.)": f"{track:.3f}",
            "probe particle_type (acc.)": f"{ptype:.3f}",
            "inference CPU s / 1k images": f"{cpu_ms:.2f}",
            "decode CPU s / 1k images": f"{decoded[size][1]:.2f}",
            "gates": "pass" if ok or name == today else "FAIL",
        })  # fmt: skip
    notes = (
        f"{args.n} images drawn with seed 1 from the 100k synthetic set; checkpoint {sha} (the "
        f"one bench_e2e embeds with: ResNet-18 SimCLR, {meta.get('seconds', 0):.0f} s on "
        f"{meta.get('train_images', '?')} crops at 64 px, {meta.get('epochs_done', '?')} epoch(s)"
        "). Inference with one torch thread after a one-batch warm-up, CPU seconds of this "
        "process (the machine's 2 cores were shared with other helpers' work, so CPU time is "
        "the steadier figure). Gates: 10-NN overlap >= 0.95 and both probes within 0.01 of "
        "today's. Linear probe: logistic regression (C=0.1, standardised, class-balanced for "
        "has_track), 5 folds grouped by well."
    )
    write_results("embed_gates", out, notes)


if __name__ == "__main__":
    main()
