"""Copies benchmark tables from ``bench/results/<name>.md`` into the documentation.

``bench/results/*.md`` are the source of every benchmark table. A page under ``docs/`` shows
one by holding a block::

    <!-- bench:NAME (generated from bench/results/NAME.md; do not edit here) -->
    ...
    <!-- /bench:NAME -->

and :func:`sync_docs` replaces the block's body with the results file. ``write_results`` calls
it after each benchmark; ``python bench/_docs.py`` refreshes every block. ``tests/test_docs.py``
fails when a block differs from its results file.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs"
BLOCK = re.compile(
    r"(<!-- bench:(?P<name>[\w-]+)\b[^>]*-->\n)(?P<body>.*?)(<!-- /bench:(?P=name) -->)", re.S
)


def sync_docs(
    names: set[str] | None = None, docs: Path = DOCS, results: Path = RESULTS
) -> list[Path]:
    """Rewrites the ``bench:NAME`` blocks of ``docs/*.md`` from ``results/NAME.md``.

    Args:
        names: only these benchmarks (all blocks when None).
        docs: the folder of Markdown pages.
        results: the folder of ``<name>.md`` result tables.

    Returns:
        The pages that changed.
    """

    def body(match: re.Match[str]) -> str:
        name = match["name"]
        source = results / f"{name}.md"
        if (names is not None and name not in names) or not source.is_file():
            return match[0]
        return match[1] + source.read_text().rstrip("\n") + "\n" + match[4]

    changed = []
    for page in sorted(docs.glob("*.md")):
        text = page.read_text()
        new = BLOCK.sub(body, text)
        if new != text:
            page.write_text(new)
            changed.append(page)
    return changed


if __name__ == "__main__":
    for page in sync_docs():
        print(f"updated {page.relative_to(ROOT)}")
