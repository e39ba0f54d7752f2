"""Layering rules: the core never imports the UI or the command line, the app never imports
the command line, and only ``bps_core/project/`` runs SQL."""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import bps_app
import bps_core

CORE = Path(bps_core.__file__).parent
APP = Path(bps_app.__file__).parent
REPO = CORE.parent
#: The one package allowed to run SQL, hold the connection and take the write lock.
SQL_HOME = CORE / "project"
#: Code outside ``SQL_HOME`` that still runs SQL, relative to the repository (none now: the
#: job table's SQL moved to bps_core/project/jobs.py).
SQL_ALLOW_LIST: frozenset[str] = frozenset()
#: SQL statements in string literals (upper case, as this code base writes them).
_SQL_TEXT = re.compile(
    r"\bSELECT\b[\s\S]*\bFROM\b|\bINSERT\s+(?:OR\s+\w+\s+)?INTO\b|\bUPDATE\s+\w+\s+SET\b"
    r"|\bDELETE\s+FROM\b|\b(?:CREATE|DROP|ALTER)\s+(?:TABLE|INDEX|VIEW|TRIGGER)\b|\bPRAGMA\b"
)
#: SQL in any case: stricter shapes, so prose ("select samples from the map") is not SQL.
_SQL_TEXT_ANY_CASE = re.compile(
    r"\bselect\s+(?:distinct\s+)?(?:\*|(?:count|sum|min|max|avg|group_concat)\s*\([^)]*\)"
    r"|[\w.]+(?:\s*,\s*[\w.]+)+)\s+(?:as\s+\w+\s+)?from\s+\w+"
    r"|\bselect\s+[\w.]+\s+from\s+\w+\s+(?:where|join|order\s+by|group\s+by|limit)\b"
    r"|\binsert\s+(?:or\s+\w+\s+)?into\s+\w+\s*(?:\(|values\b|select\b)"
    r"|\bupdate\s+\w+\s+set\s+\w+\s*="
    r"|\bdelete\s+from\s+\w+\s*(?:where\b|;|$)"
    r"|\b(?:create|drop|alter)\s+(?:table|view|trigger|(?:unique\s+)?index)\s+"
    r"(?:if\s+(?:not\s+)?exists\s+)?\w+\s*(?:\(|;|$|on\s+\w+\s*\(|add\b|rename\b)"
    r"|(?<!#)\bpragma\s+\w+\s*(?:=|\()",
    re.IGNORECASE,
)
#: Attributes that reach the database: the connection, a cursor's or connection's verbs, and
#: pandas' SQL readers.
_SQL_ATTRS = frozenset({"conn", "_conn", "execute", "executemany", "executescript"})
_SQL_FUNCTIONS = frozenset({"read_sql", "read_sql_query", "read_sql_table"})
#: Modules only ``SQL_HOME`` imports: the transactions and locking rules.
_SQL_MODULES = frozenset({"bps_core.project.db"})
#: Database drivers (any of their submodules) only ``SQL_HOME`` imports.
_SQL_DRIVERS = frozenset({"sqlite3", "sqlalchemy", "psycopg", "psycopg2", "duckdb"})


