"""Lightly's selection config (SelectionConfigV4): read it, write it, and run it here.

Semantics as LightlyOne documents them: THRESHOLD entries filter the pool first; every other
entry contributes an objective, and the greedy picks, one sample at a time, the candidate with
the largest product of objectives, each raised to its ``strength`` (a sum of logs here).
DIVERSITY's objective is the distance to the nearest labeled or already-picked sample, so it
changes after every pick; BALANCE steers the running histogram toward its target.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bps_core.selection.kcenter import distances_to_set
from bps_core.selection.pool import Indices, Pool, SelectionError, check_budget, rng_for
from bps_core.selection.strategies import Typicality, column_values, group_labels, passes

INPUT_TYPES = ("EMBEDDINGS", "SCORES", "METADATA", "PREDICTIONS", "RANDOM")
STRATEGY_TYPES = ("DIVERSITY", "WEIGHTS", "THRESHOLD", "BALANCE", "SIMILARITY", "TYPICALITY")
_INPUT_KEYS = {"type", "task", "score", "key", "name", "dataset_id", "tag_name", "random_seed",
               "categories"}  # fmt: skip
_STRATEGY_KEYS = {"type", "strength", "stopping_condition_minimum_distance", "target",
                  "distribution", "threshold", "operation", "num_nearest_neighbors"}  # fmt: skip
_NAME_RE = re.compile(r"^[a-zA-Z0-9_+=,.@:/-]*$")
_EPS = 1e-6


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _normalise(obj: Mapping[str, Any], allowed: set[str], where: str) -> dict[str, Any]:
    out = {}
    for k, v in obj.items():
        key = _snake(k)
        if key not in allowed:
            raise SelectionError(
                f"{where}: unknown field {k!r} (allowed: {', '.join(sorted(allowed))})"
            )
        out[key] = v
    return out


@dataclass(frozen=True)
class Entry:
    """One {input, strategy} pair of a selection config, as normalised snake_case dicts."""

    input: dict[str, Any]
    strategy: dict[str, Any]

    @property
    def strength(self) -> float:
        """The entry's exponent in the product of objectives (1.0 when not given)."""
        return float(self.strategy.get("strength", 1.0))


@dataclass(frozen=True)
class SelectionConfig:
    """A list of {input, strategy} entries and how many samples to pick."""

    strategies: tuple[Entry, ...]
    n_samples: int | None = None
    proportion_samples: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SelectionConfig:
        """Reads snake_case or camelCase, as the Lightly models do; refuses unknown fields."""
        top = {_snake(k): v for k, v in raw.items()}
        n, prop = top.pop("n_samples", None), top.pop("proportion_samples", None)
        if (n is None) == (prop is None):
            raise SelectionError(
                "selection config needs exactly one of n_samples and proportion_samples"
            )
        if n is not None and (not isinstance(n, int) or n < 1):
            raise SelectionError(f"n_samples must be a positive integer, got {n!r}")
        if prop is not None:
            try:
                in_range = 0 < float(prop) <= 1
            except (TypeError, ValueError):  # a list, an object or words: not a number
                in_range = False
            if not in_range:
                raise SelectionError(f"proportion_samples must be in (0, 1], got {prop!r}")
        entries = []
        for i, e in enumerate(top.pop("strategies", None) or []):
            where = f"strategies[{i}]"
            if not isinstance(e, Mapping) or set(e) != {"input", "strategy"}:
                raise SelectionError(f"{where} must be an object with 'input' and 'strategy'")
            inp = _normalise(e["input"], _INPUT_KEYS, f"{where}.input")
            strat = _normalise(e["strategy"], _STRATEGY_KEYS, f"{where}.strategy")
            if inp.get("type") not in INPUT_TYPES:
                raise SelectionError(f"{where}.input.type must be one of {', '.join(INPUT_TYPES)}")
            if strat.get("type") not in STRATEGY_TYPES:
                raise SelectionError(
                    f"{where}.strategy.type must be one of {', '.join(STRATEGY_TYPES)}"
                )
            for name in ("task", "score"):
                if name in inp and not _NAME_RE.match(str(inp[name])):
                    raise SelectionError(f"{where}.input.{name} has characters Lightly refuses")
            entries.append(Entry(inp, strat))
        if not entries:
            raise SelectionError("selection config needs at least one strategy")
        unknown = set(top) - {"lightly_path_regex", "auto_tasks"}
        if unknown:
            raise SelectionError(f"unknown selection config field(s): {', '.join(sorted(unknown))}")
        return cls(tuple(entries), n, None if prop is None else float(prop), top)

    @classmethod
    def from_json(cls, text: str) -> SelectionConfig:
        """Parses a selection config from JSON text, then checks it as ``from_dict`` does.

        Raises:
            SelectionError: Invalid JSON (line and column, never content), not a JSON object,
                or any problem ``from_dict`` finds.
        """
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:  # its message gives line and column, no content
            raise SelectionError(f"selection config is not valid JSON: {exc}") from None
        if not isinstance(doc, Mapping):
            raise SelectionError("selection config must be a JSON object ({...})")
        return cls.from_dict(doc)

    def to_dict(self) -> dict[str, Any]:
        """The docs' snake_case form, readable by the Lightly Worker's models."""
        out: dict[str, Any] = {}
        if self.n_samples is not None:
            out["n_samples"] = self.n_samples
        else:
            out["proportion_samples"] = self.proportion_samples
        out["strategies"] = [{"input": e.input, "strategy": e.strategy} for e in self.strategies]
        return out | self.extra

    def budget(self, pool: Pool) -> int:
        """Returns how many samples to pick from ``pool``.

        ``n_samples`` when set; else ``proportion_samples`` of the pool's candidates, rounded,
        and at least one.
        """
        if self.n_samples is not None:
            return self.n_samples
        return max(1, round(float(self.proportion_samples or 0) * len(pool.candidates)))

    def select(
        self, pool: Pool, budget: int | None = None, random_state: int | None = 0
    ) -> Indices:
        """Runs the config on ``pool``; ``budget`` (when given) overrides the config's own.

        Returns:
            The picked pool row indices, in the order the greedy picked them (fewer than
            the budget when a stopping distance is reached).
        """
        return run_config(self, pool, budget or self.budget(pool), random_state)


