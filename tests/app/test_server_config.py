"""The repository's Streamlit settings (``.streamlit/config.toml``, read by ``bps-labeler app``
and ``streamlit run`` from the repository folder)."""

from __future__ import annotations

import tomllib

from tests.helpers import ROOT


def test_config__no_full_garbage_collection_after_every_rerun() -> None:
    """Issue 20: Streamlit's post-run ``gc.collect(2)`` was a third of each queue keypress's
    server time at 77k samples (py-spy); the server leaves collection to Python."""
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False
