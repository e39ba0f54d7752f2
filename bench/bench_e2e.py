"""End to end on 100k synthetic images: cold start to ten labeled rounds.

Stages, timed one after the other on a fresh project each run (the dataset and a trained
SimCLR checkpoint are prepared once in ``bench/_work`` and not timed):

1. cold start: create the project and ingest 100k files (listing, metadata join, header checks);
2. embed with the trained checkpoint (decode once into the image cache, then inference);
3. UMAP map of the embeddings;
4. first plot: the map figure spec for all points;
5. ten simulated rounds of 100 picks with the ``default`` strategy; an oracle labels each pick
   from the generator's truth (``has_track``), then the model is trained (logistic regression,
   grouped CV) and predicts every sample.

Target (issue 6): at most 2 minutes in total on a 2-core CPU. Run:
``.venv/bin/python bench/bench_e2e.py [--n 100000]``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import pandas as pd  # noqa: E402
from _common import WORK, write_results  # noqa: E402
from _data import full_dataset  # noqa: E402

from bps_app.figures import map_figure  # noqa: E402
from bps_core import verbs  # noqa: E402
from bps_core.verbs import EmbedConfig, MapConfig, create_project_from_folder  # noqa: E402

TARGET_S = 120.0


def main() -> None:
    parser = argparse.ArgumentParser()
    # the generator's per-cell counts scale to ~94.7% of what is asked: 105,600 gives ~100k
    parser.add_argument("--n", type=int, default=105_600)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    root = full_dataset(args.n)
    marker = WORK / "checkpoints" / "trained_77180.txt"
    if not marker.exists():
        raise SystemExit("run bench/bench_embed.py once first: it trains the checkpoint")
    sha = marker.read_text().strip()
    truth = pd.read_csv(root / "_synthetic" / "truth.csv")
    names = truth.has_track.astype(int).map({1: "track", 0: "no track"})
    truth_by_name = dict(zip(truth.filename, names, strict=True))

    folder = WORK / f"e2e_{args.n}_project"
    shutil.rmtree(folder, ignore_errors=True)
    times: dict[str, float] = {}

    t0 = time.perf_counter()
    project, _ = create_project_from_folder(folder, root)
    times["cold start: create project, ingest"] = time.perf_counter() - t0

    ckpt = project.arrays_dir / "checkpoints"
    ckpt.mkdir(parents=True, exist_ok=True)
    shutil.copy(WORK / "checkpoints" / f"{sha}.pt", ckpt / f"{sha}.pt")  # the trained backbone
    t0 = time.perf_counter()
    emb = verbs.compute_embeddings(
        project, EmbedConfig(method="simclr", checkpoint=sha, image_size=64)
    )
    times["embed with the trained checkpoint (decode + inference)"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    m = verbs.compute_map(project, MapConfig())
    times["UMAP map"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    frame = pd.DataFrame({"key": m.keys, "x": m.xy[:, 0], "y": m.xy[:, 1]}).merge(
        project.samples(), on="key", how="left"
    )
    frame["label"] = None
    map_figure(frame, "label", {})
    times["first plot (map figure spec)"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    for r in range(args.rounds):
        settings = verbs.SelectSettings(n=args.batch, strategy="default", seed=r)
        rnd = verbs.record_round(project, verbs.select_round(project, settings), user="bench")
        by_label: dict[str, list[str]] = {}
        for key in rnd.keys:
            name = key.split(":", 1)[1].rsplit("/", 1)[-1]
            by_label.setdefault(truth_by_name[name], []).append(key)
        for label, keys in by_label.items():
            project.add_labels(keys, label, user="oracle", source="api")
        if len(project.label_counts()) >= 2:
            verbs.train_model(project, user="bench")
    times[f"{args.rounds} rounds of {args.batch}: select, label, train, predict all"] = (
        time.perf_counter() - t0
    )
    total = sum(times.values())
    rows = [{"stage": k, "seconds": round(v, 1)} for k, v in times.items()]
    rows.append({"stage": f"total ({len(emb.keys):,} images)", "seconds": round(total, 1)})
    project.close()
    write_results(
        "e2e",
        rows,
        notes=f"Target: total <= {TARGET_S:.0f} s on this 2-core CPU: "
        f"{'met' if total <= TARGET_S else 'NOT met'}. One run on a fresh project; the dataset "
        "and the SimCLR checkpoint are prepared once beforehand and not timed.",
    )


if __name__ == "__main__":
    main()
