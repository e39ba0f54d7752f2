"""Embed straight from the files: decode in worker processes while the model runs here.

When a saved backbone embeds a project once (no SimCLR training to feed), the image cache
would be written only to be read back a single time. This path skips it: worker processes
decode chunks of files into memory, and this process runs the inference model on each batch as
soon as its rows are decoded, so decoding and inference overlap instead of following each
other. Rows are batched exactly as ``embed_with_model`` batches the cache (the good rows in
order, ``batch_size`` at a time), so the vectors are the ones the cached path gives.

CPU split: by each side's estimated cost per image (``decode_share``): at 64 px inference gets
about 60% of the cores as torch threads, decoding the rest as processes (at least one each). On
a 2-core machine that is one torch thread beside one decoding process: each has a core, where
the cached path first decodes on both cores and then runs torch on both (whose second thread
gained little on a shared machine, bench/results/e2e.md). At 32 px inference costs a third of
decoding, so two decoding processes run beside the torch thread, which waits for them.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from bps_core.device import DevicePlan
from bps_core.embeddings.batches import as_batch, cpu_plan, to_device
from bps_core.embeddings.cache import CacheSpec, decode_measured
from bps_core.errors import BpsError, DatasourceError, ImageDecodeError
from bps_core.project.image_stats import ImageStats
from bps_core.storage import DataSource, LocalFolderSource
from bps_core.storage.fetch import DEFAULT_WORKERS

Progress = Callable[[float], None]

#: Files per decoding task (local files; remote reads use smaller chunks, more in flight).
CHUNK = 256
REMOTE_CHUNK = 16
#: Share of the cores given to torch threads while streaming (the rest decode).
TORCH_SHARE = 0.6
#: CPU milliseconds per crop: decoding (any size), and ResNet-18 inference at 64 px on one
#: thread (bench/results/embed_gates.md).
DECODE_MS, INFER_MS_64 = 0.55, 0.92


@dataclass
class StreamedEmbeddings:
    """What ``stream_embeddings`` made: the vectors of the good files, and what it found.

    Attributes:
        keys: Keys of the embedded samples (the requested ones less the bad files), in order.
        vectors: L2-normalised float32 features, row i for ``keys[i]``.
        bad: Key -> reason for each file that could not be used.
        stats: Key -> pixel statistics measured while decoding (``ImageStats``).
    """

    keys: list[str]
    vectors: NDArray[np.float32]
    bad: dict[str, str] = field(default_factory=dict)
    stats: dict[str, ImageStats] = field(default_factory=dict)


_Decoded = tuple[NDArray[np.uint16], list[int], list[tuple[int, str]], list[ImageStats]]


def decode_chunk(
    task: tuple[DataSource, DataSource | None, Sequence[str], CacheSpec],
) -> _Decoded:
    """Decodes one chunk of files into memory (a worker's task).

    Returns:
        The good rows (k, size, size) uint16, their offsets in the chunk, (offset, reason)
        of each bad file, and the stats of each good row (same order as the rows).
    """
    source, partners, relpaths, spec = task
    rows = np.empty((len(relpaths), spec.size, spec.size), dtype=np.uint16)
    good: list[int] = []
    errors: list[tuple[int, str]] = []
    stats: list[ImageStats] = []
    for j, rel in enumerate(relpaths):
        try:
            img, st = decode_measured(source, partners, rel, spec)
        except (ImageDecodeError, DatasourceError, ValueError) as exc:
            errors.append((j, str(exc)))
            continue
        rows[len(good)] = img
        good.append(j)
        stats.append(st)
    return rows[: len(good)], good, errors, stats


def decode_share(image_size: int) -> float:
    """Decoding's estimated share of the CPU work of streaming ResNet-18 embeddings at a size.

    Decoding a crop costs about ``DECODE_MS`` whatever the size; inference about
    ``INFER_MS_64`` at 64 px, scaling with the pixel count (bench/results/embed_gates.md).
    """
    infer = INFER_MS_64 * (image_size / 64) ** 2
    return DECODE_MS / (DECODE_MS + infer)


def stream_split(cores: int | None = None, share: float | None = None) -> tuple[int, int]:
    """(torch threads, decoding processes) for ``cores`` CPU cores (default: this machine's).

    Args:
        cores: CPU cores to plan for; None: this machine's.
        share: Decoding's share of the work (``decode_share``); None: ``1 - TORCH_SHARE``.
            Where decoding is the larger side (above one half), one more decoding process
            is started than the cores left to it: the torch thread then waits for batches
            part of the time, and that core would otherwise idle.
    """
    cores = max(1, cores or os.cpu_count() or 1)
    torch_share = TORCH_SHARE if share is None else 1.0 - share
    if cores == 1:
        return 1, 1
    threads = max(1, min(cores - 1, round(cores * torch_share)))
    workers = max(1, cores - threads)
    if share is not None and share > 0.5:
        workers += 1
    return threads, workers


def _decoded_chunks(
    pool: Executor,
    tasks: Sequence[tuple[DataSource, DataSource | None, Sequence[str], CacheSpec]],
    window: int,
) -> Iterator[_Decoded]:
    """The decoded chunks in task order, at most ``window`` tasks in flight (bounded memory)."""
    pending: deque[Future[_Decoded]] = deque()
    it = iter(tasks)
    for task in it:
        pending.append(pool.submit(decode_chunk, task))
        if len(pending) >= window:
            break
    while pending:
        done = pending.popleft().result()
        nxt = next(it, None)
        if nxt is not None:
            pending.append(pool.submit(decode_chunk, nxt))
        yield done


def stream_embeddings(
    model: nn.Module,
    source: DataSource,
    relpaths: Sequence[str],
    keys: Sequence[str],
    spec: CacheSpec,
    *,
    partners: DataSource | None = None,
    batch_size: int = 512,
    workers: int | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
    plan: DevicePlan | None = None,
) -> StreamedEmbeddings:
    """Features of every readable file, decoded and embedded in one overlapped pass.

    Args:
        model: An inference model (``inference.inference_model``) built for ``spec.size``,
            on the plan's device.
        source: Where the files are.
        relpaths: The files, row i belonging to ``keys[i]``.
        keys: The sample keys.
        spec: Decoding size and masking (as the cache would hold them).
        partners: The MASK partner folder when ``spec.mask_neighbours``.
        batch_size: Images per forward pass.
        workers: Decoding processes (threads for a remote source); default from
            ``stream_split`` (local) or the fetch default (remote).
        threads: Torch threads meanwhile (restored afterwards); default from ``stream_split``.
        progress: Called with the fraction of files done.
        plan: Where the model runs; None: the CPU.

    Returns:
        The kept keys, their L2-normalised vectors, the bad files and the measured stats.

    Raises:
        BpsError: no file could be decoded.
    """
    plan = plan or cpu_plan()
    local = isinstance(source, LocalFolderSource)
    # On the CPU, inference at a small size costs less than decoding: decoding gets more of it.
    split_threads, split_workers = stream_split(
        share=None if plan.is_cuda else decode_share(spec.size)
    )
    n_threads = threads or split_threads
    n_workers = workers or (split_workers if local else DEFAULT_WORKERS)
    step = CHUNK if local else REMOTE_CHUNK
    tasks = [
        (source, partners, list(relpaths[i : i + step]), spec)
        for i in range(0, len(relpaths), step)
    ]
    pool_cls = ProcessPoolExecutor if local and len(tasks) > 1 else ThreadPoolExecutor
    kept: list[str] = []
    bad: dict[str, str] = {}
    stats: dict[str, ImageStats] = {}
    feats: list[NDArray[np.float32]] = []
    buffered: list[NDArray[np.uint16]] = []
    n_buffered = 0
    before = torch.get_num_threads()
    torch.set_num_threads(n_threads)

    def run(images: NDArray[np.uint16]) -> None:
        x = to_device(as_batch(images, np.arange(len(images))), plan)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), plan.autocast():
            feats.append(model(x).float().cpu().numpy())

    try:
        with pool_cls(max_workers=n_workers) as pool:
            chunks = _decoded_chunks(pool, tasks, window=2 * n_workers + 2)
            for t, (rows, good, errors, row_stats) in enumerate(chunks):
                start = t * step
                for j, reason in errors:
                    bad[keys[start + j]] = reason
                good_keys = [keys[start + j] for j in good]
                kept.extend(good_keys)
                stats.update(zip(good_keys, row_stats, strict=True))
                buffered.append(rows)
                n_buffered += len(rows)
                while n_buffered >= batch_size:
                    joined = np.concatenate(buffered)
                    run(joined[:batch_size])
                    buffered, n_buffered = [joined[batch_size:]], len(joined) - batch_size
                if progress is not None:
                    progress(min(start + step, len(relpaths)) / len(relpaths))
            if n_buffered:
                run(np.concatenate(buffered))
    finally:
        torch.set_num_threads(before)
    if not kept:
        raise BpsError("no image could be decoded; check the datasource and the bad-file list")
    out = np.concatenate(feats)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    vectors: NDArray[np.float32] = out / np.maximum(norms, 1e-12)
    return StreamedEmbeddings(kept, vectors, bad, stats)
