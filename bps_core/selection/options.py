"""Round options around a base strategy: a threshold filter, balance over groups, similarity.

The Rounds form and the CLI build one ``RoundOptions``; ``wrap`` turns it into strategies
that compose (``Threshold(Balance(Similarity or base))``), so every option works with every
base strategy, as in Lightly's selection configs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bps_core.errors import SettingsError
from bps_core.selection.pool import Pool, SelectionError
from bps_core.selection.strategies import (
    Balance,
    Operation,
    Similarity,
    Strategy,
    Threshold,
)
from bps_core.settings import check_choice, check_range

OPERATIONS: tuple[Operation, ...] = ("BIGGER", "BIGGER_EQUAL", "SMALLER", "SMALLER_EQUAL")


@dataclass(frozen=True)
class RoundOptions:
    """Optional refinements of a round, applied around its base strategy.

    ``balance_by``: metadata columns (or ``prediction``) whose groups get equal shares.
    ``threshold_column``: keep candidates whose value passes ``operation value`` (a numeric
    metadata column, or ``uncertainty_entropy`` and friends with a model). ``similar_to``:
    sample keys; the round then ranks by cosine similarity to them instead of the base.

    Raises:
        SettingsError: when built with an unknown ``threshold_operation``, a threshold value
            that is not a finite number, or column names or keys that are not a tuple of
            strings.
    """

    balance_by: tuple[str, ...] = ()
    threshold_column: str | None = None
    threshold_operation: Operation = "BIGGER_EQUAL"
    threshold_value: float = 0.0
    similar_to: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("balance_by", "similar_to"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not all(isinstance(v, str) and v for v in value):
                raise SettingsError(f"{name} must be a tuple of non-empty names, got {value!r}")
        if self.threshold_column is not None and not isinstance(self.threshold_column, str):
            raise SettingsError(
                f"threshold_column must be a column name, got {self.threshold_column!r}"
            )
        check_choice("threshold_operation", self.threshold_operation, OPERATIONS)
        check_range("threshold_value", self.threshold_value)
        if not math.isfinite(self.threshold_value):
            raise SettingsError(
                f"threshold_value must be a finite number, got {self.threshold_value}"
            )

    @property
    def empty(self) -> bool:
        """True when no option is set: the round runs its base strategy unchanged."""
        return not (self.balance_by or self.threshold_column or self.similar_to)

    def to_dict(self) -> dict[str, Any]:
        """The options that are set, for the round record."""
        out: dict[str, Any] = {}
        if self.balance_by:
            out["balance_by"] = list(self.balance_by)
        if self.threshold_column:
            out["threshold"] = {"column": self.threshold_column,
                                "operation": self.threshold_operation,
                                "value": self.threshold_value}  # fmt: skip
        if self.similar_to:
            out["similar_to"] = list(self.similar_to)
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RoundOptions:
        """Reads options back from ``to_dict``'s form (a round record); absent ones are unset."""
        t = raw.get("threshold") or {}
        return cls(tuple(raw.get("balance_by", ())), t.get("column"),
                   t.get("operation", "BIGGER_EQUAL"), float(t.get("value", 0.0)),
                   tuple(raw.get("similar_to", ())))  # fmt: skip


def wrap(base: Strategy, options: RoundOptions, pool: Pool, random_state: int | None) -> Strategy:
    """``base`` with ``options`` applied (similarity replaces the base's ranking)."""
    inner = base
    if options.similar_to:
        row = {k: i for i, k in enumerate(pool.keys)}
        query = tuple(row[k] for k in options.similar_to if k in row)
        if not query:
            raise SelectionError(
                f"none of the {len(options.similar_to)} samples to be similar to is in the "
                "current embedding set: pick them again on the map"
            )
        inner = Similarity(query, random_state)
    if options.balance_by:
        inner = Balance(tuple(options.balance_by), inner=inner)
    if options.threshold_column:
        inner = Threshold(options.threshold_column, options.threshold_operation,
                          float(options.threshold_value), inner=inner)  # fmt: skip
    return inner


__all__ = ["OPERATIONS", "RoundOptions", "wrap"]
