"""Background-job entry point for embedding (then mapping) a project."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bps_core.embeddings.compute import EmbedConfig, compute_embeddings
from bps_core.project.store import Project

if TYPE_CHECKING:
    from bps_core.jobs import JobContext


def run_embed_job(project: Project, params: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Embeds with ``EmbedConfig(**params)``, records the loss curve, then computes the UMAP map."""
    from bps_core.projection import MapConfig, get_or_compute_map

    cfg = EmbedConfig(**params)
    ctx.metrics["loss"] = []
    done = {"fraction": 0.0}

    def progress(f: float) -> None:
        done["fraction"] = 0.9 * f
        ctx.progress(done["fraction"], "embedding")

    def on_epoch(epoch: int, loss: float) -> None:
        ctx.metrics["loss"].append(loss)
        ctx.progress(done["fraction"], f"epoch {epoch}: loss {loss:.3f}", force=True)

    emb = compute_embeddings(project, cfg, progress=progress, on_epoch=on_epoch)
    ctx.progress(0.92, "computing the UMAP map", force=True)
    m = get_or_compute_map(
        project, MapConfig(), emb, progress=lambda f: ctx.progress(0.92 + 0.08 * f, "UMAP map")
    )
    return {"version": emb.version, "quality": emb.quality, "map_id": m.id, "n": len(emb.keys)}
