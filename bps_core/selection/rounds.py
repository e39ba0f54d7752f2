"""Selection rounds in a project: train a model on the labels, select, record, compare.

A round records its strategy and configuration, seed, the selected samples in order, who
made it and when, and the model before it; the first model trained after its labels becomes
its ``model_after``. Everything a round writes goes in one transaction: all or nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bps_core.arrays import load_array
from bps_core.atomic import atomic_path
from bps_core.embeddings.store import EmbeddingSet, load_embedding_set
from bps_core.errors import BpsError, SamplesTakenError, UnknownSampleError
from bps_core.project.rounds import ModelRecord, Round
from bps_core.project.store import Project, metadata_column, utc_now
from bps_core.selection import SelectionConfig, make_strategy, resolve
from bps_core.selection.model import (
    CrossValidation,
    ModelConfig,
    cross_validate_with,
    cross_validation,
    fit_predict,
)
from bps_core.selection.model import _check as _check_classes
from bps_core.selection.options import RoundOptions, wrap
from bps_core.selection.pool import Pool, SelectionError

GROUP_COLUMNS = ("well",)  # BPS: the well encodes the mouse


def _embeddings(project: Project) -> EmbeddingSet:
    emb = load_embedding_set(project)
    if emb is None:
        raise SelectionError(
            "the project has no embeddings yet: compute them first (bps-labeler embed)"
        )
    return emb


def group_column(samples: pd.DataFrame, requested: str | None = None) -> str | None:
    """Returns the metadata column that groups the samples for cross-validation, or None.

    Args:
        samples: The frame of ``Project.samples()``.
        requested: A metadata field to group by (found even when held as ``meta:NAME``);
            None picks the first of ``GROUP_COLUMNS`` present (BPS: ``well``, the mouse).

    Raises:
        SelectionError: ``requested`` is not a column of ``samples``.
    """
    if requested is not None:
        # A metadata field named like an internal column is held as ``meta:NAME``.
        for name in (metadata_column(requested), requested):
            if name in samples.columns:
                return name
        raise SelectionError(f"no metadata column {requested!r} to group by")
    return next((c for c in GROUP_COLUMNS if c in samples.columns), None)


def train_model(
    project: Project,
    cfg: ModelConfig | None = None,
    *,
    user: str = "cli",
    group_by: str | None = None,
    progress: Callable[[float], None] | None = None,
) -> ModelRecord:
    """Trains a model on the current labels, predicts every sample and records it.

    Cross-validates on the current labels (grouped), fits on all of them, predicts every sample
    of the current embedding and stores the probabilities; rounds waiting for a model after
    their labels get this one.
    """
    cfg = cfg or ModelConfig()
    emb = _embeddings(project)
    labels = project.current_labels()
    row = {k: i for i, k in enumerate(emb.keys)}
    labels = labels.loc[np.fromiter((k in row for k in labels.key), dtype=bool, count=len(labels))]
    samples = project.samples().set_index("key")
    idx = np.array([row[k] for k in labels.key], dtype=np.int64)
    x = np.asarray(emb.vectors, dtype=np.float32)
    y = labels.label.to_numpy(dtype=str)
    col = group_column(samples.reset_index(), group_by)
    groups = samples.loc[labels.key, col].astype(str).to_numpy() if col else None
    if cfg.kind == "finetune":
        classes, probs, cv = _finetune(project, emb, idx, y, groups, cfg, progress)
    else:
        cv = cross_validation(x[idx], y, groups, cfg)
        classes, probs = fit_predict(x[idx], y, x, cfg)
    metrics = cv.metrics.to_dict()
    metrics["grouped_by"] = col if metrics["grouped_by"] else None
    model_id = uuid.uuid4().hex[:16]
    models_dir = project.arrays_dir / "models"
    if cv.probs is not None:  # written first: a model on record always has its OOF file
        with atomic_path(models_dir / f"{model_id}{OOF_SUFFIX}", suffix=".npz") as tmp:
            np.savez(tmp, keys=np.asarray(labels.key.tolist(), dtype=str), labels=y,
                     probs=cv.probs)  # fmt: skip
    with atomic_path(models_dir / f"{model_id}.npy", suffix=".npy") as tmp:
        np.save(tmp, probs)
    record = ModelRecord(model_id, cfg.kind, emb.version, classes, len(y), metrics, utc_now())
    project.models.add(record, params=cfg.__dict__, path=f"arrays/models/{model_id}.npy",
                       user=user)  # fmt: skip
    return record


def _finetune(
    project: Project,
    emb: EmbeddingSet,
    idx: NDArray[np.int64],
    y: NDArray[Any],
    groups: NDArray[Any] | None,
    cfg: ModelConfig,
    progress: Callable[[float], None] | None,
) -> tuple[list[str], NDArray[np.float32], CrossValidation]:
    """Fine-tunes the embeddings' SimCLR backbone with a linear head, then predicts.

    Grouped K-fold for the metrics (``finetune_folds``, each fold trains again), then once on
    all labels to predict every sample of the embedding set.
    """
    from bps_core.embeddings.cache import CacheSpec, build_cache, mask_partner_source
    from bps_core.embeddings.finetune import FinetuneConfig, finetune_predict
    from bps_core.embeddings.train import load_checkpoint

    if not emb.checkpoint_sha:
        raise SelectionError(
            f"fine-tuning needs SimCLR embeddings with a saved backbone; the current ones are "
            f"{emb.method!r}: compute SimCLR embeddings first, or use logreg or knn"
        )
    backbone, _ = load_checkpoint(project.arrays_dir / "checkpoints", emb.checkpoint_sha)
    spec = CacheSpec(int(emb.params.get("image_size", 64)),
                     bool(emb.params.get("mask_neighbours", False)))  # fmt: skip
    samples = project.samples()
    samples = samples[samples.status == "ok"]
    ds = project.config.datasource
    partners = mask_partner_source(ds) if spec.mask_neighbours else None
    cache = build_cache(project.arrays_dir, project.source(), samples.relpath.tolist(),
                        samples.key.tolist(), spec, partners=partners)  # fmt: skip
    row_of = {k: i for i, k in enumerate(cache.keys)}
    missing = [k for k in emb.keys if k not in row_of]
    if missing:
        raise SelectionError(f"{len(missing)} embedded samples have no cached image, e.g. "
                             f"{missing[0]}; recompute the embeddings")  # fmt: skip
    rows_all = np.array([row_of[k] for k in emb.keys], dtype=np.intp)
    rows = rows_all[idx]
    classes = _check_classes(y)
    codes = np.array([classes.index(str(v)) for v in y], dtype=np.intp)
    fcfg = FinetuneConfig(epochs=cfg.finetune_epochs, seed=cfg.random_state)
    n_steps = cfg.finetune_folds + 1
    step = [0]

    def stage(f: float) -> None:
        if progress is not None:
            progress((step[0] + f) / n_steps)

    def predict(train: NDArray[np.intp], test: NDArray[np.intp]) -> NDArray[np.float32]:
        p = finetune_predict(backbone, cache.images, rows[train], codes[train], len(classes),
                             rows[test], fcfg, progress=stage)  # fmt: skip
        step[0] += 1
        return np.asarray(p, dtype=np.float32)

    cv = cross_validate_with(predict, y, groups, folds=cfg.finetune_folds,
                             random_state=cfg.random_state)  # fmt: skip
    step[0] = cfg.finetune_folds
    probs = finetune_predict(backbone, cache.images, rows, codes, len(classes), rows_all, fcfg,
                             progress=stage)  # fmt: skip
    return classes, probs, cv


def list_models(project: Project) -> list[ModelRecord]:
    """Every trained model, oldest first."""
    return project.models.all()


def latest_model(project: Project, embedding_version: str | None = None) -> ModelRecord | None:
    """The most recent model, or the most recent trained on ``embedding_version``."""
    models = list_models(project)
    if embedding_version is not None:
        models = [m for m in models if m.embedding_version == embedding_version]
    return models[-1] if models else None


def predictions(project: Project, model: ModelRecord) -> NDArray[np.float32]:
    """The stored probabilities of ``model``, one row per sample of its embedding set."""
    rel = project.models.path(model.id)
    if rel is None:
        raise BpsError(f"model {model.id} is not in this project")
    probs: NDArray[np.float32] = load_array(
        project.folder / rel,
        fix="retrain the model ('bps-labeler train PROJECT_DIR' or the Rounds page)",
        ndim=2,
        cols=len(model.classes),
        mmap=False,
    )
    return probs


#: Beside ``<model id>.npy``: the out-of-fold probabilities of the model's labeled samples.
OOF_SUFFIX = "-oof.npz"


@dataclass(frozen=True)
class OutOfFold:
    """A model's out-of-fold predictions.

    For each sample the model was trained on: the probabilities from the cross-validation fold
    that held that sample out.

    Attributes:
        keys: The labeled samples' keys, in training order.
        labels: The label each had when the model was trained.
        classes: The probability columns (the model's classes).
        probs: Shape (len(keys), len(classes)).
    """

    keys: list[str]
    labels: NDArray[np.str_]
    classes: list[str]
    probs: NDArray[np.float32]

    def frame(self) -> pd.DataFrame:
        """One row per labeled sample.

        Columns: key, label, predicted, confidence (probability of the predicted class) and
        label_probability (probability of its given label).
        """
        best = self.probs.argmax(axis=1)
        given = np.array([self.classes.index(str(v)) for v in self.labels], dtype=np.intp)
        rows = np.arange(len(self.keys))
        return pd.DataFrame({
            "key": self.keys,
            "label": self.labels.astype(str),
            "predicted": np.asarray(self.classes, dtype=str)[best],
            "confidence": self.probs[rows, best].astype(float),
            "label_probability": self.probs[rows, given].astype(float),
        })  # fmt: skip


def out_of_fold(project: Project, model: ModelRecord) -> OutOfFold | None:
    """The out-of-fold predictions of ``model``.

    Returns:
        None when it had none: a class with a single label (no cross-validation), or a model
        trained before they were kept (retrain it).

    Raises:
        BpsError: the model is not in this project, or its file is damaged.
    """
    rel = project.models.path(model.id)
    if rel is None:
        raise BpsError(f"model {model.id} is not in this project")
    path = project.folder / rel.removesuffix(".npy")
    path = path.with_name(path.name + OOF_SUFFIX)
    if not path.exists():
        return None
    fix = "retrain the model ('bps-labeler train PROJECT_DIR' or the Rounds page)"
    try:
        with np.load(path, allow_pickle=False) as f:
            keys, labels, probs = f["keys"], f["labels"], f["probs"]
    except (OSError, ValueError, KeyError, EOFError):
        raise BpsError(f"{path} is damaged; {fix}") from None
    if probs.shape != (len(keys), len(model.classes)) or len(labels) != len(keys):
        raise BpsError(f"{path} does not match model {model.id}'s classes; {fix}")
    return OutOfFold([str(k) for k in keys], labels.astype(str), list(model.classes),
                     np.asarray(probs, dtype=np.float32))  # fmt: skip


def selected_keys(project: Project) -> set[str]:
    """Every sample that any recorded round picked."""
    return project.rounds.selected_keys()


def fresh_seed() -> int:
    """A new seed for a round (recorded with it, so the round stays reproducible)."""
    return int(np.random.default_rng().integers(0, 2**31 - 1))


def build_pool(
    project: Project,
    emb: EmbeddingSet | None = None,
    *,
    metadata: bool = True,
    done: Collection[str] | None = None,
) -> Pool:
    """Assembles the selection pool of the current embedding set (or ``emb``).

    It holds the embeddings, labels, bad files and metadata, and the predictions of the latest
    model trained on that embedding set (a model of another set is stale here).

    Args:
        project: The project.
        emb: The embedding set; None reads the current one.
        metadata: Put the samples' metadata in the pool. Without it (a strategy that reads
            none, as every named one without balance or threshold options) the round reads
            only the keys of the good samples, not the samples frame: at 1M samples that is
            most of a first round's time and memory. The picks are the same either way.
        done: A blind double labeler's round (``select_round``): the samples that count as
            labeled for them, instead of the current labels, and no model's predictions
            (made of everyone's labels) in the pool.

    Returns:
        The pool; its embeddings stay memory-mapped when the set's file is.
    """
    emb = emb or _embeddings(project)
    meta: pd.DataFrame | None = None
    if metadata:
        samples = project.samples().set_index("key").reindex(emb.keys)
        excluded = (samples.status != "ok").to_numpy()
        meta = samples.drop(columns=["relpath", "status", "error"], errors="ignore").reset_index()
    else:
        excluded = _not_ok(project, emb)
    # a set: np.isin on 100k strings took 7 s
    labeled_keys = set(project.current_labels().key) if done is None else set(done)
    labeled = np.fromiter((k in labeled_keys for k in emb.keys), dtype=bool, count=len(emb.keys))
    model = latest_model(project, emb.version) if done is None else None
    probs: NDArray[np.float32] | None = None
    classes: tuple[str, ...] = ()
    if model is not None:
        probs, classes = predictions(project, model), tuple(model.classes)
    return Pool(emb.keys, np.asarray(emb.vectors, dtype=np.float32), labeled, probs, classes,
                meta, excluded)  # fmt: skip


#: The last `_not_ok` answer, by samples version (unique per database) and embedding version.
_NOT_OK: dict[tuple[str, str], NDArray[np.bool_]] = {}


def _not_ok(project: Project, emb: EmbeddingSet) -> NDArray[np.bool_]:
    """Per row of ``emb``: whether its sample is bad or gone.

    A key missing from the samples table counts as not ok, as the reindex of `build_pool`
    does. Kept for the next round while no sample changes: reading a million keys costs more
    than the rest of a warm round.
    """
    token = (project.samples_version(), emb.version)
    if token not in _NOT_OK:
        ok = set(project.keys_with_status("ok"))
        _NOT_OK.clear()
        _NOT_OK[token] = np.fromiter((k not in ok for k in emb.keys), dtype=bool,
                                     count=len(emb.keys))  # fmt: skip
    return _NOT_OK[token].copy()


def needs_metadata(config: SelectionConfig | None, options: RoundOptions) -> bool:
    """Whether a round reads sample metadata: a Lightly config, balance or a threshold may."""
    return config is not None or bool(options.balance_by) or bool(options.threshold_column)


@dataclass(frozen=True)
class RoundPreview:
    """A selection computed but not recorded yet: shown for review, then recorded or dropped."""

    strategy: str
    config: dict[str, Any]
    seed: int | None
    keys: list[str]
    embedding_version: str
    model_before: str | None


def select_round(
    project: Project,
    n: int | None = None,
    *,
    strategy: str = "default",
    config: SelectionConfig | None = None,
    seed: int | None = None,
    reinclude_selected: bool = False,
    options: RoundOptions | None = None,
    done: Collection[str] | None = None,
) -> RoundPreview:
    """Selects ``n`` samples without recording anything, so the selection can be discarded.

    The samples are picked with a named ``strategy`` or a Lightly ``config`` (whose
    ``n_samples`` or ``proportion_samples`` decides when ``n`` is None).

    As in LightlyOne's datapool, samples an earlier round picked are not picked again, labeled
    or not, unless ``reinclude_selected``. ``seed`` None draws a fresh seed (recorded).

    ``done``: for a blind double labeler (``bps_core.verbs.select_round`` finds it), the
    samples that count as labeled for them; the pool then reads no model (``build_pool``), so
    a strategy that needs one is refused as without a model, and the round records none.
    """
    if n is None and config is None:
        raise SelectionError("give the number of samples to select")
    emb = _embeddings(project)
    options = options or RoundOptions()
    pool = build_pool(project, emb, metadata=needs_metadata(config, options), done=done)
    drawn = seed is None
    seed = fresh_seed() if seed is None else int(seed)
    n_held_back = 0
    if not reinclude_selected:
        picked = selected_keys(project)
        earlier = np.fromiter((k in picked for k in pool.keys), dtype=bool, count=len(pool))
        before = len(pool.candidates)
        assert pool.excluded is not None
        pool = replace(pool, excluded=pool.excluded | earlier)
        n_held_back = before - len(pool.candidates)
    try:
        if config is not None:
            n = n if n is not None else config.budget(pool)
            picks = config.select(pool, n, random_state=seed)
            name, cfg_json = "lightly-config", config.to_dict()
        else:
            assert n is not None
            has_model, n_labeled = pool.probabilities is not None, int(pool.labeled.sum())
            base_strategy = make_strategy(strategy, random_state=seed)  # default: reads the pool
            picks = wrap(base_strategy, options, pool, seed).select(pool, n)
            name = strategy
            now = resolve(strategy, has_model=has_model, has_labels=n_labeled > 0,
                          n_labeled=n_labeled)  # fmt: skip
            cfg_json = {"strategy": now, "n": n, **options.to_dict()}
    except SelectionError as exc:
        if n_held_back and "candidates are left" in str(exc):
            raise SelectionError(
                f"{exc}; {n_held_back} samples picked by earlier rounds are held back: "
                "label them, or re-include them"
            ) from exc
        raise
    cfg_json["round"] = {"seed_drawn": drawn, "reinclude_selected": reinclude_selected,
                         "held_back": n_held_back}  # fmt: skip
    # the one whose predictions the pool used (none in a blind labeler's pool)
    model = latest_model(project, emb.version) if done is None else None
    return RoundPreview(name, cfg_json, seed, [pool.keys[i] for i in picks], emb.version,
                        model.id if model else None)  # fmt: skip


def record_round(project: Project, preview: RoundPreview, *, user: str = "cli") -> Round:
    """Records a previewed selection as the next round, in one transaction (all or nothing).

    Raises:
        SelectionError: a previewed sample is no longer in the project, or (unless the preview
            re-included earlier rounds' samples) another round recorded since the preview
            holds some of its samples: nothing is recorded, preview again.
    """
    keys = preview.keys
    now = utc_now()
    reinclude = bool(preview.config.get("round", {}).get("reinclude_selected", False))
    try:
        round_id = project.rounds.add(
            strategy=preview.strategy, config=preview.config, seed=preview.seed, keys=keys,
            embedding_version=preview.embedding_version, model_before=preview.model_before,
            user=user, created_at=now, fresh_only=not reinclude,
        )  # fmt: skip
    except UnknownSampleError as exc:
        raise SelectionError(
            f"{len(exc.keys)} previewed samples are gone, e.g. {exc.keys[0]}"
        ) from None
    except SamplesTakenError as exc:
        rounds = ("rounds " if len(exc.round_ids) > 1 else "round ") + ", ".join(
            str(r) for r in exc.round_ids
        )
        raise SelectionError(
            f"{len(exc.keys)} of the {len(keys)} previewed samples were picked by "
            f"{rounds}, recorded since this preview was made (another session, or the command "
            "line): nothing was recorded, so no sample is picked twice. Preview again."
        ) from None
    return Round(round_id, preview.strategy, preview.config, preview.seed, list(keys), user, now,
                 preview.model_before, None)  # fmt: skip


def list_rounds(project: Project) -> list[Round]:
    """Every recorded round with its samples, oldest first."""
    return project.rounds.all()


def learning_curve(project: Project) -> pd.DataFrame:
    """One row per trained model: labels used and its cross-validated figures."""
    return pd.DataFrame(
        [{"model": m.id, "created_at": m.created_at, "n_labeled": m.n_labeled,
          "accuracy": m.metrics["accuracy"], "balanced_accuracy": m.metrics["balanced_accuracy"],
          "macro_f1": m.metrics["macro_f1"]} for m in list_models(project)],
        columns=["model", "created_at", "n_labeled", "accuracy", "balanced_accuracy", "macro_f1"],
    )  # fmt: skip
