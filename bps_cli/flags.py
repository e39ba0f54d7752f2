"""``flags``: poor images, exact and near-duplicates, split leaks and outliers, to a CSV."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from bps_cli._common import NON_NEGATIVE_INT, POSITIVE_INT, number, out_file, progress_bar
from bps_core import verbs

if TYPE_CHECKING:
    from bps_cli._common import Commands

SHARE = number(float, 0.0, "a number from 0 to 1", high=1.0)
RATIO = number(float, 1.0, "a number of at least 1")
PERCENTILE = number(float, 0.0, "a percentile from 0 to 100", high=100.0)

#: (option, FlagThresholds field, argparse type, help) of each threshold option.
_THRESHOLDS = (
    ("--dim-ratio", "dim_ratio", SHARE, "dim: 99th percentile below this x the median"),
    ("--saturated-share", "saturated_share", SHARE,
     "saturated: more than this share of pixels at the maximum"),
    ("--blurry-ratio", "blurry_ratio", SHARE, "blurry: sharpness below this x the median"),
    ("--empty-foreground", "empty_foreground", SHARE,
     "nearly empty: less than this share of pixels above the background"),
    ("--size-ratio", "size_ratio", RATIO, "odd size: area off the median by more than this"),
    ("--max-aspect", "max_aspect", RATIO, "odd aspect: longer over shorter side above this"),
    ("--near-duplicate-ratio", "near_duplicate_ratio", SHARE,
     "near-duplicate: a neighbour closer than this x the median distance to the k-th one"),
    ("--shift-ratio", "shift_ratio", SHARE,
     "near-duplicate too: a neighbour by shift-tolerant pixel descriptor closer than this x "
     "its median distance to the k-th one (finds crops shifted by a few pixels)"),
    ("--outlier-percentile", "outlier_percentile", PERCENTILE,
     "outlier: k-NN score above this percentile"),
    ("--k", "k", POSITIVE_INT, "neighbours of the outlier score"),
)  # fmt: skip


def _cmd_flags(args: argparse.Namespace) -> int:
    defaults = verbs.FlagThresholds()
    chosen = {f: getattr(args, f) for _, f, _, _ in _THRESHOLDS if getattr(args, f) is not None}
    thresholds = verbs.FlagThresholds(**{**defaults.__dict__, **chosen})
    settings = verbs.FlagSettings(
        thresholds=thresholds, fill_missing=not args.no_decode, group_by=args.group_by,
        exact_below=args.exact_below,
    )  # fmt: skip
    out = out_file(args.out, args.overwrite)
    with verbs.Project.open(args.project_dir) as project, progress_bar("flags") as bar:
        report = verbs.flags(project, settings, bar)
    result = report.result
    n = result.write_csv(out)
    if report.measured:
        print(f"measured {report.measured} images that had no pixel statistics")
    if report.described:
        print(f"computed the shift-tolerant descriptor of {report.described} images")
    if report.missing_stats:
        print(f"{report.missing_stats} samples have no pixel statistics (unreadable, or "
              "--no-decode): no pixel flags for them")  # fmt: skip
    print(f"{len(result.frame)} samples, {n} flagged:")
    for name, count in result.counts.items():
        print(f"  {name}: {count} ({verbs.FLAG_HELP[name]})")
    if result.embedding_version is None:
        print("  no embeddings: run bps-labeler embed for near-duplicates and outliers")
    pairs, leaks = result.pairs, result.leaks
    by = result.group_column or "no group column"
    print(f"{len(pairs)} duplicate or near-duplicate pairs; {len(leaks)} span two groups "
          f"({by}) and can leak across a grouped train/test split")  # fmt: skip
    found = pairs.found_by.value_counts()
    if len(found):
        print("  found by: " + ", ".join(f"{name} {n}" for name, n in found.items()))
    print(f"wrote {out}")
    return 0


def add_flags(sub: Commands) -> None:
    """Registers ``flags``."""
    p = sub.add_parser("flags", help="flag dim, saturated, blurry, empty and odd-sized images, "
                       "duplicates, near-duplicates, split leaks and outliers (CSV)")  # fmt: skip
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--out", required=True, metavar="FILE.csv",
                   help="the CSV to write: one row per flagged sample")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--no-decode", action="store_true",
                   help="do not decode samples without pixel statistics (no pixel flags for "
                   "them)")  # fmt: skip
    p.add_argument("--group-by", default="", metavar="COLUMN",
                   help="metadata column of the grouped split for the leak check "
                   "(default: well)")  # fmt: skip
    p.add_argument("--exact-below", type=NON_NEGATIVE_INT, default=verbs.FlagSettings().exact_below,
                   metavar="N", help="exact neighbour search below N samples, HNSW above "
                   "(default %(default)s)")  # fmt: skip
    defaults = verbs.FlagThresholds()
    for option, name, kind, text in _THRESHOLDS:
        p.add_argument(option, dest=name, type=kind, default=None,
                       help=f"{text} (default {getattr(defaults, name)})")  # fmt: skip
    p.set_defaults(func=_cmd_flags)
