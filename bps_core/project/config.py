"""The project's TOML configuration file. It never holds secrets."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w
import tomllib

from bps_core.atomic import atomic_write_text
from bps_core.errors import DatasourceError, ProjectError
from bps_core.images import DisplayWindow
from bps_core.storage import DatasourceConfig
from bps_core.storage.base import _ID_RE, KINDS, PURPOSES

CONFIG_NAME = "project.toml"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ProjectConfig:
    """Name, datasources, metadata file and display defaults of one project.

    ``datasource`` is the input (images are listed and read there); ``output`` is where
    thumbnails, predictions, metadata and embeddings are written back in Lightly's ``.lightly/``
    layout (None until configured; an ``input_output`` input serves as both).
    ``database_url`` puts the database on a PostgreSQL server (``postgresql://USER@HOST:PORT/
    DBNAME``, never with a password); empty: SQLite's ``project.db`` in the project folder.
    """

    name: str
    created_at: str
    datasource: DatasourceConfig
    output: DatasourceConfig | None = None
    meta_csv: str = ""
    display: DisplayWindow = field(default_factory=DisplayWindow)
    format_version: int = FORMAT_VERSION
    database_url: str = ""

    def to_toml(self) -> str:
        """Renders the config as the text of ``project.toml`` (``from_toml`` reads it back)."""
        doc: dict[str, Any] = {
            "project": {
                "name": self.name,
                "created_at": self.created_at,
                "format_version": self.format_version,
                "meta_csv": self.meta_csv,
            },
            "datasource": asdict(self.datasource),
            "display": asdict(self.display),
        }
        if self.output is not None:
            doc["output"] = asdict(self.output)
        if self.database_url:
            doc["database"] = {"url": self.database_url}
        return tomli_w.dumps(doc)

    @property
    def output_datasource(self) -> DatasourceConfig | None:
        """Where results are written: the output datasource, else an ``input_output`` input."""
        if self.output is not None:
            return self.output
        return self.datasource if self.datasource.can_write else None

    @classmethod
    def from_toml(cls, text: str, where: str) -> ProjectConfig:
        """Parses and validates the text of ``project.toml``.

        Every problem is one ``ProjectError`` naming ``where`` and the table and field, so a
        damaged file fails at load, not later.

        Raises:
            ProjectError: Invalid TOML, a missing table or field, a value of the wrong type, or
                a ``format_version`` newer than this tool.
        """
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ProjectError(f"{where}: not valid TOML ({exc})") from None
        proj = _table(doc, "project", where)
        version = _format_version(proj.get("format_version", FORMAT_VERSION), where)
        for name in ("name", "created_at"):
            if not isinstance(proj.get(name), str):
                raise ProjectError(f"{where} [project] {name}: missing or not text")
        meta_csv = proj.get("meta_csv", "")
        if not isinstance(meta_csv, str):
            raise ProjectError(f"{where} [project] meta_csv: expected text, got {_shown(meta_csv)}")
        return cls(
            name=proj["name"],
            created_at=proj["created_at"],
            datasource=_datasource(_table(doc, "datasource", where), f"{where} [datasource]"),
            output=(
                _datasource(_table(doc, "output", where), f"{where} [output]")
                if "output" in doc
                else None
            ),
            meta_csv=meta_csv,
            display=_display(_table(doc, "display", where, required=False), where),
            format_version=version,
            database_url=_database_url(_table(doc, "database", where, required=False), where),
        )

    def save(self, folder: Path) -> None:
        """Writes ``project.toml`` into ``folder`` atomically: never half a config on disk."""
        atomic_write_text(folder / CONFIG_NAME, self.to_toml())  # never half a config


def _shown(value: Any) -> str:
    """A stored value as quoted in an error, cut short (a config file is not echoed)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _table(doc: dict[str, Any], name: str, where: str, *, required: bool = True) -> dict[str, Any]:
    value = doc.get(name, None if required else {})
    if not isinstance(value, dict):
        what = "missing" if value is None else "not a table"
        raise ProjectError(f"{where}: [{name}] is {what}")
    return value


def _format_version(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ProjectError(
            f"{where} [project] format_version: expected a whole number >= 1, got {_shown(value)}"
        )
    if value > FORMAT_VERSION:
        raise ProjectError(f"{where}: format_version {value} is newer than this tool; upgrade it")
    return value


def _datasource(doc: dict[str, Any], where: str) -> DatasourceConfig:
    """Rebuilds the stored datasource config, type-checking its fields, then validating it.

    It is validated as every datasource config is when it is made; each problem is one error
    naming ``where`` and the field.

    No network call is made, so a project whose bucket is unreachable still opens to show
    its labels.
    """
    defaults = {f.name: f.default for f in fields(DatasourceConfig)}
    unknown = sorted(set(doc) - set(defaults))
    if unknown:
        raise ProjectError(f"{where}: unknown setting(s) {', '.join(unknown)}")
    for name, default in defaults.items():
        value = doc.get(name, default)
        if isinstance(default, str | int) and type(value) is not type(default):
            what = type(default).__name__
            raise ProjectError(f"{where} {name}: expected {what}, got {_shown(value)}")
    stored = {**defaults, **doc}
    if not _ID_RE.fullmatch(stored["id"]):
        raise ProjectError(f"{where} id: {_shown(stored['id'])} is not a datasource id")
    if stored["kind"] not in KINDS:
        raise ProjectError(
            f"{where} kind: {_shown(stored['kind'])} is not supported; use local or s3"
        )
    if stored["purpose"] not in PURPOSES:
        raise ProjectError(
            f"{where} purpose: {_shown(stored['purpose'])}; choose one of {', '.join(PURPOSES)}"
        )
    if stored["kind"] == "local" and not stored["path"]:
        raise ProjectError(f"{where} path: empty; give the folder that holds the images")
    try:
        return DatasourceConfig.from_dict(doc, where)
    except DatasourceError as exc:
        raise ProjectError(f"{where} {exc}") from None


def _database_url(doc: dict[str, Any], where: str) -> str:
    """The ``[database] url`` (empty: SQLite), checked: PostgreSQL, with no password."""
    unknown = sorted(set(doc) - {"url"})
    if unknown:
        raise ProjectError(f"{where} [database]: unknown setting(s) {', '.join(unknown)}")
    url = doc.get("url", "")
    if not isinstance(url, str):
        raise ProjectError(f"{where} [database] url: expected text, got {_shown(url)}")
    if not url:
        return ""
    from bps_core.project.pg import check_database_url  # psycopg only for PostgreSQL projects

    return check_database_url(url, f"{where} [database] url")


def _display(doc: dict[str, Any], where: str) -> DisplayWindow:
    known = {f.name: f.default for f in fields(DisplayWindow)}
    unknown = sorted(set(doc) - set(known))
    if unknown:
        raise ProjectError(f"{where} [display]: unknown setting(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, value in doc.items():
        if name == "mode":
            if value not in ("auto", "manual"):
                raise ProjectError(
                    f"{where} [display] mode: 'auto' or 'manual', got {_shown(value)}"
                )
        elif (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ProjectError(f"{where} [display] {name}: expected a number, got {_shown(value)}")
        values[name] = value if name == "mode" else float(value)
    window = DisplayWindow(**values)
    try:
        window.validate()
    except ValueError as exc:
        raise ProjectError(f"{where} [display]: {exc}") from None
    return window
