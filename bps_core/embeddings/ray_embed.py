"""Embedding on a Ray cluster: decoding and inference in Ray Data actors, results in shards.

The work per image is the in-process one (``cache.decode_normalised``, ``pixels.pixel_features``,
``train.embed_with_model``), run by a pool of actors through Ray Data's ``map_batches``: each
actor opens the datasource once (S3 or a folder every node mounts at the same path) and, for a
model, builds its inference copy once (on a GPU where the cluster has them). The driver streams
the actors' results back as they finish: decoded images go into the project's decode cache
(``cache.PendingCache``), features into shard files under ``arrays/ray/<run>/``, and progress to
the caller. When the stream ends the shards are assembled in the sample order, so the set has
the same keys in the same order as an in-process run.

Ray is optional: it is imported inside these functions only, never when ``bps_core`` is
imported, and its absence gives one line saying how to install it. Ray Data restarts an actor
that dies and retries its batch (``max_restarts`` and ``max_task_retries`` default to -1 for
actor pools), so a lost worker costs time, not rows.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bps_core.embeddings.cache import (
    CacheSpec,
    ImageCache,
    PendingCache,
    decode_normalised,
    mask_partner_source,
)
from bps_core.embeddings.pixels import pixel_features
from bps_core.errors import BpsError, DatasourceError, ImageDecodeError, SettingsError
from bps_core.storage import DatasourceConfig, open_source

Progress = Callable[[float], None]

#: How to get Ray, in the one line a missing Ray gives.
RAY_INSTALL = "pip install 'bps-labeler[ray]' (or: pip install 'ray[data]>=2.40')"
#: Test-only fault injection: the path of a marker file. The first actor call that finds it
#: absent creates it and kills its own process, as a lost worker would die.
FAULT_ENV = "BPS_RAY_FAULT_ONCE"
#: What each actor computes: ``decode`` (images only), ``pixels`` (block means) or
#: ``backbone`` (a model's L2-normalised features).
KINDS = ("decode", "pixels", "backbone")

_REMOTE_BPS_ERROR = re.compile(r"^bps_core\.[\w.]*(?:Error|Exception)\w*: (?P<message>.+)$", re.M)
_ADDRESS = re.compile(r"^ray://(?P<host>[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\]):(?P<port>\d{1,5})$")


def check_ray_address(address: str) -> None:
    """Checks a ``--ray-address``: empty (no Ray), ``auto``, ``local`` or ``ray://HOST:PORT``.

    Args:
        address: The address as typed.

    Raises:
        SettingsError: any other form; the message lists the valid ones.
    """
    if address in ("", "auto", "local"):
        return
    match = _ADDRESS.fullmatch(address)
    if match is None or not 0 < int(match["port"]) < 65536:
        raise SettingsError(
            f"ray_address {address!r}: use auto (the cluster this machine belongs to), local "
            "(start Ray on this machine) or ray://HOST:PORT (a cluster's Ray Client port, "
            "usually 10001)"
        )


def import_ray() -> ModuleType:
    """The ``ray`` module with Ray Data loaded.

    Raises:
        BpsError: Ray is not installed (the message says how to install it).
    """
    try:
        import ray
        import ray.data  # noqa: F401  (Ray Data is an extra of the ray package)
    except ImportError:
        raise BpsError(
            f"embedding on Ray needs Ray, which is not installed: {RAY_INSTALL}"
        ) from None
    return ray


@contextmanager
def ray_session(address: str) -> Iterator[ModuleType]:
    """Connects to the Ray cluster at ``address`` for the duration of the block.

    A Ray already initialised in this process (a test's, a notebook's) is used as it is and
    left running. ``local`` starts Ray on this machine; ``auto`` and ``ray://HOST:PORT``
    connect to a running cluster and ship this ``bps_core`` package to its workers (the
    cluster's image needs the other dependencies: ``pip install 'bps-labeler[ray]'``).

    Args:
        address: ``local``, ``auto`` or ``ray://HOST:PORT``.

    Yields:
        The ``ray`` module, initialised.

    Raises:
        BpsError: Ray is missing, or no cluster answers at ``address``.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    # The backend's log level is read when Ray starts. Its "errors" include notes such as
    # "actor restarts need the constructor arguments", printed for every Ray Data actor pool;
    # real failures still reach the driver as exceptions (``ray_failure``).
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    _quiet()
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "logging_level": logging.ERROR,
        "log_to_driver": False,  # workers' own logs stay on the cluster, not in the CLI
    }
    if address != "local":
        import bps_core

        kwargs["address"] = address
        kwargs["runtime_env"] = {"py_modules": [bps_core]}
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        text = str(exc).strip()
        reason = (
            text.splitlines()[0].split(". ")[0].rstrip(".")[:200] if text else type(exc).__name__
        )
        raise BpsError(
            f"no Ray cluster answered at {address!r} ({reason}); start one ('ray start --head', "
            "'ray up CLUSTER.yaml' or KubeRay) or use --ray-address local"
        ) from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _quiet() -> None:
    """Silences Ray's notes (token auth, progress bars off, summaries); errors still show."""
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)


