"""Datasource commands: ``datasource``, ``writeback`` and ``copy``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from bps_cli._common import (
    POSITIVE_INT,
    add_location_args,
    location_config,
    progress_bar,
    user_text,
)
from bps_core.verbs import BpsError

if TYPE_CHECKING:
    from bps_cli._common import Commands
    from bps_core.verbs import AccessReport


def _print_access(report: AccessReport) -> bool:
    print(f"{report.config.id} ({report.config.purpose}): {report.config.uri}")
    for row in report.rows():
        detail = f"  {row['detail']}" if row["detail"] else ""
        code = f" [{row['code']}]" if row["code"] else ""
        print(f"  {row['permission']:<9} {row['result']}{code}{detail}")
    print(f"  => {report.headline()}")
    return report.ok


def _cmd_datasource(args: argparse.Namespace) -> int:
    from bps_core.verbs import (
        Project,
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
                output=location_config(args, args.dest, id="output", purpose="output")
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
    from bps_core import verbs

    with verbs.Project.open(args.project_dir) as project, progress_bar("write-back") as progress:
        parts = tuple(p.strip() for p in args.parts.split(",") if p.strip())
        settings = verbs.WritebackSettings(parts=parts, task=args.task)
        report = verbs.writeback(project, settings, progress)
    print(report.summary())
    for part, why in report.skipped.items():
        print(f"  skipped {part}: {why}")
    for key, why in list(report.failed.items())[:5]:
        print(f"  failed {key}: {why}")
    return 1 if report.failed else 0


def _cmd_copy(args: argparse.Namespace) -> int:
    from bps_core.verbs import CopySelection, CopySettings, Project, copy

    if args.round is not None:
        selection = CopySelection(kind="round", round=args.round)
    elif args.classes:
        classes = tuple(c.strip() for c in args.classes.split(",") if c.strip())
        selection = CopySelection(kind="classes", classes=classes)
    elif args.keys_file:
        keys = user_text(args.keys_file, "keys file").splitlines()
        selection = CopySelection(kind="keys", keys=tuple(k.strip() for k in keys if k.strip()))
    else:
        selection = CopySelection(kind="all")
    dest = location_config(args, args.dest, id="copy-dest", purpose="output")
    with Project.open(args.project_dir) as project:
        if args.keys_file:  # name the line, never echo it: the file may be any file
            known = set(project.samples().key)
            bad = [n for n, k in enumerate(keys, start=1) if k.strip() and k.strip() not in known]
            if bad:
                raise BpsError(
                    f"{args.keys_file}: line {bad[0]} is not a sample key of this project "
                    f"({len(bad)} such lines); write one key (datasource:relative/path) per line"
                )
        with progress_bar("copy") as progress:
            settings = CopySettings(dest=dest, selection=selection, overwrite=args.overwrite)
            report = copy(project, settings, progress)
    print(report.summary())
    for key, why in list(report.failed.items())[:5]:
        print(f"  failed {key}: {why}")
    for key, other in list(report.collisions.items())[:5]:
        print(f"  not copied {key!r}: it names the same file as {other!r} in {args.dest}")
    return 1 if report.failed or report.collisions else 0


def add_datasource(sub: Commands) -> None:
    """Registers ``datasource``."""
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
    add_location_args(p, "output")
    p.set_defaults(func=_cmd_datasource)


def add_writeback(sub: Commands) -> None:
    """Registers ``writeback``."""
    from bps_core.verbs import PARTS as WRITEBACK_PARTS

    p = sub.add_parser("writeback", help="write results to the output in Lightly's .lightly/")
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--parts", default=",".join(WRITEBACK_PARTS),
                   help=f"comma-separated, from {','.join(WRITEBACK_PARTS)}")  # fmt: skip
    p.add_argument("--task", default="bps-classification", help="prediction task name")
    p.set_defaults(func=_cmd_writeback)


def add_copy(sub: Commands) -> None:
    """Registers ``copy``."""
    p = sub.add_parser("copy", help="copy samples' files to another bucket or folder")
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--dest", required=True, help="s3://BUCKET/PREFIX or a folder")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--round", type=POSITIVE_INT, help="the samples of this selection round")
    what.add_argument("--classes", default="", help="samples labeled with these classes (a,b)")
    what.add_argument("--keys-file", default="", help="a file of sample keys, one per line")
    p.add_argument("--overwrite", action="store_true", help="replace differing objects")
    add_location_args(p, "destination")
    p.set_defaults(func=_cmd_copy)