def _sql_module(name: str) -> bool:
    return name in _SQL_MODULES or name.split(".")[0] in _SQL_DRIVERS


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """(line, full module name) for every absolute import in ``path``, those inside functions
    too; ``from bps_core import verbs`` counts as ``bps_core.verbs``."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "bps_core":
                for a in node.names:
                    yield node.lineno, f"bps_core.{a.name}"
            else:
                yield node.lineno, node.module


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


def _sql_uses(path: Path) -> list[str]:
    """Where ``path`` runs SQL: 'line N: what' for each SQL string, connection or cursor use,
    and import of the transaction module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Attribute) and node.attr in _SQL_ATTRS | _SQL_FUNCTIONS:
            found.append(f"line {line}: .{node.attr}")
        elif isinstance(node, ast.Name) and node.id in _SQL_FUNCTIONS:
            found.append(f"line {line}: {node.id}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = _SQL_TEXT.search(node.value) or _SQL_TEXT_ANY_CASE.search(node.value)
            if match:
                found.append(f"line {line}: SQL {match.group(0)[:30]!r}")
        elif isinstance(node, ast.Import):
            found += [f"line {line}: import {a.name}" for a in node.names
                      if _sql_module(a.name)]  # fmt: skip
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = ({node.module} if _sql_module(node.module)
                       else {f"{node.module}.{a.name}" for a in node.names})  # fmt: skip
            found += [f"line {line}: import {m}" for m in sorted(modules) if _sql_module(m)]
            found += [f"line {line}: import {a.name}" for a in node.names
                      if a.name in _SQL_FUNCTIONS]  # fmt: skip
    return found


def _outside_sql_home() -> list[Path]:
    """Every Python file of the core (but ``SQL_HOME``), the app, the pages, the CLI and the
    benchmarks."""
    core = [f for f in CORE.rglob("*.py") if not f.is_relative_to(SQL_HOME)]
    others = [f for d in ("bps_app", "bps_cli", "pages", "bench") for f in (REPO / d).rglob("*.py")]
    return sorted(core + others + [REPO / "app.py"])


def test_sql__runs_only_in_the_project_package() -> None:
    files = _outside_sql_home()
    assert len(files) > 40
    offenders = {
        rel: uses
        for f in files
        if (rel := f.relative_to(REPO).as_posix()) not in SQL_ALLOW_LIST and (uses := _sql_uses(f))
    }
    assert offenders == {}, "SQL outside bps_core/project/; add a typed method there instead"


def test_sql__the_check_sees_sql_strings_connections_and_transactions(tmp_path: Path) -> None:
    sample = tmp_path / "page.py"
    sample.write_text(
        "from bps_core.project import db\n"
        "n = project._conn.execute('SELECT COUNT(*) FROM rounds').fetchone()\n"
        "q = f'INSERT OR REPLACE INTO settings (key) VALUES ({k})'\n"
        "label = 'Select from the map'  # prose, not SQL\n"
        "import sqlite3\n"
        "from sqlite3 import DatabaseError\n"
        "import sqlalchemy.orm\n"
        "frame = pd.read_sql('select key, label from labels', c)\n"
        "from pandas import read_sql_query\n"
        "rows = read_sql_query(sql, c)\n"
        "d = 'delete from labels where key = ?'\n"
        "u = 'update rounds set n = 1'\n"
        "t = 'create table if not exists x (a)'\n"
        "p = 'pragma user_version = 3'\n"
        "s = 'select * from samples'\n"
        "help = 'select samples from the map, or delete from the queue; insert into a round'\n"
    )
    assert sorted(_sql_uses(sample)) == sorted([
        "line 1: import bps_core.project.db",
        "line 2: ._conn",
        "line 2: .execute",
        "line 2: SQL 'SELECT COUNT(*) FROM'",
        "line 3: SQL 'INSERT OR REPLACE INTO'",
        "line 5: import sqlite3",
        "line 6: import sqlite3",
        "line 7: import sqlalchemy.orm",
        "line 8: .read_sql",
        "line 8: SQL 'select key, label from labels'",
        "line 9: import read_sql_query",
        "line 10: read_sql_query",
        "line 11: SQL 'delete from labels where'",
        "line 12: SQL 'update rounds set n ='",
        "line 13: SQL 'create table if not exists x ('",
        "line 14: SQL 'pragma user_version ='",
        "line 15: SQL 'select * from samples'",
    ])  # fmt: skip  # and not the prose of lines 4 and 16


def test_sql__allow_list_names_only_files_that_exist() -> None:
    scanned = {f.relative_to(REPO).as_posix() for f in _outside_sql_home()}
    assert SQL_ALLOW_LIST - scanned == set(), "a file moved: drop it from SQL_ALLOW_LIST"


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = CORE) -> dict[str, set[str]]:
    """Module -> the ``bps_core`` modules it imports, from the source (no import is run).

    Every import counts: module-level, inside functions (deferred, but still a dependency:
    it runs whenever that function does) and under ``TYPE_CHECKING`` (mypy follows it, and a
    deferred import is the usual way a cycle is hidden rather than removed). ``from pkg
    import name`` points at ``pkg.name`` where that is a module, else at ``pkg``. Importing a
    submodule also runs its package's ``__init__``, but that edge is left out: a package's
    ``__init__`` re-exporting its own submodules is the ordinary layout, not a cycle.
    """
    files = {_module_name(f, root): f for f in sorted(root.rglob("*.py"))}
    packages = {m for m, f in files.items() if f.name == "__init__.py"}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        package = module if module in packages else module.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolve against this module's package
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*up, *([base] if base else [])])
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base
                           for a in node.names]  # fmt: skip
            for target in targets:
                while target and target not in files:  # a name inside a module: the module
                    target = target.rpartition(".")[0]
                if target and target != module:
                    edges.add(target)
        graph[module] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected component of more than one module, as one cycle through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    cycles = []
    for component in components:  # a shortest path back to the start, to name the cycle
        start = min(component)
        paths = {start: [start]}
        frontier = [start]
        while frontier and start not in {w for v in frontier for w in graph[v]}:
            nxt = []
            for v in frontier:
                for w in sorted(graph[v] & component):
                    if w not in paths:
                        paths[w] = [*paths[v], w]
                        nxt.append(w)
            frontier = nxt
        last = next(v for v in frontier if start in graph[v])
        cycles.append([*paths[last], start])
    return cycles


