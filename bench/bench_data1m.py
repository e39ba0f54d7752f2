"""Data at 1M samples: the samples frame's cold load and storing a 100k-sample lasso label.

What is measured, exactly:

1. Project: ``create_embedding_project(folder, --n, dim=128)`` (BPS-like metadata: particle
   type, dose, hours after exposure), built once and kept under ``bench/_work/data1m/``.
2. Samples frame, cold: a fresh Python process opens the project and calls
   ``Project.samples()`` once; the time covers the imports (pandas, pyarrow), the open and
   the call. Ours reads the Parquet snapshot stamped with the current ``samples_version``;
   the peer is the old path, kept below as ``old_load_samples``: one SELECT of every row and
   ``json.loads`` of each row's metadata. Target: at most 1 s, judged on the open and the
   call (the imports, pandas above all, are paid by any process and balloon at ``nice 15``
   on a busy machine).
3. Samples frame, first load after a change: on a copy of the project, ``mark_bad`` changes
   one sample's status and error (each run another sample), then a fresh process loads the
   frame as in 2. Ours patches the last snapshot with the rows changed since (schema 9's
   ``sample_changes`` log); the peer is what every load after a change did before, the full
   rebuild (one SELECT of every row and ``json.loads`` of each row's metadata).
   Target: at most 1 s, as in 2.
4. Label store: ``Project.add_labels`` of 100,000 random samples to one class (what a
   100k-point lasso stores), on a copy of the project, alternating two classes.
   Target: at most 2 s.

Medians of ``--repeats`` runs. Run: ``nice -n 15 .venv/bin/python bench/bench_data1m.py``.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import WORK, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGET_LOAD_S, TARGET_LABEL_S = 1.0, 2.0
AFTER = "samples frame, cold, after one status change"

COLD = """
import json, sys, time
t0 = time.perf_counter()
import pandas as pd
from bps_core.project import samples_frame
from bps_core.verbs import Project

def old_load_samples(rows, rename):
    # The load before the snapshot (bps_core/project/store.py, _load_samples, until 2026-12).
    cols = ["key", "sample_id", "relpath", "status", "error", "meta_json"]
    base = pd.DataFrame(rows, columns=cols)
    meta = pd.DataFrame([json.loads(m) for m in base.pop("meta_json")], index=base.index)
    meta.columns = [rename(c) for c in meta.columns]
    return pd.concat([base, meta], axis=1)

if sys.argv[2] == "peer":  # the same SELECT, no snapshot read or written, the old decode
    samples_frame.load_snapshot = lambda *args: None
    samples_frame.load_any_snapshot = lambda *args: None
    samples_frame.frame_from_rows = old_load_samples
t1, c1 = time.perf_counter(), time.process_time()
with Project.open(sys.argv[1], read_only=sys.argv[2] == "peer") as p:
    frame = p.samples()
t2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({"s": t2 - t0, "call": t2 - t1, "cpu": c2 - c1, "rows": len(frame)}))
"""


def project_folder(n: int) -> Path:
    folder = WORK / "data1m" / f"project_{n}"
    if not (folder / "project.db").is_file():
        from bps_core.synthetic.embedding_project import create_embedding_project

        shutil.rmtree(folder, ignore_errors=True)
        t0 = time.perf_counter()
        create_embedding_project(folder, n, dim=128).close()
        print(f"built the {n:,}-sample project in {time.perf_counter() - t0:.0f} s", flush=True)
    return folder


def cold_load(folder: Path, which: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", COLD, str(folder), which], check=True, capture_output=True,
        text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


#: What a copy of the project leaves out: the image placeholders (a million files; the copy's
#: datasource still names the original's) and the embedding and map arrays.
_NOT_COPIED = shutil.ignore_patterns("images", "image_sources", "embeddings", "maps")


def after_change(folder: Path, repeats: int) -> tuple[list[dict[str, float]], ...]:
    """Cold loads (ours, peer) after one sample's status changed, on a copy of the project."""
    from bps_core.verbs import Project

    copy = WORK / "data1m" / "change_copy"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(folder, copy, ignore=_NOT_COPIED)
    with Project.open(copy) as project:
        keys = project.keys_with_status("ok")
        project.mark_bad(keys[-1], "bench: the first change")
        project.samples()  # untimed: a snapshot this database has stamped (schema 9)
    ours, peer = [], []
    for i in range(repeats):
        with Project.open(copy) as project:
            project.mark_bad(keys[i * 7919], f"bench change {i}")
        ours.append(cold_load(copy, "ours"))
        peer.append(cold_load(copy, "peer"))
    shutil.rmtree(copy, ignore_errors=True)
    return ours, peer


