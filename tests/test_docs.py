"""The README and docs/: short README, links that resolve, the README's commands in the Makefile,
and benchmark tables that match their source in bench/results/."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
BENCH_BLOCK = re.compile(r"<!-- bench:([\w-]+)\b[^>]*-->\n(.*?)<!-- /bench:\1 -->", re.S)


def _links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text())  # code blocks hold no links
    return LINK.findall(text)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {_slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def test_docs_pages__exist() -> None:
    names = {p.name for p in DOCS.glob("*.md")}
    for required in ("cli.md", "datasources.md", "architecture.md", "benchmarks.md",
                     "reliability.md", "deployment.md"):  # fmt: skip
        assert required in names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links__resolve_to_files_and_headings(page: Path) -> None:
    broken = []
    for target in _links(page):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.is_file():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target}: no heading '#{anchor}' in {dest.name}")
    assert not broken, f"{page.name}: {broken}"


def test_readme__is_short() -> None:
    assert len(README.read_text().splitlines()) <= 220


def test_readme__links_every_docs_page() -> None:
    linked = {Path(t.partition("#")[0]).name for t in _links(README) if t.startswith("docs/")}
    missing = {p.name for p in DOCS.glob("*.md")} - linked
    assert not missing


def test_readme__shows_the_map_screenshot() -> None:
    image = DOCS / "images" / "map.png"
    assert "docs/images/map.png" in _links(README)
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert image.stat().st_size < 300_000


def test_readme__two_commands_are_makefile_targets() -> None:
    section = README.read_text().split("## Two commands", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^make (\S+)", section, re.M)
    assert commands == ["run", "test"]
    makefile = (ROOT / "Makefile").read_text()
    for target in commands:
        assert re.search(rf"^{target}:", makefile, re.M), f"no '{target}:' target in the Makefile"


def test_benchmark_tables__match_bench_results() -> None:
    shown: dict[str, str] = {}
    for page in DOCS.glob("*.md"):
        for name, body in BENCH_BLOCK.findall(page.read_text()):
            shown[name] = body
            source = ROOT / "bench" / "results" / f"{name}.md"
            assert source.is_file(), f"{page.name} shows bench:{name} but {source} is missing"
            assert body == source.read_text().rstrip("\n") + "\n", (
                f"{page.name}: the bench:{name} table differs from bench/results/{name}.md; "
                "run python bench/_docs.py"
            )
    results = {p.stem for p in (ROOT / "bench" / "results").glob("*.md")}
    assert results - shown.keys() == set(), "every bench/results/*.md table is shown in docs/"


def test_sync_docs__rewrites_a_stale_block_from_its_results_file(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from _docs import sync_docs
    finally:
        sys.path.remove(str(ROOT / "bench"))
    docs, results = tmp_path / "docs", tmp_path / "results"
    docs.mkdir()
    results.mkdir()
    (results / "x.md").write_text("| a |\n|---|\n| 2 |\n\nnotes\n")
    page = docs / "p.md"
    head, tail = "# P\n\n<!-- bench:x (generated) -->\n", "<!-- /bench:x -->\n\nend\n"
    page.write_text(head + "| a |\n|---|\n| 1 |\n" + tail)
    assert sync_docs(docs=docs, results=results) == [page]
    assert page.read_text() == head + "| a |\n|---|\n| 2 |\n\nnotes\n" + tail
    assert sync_docs(docs=docs, results=results) == []  # nothing left to change


def test_cli_docs__name_every_command_and_option() -> None:
    import argparse

    from bps_cli.main import build_parser

    text = (DOCS / "cli.md").read_text()
    auth = text.split("**Auth flags**", 1)[1].split("\n## ", 1)[0]
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = []
    for name, parser in sub.choices.items():
        if f"### `{name}" not in text:
            missing.append(name)
            continue
        section = text.split(f"### `{name}", 1)[1].split("\n### ", 1)[0]
        for action in parser._actions:
            for flag in action.option_strings:
                named = re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", section + auth)
                if flag not in ("-h", "--help") and not named:
                    missing.append(f"{name} {flag}")
    assert not missing, f"docs/cli.md does not describe: {missing}"


def test_cli_docs__the_strategy_list_is_the_registrys() -> None:
    from bps_core.verbs import STRATEGIES

    text = (DOCS / "cli.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `--strategy NAME`"))
    listed = re.findall(r"`([a-z_]+)`", row.split("one of", 1)[1])
    assert listed == list(STRATEGIES), "docs/cli.md's --strategy list differs from the registry"
