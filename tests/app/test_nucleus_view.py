"""AppTest of the nucleus view (FITC + DAPI + the MASK outline, issue 19) in the label queue,
the sample dialog and the one-sample detail on the map: the controls change the view, the
choice is remembered, and a sample without partners shows FITC with a caption."""

from __future__ import annotations

import base64
import io
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from bps_app import cache, state
from bps_app.safe_text import md
from bps_app.serve import PROJECT_ENV
from bps_core.composite import ChannelStyle, CompositeStyle, NucleusView, OutlineStyle
from bps_core.images import DisplayWindow
from bps_core.project import Project
from bps_core.projection import MapConfig
from tests.helpers import map_project, open_in_detail, thumbnail_captions

QUEUE_PAGE = "pages/4_Queue.py"
ALL = ["FITC", "DAPI", "Outline"]
GRID_SIZE = 150  # pages/4_Queue.py: the grid's tiles, in pixels


def _key(place: str, part: str) -> str:
    return state.view_widget_key(place, part)


def _queue(app: AppTest, keys: list[str], view: str = "One image") -> AppTest:
    app.session_state[state.USER_NAME] = "ada"
    app.session_state[state.MAP_SELECTION] = keys
    app.run()
    app.switch_page(QUEUE_PAGE).run()
    app.selectbox(key="queue_origin").set_value("The map selection")
    app.segmented_control(key="queue_view").set_value(view)
    next(b for b in app.button if b.label == "Start").click().run()
    assert not app.exception
    return app


def _notes(app: AppTest) -> list[str]:
    return [c.value for c in app.caption if c.value.startswith("No ")]


def test_queue__layers_colours_and_windows_set_the_view_and_labeling_still_works(
    app: AppTest, tiny_project: Project
) -> None:
    tiny_project.ensure_class("track")
    keys = tiny_project.samples().key.tolist()[:3]
    _queue(app, keys)
    assert app.pills(key=_key(state.VIEW_QUEUE, "layers")).value == ALL
    assert len(app.image) == 1
    assert _notes(app) == []  # the tiny dataset has every partner
    assert app.session_state[f"{state.VIEW_QUEUE}_style"] == CompositeStyle(
        fitc=ChannelStyle(window=DisplayWindow())  # the project's display window
    )

    app.pills(key=_key(state.VIEW_QUEUE, "layers")).set_value(["FITC", "Outline"]).run()
    app.color_picker(key=_key(state.VIEW_QUEUE, "fitc_color")).set_value("#ffffff").run()
    app.slider(key=_key(state.VIEW_QUEUE, "dapi_pct")).set_value((5.0, 95.0)).run()
    app.color_picker(key=_key(state.VIEW_QUEUE, "outline_color")).set_value("#ffff00").run()
    app.slider(key=_key(state.VIEW_QUEUE, "outline_width")).set_value(4).run()
    assert not app.exception
    style = app.session_state[f"{state.VIEW_QUEUE}_style"]
    assert (style.fitc.show, style.fitc.color) == (True, "#ffffff")
    assert not style.dapi.show
    assert (style.dapi.window.low_pct, style.dapi.window.high_pct) == (5.0, 95.0)
    assert style.outline == OutlineStyle(True, "#ffff00", 4)
    assert len(app.image) == 1

    app.button(key="queue_class_track").click().run()  # labels and moves on; the view stays
    assert set(tiny_project.current_labels().key) == {keys[0]}
    assert app.pills(key=_key(state.VIEW_QUEUE, "layers")).value == ["FITC", "Outline"]
    assert app.session_state[f"{state.VIEW_QUEUE}_style"] == style


