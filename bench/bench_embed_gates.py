"""Quality gates for a cheaper embedding at 100k: lower precision, a smaller input, a smaller net.

The end-to-end budget (bench/bench_e2e.py) is mostly the embedding stage. This measures what a
cheaper forward pass costs in quality, on a random subset of the 100k synthetic set, against
today's vectors (the checkpoint bench_e2e embeds with, 64 px input, ``mixed`` precision):

- the same checkpoint at lower precision or a smaller input than it was trained on;
- backbones TRAINED at 32 or 48 px (ResNet-18, and the shallower ResNet-10), by the same
  recipe and time budget as today's (``bench_e2e.prepare_checkpoint``), embedding at that size;
- a control: another 64 px checkpoint of the same recipe (stopped after 119 s instead of 295 s).

Figures and gates:

- 10-NN overlap with today's vectors. A fidelity gate (>= 0.95) for the same checkpoint only:
  there it asks "is this the same embedding, computed more cheaply". A different backbone
  makes different, not worse, neighbourhoods (the control shows how low the overlap of two
  trainings of one recipe is), so for those it is reported, not gated;
- a downstream linear probe (logistic regression, 5 folds grouped by well) on the generator's
  truth: ``has_track`` balanced accuracy and ``particle_type`` accuracy; gate: no more than 0.01
  below today's (a better probe is not a failure);
- same-task neighbour quality, the gate for a different backbone: grouped 10-NN (cosine)
  balanced accuracy of both truth columns (``bps_core.embeddings.quality.knn_quality``, the
  figure every embedding set records), no more than 0.01 below today's. The map, the similar-
  image views and the selection strategies all work on neighbourhoods, so this asks whether
  the neighbours are as useful for the task;
- CPU seconds per 1,000 images of inference (one torch thread), and of decoding.

A variant is adopted only when every gate that applies holds. Run:
``.venv/bin/python bench/bench_embed_gates.py [--n 6000]``.
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
from bps_core.embeddings.quality import knn_quality  # noqa: E402
from bps_core.embeddings.train import embed_with_model, load_checkpoint  # noqa: E402
from bps_core.storage import LocalFolderSource  # noqa: E402

#: The control: the same recipe as today's checkpoint, stopped after 119 s of training.
CONTROL_SHA = "e80eb309a64960b1"
TODAY = (64, "resnet18")
#: (name, checkpoint: (trained size, arch[, training seed]) or a sha, input size, precision)
VARIANTS: tuple[tuple[str, tuple[int, str] | tuple[int, str, int] | str, int, str], ...] = (
    ("64 px, mixed (today)", TODAY, 64, "mixed"),
    ("64 px, bf16", TODAY, 64, "bf16"),
    ("48 px input, 64 px-trained", TODAY, 48, "mixed"),
    ("32 px input, 64 px-trained", TODAY, 32, "mixed"),
    ("control: another 64 px checkpoint", CONTROL_SHA, 64, "mixed"),
    ("48 px, ResNet-18 trained at 48 px", (48, "resnet18"), 48, "mixed"),
    ("32 px, ResNet-18 trained at 32 px", (32, "resnet18"), 32, "mixed"),
    ("32 px, ResNet-10 trained at 32 px", (32, "resnet10"), 32, "mixed"),
    ("32 px, ResNet-10 trained at 32 px, seed 1", (32, "resnet10", 1), 32, "mixed"),
)


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
    parser.add_argument("--n", type=int, default=6000, help="images in the evaluation subset")
    args = parser.parse_args()
    root = full_dataset(105_600)
    shas: dict[tuple[int, str] | tuple[int, str, int] | str, str] = {}
    for _, ckpt, _, _ in VARIANTS:
        if ckpt not in shas:
            shas[ckpt] = ckpt if isinstance(ckpt, str) else prepare_checkpoint(root, *ckpt)
    truth = pd.read_csv(root / "_synthetic" / "truth.csv", keep_default_na=False)
    pick = np.sort(np.random.default_rng(1).choice(len(truth), args.n, replace=False))
    rows = truth.iloc[pick]
    keys = [f"s:{f}" for f in rows.filename]
    source = LocalFolderSource(root / "Microscopy" / "train")
    torch.set_num_threads(1)
    vectors: dict[str, np.ndarray] = {}
    figures: dict[str, tuple[float, float]] = {}
    decoded: dict[int, tuple[np.ndarray, float]] = {}
    metas: dict[str, dict[str, object]] = {}
    for name, ckpt, size, precision in VARIANTS:
        if size not in decoded:
            c0 = cpu_seconds()
            imgs = np.stack([decode_normalised(source, None, f, CacheSpec(size))
                             for f in rows.filename])  # fmt: skip
            decoded[size] = (imgs, (cpu_seconds() - c0) / len(rows) * 1000)
        imgs, _ = decoded[size]
        backbone, metas[name] = load_checkpoint(WORK / "checkpoints", shas[ckpt])
        model = inference_model(backbone, precision, image_size=(size, size))
        embed_with_model(model, imgs[:512])  # warm-up
        c0, t0 = cpu_seconds(), time.perf_counter()
        vectors[name] = embed_with_model(model, imgs)
        figures[name] = ((cpu_seconds() - c0) / len(imgs) * 1000,
                         (time.perf_counter() - t0) / len(imgs) * 1000)  # fmt: skip
        print(f"{name}: {figures[name][0]:.2f} CPU s / 1k", flush=True)
    groups = rows.well.astype(str).to_numpy()
    today = VARIANTS[0][0]
    out = []
    base: dict[str, float] = {}
    for name, ckpt, size, _ in VARIANTS:
        x = vectors[name]
        track = probe(x, rows.has_track.astype(str).to_numpy(), groups, balanced=True)
        ptype = probe(x, rows.particle_type.astype(str).to_numpy(), groups, balanced=False)
        knn = knn_quality(x, keys, truth)
        knn_track = knn["has_track"]["balanced_accuracy"]
        knn_ptype = knn["particle_type"]["balanced_accuracy"]
        if name == today:
            base = {"track": track, "ptype": ptype, "knn_track": knn_track, "knn_ptype": knn_ptype}
        overlap = 1.0 if name == today else knn_overlap(vectors[today], x)
        same_backbone = ckpt == TODAY
        ok = track >= base["track"] - 0.01 and ptype >= base["ptype"] - 0.01
        if same_backbone:
            ok = ok and overlap >= 0.95
        else:
            ok = ok and knn_track >= base["knn_track"] - 0.01
            ok = ok and knn_ptype >= base["knn_ptype"] - 0.01
        cpu_ms, wall_ms = figures[name]
        meta = metas[name]
        losses = list(meta.get("loss_history") or [float("nan")])
        out.append({
            "variant": name,
            "training": f"{meta.get('epochs_done', '?')} ep, loss {float(losses[-1]):.2f}",
            "10-NN overlap vs today": f"{overlap:.3f}" + ("" if same_backbone else " (not gated)"),
            "probe has_track (bal. acc.)": f"{track:.3f}",
            "probe particle_type (acc.)": f"{ptype:.3f}",
            "10-NN has_track (bal. acc.)": f"{knn_track:.3f}",
            "10-NN particle_type (bal. acc.)": f"{knn_ptype:.3f}",
            "inference CPU s / 1k images": f"{cpu_ms:.2f}",
            "decode CPU s / 1k images": f"{decoded[size][1]:.2f}",
            "gates": "today" if name == today else ("pass" if ok else "FAIL"),
        })  # fmt: skip
        print(out[-1], flush=True)
    trained = ", ".join(
        f"{shas[c]} ({c[1]} at {c[0]} px{', seed 1' if len(c) > 2 else ''})"
        for c in shas
        if not isinstance(c, str)
    )
    notes = (
        f"{args.n} images drawn with seed 1 from the 100k synthetic set. Checkpoints: {trained}; "
        f"control {CONTROL_SHA}. Every trained one is SimCLR by bench_e2e.prepare_checkpoint: "
        "10,000 crops drawn with seed 0, at most 300 s of training on this shared 2-core CPU "
        "(so a smaller input gets more epochs in the same time; 'training' gives the epochs "
        "and the last epoch's loss). Inference with one torch thread after a one-batch "
        "warm-up, CPU seconds of this process (the machine's 2 cores were shared with other "
        "helpers' work, so CPU time is the steadier figure). Gates: both probes and, for "
        "another backbone, both grouped 10-NN balanced accuracies no more than 0.01 below "
        "today's; for today's checkpoint at another precision or input size, 10-NN overlap "
        ">= 0.95 as well. Linear probe: logistic regression (C=0.1, standardised, "
        "class-balanced for has_track), 5 folds grouped by well; 10-NN: "
        "bps_core.embeddings.quality.knn_quality (cosine, prior-corrected vote, 5 folds "
        "grouped by well)."
    )
    write_results("embed_gates", out, notes)


if __name__ == "__main__":
    main()
