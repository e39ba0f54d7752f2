"""Compute an embedding set for a project: decode cache, train or reduce, store, evaluate."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from bps_core.device import DevicePlan, check_device, plan_device
from bps_core.embeddings.cache import (
    CacheSpec,
    ImageCache,
    build_cache,
    load_cache,
    mask_partner_source,
)
from bps_core.embeddings.lightly_csv import import_embeddings_csv
from bps_core.embeddings.pixels import pixel_embeddings, reduce_pixel_features
from bps_core.embeddings.quality import find_truth, knn_quality
from bps_core.embeddings.ray_embed import check_ray_address
from bps_core.embeddings.store import EmbeddingSet, save_embedding_set
from bps_core.errors import BpsError, SettingsError
from bps_core.project.store import Project, utc_now
from bps_core.settings import Settings, check_choice, check_range

METHODS = ("simclr", "pixels", "csv")
Progress = Callable[[float], None]
EpochCallback = Callable[[int, float], None]


@dataclass(frozen=True)
class EmbedConfig(Settings):
    """How to embed a project's samples (the settings of an ``embed`` job); validated when built.

    Attributes:
        method: ``simclr`` (train, then embed), ``pixels`` (instant baseline) or ``csv``.
        epochs: SimCLR epochs (upper bound when ``max_seconds`` is set).
        image_size: Side of the square model input, in pixels.
        batch_size: SimCLR batch size.
        arch: Backbone: resnet10, resnet18 (default) or resnet34.
        max_seconds: Bound on the wall time of the whole step (decoding, SimCLR training and
            embedding every image): training gets what decoding left, less the measured
            embedding time. None for no bound.
        mask_neighbours: Blank other nuclei using the BPS MASK partners, where they exist.
        checkpoint: Reuse a saved backbone (its sha) instead of training.
        csv: Path of a Lightly embeddings CSV (method ``csv``).
        seed: Seed of initialisation, shuffling and augmentation.
        ray_address: Run decoding and inference on a Ray cluster: ``local`` (Ray on this
            machine), ``auto`` (the cluster this machine belongs to) or ``ray://HOST:PORT``;
            empty (the default) to run in this process. SimCLR training itself stays in this
            process. See docs/ray.md.
        device: Where SimCLR training and inference run: ``auto`` (a CUDA GPU when this
            machine has one, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``. CUDA runs in
            mixed precision with pinned, prefetched batches (``bps_core.device``).

    Raises:
        SettingsError: a field is out of range (the message names it).
    """

    method: str = "simclr"
    epochs: int = 20
    image_size: int = 64
    batch_size: int = 128
    arch: str = "resnet18"
    max_seconds: float | None = None
    mask_neighbours: bool = False
    checkpoint: str = ""
    csv: str = ""
    seed: int = 0
    ray_address: str = ""
    device: str = "auto"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Checks every field before any work starts (``__post_init__`` calls it).

        Raises:
            SettingsError: An unknown method, ``csv`` without a CSV path, an image size that is
                not a multiple of 16 in 16..256, negative epochs or a batch size below 2; the
                message names the field.
        """
        check_choice("method", self.method, METHODS)
        if self.method == "csv" and not self.csv:
            raise SettingsError("method 'csv' needs csv=PATH of a Lightly embeddings CSV")
        check_range("image_size", self.image_size, 16, 256)
        if self.image_size % 16:
            raise SettingsError(f"image_size {self.image_size}: use a multiple of 16 in 16..256")
        check_range("epochs", self.epochs, 0)
        check_range("batch_size", self.batch_size, 2)
        if self.max_seconds is not None:
            check_range("max_seconds", self.max_seconds, 0)
        check_device(self.device)
        check_ray_address(self.ray_address)
        if self.ray_address and self.method == "csv":
            raise SettingsError(
                "ray_address: method 'csv' imports a file and has nothing to run on Ray; "
                "drop the Ray address"
            )


def _stage(progress: Progress | None, lo: float, hi: float) -> Progress | None:
    if progress is None:
        return None
    return lambda f: progress(lo + (hi - lo) * f)


def compute_embeddings(
    project: Project,
    cfg: EmbedConfig,
    *,
    progress: Progress | None = None,
    on_epoch: EpochCallback | None = None,
) -> EmbeddingSet:
    """Embeds every good sample of ``project`` and stores the set as the current one.

    Bad files found while decoding are marked bad in the project and skipped. Where synthetic
    ground truth exists, the set carries its grouped k-NN quality. A SimCLR set made on a GPU
    records ``device: cuda`` in its params (its mixed-precision vectors differ slightly from a
    CPU run's, so it is its own version); a CPU run's params, and so its version, are what
    they were before the device setting existed.

    Raises:
        SettingsError: the device asked for is not on this machine (before any work starts).
        BpsError: nothing to embed, or a checkpoint that does not fit.
    """
    cfg.validate()
    plan = plan_device(cfg.device) if cfg.method == "simclr" else None
    deadline = time.monotonic() + cfg.max_seconds if cfg.max_seconds else None
    samples = project.samples()
    samples = samples[samples.status == "ok"]
    keys, relpaths = samples.key.tolist(), samples.relpath.tolist()
    if not keys:
        raise BpsError("the project has no readable samples to embed")
    # Where it ran does not change what the set is: a Ray run and an in-process run of the same
    # settings make the same version.
    params: dict[str, Any] = {
        k: v for k, v in asdict(cfg).items() if k not in ("method", "ray_address", "device")
    }
    if plan is not None and plan.is_cuda:
        params["device"] = "cuda"
        params["mixed_precision"] = plan.mixed_precision
    checkpoint_sha: str | None = None
    if cfg.method == "csv":
        imported = import_embeddings_csv(cfg.csv, dict(zip(relpaths, keys, strict=True)))
        keys, vectors = imported.keys, imported.vectors
        params = {"csv": cfg.csv, "unknown_files": len(imported.unknown_files),
                  "samples_without_vector": len(relpaths) - len(keys)}  # fmt: skip
    elif cfg.ray_address:
        keys, vectors, checkpoint_sha = _on_ray(
            project, cfg, keys, relpaths, progress, on_epoch, deadline, plan
        )
        if cfg.method == "pixels":
            params = {"image_size": cfg.image_size, "mask_neighbours": cfg.mask_neighbours}
    elif (
        cfg.method == "simclr"
        and cfg.checkpoint
        and load_cache(project.arrays_dir, CacheSpec(cfg.image_size, cfg.mask_neighbours), keys)
        is None
    ):
        # A saved backbone embeds once: decode straight into the batches, no cache to write.
        assert plan is not None
        keys, vectors = _simclr_streamed(project, cfg, keys, relpaths, progress, plan)
        checkpoint_sha = cfg.checkpoint
    else:
        ds = project.config.datasource
        cache = build_cache(
            project.arrays_dir,
            project.source(),
            relpaths,
            keys,
            CacheSpec(cfg.image_size, cfg.mask_neighbours),
            partners=mask_partner_source(ds) if cfg.mask_neighbours else None,
            progress=_stage(progress, 0.0, 0.15),
        )
        for key, reason in cache.bad.items():
            project.mark_bad(key, reason)
        store_image_stats(project, cache)
        keys = cache.keys
        if cfg.method == "pixels":
            vectors = pixel_embeddings(cache.images)
            params = {"image_size": cfg.image_size, "mask_neighbours": cfg.mask_neighbours}
        else:
            assert plan is not None
            vectors, checkpoint_sha = _simclr(
                project, cfg, cache.images, progress, on_epoch, deadline, plan
            )
    truth = find_truth(project.config.datasource.path)
    quality = knn_quality(vectors, keys, truth) if truth is not None else {}
    result = save_embedding_set(
        project, cfg.method, params, keys, vectors, checkpoint_sha=checkpoint_sha, quality=quality
    )
    if progress is not None:
        progress(1.0)
    return result


def store_image_stats(project: Project, cache: ImageCache) -> int:
    """Stores the pixel statistics measured while ``cache`` was decoded (none for a reused one).

    Returns:
        The number of samples whose stats were written.
    """
    return project.image_stats.put(cache.stats, computed_at=utc_now())


#: Seconds kept back from training for the k-NN quality figures and saving the set.
_RESERVE_S = 2.0
#: Margin on the measured embedding time: a loaded machine varies between two measurements.
_EMBED_MARGIN = 1.25


def _estimate_embed_seconds(
    arch: str, images: Any, sample: int = 256, plan: DevicePlan | None = None
) -> float:
    """Estimates the seconds ``embed_images`` will take on all ``images``.

    Two timed calls (8 images, then ``sample``) with an untrained backbone of the same
    architecture fit a line: a fixed set-up cost per call (building the inference copy) plus a
    cost per image.
    """
    import numpy as np

    from bps_core.embeddings.model import build_backbone
    from bps_core.embeddings.train import embed_images

    n = len(images)
    small, take = min(8, n), min(sample, n)
    if take <= small:
        return 0.0
    backbone = build_backbone(arch).eval()
    t0 = time.monotonic()
    embed_images(backbone, np.asarray(images[:small]), plan=plan)
    t1 = time.monotonic()
    embed_images(backbone, np.asarray(images[:take]), plan=plan)
    t2 = time.monotonic()
    per_image = max((t2 - t1) - (t1 - t0), 0.0) / (take - small)
    setup = max((t1 - t0) - small * per_image, 0.0)
    return setup + n * per_image


def training_seconds(deadline: float, embed_seconds: float) -> float:
    """What a SimCLR step may spend training so that embedding still ends by ``deadline``."""
    left = deadline - time.monotonic() - _EMBED_MARGIN * embed_seconds - _RESERVE_S
    return max(left, 1e-3)  # 0 would mean "no bound"; the first step always runs


def _simclr(
    project: Project,
    cfg: EmbedConfig,
    images: Any,
    progress: Progress | None,
    on_epoch: EpochCallback | None,
    deadline: float | None = None,
    plan: DevicePlan | None = None,
) -> tuple[Any, str]:
    from bps_core.embeddings.train import embed_images

    backbone, sha = _backbone(project, cfg, images, progress, on_epoch, deadline, plan)
    vectors = embed_images(backbone, images, progress=_stage(progress, 0.9, 0.99), plan=plan)
    return vectors, sha


def _simclr_streamed(
    project: Project,
    cfg: EmbedConfig,
    keys: list[str],
    relpaths: list[str],
    progress: Progress | None,
    plan: DevicePlan,
) -> tuple[list[str], Any]:
    """Embeds with the saved backbone ``cfg.checkpoint``, decoding as it goes (no image cache).

    Marks the bad files found and stores the pixel statistics measured, as the cached path
    does. Returns the kept keys and their vectors (the cached path's, row for row).
    """
    from bps_core.embeddings.inference import inference_model
    from bps_core.embeddings.stream import stream_embeddings
    from bps_core.embeddings.train import resolve_precision

    backbone, _ = _backbone(project, cfg, None, progress, None)
    precision = "fp32" if plan.is_cuda else resolve_precision("auto")
    size = (cfg.image_size, cfg.image_size)
    model = inference_model(backbone, precision, image_size=size).to(plan.device)
    ds = project.config.datasource
    done = stream_embeddings(
        model,
        project.source(),
        relpaths,
        keys,
        CacheSpec(cfg.image_size, cfg.mask_neighbours),
        partners=mask_partner_source(ds) if cfg.mask_neighbours else None,
        progress=_stage(progress, 0.0, 0.99),
        plan=plan,
    )
    for key, reason in done.bad.items():
        project.mark_bad(key, reason)
    project.image_stats.put(done.stats, computed_at=utc_now())
    return done.keys, done.vectors


def _backbone(
    project: Project,
    cfg: EmbedConfig,
    images: Any,
    progress: Progress | None,
    on_epoch: EpochCallback | None,
    deadline: float | None = None,
    plan: DevicePlan | None = None,
) -> tuple[Any, str]:
    """The backbone to embed with (a saved checkpoint, or trained now) and its sha."""
    from bps_core.embeddings.train import (
        TrainConfig,
        load_checkpoint,
        save_checkpoint,
        train_config_dict,
        train_simclr,
    )

    folder = project.arrays_dir / "checkpoints"
    if cfg.checkpoint:
        backbone, meta = load_checkpoint(folder, cfg.checkpoint)
        if meta.get("image_size", cfg.image_size) != cfg.image_size:
            raise BpsError(
                f"checkpoint {cfg.checkpoint} was trained on {meta['image_size']} px images; "
                f"embed with image_size={meta['image_size']}"
            )
        return backbone, cfg.checkpoint
    budget = None
    if deadline is not None:
        budget = training_seconds(deadline, _estimate_embed_seconds(cfg.arch, images, plan=plan))
    tcfg = TrainConfig(
        arch=cfg.arch,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        max_seconds=budget,
        seed=cfg.seed,
    )
    trained = train_simclr(
        images, tcfg, progress=_stage(progress, 0.15, 0.9), on_epoch=on_epoch, plan=plan
    )
    meta = {
        "train": train_config_dict(tcfg),
        "epochs_done": trained.epochs_done,
        "loss_history": trained.loss_history,
        "image_size": cfg.image_size,
    }
    if plan is not None and plan.is_cuda:  # a CPU checkpoint's bytes (its sha) stay as they were
        meta["device"] = plan.device
    return trained.backbone, save_checkpoint(trained.backbone, cfg.arch, folder, meta)


def _on_ray(
    project: Project,
    cfg: EmbedConfig,
    keys: list[str],
    relpaths: list[str],
    progress: Progress | None,
    on_epoch: EpochCallback | None,
    deadline: float | None,
    plan: DevicePlan | None = None,
) -> tuple[list[str], Any, str | None]:
    """Decoding and inference on Ray (``ray_embed``); SimCLR training stays here.

    Returns:
        The kept keys, their vectors and the checkpoint's sha (None for pixels).
    """
    from bps_core.embeddings.ray_embed import ray_session, run_on_ray

    spec = CacheSpec(cfg.image_size, cfg.mask_neighbours)
    ds = project.config.datasource
    sha: str | None = None
    backbone = None
    with ray_session(cfg.ray_address):
        cache: ImageCache | None = load_cache(project.arrays_dir, spec, keys)

        def run(kind: str, lo: float, hi: float) -> Any:
            return run_on_ray(
                project.arrays_dir, kind, keys, spec=spec, relpaths=relpaths, datasource=ds,
                cache=cache, backbone=backbone, progress=_stage(progress, lo, hi),
            )  # fmt: skip

        if cfg.method == "pixels":
            done = run("pixels", 0.0, 0.99)
            vectors = reduce_pixel_features(done.features)
        else:
            if cfg.checkpoint:
                backbone, sha = _backbone(project, cfg, None, progress, on_epoch)
            elif cache is None:  # decode on the cluster, train here on the cache it built
                cache = run("decode", 0.0, 0.15).cache
            if backbone is None:
                assert cache is not None
                backbone, sha = _backbone(
                    project, cfg, cache.images, progress, on_epoch, deadline, plan
                )
            lo = 0.0 if cfg.checkpoint else 0.9
            done = run("backbone", lo, 0.99)
            vectors = done.features
    for key, reason in done.cache.bad.items():
        project.mark_bad(key, reason)
    return done.cache.keys, vectors, sha
