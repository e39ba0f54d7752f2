"""``bps-labeler``: the command line over the same core the app uses."""

from __future__ import annotations

import argparse
import getpass
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from bps_core.errors import BpsError
from bps_core.selection import NAMED as NAMED_STRATEGIES
from bps_core.server_config import allowed_hosts
from bps_core.synthetic.config import SynthConfig

if TYPE_CHECKING:
    from bps_core.embeddings import EmbedConfig
    from bps_core.project import IngestReport, Project
    from bps_core.projection import Map, MapConfig
    from bps_core.storage import DatasourceConfig
    from bps_core.storage.access import AccessReport

DEFAULT_PORT = 8501
DEMO_SEED = 0
DEMO_TRAIN_SECONDS = 100.0


class _Console:
    """Keeps stderr lines apart: a counter written with ``\r`` (no newline) is ended before
    the next line, bar or error starts."""

    open_line = False

    @classmethod
    def status(cls, text: str) -> None:
        print(f"\r{text}", end="", file=sys.stderr, flush=True)
        cls.open_line = True

    @classmethod
    def end_line(cls) -> None:
        if cls.open_line:
            print(file=sys.stderr, flush=True)
            cls.open_line = False


@contextmanager
def _progress_bar(desc: str) -> Iterator[Callable[[float], None]]:
    """A tqdm bar driven by a core progress callback (fractions in [0, 1]).

    The bar appears at the first progress report, so a command that fails its checks first
    prints its error alone, not under an empty bar.
    """
    from tqdm import tqdm

    bar: tqdm | None = None

    def update(fraction: float) -> None:
        nonlocal bar
        if bar is None:
            _Console.end_line()
            bar = tqdm(total=100, desc=desc, unit="%", bar_format="{l_bar}{bar}| {elapsed}")
        bar.update(max(0, round(fraction * 100) - bar.n))

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()
        _Console.end_line()


def _number(kind: type, low: float, what: str, high: float | None = None) -> Callable[[str], float]:
    """An argparse type: a ``kind`` number of at least ``low`` (and at most ``high``)."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not (value >= low and (high is None or value <= high)):  # also refuses NaN
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value  # type: ignore[no-any-return]

    parse.__name__ = what  # argparse names the type in its messages
    return parse


_POSITIVE_INT = _number(int, 1, "a whole number of at least 1")
_NON_NEGATIVE_INT = _number(int, 0, "a whole number of at least 0")
_POSITIVE_FLOAT = _number(float, 1e-9, "a number above 0")
_NON_NEGATIVE_FLOAT = _number(float, 0.0, "a number of at least 0")
_FRACTION = _number(float, 1e-9, "a number between 0 and 1 (exclusive)", high=1 - 1e-9)
_PORT = _number(int, 1, "a port number from 1 to 65535", high=65535)


def _cmd_synth(args: argparse.Namespace) -> int:
    from bps_core.synthetic import generate_dataset, preset_config

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
    with _progress_bar("synth") as progress:
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


def _add_location_args(p: argparse.ArgumentParser, what: str) -> None:
    """Flags that describe an S3 location's region, endpoint and auth mode."""
    auth = p.add_mutually_exclusive_group()
    auth.add_argument("--anonymous", action="store_true", help=f"{what}: unsigned (public bucket)")
    auth.add_argument("--profile", default="", help=f"{what}: a profile from ~/.aws/config")
    auth.add_argument("--role-arn", default="", help=f"{what}: assume this IAM role")
    auth.add_argument("--keys", action="store_true",
                      help=f"{what}: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY from the environment "
                      "or [aws] in .streamlit/secrets.toml")  # fmt: skip
    p.add_argument("--external-id", default="", help="external ID for --role-arn")
    p.add_argument(
        "--session-duration", type=_POSITIVE_INT, default=3600, help="--role-arn session, s"
    )
    p.add_argument("--region", default="", help="bucket region, e.g. us-west-2")
    p.add_argument("--endpoint-url", default="", help="S3-compatible endpoint (MinIO, Ceph ...)")
    p.add_argument(
        "--allow-private-endpoint", action="store_true",
        help="let --endpoint-url be a loopback or private address (MinIO on this machine)",
    )  # fmt: skip


def _location(args: argparse.Namespace, where: str, *, id: str, purpose: str) -> DatasourceConfig:
    """A datasource config from ``s3://...`` plus auth flags, or a local folder."""
    from bps_core.storage import DatasourceConfig

    if not where:
        raise BpsError("give a destination: --dest s3://BUCKET/PREFIX or a folder")
    if where.startswith("s3://"):
        if args.external_id and not args.role_arn:
            raise BpsError("--external-id is only used with --role-arn")
        auth = (
            "anonymous" if args.anonymous else "assume-role" if args.role_arn
            else "keys" if args.keys else "default"
        )  # fmt: skip
        return DatasourceConfig.s3(
            where, id=id, purpose=purpose, auth=auth, profile=args.profile,
            role_arn=args.role_arn, external_id=args.external_id,
            session_duration_s=args.session_duration if args.role_arn else 3600,
            region=args.region, endpoint_url=args.endpoint_url,
            allow_private_endpoint=args.allow_private_endpoint,
        )  # fmt: skip
    if any((args.anonymous, args.profile, args.role_arn, args.keys, args.endpoint_url)):
        raise BpsError(f"{where}: S3 options need an s3://BUCKET/PREFIX location")
    return DatasourceConfig(id=id, kind="local", path=str(Path(where).resolve()), purpose=purpose)


