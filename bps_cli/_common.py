"""What the command groups share.

Stderr lines and progress bars, number types for argparse, S3 location flags, and small
readers of the user's files.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from bps_core.verbs import BpsError

if TYPE_CHECKING:
    from typing import TypeAlias

    from bps_core.verbs import DatasourceConfig

    #: What ``parser.add_subparsers()`` returns: each command group adds its commands to it.
    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


class Console:
    """Keeps stderr lines apart.

    A counter written with a carriage return (no newline) is ended before the next line, bar
    or error starts.
    """

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
def progress_bar(desc: str) -> Iterator[Callable[[float], None]]:
    """A tqdm bar driven by a core progress callback (fractions in [0, 1]).

    The bar appears at the first progress report, so a command that fails its checks first
    prints its error alone, not under an empty bar.
    """
    from tqdm import tqdm

    bar: tqdm | None = None

    def update(fraction: float) -> None:
        nonlocal bar
        if bar is None:
            Console.end_line()
            bar = tqdm(total=100, desc=desc, unit="%", bar_format="{l_bar}{bar}| {elapsed}")
        bar.update(max(0, round(fraction * 100) - bar.n))

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()
        Console.end_line()


def number(kind: type, low: float, what: str, high: float | None = None) -> Callable[[str], float]:
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


POSITIVE_INT = number(int, 1, "a whole number of at least 1")
NON_NEGATIVE_INT = number(int, 0, "a whole number of at least 0")
POSITIVE_FLOAT = number(float, 1e-9, "a number above 0")
NON_NEGATIVE_FLOAT = number(float, 0.0, "a number of at least 0")
FRACTION = number(float, 1e-9, "a number between 0 and 1 (exclusive)", high=1 - 1e-9)
PORT = number(int, 1, "a port number from 1 to 65535", high=65535)


def add_location_args(p: argparse.ArgumentParser, what: str) -> None:
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
        "--session-duration", type=POSITIVE_INT, default=3600, help="--role-arn session, s"
    )
    p.add_argument("--region", default="", help="bucket region, e.g. us-west-2")
    p.add_argument("--endpoint-url", default="", help="S3-compatible endpoint (MinIO, Ceph ...)")
    p.add_argument(
        "--allow-private-endpoint", action="store_true",
        help="let --endpoint-url be a loopback or private address (MinIO on this machine)",
    )  # fmt: skip


def location_config(
    args: argparse.Namespace, where: str, *, id: str, purpose: str
) -> DatasourceConfig:
    """A datasource config from ``s3://...`` plus auth flags, or a local folder."""
    from bps_core.verbs import DatasourceConfig

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


def user_text(path: str | Path, what: str) -> str:
    """A small text file the user named, or one clear error (never its content)."""
    from bps_core.verbs import read_user_file

    try:
        return read_user_file(path, what, max_bytes=64 * 1024 * 1024).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BpsError(f"{path}: the {what} is not UTF-8 text (byte {exc.start})") from None


def clip(text: str, limit: int = 80) -> str:
    """A value from a user's file, on one line and at most ``limit`` characters."""
    flat = repr(text)[1:-1]
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


#: The skipped file-name lists an import report keeps, with what the CLI calls them.
UNKNOWN_FILES = "unknown file names"
AMBIGUOUS_FILES = "ambiguous file names (same basename in several folders)"


def print_skipped(
    lists: Sequence[tuple[str, Sequence[str]]],
    bad_rows: Sequence[tuple[int, str]],
    bad_rows_are: str,
) -> None:
    """Prints what a CSV import skipped: each non-empty list with an example, bad rows by line.

    Args:
        lists: (what they are, the skipped names) pairs, e.g. ``(UNKNOWN_FILES, ...)``.
        bad_rows: (line, reason) of the rows refused one by one.
        bad_rows_are: What the bad rows are, e.g. "rows that cannot be recorded".
    """
    for what, items in lists:
        if items:
            print(f"  skipped {len(items)} {what}, e.g. {clip(items[0])}")
    if bad_rows:
        lines = ", ".join(str(line) for line, _ in bad_rows[:10])
        more = f" and {len(bad_rows) - 10} more" if len(bad_rows) > 10 else ""
        first_line, first_reason = bad_rows[0]
        print(
            f"  skipped {len(bad_rows)} {bad_rows_are} (lines {lines}{more}); "
            f"line {first_line}: {first_reason}"
        )


def out_file(value: str, overwrite: bool) -> Path:
    """The ``--out FILE`` of a command, checked before any work: an existing file needs
    ``--overwrite``, and its folder must exist (a mistyped folder is an error, not a new folder).

    Raises:
        BpsError: what is wrong and what to do.
    """
    out = Path(value).expanduser().absolute()
    if out.is_dir():
        raise BpsError(f"--out: {out} is a folder; name a file in it, e.g. {out / 'out.csv'}")
    if out.exists() and not overwrite:
        raise BpsError(f"{out} already exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise BpsError(f"--out: folder {out.parent} does not exist; create it first")
    return out
