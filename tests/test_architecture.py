"""Layering rules: the core never imports the UI."""

from __future__ import annotations

import ast
from pathlib import Path

import bps_core

CORE = Path(bps_core.__file__).parent


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
