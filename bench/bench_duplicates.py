"""Near-duplicate recall on planted duplicates at 100k samples, and its time: HNSW against exact.

What is measured, exactly:

1. Real images: the demo set's 1,020 synthetic BPS crops (``/work/demo-template/data``, or any
   folder given with ``--data``), plus ``--per-kind`` planted copies of randomly chosen crops
   of each kind: ``exact`` (the file copied), ``lossless`` (re-encoded, another TIFF
   compression: same pixels), ``lossy`` (re-encoded through an 8-bit JPEG, quality 90, as
   16-to-8-bit exports do), ``shifted`` (the crop window moved by 2 px) and ``rewindowed``
   (intensities x 1.2 + 30: another exposure or display window). Every copy is filed under a
   different well, so each planted pair is also a leak across a well-grouped split.
2. The real embedder: the demo project's trained SimCLR backbone (ResNet-18, 512 dims) embeds
   every real and planted image (``verbs.compute_embeddings`` with ``checkpoint``); the pixel
   baseline too, for comparison. ``verbs.flags`` runs on this real project (exact duplicates by
   pixel hash, the 1.5k-sample row).
   The flags verb also computes every crop's shift-tolerant pixel descriptor
   (``bps_core/quality/shift_descriptor.py``: registered on the object by mean shift, blurred,
   sampled on a 16 x 16 grid); its rows are searched and scored like the embeddings, and a
   pair found by SimCLR or by the descriptor counts once ('simclr or descriptor').
3. 100k samples: the rest are distractor embeddings, synthetic points drawn like SMOTE [0]: a
   random real crop's embedding moved a uniform share of the way towards one of its 10 nearest
   real neighbours, plus Gaussian noise at the real nearest-neighbour scale, then L2-normalised.
   They crowd the real points as a 100x larger real set would; no image is decoded for them.
4. Neighbour search over all 100k vectors (k = 5): faiss exact (brute force) and HNSW
   (M = 32, efSearch = 64), each timed once (build and query). A planted pair counts as found
   when the copy and its source are within ``near_duplicate_ratio`` (default 0.15) x the median
   distance to the 5th nearest neighbour of each other, among each one's 5 nearest neighbours,
   as the ``near_duplicate`` flag decides. ``false pairs`` counts flagged pairs of two real original
   crops (distinct nuclei, so every one is a false alarm).

- [0] Chawla et al., 2002, SMOTE, https://doi.org/10.1613/jair.953

Run: ``nice -n 15 .venv/bin/python bench/bench_duplicates.py [--n 100000]``.
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import tifffile  # noqa: E402
from _common import WORK, write_results  # noqa: E402
from numpy.typing import NDArray  # noqa: E402
from PIL import Image  # noqa: E402

from bps_core import verbs  # noqa: E402
from bps_core.quality.duplicates import (  # noqa: E402
    Neighbours,
    near_duplicate_pairs,
    nearest_neighbours,
)
from bps_core.quality.flags import neighbour_scale  # noqa: E402
from bps_core.quality.shift_descriptor import load_descriptors, shift_descriptor  # noqa: E402

DEMO = Path("/work/demo-template")
KINDS = ("exact", "lossless", "lossy", "shifted", "rewindowed")
RATIOS = (0.1, 0.15, 0.25)
#: The shift-tolerant descriptor's ratios (shift_ratio; its default is 0.25).
DESCRIPTOR_RATIOS = (0.15, 0.25, 0.35)
#: The defaults of near_duplicate_ratio and shift_ratio.
DEFAULT_RATIO = {"pixels": 0.15, "simclr": 0.15, "descriptor": 0.25}


def descriptor_cost(files: list[Path]) -> float:
    """Milliseconds per crop of ``shift_descriptor`` on already decoded images (median of 3)."""
    imgs = [tifffile.imread(f) for f in files]
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        for img in imgs:
            shift_descriptor(img)
        times.append((time.perf_counter() - t0) / len(imgs) * 1e3)
    return float(np.median(times))


def _planted(img: NDArray[np.uint16], kind: str) -> NDArray[np.uint16]:
    if kind in ("exact", "lossless"):
        return img
    if kind == "lossy":
        lo, hi = float(img.min()), float(img.max())
        eight = np.round((img - lo) / max(hi - lo, 1.0) * 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(eight).save(buf, format="JPEG", quality=90)
        back = np.asarray(Image.open(io.BytesIO(buf.getvalue())), dtype=np.float64)
        return np.round(back / 255 * (hi - lo) + lo).astype(np.uint16)
    if kind == "shifted":
        h, w = img.shape
        out = np.empty_like(img)
        out[: h - 2, : w - 2] = img[2:, 2:]
        out[h - 2 :, :] = np.median(img[:2])
        out[:, w - 2 :] = np.median(img[:, :2])
        return out
    if kind == "rewindowed":
        return np.clip(img.astype(np.float64) * 1.2 + 30, 0, 65535).astype(np.uint16)
    raise ValueError(kind)


def plant(source: Path, dest: Path, per_kind: int, seed: int) -> dict[str, tuple[str, str]]:
    """Copies the source set to ``dest`` and plants copies; planted name -> (source, kind)."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(source, dest)
    train = next(p.parent for p in dest.rglob("*_proj.tif"))
    originals = sorted(p.name for p in train.glob("*_proj.tif"))
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(originals), size=per_kind * len(KINDS), replace=False)
    planted: dict[str, tuple[str, str]] = {}
    for j, i in enumerate(picked):
        kind = KINDS[j // per_kind]
        name = (
            f"P242_73665006707-Z{KINDS.index(kind) + 1}_{j // 100 + 100:03d}_{j % 100:03d}_proj.tif"
        )
        src = originals[int(i)]
        if kind == "exact":
            shutil.copy(train / src, train / name)
        else:
            img = tifffile.imread(train / src)
            comp = "zlib" if kind == "lossless" else None
            tifffile.imwrite(train / name, _planted(img, kind), compression=comp)
        planted[name] = (src, kind)
    return planted


def distractors(real: NDArray[np.float32], n: int, seed: int) -> NDArray[np.float32]:
    """``n`` SMOTE-style points between real embeddings and their near neighbours, plus noise."""
    rng = np.random.default_rng(seed)
    nb = nearest_neighbours(real, k=10)
    scale = float(np.median(nb.distances[:, 0])) / np.sqrt(real.shape[1])
    a = rng.integers(0, len(real), n)
    b = nb.indices[a, rng.integers(0, 10, n)]
    u = rng.random((n, 1)).astype(np.float32)
    x = real[a] + u * (real[b] - real[a]) + rng.normal(0, scale, (n, real.shape[1]))
    out: NDArray[np.float32] = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return out


def found_pairs(nb: Neighbours, keys: list[str], ratio: float) -> tuple[set[frozenset[str]], float]:
    """The near-duplicate pairs (by name) at ``ratio`` x the neighbour scale, and the cutoff."""
    cutoff = ratio * neighbour_scale(nb)
    pairs = near_duplicate_pairs(nb, cutoff)
    return {frozenset((keys[a], keys[b])) for a, b in zip(pairs.a, pairs.b, strict=True)}, cutoff


def score(
    found: set[frozenset[str]], planted: dict[str, tuple[str, str]], real: set[str]
) -> dict[str, object]:
    """Recall per kind, and false pairs: found pairs of two distinct real crops."""
    out: dict[str, object] = {}
    for kind in KINDS:
        hits = [frozenset((c, s)) in found for c, (s, k) in planted.items() if k == kind]
        out[kind] = f"{np.mean(hits):.2f}"
    out["false pairs"] = sum(1 for p in found if p <= real)
    return out


def recall(
    nb: Neighbours, keys: list[str], planted: dict[str, tuple[str, str]], ratio: float,
    originals: int,
) -> dict[str, object]:  # fmt: skip
    """Recall per kind and false pairs among the first ``originals`` rows (real crops)."""
    found, cutoff = found_pairs(nb, keys, ratio)
    return {**score(found, planted, set(keys[:originals])), "cutoff": f"{cutoff:.4f}"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000, help="samples in the large set")
    parser.add_argument("--per-kind", type=int, default=100)
    parser.add_argument("--data", type=Path, default=DEMO / "data")
    parser.add_argument("--checkpoint-project", type=Path, default=DEMO / "project")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data = WORK / "dups_data"
    planted = plant(args.data, data, args.per_kind, args.seed)
    folder = WORK / "dups_project"
    shutil.rmtree(folder, ignore_errors=True)
    project, _ = verbs.create_project_from_folder(folder, data)
    ckpt = next((args.checkpoint_project / "arrays" / "checkpoints").glob("*.pt"))
    (folder / "arrays" / "checkpoints").mkdir(parents=True, exist_ok=True)
    shutil.copy(ckpt, folder / "arrays" / "checkpoints" / ckpt.name)
    rows: list[dict[str, object]] = []
    with project:
        sets = {}
        for method, cfg in (
            ("pixels", verbs.EmbedConfig(method="pixels")),
            ("simclr", verbs.EmbedConfig(method="simclr", checkpoint=ckpt.stem)),
        ):
            t0 = time.perf_counter()
            verbs.compute_embeddings(project, cfg)
            emb = verbs.load_embedding_set(project)
            assert emb is not None
            sets[method] = (emb.keys, np.asarray(emb.vectors, dtype=np.float32),
                            time.perf_counter() - t0)  # fmt: skip
        t0 = time.perf_counter()
        report = verbs.flags(project, verbs.FlagSettings())
        flag_s = time.perf_counter() - t0
        desc = load_descriptors(project.arrays_dir)
        sets["descriptor"] = (desc.keys, desc.vectors, flag_s)
        per_image_ms = descriptor_cost(sorted(data.rglob("*_proj.tif"))[:300])
    result = report.result
    rel = result.frame.relpath.str.rsplit("/", n=1).str[-1]
    dup_names = set(rel[result.frame.duplicate])
    hash_row: dict[str, object] = {"embedding": "pixel hash", "samples": len(result.frame),
                                   "search": "sha256", "search s": f"{flag_s:.1f}"}  # fmt: skip
    for kind in KINDS:
        names = [c for c, (_, k) in planted.items() if k == kind]
        hash_row[kind] = f"{np.mean([c in dup_names for c in names]):.2f}"
    hash_row["false pairs"] = int(result.pairs.exact.sum()) - 2 * args.per_kind
    hash_row["cutoff"] = "equal"
    rows.append(hash_row)

    # What the flags verb itself reports on the real project: embedding (SimCLR) at its
    # default ratio, or the descriptor at its default shift_ratio.
    rel_key = dict(zip(result.frame.index, rel, strict=True))
    p = result.pairs  # same pixels, embedding, descriptor
    verb_found = {frozenset((rel_key[a], rel_key[b]))
                  for a, b in zip(p.key_a, p.key_b, strict=True)}  # fmt: skip
    real_names = {n for n in rel if n not in planted}
    t = verbs.FlagThresholds()
    rows.append({"embedding": "flags verb: simclr or descriptor", "samples": len(result.frame),
                 "search": "exact", "search s": f"{flag_s:.1f}",
                 **score(verb_found, planted, real_names),
                 "cutoff": f"{result.cutoffs['near_distance']:.4f} / "
                           f"{result.cutoffs['shift_distance']:.4f}",
                 "ratio": f"{t.near_duplicate_ratio} / {t.shift_ratio}",
                 "note": f"descriptor {per_image_ms:.2f} ms per decoded crop; flags run "
                         "(decode + descriptors + search) timed"})  # fmt: skip
    big_found: dict[str, dict[str, tuple[set[frozenset[str]], set[str]]]] = {}
    for method, (keys, vectors, embed_s) in sets.items():
        names = [k.split(":", 1)[1].rsplit("/", 1)[-1] for k in keys]
        is_planted = np.array([n in planted for n in names])
        order = np.concatenate([np.flatnonzero(~is_planted), np.flatnonzero(is_planted)])
        keys_o = [names[i] for i in order]
        x = vectors[order]
        n_orig = int((~is_planted).sum())
        small = nearest_neighbours(x, k=5)
        ratios = DESCRIPTOR_RATIOS if method == "descriptor" else RATIOS
        for ratio in ratios:
            rows.append({"embedding": method, "samples": len(x), "search": "exact",
                         "search s": "-", **recall(small, keys_o, planted, ratio, n_orig),
                         "ratio": ratio})  # fmt: skip
        extra = distractors(x[:n_orig], max(args.n - len(x), 0), args.seed)
        big = np.concatenate([x, extra])
        keys_big = keys_o + [f"distractor{i}" for i in range(len(extra))]
        timed: dict[str, tuple[Neighbours, float]] = {}
        for search, below in (("exact", len(big) + 1), ("hnsw", 0)):
            t0 = time.perf_counter()
            nb = nearest_neighbours(big, k=5, exact_below=below)
            timed[search] = (nb, time.perf_counter() - t0)
        agree = float(np.mean(timed["hnsw"][0].indices[:, 0] == timed["exact"][0].indices[:, 0]))
        for search, (nb, secs) in timed.items():
            for ratio in ratios:
                found = recall(nb, keys_big, planted, ratio, n_orig)
                if ratio == DEFAULT_RATIO[method] and method in ("simclr", "descriptor"):
                    big_found.setdefault(search, {})[method] = (
                        found_pairs(nb, keys_big, ratio)[0],
                        set(keys_o[:n_orig]),
                    )
                rows.append({"embedding": method, "samples": len(big), "search": search,
                             "search s": f"{secs:.1f}", **found, "ratio": ratio})  # fmt: skip
        print(f"{method}: embedded {len(x)} in {embed_s:.1f} s; HNSW 1-NN equals exact for "
              f"{agree:.3f} of {len(big)}", flush=True)  # fmt: skip
        rows[-1]["note"] = f"HNSW 1-NN = exact 1-NN for {agree:.3f}"
    for search, by_method in big_found.items():  # the union, as the flags verb decides
        either = by_method["simclr"][0] | by_method["descriptor"][0]
        secs = sum(float(r["search s"]) for r in rows if r["samples"] == args.n
                   and r["search"] == search and r["embedding"] in ("simclr", "descriptor")
                   and r["ratio"] == DEFAULT_RATIO[str(r["embedding"])])  # fmt: skip
        rows.append({"embedding": "simclr or descriptor", "samples": args.n, "search": search,
                     "search s": f"{secs:.1f}",
                     **score(either, planted, by_method["simclr"][1]),
                     "cutoff": "-", "ratio": f"{DEFAULT_RATIO['simclr']} / "
                     f"{DEFAULT_RATIO['descriptor']}"})  # fmt: skip
    for r in rows:
        r.setdefault("ratio", "-")
        r.setdefault("note", "")
    notes = (
        f"{args.per_kind} planted copies per kind among {len(result.frame) - 5 * args.per_kind} "
        "real crops; the rest of each large set are SMOTE-style distractor embeddings (see "
        "bench/bench_duplicates.py). Columns per kind: share of planted pairs found; "
        "'false pairs': flagged pairs of two distinct real crops; 'search s': one run of "
        "building the index and querying every sample's 5 nearest neighbours; 'ratio': "
        "near_duplicate_ratio (x the median distance to the 5th nearest neighbour); for "
        "'descriptor', shift_ratio (x the same median, by descriptor). 'descriptor': the "
        "shift-tolerant pixel descriptor (bps_core/quality/shift_descriptor.py); "
        "'simclr or descriptor': a pair either finds at its default ratio, as the flags verb "
        "decides; 'flags verb' rows: what verbs.flags reports on the real 1.5k project."
    )
    write_results("duplicates", rows, notes)


if __name__ == "__main__":
    main()
