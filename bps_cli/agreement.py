"""``double-label``, ``agreement`` and ``adjudicate``: blind double labeling from the shell."""

from __future__ import annotations

import argparse
import getpass
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

from bps_cli._common import AMBIGUOUS_FILES, NON_NEGATIVE_INT, UNKNOWN_FILES, number, print_skipped
from bps_core import verbs
from bps_core.verbs import BpsError

if TYPE_CHECKING:
    from bps_cli._common import Commands

SHARE = number(float, 1e-9, "a share above 0 and at most 1", high=1.0)


def _fig(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def _cmd_double_label(args: argparse.Namespace) -> int:
    with verbs.Project.open(args.project_dir) as project:
        if args.off:
            off = verbs.clear_double_labeling(project)
            if off is None:
                print("double labeling was never set; nothing to turn off")
            else:
                print(f"double labeling is off; the assignments of {', '.join(off.labelers)} "
                      "and every label are kept")  # fmt: skip
            return 0
        if not args.labelers:
            raise BpsError("--labelers: give two or more names, e.g. --labelers alice,bob")
        names = tuple(n.strip() for n in args.labelers.split(",") if n.strip())
        settings = verbs.DoubleLabelingSettings(
            labelers=names, share=args.share, blind=not args.not_blind, seed=args.seed
        )
        change = verbs.set_double_labeling(project, settings)
    mode = "blind" if settings.blind else "not blind"
    print(f"double labeling on ({mode}): {change.n_samples} samples ({settings.share:.0%}) "
          f"assigned to each of {', '.join(settings.labelers)}")  # fmt: skip
    print(f"  {change.n_added} assignments added, {change.n_removed} removed"
          + (f", {change.n_kept_labeled} kept because already labeled"
             if change.n_kept_labeled else ""))  # fmt: skip
    return 0


def _cmd_agreement(args: argparse.Namespace) -> int:
    for path in (args.out, args.disagreements):
        if path is not None and path.exists() and not args.overwrite:
            raise BpsError(f"{path} already exists; pass --overwrite to replace it")
    with verbs.Project.open(args.project_dir) as project:
        report = verbs.agreement_report(project)
        table = verbs.disagreements(project, include_adjudicated=True)
    if report.setting is None:
        print("double labeling was never set: run 'bps-labeler double-label PROJECT_DIR "
              "--labelers A,B --share 0.2' first")  # fmt: skip
        return 0
    state = "on" if report.setting.enabled else "off"
    print(f"double labeling {state}, {report.n_assigned} samples assigned to two or more "
          f"labelers; {report.n_disputed} disagreements open, {report.n_adjudicated} "
          "adjudicated")  # fmt: skip
    for p in report.progress:
        print(f"  {p.user}: {p.labeled} of {p.assigned} labeled")
    for _, r in report.tables.pairs.iterrows():
        note = f" ({r.note})" if r.note else ""
        print(f"  Cohen's kappa {r.labeler_a} / {r.labeler_b}: {_fig(r.kappa)} on {r.n} "
              f"samples{note}")  # fmt: skip
    for _, r in report.tables.overall.iterrows():
        note = f" ({r.note})" if r.note else ""
        print(f"  {r.measure}: {_fig(r.value)} on {r.n} samples{note}")
    if args.out is not None:
        verbs.write_table_csv(report.to_frame(), args.out)
        print(f"wrote {args.out}")
    if args.disagreements is not None:
        verbs.write_table_csv(table.drop(columns=["key"]), args.disagreements)
        print(f"wrote {args.disagreements} ({len(table)} disagreements)")
    return 0


def _cmd_adjudicate(args: argparse.Namespace) -> int:
    with verbs.Project.open(args.project_dir) as project:
        data = verbs.read_user_file(args.labels, "decisions CSV")
        report = verbs.adjudicate_csv(project, data, str(args.labels), user=args.user)
    print(f"adjudicated {report.n_labeled} samples from {args.labels} as reviewer {args.user!r}")
    print_skipped(
        [(UNKNOWN_FILES, report.unknown_files), (AMBIGUOUS_FILES, report.ambiguous_files),
         ("rows with an empty label", report.empty_labels)],
        report.bad_rows, "rows with a class name that cannot be stored",
    )  # fmt: skip
    return 0


def add_double_label(sub: Commands) -> None:
    """Registers ``double-label``."""
    p = sub.add_parser("double-label", help="assign a share of the samples to two or more "
                       "labelers, who label them blind; --off turns it off")  # fmt: skip
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--labelers", default="", metavar="A,B[,...]",
                   help="two or more user names, as typed in the app's sidebar")  # fmt: skip
    p.add_argument("--share", type=SHARE, default=0.2,
                   help="share of the good samples every labeler labels (default 0.2)")  # fmt: skip
    p.add_argument("--seed", type=NON_NEGATIVE_INT, default=0, help="seeds the draw")
    p.add_argument("--not-blind", action="store_true",
                   help="labelers may see each other's labels")  # fmt: skip
    p.add_argument("--off", action="store_true",
                   help="turn double labeling off (assignments and labels are kept)")  # fmt: skip
    p.set_defaults(func=_cmd_double_label)


def add_agreement(sub: Commands) -> None:
    """Registers ``agreement``."""
    p = sub.add_parser("agreement", help="the labelers' agreement (Cohen's kappa per pair; "
                       "Fleiss' kappa and Krippendorff's alpha with 3+)")  # fmt: skip
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--out", type=Path, default=None, metavar="FILE.csv",
                   help="write every figure (pairs, per class, all) to this CSV")  # fmt: skip
    p.add_argument("--disagreements", type=Path, default=None, metavar="FILE.csv",
                   help="write the disagreements: each labeler's label, any decision")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace existing CSVs")
    p.set_defaults(func=_cmd_agreement)


def add_adjudicate(sub: Commands) -> None:
    """Registers ``adjudicate``."""
    p = sub.add_parser("adjudicate", help="record a reviewer's decisions on disagreements "
                       "from a filename,label CSV")  # fmt: skip
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--labels", required=True, type=Path, metavar="FILE.csv",
                   help="columns filename,label: the decided class per sample")  # fmt: skip
    p.add_argument("--user", default=os.environ.get("BPS_USER") or getpass.getuser(),
                   help="the reviewer (default: $BPS_USER, else the login name)")  # fmt: skip
    p.set_defaults(func=_cmd_adjudicate)
