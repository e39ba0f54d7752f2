"""The server path policy (bps_core.paths): what a browser-sent path may reach."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bps_core.paths import PathPolicy, PathPolicyError, load_policy


@pytest.fixture
def policy(tmp_path: Path) -> PathPolicy:
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "data2").mkdir()
    (tmp_path / "project" / "exports").mkdir(parents=True)
    return PathPolicy(
        roots=(tmp_path / "data", tmp_path / "project" / "exports"),
        protected=(tmp_path / "project",),
    )


class TestPathPolicy:
    def test_check__inside_a_root_resolves(self, policy: PathPolicy, tmp_path: Path) -> None:
        assert policy.check(tmp_path / "data" / "sub" / "new", "Export") == (
            (tmp_path / "data" / "sub" / "new").resolve()
        )
        assert policy.check(tmp_path / "data", "Export") == (tmp_path / "data").resolve()

    def test_check__dot_dot_out_is_refused(self, policy: PathPolicy, tmp_path: Path) -> None:
        with pytest.raises(PathPolicyError, match=r"resolves to .*outside the folders"):
            policy.check(f"{tmp_path}/data/../elsewhere", "Destination folder")

    def test_check__symlink_out_is_refused(self, policy: PathPolicy, tmp_path: Path) -> None:
        (tmp_path / "data" / "link").symlink_to("/etc")
        with pytest.raises(PathPolicyError, match="outside"):
            policy.check(tmp_path / "data" / "link" / "passwd", "Embeddings CSV")

    @pytest.mark.parametrize("path", ["/", "/etc/passwd", "/srv/a/../b", "~"])
    def test_check__absolute_elsewhere_is_refused(self, policy: PathPolicy, path: str) -> None:
        with pytest.raises(PathPolicyError) as err:
            policy.check(path, "Input folder")
        message = str(err.value)
        assert message.startswith(f"Input folder {path}")
        assert "data_roots" in message  # says what to do
        assert str(policy.roots[0]) in message  # names the allowed roots

    def test_check__the_message_holds_a_line_that_allows_the_path(self, tmp_path: Path) -> None:
        """A new user read "add a folder to [server] data_roots in .../server.toml" for a file
        that did not exist; the line given now allows the folder and keeps the old roots."""
        project, images, mine = tmp_path / "p", tmp_path / "images", tmp_path / "my data"
        project.mkdir()
        before = load_policy(project, (str(images),))
        with pytest.raises(PathPolicyError) as err:
            before.check(f"{mine} ", "Input folder")
        message = str(err.value)
        assert f"under [server] in {project / 'server.toml'}" in message
        line = message[message.index("data_roots = ") :]
        assert line == f"data_roots = {json.dumps([str(images), str(mine)])}"
        (project / "server.toml").write_text(f"[server]\n{line}\n")
        after = load_policy(project, (str(images),))
        assert after.allows(mine)
        assert after.allows(images / "x")
        assert after.allows(project / "exports")
        assert not after.allows(project / "project.db")
        with pytest.raises(PathPolicyError) as err:  # the project's files: no line to add
            after.check(project / "project.db", "Destination folder")
        assert "data_roots =" not in str(err.value)

    def test_check__prefix_sibling_is_not_inside(self, policy: PathPolicy, tmp_path: Path) -> None:
        with pytest.raises(PathPolicyError):
            policy.check(tmp_path / "data2", "Input folder")

    def test_check__project_files_are_protected_but_exports_allowed(
        self, policy: PathPolicy, tmp_path: Path
    ) -> None:
        for inside in ("project", "project/arrays", "project/server.toml"):
            assert not policy.allows(tmp_path / inside)
        assert policy.allows(tmp_path / "project" / "exports" / "imagefolder")

    @pytest.mark.parametrize("path", ["", "  ", "a\x00b"])
    def test_check__empty_or_nul_is_refused(self, policy: PathPolicy, path: str) -> None:
        with pytest.raises(PathPolicyError, match="empty or invalid"):
            policy.check(path, "Embeddings CSV")


class TestLoadPolicy:
    def test_load_policy__defaults_to_exports_and_datasources(self, tmp_path: Path) -> None:
        policy = load_policy(tmp_path / "p", (str(tmp_path / "images"),))
        assert policy.roots == ((tmp_path / "p" / "exports").resolve(), (tmp_path / "images"))
        assert not policy.allows(tmp_path)

    def test_load_policy__server_toml_replaces_the_datasource_roots(self, tmp_path: Path) -> None:
        (tmp_path / "p").mkdir()
        (tmp_path / "p" / "server.toml").write_text(
            f'[server]\ndata_roots = ["{tmp_path}/shared", "local"]\n'
        )
        policy = load_policy(tmp_path / "p", (str(tmp_path / "images"),))
        assert policy.allows(tmp_path / "shared" / "x")
        assert not policy.allows(tmp_path / "images")
        assert policy.allows(tmp_path / "p" / "local")  # the owner named it: relative to p
        assert not policy.allows(tmp_path / "p" / "project.db")
        assert policy.allows(tmp_path / "p" / "exports")

    @pytest.mark.parametrize(
        "text", ["[server]\ndata_roots = '/data'\n", "[server\n", "[server]\ndata_roots = [1]\n"]
    )
    def test_load_policy__malformed_server_toml_is_one_clear_error(
        self, tmp_path: Path, text: str
    ) -> None:
        (tmp_path / "server.toml").write_text(text)
        with pytest.raises(PathPolicyError, match=r"server\.toml"):
            load_policy(tmp_path)


def test_typed_path__absolute_kept_relative_under_the_folder_home_expanded() -> None:
    from bps_core.paths import typed_path

    assert typed_path(" /data/x ", "/p/proj") == Path("/data/x")
    assert typed_path("../data", "/p/proj") == Path("/p/data")
    assert typed_path("in/./a", Path("/p/proj")) == Path("/p/proj/in/a")
    assert typed_path("~/x", "/p/proj") == Path.home() / "x"
