"""One selection round at 1M samples: 1,000 picks with the default strategy, peer against ours.

What is measured, exactly:

1. Project: ``create_embedding_project(folder, --n, dim=D)`` (default 1,000,000 samples,
   128-d; ``--dims 128 512``), built once and kept under ``bench/_work/round1m_<n>_<dim>``.
   300 labels (seeded draw of rows): each labeled row's class is its synthetic cluster (the
   nearest of the generator's 1,000 centres) modulo 3 (track, foci, none), so the classes
   follow the structure of the embeddings. A logistic-regression model is trained through
   the ``train_model`` verb (the defaults), so ``default`` resolves to ``error_adaptive``
   (BADGE with a random share set by the model's expected error), what a project past its
   first labels runs.
2. The round: the ``select_round`` verb (what ``bps-labeler select`` and the Rounds page
   call) with ``SelectSettings(n=1000, seed=7)``, nothing recorded. Each timing is a fresh
   Python process that opens the project and runs the round twice: ``first s`` is the first
   round of the process (what the CLI pays: it includes reading the samples frame,
   the embeddings and the model's predictions), ``again s`` the second one in the same
   process (what the app pays on the next click; the samples frame is cached by then).
   Peak memory is the process's peak resident set (``ru_maxrss``) minus its resident set
   just before the first round (imports and the open project).
3. Peer: the code of ``main`` this branch started from (exported with ``git archive`` into
   the temporary folder); ours: this checkout. Both pick the same keys (checked).

Target: at most 5 s per round.

Run: ``nice -n 15 .venv/bin/python bench/bench_round1m.py [--n 1000000] [--dims 128 512]``
(``--n 100000`` for a quick look).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

N_LABELS, N_PICKS, SEED, CLASSES = 300, 1000, 7, ("track", "foci", "none")
TARGET_S = 5.0


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(project_dir: str, strategy: str = "default") -> None:
    """Runs in a fresh process with the contender's code on ``sys.path``: prints JSON."""
    from bps_core.verbs import Project, SelectSettings, select_round

    project = Project.open(project_dir, read_only=True)
    settings = SelectSettings(n=N_PICKS, seed=SEED, strategy=strategy)
    before = rss_mb()
    t0 = time.perf_counter()
    first = select_round(project, settings)
    t1 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    again = select_round(project, settings)
    t2 = time.perf_counter()
    assert first.keys == again.keys
    print(json.dumps({"first": t1 - t0, "again": t2 - t1, "peak_mb": peak - before,
                      "rss_before_mb": before, "strategy": first.config["strategy"],
                      "keys": first.keys}))  # fmt: skip


def build(folder: Path, n: int, dim: int) -> None:
    """The project with labels and a trained model, unless already built."""
    import numpy as np

    from bps_core.synthetic.embedding_project import create_embedding_project
    from bps_core.verbs import load_embedding_set, train_model

    if (folder / "READY").exists():
        return
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    t0 = time.perf_counter()
    project = create_embedding_project(folder, n, dim=dim, seed=0, classes=CLASSES)
    print(f"built {n:,} x {dim} in {time.perf_counter() - t0:.0f} s", flush=True)
    try:
        emb = load_embedding_set(project)
        assert emb is not None
        rows = np.random.default_rng(SEED).choice(n, N_LABELS, replace=False)
        # The generator's first draw is its 1,000 centres (clustered_embeddings, seed 0).
        centres = np.random.default_rng(0).standard_normal((1000, dim), dtype=np.float32)
        cluster = np.argmax(np.asarray(emb.vectors[np.sort(rows)]) @ centres.T, axis=1)
        for cls in range(len(CLASSES)):
            keys = [emb.keys[r] for r, c in zip(np.sort(rows), cluster, strict=True)
                    if c % len(CLASSES) == cls]  # fmt: skip
            project.add_labels(keys, CLASSES[cls], user="bench", source="api")
        t0 = time.perf_counter()
        train_model(project, user="bench")
        print(f"trained the model in {time.perf_counter() - t0:.0f} s", flush=True)
    finally:
        project.close()
    (folder / "READY").write_text("ok\n")


