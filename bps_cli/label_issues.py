"""``label-issues``: labeled samples ranked by how likely their label is wrong (cleanlab)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from bps_cli._common import POSITIVE_INT, out_file
from bps_core import verbs

if TYPE_CHECKING:
    from bps_cli._common import Commands


def _cmd_label_issues(args: argparse.Namespace) -> int:
    out = out_file(args.out, args.overwrite)
    settings = verbs.LabelIssuesSettings(model_id=args.model, top=args.top,
                                         likely_only=args.likely_only)  # fmt: skip
    with verbs.Project.open(args.project_dir) as project:
        report = verbs.label_issues(project, settings)
    report.write_csv(out)
    print(f"wrote {len(report.table):,} labels to {out}, most likely wrong first (model "
          f"{report.model_id}): {report.n_likely:,} of {report.n_scored:,} scored labels are "
          "likely issues (column likely_issue)")  # fmt: skip
    for note in report.notes:
        print(f"  note: {note}")
    return 0


def add_label_issues(sub: Commands) -> None:
    """Registers ``label-issues``."""
    p = sub.add_parser("label-issues",
                       help="rank labeled samples by how likely their label is wrong (cleanlab "
                       "on the model's out-of-fold predictions)")  # fmt: skip
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--out", required=True, metavar="FILE.csv",
                   help="columns filename, label, suggested, score (higher: more likely "
                   "wrong), then likely_issue, label_probability, suggested_probability, "
                   "key")  # fmt: skip
    p.add_argument("--model", default=None, metavar="MODEL_ID",
                   help="the model whose out-of-fold predictions to score (default: the latest "
                   "trained on the current embeddings)")  # fmt: skip
    p.add_argument("--top", type=POSITIVE_INT, default=None, metavar="N",
                   help="write only the N most likely wrong")  # fmt: skip
    p.add_argument("--likely-only", action="store_true",
                   help="write only the labels cleanlab flags as likely wrong")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=_cmd_label_issues)
