"""The labeling queue: walk through a list of samples one image (or one small page) at a time.

The queue is a value: moving or labeling returns a new queue, so the UI keeps it in session
state and tests drive it without a browser. Labels themselves are written by the project store
at once; the queue only decides what to show next and which tiles of a page a class key labels.
Progress counts the queue's samples that carry a label, not the position: skipping is not done.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class LabelQueue:
    """A labeling queue: ``keys`` in order, shown one page of ``page_size`` tiles at a time.

    ``position`` is the index of the first key of the current page and equals ``len(keys)``
    once the queue is finished.

    On a page of several tiles, ``unchosen`` holds the tiles a class key leaves alone (all are
    chosen when a page opens) and ``labeled_here`` the tiles labeled since the page opened.
    """

    keys: tuple[str, ...]
    position: int = 0
    page_size: int = 1
    unchosen: frozenset[str] = frozenset()
    labeled_here: frozenset[str] = frozenset()
    #: ``keys`` as a set, made on first use and carried along by every move (``keys`` never
    #: changes): progress is counted on every key press, a 77k-key set each time cost 30 ms.
    _key_set: frozenset[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, keys: Iterable[str], page_size: int = 1) -> LabelQueue:
        """A new queue on its first page; repeated keys are kept once, at their first place.

        Raises:
            ValueError: ``page_size`` is below 1.
        """
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        return cls(tuple(dict.fromkeys(keys)), 0, page_size)

    @classmethod
    def resumed(
        cls, keys: Iterable[str], page_size: int, labeled: Iterable[str]
    ) -> LabelQueue | None:
        """The queue of ``keys`` opened where a labeler left off.

        That is the first page holding a key not in ``labeled``; None when every key is.

        Raises:
            ValueError: ``page_size`` is below 1.
        """
        q, done = cls.of(keys, page_size), set(labeled)
        first = next((i for i, k in enumerate(q.keys) if k not in done), None)
        return None if first is None else q._open(first // page_size * page_size)

    @property
    def current(self) -> tuple[str, ...]:
        """The keys on the current page (empty once finished)."""
        return self.keys[self.position : self.position + self.page_size]

    @property
    def chosen(self) -> tuple[str, ...]:
        """The tiles of the current page that a class key labels."""
        return tuple(k for k in self.current if k not in self.unchosen)

    @property
    def finished(self) -> bool:
        """True once the queue moved past its last page."""
        return self.position >= len(self.keys)

    @property
    def page(self) -> int:
        """1-based number of the current page."""
        return self.position // self.page_size + 1

    @property
    def n_pages(self) -> int:
        """The number of pages (at least 1, even for an empty queue)."""
        return max(1, -(-len(self.keys) // self.page_size))

    def upcoming(self, n: int) -> tuple[str, ...]:
        """The ``n`` keys after the current page, in order: what to prepare ahead."""
        start = self.position + len(self.current)
        return self.keys[start : start + max(n, 0)]

    def move(self, pages: int) -> LabelQueue:
        """The queue ``pages`` pages further on (negative: back), every tile chosen.

        The move is clamped to the first page, and to the finished state after the last one.
        """
        last_start = (self.n_pages - 1) * self.page_size
        pos = self.position + pages * self.page_size
        if pos > last_start:
            pos = len(self.keys) if pages > 0 else last_start
        return self._open(max(0, pos))

    def _open(self, position: int) -> LabelQueue:
        """The page starting at ``position``, every tile chosen."""
        return replace(self, position=position, unchosen=frozenset(), labeled_here=frozenset())

    def toggle(self, key: str) -> LabelQueue:
        """Chooses or unchooses one tile of the current page (other keys are ignored)."""
        if key not in self.current:
            return self
        return replace(self, unchosen=self.unchosen ^ {key})

    def choose(self, keys: Iterable[str]) -> LabelQueue:
        """Chooses exactly ``keys`` among the current page's tiles."""
        wanted = set(keys)
        return replace(self, unchosen=frozenset(k for k in self.current if k not in wanted))

    def after_labeling(self, keys: Iterable[str]) -> LabelQueue:
        """The queue once ``keys`` of the current page got a label.

        It is the next page when every tile here has one, else this page with the tiles still
        to label chosen.
        """
        here = self.labeled_here | (set(keys) & set(self.current))
        if set(self.current) <= here:
            return self.move(1)
        return replace(self, labeled_here=frozenset(here)).choose(
            k for k in self.current if k not in here
        )

    def after_undo(self, position: int, keys: Iterable[str]) -> LabelQueue:
        """The queue once a label given on the page at ``position`` to ``keys`` was undone.

        It shows that page again, with those tiles chosen (an earlier page's other tiles count
        as done: the queue had moved past them).
        """
        undone = set(keys)
        if position == self.position:
            return replace(self, labeled_here=self.labeled_here - undone).choose(undone)
        q = self._open(position)
        return replace(q, labeled_here=frozenset(set(q.current) - undone)).choose(undone)

    @property
    def key_set(self) -> frozenset[str]:
        """The queue's keys as a set."""
        if self._key_set is None:
            object.__setattr__(self, "_key_set", frozenset(self.keys))  # a cache: still frozen
        assert self._key_set is not None
        return self._key_set

    def n_labeled(self, labeled: Iterable[str]) -> int:
        """How many of the queue's samples are in ``labeled`` (the keys that carry a label)."""
        if isinstance(labeled, (set, frozenset)):
            return len(self.key_set & labeled)  # walks the smaller of the two
        return len(self.key_set.intersection(labeled))

    def unlabeled(self, labeled: Iterable[str]) -> list[str]:
        """The queue's samples not in ``labeled``, in queue order (what skipping left over)."""
        done = set(labeled)
        return [k for k in self.keys if k not in done]


def unlabeled_keys(
    samples: pd.DataFrame,
    labeled: Iterable[str],
    seed: int = 0,
    first: Collection[str] = (),
) -> list[str]:
    """Keys of usable samples (status ``ok``) without a label, in a seeded random order.

    A plate-ordered queue would show one condition for hours.

    Args:
        samples: The project's samples frame (``key``, ``status``).
        labeled: Keys to leave out.
        seed: Seed of the order.
        first: Keys put ahead of the rest (a labeler's double-labeling assignments), in one
            seeded order of all samples, so every labeler meets the shared samples in the same
            order and their overlap grows from the first label on.
    """
    done = set(labeled)
    ok = samples[(samples.status == "ok") & ~samples.key.isin(done)].key.to_numpy()
    rest = [str(k) for k in np.random.default_rng(seed).permutation(ok)]
    if not first:
        return rest
    ahead = set(first) - done
    everyone = np.random.default_rng(seed).permutation(samples.key.to_numpy())
    head = [str(k) for k in everyone if k in ahead]
    return head + [k for k in rest if k not in ahead]
