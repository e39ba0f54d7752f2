"""Data commands: ``synth``, ``init``, ``ingest``, ``label``, ``info`` and ``demo``."""

from __future__ import annotations

import argparse
import getpass
import os
from pathlib import Path
from typing import TYPE_CHECKING

from bps_cli._common import (
    AMBIGUOUS_FILES,
    NON_NEGATIVE_INT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    UNKNOWN_FILES,
    Console,
    add_location_args,
    location_config,
    print_skipped,
    progress_bar,
)
from bps_core.verbs import BpsError, SynthConfig

if TYPE_CHECKING:
    from bps_cli._common import Commands
    from bps_core.verbs import IngestReport

DEMO_SEED = 0
DEMO_TRAIN_SECONDS = 100.0


def _cmd_synth(args: argparse.Namespace) -> int:
    from bps_core.verbs import generate_dataset, preset_config

    cfg = preset_config(args.preset, seed=args.seed, n_per_cell=args.n_per_cell)
    if args.compression:
        from dataclasses import replace

        cfg = replace(cfg, compression=args.compression)
    for sub in ("Microscopy", "_synthetic"):
        if (args.out_dir / sub).exists() and not args.overwrite:
            raise BpsError(
                f"{args.out_dir / sub} exists; choose an empty folder or pass --overwrite "
                "to replace the dataset"
            )
    with progress_bar("synth") as progress:
        result = generate_dataset(
            args.out_dir, cfg, workers=args.workers, overwrite=args.overwrite, progress=progress
        )
    print(
        f"wrote {result.n_fitc} FITC images (+{result.n_dapi_only} DAPI/MASK-only nuclei) "
        f"under {result.root}; ground truth in {result.truth_csv}"
    )
    return 0


def _print_ingest(report: IngestReport) -> None:
    print(f"{report.n_samples} samples ({report.n_bad} bad files)")
    for what, items in (
        ("files without a metadata row", report.files_without_metadata),
        ("metadata rows without a file", report.rows_without_files),
        ("bad files", [f"{k}: {v}" for k, v in report.bad_files.items()]),
    ):
        if items:
            print(f"  {len(items)} {what}, e.g. {items[0]}")


def _meta_csv_ref(meta: str | None) -> str | None:
    """The project's reference to ``--meta``.

    A file on this machine (absolute, or relative to the working directory) becomes its
    absolute path; anything else is a name inside the source.
    """
    if meta is None:
        return None
    path = Path(meta).expanduser()
    return str(path.resolve()) if path.is_file() else meta


def _cmd_init(args: argparse.Namespace) -> int:
    import shutil

    from bps_core.verbs import IMAGE_EXTENSIONS, create_project

    config = location_config(args, str(args.source), id="input", purpose="input")
    project_dir = Path(args.project_dir)
    before = set(os.listdir(project_dir)) if project_dir.is_dir() else None
    with progress_bar("ingest") as progress:
        project, report = create_project(
            project_dir,
            config,
            name=args.name,
            meta_csv=_meta_csv_ref(args.meta),
            bps_channel=None if args.all_channels else "proj",
            progress=progress,
            on_listed=lambda n: Console.status(f"listed {n:,} objects"),
            database_url=args.database_url or "",
        )
    if report.n_samples == 0:  # a project of nothing is no use: remove what init created
        project.close()
        if before is None:
            shutil.rmtree(project_dir, ignore_errors=True)
        for name in set(os.listdir(project_dir) if before is not None else ()) - (before or set()):
            target = project_dir / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target, ignore_errors=True)
            else:
                target.unlink(missing_ok=True)
        raise BpsError(
            f"no images found under {config.uri} (looked for {', '.join(IMAGE_EXTENSIONS)}); "
            "no project was created; give the folder or prefix that holds the images"
        )
    with project:
        print(f"created project {project.folder} over {project.config.datasource.uri}")
        if project.config.meta_csv:
            print(f"metadata from {project.config.meta_csv}")
        _print_ingest(report)
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    from bps_core import verbs

    settings = verbs.IngestSettings(all_channels=args.all_channels)
    with verbs.Project.open(args.project_dir) as project, progress_bar("ingest") as progress:
        report = verbs.ingest(
            project, settings, progress,
            on_listed=lambda n: Console.status(f"listed {n:,} objects"),
        )  # fmt: skip
    print(f"ingested {project.config.datasource.uri}")
    _print_ingest(report)
    return 0