def test_queue__a_sample_without_partners_shows_fitc_and_says_which_are_absent(
    app: AppTest, tiny_project: Project
) -> None:
    key, rel = tiny_project.samples()[["key", "relpath"]].iloc[0]
    partners = Path(tiny_project.config.datasource.path).parent / "DAPI_MASK_images"
    (partners / rel.replace("_proj", "_DAPI")).unlink()
    (partners / rel.replace("_proj", "_MASK")).write_bytes(b"not a tiff")
    _queue(app, [key])
    assert not app.exception
    assert not app.error
    assert len(app.image) == 1
    dapi, mask = rel.replace("_proj", "_DAPI"), rel.replace("_proj", "_MASK")
    assert _notes(app) == [
        md(f"No DAPI: {dapi} not found."),
        md(f"No MASK outline: {mask} unreadable: not a supported image (png, jpeg, bmp, gif, "
           "tiff): unrecognised content."),
    ]  # fmt: skip
    with Project.open(tiny_project.folder) as p:
        assert p.n_samples("bad") == 0  # an absent partner is not the sample's fault


def test_queue__the_grid_draws_every_tile_as_a_nucleus_view(
    app: AppTest, tiny_project: Project
) -> None:
    keys = tiny_project.samples().key.tolist()[:6]
    app.session_state[f"{state.VIEW_QUEUE}_style"] = CompositeStyle(
        outline=OutlineStyle(show=False)
    )
    _queue(app, keys, view="Grid of 6")
    assert len(thumbnail_captions(app)) == 6
    assert app.pills(key=_key(state.VIEW_QUEUE, "layers")).value == ["FITC", "DAPI"]


def _inline_pngs(app: AppTest) -> list[bytes]:
    """The bytes of every image the app shows, each of which must be an inline PNG."""
    urls = [img.url for element in app.image for img in element.proto.imgs]
    prefix = "data:image/png;base64,"
    assert urls
    assert all(u.startswith(prefix) for u in urls), urls  # no /media/ URL
    return [base64.b64decode(u.removeprefix(prefix)) for u in urls]


def test_queue__images_travel_inline_not_as_media_urls_that_a_rerun_expires(
    app: AppTest, tiny_project: Project
) -> None:
    """A /media/ URL of Streamlit's media store is deleted by the next run that draws another
    image there: digits pressed fast made the browser fetch expired ones (404s, a broken
    image flashing). The one image and the grid's tiles come inline, as data: URIs."""
    tiny_project.ensure_class("track")
    keys = tiny_project.samples().key.tolist()[:8]
    _queue(app, keys)
    (png,) = _inline_pngs(app)
    with Image.open(io.BytesIO(png)) as img:
        assert img.format == "PNG"
        assert max(img.size) == 512
    app.button(key="queue_class_track").click().run()  # the next image: inline too
    (after,) = _inline_pngs(app)
    assert after != png

    _queue(app, keys, view="Grid of 6")
    tiles = _inline_pngs(app)
    assert len(tiles) == 6
    for tile in tiles:
        with Image.open(io.BytesIO(tile)) as img:
            assert img.format == "PNG"
            assert max(img.size) == GRID_SIZE


def test_dialog__opens_with_the_controls_and_the_style_chosen_last(
    app: AppTest, tiny_project: Project
) -> None:
    map_project(tiny_project, MapConfig(method="pca"))
    chosen = CompositeStyle(dapi=ChannelStyle(show=False, color="#ff0000"))
    app.session_state[f"{state.VIEW_DIALOG}_style"] = chosen  # as a closed dialog left it
    app.session_state[state.EXPLORE_TAB] = "Browse"  # Explore runs only its open tab
    app.run()
    app.switch_page("pages/3_Explore_and_label.py").run()
    open_in_detail(app, "browse_open", 1)
    assert not app.exception
    assert app.pills(key=_key(state.VIEW_DIALOG, "layers")).value == ["FITC", "Outline"]
    assert app.color_picker(key=_key(state.VIEW_DIALOG, "dapi_color")).value == "#ff0000"
    assert any(m.label == "Current label" for m in app.metric)


def test_map_detail__one_selected_sample_gets_its_own_controls(
    app: AppTest, tiny_project: Project
) -> None:
    keys = map_project(tiny_project, MapConfig(method="pca"))
    app.session_state[state.MAP_SELECTION] = keys[:1]
    app.run()
    app.switch_page("pages/3_Explore_and_label.py").run()
    assert not app.exception
    pills = app.pills(key=_key(state.VIEW_PANEL, "layers"))
    assert pills.value == ALL
    pills.set_value(["DAPI"]).run()
    style = app.session_state[f"{state.VIEW_PANEL}_style"]
    assert (style.fitc.show, style.dapi.show, style.outline.show) == (False, True, False)
    assert f"{state.VIEW_DIALOG}_style" not in app.session_state  # each place its own


