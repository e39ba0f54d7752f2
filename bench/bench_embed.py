"""Embedding inference end to end: our path against a plain fp32 loop with per-file decode.

Ours: the decode cache (memory-mapped 64 px uint16), ``channels_last``, bfloat16 autocast where
the CPU supports it (fp32 otherwise), batches of 512, ``inference_mode``. Peer: a DataLoader
over a Dataset that opens and resizes each file with PIL, fp32, batches of 64, ``no_grad``.
Quality gate on trained weights: cosine(fp32, ours) >= 0.999 and 10-NN overlap >= 0.95.
Targets: >= 3x the peer; 77k images in <= 90 s.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.neighbors import NearestNeighbors

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import WORK, median_time, write_results  # noqa: E402
from _data import full_project  # noqa: E402
from bench_decode import PilDataset  # noqa: E402

from bps_core.embeddings.cache import CacheSpec, build_cache  # noqa: E402
from bps_core.embeddings.train import (  # noqa: E402
    TrainConfig,
    bf16_supported,
    embed_images,
    load_checkpoint,
    save_checkpoint,
    train_simclr,
)
from bps_core.storage import LocalFolderSource  # noqa: E402


def knn_overlap(a: np.ndarray, b: np.ndarray, k: int = 10, n: int = 5000) -> float:
    idx = np.random.default_rng(0).choice(len(a), size=min(n, len(a)), replace=False)
    na = NearestNeighbors(n_neighbors=k + 1).fit(a[idx]).kneighbors(a[idx], return_distance=False)
    nb = NearestNeighbors(n_neighbors=k + 1).fit(b[idx]).kneighbors(b[idx], return_distance=False)
    return float(np.mean([len(set(x[1:]) & set(y[1:])) / k for x, y in zip(na, nb, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=None, help="images (default: full, ~77k)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-seconds", type=float, default=90.0)
    args = parser.parse_args()
    project = full_project(args.n)
    s = project.samples()
    root = Path(project.config.datasource.path)
    cache_args = (project.arrays_dir, LocalFolderSource(root), s.relpath.tolist(), s.key.tolist())
    cache = build_cache(*cache_args, CacheSpec(64))
    n = len(cache)
    ckpt_dir = WORK / "checkpoints"
    marker = ckpt_dir / f"trained_{n}.txt"
    if marker.exists():
        backbone, _ = load_checkpoint(ckpt_dir, marker.read_text().strip())
    else:
        pick = np.sort(np.random.default_rng(0).choice(n, min(n, 20000), replace=False))
        sub = np.asarray(cache.images[pick])
        res = train_simclr(sub, TrainConfig(epochs=100, max_seconds=args.train_seconds))
        backbone = res.backbone
        marker.write_text(save_checkpoint(backbone, "resnet18", ckpt_dir, {"image_size": 64}))
    ours_out: dict[str, np.ndarray] = {}

    def ours() -> None:
        c = build_cache(*cache_args, CacheSpec(64))
        ours_out["v"] = embed_images(backbone, c.images, batch_size=512)

    paths = [root / r for r in s.relpath]

    def peer() -> None:
        loader = torch.utils.data.DataLoader(PilDataset(paths), batch_size=64, num_workers=0)
        backbone.eval()
        with torch.no_grad():
            for x in loader:
                backbone(x.float())

    t_ours = median_time(ours, repeats=args.repeats)
    t_peer = median_time(peer, repeats=args.repeats, warmup=0)
    fp32 = embed_images(backbone, cache.images, batch_size=512, precision="fp32")
    cos = float(np.min(np.sum(fp32 * ours_out["v"], axis=1)))
    mean_cos = float(np.mean(np.sum(fp32 * ours_out["v"], axis=1)))
    overlap = knn_overlap(fp32, ours_out["v"])
    np.save(WORK / f"embeddings_{n}.npy", ours_out["v"])
    scaled = t_ours * 77177 / n
    rows = [
        {"path": "peer: fp32, per-file PIL decode, batch 64", "seconds": f"{t_peer:.1f}",
         "images/s": f"{n / t_peer:.0f}", "speed-up": "1.0x", "target": "-"},
        {"path": f"ours: cache, channels_last, {'bf16' if bf16_supported() else 'fp32'}, batch 512",
         "seconds": f"{t_ours:.1f}", "images/s": f"{n / t_ours:.0f}",
         "speed-up": f"{t_peer / t_ours:.1f}x", "target": ">= 3x; 77k in <= 90 s"},
    ]  # fmt: skip
    notes = (
        f"{n} images, ResNet-18 (1-channel stem) SimCLR-trained {args.train_seconds:.0f} s; "
        f"median of {args.repeats} runs. Quality vs fp32 on the same inputs: min cosine "
        f"{cos:.4f} (mean {mean_cos:.5f}; gate >= 0.999), 10-NN overlap {overlap:.3f} "
        f"(gate >= 0.95). 77,177 images at this rate: {scaled:.0f} s."
    )
    write_results("embed", rows, notes)


if __name__ == "__main__":
    main()
