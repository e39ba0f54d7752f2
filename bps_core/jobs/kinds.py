"""The job kinds: each maps its typed settings to the verb(s) it runs.

``JOB_KINDS[kind].settings`` is the settings class stored in the job row (its ``to_params``)
and rebuilt in the worker (``from_params``, which validates again); ``run`` calls the verb,
reporting through the ``JobContext``, and returns the JSON result stored with the job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bps_core import verbs
from bps_core.jobs.context import JobContext
from bps_core.project.store import Project
from bps_core.settings import Settings


@dataclass(frozen=True)
class JobKind:
    """One kind of background job.

    Attributes:
        settings: Its settings class (a frozen ``Settings`` dataclass).
        run: ``run(project, settings, context) -> result``: calls the verb.
    """

    settings: type[Settings]
    run: Callable[[Project, Any, JobContext], dict[str, Any]]


def _embed(project: Project, cfg: verbs.EmbedConfig, ctx: JobContext) -> dict[str, Any]:
    """Embeds, records the loss curve, then computes the default (UMAP) map."""
    ctx.metrics["loss"] = []
    done = {"fraction": 0.0}

    def progress(f: float) -> None:
        done["fraction"] = 0.9 * f
        ctx.progress(done["fraction"], "embedding")

    def on_epoch(epoch: int, loss: float) -> None:
        ctx.metrics["loss"].append(loss)
        ctx.progress(done["fraction"], f"epoch {epoch}: loss {loss:.3f}", force=True)

    emb = verbs.compute_embeddings(project, cfg, progress, on_epoch=on_epoch)
    ctx.progress(0.92, "computing the UMAP map", force=True)
    m = verbs.compute_map(project, verbs.MapConfig(),
                          lambda f: ctx.progress(0.92 + 0.08 * f, "UMAP map"))  # fmt: skip
    out = {"version": emb.version, "quality": emb.quality, "map_id": m.id, "n": len(emb.keys)}
    if emb.method == "csv" and (note := verbs.csv_coverage_note(emb.params)):
        out["note"] = note
    return out


def _map(project: Project, cfg: verbs.MapConfig, ctx: JobContext) -> dict[str, Any]:
    """Computes (or reuses) the map and shows it."""
    message = f"computing the {cfg.method.upper()} map"
    ctx.progress(0.01, message, force=True)
    m = verbs.compute_map(project, cfg, ctx.callback(message))
    return {"map_id": m.id, "embedding_version": m.embedding_version, "n": len(m.keys),
            "method": cfg.method}  # fmt: skip


def _copy(project: Project, cfg: verbs.CopySettings, ctx: JobContext) -> dict[str, Any]:
    message = f"copying {cfg.selection.describe()} to {cfg.dest.uri}"
    return verbs.copy(project, cfg, ctx.callback(message)).as_dict()


def _writeback(project: Project, cfg: verbs.WritebackSettings, ctx: JobContext) -> dict[str, Any]:
    report = verbs.writeback(project, cfg, ctx.callback("writing .lightly/"))
    return {
        "dest": report.dest,
        "written": report.written,
        "skipped": report.skipped,
        "failed": dict(list(report.failed.items())[:50]),
        "n_failed": len(report.failed),
    }


def _ingest(project: Project, cfg: verbs.IngestSettings, ctx: JobContext) -> dict[str, Any]:
    report = verbs.ingest(
        project, cfg, ctx.callback("reading headers and metadata"),
        on_listed=lambda n: ctx.progress(0.0, f"listed {n:,} objects"),
    )  # fmt: skip
    return {
        "n_samples": report.n_samples,
        "n_bad": report.n_bad,
        "files_without_metadata": len(report.files_without_metadata),
        "rows_without_files": len(report.rows_without_files),
    }


def _simulate(project: Project, cfg: verbs.SimulateSettings, ctx: JobContext) -> dict[str, Any]:
    """Simulates; the tables go under ``simulations/<job id>/``."""
    ctx.progress(0.0, "simulating", force=True)

    def progress(f: float) -> None:
        if f < 0.9:
            ctx.progress(f, "simulating")
        elif f < 1.0:
            ctx.progress(f, "training on the whole pool for the 95% reference", force=True)

    record = verbs.run_simulation(project, cfg, progress, run_id=ctx.job_id)
    return {
        "curve": record.curve,
        "labels_to_95": record.labels_to_95,
        "full_pool_balanced_accuracy": record.full_pool_balanced_accuracy,
        "n_samples": record.n_samples,
        "classes": record.classes,
        "label_column": record.label_column,
    }


#: Job kinds: their settings and what runs them.
JOB_KINDS: dict[str, JobKind] = {
    "embed": JobKind(verbs.EmbedConfig, _embed),
    "map": JobKind(verbs.MapConfig, _map),
    "copy": JobKind(verbs.CopySettings, _copy),
    "writeback": JobKind(verbs.WritebackSettings, _writeback),
    "ingest": JobKind(verbs.IngestSettings, _ingest),
    "simulate": JobKind(verbs.SimulateSettings, _simulate),
}


def kind_of(settings: Settings) -> str:
    """The job kind that runs ``settings`` (from its type).

    Raises:
        ValueError: no job kind takes settings of this type.
    """
    for kind, spec in JOB_KINDS.items():
        if type(settings) is spec.settings:
            return kind
    takes = ", ".join(s.settings.__name__ for s in JOB_KINDS.values())
    raise ValueError(f"no background job takes {type(settings).__name__}; jobs take {takes}")