def test_core__has_no_import_cycle() -> None:
    graph = import_graph()
    assert "bps_core.project.store" in graph["bps_core.project.ingest"]  # the graph sees imports
    cycles = find_cycles(graph)
    assert cycles == [], "import cycles in bps_core: " + "; ".join(" -> ".join(c) for c in cycles)


def test_find_cycles__names_a_cycle_through_a_deferred_import(tmp_path: Path) -> None:
    pkg = tmp_path / "bps_core"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from bps_core.b import f\n")
    (pkg / "b.py").write_text("def f():\n    from bps_core import a\n")
    (pkg / "c.py").write_text("import bps_core.a\n")
    assert find_cycles(import_graph(pkg)) == [["bps_core.a", "bps_core.b", "bps_core.a"]]


CLI = REPO / "bps_cli"
#: What the CLI may import beyond the standard library and itself: the verbs, and the app's
#: launcher for ``app``.
_CLI_ALLOWED = frozenset({"bps_core.verbs", "bps_app.serve"})


def _cli_offenders(folder: Path) -> list[str]:
    """``file: module`` for each import in ``folder`` of a module the CLI may not use."""
    import sys

    offenders = []
    for path in sorted(folder.glob("*.py")):
        for _, module in _imported_modules(path):
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top in ("bps_cli", "tqdm"):
                continue
            if module not in _CLI_ALLOWED:
                offenders.append(f"{path.name}: {module}")
    return offenders


def test_cli__imports_the_core_only_through_the_verbs() -> None:
    assert len(list(CLI.glob("*.py"))) > 5
    assert _cli_offenders(CLI) == []


