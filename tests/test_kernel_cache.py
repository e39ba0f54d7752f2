"""The on-disk cache of UMAP's numba kernels: a second process loads what the first compiled.

Each check runs in a fresh interpreter: switching the cache on is per process and lasts for
the rest of it, so doing it in the test process would redirect every later test's kernels.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Compiles one small umap kernel that umap-learn declares without numba's cache.
SCRIPT = """
import json, sys
from pathlib import Path
import numpy as np
from bps_core.kernel_cache import cache_umap_kernels
folder = cache_umap_kernels(Path(sys.argv[1]))
again = cache_umap_kernels(Path(sys.argv[1]) / "other")
from umap.umap_ import smooth_knn_dist
smooth_knn_dist(np.random.default_rng(0).random((20, 5)).astype(np.float32), 5.0)
import warnings
from numba.core.errors import NumbaWarning
# what numba warns when a kernel cannot be cached (pynndescent's nn_descent; slow to compile)
warnings.warn(NumbaWarning('Cannot cache compiled function "nn_descent" as it uses dynamic '
                           'globals (such as ctypes pointers and large global arrays)'))
stats = smooth_knn_dist.stats
print(json.dumps({"folder": str(folder), "again": str(again),
                  "cache": type(smooth_knn_dist._cache).__name__,
                  "hits": sum(stats.cache_hits.values()),
                  "misses": sum(stats.cache_misses.values())}))
"""


def _run(folder: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(folder)],
        capture_output=True, text=True, env=env, check=True, timeout=300,
    )  # fmt: skip
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    result["stderr"] = out.stderr
    return result


def test_cache_umap_kernels__second_process_loads_the_compiled_kernel(tmp_path: Path) -> None:
    first = _run(tmp_path)
    assert first["folder"] == str(tmp_path)
    assert first["again"] == str(tmp_path)  # once per process: the first folder stays
    assert first["cache"] == "FunctionCache"
    assert first["misses"] == 1
    assert first["hits"] == 0
    assert any(p.suffix == ".nbi" for p in tmp_path.rglob("*"))  # numba's index was written

    assert "Cannot cache" not in str(first["stderr"])  # nothing a user could act on

    second = _run(tmp_path)
    assert second["hits"] == 1
    assert second["misses"] == 0


def test_cache_umap_kernels__unwritable_folder_leaves_kernels_to_compile(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = _run(blocker / "cache")
    assert result["folder"] == "None"
    assert result["cache"] == "NullCache"
    assert result["hits"] == 0