def _static_objective(pool: Pool, e: Entry, random_state: int | None) -> NDArray[np.float64]:
    kind, src = e.strategy["type"], e.input["type"]
    if src == "RANDOM":
        seed = e.input.get("random_seed", random_state)
        return rng_for(seed).random(len(pool)) + _EPS
    if kind == "WEIGHTS":
        name = e.input.get("score") if src == "SCORES" else e.input.get("key")
        if not name:
            raise SelectionError("WEIGHTS needs a SCORES input with 'score' or a METADATA 'key'")
        v = np.nan_to_num(column_values(pool, str(name)), nan=0.0)
        v = v - min(v.min(), 0.0)
        weights: NDArray[np.float64] = v / (v.max() + _EPS) + _EPS
        return weights
    if kind == "SIMILARITY":
        query = e.input.get("query_rows") or pool.scores.get("__query__")
        if query is None or len(query) == 0:
            raise SelectionError("SIMILARITY needs query samples (a tag of samples to match)")
        q = np.asarray(query, dtype=np.int64)
        sims = (pool.embeddings @ pool.embeddings[q].T).max(axis=1)
        return np.asarray(sims, dtype=np.float64) + 1.0 + _EPS
    if kind == "TYPICALITY":
        k = int(e.strategy.get("num_nearest_neighbors", 20))
        order = Typicality(k=k, random_state=random_state).select(pool, len(pool.candidates))
        rank = np.zeros(len(pool))
        rank[order] = np.linspace(1.0, _EPS, len(order))
        return rank + _EPS
    raise SelectionError(f"strategy {kind} does not take input {src}")


def run_config(cfg: SelectionConfig, pool: Pool, budget: int, random_state: int | None) -> Indices:
    """Greedy selection under ``cfg``: thresholds filter, objectives multiply."""
    for e in cfg.strategies:
        if e.strategy["type"] == "THRESHOLD":
            name = e.input.get("key") or e.input.get("score")
            ok = passes(pool, str(name), e.strategy.get("operation", "BIGGER_EQUAL"),
                        float(e.strategy["threshold"]))  # fmt: skip
            pool = replace(pool, excluded=~ok if pool.excluded is None else pool.excluded | ~ok)
    cand = check_budget(pool, budget)
    log_static = np.zeros(len(cand))
    diversity: list[Entry] = []
    balances: list[tuple[Entry, NDArray[np.int64], NDArray[np.float64]]] = []
    for e in cfg.strategies:
        kind = e.strategy["type"]
        if kind == "THRESHOLD":
            continue
        if kind == "DIVERSITY":
            diversity.append(e)
        elif kind == "BALANCE":
            key = "prediction" if e.input["type"] == "PREDICTIONS" else str(e.input.get("key"))
            groups = group_labels(pool, [key]).to_numpy()[cand]
            names, codes = np.unique(groups, return_inverse=True)
            target = e.strategy.get("target")
            if target is None or e.strategy.get("distribution") == "UNIFORM":
                t = np.full(len(names), 1.0 / len(names))
            else:
                t = np.array([float(target.get(str(n), 0.0)) for n in names])
                t = t / t.sum() if t.sum() > 0 else np.full(len(names), 1.0 / len(names))
            balances.append((e, codes.astype(np.int64), t))
        else:
            log_static += e.strength * np.log(_static_objective(pool, e, random_state)[cand])
    covered = np.flatnonzero(pool.labeled).astype(np.int64)
    x = pool.embeddings
    dist = distances_to_set(x, cand, covered).astype(np.float64) if diversity else None
    if dist is not None and not np.isfinite(dist).any():
        dist[:] = 2.0  # nothing covered yet: every candidate is equally far
    stop = min((float(e.strategy["stopping_condition_minimum_distance"]) for e in diversity
                if "stopping_condition_minimum_distance" in e.strategy), default=None)  # fmt: skip
    counts = [np.zeros(len(t)) for _, _, t in balances]
    chosen = np.zeros(len(cand), dtype=bool)
    picks: list[int] = []
    tiebreak = rng_for(random_state).random(len(cand)) * 1e-9
    xc = np.ascontiguousarray(x[cand])
    while len(picks) < budget:
        score = log_static + tiebreak
        if dist is not None:
            strength = sum(e.strength for e in diversity)
            score = score + strength * np.log(np.maximum(dist, _EPS))
        for (e, codes, t), c in zip(balances, counts, strict=True):
            deficit = np.maximum(t * (len(picks) + 1) - c, 0.0) + _EPS
            score = score + e.strength * np.log(deficit / deficit.sum())[codes]
        score[chosen] = -np.inf
        pos = int(np.argmax(score))
        if not np.isfinite(score[pos]):
            break
        if dist is not None and stop is not None and dist[pos] < stop:
            break
        picks.append(pos)
        chosen[pos] = True
        if dist is not None:
            np.minimum(dist, np.sqrt(np.maximum(2.0 - 2.0 * (xc @ xc[pos]), 0.0)), out=dist)
        for (_, codes, _), c in zip(balances, counts, strict=True):
            c[codes[pos]] += 1
    return cand[np.asarray(picks, dtype=np.int64)]