def _meta_csv_ref(meta: str | None) -> str | None:
    """``--meta``: a file on this machine (absolute, or relative to the working directory)
    becomes its absolute path; anything else is a name inside the source."""
    if meta is None:
        return None
    path = Path(meta).expanduser()
    return str(path.resolve()) if path.is_file() else meta


def _cmd_init(args: argparse.Namespace) -> int:
    import shutil

    from bps_core.images import IMAGE_EXTENSIONS
    from bps_core.project import create_project

    config = _location(args, str(args.source), id="input", purpose="input")
    project_dir = Path(args.project_dir)
    before = set(os.listdir(project_dir)) if project_dir.is_dir() else None
    with _progress_bar("ingest") as progress:
        project, report = create_project(
            project_dir,
            config,
            name=args.name,
            meta_csv=_meta_csv_ref(args.meta),
            bps_channel=None if args.all_channels else "proj",
            progress=progress,
            on_listed=lambda n: _Console.status(f"listed {n:,} objects"),
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
    from bps_core.project import Project, reingest

    with Project.open(args.project_dir) as project, _progress_bar("ingest") as progress:
        report = reingest(
            project,
            all_channels=args.all_channels,
            progress=progress,
            on_listed=lambda n: _Console.status(f"listed {n:,} objects"),
        )
    print(f"ingested {project.config.datasource.uri}")
    _print_ingest(report)
    return 0


def _cmd_label(args: argparse.Namespace) -> int:
    from bps_core.labels import import_labels_csv
    from bps_core.metadata import read_user_file
    from bps_core.project import Project

    with Project.open(args.project_dir) as project:
        data = read_user_file(args.csv, "labels CSV")
        report = import_labels_csv(project, data, str(args.csv), user=args.user)
    print(f"labeled {report.n_labeled} samples from {args.csv} as user {args.user!r}")
    for what, items in (
        ("unknown file names", report.unknown_files),
        ("ambiguous file names (same basename in several folders)", report.ambiguous_files),
        ("rows with an empty label", report.empty_labels),
    ):
        if items:
            print(f"  skipped {len(items)} {what}, e.g. {_clip(items[0])}")
    if report.bad_rows:
        lines = ", ".join(str(line) for line, _ in report.bad_rows[:10])
        more = f" and {len(report.bad_rows) - 10} more" if len(report.bad_rows) > 10 else ""
        first_line, first_reason = report.bad_rows[0]
        print(
            f"  skipped {len(report.bad_rows)} rows with a class name that cannot be stored "
            f"(lines {lines}{more}); line {first_line}: {first_reason}"
        )
    return 0


def _user_text(path: str | Path, what: str) -> str:
    """A small text file the user named, or one clear error (never its content)."""
    from bps_core.metadata import read_user_file

    try:
        return read_user_file(path, what, max_bytes=64 * 1024 * 1024).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BpsError(f"{path}: the {what} is not UTF-8 text (byte {exc.start})") from None


def _clip(text: str, limit: int = 80) -> str:
    """A value from a user's file, on one line and at most ``limit`` characters."""
    flat = repr(text)[1:-1]
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _cmd_info(args: argparse.Namespace) -> int:
    from bps_core.project import Project

    with Project.open(args.project_dir) as project:
        for k, v in project.summary().items():
            print(f"{k}: {v}")
    return 0


def _print_quality(quality: dict[str, dict[str, float]]) -> None:
    for label, q in quality.items():
        print(
            f"  k-NN (5-fold, grouped by well) {label}: accuracy {q['accuracy']:.3f}, "
            f"balanced accuracy {q['balanced_accuracy']:.3f}"
        )


def _embed_config(args: argparse.Namespace) -> EmbedConfig:
    from bps_core.embeddings import EmbedConfig

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
    )


def _run_embed(project_dir: Path, cfg: EmbedConfig) -> None:
    import time

    from bps_core.embeddings import compute_embeddings
    from bps_core.embeddings.store import current_version
    from bps_core.project import Project

    with Project.open(project_dir) as project:
        before = current_version(project)
        t0 = time.monotonic()
        with _progress_bar(f"embed ({cfg.method})") as bar:
            losses: list[float] = []
            emb = compute_embeddings(
                project, cfg, progress=bar, on_epoch=lambda e, loss: losses.append(loss)
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


def _cmd_embed(args: argparse.Namespace) -> int:
    _run_embed(args.project_dir, _embed_config(args))
    return 0


def _cmd_map(args: argparse.Namespace) -> int:
    from bps_core.project import Project
    from bps_core.projection import MapConfig, use_map

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
    )
    with Project.open(args.project_dir) as project:
        m = _compute_map(project, cfg)
    print(
        f"map {m.id} ({cfg.method}) of embedding {m.embedding_version}: {len(m.keys)} points; "
        "now shown"
    )
    return 0


