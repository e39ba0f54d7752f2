"""``python -m bps_app.serve run app.py ...``: ``streamlit run`` with the Host check installed.

``bps-labeler app`` starts the server this way (see `bps_app.host_check`).
"""

from __future__ import annotations

import sys


def main() -> None:
    from bps_app import host_check

    host_check.install()
    from streamlit.web import cli

    sys.argv = ["streamlit", *sys.argv[1:]]
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main()
