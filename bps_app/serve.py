"""Starting the app: ``python -m bps_app.serve run app.py ...`` is ``streamlit run`` with the
Host check installed, and ``app_command`` is the whole command line and environment for
serving a project.

``bps-labeler app`` starts the server this way (see `bps_app.host_check`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bps_core.errors import BpsError
from bps_core.server_config import allowed_hosts

#: The environment variable that names the project a server serves.
PROJECT_ENV = "BPS_PROJECT"


def app_script() -> Path:
    """The Streamlit entry point ``app.py`` of this checkout.

    Raises:
        BpsError: the app is not installed from a source checkout (no ``app.py``).
    """
    path = Path(__file__).resolve().parent.parent / "app.py"
    if not path.is_file():
        raise BpsError(
            f"{path} not found: the app runs from a source checkout; "
            "install it with 'pip install -e .' from the repository"
        )
    return path


def app_command(
    project_dir: Path,
    host: str,
    port: int,
    *,
    production: bool = False,
    allow_hosts: tuple[str, ...] = (),
) -> tuple[list[str], dict[str, str]]:
    """The ``streamlit run`` command line and environment for serving ``project_dir``.

    ``production`` hides exception details from browsers (errors are still logged on the
    server) and turns Streamlit's development mode off; XSRF protection stays on either way.
    Streamlit starts through ``bps_app.serve``, which refuses requests whose Host header is not
    a local name, one in the project's ``server.toml`` or one of ``allow_hosts``.

    Returns:
        The command line (``sys.executable`` first) and the environment to run it with.
    """
    env = {**os.environ, PROJECT_ENV: str(project_dir)}
    cmd = [
        sys.executable, "-m", "bps_app.serve", "run", str(app_script()),
        "--server.port", str(port), "--server.address", host,
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--server.enableXsrfProtection", "true",
    ]  # fmt: skip
    for name in allowed_hosts(project_dir, allow_hosts):
        cmd += ["--server.allowedHosts", name]
    if production:
        cmd += ["--client.showErrorDetails", "none", "--global.developmentMode", "false"]
    return cmd, env


def main() -> None:
    """Runs ``streamlit`` with this process's arguments, the Host check installed first."""
    from bps_app import host_check

    host_check.install()
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web import cli

    # Until some session's app.py has called st.navigation, Streamlit routes a request by the
    # old pages/ folder convention: a first visit to /Queue or /Agreement after the server
    # started would run that page script alone, without app.py (no Host check, no sign-in,
    # no name). app.py's st.navigation is the only router.
    PagesManager.uses_pages_directory = False

    sys.argv = ["streamlit", *sys.argv[1:]]
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main()
