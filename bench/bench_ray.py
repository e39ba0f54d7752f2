"""In-process vs local Ray embedding, and a scaling model for N machines from measured costs.

One project over a synthetic FITC set (``bench/_data.full_dataset``), one backbone (a
checkpoint of an untrained ResNet-18: inference costs the same as a trained one's), and four
timed runs of the embeddings verb, each on the same project:

1. in process, decode + inference (the decode cache dropped first);
2. in process, inference only (the cache kept);
3. on a local Ray (``ray.init`` on this machine, started before and timed apart), decode +
   inference, the cache dropped: the workers decode, embed and send rows and features back;
4. on the local Ray, inference only (the cached images are sent to the workers).

Ray's overhead on one machine is run 3 against run 1 (target: at most 15%, Ray's start-up
excluded, as a cluster is started once and serves many jobs; the start-up is reported too).
Per-image costs follow from the same runs: decode (1 - 2) and inference (2), in CPU-seconds
per image (wall time x cores), and Ray's extra cost per image (3 - 1, charged to the driver as
if it were serial, which makes the model pessimistic). The model for N machines of C cores:

    T(N) = T_fixed + n * max((c_decode + c_infer) / (N * C), c_ray)

where T_fixed is Ray's connection and actor start-up and the driver's assembly (PCA-free here:
a checkpoint's features are already final). With GPUs, c_infer is the GPU's cost per image
instead (not measured here: no GPU on this machine).

Run: ``nice -n 15 .venv/bin/python bench/bench_ray.py [--n 105600]`` (about 100k images; the
default). Smaller ``--n`` for a quick look; the table says which size it ran.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import WORK, write_results  # noqa: E402
from _data import full_dataset  # noqa: E402

from bps_core import verbs  # noqa: E402
from bps_core.verbs import EmbedConfig, create_project_from_folder  # noqa: E402

TARGET_OVERHEAD = 0.15
#: The machines the model is written for: a Ray cluster of N nodes with 16 cores each.
MODEL_CORES = 16
MODEL_NODES = (1, 2, 4, 8, 16, 32)
MODEL_SIZES = (100_000, 1_000_000)


def _timed(project: verbs.Project, cfg: EmbedConfig, *, drop_cache: bool) -> tuple[float, int]:
    if drop_cache:
        shutil.rmtree(project.arrays_dir / "cache", ignore_errors=True)
    t0 = time.perf_counter()
    emb = verbs.compute_embeddings(project, cfg)
    return time.perf_counter() - t0, len(emb.keys)


def main() -> None:
    parser = argparse.ArgumentParser()
    # the generator's per-cell counts scale to ~94.7% of what is asked: 105,600 gives ~100k
    parser.add_argument("--n", type=int, default=105_600)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    import ray

    root = full_dataset(args.n)
    folder = WORK / f"ray_{args.n}_project"
    shutil.rmtree(folder, ignore_errors=True)
    project, _ = create_project_from_folder(folder, root)
    # An untrained backbone, saved as a checkpoint (0 epochs): the same inference cost as a
    # trained one, and no training in the benchmark. It also builds the decode cache once.
    sha = verbs.compute_embeddings(project, EmbedConfig(epochs=0, image_size=64)).checkpoint_sha
    assert sha is not None
    here = EmbedConfig(checkpoint=sha, image_size=64)
    on_ray = EmbedConfig(checkpoint=sha, image_size=64, ray_address="local")

    t0 = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level="ERROR")
    startup = time.perf_counter() - t0
    try:
        # One untimed Ray run first: the first actors import torch and warm the worker pool.
        _timed(project, on_ray, drop_cache=False)
        full_here, n = _timed(project, here, drop_cache=True)
        infer_here, _ = _timed(project, here, drop_cache=False)
        full_ray, _ = _timed(project, on_ray, drop_cache=True)
        infer_ray, _ = _timed(project, on_ray, drop_cache=False)
    finally:
        ray.shutdown()
    project.close()

    cores = args.cpus
    c_decode = max(full_here - infer_here, 0.0) * cores / n
    c_infer = infer_here * cores / n
    c_ray = max(full_ray - full_here, 0.0) / n
    overhead = full_ray / full_here - 1.0
    rows = [
        {"run": "in process: decode + inference", "seconds": f"{full_here:.1f}",
         "images/s": f"{n / full_here:,.0f}"},
        {"run": "in process: inference (cached images)", "seconds": f"{infer_here:.1f}",
         "images/s": f"{n / infer_here:,.0f}"},
        {"run": "local Ray: decode + inference", "seconds": f"{full_ray:.1f}",
         "images/s": f"{n / full_ray:,.0f}"},
        {"run": "local Ray: inference (cached images sent)", "seconds": f"{infer_ray:.1f}",
         "images/s": f"{n / infer_ray:,.0f}"},
        {"run": "local Ray: start-up (ray.init, once per cluster)", "seconds": f"{startup:.1f}",
         "images/s": "-"},
    ]  # fmt: skip
    fixed = startup / 2  # connecting to a running cluster and starting actors: about half
    model = []
    for size in MODEL_SIZES:
        for nodes in MODEL_NODES:
            per_image = max((c_decode + c_infer) / (nodes * MODEL_CORES), c_ray)
            model.append(f"{size:,} images on {nodes} x {MODEL_CORES} cores: "
                         f"{fixed + size * per_image:,.0f} s")  # fmt: skip
    met = "met" if overhead <= TARGET_OVERHEAD else "NOT met"
    notes = (
        f"{n:,} images, 64 px, ResNet-18 checkpoint, on {cores} cores (one run each, after one "
        f"untimed warm-up run on Ray). Ray's overhead on one machine (decode + inference, "
        f"start-up excluded): {overhead:+.1%}; target at most +{TARGET_OVERHEAD:.0%}: {met}.\n\n"
        f"Measured per-image costs: decode {c_decode * 1e3:.2f} ms, inference "
        f"{c_infer * 1e3:.2f} ms (CPU-seconds per image), Ray's extra {c_ray * 1e3:.3f} ms per "
        f"image (charged as serial driver time). Model T(N) = T_fixed + n x max((decode + "
        f"inference) / (N x {MODEL_CORES} cores), Ray's extra), T_fixed = {fixed:.1f} s: "
        + "; ".join(model)
        + "."
    )
    write_results("ray", rows, notes)


if __name__ == "__main__":
    main()