def label_store(folder: Path, repeats: int) -> list[float]:
    from bps_core.verbs import Project

    copy = WORK / "data1m" / "label_copy"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(folder, copy, ignore=_NOT_COPIED)
    times = []
    with Project.open(copy) as project:
        keys = project.samples()["key"].tolist()
        rng = random.Random(0)
        for i in range(repeats):
            chosen = rng.sample(keys, 100_000)
            t0 = time.perf_counter()
            project.add_labels(chosen, ("track", "foci")[i % 2], user="bench", source="lasso")
            times.append(time.perf_counter() - t0)
    shutil.rmtree(copy, ignore_errors=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    folder = project_folder(args.n)
    cold_load(folder, "ours")  # stores the snapshot when the project has none yet
    ours, peer = [], []
    for _ in range(args.repeats):  # interleaved, so a slow spell hits both
        ours.append(cold_load(folder, "ours"))
        peer.append(cold_load(folder, "peer"))
    changed_ours, changed_peer = after_change(folder, args.repeats)
    labels = label_store(folder, args.repeats)

    def row(what: str, how: str, times: list[float], target: float,
            extra: dict[str, list[float]] | None = None) -> dict[str, object]:  # fmt: skip
        med = statistics.median(times)
        out: dict[str, object] = {"samples": args.n, "measure": what, "path": how,
                                  "median s": f"{med:.2f}",
                                  "runs": ", ".join(f"{t:.2f}" for t in times)}  # fmt: skip
        for name, values in (extra or {}).items():
            out[name] = f"{statistics.median(values):.2f}"
        judged = statistics.median(extra["open + samples() s"]) if extra else med
        out.update({"target s": f"<= {target:g}", "met": "yes" if judged <= target else "**no**"})
        return out

    def load_row(how: str, runs: list[dict[str, float]],
                 what: str = "samples frame, cold") -> dict[str, object]:  # fmt: skip
        return row(what, how, [r["s"] for r in runs], TARGET_LOAD_S,
                   {"open + samples() s": [r["call"] for r in runs],
                    "its CPU s": [r["cpu"] for r in runs]})  # fmt: skip

    rows = [
        load_row("peer: per-row JSON decode", peer),
        load_row("ours: Parquet snapshot", ours),
        load_row("peer: rebuild (per-row JSON decode)", changed_peer, AFTER),
        load_row("ours: snapshot patched with the changed rows", changed_ours, AFTER),
        row(
            "store a 100k-sample label",
            "ours: add_labels, one INSERT ... SELECT",
            labels,
            TARGET_LABEL_S,
            None,
        ),  # fmt: skip
    ]
    rows = [{c: r.get(c, "-") for c in rows[0]} for r in rows]  # the label row has no split
    notes = (
        "Synthetic project from `create_embedding_project` (3 metadata fields, no images). "
        "'cold': a fresh process, imports + open + first `samples()` ('median s'); 'open + "
        "samples() s' leaves out the imports (pandas, the app's, is loaded anyway) and 'its CPU "
        "s' is that part's CPU time, the figure least moved by the other work on the machine; "
        "'met' judges the load on 'open + samples() s'. Unloaded, by hand, ours took 0.43 s "
        "cold with the imports and the peer 5.6 s. 'after one status change': `mark_bad` of "
        "one more sample on a copy of the project before each load; the peer is the rebuild "
        "every load after a change was before schema 9. Label store: `add_labels` of 100,000 "
        "random samples on a copy of the project. Before (per-row key lookups in Python and "
        "a six-parameter `executemany`) it measured median 2.04 s here (runs 1.6-3.1 s), but an "
        "interleaved A/B by hand (fresh processes, the previous code against this one on copies "
        "of the same project, 2 x 3 runs) gave old 0.75-1.71 s and new 0.89-1.32 s: the "
        "target is met by both when the machine is less loaded, and the gain is within its "
        "noise. "
        f"Medians of {args.repeats} runs, `nice -n 15`, on 2 cores shared with three other "
        "helpers' work (tests and benchmarks), so times are noisy."
    )
    write_results("data1m", rows, notes)


if __name__ == "__main__":
    main()
