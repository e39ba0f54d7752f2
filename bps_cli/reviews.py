"""Reviewer commands: ``review`` (record verdicts from a CSV) and ``reviews`` (review states)."""

from __future__ import annotations

import argparse
import getpass
import os
from pathlib import Path
from typing import TYPE_CHECKING

from bps_cli._common import AMBIGUOUS_FILES, UNKNOWN_FILES, print_skipped
from bps_core import verbs
from bps_core.verbs import BpsError

if TYPE_CHECKING:
    from bps_cli._common import Commands


def _cmd_review(args: argparse.Namespace) -> int:
    with verbs.Project.open(args.project_dir) as project:
        data = verbs.read_user_file(args.verdicts, "verdicts CSV")
        report = verbs.import_verdicts_csv(project, data, str(args.verdicts), user=args.user)
        counts = project.reviews.counts()
    c = report.counts
    print(f"recorded {report.n_recorded} verdicts from {args.verdicts} as reviewer {args.user!r}: "
          f"{c['accept']} accepted, {c['fix']} fixed, {c['reject']} rejected")  # fmt: skip
    if report.no_verdict:
        print(f"  left {report.no_verdict} rows without a verdict for later")
    print_skipped(
        [(UNKNOWN_FILES, report.unknown_files), (AMBIGUOUS_FILES, report.ambiguous_files)],
        report.bad_rows, "rows that cannot be recorded",
    )  # fmt: skip
    print(f"{counts.n_reviewed:,} of {counts.n_labeled:,} current labels are reviewed")
    return 0


def _cmd_reviews(args: argparse.Namespace) -> int:
    out = Path(args.out).expanduser().absolute() if args.out else None
    if out is not None and out.exists() and not args.overwrite:
        raise BpsError(f"{out} already exists; pass --overwrite to replace it")
    with verbs.Project.open(args.project_dir) as project:
        summary = verbs.review_summary(project)
    counts = summary.counts
    print(f"{counts.n_reviewed:,} of {counts.n_labeled:,} current labels are reviewed")
    states = summary.table.review.value_counts()
    for state in verbs.REVIEW_STATES:
        if states.get(state, 0):
            print(f"  {state}: {int(states[state]):,}")
    v = counts.by_verdict
    print(f"verdicts given: {v['accept']:,} accept, {v['fix']:,} fix, {v['reject']:,} reject")
    for reviewer, n in counts.by_reviewer.items():
        print(f"  {reviewer}: {n:,}")
    if out is not None:
        summary.write_csv(out)
        print(f"wrote {out} (fill in 'verdict' and import it with 'bps-labeler review')")
    return 0


def add_review(sub: Commands) -> None:
    """Registers ``review``."""
    p = sub.add_parser("review", help="accept, fix or reject labels from a verdicts CSV")
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--verdicts", required=True, type=Path, metavar="FILE.csv",
                   help="columns filename, verdict (accept, fix, reject), label (the class a "
                   "fix sets), optional event_id (as 'reviews --out' writes)")  # fmt: skip
    p.add_argument("--user", default=os.environ.get("BPS_USER") or getpass.getuser(),
                   help="the reviewer (default: $BPS_USER, else the login name)")  # fmt: skip
    p.set_defaults(func=_cmd_review)


def add_reviews(sub: Commands) -> None:
    """Registers ``reviews``."""
    p = sub.add_parser("reviews", help="how many labels are reviewed; each label's review state")
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--out", default=None, metavar="FILE.csv",
                   help="write every current label with its review state and an empty "
                   "verdict column")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=_cmd_reviews)
