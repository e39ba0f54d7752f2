"""Embedding commands: ``embed``, ``embeddings`` and ``map``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from bps_cli._common import (
    NON_NEGATIVE_FLOAT,
    NON_NEGATIVE_INT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    progress_bar,
)
from bps_core.verbs import BpsError

if TYPE_CHECKING:
    from bps_cli._common import Commands
    from bps_core.verbs import EmbedConfig, Map, MapConfig, Project


def _print_quality(quality: dict[str, dict[str, float]]) -> None:
    for label, q in quality.items():
        print(
            f"  k-NN (5-fold, grouped by well) {label}: accuracy {q['accuracy']:.3f}, "
            f"balanced accuracy {q['balanced_accuracy']:.3f}"
        )


def _embed_config(args: argparse.Namespace) -> EmbedConfig:
    from bps_core.verbs import EmbedConfig

    return EmbedConfig(
        method=args.method,
        epochs=args.epochs,
        image_size=args.image_size,
        batch_size=args.batch_size,
        arch=args.arch,
        max_seconds=args.max_seconds,
        mask_neighbours=args.mask_neighbours,
        checkpoint=args.checkpoint or "",
        csv=str(args.csv or ""),
        seed=args.seed,
        ray_address=args.ray_address or "",
        device=args.device,
    )


def run_embed(project_dir: Path, cfg: EmbedConfig) -> None:
    """Computes embeddings under a progress bar and prints what they are and how good.

    Args:
        project_dir: The project folder.
        cfg: How to embed.
    """
    import time

    from bps_core import verbs

    # The device a SimCLR run uses, resolved (and a GPU asked for but missing refused) before
    # the project is touched; pixels and CSV imports do not use torch.
    device = verbs.plan_device(cfg.device).device if cfg.method == "simclr" else ""
    with verbs.Project.open(project_dir) as project:
        before = verbs.current_version(project)
        t0 = time.monotonic()
        where = f" on Ray ({cfg.ray_address})" if cfg.ray_address else ""
        where += f" on {device}" if device else ""
        with progress_bar(f"embed ({cfg.method}){where}") as bar:
            losses: list[float] = []
            emb = verbs.compute_embeddings(
                project, cfg, bar, on_epoch=lambda e, loss: losses.append(loss)
            )
        seconds = time.monotonic() - t0
    print(
        f"embedding {emb.version}: {len(emb.keys)} samples x {emb.vectors.shape[1]} dims "
        f"in {seconds:.0f} s; now the current set"
    )
    if before is not None and before != emb.version:
        print(f"  switch back with: bps-labeler embeddings use {project_dir} {before}")
    if losses:
        print(f"  SimCLR loss by epoch: {', '.join(f'{x:.3f}' for x in losses)}")
    _print_quality(emb.quality)
    if emb.method == "csv" and (note := verbs.csv_coverage_note(emb.params)):
        print(f"  note: {note}")


def _cmd_embed(args: argparse.Namespace) -> int:
    run_embed(args.project_dir, _embed_config(args))
    return 0


def _cmd_map(args: argparse.Namespace) -> int:
    from bps_core.verbs import MapConfig, Project, use_map

    if args.use:
        with Project.open(args.project_dir) as project:
            m = use_map(project, args.use)
        print(
            f"map {m.id} ({m.config.method}) of embedding {m.embedding_version} is now shown; "
            "that embedding set is current"
        )
        return 0
    cfg = MapConfig(
        method=args.method,
        n_neighbors=args.n_neighbors,
        min_dist=args.min_dist,
        n_epochs=args.epochs,
        pca_dims=args.pca_dims,
        seed=args.seed,
        fit_sample=args.fit_sample,
    )
    with Project.open(args.project_dir) as project:
        m = compute_map(project, cfg)
    print(
        f"map {m.id} ({cfg.method}) of embedding {m.embedding_version}: {len(m.keys)} points; "
        "now shown"
    )
    return 0


def compute_map(project: Project, cfg: MapConfig | None = None) -> Map:
    """The map for ``cfg`` (cached, or computed under a progress bar), made the shown one."""
    from bps_core import verbs

    cfg = cfg or verbs.MapConfig()
    label = f"map ({cfg.method})"
    estimate = verbs.map_estimate(project, cfg)
    if cfg.method == "umap":
        when = f": {estimate.text()}" if estimate is not None else ""
        print(f"computing the UMAP map{when} (unless cached; the first one in a process also "
              "compiles numba kernels) ...")  # fmt: skip
    with progress_bar(label) as bar:
        return verbs.compute_map(project, cfg, bar)


def _cmd_embeddings(args: argparse.Namespace) -> int:
    from bps_core.verbs import (
        Project,
        current_map,
        list_embedding_sets,
        list_maps,
        set_current_version,
    )

    with Project.open(args.project_dir) as project:
        if args.action == "use":
            if not args.version:
                raise BpsError("give the embedding set: bps-labeler embeddings use PROJECT_DIR "
                               "VERSION (bps-labeler embeddings list shows them)")  # fmt: skip
            version = set_current_version(project, args.version)
            m = current_map(project)
            shown = f"map {m.id} ({m.config.method})" if m else "no map yet (bps-labeler map)"
            print(f"embedding set {version} is now current; shown: {shown}")
            return 0
        sets, maps = list_embedding_sets(project), list_maps(project)
        if not sets:
            print("no embedding sets yet: bps-labeler embed PROJECT_DIR")
            return 0
        for s in sets:
            flag = "*" if s["current"] else " "
            print(f"{flag} {s['version']}  {s['method']:<7} {s['samples']:>7,} x {s['dim']:<4} "
                  f"{s['created_at'][:19].replace('T', ' ')}")  # fmt: skip
            for mp in (x for x in maps if x["embedding_version"] == s["version"]):
                p = mp["params"]
                how = (f"n_neighbors {p.get('n_neighbors')}, min_dist {p.get('min_dist')}"
                       if mp["method"] == "umap" else "PCA")  # fmt: skip
                mark = "shown" if mp["current"] else ("chosen" if mp["chosen"] else "")
                print(f"      map {mp['id']}  {mp['method']:<4} {how}, seed {p.get('seed', 0)}"
                      f"  {mark}".rstrip())  # fmt: skip
        print("* current set. Switch: bps-labeler embeddings use PROJECT_DIR VERSION; "
              "show a map: bps-labeler map PROJECT_DIR --use MAP_ID")  # fmt: skip
    return 0


def add_embed(sub: Commands) -> None:
    """Registers ``embed``."""
    p = sub.add_parser("embed", help="compute embeddings (self-supervised, pixels, or a CSV)")
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--method", choices=["simclr", "pixels", "csv"], default="simclr")
    p.add_argument("--epochs", type=POSITIVE_INT, default=20)
    p.add_argument("--image-size", type=POSITIVE_INT, default=64)
    p.add_argument("--batch-size", type=POSITIVE_INT, default=128)
    p.add_argument("--arch", choices=["resnet10", "resnet18", "resnet34"], default="resnet18")
    p.add_argument(
        "--max-seconds", type=POSITIVE_FLOAT, default=None, help="bound on training time"
    )
    p.add_argument("--mask-neighbours", action="store_true", help="blank other nuclei (MASK)")
    p.add_argument("--checkpoint", default=None, help="reuse a saved backbone (its sha)")
    p.add_argument("--csv", type=Path, default=None, help="Lightly embeddings CSV (--method csv)")
    p.add_argument("--seed", type=NON_NEGATIVE_INT, default=0)
    p.add_argument(
        "--ray-address", default="", metavar="auto|local|ray://HOST:PORT",
        help="decode and embed on a Ray cluster (docs/ray.md); SimCLR training stays here",
    )  # fmt: skip
    p.add_argument(
        "--device", default="auto", metavar="auto|cpu|cuda[:N]",
        help="where SimCLR training and inference run (auto: a CUDA GPU when present; CUDA "
        "runs in mixed precision); docs/embeddings.md",
    )  # fmt: skip
    p.set_defaults(func=_cmd_embed)


def add_embeddings(sub: Commands) -> None:
    """Registers ``embeddings``."""
    p = sub.add_parser("embeddings", help="list the embedding sets and maps, or pick the current")
    p.add_argument("action", choices=["list", "use"])
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("version", nargs="?", default="", metavar="VERSION",
                   help="use: the set's version (or a unique prefix of it)")  # fmt: skip
    p.set_defaults(func=_cmd_embeddings)


def add_map(sub: Commands) -> None:
    """Registers ``map``."""
    from bps_core.verbs import MapConfig

    p = sub.add_parser("map", help="compute the 2-D map of the current embeddings (or pick one)")
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--use", default="", metavar="MAP_ID",
                   help="show this stored map (its embedding set becomes current); computes "
                   "nothing")  # fmt: skip
    p.add_argument("--method", choices=["umap", "pca"], default="umap")
    p.add_argument("--n-neighbors", type=POSITIVE_INT, default=15)
    p.add_argument("--min-dist", type=NON_NEGATIVE_FLOAT, default=0.1)
    p.add_argument(
        "--epochs",
        type=POSITIVE_INT,
        default=None,
        help="UMAP layout epochs (default: by map size)",
    )
    p.add_argument(
        "--pca-dims",
        type=NON_NEGATIVE_INT,
        default=MapConfig.pca_dims,
        help="PCA dimensions UMAP's neighbour search runs in (0: the full embeddings)",
    )
    p.add_argument("--seed", type=NON_NEGATIVE_INT, default=0)
    p.add_argument(
        "--fit-sample",
        type=NON_NEGATIVE_INT,
        default=MapConfig.fit_sample,
        help="above this many points UMAP is fitted on a seeded sample of it and the rest are "
        "placed from their nearest fitted rows (0: always fit on all)",
    )
    p.set_defaults(func=_cmd_map)
