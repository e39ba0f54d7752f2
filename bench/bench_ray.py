"""In-process vs local Ray embedding, and a scaling model for N machines from measured costs.

One project over a synthetic FITC set (``bench/_data.full_dataset``), one backbone (a
checkpoint of an untrained ResNet-18: inference costs the same as a trained one's), and four
timed runs of the embeddings verb, each on the same project:

1. in process, decode + inference (the decode cache dropped first);
2. in process, inference only (the cache kept);
3. on a local Ray (``ray.init`` on this machine, started before and timed apart), decode +
   inference, the cache dropped: the workers decode, embed and send rows and features back;
4. on the local Ray, inference only (the cached images are sent to the workers).

Runs 1 and 3 are repeated in turns (1, 3, 1, 3, ...; medians) so that a slow spell of this
shared machine falls on both alike. Ray's overhead on one machine is run 3 against run 1
(target: at most 15%, Ray's start-up excluded, as a cluster is started once and serves many
jobs; the start-up is reported too).

Per-image costs are CPU time, not wall time (this machine is shared, and CPU time is much less
disturbed by other processes than wall time). The verb's progress callback splits each run
into its phases: set-up, the work per image, and the tail (assembling, scoring k-NN quality on
at most 20k samples, saving), which runs once on the driver after the last image.

- decode: the CPU time of run 1 (this process and its decoding processes) less run 2's;
- inference: run 2's CPU time less its tail;
- the driver while streaming: this process's CPU time between the first and the last block
  coming back in run 3 (receiving rows, writing the cache and shards, Ray Data's scheduling),
  per image: it does not parallelise over machines;
- the tail: run 3's CPU time after the last block, per image (an upper bound at large sizes:
  the quality score stops growing at 20k samples);
- Ray's extra work on the workers: (run 3 - run 1) wall time x cores, less the driver's part;
- the network: the bytes each image sends back to the driver (the cache row and its
  features) over an assumed 10 Gbit/s link.

The model for N machines of C cores each:

    T(N) = T_fixed + n * max((c_decode + c_infer + c_ray) / (N * C), c_stream, c_network)
           + n * c_tail

where T_fixed is connecting to a running cluster and starting the actors (taken as half of a
local ``ray.init``). With GPUs, c_infer becomes the GPU's cost per image (not measured: no GPU
on this machine); reading from S3 adds each worker's request latency to c_decode unless enough
reads are in flight.

Run: ``nice -n 15 .venv/bin/python bench/bench_ray.py [--n 105600]`` (about 100k images; the
default). Smaller ``--n`` for a quick look; the table says which size it ran.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, field
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
#: The assumed link from the workers to the driver: 10 Gbit/s.
LINK_BYTES_PER_S = 10e9 / 8


def _cpu() -> float:
    """CPU seconds of this process and of its finished child processes (decoding pools)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


@dataclass
class _Run:
    """One timed run: wall and CPU seconds, images, and (fraction, CPU) at each progress call."""

    wall: float = 0.0
    cpu: float = 0.0
    n: int = 0
    calls: list[tuple[float, float]] = field(default_factory=list)

    def progress(self, fraction: float) -> None:
        self.calls.append((fraction, _cpu()))

    def tail_cpu(self, end_cpu: float) -> float:
        """CPU seconds after the last progress call below 1 (assembling, quality, saving)."""
        last = [c for f, c in self.calls if f < 1.0][-1]
        return end_cpu - last

    def stream_cpu_per_image(self) -> float:
        """CPU seconds per image between the first and the last block coming back."""
        inner = [(f, c) for f, c in self.calls if 0.0 < f < 1.0]
        (f0, c0), (f1, c1) = inner[0], inner[-1]
        images = (f1 - f0) / 0.99 * self.n  # the per-image stage spans 0 .. 0.99
        return (c1 - c0) / images if images > 0 else 0.0


