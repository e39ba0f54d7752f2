"""Lightly's selection config: read both spellings, write snake_case, run the semantics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bps_core.selection import Pool, SelectionConfig, SelectionError
from bps_core.selection.kcenter import kcenter_greedy

DOCS_EXAMPLE = {
    "n_samples": 50,
    "strategies": [
        {"input": {"type": "EMBEDDINGS"},
         "strategy": {"type": "DIVERSITY", "stopping_condition_minimum_distance": 0.01,
                      "strength": 1.0}},
        {"input": {"type": "SCORES", "task": "foci_classification",
                   "score": "uncertainty_entropy"},
         "strategy": {"type": "WEIGHTS", "strength": 1.0}},
        {"input": {"type": "METADATA", "key": "particle_type"},
         "strategy": {"type": "BALANCE", "target": {"Fe": 0.5, "X-ray": 0.5}}},
        {"input": {"type": "METADATA", "key": "dose_Gy"},
         "strategy": {"type": "THRESHOLD", "threshold": 0.1, "operation": "BIGGER_EQUAL"}},
        {"input": {"type": "PREDICTIONS", "task": "foci_classification",
                   "name": "CLASS_DISTRIBUTION"},
         "strategy": {"type": "BALANCE", "distribution": "UNIFORM"}},
        {"input": {"type": "RANDOM", "randomSeed": 42}, "strategy": {"type": "WEIGHTS"}},
    ],
}  # fmt: skip


def test_config__reads_camel_case_and_writes_snake_case() -> None:
    camel = json.loads(
        json.dumps(DOCS_EXAMPLE)
        .replace("n_samples", "nSamples")
        .replace("stopping_condition_minimum_distance", "stoppingConditionMinimumDistance")
    )
    cfg = SelectionConfig.from_dict(camel)
    out = cfg.to_dict()
    assert out["n_samples"] == 50
    assert out["strategies"][0]["strategy"]["stopping_condition_minimum_distance"] == 0.01
    assert out["strategies"][5]["input"]["random_seed"] == 42
    assert SelectionConfig.from_json(json.dumps(out)) == cfg


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"strategies": []}, "exactly one of n_samples"),
        ({"n_samples": 5, "proportion_samples": 0.1, "strategies": []}, "exactly one"),
        ({"n_samples": 0, "strategies": []}, "positive integer"),
        ({"proportion_samples": [], "strategies": []}, "proportion_samples must be in"),
        ({"proportion_samples": "half", "strategies": []}, "proportion_samples must be in"),
        ({"n_samples": 5, "strategies": []}, "at least one strategy"),
        ({"n_samples": 5, "strategies": [{"input": {"type": "EMBEDDINGS"}}]}, "strategies\\[0\\]"),
        ({"n_samples": 5, "strategies": [{"input": {"type": "PIXELS"},
          "strategy": {"type": "DIVERSITY"}}]}, "input.type must be one of"),
        ({"n_samples": 5, "strategies": [{"input": {"type": "EMBEDDINGS"},
          "strategy": {"type": "DIVERSITY", "speed": 3}}]}, "unknown field 'speed'"),
        ({"n_samples": 5, "strategies": [{"input": {"type": "SCORES", "task": "a b"},
          "strategy": {"type": "WEIGHTS"}}]}, "characters"),
        ({"n_samples": 5, "colour": 1, "strategies": [{"input": {"type": "EMBEDDINGS"},
          "strategy": {"type": "DIVERSITY"}}]}, "colour"),
    ],
)  # fmt: skip
def test_config__bad_input_names_the_field(raw: dict, message: str) -> None:
    with pytest.raises(SelectionError, match=message):
        SelectionConfig.from_dict(raw)


def test_config__not_json() -> None:
    with pytest.raises(SelectionError, match="not valid JSON"):
        SelectionConfig.from_json("{n_samples: 3")


def test_docs_example__runs_thresholds_first_and_balances(pool: Pool) -> None:
    cfg = SelectionConfig.from_dict(DOCS_EXAMPLE)
    picks = cfg.select(pool, random_state=0)
    assert len(picks) == 50
    meta = pool.metadata.iloc[picks]
    assert (meta.dose_Gy >= 0.1).all()
    counts = meta.particle_type.value_counts()
    assert abs(counts["Fe"] - counts["X-ray"]) <= 2  # the pool itself is 80% X-ray


def test_diversity_alone__is_k_center_greedy(pool: Pool) -> None:
    cfg = SelectionConfig.from_dict(
        {"n_samples": 15, "strategies": [{"input": {"type": "EMBEDDINGS"},
                                          "strategy": {"type": "DIVERSITY"}}]}
    )  # fmt: skip
    got = cfg.select(pool)
    expected = kcenter_greedy(pool.embeddings, pool.candidates, np.flatnonzero(pool.labeled), 15)
    assert got.tolist() == expected.tolist()


def test_proportion__of_the_candidates(pool: Pool) -> None:
    cfg = SelectionConfig.from_dict(
        {"proportionSamples": 0.1, "strategies": [{"input": {"type": "RANDOM"},
                                                   "strategy": {"type": "WEIGHTS"}}]}
    )  # fmt: skip
    assert len(cfg.select(pool)) == round(0.1 * len(pool.candidates))
