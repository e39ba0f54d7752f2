"""The server path policy: which folders a browser may make the app read or write.

The app (never the CLI, which its owner runs with full access) takes server paths from the
browser: a local datasource folder, an export destination, an embeddings CSV. Each goes through
`PathPolicy.check` first, which resolves ``~``, ``..`` and symbolic links and refuses anything
outside the allowed roots. The roots come from ``server.toml`` in the project folder, a file the
app never writes::

    [server]
    data_roots = ["/data/microscopy", "/srv/exports"]  # relative paths: from the project folder

Without it the roots are the project's ``exports`` folder and its local datasource folders.
The project's own files (database, arrays, ``project.toml``, ``server.toml``) are never a
browser's to touch, unless a root names a folder inside the project (as ``exports`` is).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from bps_core.errors import BpsError
from bps_core.server_config import (
    SERVER_CONFIG_NAME,
    ServerConfigError,
    read_server_table,
    string_list,
)

EXPORTS_DIR = "exports"


class PathPolicyError(BpsError):
    """A path from the browser lies outside the folders this server may use."""


def typed_path(text: str, folder: str | Path) -> Path:
    """A path typed in the app, made absolute.

    ``~`` is expanded, a relative path is taken under ``folder`` (the project's: the server's
    working folder means nothing to a browser user), ``..`` is collapsed by name (links are
    followed later, by `PathPolicy.check`).
    """
    path = Path(text.strip()).expanduser()
    if not path.is_absolute():
        path = Path(folder) / path
    return Path(os.path.normpath(path.absolute()))


def _resolve(path: str | Path) -> Path:
    # strict=False: a destination that does not exist yet resolves through its existing parents,
    # so a symlink anywhere on the way is followed before the comparison.
    return Path(os.path.expanduser(str(path))).resolve(strict=False)


def _within(path: Path, folder: Path) -> bool:
    # Path semantics, not string prefixes: /data2 is not inside /data.
    return path == folder or folder in path.parents


@dataclass(frozen=True)
class PathPolicy:
    """Allowed roots, and protected folders inside which only a deeper root allows access.

    The most specific rule wins: a path is allowed when the deepest root or protected folder
    containing it is a root.
    """

    roots: tuple[Path, ...]
    protected: tuple[Path, ...] = ()
    config_file: str = SERVER_CONFIG_NAME

    def __post_init__(self) -> None:
        object.__setattr__(self, "roots", tuple(_resolve(r) for r in self.roots))
        object.__setattr__(self, "protected", tuple(_resolve(p) for p in self.protected))

    def allows(self, path: str | Path) -> bool:
        """True when the deepest root or protected folder containing ``path`` is a root.

        ``path`` is resolved first (symlinks followed), so a link cannot lead out of a root.
        At equal depth a protected folder beats a root; a path under no rule is refused.
        """
        resolved = _resolve(path)
        rules = [(r, True) for r in self.roots] + [(p, False) for p in self.protected]
        matching = [(len(r.parts), allowed) for r, allowed in rules if _within(resolved, r)]
        if not matching:
            return False
        # Deepest rule first; at equal depth a protection beats a root.
        return max(matching, key=lambda m: (m[0], not m[1]))[1]

    def check(self, path: str | Path, purpose: str) -> Path:
        """The resolved path when the policy allows it.

        Args:
            path: What the browser sent (may hold ``~``, ``..`` or symbolic links).
            purpose: What the path is for, as the message should say it ("Export destination").

        Raises:
            PathPolicyError: Outside every root, or inside the project's own files.
        """
        text = str(path).strip()
        if not text or "\x00" in text:
            raise PathPolicyError(f"{purpose}: empty or invalid path; type a path on this server")
        resolved = _resolve(text)
        if self.allows(resolved):
            return resolved
        shown = resolved if str(resolved) == text else f"{text} (resolves to {resolved})"
        roots = ", ".join(str(r) for r in self.roots) or "(none)"
        raise PathPolicyError(
            f"{purpose} {shown} is outside the folders this server may use: {roots}. "
            f"Choose a path inside one of them, or {self._how_to_allow(resolved)}"
        )

    def _how_to_allow(self, resolved: Path) -> str:
        """The ``server.toml`` line that would allow ``resolved``, to paste as it is.

        A new user read "add a folder to [server] data_roots in .../server.toml" for a file
        that did not exist, and a root named there replaces the default datasource roots: the
        line keeps the roots in force (the exports folder inside the project stays allowed).
        """
        if any(_within(resolved, p) for p in self.protected):
            return "leave the project's own files (database, arrays, configuration) alone."
        kept = [str(r) for r in self.roots if not any(_within(r, p) for p in self.protected)]
        line = json.dumps([*dict.fromkeys([*kept, str(resolved)])])  # a valid TOML array
        return (f"ask the server's owner to allow it under [server] in {self.config_file} "
                "(create the file if there is none; the app reads it on the next page load): "
                f"data_roots = {line}")  # fmt: skip


def load_policy(project_folder: Path, datasource_paths: tuple[str, ...] = ()) -> PathPolicy:
    """The policy for the app serving ``project_folder``.

    Args:
        project_folder: The served project.
        datasource_paths: The project's local datasource folders (input, output): default
            roots when ``server.toml`` names none.

    Raises:
        PathPolicyError: ``server.toml`` is unreadable or malformed (named in the message).
    """
    folder = _resolve(project_folder)
    config = folder / SERVER_CONFIG_NAME
    roots: list[Path] = [folder / EXPORTS_DIR]
    configured = _read_roots(folder)
    if configured is None:
        roots += [_resolve(p) for p in datasource_paths if p]
    else:
        roots += [_resolve(r if Path(r).expanduser().is_absolute() else folder / r)
                  for r in configured]  # fmt: skip
    return PathPolicy(roots=tuple(roots), protected=(folder,), config_file=str(config))


def _read_roots(project_folder: Path) -> list[str] | None:
    try:
        table = read_server_table(project_folder)
        return string_list(table, "data_roots", project_folder)
    except ServerConfigError as exc:
        raise PathPolicyError(str(exc)) from None
