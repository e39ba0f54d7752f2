"""Deployment defaults: bound to loopback, XSRF protection on, bounded uploads, and production
mode hides error details from browsers."""

from __future__ import annotations

from pathlib import Path

import tomllib

from bps_app.serve import app_command
from bps_cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]


def test_streamlit_config_keeps_safe_defaults() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    server = config["server"]
    assert server["address"] == "127.0.0.1"
    assert server["enableXsrfProtection"] is True
    assert server.get("enableCORS", True) is True
    assert 0 < server["maxUploadSize"] <= 200
    assert config["browser"]["gatherUsageStats"] is False


def _options(cmd: list[str]) -> dict[str, str]:
    flags = [c for c in cmd if c.startswith("--")]
    return {f: cmd[cmd.index(f) + 1] for f in flags}


def test_app_command__production_hides_error_details(tmp_path: Path) -> None:
    dev, env = app_command(tmp_path, "127.0.0.1", 8501)
    prod, _ = app_command(tmp_path, "127.0.0.1", 8501, production=True)
    assert env["BPS_PROJECT"] == str(tmp_path)
    assert _options(dev)["--server.address"] == "127.0.0.1"
    assert _options(dev)["--server.enableXsrfProtection"] == "true"
    assert "--client.showErrorDetails" not in dev
    assert _options(prod)["--client.showErrorDetails"] == "none"
    assert _options(prod)["--server.enableXsrfProtection"] == "true"
    args = build_parser().parse_args(["app", str(tmp_path), "--production"])
    assert args.production
    assert args.host == "127.0.0.1"


def test_deployment_docs_explain_login_and_shared_deployments() -> None:
    section = (ROOT / "docs" / "deployment.md").read_text()
    assert "st.login" in section
    assert "--production" in section
    assert "secrets.toml" in section
