"""The labeling queue: walk through a list of samples one image (or one small page) at a time.

The queue is a value: moving or labeling returns a new queue, so the UI keeps it in session
state and tests drive it without a browser. Labels themselves are written by the project store
at once; the queue only decides what to show next.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class LabelQueue:
    """``keys`` in order; ``position`` is the first key of the current page and equals
    ``len(keys)`` once the queue is finished."""

    keys: tuple[str, ...]
    position: int = 0
    page_size: int = 1

    @classmethod
    def of(cls, keys: Iterable[str], page_size: int = 1) -> LabelQueue:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        return cls(tuple(dict.fromkeys(keys)), 0, page_size)

    @property
    def current(self) -> tuple[str, ...]:
        """The keys on the current page (empty once finished)."""
        return self.keys[self.position : self.position + self.page_size]

    @property
    def finished(self) -> bool:
        return self.position >= len(self.keys)

    @property
    def page(self) -> int:
        """1-based number of the current page."""
        return self.position // self.page_size + 1

    @property
    def n_pages(self) -> int:
        return max(1, -(-len(self.keys) // self.page_size))

    def move(self, pages: int) -> LabelQueue:
        """Moves ``pages`` forward (negative: back), clamped to the first page and to the
        finished state after the last one."""
        last_start = (self.n_pages - 1) * self.page_size
        pos = self.position + pages * self.page_size
        if pos > last_start:
            pos = len(self.keys) if pages > 0 else last_start
        return replace(self, position=max(0, pos))

    def with_page_size(self, page_size: int) -> LabelQueue:
        """The same queue shown ``page_size`` at a time, keeping the current key on screen."""
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        pos = min(self.position, len(self.keys))
        return replace(self, page_size=page_size, position=pos - pos % page_size)


def unlabeled_keys(samples: pd.DataFrame, labeled: Iterable[str], seed: int = 0) -> list[str]:
    """Keys of usable samples without a label, in a seeded random order (a plate-ordered
    queue would show one condition for hours)."""
    done = set(labeled)
    ok = samples[(samples.status == "ok") & ~samples.key.isin(done)].key.to_numpy()
    return [str(k) for k in np.random.default_rng(seed).permutation(ok)]