@dataclass(frozen=True)
class RayPlan:
    """How the work is spread over the cluster.

    Attributes:
        batch_size: Images per actor call (and per shard).
        actors: Size of the actor pool; None for one per GPU (model inference on a cluster
            with GPUs) or one per ``cpus_per_actor`` CPUs of the cluster.
        cpus_per_actor: CPUs each actor reserves (and the torch threads it uses).
        use_gpus: Run model inference on GPU actors; None for "when the cluster has GPUs".
    """

    batch_size: int = 256
    actors: int | None = None
    cpus_per_actor: float = 1.0
    use_gpus: bool | None = None


class _Hidden(Mapping[str, str]):
    """Credentials for the workers: a mapping whose ``repr`` never shows the values."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    def __getitem__(self, key: str) -> str:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"<credentials: {', '.join(sorted(self._values))} (values hidden)>"


def _worker_env(config: DatasourceConfig | None) -> _Hidden | None:
    """What an S3 source in ``keys`` mode reads on the workers: the driver's key pair.

    Other modes use each worker's own credential chain (an instance role, IRSA on KubeRay, a
    profile in the image), so no secret leaves this machine for them.
    """
    if config is None or config.kind != "s3" or config.auth != "keys":
        return None
    from bps_core.storage.s3.credentials import static_keys

    key, secret, token = static_keys()
    env = {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
    if token:
        env["AWS_SESSION_TOKEN"] = token
    return _Hidden(env)


@dataclass(frozen=True)
class _Task:
    """What every actor of one run is built from (pickled once per actor)."""

    kind: str
    spec: CacheSpec
    datasource: DatasourceConfig | None = None
    env: _Hidden | None = None
    backbone: Any = None  # an ObjectRef of the backbone module (put once, shared by actors)
    precision: str = "auto"
    threads: int = 1
    gpu: bool = False
    fault_marker: str = ""


class EmbedActor:
    """A Ray Data actor: decodes a batch of images and/or computes their features.

    Input batches hold either ``row`` and ``relpath`` (decode from the datasource) or ``row``
    and ``image`` chunks (images already in the decode cache). Output: ``row``, ``ok``,
    ``error`` and, by kind, ``image`` (decoded rows) and ``feature``.

    Args:
        task: The run's settings.
    """

    def __init__(self, task: _Task) -> None:
        import torch

        self.task = task
        torch.set_num_threads(max(1, task.threads))
        self.source = self.partners = None
        if task.datasource is not None:
            self.source = open_source(task.datasource, env=task.env)
            if task.spec.mask_neighbours:
                self.partners = mask_partner_source(task.datasource)
        self.model: Any = None
        self.device = "cuda" if task.gpu else "cpu"
        if task.kind == "backbone":
            self.model = self._load_model()

    def _load_model(self) -> Any:
        import ray

        from bps_core.embeddings.inference import inference_model
        from bps_core.embeddings.train import resolve_precision

        backbone = ray.get(self.task.backbone)
        precision = "mixed" if self.task.gpu else resolve_precision(self.task.precision)
        size = (self.task.spec.size, self.task.spec.size)
        return inference_model(backbone.eval(), precision, image_size=size).to(self.device)

    def _fault(self) -> None:
        marker = self.task.fault_marker
        if not marker:
            return
        try:
            with open(marker, "x"):
                pass
        except FileExistsError:
            return
        os._exit(1)  # a worker lost mid-job: no cleanup, no exception, the process is gone

    def __call__(self, batch: dict[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
        """Computes one batch (see the class docstring for the columns)."""
        self._fault()
        spec = self.task.spec
        out: dict[str, NDArray[Any]] = {}
        if "image" in batch:  # chunks from the decode cache
            rows = np.concatenate([np.atleast_1d(r) for r in batch["row"]]).astype(np.int64)
            images = np.concatenate(list(batch["image"])).astype(np.uint16, copy=False)
            ok = np.ones(len(rows), dtype=bool)
            errors = np.full(len(rows), "", dtype=object)
        else:
            rows = np.asarray(batch["row"], dtype=np.int64)
            images = np.zeros((len(rows), spec.size, spec.size), dtype=np.uint16)
            ok = np.ones(len(rows), dtype=bool)
            errors = np.full(len(rows), "", dtype=object)
            assert self.source is not None
            for j, rel in enumerate(batch["relpath"]):
                try:
                    images[j] = decode_normalised(self.source, self.partners, str(rel), spec)
                except (ImageDecodeError, DatasourceError, ValueError) as exc:
                    ok[j], errors[j] = False, str(exc)
            out["image"] = images
        out.update(row=rows, ok=ok, error=errors.astype(str))
        if self.task.kind == "pixels":
            out["feature"] = pixel_features(images)
        elif self.task.kind == "backbone":
            from bps_core.embeddings.train import embed_with_model

            out["feature"] = embed_with_model(self.model, images, device=self.device)
        return out


@dataclass
class RayRun:
    """What a run returns: the decode cache it used or built, and features in its row order.

    Attributes:
        cache: The project's decode cache (rows of good files only, ``cache.keys`` order).
        features: Shape (len(cache), dim), row i for ``cache.keys[i]``; None for ``decode``.
    """

    cache: ImageCache
    features: NDArray[np.float32] | None


def _pool(ray: ModuleType, kind: str, plan: RayPlan) -> tuple[int, dict[str, Any], bool]:
    """Actors, their resources and whether they use GPUs, from the cluster's resources."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    use_gpus = plan.use_gpus if plan.use_gpus is not None else (kind == "backbone" and gpus > 0)
    if use_gpus:
        if gpus == 0:
            raise BpsError("GPU actors were asked for, but the Ray cluster has no GPU")
        actors = plan.actors or gpus
        return actors, {"num_gpus": 1, "num_cpus": plan.cpus_per_actor}, True
    cpus = float(resources.get("CPU", 1))
    actors = plan.actors or max(1, int(cpus // plan.cpus_per_actor))
    return actors, {"num_cpus": plan.cpus_per_actor}, False


def run_on_ray(
    arrays_dir: Path,
    kind: str,
    keys: Sequence[str],
    *,
    spec: CacheSpec,
    relpaths: Sequence[str] | None = None,
    datasource: DatasourceConfig | None = None,
    cache: ImageCache | None = None,
    backbone: Any = None,
    plan: RayPlan | None = None,
    progress: Progress | None = None,
) -> RayRun:
    """Runs one pass of ``kind`` over every image on the connected Ray cluster.

    Without ``cache`` the actors decode each image from ``datasource`` (``relpaths[i]`` for
    ``keys[i]``) and the decode cache is built from what they return; with it, the cached
    images are sent to the actors and nothing is decoded again.

    Args:
        arrays_dir: The project's ``arrays/`` folder (cache and shards).
        kind: ``decode``, ``pixels`` or ``backbone`` (see ``KINDS``).
        keys: The sample keys, in the order of the result.
        spec: The decode cache's size and masking.
        relpaths: The images' keys in ``datasource`` (needed without ``cache``).
        datasource: The input datasource (needed without ``cache``).
        cache: The decode cache built for ``keys``, or None to decode.
        backbone: The model (``backbone`` kind), a torch module on the CPU.
        plan: How to spread the work; the defaults when None.
        progress: Called with the fraction of images done, as results stream back.

    Returns:
        The cache and the features in its row order.

    Raises:
        BpsError: Ray is missing, no image could be decoded, or Ray returned fewer rows than
            it was given.
    """
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r}: choose one of {', '.join(KINDS)}")
    ray = import_ray()
    plan = plan or RayPlan()
    _quiet()
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # progress goes to the caller's callback
    ctx.print_on_execution_start = False
    actors, resources, gpu = _pool(ray, kind, plan)
    task = _Task(
        kind=kind,
        spec=spec,
        datasource=datasource if cache is None else None,
        env=_worker_env(datasource) if cache is None else None,
        backbone=ray.put(backbone.eval()) if kind == "backbone" else None,
        threads=max(1, int(plan.cpus_per_actor)),
        gpu=gpu,
        fault_marker=os.environ.get(FAULT_ENV, ""),
    )
    n = len(keys) if cache is None else len(cache)
    # Small sets: batches small enough that every actor gets one.
    step = max(1, min(plan.batch_size, -(-n // actors)))
    if cache is None:
        if relpaths is None or datasource is None:
            raise ValueError("decoding on Ray needs relpaths and the datasource")
        items: list[dict[str, Any]] = [{"row": i, "relpath": r} for i, r in enumerate(relpaths)]
        batch_size = step
    else:
        items = [
            {"row": np.arange(s, min(s + step, n)), "image": np.asarray(cache.images[s : s + step])}
            for s in range(0, n, step)
        ]
        batch_size = 1  # one chunk of images per call
    blocks = max(1, -(-n // step))
    ds = ray.data.from_items(items, override_num_blocks=min(blocks, len(items)))
    ds = ds.map_batches(
        EmbedActor,
        fn_constructor_kwargs={"task": task},
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors),
        **resources,
    )
    shards = arrays_dir / "ray" / uuid.uuid4().hex[:12]
    shards.mkdir(parents=True, exist_ok=True)
    try:
        return _collect(ds, kind, keys, spec, n, cache, arrays_dir, shards, progress)
    except ray.exceptions.RayError as exc:
        raise ray_failure(exc) from None
    finally:
        shutil.rmtree(shards, ignore_errors=True)


def ray_exceptions() -> type[BaseException]:
    """Ray's base exception class (``ray.exceptions.RayError``)."""
    ray = import_ray()
    base: type[BaseException] = ray.exceptions.RayError
    return base


def ray_failure(exc: BaseException) -> BpsError:
    """One line for a failed Ray job: the user-facing error inside it, else its first line.

    Ray wraps a worker's exception (``RayTaskError``, Ray Data's ``UserCodeException``) with
    the remote traceback; a ``BpsError`` raised on a worker (a datasource refusing access) is
    already the line to show.

    Args:
        exc: What Ray raised on the driver.

    Returns:
        The error to raise instead.
    """
    if isinstance(exc, BpsError) and not isinstance(exc, ray_exceptions()):
        return exc
    # The worker's exception object does not survive the trip (Ray Data re-raises its own);
    # its type and message do, in the remote traceback's text.
    found = _REMOTE_BPS_ERROR.search(str(exc))
    if found is not None:
        return BpsError(found["message"].strip())
    text = str(exc).strip().splitlines()
    first = next((line for line in text if line.strip()), type(exc).__name__)[:300]
    return BpsError(f"the embedding job on Ray failed: {first}; see the Ray logs on the cluster")


def _collect(
    ds: Any,
    kind: str,
    keys: Sequence[str],
    spec: CacheSpec,
    n: int,
    cache: ImageCache | None,
    arrays_dir: Path,
    shards: Path,
    progress: Progress | None,
) -> RayRun:
    """Runs the dataset, streaming results into the cache and shards, then assembles them."""
    if cache is None:
        with PendingCache(arrays_dir, keys, spec) as pending:
            ok, _bad = _stream(ds, shards, n, progress, pending, keys)
            cache = pending.commit(ok, _bad)
            good = np.flatnonzero(ok)
    else:
        _stream(ds, shards, n, progress, None, cache.keys)
        good = np.arange(n)
    features = _assemble(shards, n, good) if kind != "decode" else None
    return RayRun(cache, features)


def _stream(
    ds: Any,
    shards: Path,
    n: int,
    progress: Progress | None,
    pending: PendingCache | None,
    keys: Sequence[str],
) -> tuple[NDArray[np.bool_], dict[str, str]]:
    """Writes each result block as it arrives: images into the cache, the rest into a shard."""
    seen = np.zeros(n, dtype=bool)
    ok = np.zeros(n, dtype=bool)
    bad: dict[str, str] = {}
    for i, block in enumerate(ds.iter_batches(batch_size=None, batch_format="numpy")):
        rows = np.asarray(block["row"], dtype=np.int64)
        good = np.asarray(block["ok"], dtype=bool)
        if pending is not None:
            pending.rows[rows[good]] = block["image"][good]
        for r, err in zip(rows[~good], block["error"][~good], strict=True):
            bad[keys[int(r)]] = str(err)
        feature = block.get("feature")
        feature = np.zeros((len(rows), 0), np.float32) if feature is None else feature
        np.savez(shards / f"shard-{i:06d}.npz", row=rows, ok=good, feature=feature)
        seen[rows] = True
        ok[rows] = good
        if progress is not None:
            progress(min(float(seen.sum()) / n, 0.999))
    missing = int((~seen).sum())
    if missing:
        raise BpsError(f"Ray returned {n - missing} of {n} images; run the embedding again")
    return ok, bad


def _assemble(shards: Path, n: int, good: NDArray[np.intp]) -> NDArray[np.float32]:
    """The shards' features in row order, keeping the rows in ``good`` (the cache's rows)."""
    features: NDArray[np.float32] | None = None
    for path in sorted(shards.glob("shard-*.npz")):
        with np.load(path) as shard:
            if features is None:
                features = np.zeros((n, shard["feature"].shape[1]), dtype=np.float32)
            features[shard["row"]] = shard["feature"]
    assert features is not None  # _stream saw every row, so there is at least one shard
    out: NDArray[np.float32] = features[good]
    return out
