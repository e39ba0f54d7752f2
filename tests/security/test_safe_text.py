"""The escaping helpers for user-controlled text (bps_app.safe_text)."""

from __future__ import annotations

import re

import pytest

from bps_app.safe_text import md, plot_text

HOSTILE = [
    "![px](http://127.0.0.1:18999/beacon.png)",
    "[link](http://evil.example)",
    "<http://evil.example>",
    "<img src=x onerror=alert(1)>",
    "<b style=font-size:90px>BIG</b>",
    ":red[red] :material/home: $x^2$ **b** _i_ `c` ~~s~~",
    "# heading",
    "- item",
    "1. item",
    "a | b",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_md__every_markdown_special_is_escaped(text: str) -> None:
    out = md(text)
    # every ASCII punctuation character is backslash-escaped, so none can open a construct
    assert re.search(r"(?<!\\)[!\[\]()<>:*_`~$#|.-]", out.replace("\\\\", "")) is None
    assert out.replace("\u2060", "").replace("\\", "") == text.replace("\\", "")


def test_md__bare_urls_cannot_autolink() -> None:
    for url in ("http://evil.example/a", "HTTPS://evil.example", "www.evil.example"):
        assert re.search(r"(?i)(https?|www)\\[:.]", md(url)) is None


def test_md__line_breaks_cannot_start_a_block() -> None:
    assert "\n" not in md("a\n# heading\r\n- item\u2028x")


def test_plot_text__html_is_escaped() -> None:
    assert plot_text('<a href="x">a</a> & <b style=font-size:90px>') == (
        # no &quot;: Plotly decodes &lt; &gt; &amp; but would show &quot; as it stands
        '&lt;a href="x"&gt;a&lt;/a&gt; &amp; &lt;b style=font-size:90px&gt;'
    )