def peer_source() -> Path:
    """The code this branch started from (its merge base with main), exported once.

    Outside the checkout: the architecture tests read every ``.py`` file under ``bench/``.
    """
    base = subprocess.run(["git", "merge-base", "HEAD", "main"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    dest = Path(tempfile.gettempdir()) / f"bps_round1m_peer_{base[:10]}"
    if not (dest / "bps_core").is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", base, "bps_core"], cwd=ROOT, check=True,
                                 capture_output=True).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def run_child(src: Path, folder: Path, strategy: str = "default") -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=str(src))
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(folder),
                          "--strategy", strategy], env=env, check=True, capture_output=True,
                         text=True, cwd=str(src)).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dims", type=int, nargs="+", default=[128])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child")
    parser.add_argument("--strategy", default="default",
                        help="a named strategy; anything but default also times ours' default "
                        "side by side instead of the peer's (see --peer)")  # fmt: skip
    parser.add_argument(
        "--peer", action="store_true", help="with --strategy: time the peer's code on it too (slow)"
    )
    args = parser.parse_args()
    if args.child:
        child(args.child, args.strategy)
        return
    from _common import WORK, write_results

    peer = peer_source()
    rows: list[dict[str, object]] = []
    for dim in args.dims:
        folder = WORK / f"round1m_{args.n}_{dim}"
        build(folder, args.n, dim)
        contenders = [("peer", peer, "default", "peer: main"), ("ours", ROOT, "default", "ours")]
        if args.strategy != "default":  # ours' default against ours' other strategy
            contenders = [
                ("ours", ROOT, "default", "ours"),
                ("other", ROOT, args.strategy, f"ours: {args.strategy}"),
            ]
            if args.peer:
                contenders.append(("peer", peer, args.strategy, f"peer: {args.strategy}"))
        runs: dict[str, list[dict[str, object]]] = {c[0]: [] for c in contenders}
        for _ in range(args.repeats):  # interleaved: a slow spell falls on both alike
            for name, src, strategy, _label in contenders:
                runs[name].append(run_child(src, folder, strategy))
                print(name, {k: v for k, v in runs[name][-1].items() if k != "keys"}, flush=True)
        same_as = contenders[0][0]
        for name, _src, _strategy, label in contenders:
            r = runs[name]
            first = sorted(float(x["first"]) for x in r)[len(r) // 2]  # type: ignore[arg-type]
            again = sorted(float(x["again"]) for x in r)[len(r) // 2]  # type: ignore[arg-type]
            peak = max(float(x["peak_mb"]) for x in r)  # type: ignore[arg-type]
            same = r[0]["keys"] == runs[same_as][0]["keys"]
            rows.append({"samples": args.n, "dim": dim, "code": label,
                         "strategy": str(r[0]["strategy"]), "picks": N_PICKS,
                         "first s": f"{first:.2f}", "again s": f"{again:.2f}",
                         "peak MB": f"{peak:.0f}", "same picks": "yes" if same else "no",
                         "target": f"<= {TARGET_S:.0f} s",
                         "met": "yes" if first <= TARGET_S else "**no**"})  # fmt: skip
        notes = (
            f"Synthetic project (`create_embedding_project`, seed 0, no images), {N_LABELS} "
            f"labels by synthetic cluster, a logistic-regression model trained through the "
            f"`train_model` verb; one round of {N_PICKS} picks through the `select_round` verb "
            f"(`{args.strategy}`, seed {SEED}; 'same picks': the same keys as the first "
            f"row). 'first s': the first round of a fresh process (as the "
            f"CLI); 'again s': the second round in the same process (as the app's next click). "
            f"'peak MB': peak resident set during the first round above the resident set "
            f"before it. Median of {args.repeats} fresh processes each, the contenders "
            f"interleaved, under `nice -n 15` on 2 cores shared with other helpers' work."
        )
        name = "round1m" if args.strategy == "default" else f"round1m_{args.strategy}"
        write_results(name, rows, notes)


if __name__ == "__main__":
    main()
