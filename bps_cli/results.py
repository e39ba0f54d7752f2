"""``report``: the share of a class per condition, corrected for the model's bias."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING

from bps_cli._common import NON_NEGATIVE_INT, POSITIVE_INT, number, progress_bar
from bps_core import verbs
from bps_core.verbs import BpsError

if TYPE_CHECKING:
    from bps_cli._common import Commands

LEVEL = number(float, 0.5, "a level from 0.5 to 0.999", high=0.999)


def _share(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.3f}"


def _cmd_report(args: argparse.Namespace) -> int:
    by = tuple(c.strip() for c in args.by.split(",") if c.strip())
    if not by:
        raise BpsError("--by: give one or more metadata columns, e.g. --by particle_type,dose_Gy")
    settings = verbs.ReportSettings(
        class_name=args.class_name, by=by, model_id=args.model, level=args.level,
        cluster=args.cluster, n_boot=args.n_boot, seed=args.seed, labeled=args.labeled,
        reviewed_only=args.reviewed_only,
    )  # fmt: skip
    out = Path(args.out).expanduser().absolute()
    if out.exists() and not args.overwrite:
        raise BpsError(f"{out} already exists; pass --overwrite to replace it")
    with verbs.Project.open(args.project_dir) as project, progress_bar("report") as bar:
        record = verbs.report(project, settings, bar)
    record.write_csv(out)
    t = record.table
    pct = f"{record.level:.0%}"
    print(f"{args.class_name!r} per {', '.join(by)}: {len(t)} groups, model {record.model_id}, "
          f"{int(t.n_labeled.sum())} labeled of {int(t.n_images.sum())} images")  # fmt: skip
    only = " (only they count as labeled)" if record.reviewed_only else ""
    print(f"{record.n_reviewed} of {record.n_labels} labels reviewed{only}")
    for _, r in t.head(args.show).iterrows():
        group = ", ".join(f"{c}={r[c]}" for c in by)
        ci = (f"{pct} CI {_share(r.ci_low)} to {_share(r.ci_high)}"
              if not math.isnan(r.ci_low) else "no interval")  # fmt: skip
        print(
            f"  {group}: raw {_share(r.raw_fraction)}, corrected "
            f"{_share(r.corrected_fraction)} ({ci}; {r.n_labeled} labeled of {r.n_images})"
        )
    if len(t) > args.show:
        print(f"  ... and {len(t) - args.show} more groups")
    notes = t.note[t.note != ""]
    if len(notes):
        print(f"  {len(notes)} groups have a note (see the 'note' column), e.g.: {notes.iloc[0]}")
    print(f"wrote {out}")
    return 0


def add_report(sub: Commands) -> None:
    """Registers ``report``."""
    p = sub.add_parser("report", help="a class's share per condition with intervals, "
                       "corrected for the model's bias (prediction-powered inference)")  # fmt: skip
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--class", dest="class_name", required=True, metavar="CLASS",
                   help="the class whose share to estimate")  # fmt: skip
    p.add_argument(
        "--by",
        required=True,
        metavar="COL[,COL...]",
        help="metadata columns that make the groups, e.g. particle_type,dose_Gy",
    )
    p.add_argument("--out", required=True, metavar="FILE.csv", help="the CSV to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--model", default=None, metavar="MODEL_ID",
                   help="default: the latest model on the current embeddings")  # fmt: skip
    p.add_argument("--level", type=LEVEL, default=0.95, help="confidence level (default 0.95)")
    p.add_argument(
        "--cluster",
        choices=verbs.REPORT_CLUSTERS,
        default=None,
        help="bootstrap whole mice or wells where a group has enough of them",
    )
    p.add_argument("--n-boot", type=POSITIVE_INT, default=2000,
                   help="bootstrap replicates (at least 100)")  # fmt: skip
    p.add_argument("--seed", type=NON_NEGATIVE_INT, default=0, help="bootstrap seed")
    p.add_argument("--labeled", choices=verbs.REPORT_LABELED, default="all",
                   help="random-only: only labels of random selection rounds correct the "
                   "predictions (a random sample, as the method assumes)")  # fmt: skip
    p.add_argument("--reviewed-only", action="store_true",
                   help="only reviewed labels count as labeled; unreviewed ones count as "
                   "unlabeled (their predictions used)")  # fmt: skip
    p.add_argument("--show", type=NON_NEGATIVE_INT, default=20, help="print this many groups")
    p.set_defaults(func=_cmd_report)
