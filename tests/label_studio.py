"""A real Label Studio server for the export tests.

Label Studio (PyPI ``label-studio``) pins Django and many other packages, so it lives in its own
virtualenv, never in ours: ``.cache/label-studio-venv`` under the repository (git-ignored),
created on first use and reused after (``BPS_LABEL_STUDIO_VENV`` names another folder). The
server runs on a free loopback port with a temporary data folder, local-file serving on and a
user created non-interactively with a known API token. Migrating a fresh Label Studio database
takes minutes, so ``label-studio init`` (migrations and the user) runs once into a template data
folder beside the virtualenv, and each server starts from a copy of it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.helpers import free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[1]
LABEL_STUDIO_VERSION = "1.23.2"
VENV = Path(os.environ.get("BPS_LABEL_STUDIO_VENV", ROOT / ".cache" / "label-studio-venv"))
USER, PASSWORD, TOKEN = "bps-test@example.com", "bps-test-password", "bps0test0token0123456789"


class LabelStudioUnavailable(RuntimeError):
    """Label Studio could not be installed or started here."""


def _exe(venv: Path) -> Path:
    return venv / ("Scripts/label-studio.exe" if os.name == "nt" else "bin/label-studio")


def ensure_installed(venv: Path = VENV) -> Path:
    """The ``label-studio`` executable of ``venv``, installing the pinned version once."""
    stamp = venv / f".installed-{LABEL_STUDIO_VERSION}"
    if stamp.exists() and _exe(venv).exists():
        return _exe(venv)
    try:
        if not (venv / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True,
                           capture_output=True, timeout=300)  # fmt: skip
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
             f"label-studio=={LABEL_STUDIO_VERSION}"],
            check=True, capture_output=True, timeout=1200,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        out = getattr(exc, "stderr", b"") or b""
        tail = out.decode(errors="replace")[-1500:] if isinstance(out, bytes) else str(out)
        raise LabelStudioUnavailable(
            f"cannot install label-studio into {venv}: {exc}\n{tail}"
        ) from None
    stamp.touch()
    return _exe(venv)


def _env(data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LATEST_VERSION_CHECK": "false",
        "COLLECT_ANALYTICS": "false",
    }


def ensure_template(exe: Path) -> Path:
    """A migrated Label Studio data folder holding the test user, made once and reused."""
    template = exe.parent.parent.parent / f"label-studio-data-{LABEL_STUDIO_VERSION}"
    if (template / ".ready").exists():
        return template
    tmp = template.with_name(f"{template.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        subprocess.run(
            [str(exe), "init", "--username", USER, "--password", PASSWORD, "--user-token", TOKEN,
             "--enable-legacy-api-token", "--quiet"],
            cwd=tmp, env=_env(tmp), stdin=subprocess.DEVNULL, capture_output=True, check=True,
            timeout=1200,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        out = getattr(exc, "stdout", b"") or b""
        shutil.rmtree(tmp, ignore_errors=True)
        raise LabelStudioUnavailable(
            f"label-studio init failed: {exc}\n{out.decode(errors='replace')[-1500:]}"
        ) from None
    (tmp / ".ready").touch()
    try:
        tmp.rename(template)
    except OSError:  # another session made it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return template


class LabelStudioServer:
    """``label-studio start`` serving local files from ``document_root``."""

    def __init__(self, exe: Path, data_dir: Path, document_root: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        shutil.copytree(ensure_template(exe), data_dir, dirs_exist_ok=True)
        env = {
            **_env(data_dir),
            "LOCAL_FILES_SERVING_ENABLED": "true",
            "LOCAL_FILES_DOCUMENT_ROOT": str(document_root),
        }
        self.log = data_dir / "server.log"
        self._log = self.log.open("wb")
        self.proc = subprocess.Popen(
            [str(exe), "start", "--no-browser", "--port", str(self.port),
             "--internal-host", "127.0.0.1"],
            cwd=data_dir, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        # The first start migrates a fresh database: generous.
        if not wait_for_http(f"{self.url}/health", self.proc, timeout=300, interval=0.5):
            self.stop()
            raise LabelStudioUnavailable(
                "label-studio did not start:\n" + self.log.read_text(errors="replace")[-3000:]
            )

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes, str]:
        """Status, body and content type of an API call with the test user's token."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        req.add_header("Authorization", f"Token {TOKEN}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read(), r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), exc.headers.get("Content-Type", "")

    def api(self, method: str, path: str, body: Any = None) -> Any:
        status, data, _ = self.request(method, path, body)
        if status >= 300:
            raise AssertionError(f"{method} {path}: HTTP {status}: {data[:2000]!r}")
        return json.loads(data)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self._log.close()
