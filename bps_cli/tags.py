"""Tag commands: ``tag`` (add or remove a tag on samples a file names) and ``tags`` (the CSV)."""

from __future__ import annotations

import argparse
import getpass
import os
from pathlib import Path
from typing import TYPE_CHECKING

from bps_cli._common import AMBIGUOUS_FILES, UNKNOWN_FILES, out_file, print_skipped
from bps_core import verbs
from bps_core.verbs import BpsError

if TYPE_CHECKING:
    from bps_cli._common import Commands


def _cmd_tag(args: argparse.Namespace) -> int:
    path = args.keys_file or args.csv
    with verbs.Project.open(args.project_dir) as project:
        data = verbs.read_user_file(path, "keys file" if args.keys_file else "CSV")
        found = verbs.read_keys(project, data, str(path), csv_file=args.csv is not None)
        print_skipped(
            [(UNKNOWN_FILES, found.unknown), (AMBIGUOUS_FILES, found.ambiguous)], [], "rows"
        )
        if not found.keys:
            raise BpsError(f"{path} names no sample of this project; nothing tagged")
        settings = verbs.TagSettings(tuple(found.keys), args.tag, remove=args.remove)
        done = verbs.tag_samples(project, settings, user=args.user)
    verb = "removed" if args.remove else "added"
    print(f"{verb} tag {done.tag!r} on {done.n_changed:,} samples as {args.user!r}"
          + (f" ({done.n_unchanged:,} already were)" if done.n_unchanged else ""))  # fmt: skip
    return 0


def _cmd_tags(args: argparse.Namespace) -> int:
    out = out_file(args.out, args.overwrite)
    with verbs.Project.open(args.project_dir) as project:
        counts = project.tags.counts()
        n = verbs.write_tags_csv(project, out)
    for tag, count in counts.items():
        print(f"  {tag}: {count:,}")
    print(f"wrote {out}: {n:,} tagged samples (columns filename, tags)")
    return 0


def add_tag(sub: Commands) -> None:
    """Registers ``tag``."""
    p = sub.add_parser("tag", help="add (or --remove) a tag on the samples a file names")
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--tag", required=True, help="the tag, e.g. 'unsure' or 'ask an expert'")
    p.add_argument("--remove", action="store_true", help="remove the tag instead of adding it")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--keys-file", type=Path, metavar="FILE",
                       help="one sample per line: its key or relative path")  # fmt: skip
    which.add_argument("--csv", type=Path, metavar="FILE.csv",
                       help="a CSV whose 'filename' column names the samples")  # fmt: skip
    p.add_argument("--user", default=os.environ.get("BPS_USER") or getpass.getuser(),
                   help="who tags (default: $BPS_USER, else the login name)")  # fmt: skip
    p.set_defaults(func=_cmd_tag)


def add_tags(sub: Commands) -> None:
    """Registers ``tags``."""
    p = sub.add_parser("tags", help="write every tagged sample and its tags as CSV")
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument(
        "--out", required=True, metavar="FILE.csv",
        help="columns filename (the relative path) and tags (comma-separated)",
    )  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=_cmd_tags)
