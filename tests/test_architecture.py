"""Layering rules: the core never imports the UI or the command line, and the app never
imports the command line."""

from __future__ import annotations

import ast
from pathlib import Path

import bps_app
import bps_core

CORE = Path(bps_core.__file__).parent
APP = Path(bps_app.__file__).parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core__never_imports_streamlit_or_app_glue() -> None:
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 10
    offenders = [str(f) for f in files if _imports(f) & {"streamlit", "bps_app"}]
    assert offenders == []


def test_core__never_imports_the_command_line() -> None:
    files = sorted(CORE.rglob("*.py"))
    offenders = [str(f) for f in files if "bps_cli" in _imports(f)]
    assert offenders == []


def test_app__never_imports_the_command_line() -> None:
    files = sorted(APP.rglob("*.py"))
    assert files
    offenders = [str(f) for f in files if "bps_cli" in _imports(f)]
    assert offenders == []


def test_core__knows_neither_the_cli_module_nor_the_apps_environment_variable() -> None:
    assert not (CORE / "cli.py").exists()
    assert not (CORE / "__main__.py").exists()  # `python -m bps_cli` runs the command line
    offenders = [str(f) for f in sorted(CORE.rglob("*.py")) if "BPS_PROJECT" in f.read_text()]
    assert offenders == []
