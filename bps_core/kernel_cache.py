"""Keep UMAP's compiled numba kernels on disk, so a new process loads them instead of compiling.

umap-learn declares most of its numba kernels without ``cache=True``, so every new process
(a CLI run, a server start's warm worker) compiled them again: about 23 CPU seconds on this
project's machine, a fifth of the 2-minute budget for 100k images end to end
(bench/results/e2e.md). Turning numba's own on-disk cache on for those kernels brings a later
process's warm-up to about 10 s; what is left is pynndescent's ``nn_descent``, which numba
cannot cache (it uses dynamic globals) and the kernels it pulls in.

The cache lives in a folder of its own per numba, umap-learn and pynndescent version
(``default_folder``): numba checks a cached kernel against its own source file, but not against
the other kernels it inlined, so a folder per set of versions keeps an upgrade of one package
from meeting the other's stale code.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

_PACKAGES = ("numba", "umap-learn", "pynndescent")
_lock = threading.Lock()
_enabled: Path | None = None


def default_folder() -> Path:
    """``$XDG_CACHE_HOME`` (or ``~/.cache``) ``/bps-labeler/numba/<versions>``."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    tags = []
    for name in _PACKAGES:
        try:
            tags.append(f"{name}-{version(name)}")
        except PackageNotFoundError:
            tags.append(f"{name}-none")
    return base / "bps-labeler" / "numba" / "_".join(tags)


def cache_umap_kernels(folder: Path | None = None) -> Path | None:
    """Turns numba's on-disk cache on for umap's and pynndescent's kernels (once per process).

    Kernels compiled afterwards are saved under ``folder``; a later process that calls this too
    loads them instead of compiling. Kernels numba cannot cache, or a folder that cannot be
    written, are left to compile as before: this never fails a map.

    Args:
        folder: Where the compiled kernels go; None: ``default_folder()``.

    Returns:
        The folder in use (the first call's, on every later call), or None where numba's
        dispatcher API is not there to switch on.
    """
    global _enabled
    with _lock:
        if _enabled is not None:
            return _enabled
        # Their modules must be loaded to be found below.
        importlib.import_module("pynndescent")
        importlib.import_module("umap")

        try:
            from numba.core import config as numba_config
            from numba.core.registry import CPUDispatcher
        except ImportError:  # pragma: no cover - a numba without this layout
            return None
        target = folder or default_folder()
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
        # numba says so, once per kernel and process, for the ones it cannot cache (they
        # compile as before): not something a user of the CLI or the app can act on.
        warnings.filterwarnings("ignore", message=r".*Cannot cache compiled function")
        config: Any = numba_config  # untyped module attributes
        before = config.CACHE_DIR
        config.CACHE_DIR = str(target)  # read when each kernel's cache is made, below
        try:
            for name, module in list(sys.modules.items()):
                if module is None or not name.startswith(("umap", "pynndescent")):
                    continue
                for obj in list(vars(module).values()):
                    cache = getattr(obj, "_cache", None)
                    if isinstance(obj, CPUDispatcher) and type(cache).__name__ == "NullCache":
                        try:
                            obj.enable_caching()
                        except RuntimeError:  # no writable place for this kernel: compile it
                            continue
        finally:
            config.CACHE_DIR = before
        _enabled = target
        return target
