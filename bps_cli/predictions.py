"""Commands that review a model's predictions: ``predictions`` (a class's predictions by
confidence, optionally accepted above a threshold) and ``model-disagreements``."""

from __future__ import annotations

import argparse
import getpass
import os
from pathlib import Path
from typing import TYPE_CHECKING

from bps_cli._common import out_file
from bps_core import verbs

if TYPE_CHECKING:
    from bps_cli._common import Commands


def _out(path: str | None, overwrite: bool) -> Path | None:
    return out_file(path, overwrite) if path else None


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a probability from 0 to 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a probability from 0 to 1, got {text!r}")
    return value


#: Predictions printed when no --out is given.
SHOWN = 10


def _cmd_predictions(args: argparse.Namespace) -> int:
    out = _out(args.out, args.overwrite)
    settings = verbs.PredictionQueueSettings(args.cls, args.order, args.include_labeled,
                                             args.model)  # fmt: skip
    with verbs.Project.open(args.project_dir) as project:
        q = verbs.prediction_queue(project, settings)
        which = "samples" if args.include_labeled else "unlabeled samples"
        print(f"model {q.model_id} predicts {args.cls!r} for {len(q.keys):,} {which}")
        if out is not None:
            q.write_csv(out)
            print(f"wrote {out}")
        elif len(q.keys):  # no file asked for: the most (or least) confident, on the screen
            for row in q.table.head(SHOWN).itertuples():
                label = f"  (labeled {row.label})" if isinstance(row.label, str) else ""
                print(f"  {row.confidence:6.1%}  {row.filename}{label}")
            if len(q.keys) > SHOWN:
                print(f"  ... {len(q.keys) - SHOWN:,} more: --out FILE.csv writes them all")
        if args.accept_above is None:
            return 0
        sure = q.table[q.table.confidence >= args.accept_above]
        if not len(sure):
            print(f"none at {args.accept_above:.0%} probability or more: nothing accepted")
            return 0
        decisions = tuple(verbs.PredictionDecision(str(k), args.cls, int(e))
                          for k, e in zip(sure.key, sure.event_id, strict=True))  # fmt: skip
        done = verbs.accept_predictions(
            project, verbs.AcceptSettings(decisions, model=q.model_id), user=args.user
        )
    print(f"accepted {len(decisions):,} predictions at {args.accept_above:.0%} probability or "
          f"more as reviewer {args.user!r}: {done.n_labeled:,} labeled, {done.n_kept:,} labels "
          f"confirmed, {done.n_fixed:,} relabeled")  # fmt: skip
    return 0


def _cmd_disagreements(args: argparse.Namespace) -> int:
    out = _out(args.out, args.overwrite)
    settings = verbs.DisagreementSettings(args.model, args.include_changed)
    with verbs.Project.open(args.project_dir) as project:
        found = verbs.model_disagreements(project, settings)
    n_changed = int(found.table.changed.sum())
    since = f" ({n_changed:,} relabeled since)" if n_changed else ""
    print(f"model {found.model_id}: {len(found.keys):,} labels its out-of-fold prediction "
          f"disagrees with{since}")  # fmt: skip
    if out is not None:
        found.write_csv(out)
        print(f"wrote {out} (most confident prediction first)")
    return 0


def add_predictions(sub: Commands) -> None:
    """Registers ``predictions``."""
    p = sub.add_parser("predictions", help="the samples the model puts in a class, by "
                       "confidence; optionally accept them as labels")  # fmt: skip
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--class", dest="cls", required=True, metavar="CLASS",
                   help="the predicted class to list")  # fmt: skip
    p.add_argument("--order", choices=verbs.PREDICTION_ORDERS, default="most_confident")
    p.add_argument("--include-labeled", action="store_true",
                   help="also samples that carry a label (default: unlabeled ones)")  # fmt: skip
    p.add_argument("--model", default=None, metavar="ID",
                   help="a model id (default: the latest on the current embeddings)")  # fmt: skip
    p.add_argument("--out", default=None, metavar="FILE.csv",
                   help="write filename, predicted, confidence, label, event_id")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--accept-above", type=_probability, default=None, metavar="P",
                   help="accept the predictions at probability P or more as labels "
                   "(source 'review')")  # fmt: skip
    p.add_argument("--user", default=os.environ.get("BPS_USER") or getpass.getuser(),
                   help="the reviewer (default: $BPS_USER, else the login name)")  # fmt: skip
    p.set_defaults(func=_cmd_predictions)


def add_model_disagreements(sub: Commands) -> None:
    """Registers ``model-disagreements``."""
    p = sub.add_parser("model-disagreements", help="labels the model's out-of-fold prediction "
                       "disagrees with, most confident first")  # fmt: skip
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--model", default=None, metavar="ID",
                   help="a model id (default: the latest on the current embeddings)")  # fmt: skip
    p.add_argument(
        "--include-changed",
        action="store_true",
        help="also labels changed since the model was trained (column 'changed')",
    )
    p.add_argument("--out", default=None, metavar="FILE.csv",
                   help="write filename, label, predicted, confidence, label_probability, "
                   "current, event_id, changed")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=_cmd_disagreements)