def _compute_map(project: Project, cfg: MapConfig | None = None) -> Map:
    """The map for ``cfg`` (cached, or computed under a progress bar), made the shown one."""
    from bps_core.projection import MapConfig, get_or_compute_map

    cfg = cfg or MapConfig()
    label = f"map ({cfg.method})"
    if cfg.method == "umap":
        print("computing the UMAP map (the first one in a process compiles numba kernels) ...")
    with _progress_bar(label) as bar:
        return get_or_compute_map(project, cfg, progress=bar)


def _cmd_embeddings(args: argparse.Namespace) -> int:
    from bps_core.embeddings.store import list_embedding_sets, set_current_version
    from bps_core.project import Project
    from bps_core.projection import current_map, list_maps

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


def _cmd_select(args: argparse.Namespace) -> int:
    from bps_core.project import Project
    from bps_core.selection import SelectionConfig
    from bps_core.selection.options import RoundOptions
    from bps_core.selection.rounds import create_round

    config = (
        SelectionConfig.from_json(_user_text(args.config, "selection config"))
        if args.config
        else None
    )
    if args.n is None and config is None:
        raise BpsError("give the number of samples to select with --n")
    options = RoundOptions(balance_by=tuple(args.balance_by or ()))
    with Project.open(args.project_dir) as project:
        r = create_round(project, args.n, strategy=args.strategy, config=config, seed=args.seed,
                         reinclude_selected=args.reinclude_selected, options=options,
                         user=args.user)  # fmt: skip
    how = r.config.get("strategy", r.strategy)
    drawn = (f" (drawn; --seed {r.seed} --reinclude-selected repeats it)"
             if r.config["round"]["seed_drawn"] else "")  # fmt: skip
    print(f"round {r.id}: {len(r.keys)} samples selected with {how}, seed {r.seed}{drawn}")
    held = r.config["round"]["held_back"]
    if held:
        print(f"  {held} samples picked by earlier rounds were left out "
              "(--reinclude-selected picks from them too)")  # fmt: skip
    for key in r.keys[: args.show]:
        print(f"  {key}")
    if len(r.keys) > args.show:
        print(f"  ... and {len(r.keys) - args.show} more (bps-labeler info lists rounds)")
    return 0


