"""An integer number box in a real browser: what is typed reaches the script as typed.

Streamlit's integer box reads its text with the browser's ``parseInt``, so "1e9" became 1 and
"3.7" became 3 before the script saw them, and Find similar ran for 1 or 3 samples. AppTest
sets values in Python and never meets ``parseInt``: only a browser shows it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from bps_core.embeddings import EmbedConfig, compute_embeddings
from bps_core.project import Project
from bps_core.projection import get_or_compute_map
from tests.browser.conftest import sign_in_and_open, wait_idle
from tests.browser.test_map_lasso import click_a_lonely_point

pytestmark = pytest.mark.browser


def _type(page, box, text: str) -> None:  # type: ignore[no-untyped-def]
    box.fill(text)
    box.press("Tab")  # the box hands its value over when it loses focus
    page.wait_for_timeout(300)
    wait_idle(page)


def test_find_similar__1e9_and_3_7_are_refused_as_typed_not_run_as_1_and_3(
    tiny_project: Project, page, serve
) -> None:
    compute_embeddings(tiny_project, EmbedConfig(method="pixels", image_size=32))
    get_or_compute_map(tiny_project)
    server = serve(tiny_project.folder)
    sign_in_and_open(page, server.url, "box-tester", "Explore and label")
    page.wait_for_selector(".js-plotly-plot .gl-container canvas", timeout=60_000)
    wait_idle(page)
    page.wait_for_timeout(1500)
    click_a_lonely_point(page, tiny_project)
    page.get_by_text("1 selected").wait_for(timeout=30_000)
    box = page.get_by_role("spinbutton", name="How many")
    find = page.get_by_role("button", name="Find similar images")
    errors = page.get_by_test_id("stAlertContentError")
    expect(box).to_have_value("48")  # an integer shows as one, not "48.00"
    expect(find).to_be_enabled()

    _type(page, box, "3.7")
    expect(box).to_have_value("3.7")  # not 3
    expect(errors.filter(has_text="How many: 3.7 is not a whole number; enter a whole number "
                         "from 1 to 1,000.")).to_have_count(1)  # fmt: skip
    expect(find).to_be_disabled()

    _type(page, box, "1e9")
    expect(box).to_have_value("1000000000")  # not 1
    expect(errors.filter(has_text="How many: 1,000,000,000 is more than 1,000; enter a number "
                         "from 1 to 1,000.")).to_have_count(1)  # fmt: skip
    expect(find).to_be_disabled()

    _type(page, box, "007")
    expect(box).to_have_value("7")
    expect(errors).to_have_count(0)
    find.click()
    expect(page.get_by_text(re.compile(r"The 7 unlabeled samples most similar"))).to_have_count(
        1, timeout=30_000
    )
