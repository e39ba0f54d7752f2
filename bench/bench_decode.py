"""Decode: our one-time decode cache against per-file PIL open + resize in a Dataset.

The peer is the common default: a ``torch.utils.data.Dataset`` whose ``__getitem__`` opens the
file with ``PIL.Image.open``, converts it to float and resizes it, read through a DataLoader;
every epoch decodes again. Ours decodes each image once (a thread pool) into a memory-mapped
cache of normalised 64 px uint16 squares; later epochs read the cache.
Targets: first pass >= 1.3x the peer's epoch; cached passes >= 50x.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median_time, write_results  # noqa: E402
from _data import full_project  # noqa: E402

from bps_core.embeddings.cache import CacheSpec, build_cache  # noqa: E402
from bps_core.storage import LocalFolderSource  # noqa: E402

SIZE = 64


class PilDataset(torch.utils.data.Dataset[torch.Tensor]):
    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        with Image.open(self.paths[i]) as im:
            arr = np.asarray(im.convert("F").resize((SIZE, SIZE), Image.Resampling.BILINEAR))
        return torch.from_numpy(arr / 65535.0).unsqueeze(0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=None, help="images (default: full, ~77k)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    project = full_project(args.n)
    s = project.samples()
    root = Path(project.config.datasource.path)
    paths = [root / r for r in s.relpath]
    keys, rel = s.key.tolist(), s.relpath.tolist()
    n = len(paths)

    def peer_epoch() -> None:
        loader = torch.utils.data.DataLoader(PilDataset(paths), batch_size=256, num_workers=0)
        for _ in loader:
            pass

    def ours_first() -> None:
        shutil.rmtree(project.arrays_dir / "cache", ignore_errors=True)
        build_cache(project.arrays_dir, LocalFolderSource(root), rel, keys, CacheSpec(SIZE))

    def ours_cached() -> None:
        cache = build_cache(project.arrays_dir, LocalFolderSource(root), rel, keys, CacheSpec(SIZE))
        for start in range(0, n, 256):
            batch = np.asarray(cache.images[start : start + 256], dtype=np.float32) / 65535.0
            torch.from_numpy(batch).unsqueeze(1)

    t_peer = median_time(peer_epoch, repeats=args.repeats)
    t_first = median_time(ours_first, repeats=args.repeats)
    t_cached = median_time(ours_cached, repeats=args.repeats)
    rows = [
        {"path": "peer: PIL open + resize per file, every epoch", "seconds": f"{t_peer:.2f}",
         "images/s": f"{n / t_peer:.0f}", "speed-up": "1.0x", "target": "-"},
        {"path": "ours: first pass (decode once into the cache)", "seconds": f"{t_first:.2f}",
         "images/s": f"{n / t_first:.0f}", "speed-up": f"{t_peer / t_first:.1f}x",
         "target": ">= 1.3x"},
        {"path": "ours: cached pass (memory-mapped uint16)", "seconds": f"{t_cached:.3f}",
         "images/s": f"{n / t_cached:.0f}", "speed-up": f"{t_peer / t_cached:.0f}x",
         "target": ">= 50x"},
    ]  # fmt: skip
    write_results(
        "decode",
        rows,
        f"{n} synthetic 16-bit FITC crops to 64 px; median of {args.repeats} runs after a "
        "warm-up, both paths in one run on this machine (2 cores).",
    )


if __name__ == "__main__":
    main()