def _fig(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _cmd_train(args: argparse.Namespace) -> int:
    from bps_core.project import Project
    from bps_core.selection.model import ModelConfig
    from bps_core.selection.rounds import train_model

    with Project.open(args.project_dir) as project:
        cfg = ModelConfig(kind=args.model, finetune_epochs=args.epochs)
        with _progress_bar("train") as progress:
            m = train_model(project, cfg, user=args.user, group_by=args.group_by,
                            progress=progress)  # fmt: skip
    q = m.metrics
    grouped = f"grouped by {q['grouped_by']}" if q["grouped_by"] else "not grouped"
    print(f"model {m.id} ({m.kind}) on {m.n_labeled} labels, classes: {', '.join(m.classes)}")
    if q.get("warning"):
        print(f"  warning: {q['warning']}")
    if q["n_folds"]:
        print(
            f"  {q['n_folds']}-fold cross-validation ({grouped}): accuracy "
            f"{_fig(q['accuracy'])}, balanced accuracy {_fig(q['balanced_accuracy'])}, "
            f"macro-F1 {_fig(q['macro_f1'])}"
        )
    for cls, pc in q["per_class"].items():
        print(f"  {cls}: F1 {_fig(pc['f1'])}, recall {_fig(pc['recall'])}, "
              f"{pc['support']} labels")  # fmt: skip
    return 0


def _labels(value: float, beyond: float) -> str:
    return "not reached" if value >= beyond else f"{value:.0f}"


def _cmd_simulate(args: argparse.Namespace) -> int:
    from bps_core.atomic import atomic_write_text
    from bps_core.csvsafe import safe_frame
    from bps_core.embeddings import load_embedding_set
    from bps_core.project import Project
    from bps_core.selection.model import ModelConfig
    from bps_core.selection.simulate import (
        SimulationConfig,
        align_truth,
        full_pool_scores,
        labels_to_fraction,
        plot_curves,
        read_truth,
        simulate,
    )

    cfg = SimulationConfig(
        strategies=tuple(s.strip() for s in args.strategies.split(",") if s.strip()),
        batch=args.batch, rounds=args.rounds, seeds=args.seeds, initial=args.initial,
        test_fraction=args.test_fraction, model=ModelConfig(kind=args.model),
    )  # fmt: skip
    cfg.validate()
    truth = read_truth(args.truth, args.label_column, args.group_column)
    with Project.open(args.project_dir) as project:
        emb = load_embedding_set(project)
        if emb is None:
            raise BpsError("no embeddings yet: run 'bps-labeler embed PROJECT_DIR' first")
        meta = project.samples().set_index("key").reindex(emb.keys).reset_index()
    rows, y, groups = align_truth(emb.keys, truth, args.label_column, args.group_column)
    x = emb.vectors[rows]
    print(f"{len(rows)} samples with truth, classes: {', '.join(sorted(set(y)))}")
    with _progress_bar("simulate") as bar:
        curve = simulate(x, y, groups, cfg, metadata=meta.iloc[rows].reset_index(drop=True),
                         progress=bar)  # fmt: skip
    atomic_write_text(args.out, safe_frame(curve).to_csv(index=False))
    png = args.out.with_suffix(".png")
    plot_curves(curve, png)
    last = curve[curve["round"] == cfg.rounds].groupby("strategy", sort=False)
    print(f"after {cfg.rounds} rounds of {cfg.batch} (mean over {cfg.seeds} seeds):")
    for name, g in last:
        print(f"  {name}: accuracy {g.accuracy.mean():.3f}, "
              f"balanced accuracy {g.balanced_accuracy.mean():.3f}")  # fmt: skip
    full = full_pool_scores(x, y, groups, cfg)
    reach = labels_to_fraction(curve, full)
    print(f"labels to 95% of the balanced accuracy of training on the whole pool "
          f"({full.mean():.3f}), read off the mean curve over {cfg.seeds} seeds:")  # fmt: skip
    for strategy, r in reach.iterrows():
        low, mid, high = (_labels(r[c], r["beyond"]) for c in ("low", "mean_curve", "high"))
        print(f"  {strategy}: {mid} (90% interval {low} to {high}; "
              f"per seed {r['per_seed']:.0f}, {int(r['never'])} never)")  # fmt: skip
    print(f"wrote {args.out} and {png}")
    return 0


def _print_access(report: AccessReport) -> bool:
    print(f"{report.config.id} ({report.config.purpose}): {report.config.uri}")
    for row in report.rows():
        detail = f"  {row['detail']}" if row["detail"] else ""
        code = f" [{row['code']}]" if row["code"] else ""
        print(f"  {row['permission']:<9} {row['result']}{code}{detail}")
    print(f"  => {report.headline()}")
    return report.ok


def _cmd_datasource(args: argparse.Namespace) -> int:
    from bps_core.project import Project
    from bps_core.storage.access import (
        check_access,
        generate_external_id,
        iam_policy,
        policy_json,
        trust_policy,
    )

    if args.action == "external-id":
        print(generate_external_id())
        return 0
    if args.project_dir is None:
        raise BpsError(f"datasource {args.action} needs PROJECT_DIR")
    with Project.open(args.project_dir) as project:
        if args.action == "set-output":
            project.set_datasources(
                output=_location(args, args.dest, id="output", purpose="output")
            )
        configs = [project.config.datasource]
        if project.config.output is not None:
            configs.append(project.config.output)
        if args.action in ("show", "set-output"):
            for cfg in configs:
                print("  ".join(f"{k}={v}" for k, v in cfg.describe().items()))
            return 0
        ok = True
        for cfg in configs:  # check
            ok = _print_access(check_access(cfg)) and ok
            if cfg.kind == "s3" and args.policy:
                print("IAM policy for this bucket and prefix:")
                print(policy_json(iam_policy(cfg)))
                if cfg.auth == "assume-role":
                    print("Trust policy for the role:")
                    print(policy_json(trust_policy(cfg)))
    return 0 if ok else 1


def _cmd_writeback(args: argparse.Namespace) -> int:
    from bps_core.project import Project
    from bps_core.writeback import write_lightly

    with Project.open(args.project_dir) as project, _progress_bar("write-back") as progress:
        parts = [p.strip() for p in args.parts.split(",") if p.strip()]
        report = write_lightly(project, parts=parts, task=args.task, progress=progress)
    print(report.summary())
    for part, why in report.skipped.items():
        print(f"  skipped {part}: {why}")
    for key, why in list(report.failed.items())[:5]:
        print(f"  failed {key}: {why}")
    return 1 if report.failed else 0


def _cmd_copy(args: argparse.Namespace) -> int:
    from bps_core.project import Project
    from bps_core.transfers import CopySelection, copy_samples

    if args.round is not None:
        selection = CopySelection(kind="round", round=args.round)
    elif args.classes:
        classes = tuple(c.strip() for c in args.classes.split(",") if c.strip())
        selection = CopySelection(kind="classes", classes=classes)
    elif args.keys_file:
        keys = _user_text(args.keys_file, "keys file").splitlines()
        selection = CopySelection(kind="keys", keys=tuple(k.strip() for k in keys if k.strip()))
    else:
        selection = CopySelection(kind="all")
    dest = _location(args, args.dest, id="copy-dest", purpose="output")
    with Project.open(args.project_dir) as project:
        if args.keys_file:  # name the line, never echo it: the file may be any file
            known = set(project.samples().key)
            bad = [n for n, k in enumerate(keys, start=1) if k.strip() and k.strip() not in known]
            if bad:
                raise BpsError(
                    f"{args.keys_file}: line {bad[0]} is not a sample key of this project "
                    f"({len(bad)} such lines); write one key (datasource:relative/path) per line"
                )
        with _progress_bar("copy") as progress:
            report = copy_samples(
                project, dest, selection, overwrite=args.overwrite, progress=progress
            )
    print(report.summary())
    for key, why in list(report.failed.items())[:5]:
        print(f"  failed {key}: {why}")
    for key, other in list(report.collisions.items())[:5]:
        print(f"  not copied {key!r}: it names the same file as {other!r} in {args.dest}")
    return 1 if report.failed or report.collisions else 0


_SINGLE_FILE_FORMATS = ("csv", "embeddings-csv")


def _export_local(args: argparse.Namespace, dest: Path, url_prefix: str = "") -> str:
    """Runs one export to a local path; returns the lines to print."""
    from bps_core.exports import check_file_dest, write_file
    from bps_core.project import Project

    if args.format == "embeddings-csv":
        from bps_core.embeddings import load_embedding_set
        from bps_core.embeddings.lightly_csv import export_embeddings_csv

        check_file_dest(dest, overwrite=args.overwrite, example="embeddings.csv")
        with Project.open(args.project_dir) as project:
            emb = load_embedding_set(project)
            if emb is None:
                raise BpsError("no embeddings yet: run 'bps-labeler embed PROJECT_DIR' first")
            prefix = f"{project.config.datasource.id}:"
            relpaths = [k.removeprefix(prefix) for k in emb.keys]
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:  # written whole, then moved into place
            export_embeddings_csv(Path(tmp) / "e.csv", emb.vectors, relpaths)
            write_file(dest, (Path(tmp) / "e.csv").read_bytes(), overwrite=args.overwrite)
        return f"wrote {len(relpaths)} embeddings ({emb.vectors.shape[1]} dims)"
    from bps_core.exports import LS_CONFIG, LS_IMAGES, LS_TASKS, export

    document_root = Path(args.document_root).resolve() if args.document_root else None
    with Project.open(args.project_dir) as project, _progress_bar("export") as progress:
        report = export(project, args.format, dest, overwrite=args.overwrite, task=args.task,
                        document_root=document_root, url_prefix=url_prefix,
                        progress=progress)  # fmt: skip
    skipped = f", {report.n_skipped} already there" if report.n_skipped else ""
    failed = f", {len(report.failed)} failed (e.g. {report.failed[0]})" if report.failed else ""
    lines = [f"exported {report.n_written} items as {report.format}{skipped}{failed}"]
    if report.renamed:
        lines.append(f"  {len(report.renamed)} names made unique because they would collide:")
        lines += [f"    {r}" for r in report.renamed[:10]]
        if len(report.renamed) > 10:
            lines.append(f"    ... and {len(report.renamed) - 10} more")
    if args.format == "label-studio" and not url_prefix:
        root = document_root or dest.resolve()
        lines.append(
            f"  Label Studio: start it with LOCAL_FILES_SERVING_ENABLED=true and "
            f"LOCAL_FILES_DOCUMENT_ROOT={root}, add a Local Storage with the absolute path "
            f"{dest.resolve() / LS_IMAGES} (no sync needed), create the project with the "
            f"labeling config {dest.resolve() / LS_CONFIG}, then import "
            f"{dest.resolve() / LS_TASKS}"
        )
    return "\n".join(lines)


def _cmd_export(args: argparse.Namespace) -> int:
    if args.document_root and (args.format != "label-studio" or args.dest.startswith("s3://")):
        raise BpsError("--document-root is for --format label-studio to a local folder")
    if not args.dest.startswith("s3://"):
        # like any command line tool, a relative --dest is taken from the working folder
        dest = Path(args.dest).expanduser().absolute()
        message = _export_local(args, dest)
        first, _, rest = message.partition("\n")
        print(f"{first} to {dest}" + (f"\n{rest}" if rest else ""))
        return 0
    # S3: export to a temporary folder, then upload it (uploads never leave the destination)
    import tempfile

    from bps_core.exports import MARKER_FILES
    from bps_core.storage import open_writable
    from bps_core.storage.base import join_uri
    from bps_core.storage.copy import upload_folder

    single = args.format in _SINGLE_FILE_FORMATS
    location = args.dest.rstrip("/")
    name = ""
    if single:
        location, _, name = location.rpartition("/")
        if location == "s3:/" or not name:
            raise BpsError(f"{args.dest}: give a file name, e.g. s3://BUCKET/labels.csv")
    out = open_writable(_location(args, location + "/", id="export", purpose="output"))
    marker = name or MARKER_FILES.get(args.format, "")
    if marker and not args.overwrite and out.head(marker) is not None:
        raise BpsError(f"{join_uri(out.uri(), marker)} already exists; pass --overwrite to "
                       "replace it")  # fmt: skip
    url_prefix = join_uri(out.uri(), "") if args.format == "label-studio" else ""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "export"
        message = _export_local(args, root / name if single else root, url_prefix=url_prefix)
        with _progress_bar("upload") as progress:
            report = upload_folder(root, out, overwrite=args.overwrite or
                                   args.format != "imagefolder", progress=progress)  # fmt: skip
    first, _, rest = message.partition("\n")
    print(f"{first} to {args.dest}; upload: {report.summary()}" + (f"\n{rest}" if rest else ""))
    for key, why in list(report.failed.items())[:5]:
        print(f"  failed {key}: {why}")
    return 1 if report.failed else 0


def ensure_demo(
    folder: str | Path,
    config: SynthConfig | None = None,
    *,
    train_seconds: float | None = None,
) -> Path:
    """Creates the demo dataset and project under ``folder`` unless they exist; returns the
    project folder. Idempotent: an existing project is kept with its labels.

    ``config`` overrides the ``demo`` preset (tests use a smaller one). With ``train_seconds``,
    also trains embeddings (bounded by that time) and computes the UMAP map, unless present.
    """
    from bps_core.project import create_project_from_folder
    from bps_core.project.config import CONFIG_NAME
    from bps_core.synthetic import generate_dataset, preset_config

    config = config or preset_config("demo", seed=DEMO_SEED)
    folder = Path(folder)
    data, project_dir = folder / "data", folder / "project"
    if not (data / "_synthetic" / "manifest.json").exists():
        print(f"generating the demo dataset (seed {config.seed}) in {data} ...")
        with _progress_bar("synth") as progress:
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
    """Trains SimCLR (``train_seconds`` bounds the whole step: decoding, training and
    embedding) and computes the UMAP map, once; a map the user chose since is kept."""
    from bps_core.embeddings import EmbedConfig, load_embedding_set
    from bps_core.project import Project
    from bps_core.projection import current_map

    with Project.open(project_dir) as project:
        has_embedding = load_embedding_set(project) is not None
    if not has_embedding:
        print(
            "training self-supervised embeddings on the demo data "
            f"(at most {train_seconds:.0f} s, decoding and embedding included)"
        )
        _run_embed(project_dir, EmbedConfig(epochs=200, max_seconds=train_seconds))
    with Project.open(project_dir) as project:
        m = current_map(project) or _compute_map(project)
    print(f"map ready: {len(m.keys)} points")


def _cmd_demo(args: argparse.Namespace) -> int:
    train = None if args.no_embeddings else args.train_seconds
    project_dir = ensure_demo(args.dir, train_seconds=train)
    print(f"demo project ready: {project_dir}")
    return 0


def app_script() -> Path:
    """The Streamlit entry point ``app.py`` of this checkout."""
    path = Path(__file__).resolve().parent.parent / "app.py"
    if not path.is_file():
        raise BpsError(
            f"{path} not found: the app runs from a source checkout; "
            "install it with 'pip install -e .' from the repository"
        )
    return path


def app_command(
    project_dir: Path,
    host: str,
    port: int,
    *,
    production: bool = False,
    allow_hosts: tuple[str, ...] = (),
) -> tuple[list[str], dict[str, str]]:
    """The ``streamlit run`` command line and environment for serving ``project_dir``.

    ``production`` hides exception details from browsers (errors are still logged on the
    server) and turns Streamlit's development mode off; XSRF protection stays on either way.
    Streamlit starts through ``bps_app.serve``, which refuses requests whose Host header is not
    a local name, one in the project's ``server.toml`` or one of ``allow_hosts``.
    """
    env = {**os.environ, "BPS_PROJECT": str(project_dir)}
    cmd = [
        sys.executable, "-m", "bps_app.serve", "run", str(app_script()),
        "--server.port", str(port), "--server.address", host,
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--server.enableXsrfProtection", "true",
    ]  # fmt: skip
    for name in allowed_hosts(project_dir, allow_hosts):
        cmd += ["--server.allowedHosts", name]
    if production:
        cmd += ["--client.showErrorDetails", "none", "--global.developmentMode", "false"]
    return cmd, env


def _cmd_app(args: argparse.Namespace) -> NoReturn:
    from bps_core.project import Project

    project_dir = Path(args.project_dir).resolve()
    Project.open(project_dir).close()  # fail early, with the store's message
    cmd, env = app_command(
        project_dir, args.host, args.port, production=args.production,
        allow_hosts=tuple(args.allow_host),
    )  # fmt: skip
    url = f"http://{args.host}:{args.port}"
    print(f"BPS Labeler on {project_dir}\n  open {url}\n  (Ctrl+C stops it)", flush=True)
    os.chdir(app_script().parent)
    # Replace this process with the server, so signals (Ctrl+C, terminate) reach it directly
    # and no orphaned server outlives its launcher.
    os.execve(sys.executable, cmd, env)


def build_parser() -> argparse.ArgumentParser:
    from bps_core.projection import MapConfig
    from bps_core.synthetic import PRESETS
    from bps_core.writeback import PARTS as WRITEBACK_PARTS

    parser = argparse.ArgumentParser(
        prog="bps-labeler", description="Curate and label 16-bit microscopy crops."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("synth", help="generate a synthetic BPS-like dataset")
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    p.add_argument("--preset", choices=PRESETS, default="tiny")
    p.add_argument("--seed", type=_NON_NEGATIVE_INT, default=0)
    p.add_argument(
        "--n-per-cell", type=_POSITIVE_INT, default=None, help="images per condition cell"
    )
    p.add_argument("--workers", type=_POSITIVE_INT, default=os.cpu_count() or 1)
    p.add_argument("--compression", choices=["zlib"], default=None)
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("init", help="create a project over a folder or an S3 prefix of images")
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument(
        "--source", required=True, help="a folder of images (or a BPS root) or s3://BUCKET/PREFIX"
    )
    _add_location_args(p, "S3 source")
    p.add_argument(
        "--meta",
        default=None,
        help="metadata CSV: a file on this machine (absolute, or relative to the working "
        "directory) or a name inside the source (default: meta.csv at the source root)",
    )
    p.add_argument("--name", default=None)
    p.add_argument("--all-channels", action="store_true", help="keep BPS DAPI/MASK files too")
    p.set_defaults(func=_cmd_init)

    p = sub.add_parser(
        "ingest",
        help="re-list a project's images and add what is missing (completes an interrupted init)",
    )
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--all-channels", action="store_true", help="keep BPS DAPI/MASK files too")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("datasource", help="show, check or set a project's datasources")
    p.add_argument(
        "action",
        choices=["show", "check", "set-output", "external-id"],
        help="check: probe list/read (and write/overwrite/delete for outputs); "
        "set-output: where .lightly/ write-back goes; external-id: generate one",
    )
    p.add_argument("project_dir", type=Path, nargs="?", metavar="PROJECT_DIR")
    p.add_argument("--dest", default="", help="set-output: s3://BUCKET/PREFIX or a folder")
    p.add_argument("--policy", action="store_true", help="check: print the IAM policy JSON")
    _add_location_args(p, "output")
    p.set_defaults(func=_cmd_datasource)

    p = sub.add_parser("writeback", help="write results to the output in Lightly's .lightly/")
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--parts", default=",".join(WRITEBACK_PARTS),
                   help=f"comma-separated, from {','.join(WRITEBACK_PARTS)}")  # fmt: skip
    p.add_argument("--task", default="bps-classification", help="prediction task name")
    p.set_defaults(func=_cmd_writeback)

    p = sub.add_parser("copy", help="copy samples' files to another bucket or folder")
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--dest", required=True, help="s3://BUCKET/PREFIX or a folder")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--round", type=_POSITIVE_INT, help="the samples of this selection round")
    what.add_argument("--classes", default="", help="samples labeled with these classes (a,b)")
    what.add_argument("--keys-file", default="", help="a file of sample keys, one per line")
    p.add_argument("--overwrite", action="store_true", help="replace differing objects")
    _add_location_args(p, "destination")
    p.set_defaults(func=_cmd_copy)

    p = sub.add_parser("label", help="import labels from a filename,label CSV")
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--csv", required=True, type=Path)
    p.add_argument("--user", default=os.environ.get("BPS_USER") or getpass.getuser())
    p.set_defaults(func=_cmd_label)

    p = sub.add_parser("info", help="summarise a project")
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("embed", help="compute embeddings (self-supervised, pixels, or a CSV)")
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--method", choices=["simclr", "pixels", "csv"], default="simclr")
    p.add_argument("--epochs", type=_POSITIVE_INT, default=20)
    p.add_argument("--image-size", type=_POSITIVE_INT, default=64)
    p.add_argument("--batch-size", type=_POSITIVE_INT, default=128)
    p.add_argument("--arch", choices=["resnet10", "resnet18", "resnet34"], default="resnet18")
    p.add_argument(
        "--max-seconds", type=_POSITIVE_FLOAT, default=None, help="bound on training time"
    )
    p.add_argument("--mask-neighbours", action="store_true", help="blank other nuclei (MASK)")
    p.add_argument("--checkpoint", default=None, help="reuse a saved backbone (its sha)")
    p.add_argument("--csv", type=Path, default=None, help="Lightly embeddings CSV (--method csv)")
    p.add_argument("--seed", type=_NON_NEGATIVE_INT, default=0)
    p.set_defaults(func=_cmd_embed)

    p = sub.add_parser("embeddings", help="list the embedding sets and maps, or pick the current")
    p.add_argument("action", choices=["list", "use"])
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("version", nargs="?", default="", metavar="VERSION",
                   help="use: the set's version (or a unique prefix of it)")  # fmt: skip
    p.set_defaults(func=_cmd_embeddings)

    p = sub.add_parser("map", help="compute the 2-D map of the current embeddings (or pick one)")
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--use", default="", metavar="MAP_ID",
                   help="show this stored map (its embedding set becomes current); computes "
                   "nothing")  # fmt: skip
    p.add_argument("--method", choices=["umap", "pca"], default="umap")
    p.add_argument("--n-neighbors", type=_POSITIVE_INT, default=15)
    p.add_argument("--min-dist", type=_NON_NEGATIVE_FLOAT, default=0.1)
    p.add_argument(
        "--epochs",
        type=_POSITIVE_INT,
        default=None,
        help="UMAP layout epochs (default: by map size)",
    )
    p.add_argument(
        "--pca-dims",
        type=_NON_NEGATIVE_INT,
        default=MapConfig.pca_dims,
        help="PCA dimensions UMAP's neighbour search runs in (0: the full embeddings)",
    )
    p.add_argument("--seed", type=_NON_NEGATIVE_INT, default=0)
    p.set_defaults(func=_cmd_map)

    p = sub.add_parser("export", help="export labels, predictions or embeddings")
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument(
        "--format",
        choices=["csv", "imagefolder", "label-studio", "lightly", "embeddings-csv"],
        default="csv",
        help="csv: labels; imagefolder: a folder per class; label-studio: tasks JSON and PNG "
        "previews to import into Label Studio; "
        "lightly: .lightly/predictions of the latest model; embeddings-csv: Lightly's CSV",
    )
    p.add_argument("--dest", required=True,
                   help="a file (csv, embeddings-csv) or a folder (the other formats), local or "
                   "s3://; a relative path is taken from the working folder")  # fmt: skip
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing file (csv, embeddings-csv, the Label Studio tasks) "
                   "or existing ImageFolder copies")  # fmt: skip
    p.add_argument("--document-root", default="",
                   help="label-studio: Label Studio's LOCAL_FILES_DOCUMENT_ROOT, which must hold "
                   "--dest (default: --dest itself)")  # fmt: skip
    p.add_argument("--task", default="bps-classification", help="lightly: prediction task")
    _add_location_args(p, "S3 destination")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("select", help="select the next samples to label (a selection round)")
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--strategy", default="default", choices=NAMED_STRATEGIES)
    p.add_argument("--n", type=_POSITIVE_INT, help="how many samples (default: the config's "
                   "n_samples or proportion_samples)")  # fmt: skip
    p.add_argument("--seed", type=_NON_NEGATIVE_INT, default=None,
                   help="default: a fresh seed per round, printed and recorded")  # fmt: skip
    p.add_argument(
        "--reinclude-selected",
        action="store_true",
        help="also pick samples that earlier rounds picked (default: left out)",
    )
    p.add_argument("--balance-by", action="append", metavar="COLUMN",
                   help="equal shares per value of a metadata column ('prediction': the "
                   "model's class); repeatable")  # fmt: skip
    p.add_argument("--config", type=Path, help="a Lightly selection config JSON")
    p.add_argument("--user", default="cli")
    p.add_argument(
        "--show", type=_NON_NEGATIVE_INT, default=10, help="print this many selected keys"
    )
    p.set_defaults(func=_cmd_select)

    p = sub.add_parser("train", help="train a model on the labels and predict every sample")
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument(
        "--model",
        choices=["logreg", "knn", "finetune"],
        default="logreg",
        help="finetune: train the SimCLR backbone with a linear head (slower)",
    )
    p.add_argument(
        "--epochs", type=_POSITIVE_INT, default=10, help="finetune: passes over the labels"
    )
    p.add_argument("--group-by", help="metadata column for grouped cross-validation "
                   "(default: well, when present)")  # fmt: skip
    p.add_argument("--user", default="cli")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("simulate", help="compare strategies on data with known labels")
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--truth", type=Path, required=True, help="CSV: filename plus label columns")
    p.add_argument("--label-column", required=True)
    p.add_argument("--group-column", help="biological source for the test split, e.g. well")
    p.add_argument("--strategies", default="default,random,diversity,uncertainty,hybrid")
    p.add_argument("--batch", type=_POSITIVE_INT, default=20)
    p.add_argument("--rounds", type=_POSITIVE_INT, default=10)
    p.add_argument("--seeds", type=_POSITIVE_INT, default=10,
                   help="repeats with other splits and starts; with few test samples of a class, "
                   "a handful of seeds can rank strategies by luck")  # fmt: skip
    p.add_argument(
        "--initial", type=_POSITIVE_INT, help="labels to start from (default: one batch)"
    )
    p.add_argument("--test-fraction", type=_FRACTION, default=0.25)
    p.add_argument("--model", choices=["logreg", "knn"], default="logreg")
    p.add_argument("--out", type=Path, required=True, help="curve CSV; a PNG is written beside")
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser("demo", help="create the demo dataset and project if missing")
    p.add_argument("dir", type=Path, nargs="?", default=Path("demo"), metavar="DIR")
    p.add_argument(
        "--train-seconds",
        type=_POSITIVE_FLOAT,
        default=DEMO_TRAIN_SECONDS,
        help="SimCLR time budget",
    )
    p.add_argument("--no-embeddings", action="store_true", help="skip embeddings and the map")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("app", help="start the web app on a project")
    p.add_argument("project_dir", nargs="?", default="demo/project", metavar="PROJECT_DIR")
    p.add_argument("--port", type=_PORT, default=DEFAULT_PORT)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--production", action="store_true",
                   help="hide error details from browsers (shared deployments)")  # fmt: skip
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer requests for this Host name (e.g. behind a proxy); "
                   "repeatable; see [server] allowed_hosts in server.toml")  # fmt: skip
    p.set_defaults(func=_cmd_app)
    return parser


def db_error_message(exc: sqlite3.DatabaseError) -> str:
    """One line for an SQLite error that reached the command line."""
    msg = str(exc)
    if "disk is full" in msg:
        return "project.db: the disk is full; free space and retry"
    if any(s in msg for s in ("malformed", "not a database", "disk image")):
        return f"project.db is damaged ({msg}); restore it from a backup"
    return f"project.db: {msg}"


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command; user errors print one line to stderr and exit with status 2."""
    from bps_core.exports import ExportExistsError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ExportExistsError as exc:
        _Console.end_line()
        print(f"error: {exc.path} already exists; pass --overwrite to replace it", file=sys.stderr)
        return 2
    except (BpsError, FileExistsError, FileNotFoundError, ValueError) as exc:
        _Console.end_line()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as exc:
        print(f"error: {db_error_message(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # disk full, permission denied: one line, never a traceback
        from bps_core.atomic import os_error_reason

        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{os_error_reason(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
