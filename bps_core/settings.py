"""Typed, frozen settings of a workflow, stored as JSON params in a job's row.

A settings class is a frozen dataclass that checks its fields in ``__post_init__`` (so an
invalid object cannot exist) and mixes in ``Settings`` for the round trip through the job
table: ``to_params`` (JSON-safe dict) and ``from_params`` (unknown keys refused by name).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Self

from bps_core.errors import SettingsError


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class Settings:
    """Mixin of a frozen settings dataclass: the JSON round trip of a job's params."""

    def to_params(self) -> dict[str, Any]:
        """The settings as a JSON-safe dict (tuples as lists, nested settings as dicts)."""
        plain = _plain(self)
        assert isinstance(plain, dict)
        return plain

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Self:
        """Rebuilds (and so re-validates) settings stored by ``to_params``.

        Lists come back as tuples; a class with nested settings overrides this.

        Raises:
            SettingsError: an unknown key, or a value its validation refuses.
        """
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(params) - known)
        if unknown:
            raise SettingsError(
                f"unknown setting(s) {', '.join(unknown)} for {cls.__name__}; "
                f"known: {', '.join(sorted(known))}"
            )
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
        return cls(**values)


def check_choice(field: str, value: object, choices: tuple[str, ...]) -> None:
    """Raises ``SettingsError`` naming ``field`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise SettingsError(f"{field} {value!r}: choose one of {', '.join(choices)}")


def check_range(
    field: str, value: object, low: float | None = None, high: float | None = None
) -> None:
    """Raises ``SettingsError`` naming ``field`` unless ``value`` is a number in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SettingsError(f"{field} must be a number, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = (f"at least {low}" if high is None else f"at most {high}" if low is None
                  else f"in {low}..{high}")  # fmt: skip
        raise SettingsError(f"{field} must be {bounds}, got {value}")
