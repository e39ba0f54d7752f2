"""``app``: start the web app on a project."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from bps_cli._common import PORT

if TYPE_CHECKING:
    from bps_cli._common import Commands

DEFAULT_PORT = 8501


def _cmd_app(args: argparse.Namespace) -> NoReturn:
    from bps_app.serve import app_command, app_script
    from bps_core.verbs import Project

    project_dir = Path(args.project_dir).resolve()
    Project.open(project_dir).close()  # fail early, with the store's message
    cmd, env = app_command(
        project_dir, args.host, args.port, production=args.production,
        allow_hosts=tuple(args.allow_host),
    )  # fmt: skip
    url = f"http://{args.host}:{args.port}"
    print(f"BPS Labeler on {project_dir}\n  open {url}\n  (Ctrl+C stops it)", flush=True)
    os.chdir(app_script().parent)
    # Replace this process with the server, so signals (Ctrl+C, terminate) reach it directly
    # and no orphaned server outlives its launcher.
    os.execve(sys.executable, cmd, env)


def add_app(sub: Commands) -> None:
    """Registers ``app``."""
    p = sub.add_parser("app", help="start the web app on a project")
    p.add_argument("project_dir", nargs="?", default="demo/project", metavar="PROJECT_DIR")
    p.add_argument("--port", type=PORT, default=DEFAULT_PORT)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--production", action="store_true",
                   help="hide error details from browsers (shared deployments)")  # fmt: skip
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer requests for this Host name (e.g. behind a proxy); "
                   "repeatable; see [server] allowed_hosts in server.toml")  # fmt: skip
    p.set_defaults(func=_cmd_app)