def _cmd_label(args: argparse.Namespace) -> int:
    from bps_core.verbs import Project, import_labels_csv, read_user_file

    with Project.open(args.project_dir) as project:
        data = read_user_file(args.csv, "labels CSV")
        report = import_labels_csv(project, data, str(args.csv), user=args.user)
    print(f"labeled {report.n_labeled} samples from {args.csv} as user {args.user!r}")
    print_skipped(
        [(UNKNOWN_FILES, report.unknown_files), (AMBIGUOUS_FILES, report.ambiguous_files),
         ("rows with an empty label", report.empty_labels)],
        report.bad_rows, "rows with a class name that cannot be stored",
    )  # fmt: skip
    return 0


#: How many of the newest models ``info`` lists.
MODELS_SHOWN = 10


def _cmd_info(args: argparse.Namespace) -> int:
    from bps_core.verbs import Project, list_models

    with Project.open(args.project_dir) as project:
        for k, v in project.summary().items():
            print(f"{k}: {v}")
        models = list_models(project)
    # the ids that --model takes (train, label-issues, predictions, model-disagreements, ...)
    print(f"models: {len(models)}" + (" (newest first; --model ID picks one)" if models else ""))
    for m in reversed(models[-MODELS_SHOWN:]):
        acc = m.metrics.get("balanced_accuracy")
        figure = f"balanced accuracy {acc:.3f}" if isinstance(acc, float) else "not validated"
        print(f"  {m.id}  {m.kind}  {m.n_labeled:,} labels  {figure}  embeddings "
              f"{m.embedding_version[:12]}  {m.created_at}")  # fmt: skip
    return 0


def ensure_demo(
    folder: str | Path,
    config: SynthConfig | None = None,
    *,
    train_seconds: float | None = None,
) -> Path:
    """Creates the demo dataset and project under ``folder`` unless they exist.

    Idempotent: an existing project is kept with its labels.

    Args:
        folder: Where ``data/`` and ``project/`` go.
        config: Overrides the ``demo`` preset (tests use a smaller one).
        train_seconds: Also trains embeddings (bounded by that time) and computes the UMAP
            map, unless present; None skips both.

    Returns:
        The project folder.
    """
    from bps_core.verbs import (
        CONFIG_NAME,
        create_project_from_folder,
        generate_dataset,
        preset_config,
    )

    config = config or preset_config("demo", seed=DEMO_SEED)
    folder = Path(folder)
    data, project_dir = folder / "data", folder / "project"
    if not (data / "_synthetic" / "manifest.json").exists():
        print(f"generating the demo dataset (seed {config.seed}) in {data} ...")
        with progress_bar("synth") as progress:
            generate_dataset(
                data,
                config,
                workers=os.cpu_count() or 1,
                overwrite=True,
                progress=progress,
            )
    if not (project_dir / CONFIG_NAME).exists():
        project, report = create_project_from_folder(project_dir, data, name="BPS demo")
        project.close()
        _print_ingest(report)
    if train_seconds is not None:
        _ensure_demo_embeddings(project_dir, train_seconds)
    return project_dir


def _ensure_demo_embeddings(project_dir: Path, train_seconds: float) -> None:
    """Trains SimCLR and computes the UMAP map, once; a map the user chose since is kept.

    ``train_seconds`` bounds the whole step: decoding, training and embedding.
    """
    from bps_cli.embeddings import compute_map, run_embed
    from bps_core.verbs import EmbedConfig, Project, current_map, load_embedding_set

    with Project.open(project_dir) as project:
        has_embedding = load_embedding_set(project) is not None
    if not has_embedding:
        print(
            "training self-supervised embeddings on the demo data "
            f"(at most {train_seconds:.0f} s, decoding and embedding included)"
        )
        run_embed(project_dir, EmbedConfig(epochs=200, max_seconds=train_seconds))
    with Project.open(project_dir) as project:
        m = current_map(project) or compute_map(project)
    print(f"map ready: {len(m.keys)} points")


def _cmd_demo(args: argparse.Namespace) -> int:
    train = None if args.no_embeddings else args.train_seconds
    project_dir = ensure_demo(args.dir, train_seconds=train)
    print(f"demo project ready: {project_dir}")
    return 0


def add_synth(sub: Commands) -> None:
    """Registers ``synth``."""
    from bps_core.verbs import PRESETS

    p = sub.add_parser("synth", help="generate a synthetic BPS-like dataset")
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    p.add_argument("--preset", choices=PRESETS, default="tiny")
    p.add_argument("--seed", type=NON_NEGATIVE_INT, default=0)
    p.add_argument(
        "--n-per-cell", type=POSITIVE_INT, default=None, help="images per condition cell"
    )
    p.add_argument("--workers", type=POSITIVE_INT, default=os.cpu_count() or 1)
    p.add_argument("--compression", choices=["zlib"], default=None)
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset")
    p.set_defaults(func=_cmd_synth)