def test_cli_offenders__names_a_core_module_imported_past_the_verbs(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(
        "import os\nfrom bps_core import verbs\nfrom bps_core.verbs import Project\n"
        "def f():\n    from bps_core.projection import use_map\n    import numpy\n"
    )
    assert _cli_offenders(tmp_path) == ["a.py: bps_core.projection", "a.py: numpy"]


#: What a page (and the entry point) may import: Streamlit, the standard library, the app's
#: own glue and the verbs. Jobs come through ``bps_app.jobs`` (the jobs sit above the verbs).
PAGE_FILES = sorted((REPO / "pages").glob("*.py")) + [REPO / "app.py"]
_PAGE_OK_TOP = frozenset({"streamlit", "bps_app"}) | sys.stdlib_module_names
_VERBS = "bps_core.verbs"


def _page_import_problems(path: Path) -> list[str]:
    """'line N: module' for each import of ``path`` outside Streamlit, the standard library,
    ``bps_app`` and ``bps_core.verbs`` (imports inside functions count too)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        modules: set[str] = set()
        if isinstance(node, ast.Import):
            modules = {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            modules = {f"{base}.{a.name}" if base == "bps_core" else base for a in node.names}
        for m in sorted(modules):
            ok = m.split(".")[0] in _PAGE_OK_TOP or m == _VERBS or m.startswith(_VERBS + ".")
            if not ok:
                found.append(f"line {node.lineno}: {m}")
    return found


def test_pages__import_only_bps_app_and_the_verbs() -> None:
    assert len(PAGE_FILES) > 5
    offenders = {
        f.relative_to(REPO).as_posix(): problems
        for f in PAGE_FILES
        if (problems := _page_import_problems(f))
    }
    assert offenders == {}, "a page imports past the verbs; re-export it from bps_core.verbs"


def test_pages__the_import_check_sees_core_modules_third_parties_and_deferred_imports(
    tmp_path: Path,
) -> None:
    sample = tmp_path / "page.py"
    sample.write_text(
        "import json\nimport streamlit as st\nfrom bps_app import state\n"
        "from bps_core import verbs\nfrom bps_core.verbs import select_round\n"
        "import bps_core.verbs\n"
        "from bps_core import jobs, verbs\nimport pandas as pd\n"
        "from bps_core.queue import LabelQueue\n"
        "def f():\n    from bps_core.errors import BpsError\n"
    )
    assert _page_import_problems(sample) == [
        "line 7: bps_core.jobs",
        "line 8: pandas",
        "line 9: bps_core.queue",
        "line 11: bps_core.errors",
    ]


#: Where ``st.page_link`` and ``st.switch_page`` may be called: the helpers that add ``?user=``.
USER_LINK_HOMES = frozenset({"bps_app/widgets.py", "bps_app/state.py"})


def _page_switches(path: Path) -> list[str]:
    """'line N: st.page_link' for each ``st.page_link`` or ``st.switch_page`` in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return [f"line {node.lineno}: st.{node.attr}" for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr in {"page_link", "switch_page"}
            and isinstance(node.value, ast.Name) and node.value.id == "st"]  # fmt: skip


def test_pages__link_and_switch_through_the_helpers_that_keep_the_name() -> None:
    """Streamlit's page links and page switches carry no query: one straight to Streamlit
    dropped ``?user=``, and a page opened from it in a new tab had no name."""
    files = sorted({*PAGE_FILES, *APP.rglob("*.py")})
    offenders = {
        rel: uses
        for f in files
        if (rel := f.relative_to(REPO).as_posix()) not in USER_LINK_HOMES
        and (uses := _page_switches(f))
    }
    assert offenders == {}, "use widgets.page_link / state.switch_page"
    sample = REPO / "bps_app" / "widgets.py"
    assert _page_switches(sample), "the check sees none in the helper's own module"


BENCH = REPO / "bench"
#: Benchmarks of primitives below any workflow, which may import the core module they time
#: (file -> modules); every other core import in bench/ goes through ``bps_core.verbs``, as the
#: app's and the CLI's do, so a workflow bench times what a user runs.
BENCH_PRIMITIVES: dict[str, frozenset[str]] = {
    # BADGE's large-pool shortlist forced on the suite's small pools (its module constants)
    "bench_badge_shortlist.py": frozenset({"bps_core.selection"}),
    # the samples frame and label store at 1M, on a project built from synthetic embeddings
    "bench_data1m.py": frozenset({"bps_core.synthetic.embedding_project"}),
    # decoding and the decoded-tensor cache, against PIL and a naive loader
    "bench_decode.py": frozenset({"bps_core.embeddings.cache", "bps_core.storage"}),
    # the embed cache and the SimCLR training loop, against a plain PyTorch loop
    "bench_embed.py": frozenset(
        {"bps_core.embeddings.cache", "bps_core.embeddings.train", "bps_core.storage"}
    ),
    # end to end: the workflows go through the verbs; preparing the (untimed) checkpoint trains
    # on a decoded subset, and the numba warm-up mirrors the app's warm worker
    "bench_e2e.py": frozenset(
        {
            "bps_core.embeddings.cache",
            "bps_core.embeddings.train",
            "bps_core.kernel_cache",
            "bps_core.projection",
            "bps_core.storage",
        }
    ),  # fmt: skip
    # cheaper forward passes (input size, precision, backbones trained smaller), quality gates
    "bench_embed_gates.py": frozenset(
        {
            "bps_core.embeddings.cache",
            "bps_core.embeddings.inference",
            "bps_core.embeddings.quality",
            "bps_core.embeddings.train",
            "bps_core.storage",
        }
    ),  # fmt: skip
    # candidates for ``default`` assembled from the strategies' parts (their cold start, the
    # expected-error ramp, BADGE's k-means++ under a density weight)
    "bench_learning.py": frozenset(
        {
            "bps_core.selection.adaptive",
            "bps_core.selection.registry",
            "bps_core.selection.strategies",
        }
    ),  # fmt: skip
    # k-center greedy and the hybrid strategy's pieces, against scikit-learn
    "bench_kcenter.py": frozenset(
        {
            "bps_core.embeddings.store",
            "bps_core.selection",
            "bps_core.selection.kcenter",
            "bps_core.selection.model",
        }
    ),  # fmt: skip
    # a 1M-sample project without images for the selection round at scale (the round itself
    # goes through the verbs)
    "bench_round1m.py": frozenset({"bps_core.synthetic.embedding_project"}),
    # the label-issue scores (cleanlab) on out-of-fold probabilities of planted flips: 80 noisy
    # label sets, none written to a project
    "bench_label_errors.py": frozenset(
        {"bps_core.quality.label_issues", "bps_core.selection.model"}
    ),
    # the low-label model experiment: the model the simulation trains, swapped per run
    "bench_learning_model.py": frozenset(
        {"bps_core.selection.model", "bps_core.selection.simulate"}
    ),
    # a 77k project without rendering crops, for the browser latency figures
    "bench_interaction.py": frozenset({"bps_core.synthetic.embedding_project"}),
    # a 1M-sample project without rendering crops, for the map page's first paint and rerun
    "bench_mappage1m.py": frozenset({"bps_core.synthetic.embedding_project"}),
    "profile_explore1m.py": frozenset({"bps_core.synthetic.embedding_project"}),
    # UMAP fitting and its warm-up
    "bench_umap.py": frozenset({"bps_core.projection"}),
    # the synthetic generator's planning and scene drawing
    "bench_synth.py": frozenset({"bps_core.synthetic", "bps_core.synthetic.generator"}),
    # S3 listing and reads, against boto3 and the AWS CLI
    "bench_s3.py": frozenset({"bps_core.storage", "bps_core.storage.fetch", "bps_core.storage.s3"}),
    # decoding hostile files, and S3 reads under injected faults (the copy uses the verb)
    "bench_reliability.py": frozenset(
        {"bps_core.images", "bps_core.storage.fetch", "bps_core.storage.s3"}
    ),
    # the PPI estimators' coverage against the generator's scene truth (no project involved)
    "bench_report.py": frozenset(
        {"bps_core.results", "bps_core.synthetic.config", "bps_core.synthetic.generator"}
    ),
    # near-duplicate recall at 100k: the neighbour search on vectors, exact against HNSW
    "bench_duplicates.py": frozenset(
        {
            "bps_core.quality.duplicates",
            "bps_core.quality.flags",
            "bps_core.quality.shift_descriptor",
        }
    ),
    # one query's nearest neighbours at 1M: the HNSW index against the exact scan, on vectors
    "bench_neighbours.py": frozenset(
        {
            "bps_core.embeddings.index",
            "bps_core.embeddings.neighbours",
            "bps_core.synthetic.embedding_project",
        }
    ),
    # the subsample-fit map primitives on synthetic vectors (no project needed)
    "bench_map1m.py": frozenset({"bps_core.projection", "bps_core.synthetic.embedding_project"}),
    # stores precomputed vectors as an embedding set (no verb imports a raw array)
    "bench_rerun.py": frozenset({"bps_core.embeddings.store"}),
}


def _bench_offenders(folder: Path, allowed: dict[str, frozenset[str]]) -> list[str]:
    """'file: module' for each core module a bench script imports past the verbs and outside
    its entry in ``allowed`` (imports inside functions count too)."""
    offenders = []
    for path in sorted(folder.glob("*.py")):
        for _, module in _imported_modules(path):
            if module.split(".")[0] != "bps_core" or module == _VERBS:
                continue
            if module.startswith(_VERBS + ".") or module in allowed.get(path.name, ()):
                continue
            offenders.append(f"{path.name}: {module}")
    return offenders


def test_bench__workflows_go_through_the_verbs() -> None:
    assert len(list(BENCH.glob("bench_*.py"))) > 10
    offenders = _bench_offenders(BENCH, BENCH_PRIMITIVES)
    assert offenders == [], "a benchmark imports the core past bps_core.verbs; use the verbs"


def test_bench__primitive_allow_list_names_only_files_and_imports_that_exist() -> None:
    unused = {
        name: sorted(modules - {m.split(": ")[1] for m in _bench_offenders(BENCH, {})
                                if m.startswith(name + ":")})
        for name, modules in BENCH_PRIMITIVES.items()
    }  # fmt: skip
    assert {n: m for n, m in unused.items() if m} == {}, "drop stale BENCH_PRIMITIVES entries"


def test_bench_offenders__names_a_workflow_module_imported_past_the_verbs(tmp_path: Path) -> None:
    (tmp_path / "bench_new.py").write_text(
        "import numpy\nfrom bps_core import verbs\nfrom bps_core.verbs import Project\n"
        "from bps_app.figures import map_figure\nfrom bps_core.projection import fit_umap\n"
        "def f():\n    from bps_core.storage.copy import copy_objects\n"
    )
    assert _bench_offenders(tmp_path, {}) == [
        "bench_new.py: bps_core.projection",
        "bench_new.py: bps_core.storage.copy",
    ]
    allowed = {"bench_new.py": frozenset({"bps_core.projection"})}
    assert _bench_offenders(tmp_path, allowed) == ["bench_new.py: bps_core.storage.copy"]
