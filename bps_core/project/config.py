"""The project's TOML configuration file. It never holds secrets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
import tomllib

from bps_core.errors import DatasourceError, ProjectError
from bps_core.images import DisplayWindow
from bps_core.storage import DatasourceConfig

CONFIG_NAME = "project.toml"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ProjectConfig:
    """Name, datasources, metadata file and display defaults of one project.

    ``datasource`` is the input (images are listed and read there); ``output`` is where
    thumbnails, predictions, metadata and embeddings are written back in Lightly's ``.lightly/``
    layout (None until configured; an ``input_output`` input serves as both).
    """

    name: str
    created_at: str
    datasource: DatasourceConfig
    output: DatasourceConfig | None = None
    meta_csv: str = ""
    display: DisplayWindow = field(default_factory=DisplayWindow)
    format_version: int = FORMAT_VERSION

    def to_toml(self) -> str:
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
        return tomli_w.dumps(doc)

    @property
    def output_datasource(self) -> DatasourceConfig | None:
        """Where results are written: the output datasource, else an ``input_output`` input."""
        if self.output is not None:
            return self.output
        return self.datasource if self.datasource.can_write else None

    @classmethod
    def from_toml(cls, text: str, where: str) -> ProjectConfig:
        try:
            doc = tomllib.loads(text)
            proj = doc["project"]
            version = int(proj.get("format_version", 1))
            if version > FORMAT_VERSION:
                raise ProjectError(
                    f"{where}: format_version {version} is newer than this tool; upgrade it"
                )
            return cls(
                name=str(proj["name"]),
                created_at=str(proj["created_at"]),
                datasource=DatasourceConfig.from_dict(doc["datasource"], f"{where} [datasource]"),
                output=(
                    DatasourceConfig.from_dict(doc["output"], f"{where} [output]")
                    if "output" in doc
                    else None
                ),
                meta_csv=str(proj.get("meta_csv", "")),
                display=DisplayWindow(**doc.get("display", {})),
                format_version=version,
            )
        except tomllib.TOMLDecodeError as exc:
            raise ProjectError(f"{where}: not valid TOML ({exc})") from None
        except (KeyError, TypeError) as exc:
            raise ProjectError(f"{where}: missing or unexpected setting ({exc})") from None
        except DatasourceError as exc:
            raise ProjectError(str(exc)) from None

    def save(self, folder: Path) -> None:
        path = folder / CONFIG_NAME
        tmp = path.with_suffix(".toml.tmp")
        tmp.write_text(self.to_toml())
        tmp.replace(path)  # atomic: a crash never leaves half a config
