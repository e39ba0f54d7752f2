"""The ``bps-labeler`` parser, assembled from the command groups, and ``main``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bps_cli import (
    agreement,
    app,
    data,
    datasources,
    embeddings,
    export,
    flags,
    label_issues,
    predictions,
    results,
    reviews,
    selection,
    tags,
)
from bps_cli._common import Console
from bps_core.verbs import BpsError, database_errors

if TYPE_CHECKING:
    from bps_cli._common import Commands

#: Every command, in the order ``bps-labeler --help`` lists them.
COMMANDS: tuple[Callable[[Commands], None], ...] = (
    data.add_synth, data.add_init, data.add_ingest,
    datasources.add_datasource, datasources.add_writeback, datasources.add_copy,
    data.add_label, data.add_classes, data.add_info, data.add_migrate,
    agreement.add_double_label, agreement.add_agreement, agreement.add_adjudicate,
    embeddings.add_embed, embeddings.add_embeddings, embeddings.add_map,
    export.add_export,
    selection.add_select, selection.add_train, selection.add_simulate,
    results.add_report,
    flags.add_flags,
    reviews.add_review, reviews.add_reviews,
    label_issues.add_label_issues,
    predictions.add_predictions, predictions.add_model_disagreements,
    tags.add_tag, tags.add_tags,
    data.add_demo,
    app.add_app,
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The ``bps-labeler`` argument parser: one subcommand per entry of ``COMMANDS``."""
    parser = argparse.ArgumentParser(
        prog="bps-labeler", description="Curate and label 16-bit microscopy crops."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command; user errors print one line to stderr and exit with status 2."""
    from bps_core.verbs import ExportExistsError

    args = build_parser().parse_args(argv)
    try:
        with database_errors():  # an SQLite error: one line (damaged, disk full), as ProjectError
            return int(args.func(args))
    except ExportExistsError as exc:
        Console.end_line()
        print(f"error: {exc.path} already exists; pass --overwrite to replace it", file=sys.stderr)
        return 2
    except (BpsError, FileExistsError, FileNotFoundError, ValueError) as exc:
        Console.end_line()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # disk full, permission denied: one line, never a traceback
        from bps_core.verbs import os_error_reason

        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{os_error_reason(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