def test_cache__a_view_whose_partner_could_not_be_read_now_is_drawn_again(
    tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A passing failure (S3 unreachable) must not stick in the cache until a restart."""
    monkeypatch.setenv(PROJECT_ENV, str(tiny_project.folder))
    drawn: list[bool] = []

    def fake(*args: object, **kwargs: object) -> NucleusView:
        drawn.append(True)
        return NucleusView(b"png", ("No DAPI: could not be read now.",) if len(drawn) == 1
                           else (), passing=len(drawn) == 1)  # fmt: skip

    monkeypatch.setattr(cache, "composite_view", fake)
    cache.clear_thumbnails()
    source, rel = tiny_project.config.datasource, tiny_project.samples().relpath.iloc[0]
    assert cache.nucleus_view(source, rel, 64, CompositeStyle()).passing
    assert not cache.nucleus_view(source, rel, 64, CompositeStyle()).passing  # drawn again
    assert cache.nucleus_view(source, rel, 64, CompositeStyle()).notes == ()  # now kept
    assert len(drawn) == 2
    cache.clear_thumbnails()


def test_prefetch__the_next_views_are_made_ahead_and_handed_out_without_a_decode(
    tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20: the queue makes its next images in the background; showing one then costs
    no decode and no PNG encode. A view asked for but still queued is made on the spot."""
    monkeypatch.setenv(PROJECT_ENV, str(tiny_project.folder))
    made: list[str] = []
    real = cache.composite_view

    def counting(fitc: object, relpath: str, *args: object, **kwargs: object) -> NucleusView:
        made.append(relpath)
        return real(fitc, relpath, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cache, "composite_view", counting)
    cache.clear_thumbnails()
    source, rels = tiny_project.config.datasource, tiny_project.samples().relpath.tolist()[:3]
    cache.prefetch_views(source, rels[1:], 64, CompositeStyle())
    cache._view_prefetcher().settle()
    assert made == rels[1:]
    ahead = cache.nucleus_view(source, rels[1], 64, CompositeStyle())
    assert made == rels[1:]  # handed out, not made again
    cache.clear_thumbnails()
    assert cache.nucleus_view(source, rels[1], 64, CompositeStyle()).png == ahead.png
    assert made == [*rels[1:], rels[1]]
    cache.clear_thumbnails()


def test_prefetch__a_view_starts_after_its_delay_or_at_once_when_wanted() -> None:
    """Issue 20: a view made ahead waits before it starts (making it at once competed with
    the key press's own run for the cores); the labeler arriving at it starts it at once,
    and clearing the cache ends the waits."""
    started: list[str] = []
    prefetcher = cache._ViewPrefetcher(delay=600.0)  # never starts by its delay in this test

    def make(name: str) -> Callable[[], NucleusView]:
        def made() -> NucleusView:
            started.append(name)
            return NucleusView(png=name.encode())

        return made

    keys = [("s", name, 64, "style") for name in ("a", "b")]
    for key in keys:
        prefetcher.submit(key, make(key[1]))
    time.sleep(0.2)
    assert started == []  # waiting for its start, not made while the key press runs
    got: list[NucleusView | None] = []
    taker = threading.Thread(target=lambda: got.append(prefetcher.take(keys[0])))
    taker.start()
    taker.join(timeout=60)
    assert not taker.is_alive()
    assert started == ["a"]  # wanted: started at once
    assert got[0] is not None
    assert got[0].png == b"a"
    prefetcher.clear()  # "b", waiting for its start behind "a", ends without being made
    closer = threading.Thread(target=prefetcher._pool.shutdown, kwargs={"wait": True})
    closer.start()
    closer.join(timeout=60)
    assert not closer.is_alive()  # nothing is left waiting
    assert started == ["a"]
