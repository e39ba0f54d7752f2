"""User-controlled text (class, file and user names, metadata values, messages quoting them)
made inert before it reaches Markdown or Plotly's HTML.

Streamlit renders Markdown in titles, captions, alerts, toasts, button and metric labels and
image captions: ``![x](http://host/beacon.png)`` there makes every viewer's browser fetch a
remote image, ``[x](http://...)`` is a live link, ``:red[...]`` and ``$...$`` restyle text.
Plotly renders a subset of HTML in legends, hover and axis text (``<a href>``, ``<span
style>``). Every page and figure passes such text through `md` or `plot_text`.

Selectbox and multiselect options are plain text in Streamlit: they need neither (escaped,
they would show backslashes). Radio and segmented-control options, expander and popover
labels are Markdown like buttons.
"""

from __future__ import annotations

import html
import re
import string

# Every ASCII punctuation character may be backslash-escaped in CommonMark, and an escaped one
# is always literal: links, images, emphasis, HTML, Streamlit's :directives[] and $math$ all
# need one of these to start.
_MD_SPECIAL = re.compile("([" + re.escape(string.punctuation) + "])")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029]+")
# GitHub-flavoured Markdown links bare URLs in text *after* parsing, escapes or not: an
# invisible word joiner after the scheme (or www) keeps them plain text.
_AUTOLINK = re.compile(r"(?i)(https?|ftp|www)(?=\\[:.])")
_WORD_JOINER = "\u2060"


def md(text: object) -> str:
    """``text`` as literal Markdown: shown as typed, never a link, image, style or HTML."""
    escaped = _MD_SPECIAL.sub(r"\\\1", _LINE_BREAKS.sub(" ", str(text)))
    return _AUTOLINK.sub(r"\1" + _WORD_JOINER, escaped)


def plot_text(text: object) -> str:
    """``text`` for a Plotly label (legend, hover, axis, title): HTML-escaped, which Plotly
    shows as the original characters."""
    # quote=False: Plotly decodes &lt; &gt; &amp; but shows &quot; as it stands, and a quote
    # outside a tag does no harm.
    return html.escape(_LINE_BREAKS.sub(" ", str(text)), quote=False)
