"""A project whose class names, file names and metadata values are hostile Markdown/HTML that
points at a loopback recorder, and the recorder itself: a rendering that fetches anything, or
follows a link, shows up as a request there."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import tifffile

from bps_cli.main import main as cli
from bps_core.project import Project, create_project_from_folder


@contextmanager
def recorder() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server on a free port; yields its ``host:port`` and the paths asked."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def hostile_texts(host: str, tag: str) -> list[str]:
    """Markdown image, link, autolink, raw HTML (image, big text, link) and Streamlit styling,
    each pointing at ``host`` with ``tag`` in the path (at most 64 characters: class names)."""
    return [
        f"![px](http://{host}/{tag}-img.png)",
        f"[link](http://{host}/{tag}-link)",
        f"<http://{host}/{tag}-auto>",
        f"<img src=http://{host}/{tag}-html.png>",
        "<b style=font-size:90px>BIG</b>",
        f"<a href=http://{host}/{tag}-a>a</a>",
        ":red[red] $x^2$ **bold**",
    ]


def make_hostile_project(tmp: Path, host: str) -> Project:
    """12 images (some with Markdown or HTML names, pointing at relative URLs), a
    metadata CSV of hostile values, embeddings and a map, and hostile class labels."""
    data = tmp / "data"
    rng = np.random.default_rng(0)
    names = [f"img_{i:02d}.tif" for i in range(6)]
    names += [
        "![f](beacon-file.png).tif",  # keys refuse 'http:/', so relative URLs
        "dir [flink](beacon-link)/y.tif",
        "<b style=font-size:90px>F<.tif",
        "$x$ :red[r] **b**.tif",
        "# heading.tif",
        "- item.tif",
    ]
    for name in names:
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(data / name, rng.integers(100, 4000, (32, 32)).astype(np.uint16))
    values = hostile_texts(host, "meta")
    rows = ["filename,particle_type,dose_Gy,hr_post_exposure,plate,well"]
    for i, name in enumerate(names):
        v, w = (values[(i + j) % len(values)].replace('"', '""') for j in (0, 3))
        rows.append(f'"{name}","{v}",0.1,4,"{v}","{w}"')
    (data / "meta.csv").write_text("\n".join(rows) + "\n")
    project, _ = create_project_from_folder(
        tmp / "project", data, name=f"![n](http://{host}/name.png) <b>P</b>"
    )
    project.close()
    folder = str(tmp / "project")
    assert cli(["embed", folder, "--method", "pixels", "--image-size", "32"]) == 0
    assert cli(["map", folder, "--method", "pca"]) == 0
    project = Project.open(tmp / "project")
    keys = project.samples().key.tolist()
    for i, cls in enumerate(hostile_texts(host, "class")):
        project.ensure_class(cls)
        project.add_labels(keys[i : i + 1], cls, user=f"![u](http://{host}/user.png)", source="api")
    return project
