"""``export``: labels, predictions or embeddings to a file, a folder or S3."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from bps_cli._common import add_location_args, location_config, progress_bar
from bps_core.verbs import BpsError

if TYPE_CHECKING:
    from bps_cli._common import Commands
    from bps_core.verbs import EmbeddingsExportRecord, ExportReport


_SINGLE_FILE_FORMATS = ("csv", "embeddings-csv")


def _report_lines(report: ExportReport) -> list[str]:
    """What an export of labels or predictions wrote, as printed lines."""
    skipped = f", {report.n_skipped} already there" if report.n_skipped else ""
    failed = f", {len(report.failed)} failed (e.g. {report.failed[0]})" if report.failed else ""
    lines = [f"exported {report.n_written} items as {report.format}{skipped}{failed}"]
    if report.renamed:
        lines.append(f"  {len(report.renamed)} names made unique because they would collide:")
        lines += [f"    {r}" for r in report.renamed[:10]]
        if len(report.renamed) > 10:
            lines.append(f"    ... and {len(report.renamed) - 10} more")
    return lines


def _embeddings_line(record: EmbeddingsExportRecord) -> str:
    return f"wrote {record.n} embeddings ({record.dims} dims)"


def _export_local(args: argparse.Namespace, dest: Path) -> str:
    """Runs one export to a local path; returns the lines to print."""
    from bps_core import verbs

    if args.format == "embeddings-csv":
        settings = verbs.EmbeddingsExportSettings(dest=dest, overwrite=args.overwrite)
        with verbs.Project.open(args.project_dir) as project:
            return _embeddings_line(verbs.export_embeddings(project, settings))
    from bps_core.verbs import LS_CONFIG, LS_IMAGES, LS_TASKS

    document_root = Path(args.document_root).resolve() if args.document_root else None
    export = verbs.ExportSettings(format=args.format, dest=dest, overwrite=args.overwrite,
                                  task=args.task, document_root=document_root)  # fmt: skip
    with verbs.Project.open(args.project_dir) as project, progress_bar("export") as progress:
        report = verbs.export(project, export, progress)
    lines = _report_lines(report)
    if args.format == "label-studio":
        root = document_root or dest.resolve()
        lines.append(
            f"  Label Studio: start it with LOCAL_FILES_SERVING_ENABLED=true and "
            f"LOCAL_FILES_DOCUMENT_ROOT={root}, add a Local Storage with the absolute path "
            f"{dest.resolve() / LS_IMAGES} (no sync needed), create the project with the "
            f"labeling config {dest.resolve() / LS_CONFIG}, then import "
            f"{dest.resolve() / LS_TASKS}"
        )
    return "\n".join(lines)


def _export_s3(args: argparse.Namespace) -> int:
    """Exports to S3 (the verb builds it in a temporary folder, then uploads it)."""
    from bps_core import verbs

    location, name = args.dest.rstrip("/"), ""
    if args.format in _SINGLE_FILE_FORMATS:
        location, _, name = location.rpartition("/")
        if location == "s3:/" or not name:
            raise BpsError(f"{args.dest}: give a file name, e.g. s3://BUCKET/labels.csv")
    settings = verbs.OutputExportSettings(
        format=args.format, prefix="", overwrite=args.overwrite, task=args.task,
        destination=location_config(args, location + "/", id="export", purpose="output"),
        file_name=name,
    )  # fmt: skip
    with verbs.Project.open(args.project_dir) as project, progress_bar("export") as progress:
        record = verbs.export_to_output(project, settings, progress)
    report = record.upload
    lines = ([_embeddings_line(record.embeddings)] if record.embeddings is not None
             else _report_lines(record.export))  # fmt: skip
    first, rest = lines[0], lines[1:]
    print("\n".join([f"{first} to {args.dest}; upload: {report.summary()}", *rest]))
    for key, why in list(report.failed.items())[:5]:
        print(f"  failed {key}: {why}")
    return 1 if report.failed else 0


def _cmd_export(args: argparse.Namespace) -> int:
    if args.document_root and (args.format != "label-studio" or args.dest.startswith("s3://")):
        raise BpsError("--document-root is for --format label-studio to a local folder")
    if args.dest.startswith("s3://"):
        return _export_s3(args)
    # like any command line tool, a relative --dest is taken from the working folder
    dest = Path(args.dest).expanduser().absolute()
    message = _export_local(args, dest)
    first, _, rest = message.partition("\n")
    print(f"{first} to {dest}" + (f"\n{rest}" if rest else ""))
    return 0


def add_export(sub: Commands) -> None:
    """Registers ``export``."""
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
    add_location_args(p, "S3 destination")
    p.set_defaults(func=_cmd_export)