def _timed(project: verbs.Project, cfg: EmbedConfig, *, drop_cache: bool) -> tuple[_Run, float]:
    """The run, and its tail's CPU seconds."""
    if drop_cache:
        shutil.rmtree(project.arrays_dir / "cache", ignore_errors=True)
    run = _Run()
    t0, c0 = time.perf_counter(), _cpu()
    emb = verbs.compute_embeddings(project, cfg, run.progress)
    end = _cpu()
    run.wall, run.cpu, run.n = time.perf_counter() - t0, end - c0, len(emb.keys)
    return run, run.tail_cpu(end)


def main() -> None:
    parser = argparse.ArgumentParser()
    # the generator's per-cell counts scale to ~94.7% of what is asked: 105,600 gives ~100k
    parser.add_argument("--n", type=int, default=105_600)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=3)
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
        runs: dict[str, list[tuple[_Run, float]]] = {"here": [], "ray": []}
        for _ in range(args.repeats):
            runs["here"].append(_timed(project, here, drop_cache=True))
            runs["ray"].append(_timed(project, on_ray, drop_cache=True))
        infer_run, infer_tail = _timed(project, here, drop_cache=False)
        infer_ray = _timed(project, on_ray, drop_cache=False)[0].wall
    finally:
        ray.shutdown()
    project.close()
    infer_here = infer_run.wall

    n = runs["here"][0][0].n
    full_here = statistics.median(r.wall for r, _ in runs["here"])
    full_ray = statistics.median(r.wall for r, _ in runs["ray"])
    full_cpu = statistics.median(r.cpu for r, _ in runs["here"])
    cores = args.cpus
    c_decode = max(full_cpu - infer_run.cpu, 0.0) / n
    c_infer = (infer_run.cpu - infer_tail) / n
    c_stream = statistics.median(r.stream_cpu_per_image() for r, _ in runs["ray"])
    c_tail = statistics.median(t for _, t in runs["ray"]) / n
    c_ray = max((full_ray - full_here) * cores / n - c_stream - c_tail, 0.0)
    c_network = (64 * 64 * 2 + 512 * 4) / LINK_BYTES_PER_S
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
    model = [f"| nodes x {MODEL_CORES} cores | " + " | ".join(f"{s:,} images" for s in MODEL_SIZES)
             + " | bound by |", "|---|" + "---|" * len(MODEL_SIZES) + "---|"]  # fmt: skip
    for nodes in MODEL_NODES:
        parallel = (c_decode + c_infer + c_ray) / (nodes * MODEL_CORES)
        per_image = max(parallel, c_stream, c_network)
        bound = "workers" if per_image == parallel else "driver"
        if per_image == c_network:
            bound = "network"
        cells = [f"{fixed + size * (per_image + c_tail):,.0f} s" for size in MODEL_SIZES]
        model.append(f"| {nodes} | " + " | ".join(cells) + f" | {bound} |")
    met = "met" if overhead <= TARGET_OVERHEAD else "NOT met"
    notes = (
        f"{n:,} images, 64 px, ResNet-18 checkpoint, on {cores} cores (decode + inference: "
        f"medians of {args.repeats} runs in turns; inference alone: one run; all after one "
        f"untimed warm-up run on Ray). Ray's overhead on one machine (decode + inference, "
        f"start-up excluded): {overhead:+.1%}; target at most +{TARGET_OVERHEAD:.0%}: {met}.\n\n"
        f"Measured per-image costs (CPU-milliseconds): decode {c_decode * 1e3:.2f}, inference "
        f"{c_infer * 1e3:.2f}, Ray's extra on the workers {c_ray * 1e3:.2f}, the driver while "
        f"streaming {c_stream * 1e3:.3f}, the driver's tail {c_tail * 1e3:.3f}; network "
        f"{c_network * 1e3:.4f} ms per image at 10 Gbit/s (assumed). Model T(N) = T_fixed + "
        f"n x max((decode + inference + Ray's extra) / (N x {MODEL_CORES} cores), driver "
        f"streaming, network) + n x tail, T_fixed = {fixed:.1f} s (the model's cluster: N nodes "
        f"of {MODEL_CORES} cores, no GPU):" + "\n\n" + "\n".join(model)
    )
    write_results("ray", rows, notes)


if __name__ == "__main__":
    main()
