"""A real PostgreSQL server for tests: Debian's ``postgresql`` binaries, ``initdb`` into a
temporary folder and ``pg_ctl`` on a free loopback port, run as the ``postgres`` user when the
tests run as root (PostgreSQL refuses to run as root). Each test gets its own empty database.

In CI (``CI`` set) a missing or failing server fails the tests; elsewhere they are skipped with
the reason (install it with ``apt-get install -y postgresql``)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.helpers import free_port

#: The superuser initdb creates; connections from loopback are trusted (no password).
SUPERUSER = "postgres"


@dataclass
class PgServer:
    """A running test cluster: its port, and a superuser connection for admin work."""

    port: int
    host: str = "127.0.0.1"

    def url(self, dbname: str, user: str = SUPERUSER) -> str:
        return f"postgresql://{user}@{self.host}:{self.port}/{dbname}"

    def admin(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.url(dbname), autocommit=True)

    def new_database(self) -> str:
        """Creates an empty database; returns its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_bin_dir() -> Path | None:
    """The newest installed PostgreSQL's ``bin`` folder (Debian layout), or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_server_user(args: list[str]) -> list[str]:
    """PostgreSQL will not run as root: run its programs as ``postgres`` then."""
    return ["runuser", "-u", SUPERUSER, "--", *args] if os.geteuid() == 0 else args


def _run(args: list[str]) -> None:
    done = subprocess.run(_as_server_user(args), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed: {(done.stderr or done.stdout)[-800:]}")


def start_server() -> Iterator[PgServer]:
    """Starts a throwaway cluster; yields it; stops it and deletes its folder.

    Raises:
        RuntimeError: the binaries are missing or the server did not start.
    """
    bindir = pg_bin_dir()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install -y postgresql)")
    root = Path(tempfile.mkdtemp(prefix="bps-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, SUPERUSER)
        shutil.chown(sock, SUPERUSER)
    port = free_port()
    try:
        _run([str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
              "-E", "UTF8", "--locale=C.UTF-8"])  # fmt: skip
        # fsync off: the tests kill client processes, never this server, so durability across
        # a server crash is not what they test, and it saves seconds per test database.
        opts = (
            f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        _run([str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"),
              "-w", "-t", "60", "start"])  # fmt: skip
    except Exception:
        shutil.rmtree(root, ignore_errors=True)
        raise
    try:
        yield PgServer(port=port)
    finally:
        _run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(root, ignore_errors=True)