def add_init(sub: Commands) -> None:
    """Registers ``init``."""
    p = sub.add_parser("init", help="create a project over a folder or an S3 prefix of images")
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument(
        "--source", required=True, help="a folder of images (or a BPS root) or s3://BUCKET/PREFIX"
    )
    add_location_args(p, "S3 source")
    p.add_argument(
        "--meta",
        default=None,
        help="metadata CSV: a file on this machine (absolute, or relative to the working "
        "directory) or a name inside the source (default: meta.csv at the source root)",
    )
    p.add_argument("--name", default=None)
    p.add_argument("--all-channels", action="store_true", help="keep BPS DAPI/MASK files too")
    p.add_argument(
        "--database-url",
        default=None,
        metavar="URL",
        help="keep the database on a PostgreSQL server: postgresql://USER@HOST:PORT/DBNAME, an "
        "empty database, no password in it (PGPASSWORD, ~/.pgpass or [postgresql] password in "
        ".streamlit/secrets.toml); default: SQLite, project.db in PROJECT_DIR",
    )
    p.set_defaults(func=_cmd_init)


def _cmd_migrate(args: argparse.Namespace) -> int:
    from bps_core.verbs import move_to_postgresql

    with progress_bar("migrate") as progress:
        report = move_to_postgresql(args.project_dir, args.to, progress)
    print(f"moved {args.project_dir}'s database to {report.url}")
    for table, n in report.rows.items():
        print(f"  {table}: {n:,} rows, sha256 {report.checksums[table][:12]} (equal on both sides)")
    print(f"the old SQLite file is kept as {report.old_database}")
    return 0


def add_migrate(sub: Commands) -> None:
    """Registers ``migrate``."""
    p = sub.add_parser(
        "migrate",
        help="move a project's database from SQLite to PostgreSQL (labels and history)",
        description="Copies every row of project.db (labels and their whole history, rounds, "
        "jobs) into an empty PostgreSQL database, checks counts and checksums, then switches "
        "project.toml to it. Stop the project's app servers and jobs first.",
    )
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument(
        "--to",
        required=True,
        metavar="URL",
        help="postgresql://USER@HOST:PORT/DBNAME of an empty database (no password in it: "
        "PGPASSWORD, ~/.pgpass or [postgresql] password in .streamlit/secrets.toml)",
    )
    p.set_defaults(func=_cmd_migrate)


def add_ingest(sub: Commands) -> None:
    """Registers ``ingest``."""
    p = sub.add_parser(
        "ingest",
        help="re-list a project's images and add what is missing (completes an interrupted init)",
    )
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--all-channels", action="store_true", help="keep BPS DAPI/MASK files too")
    p.set_defaults(func=_cmd_ingest)


def add_label(sub: Commands) -> None:
    """Registers ``label``."""
    p = sub.add_parser("label", help="import labels from a filename,label CSV")
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--csv", required=True, type=Path)
    p.add_argument("--user", default=os.environ.get("BPS_USER") or getpass.getuser())
    p.set_defaults(func=_cmd_label)


def _cmd_classes(args: argparse.Namespace) -> int:
    from bps_core.verbs import Project

    with Project.open(args.project_dir) as project:
        if args.remove is not None:
            print(project.remove_class(args.remove))
            return 0
        counts = project.label_counts()
        for c in project.classes():
            n = counts.get(c.name, 0)
            print(f"{c.hotkey or '-'}  {c.name}  ({n} sample{'' if n == 1 else 's'})")
    return 0


def add_classes(sub: Commands) -> None:
    """Registers ``classes``."""
    p = sub.add_parser("classes", help="list the label classes (digit key, name, samples), "
                                       "or remove one no sample carries")  # fmt: skip
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--remove", metavar="NAME", help="remove the class NAME (refused while "
                   "samples carry it; retired if the label history names it)")  # fmt: skip
    p.set_defaults(func=_cmd_classes)


def add_info(sub: Commands) -> None:
    """Registers ``info``."""
    p = sub.add_parser("info", help="summarise a project")
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.set_defaults(func=_cmd_info)


def add_demo(sub: Commands) -> None:
    """Registers ``demo``."""
    p = sub.add_parser("demo", help="create the demo dataset and project if missing")
    p.add_argument("dir", type=Path, nargs="?", default=Path("demo"), metavar="DIR")
    p.add_argument(
        "--train-seconds",
        type=POSITIVE_FLOAT,
        default=DEMO_TRAIN_SECONDS,
        help="SimCLR time budget",
    )
    p.add_argument("--no-embeddings", action="store_true", help="skip embeddings and the map")
    p.set_defaults(func=_cmd_demo)
