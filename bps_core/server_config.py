"""``server.toml``: the settings of the server serving a project, which the app never writes.

It sits in the project folder beside ``project.toml`` and holds one table::

    [server]
    data_roots = ["/data/microscopy"]  # folders the browser may use (see bps_core.paths)
    allowed_hosts = ["labeler.example.org"]  # Host names the app answers besides the local ones
    ray_address = "auto"  # embedding jobs decode and infer on this Ray cluster (docs/ray.md)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomllib

from bps_core.errors import BpsError

SERVER_CONFIG_NAME = "server.toml"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


class ServerConfigError(BpsError):
    """``server.toml`` is unreadable or malformed."""


def read_server_table(project_folder: Path) -> dict[str, Any]:
    """The ``[server]`` table of the project's ``server.toml`` (empty when there is none)."""
    config = Path(project_folder) / SERVER_CONFIG_NAME
    try:
        doc = tomllib.loads(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ServerConfigError(
            f"{config}: cannot be read as TOML ({type(exc).__name__}); fix or remove the file"
        ) from None
    table = doc.get("server", {})
    if not isinstance(table, dict):
        raise ServerConfigError(f"{config}: [server] must be a table")
    return table


def string_list(table: dict[str, Any], name: str, project_folder: Path) -> list[str] | None:
    """``table[name]`` as a list of non-empty strings, None when absent."""
    value = table.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        config = Path(project_folder) / SERVER_CONFIG_NAME
        raise ServerConfigError(
            f'{config}: [server] {name} must be a list of strings, e.g. {name} = ["..."]'
        )
    return [v.strip() for v in value]


def allowed_hosts(project_folder: Path, extra: tuple[str, ...] = ()) -> list[str]:
    """The local names, then ``allowed_hosts`` from ``server.toml``, then ``extra``."""
    table = read_server_table(project_folder)
    configured = string_list(table, "allowed_hosts", project_folder) or []
    names = [*LOCAL_HOSTS, *configured, *(e.strip() for e in extra if e.strip())]
    return list(dict.fromkeys(names))


def ray_address(project_folder: Path) -> str:
    """``ray_address`` from ``server.toml``: where the app's embedding jobs decode and infer.

    Empty when absent (the jobs run in their own process). See docs/ray.md.

    Raises:
        ServerConfigError: the value is not a string of a valid form (named in the message).
    """
    value = read_server_table(project_folder).get("ray_address", "")
    if not isinstance(value, str):
        raise ServerConfigError(
            f"{Path(project_folder) / SERVER_CONFIG_NAME}: [server] ray_address must be a "
            'string, e.g. ray_address = "auto"'
        )
    from bps_core.embeddings.ray_embed import check_ray_address
    from bps_core.errors import SettingsError

    try:
        check_ray_address(value.strip())
    except SettingsError as exc:
        raise ServerConfigError(f"{Path(project_folder) / SERVER_CONFIG_NAME}: {exc}") from None
    return value.strip()
