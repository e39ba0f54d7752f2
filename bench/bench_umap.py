"""UMAP on ~77k embeddings: our map path against ``umap.UMAP()`` defaults, both warm.

The peer is ``umap.UMAP()`` as FiftyOne's visualisation runs it (Euclidean, default epochs,
spectral init). Ours is ``bps_core.projection.fit_umap`` with the project's defaults. Both are
warmed up (numba compiled) in this process first; the cold cost of a new process is reported
separately. Quality gates on a 5k subsample: trustworthiness (k=15) within 0.01 of the peer's
and 15-NN preservation at least 0.9x the peer's. Target: >= 2.5x faster.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import umap
from sklearn.manifold import trustworthiness
from sklearn.neighbors import NearestNeighbors

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import WORK, median_time, write_results  # noqa: E402

from bps_core.projection import MapConfig, fit_umap, warm_up_umap  # noqa: E402


def knn_preservation(x: np.ndarray, y: np.ndarray, k: int = 15) -> float:
    a = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x, return_distance=False)
    b = NearestNeighbors(n_neighbors=k + 1).fit(y).kneighbors(y, return_distance=False)
    return float(np.mean([len(set(p[1:]) & set(q[1:])) / k for p, q in zip(a, b, strict=True)]))


def cold_start_seconds() -> float:
    code = "from bps_core.projection import warm_up_umap; warm_up_umap()"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--embeddings", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    path = args.embeddings or max(WORK.glob("embeddings_*.npy"), key=lambda p: p.stat().st_size)
    x = np.load(path).astype(np.float32)
    n = len(x)
    cold = cold_start_seconds()
    warm_up_umap()
    umap.UMAP(n_epochs=5).fit_transform(np.random.default_rng(0).normal(size=(300, 8)))
    out: dict[str, np.ndarray] = {}

    def peer() -> None:
        out["peer"] = umap.UMAP().fit_transform(x)

    def ours() -> None:
        out["ours"] = fit_umap(x, MapConfig())

    t_ours = median_time(ours, repeats=args.repeats, warmup=0)
    t_peer = median_time(peer, repeats=args.repeats, warmup=0)
    sub = np.random.default_rng(0).choice(n, size=min(5000, n), replace=False)
    q = {}
    for name in ("peer", "ours"):
        q[name] = (
            trustworthiness(x[sub], out[name][sub], n_neighbors=15),
            knn_preservation(x[sub], out[name][sub]),
        )
    rows = [
        {"path": "peer: umap.UMAP() defaults", "seconds": f"{t_peer:.1f}", "speed-up": "1.0x",
         "trustworthiness@15": f"{q['peer'][0]:.4f}", "15-NN preserved": f"{q['peer'][1]:.3f}"},
        {"path": f"ours: fit_umap({MapConfig()})", "seconds": f"{t_ours:.1f}",
         "speed-up": f"{t_peer / t_ours:.1f}x", "trustworthiness@15": f"{q['ours'][0]:.4f}",
         "15-NN preserved": f"{q['ours'][1]:.3f}"},
    ]  # fmt: skip
    gates = (
        f"gates: trustworthiness within 0.01 of the peer: "
        f"{'met' if q['ours'][0] >= q['peer'][0] - 0.01 else 'NOT met'}; 15-NN preservation "
        f">= 0.9x the peer: {'met' if q['ours'][1] >= 0.9 * q['peer'][1] else 'NOT met'}; "
        f"target >= 2.5x: {'met' if t_peer / t_ours >= 2.5 else 'NOT met'}"
    )
    write_results(
        "umap",
        rows,
        f"{n} SimCLR embeddings (512-d); warm, median of {args.repeats}. Cold start of a new "
        f"process (import + numba compile, tiny fit): {cold:.1f} s. {gates}.",
    )


if __name__ == "__main__":
    main()
