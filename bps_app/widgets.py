"""Reusable widgets: the sidebar, display controls, job monitors, thumbnails."""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, cast

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.navigation.page import StreamlitPage

from bps_app import blind, cache, figures, jobs, state
from bps_app.safe_text import md
from bps_app.tables import file_name, sample_row
from bps_core.composite import (
    MAX_OUTLINE_WIDTH,
    ChannelStyle,
    CompositeStyle,
    NucleusView,
    OutlineStyle,
)
from bps_core.errors import BpsError, DatasourceError, ImageDecodeError
from bps_core.images import DisplayWindow
from bps_core.project import Project
from bps_core.settings import Settings
from bps_core.storage import DatasourceConfig
from bps_core.verbs import TagSettings, tag_samples


def require_login() -> None:
    """With OIDC login configured (``[auth]`` in ``.streamlit/secrets.toml``), nothing but a
    "Log in" button (``st.login``) until the browser has signed in."""
    try:
        configured = "auth" in st.secrets
    except FileNotFoundError:  # no secrets.toml: login is not configured
        return
    if not configured or st.user.get("is_logged_in"):
        return
    st.title("BPS Labeler")
    st.button("Log in", type="primary", icon=":material/login:", on_click=st.login)
    st.stop()


def sidebar(project_name: str, pages: Sequence[StreamlitPage] = ()) -> None:
    """The page menu, the project name and the labeler's name, shared by every page.

    The menu is drawn here (with ``st.navigation(..., position="hidden")``), not by Streamlit:
    its links carry ``?user=`` (``page_link``), so a page opened in a new tab, bookmarked or
    copied from the menu keeps the name, and a page switch is one step back in the history."""
    with st.sidebar:
        who = state.signed_in_user()
        if who is None:
            state.restore_user_name()  # first: the menu's links carry the name
        for page in pages:
            page_link(page, width="stretch")
        if pages:
            st.divider()
        st.caption(f"Project: **{md(project_name)}**")
        if who is not None:
            st.caption(f"Signed in as **{md(who)}**")
            st.button("Log out", key="logout", icon=":material/logout:", on_click=st.logout)
            return
        st.text_input(
            "Your name",
            key=state.USER_NAME_INPUT,
            on_change=state.store_user_name,
            max_chars=state.USER_NAME_MAX,
            placeholder="e.g. ada",
            help="Stored with every label you make. It stays in the address (?user=), so a "
            "reload, a bookmark or a page opened in a new tab keeps it.",
        )
        if (why := state.user_name_error()) is not None:
            st.error(md(why))


def page_link(
    page: str | StreamlitPage,
    *,
    label: str | None = None,
    icon: str | None = None,
    width: Literal["content", "stretch"] = "content",
) -> None:
    """``st.page_link`` whose link carries ``?user=`` (``state.user_query``): Streamlit's own
    links carry no query, so one opened in a new tab lost the labeler's name."""
    st.page_link(page, label=label, icon=icon, width=width,
                 query_params=state.user_query() or None)  # fmt: skip


def display_controls(default: DisplayWindow, key: str) -> DisplayWindow:
    """16-bit display window controls: auto percentiles, or manual min/max, and gamma."""
    cols = st.columns([1, 2, 1])
    auto = cols[0].toggle("Auto contrast", value=default.mode == "auto", key=f"{key}_auto")
    if auto:
        lo, hi = cols[1].slider(
            "Percentiles", 0.0, 100.0, (default.low_pct, default.high_pct), 0.5, key=f"{key}_pct"
        )
        window = DisplayWindow(mode="auto", low_pct=lo, high_pct=hi)
    else:
        lo, hi = cols[1].slider(
            "Min / max", 0, 65535, (int(default.vmin), int(default.vmax)), 50, key=f"{key}_mm"
        )
        window = DisplayWindow(mode="manual", vmin=lo, vmax=max(hi, lo + 1))
    gamma = cols[2].slider("Gamma", 0.2, 3.0, default.gamma, 0.1, key=f"{key}_gamma")
    return DisplayWindow(
        window.mode, window.low_pct, window.high_pct, window.vmin, window.vmax, gamma
    )


Num = TypeVar("Num", int, float)

#: The largest whole number a browser's number box (a JavaScript double) holds exactly; an
#: integer box with no bound of its own is bounded by it, as Streamlit's integer boxes were.
MAX_EXACT_INT = 2**53 - 1

#: How an integer box shows its value: sprintf.js's %g without a precision is JavaScript's
#: ``String(x)`` (Python's ``%g`` would round to 6 digits), so 48 shows as "48", not "48.00",
#: a seed of 2,147,483,647 in full, and a non-whole 3.7 as typed.
INT_FORMAT = "%g"


@dataclass(frozen=True)
class NumberField(Generic[Num]):
    """What a number box holds, and why it cannot be used when it is out of its range (or,
    in an integer box, not a whole number: that value stays the float typed)."""

    value: Num | None
    error: str = ""  # empty when the value is in range

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def number(self) -> Num:
        """The value of a box that cannot be empty (one drawn with a ``value``)."""
        if self.value is None:
            raise ValueError("the number box is empty")
        return self.value


def number_field(
    label: str,
    *,
    low: Num | None,
    high: Num | None,
    value: Num | None,
    key: str,
    step: Num | None = None,
    where: DeltaGenerator | None = None,
    high_means: str = "",
    empty_ok: bool = True,
    **widget: Any,
) -> NumberField[Num]:
    """A number box (``st.number_input`` in ``where``) that takes whatever is typed and says so
    when it is outside ``low`` to ``high`` (None: unbounded) or, in an integer box, not a whole
    number; ``check_numbers`` shows why.

    Streamlit's own ``min_value``/``max_value`` do not refuse a value typed out of range, they
    drop it: the box turns red and the script keeps the last valid value, so a button pressed
    next ran with a number the user no longer saw (5000 typed, 5 used). So the box has no
    bounds; the range is checked here. Only when the range itself moves (fewer pages after a
    filter) does a value outside it go back to ``value``, as Streamlit does.

    An integer box is drawn as a float box too: Streamlit's integer box reads the text with the
    browser's ``parseInt``, so "1e9" became 1 and "3.7" became 3 before the script saw them,
    and the action ran with a number the user did not type. A float box hands over 1e9 and 3.7
    as typed; the whole-number check is here, and the value returned is a Python ``int``.

    Args:
        label: The box's label, also what its error names.
        low: The least allowed value, or None.
        high: The largest allowed value, or None.
        value: The first value (None: an empty box, which can be emptied again).
        key: The widget key.
        step: The +/- step; integer ``low``/``high``/``value``/``step`` make an integer box
            (+/- 1 by default, whole numbers only, at most ``MAX_EXACT_INT`` either way).
        where: The container (a column), else the current one.
        high_means: ``high`` in words for the error, e.g. "the 12 pages".
        empty_ok: False: an empty box is an error too (one whose value the session holds).
        **widget: More ``st.number_input`` arguments (help, format, disabled, placeholder).
    """
    given = [a for a in (low, high, value, step) if a is not None]
    whole = all(isinstance(a, int) for a in given)

    def as_float(x: float | None) -> float | None:  # Streamlit refuses mixed int and float
        return None if x is None else float(x)

    bounds = as_float(low), as_float(high)
    checked = bounds
    if whole:  # beyond these a browser's box rounds what is typed: 2**53 + 1 reads 2**53
        checked = (-MAX_EXACT_INT if low is None else low, MAX_EXACT_INT if high is None else high)
        widget.setdefault("format", INT_FORMAT)
    # Without bounds Streamlit infers an empty box's type from step alone: always pass one.
    args: dict[str, Any] = {"step": as_float(step) or (1.0 if whole else 0.01), **widget}
    before = st.session_state.get(key)
    moved = state.number_range_moved(key, bounds)
    if moved and isinstance(before, int | float) and range_error(label, before, *checked):
        # Back to the first value through the session, which updates the browser's box; no
        # default besides (Streamlit would log "set via the Session State API" for both).
        st.session_state[key] = as_float(value)
    else:
        args["value"] = as_float(value)
    shown = (where or st).number_input(label, key=key, **args)
    typed = as_float(shown)
    error = range_error(
        label, typed, *checked, high_means=high_means, empty_ok=empty_ok, whole=whole
    )
    if whole and typed is not None and math.isfinite(typed) and typed.is_integer():
        return NumberField(cast("Num", int(typed)), error)
    return NumberField(cast("Num | None", typed), error)


def range_error(
    label: str,
    value: float | None,
    low: float | None,
    high: float | None,
    *,
    high_means: str = "",
    empty_ok: bool = True,
    whole: bool = False,
) -> str:
    """Why ``value`` typed in box ``label`` is refused, naming the value and the range; empty
    when it lies in ``low`` to ``high`` (None: unbounded) and, with ``whole``, is a whole
    number, or the box is empty and ``empty_ok``."""
    if value is None and empty_ok:
        return ""

    def allowed(what: str = "a number") -> str:
        named = "" if what == "a number" else f"{what} of "  # "enter a whole number of 0 or more"
        if low is not None and high is not None:
            return f"enter {what} from {_number(low)} to {_number(high)}"
        if low is not None:
            return f"enter {named}{_number(low)} or more"
        if high is not None:
            return f"enter {named}at most {_number(high)}"
        return f"enter {what}"

    if value is None:
        return f"{label} is empty; {allowed()}."
    if not math.isfinite(value):
        return f"{label}: {_number(value)} is not a number; {allowed()}."
    if high is not None and value > high:
        return f"{label}: {_number(value)} is more than {high_means or _number(high)}; {allowed()}."
    if low is not None and value < low:
        return f"{label}: {_number(value)} is less than {_number(low)}; {allowed()}."
    if whole and not float(value).is_integer():
        return f"{label}: {_number(value)} is not a whole number; {allowed('a whole number')}."
    return ""


def _number(x: float) -> str:
    """``x`` as the box shows it: whole numbers with thousands separators (JavaScript writes
    them out in full below 1e21), others as Python's shortest round-trip text, JavaScript's."""
    if isinstance(x, int) or (math.isfinite(x) and x.is_integer() and abs(x) < 1e21):
        return f"{int(x):,}"
    return repr(float(x))


def check_numbers(*fields: NumberField[Any]) -> bool:
    """Shows the error of each field out of its range (in the current container, under the
    row of boxes); True when there is none, so the action that uses them may run."""
    for field in fields:
        if field.error:
            st.error(md(field.error), icon=":material/error:")
    return all(f.ok for f in fields)


def submit_job(project: Project, make_settings: Callable[[], Settings]) -> bool:
    """Builds the job's settings (``make_settings()``, e.g. ``lambda: MapConfig(method=m)``)
    and starts the background job; a job of the same kind already running is an info. False
    when a setting was refused (the settings validate when built, inside this call): the error
    is shown on the page and nothing is queued (so do not rerun the page then, or the error is
    gone)."""
    try:
        job_id = jobs.submit(project, make_settings(), user=state.user_name() or "anonymous")
        state.watch_job(job_id)
    except jobs.JobAlreadyRunning as exc:
        st.info(str(exc))
    except (BpsError, ValueError) as exc:
        st.error(str(exc))
        return False
    return True


@st.fragment(run_every=1.0)
def job_monitor(job_id: str) -> None:
    """Live progress, message, loss curve and a cancel button; reruns the page when done,
    where ``job_outcome`` then says how it ended."""
    state.watch_job(job_id)
    with state.open_project() as project:
        jobs.reap_dead_jobs(project)
        job = jobs.get_job(project, job_id)
        if not job.active:
            st.rerun()
        st.progress(job.progress, text=md(f"{job.kind} job: {job.message or job.state}"))
        loss = job.metrics.get("loss") or []
        if loss:
            st.plotly_chart(figures.loss_figure(loss), key=f"loss_{job_id}")
        if st.button("Cancel", key=f"cancel_{job_id}", icon=":material/stop:"):
            jobs.cancel_job(project, job_id)
            st.toast("Cancelling: the job stops at its next progress report.")


def job_outcome(*kinds: str) -> list[str]:
    """Says how this session's watched jobs of ``kinds`` ended, once each: a success with what
    they made, or an error with the whole message. Returns the ids it announced."""
    announced = []
    with state.open_project() as project:
        for job_id in state.watched_jobs():
            try:
                job = jobs.get_job(project, job_id)
            except BpsError:  # gone (another project, a reset database): nothing to say
                state.unwatch_job(job_id)
                continue
            if job.kind not in kinds or job.active:
                continue
            state.unwatch_job(job_id)
            announced.append(job_id)
            if job.state == "succeeded":
                st.success(md(f"The {job.kind} job finished: {_describe_result(job)}"),
                           icon=":material/check_circle:")  # fmt: skip
                if isinstance(note := (job.result or {}).get("note"), str):
                    st.warning(md(note), icon=":material/warning:")
            elif job.state == "cancelled":
                st.info(f"The {job.kind} job was cancelled.", icon=":material/stop_circle:")
            else:
                st.error(md(f"The {job.kind} job failed: {job.error or 'no reason recorded'}"),
                         icon=":material/error:")  # fmt: skip
    return announced


def _describe_result(job: jobs.JobRecord) -> str:
    r = job.result or {}
    n = f"{r['n']:,}" if isinstance(r.get("n"), int) else "?"
    if job.kind == "embed" and "version" in r:
        return (f"embedding set {r['version']} of {n} samples is now current, "
                f"shown with its UMAP map {r.get('map_id', '')}.")  # fmt: skip
    if job.kind == "map" and "map_id" in r:
        method = str(r.get("method", "")).upper()
        return (f"{method} map {r['map_id']} of embedding set {r.get('embedding_version', '')} "
                f"({n} points) is now shown.")  # fmt: skip
    shown = ", ".join(f"{k}: {v}" for k, v in r.items() if not isinstance(v, dict | list))
    return shown or "done."


def jobs_frame(records: list[jobs.JobRecord]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"job": j.id, "state": j.state, "user": j.user, "started": j.started_at,
             "finished": j.finished_at, "message": j.error or j.message}
            for j in records
        ]
    )  # fmt: skip


def embedding_sets_frame(sets: list[dict[str, Any]], maps: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per embedding set (``list_embedding_sets``), with how many ``maps``
    (``list_maps``) are stored for it."""
    return pd.DataFrame(
        [
            {"current": "yes" if s["current"] else "", "version": s["version"],
             "method": s["method"], "samples": s["samples"], "dims": s["dim"],
             "created": s["created_at"][:19].replace("T", " "),
             "maps": sum(m["embedding_version"] == s["version"] for m in maps)}
            for s in sets
        ]
    )  # fmt: skip


def map_label(m: dict[str, Any]) -> str:
    """One line for a stored map (``projection.list_maps`` row)."""
    p = m["params"]
    how = (f"n_neighbors {p.get('n_neighbors')}, min_dist {p.get('min_dist')}"
           if m["method"] == "umap" else "2 principal components")  # fmt: skip
    shown = " (shown)" if m["current"] else ""
    return f"{m['id']} · {m['method'].upper()} · {how} · seed {p.get('seed', 0)}{shown}"


def maps_frame(maps: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"shown": "yes" if m["current"] else "", "map": m["id"],
             "method": m["method"].upper(), "n_neighbors": m["params"].get("n_neighbors"),
             "min_dist": m["params"].get("min_dist"), "seed": m["params"].get("seed", 0),
             "created": m["created_at"][:19].replace("T", " ")}
            for m in maps
        ]
    )  # fmt: skip


def quality_frame(quality: dict[str, dict[str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"truth": label, "balanced accuracy": round(q["balanced_accuracy"], 3),
             "accuracy": round(q["accuracy"], 3),
             "ROC AUC": round(q.get("roc_auc", float("nan")), 3), "samples": int(q["n"])}
            for label, q in quality.items()
        ]
    )  # fmt: skip


UNLABELED = figures.UNLABELED


T = TypeVar("T")


def _or_reason(key: str, make: Callable[[], T]) -> tuple[T | None, str, bool]:
    """``make()``, or None with the reason it failed and whether ``key`` was marked bad for it
    (undecodable, or its file is gone); a datasource failure marks nothing."""
    try:
        return make(), "", False
    except ImageDecodeError as exc:
        with state.open_project() as p:
            p.mark_bad(key, exc.reason)
        return None, exc.reason, True
    except DatasourceError as exc:
        return None, str(exc), False


def thumbnail_or_reason(
    key: str, relpath: str, source: DatasourceConfig, size: int, window: DisplayWindow
) -> tuple[bytes | None, str, bool]:
    """The PNG thumbnail of one sample, or None with the reason it cannot be shown, and
    whether the sample was marked bad for it (undecodable, or its file is gone)."""
    return _or_reason(key, lambda: cache.thumbnail(source, relpath, size, window))


def view_or_reason(
    key: str, relpath: str, source: DatasourceConfig, size: int, style: CompositeStyle
) -> tuple[NucleusView | None, str, bool]:
    """The nucleus view of one sample (FITC, DAPI, MASK outline), or None with the reason it
    cannot be shown, and whether the sample was marked bad for it (undecodable, or gone). A
    missing or unreadable partner is no reason: the view then says what it lacks."""
    return _or_reason(key, lambda: cache.nucleus_view(source, relpath, size, style))


VIEW_LAYERS = ("FITC", "DAPI", "Outline")


def view_controls(place: str, window: DisplayWindow) -> CompositeStyle:
    """The nucleus view's compact controls at ``place`` (``state.VIEW_*``): one pill per layer
    (FITC, DAPI, the target's MASK outline) and a popover with each layer's colour, the DAPI
    window and the outline's width. FITC keeps the page's display ``window``. The choice is
    remembered per place for the session (``state.view_style``)."""
    old = state.view_style(place)

    def key(part: str) -> str:
        return state.view_widget_key(place, part)

    shown = (old.fitc.show, old.dapi.show, old.outline.show)
    left, right = st.columns([3, 2], vertical_alignment="center")
    layers = left.pills(
        "Layers", VIEW_LAYERS, selection_mode="multi", key=key("layers"),
        default=[name for name, on in zip(VIEW_LAYERS, shown, strict=True) if on],
        label_visibility="collapsed",
        help="FITC (53BP1), DAPI (the nuclear stain) and the outline of this crop's nucleus "
        "from its MASK: foci outside the line belong to a neighbour or to debris.",
    )  # fmt: skip
    with right.popover("Colours", icon=":material/palette:", width="stretch"):
        c1, c2 = st.columns([1, 2], vertical_alignment="bottom")
        fitc_color = c1.color_picker("FITC", old.fitc.color, key=key("fitc_color"))
        c2.caption("FITC contrast: the page's display controls.")
        c1, c2 = st.columns([1, 2], vertical_alignment="bottom")
        dapi_color = c1.color_picker("DAPI", old.dapi.color, key=key("dapi_color"))
        low, high = c2.slider(
            "DAPI percentiles", 0.0, 100.0, (old.dapi.window.low_pct, old.dapi.window.high_pct),
            0.1, key=key("dapi_pct"), help="The DAPI window: these percentiles of the crop map "
            "to black and to full colour.",
        )  # fmt: skip
        c1, c2 = st.columns([1, 2], vertical_alignment="bottom")
        outline_color = c1.color_picker("Outline", old.outline.color, key=key("outline_color"))
        width = c2.slider("Outline width (px)", 1, MAX_OUTLINE_WIDTH, old.outline.width,
                          key=key("outline_width"))  # fmt: skip
    dapi_window = old.dapi.window
    if low < high:
        dapi_window = DisplayWindow("auto", low, high, gamma=old.dapi.window.gamma)
    style = CompositeStyle(
        ChannelStyle("FITC" in layers, fitc_color, window),
        ChannelStyle("DAPI" in layers, dapi_color, dapi_window),
        OutlineStyle("Outline" in layers, outline_color, int(width)),
    )
    state.set_view_style(place, style)
    return style


#: The label queue's display window and nucleus-view style (``queue_view_controls``).
QueueView = tuple[DisplayWindow, CompositeStyle]


def queue_view_controls(default: DisplayWindow) -> QueueView:
    """The label queue's display window and nucleus-view controls (``display_controls``,
    ``view_controls``), drawn by the page's full run above the queue's fragment: a key press
    reruns the fragment only, so it does not send these 25 elements again (issue 20); a change
    to one reruns the page, and the fragment gets the new window and style."""
    window = display_controls(default, key="queue_display")
    return window, view_controls(state.VIEW_QUEUE, window)


def png_src(png: bytes) -> str:
    """``png`` as a ``data:`` URI, what this app hands ``st.image``: the image travels inside
    its element, with no URL that can expire.

    Handed bytes, ``st.image`` keeps them in Streamlit's in-memory media store and sends a
    ``/media/<hash>.png`` URL, and the next run that draws an image at the same place deletes
    that file as it ends. Digits pressed faster than the queue's runs (100-200 ms each) left
    the browser loading URLs of runs already replaced: 404s, a broken image flashing and
    console errors. Inline, the bytes grow by a third and come with the run's message rather
    than in a request after it; Streamlit sends an unchanged element of 10 kB or more again as
    a reference to the browser's copy. Measured on the demo project, browser and server on 2
    shared cores: a key press to the next image drawn took 101 ms median against 118 ms in a
    first run, but 136-153 ms against 120-134 ms in three runs at load 6, where the browser's
    main thread spent about 35 ms more a press on the larger message.
    """
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def nucleus_image(
    key: str, relpath: str, source: DatasourceConfig, style: CompositeStyle, *, size: int = 512
) -> None:
    """One sample large as a nucleus view (``view_controls`` gives ``style``), with a caption
    per partner that is absent; a sample that cannot be shown gets a placeholder (and is
    marked bad when its file is undecodable or gone)."""
    view, reason, marked_bad = view_or_reason(key, relpath, source, size, style)
    if view is None:
        note = " It is now marked bad." if marked_bad else ""
        st.info(
            f"{md(relpath)}\n\nCannot show: {md(reason)}.{note}", icon=":material/broken_image:"
        )
        return
    st.image(png_src(view.png), caption=md(relpath))
    for line in view.notes:
        st.caption(md(line))


#: The metadata a queue shows next to its image.
QUEUE_FACTS = ("particle_type", "dose_Gy", "hr_post_exposure", "plate", "well")


def sample_facts(where: Any, samples: pd.DataFrame, key: str, keys: pd.Index) -> None:
    """The queue's metadata of sample ``key`` (``QUEUE_FACTS``), one "name: value" line
    each, in ``where`` (a column). Markdown, not a data frame: the grid component's canvas
    cost the browser about 15 ms of every key press. ``keys``: the index of
    ``cache.relpaths`` (``tables.sample_row``)."""
    columns = [c for c in QUEUE_FACTS if c in samples.columns]
    at = keys.get_loc(key) if len(keys) == len(samples) else None  # KeyError: no such key
    if isinstance(at, int):  # a hash lookup and one value per fact, no row taken (2 ms)
        values = [samples[c].iat[at] for c in columns]
    else:
        row = sample_row(samples, key, keys)
        values = [row[c] for c in columns]
    lines = [f"{md(c)}: **{md(v)}**" for c, v in zip(columns, values, strict=True)]
    if lines:
        where.markdown("  \n".join(lines))


#: How many of a queue's next images are made ahead while the labeler looks at one.
PREFETCH_AHEAD = 4


def prefetch_views(
    keys: Sequence[str],
    relpaths: pd.Series,
    source: DatasourceConfig,
    style: CompositeStyle,
    *,
    size: int = 512,
) -> None:
    """Starts making the nucleus views of ``keys`` (a queue's next images) in the background
    (``cache.prefetch_views``), so moving on shows them without a decode."""
    if keys:
        cache.prefetch_views(source, [relpaths[k] for k in keys], size, style)


def thumbnail_grid(
    keys: list[str],
    relpaths: pd.Series,
    source: DatasourceConfig,
    window: DisplayWindow,
    *,
    size: int = 160,
    captions: dict[str, str] | None = None,
    open_key: str | None = None,
    style: CompositeStyle | None = None,
) -> list[str]:
    """Draws thumbnails of ``keys``, ``size`` pixels wide, as one image list that wraps into
    rows, each caption starting with the thumbnail's number (1 for ``keys[0]``); the files
    that cannot be shown are listed below it with their reasons. Returns the keys of files
    that cannot be decoded or are gone (they are marked bad in the project). With
    ``open_key`` (the control's widget key), an "Open in detail" row of the thumbnails'
    numbers opens the picked sample's detail dialog. With ``style``, each is a nucleus view
    (FITC, DAPI, MASK outline) drawn in it, its FITC window being ``window``.

    One image element and one control rather than an image and a button per thumbnail:
    the browser's React work for ~50 elements mounted on every lasso and unmounted on every
    label was a large share of those steps' main-thread time (issue 20).
    """
    bad: list[str] = []
    cache.prefetch(source, [relpaths[k] for k in keys])
    pngs: list[bytes] = []
    shown: list[str] = []
    numbers: list[int] = []
    cannot: list[str] = []
    for number, key in enumerate(keys, start=1):
        if style is None:
            png, reason, marked_bad = thumbnail_or_reason(key, relpaths[key], source, size, window)
        else:
            view, reason, marked_bad = view_or_reason(key, relpaths[key], source, size, style)
            png = view.png if view is not None else None
        caption = f"{number} · {md((captions or {}).get(key, file_name(key)))}"
        if png is None:
            if marked_bad:
                bad.append(key)
            cannot.append(f"- {caption}: Cannot show: {md(reason)}")
            continue
        pngs.append(png)
        shown.append(caption)
        numbers.append(number)
    if pngs:
        st.image([png_src(png) for png in pngs], caption=shown, width=size)
    if cannot:
        st.info("\n".join(cannot), icon=":material/broken_image:")
    if open_key is not None and numbers:
        st.pills(
            "Open in detail", numbers, key=open_key, on_change=state.pick_to_open,
            args=(open_key, keys), help="Opens the thumbnail of this number large, with its "
            "metadata, label history and nearest neighbours.",
        )  # fmt: skip
        if (picked := state.take_to_open(open_key)) is not None:
            sample_dialog(picked, window)
    return bad


def local_times(iso_utc: pd.Series) -> tuple[pd.Series, str]:
    """ISO UTC timestamps as local times to the second, in the browser's time zone when
    Streamlit reports it (else UTC), and the zone's name for the column header."""
    tz = None
    try:
        tz = st.context.timezone
    except (AttributeError, RuntimeError):  # no browser (AppTest, bare mode)
        tz = None
    times = pd.to_datetime(iso_utc, utc=True, format="ISO8601")
    if tz:
        try:
            times = times.dt.tz_convert(tz)
        except (KeyError, ValueError):  # an unknown zone name
            tz = None
    return times.dt.strftime("%Y-%m-%d %H:%M:%S"), tz or "UTC"


def map_clicks_open_points() -> None:
    """Makes a click on a map point select it (and so open it) in lasso and box mode too.

    Streamlit's chart turns plotly's click-to-select off in lasso and box drag mode, and it
    forwards plotly's click events only for sunburst-like charts (streamlit/streamlit#8824),
    so in the default lasso mode a click reached nobody. This fixed script (no user data)
    re-emits a click on a point as a one-point selection, which Streamlit reports like any
    other; in pan or zoom mode plotly's own click-to-select already does that.
    """
    st.html(_CLICK_TO_SELECT, unsafe_allow_javascript=True)


_CLICK_TO_SELECT = """<script>
(() => {
  if (window.__bpsClickToSelect) return;
  window.__bpsClickToSelect = setInterval(() => {
    document.querySelectorAll(".stPlotlyChart .js-plotly-plot").forEach((gd) => {
      if (gd.__bpsClickToSelect || typeof gd.on !== "function") return;
      gd.__bpsClickToSelect = true;
      gd.on("plotly_click", (ev) => {
        const mode = gd._fullLayout && gd._fullLayout.dragmode;
        if ((mode === "lasso" || mode === "select") && ev && ev.points && ev.points.length) {
          const p = ev.points[0];  // a click's point holds the axes (cyclic): pass plain fields
          gd.emit("plotly_selected", {points: [{curveNumber: p.curveNumber,
            pointNumber: p.pointNumber, pointIndex: p.pointIndex, x: p.x, y: p.y,
            customdata: p.customdata}]});
        }
      });
    });
  }, 400);
})();
</script>"""


def map_selection_sends_shapes() -> None:
    """Makes a lasso or box on the map send its shape only, not plotly's list of the points
    inside it.

    The server selects from the shape (``figures.chart_selection``); the list was never
    read, yet it cost every lasso most of its time: about 130 bytes a point in the browser's
    rerun request (530 kB for 4,000 points), a regex key conversion per point there, and on
    the server Streamlit's JSON decode, deep copy and encode of it in the chart's widget
    state. This fixed script (no user data) runs before Streamlit's own handler of plotly's
    ``plotly_selected`` event and empties the event's points when it carries a lasso or box;
    a click's one-point selection (``map_clicks_open_points``) carries no shape and keeps
    its point.
    """
    st.html(_SHAPES_ONLY, unsafe_allow_javascript=True)


_SHAPES_ONLY = """<script>
(() => {
  if (window.__bpsShapesOnly) return;
  window.__bpsShapesOnly = setInterval(() => {
    document.querySelectorAll(".stPlotlyChart .js-plotly-plot").forEach((gd) => {
      if (gd.__bpsShapesOnly || !gd._ev || typeof gd._ev.prependListener !== "function") return;
      gd.__bpsShapesOnly = true;
      gd._ev.prependListener("plotly_selected", (ev) => {
        if (ev && ev.points && ev.points.length && (ev.selections || []).length) ev.points = [];
      });
    });
  }, 200);
})();
</script>"""


META_HIDDEN = ("key", "status", "error")


def sample_detail(
    key: str, window: DisplayWindow, *, n_neighbours: int = 8, place: str = state.VIEW_PANEL
) -> None:
    """One sample large: the nucleus view (FITC, DAPI and its MASK outline, with controls
    keyed by ``place``), its metadata, current label and label history, and its nearest
    neighbours in embedding space. A blind double labeler sees only their own label and
    label events (``blind.view``)."""
    with state.open_project() as project:
        samples = cache.load_samples(project)
        row = sample_row(samples, key)
        blind_view = blind.view(project, state.user_name())
        history = blind.own_label_events(project.label_events(key), blind_view, project)
        tag_history = project.tags.history(key, user=blind.user_of(blind_view))
        near = cache.neighbours(project, key, n_neighbours)
        if blind_view is None:
            labels = cache.current_labels(project).label_of
        else:
            labels = dict(zip(blind_view.own.key, blind_view.own.label, strict=True))
        source = project.config.datasource
        rel = cache.relpaths(project)
    left, right = st.columns([3, 2])
    with left:
        nucleus_image(key, row.relpath, source, view_controls(place, window), size=480)
    current = labels.get(key)
    right.metric("Current label" if blind_view is None else "Your label",
                 md(current) if isinstance(current, str) else UNLABELED)  # fmt: skip
    if blind_view is not None:
        right.caption(blind.NOTE)
    meta = row.drop([c for c in META_HIDDEN if c in row.index]).dropna()
    right.dataframe(meta.astype(str).rename("value").to_frame(), width="stretch", key=f"meta_{key}")
    tag_editor([key], _TAG_PLACE.get(place, "dialog"), user=state.user_name())
    st.markdown("**Label history**")
    if history.empty:
        st.caption("Never labeled." if blind_view is None else "Not labeled by you.")
    else:
        shown = history[["created_at", "user", "source", "label"]].iloc[::-1].copy()
        shown["created_at"], tz = local_times(shown.created_at)
        shown = shown.rename(columns={"created_at": f"time ({tz})"})
        shown["label"] = shown.label.fillna("(cleared)")
        st.dataframe(shown, hide_index=True, width="stretch", key=f"history_{key}")
    if not tag_history.empty:
        st.markdown("**Tag history**")
        tags_shown = tag_history[["created_at", "user", "tag", "present"]].iloc[::-1].copy()
        tags_shown["created_at"], tz = local_times(tags_shown.created_at)
        tags_shown["present"] = tags_shown.present.map({True: "added", False: "removed"})
        tags_shown = tags_shown.rename(columns={"created_at": f"time ({tz})", "present": "what"})
        st.dataframe(tags_shown, hide_index=True, width="stretch", key=f"tag_history_{key}")
    st.markdown(f"**Nearest neighbours** ({len(near)}, cosine similarity in embedding space)")
    if not near:
        st.caption("No embedding contains this sample yet.")
    else:
        captions = {}
        for k, sim in near:
            lab = labels.get(k)
            captions[k] = f"{sim:.3f} · {lab if isinstance(lab, str) else UNLABELED}"
        thumbnail_grid([k for k, _ in near], rel, source, window, size=128, captions=captions)


@st.dialog("Sample", width="large")
def sample_dialog(key: str, window: DisplayWindow) -> None:
    sample_detail(key, window, place=state.VIEW_DIALOG)


_TAG_PLACE = {state.VIEW_DIALOG: "dialog", state.VIEW_PANEL: "panel"}
TAG_BOX = "Add a tag"  # the tag box's label: the T key finds the box by it


def shortcut_keys_in_order() -> None:
    """Makes shortcut keys pressed while a run is in flight wait for it, then replays them one
    run each, in the order pressed: no label is lost or given to another image.

    Streamlit coalesces a rerun request that arrives while the previous one has not started
    into one run (``ScriptRequests``), and that run calls each triggered button's callback
    once, in the order of the page's widgets: digits pressed 75 ms apart in the label queue
    gave "debris" then "track" to the images pressed "track" then "debris" (3 of 8 bursts of
    20 presses), and pressed 15 ms apart 3 of 31 were lost (a digit twice in one run counts
    once). This fixed script (no user data) holds back the keys of enabled shortcut buttons
    (their ``Shortcut`` hints) while the run one of them started has not finished, and
    replays them in order, each once the run before it finished. Other keys (T, typing in a
    box) pass as they come; without Streamlit's run-state attribute it holds nothing. A
    labeler at a normal pace never waits; one faster than the runs sees every image go by.

    A mouse click on a shortcut button holds the keys after it the same way: clicked "track"
    then pressed 1 within 0-5 ms, the key's run met the click's and Streamlit counted the
    button once (9 of 12 tries lost a label).

    A tick box keeps the focus after a click, and Streamlit ignores shortcuts from any input:
    a digit right after unticking a grid tile did nothing. A letter or digit on a tick box
    or radio button (where it has no use of its own) goes to the page instead, in turn.
    """
    st.html(_SHORTCUT_KEYS_IN_ORDER, unsafe_allow_javascript=True)


# Streamlit's shortcut hints (``<kbd aria-label="Shortcut X">``) name arrows and Enter so.
_SHORTCUT_KEYS_IN_ORDER = """<script>
(() => {
  if (window.__bpsKeysInOrder) return;
  window.__bpsKeysInOrder = true;
  const NAMES = {ArrowLeft: "←", ArrowRight: "→", ArrowUp: "↑", ArrowDown: "↓",
                 Enter: "Enter", " ": "Space"};
  const held = [];
  let busy = false, sawRun = false, timer = null;
  const app = () => document.querySelector('[data-testid="stApp"]');
  const tracked = () => !!app() && app().hasAttribute("data-test-script-state");
  const typing = (ev) => (ev.composedPath ? ev.composedPath() : [ev.target]).some((t) =>
    t && t.tagName && (["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName) ||
                       t.isContentEditable));
  const mods = (ev) => ev.ctrlKey || ev.metaKey || ev.altKey;
  const plain = (ev) => !mods(ev) && !typing(ev) && (ev.key.length === 1 || ev.key in NAMES);
  // Space toggles a box, arrows move among radio buttons: those stay the box's.
  const onBox = (ev) => !mods(ev) && ev.key.length === 1 && ev.key !== " " &&
    ev.target instanceof HTMLInputElement && ["checkbox", "radio"].includes(ev.target.type);
  const live = (key) => {
    const name = NAMES[key] || key.toUpperCase();
    return [...document.querySelectorAll("button:not([disabled]) kbd[aria-label]")]
      .some((k) => k.getAttribute("aria-label") === "Shortcut " + name);
  };
  const release = () => {
    busy = false;
    clearTimeout(timer);
    if (held.length) setTimeout(replay, 50);  // after React has bound the new buttons' keys
  };
  const markBusy = () => {
    busy = true;
    sawRun = false;
    clearTimeout(timer);
    timer = setTimeout(() => { if (!sawRun) release(); }, 2000);  // the key started no run
  };
  const replay = () => {
    if (busy || !held.length) return;
    const key = held.shift();
    if (tracked() && live(key)) markBusy();
    for (const type of ["keydown", "keyup"]) {
      const ev = new KeyboardEvent(type, {key, bubbles: true, cancelable: true});
      ev.__bpsReplay = true;
      document.body.dispatchEvent(ev);
    }
    if (!busy) replay();
  };
  const watch = () => {
    const a = app();
    if (!a) return setTimeout(watch, 200);
    new MutationObserver(() => {
      if (a.getAttribute("data-test-script-state") !== "notRunning") sawRun = true;
      else if (busy && sawRun) release();
    }).observe(a, {attributes: true, attributeFilter: ["data-test-script-state"]});
  };
  watch();
  // A click on a shortcut button starts a run as its key does: the keys after it wait too.
  window.addEventListener("click", (ev) => {
    const b = ev.isTrusted && ev.target instanceof Element && ev.target.closest("button");
    if (b && !b.disabled && b.querySelector('kbd[aria-label^="Shortcut "]') && tracked()) {
      markBusy();
    }
  }, true);
  window.addEventListener("keydown", (ev) => {
    if (ev.__bpsReplay) return;
    if (onBox(ev) && live(ev.key)) {  // to the page, after the keys before it
      ev.preventDefault();
      ev.stopImmediatePropagation();
      ev.target.blur();
      held.push(ev.key);
      replay();
      return;
    }
    if (!tracked() || !plain(ev) || !live(ev.key)) return;  // T, typing
    if (busy || held.length) {
      ev.preventDefault();
      ev.stopImmediatePropagation();
      held.push(ev.key);
      return;
    }
    markBusy();
  }, true);
})();
</script>"""


def tag_editor(keys: list[str], place: str, *, user: str, label: str = "Tags") -> None:
    """Tag chips and a tag box for ``keys`` (one sample or many).

    The chips are the tags the samples carry and the user's recent tags: a selected chip is a
    tag every one of ``keys`` carries; clicking one adds it to all of them or removes it from
    all. Typing a tag and pressing Enter adds it to the samples the labeler was looking at when
    the box got the focus (``_tag_typed``). Each change is one action, saved at once.

    Args:
        keys: The samples tagged.
        place: Where the editor is (``state.TAG_PLACES``); keys its widgets.
        user: Who tags (empty: the editor is read-only).
        label: The chips' label.
    """
    with state.open_project() as project:
        version = project.tags.version()
        # A blind double labeler sees their own tags only (a tag can name a class).
        own = blind.user_of(blind.view(project, user))
        # Before the first tag nothing is tagged: no lookup of every selected key (a second
        # for a 100k lasso at a million samples).
        tags_of = project.tags.of(keys, user=own) if version else {}
        recent = project.tags.recent(user or None, limit=5)
    tagged = [set(t) for t in tags_of.values() if t]  # one set per tagged sample only
    on_all = sorted(set.intersection(*tagged)) if tagged and len(tagged) == len(tags_of) else []
    on_any = sorted(set().union(*tagged))
    options = list(dict.fromkeys([*on_any, *recent]))
    if error := state.pop_tag_error(place):
        st.error(md(error))
    if options:
        chips = state.tag_chips_key(place, keys, version)
        st.pills(
            label, options, selection_mode="multi", default=on_all, key=chips,
            format_func=md, disabled=not user or not keys, on_change=_chips_changed,
            args=(keys, place, on_all, chips, user),
            help="Click a tag to add it to (or remove it from) "
            + ("this sample" if len(keys) == 1 else f"all {len(keys):,} samples"),
        )  # fmt: skip
    if note := state.pop_tag_note(place):
        st.toast(md(note), icon=":material/sell:")
    st.text_input(
        TAG_BOX, key=state.tag_input_key(place), on_change=_tag_typed, args=(keys, place, user),
        placeholder="type a tag, then Enter (T jumps here)", disabled=not user or not keys,
        max_chars=80,
    )  # fmt: skip
    box = state.tag_input_key(place)
    _tag_pin(key=state.tag_pin_key(place), data={"box": box}, on_screen_change=_pinned, height=0)
    # The box's screen, in the page: drawn with the box, as the page shows it (a component's data
    # reaches its script a moment later). A widget key and a digest: no user data.
    screen = state.tag_screen(place, keys)
    mark = f'<span hidden data-bps-tag-box="{box}" data-bps-tag-screen="{screen}"></span>'
    st.html(mark + _TAG_KEY, unsafe_allow_javascript=True)


def _write_tag(keys: list[str], tag: str, place: str, user: str, *, remove: bool) -> bool:
    try:
        settings = TagSettings(tuple(keys), tag, remove=remove)
        with state.open_project() as p:
            tag_samples(p, settings, user=user)
    except (BpsError, ValueError) as exc:
        state.set_tag_error(place, str(exc))
        return False
    return True


def _chips_changed(keys: list[str], place: str, before: list[str], chips: str, user: str) -> None:
    now = set(st.session_state.get(chips) or [])
    for tag in sorted(now - set(before)):
        _write_tag(keys, tag, place, user, remove=False)
    for tag in sorted(set(before) - now):
        _write_tag(keys, tag, place, user, remove=True)


def _tag_typed(keys: list[str], place: str, user: str) -> None:
    """The tag box's Enter: tags the samples on screen when the box got the focus
    (``state.tag_target``), which a key pressed just before T may have moved on from: the box
    is drawn again beside the next image while the tag is typed, and its Enter ran with that
    image's samples (a tag typed 15-50 ms after a digit landed on the image after the one
    shown, 9 of 9 tries). Says so when they are not the samples the box is beside now."""
    text = state.take_tag_input(place)
    if not text.strip():
        return
    target = state.tag_target(place, keys)
    if target is None:
        kept = state.TAG_SCREENS_KEPT
        state.set_tag_error(place, f"Nothing was tagged: more than {kept} screens went by "
                            "while it was typed. Go back and tag again.")  # fmt: skip
        return
    if _write_tag(target, text, place, user, remove=False) and target != keys:
        what = (f"{file_name(target[0])}, the image" if len(target) == 1
                else f"the {len(target):,} samples")  # fmt: skip
        state.set_tag_note(place, f"“{' '.join(text.split())}” went to {what} you were on when "
                           "you started the tag.")  # fmt: skip


def _pinned() -> None:
    """The pin's state changed (the tag box got the focus): nothing to do until its Enter."""


#: How soon after the screen changed a shortcut pressed before the change still counts for
#: the screen before: a person's quickest response to what they see takes about 200 ms.
TAG_REACTION_MS = 200

# Tells the server which screen the tag box got the focus on (T, or a click), as the pin's state
# "screen" (``state.tag_screen``), which ``state.tag_target`` reads at the box's Enter: the
# screen shown at the labeler's last shortcut (a key or a click of a button that has one: a
# class, a move, Undo) when the screen changed since, less than ``TAG_REACTION_MS`` ago, else
# the screen shown now. So a digit then T in one roll tags the image the digit labeled, whether
# T came before the next image or just after it. After any other click (a tick box, "Choose
# all") the pin is null: what the click changes, perhaps in a run still in flight, is what the
# labeler means to tag, so the Enter tags the box's samples of its last run, as before the pin.
# The pin is set just before the box's text is sent (Enter, or leaving the box), not at the
# focus: a state set starts a run, and one started while a key's run was in flight handed the
# server the grid's tick boxes as they were before that run, which undid them. Each tag box
# has one pin, given the box's widget key; the box's screen is the mark drawn with it
# (``tag_editor``), timed as the page shows it. A component (``st.components.v2``): the one
# way a page's script hands the server a value. Fixed text: no user data.
_TAG_PIN_JS = """
export default function (component) {
  const { data, setStateValue } = component;
  const tag = window.__bpsTagPin ||
    (window.__bpsTagPin = { pins: new Map(), shown: new Map(), focused: new Map(), pressed: null });
  tag.pins.set(data.box, setStateValue);
  const marked = (box) => {
    const marks = document.querySelectorAll(`[data-bps-tag-box="${box}"]`);
    return marks.length ? marks[marks.length - 1].getAttribute("data-bps-tag-screen") : null;
  };
  const look = () => {  // each box's screen, and since when it is shown
    const now = performance.now();
    for (const box of tag.pins.keys()) {
      const screen = marked(box), was = tag.shown.get(box);
      if (!was || was.screen !== screen) tag.shown.set(box, { screen, since: now });
    }
  };
  look();
  if (!tag.listening) {
    tag.listening = true;
    new MutationObserver(look).observe(document.body, {
      subtree: true, childList: true, attributes: true, attributeFilter: ["data-bps-tag-screen"],
    });
    const NAMES = { ArrowLeft: "←", ArrowRight: "→", ArrowUp: "↑", ArrowDown: "↓",
                    Enter: "Enter", " ": "Space" };
    const press = () => {
      look();
      tag.pressed = { at: performance.now(),
                      screens: new Map([...tag.shown].map(([box, s]) => [box, s.screen])) };
    };
    window.addEventListener("keydown", (ev) => {  // a shortcut outside a text box
      const t = ev.target;
      if (!ev.isTrusted || ev.ctrlKey || ev.metaKey || ev.altKey || !(t instanceof Element) ||
          t.closest("textarea, select, [contenteditable]") ||
          (t instanceof HTMLInputElement && !["checkbox", "radio"].includes(t.type))) return;
      const name = "Shortcut " + (NAMES[ev.key] || ev.key.toUpperCase());
      if ([...document.querySelectorAll("button:not([disabled]) kbd[aria-label]")]
          .some((k) => k.getAttribute("aria-label") === name)) press();
    }, true);
    window.addEventListener("click", (ev) => {
      if (!ev.isTrusted || !(ev.target instanceof Element)) return;
      const b = ev.target.closest("button");
      if (b && b.querySelector('kbd[aria-label^="Shortcut "]')) press();
      else tag.pressed = null;
    }, true);
    const boxOf = (t) => t instanceof Element &&
      [...tag.pins.keys()].find((box) => t.closest(".st-key-" + box));
    document.addEventListener("focusin", (ev) => {  // the screen the tag is for
      const box = boxOf(ev.target);
      if (!box) return;
      look();
      const now = tag.shown.get(box), p = tag.pressed, then = p ? p.screens.get(box) : null;
      const moved = p && then !== undefined && then !== now.screen && now.since >= p.at &&
        performance.now() - now.since < __REACTION_MS__;
      tag.focused.set(box, moved ? then : p ? now.screen : null);
    }, true);
    const commit = (ev) => {  // the box's text goes to the server next: its screen first
      const box = boxOf(ev.target);
      if (box && ev.target.value.trim()) tag.pins.get(box)("screen", tag.focused.get(box) ?? null);
    };
    document.addEventListener("keydown", (ev) => { if (ev.key === "Enter") commit(ev); }, true);
    document.addEventListener("focusout", commit, true);
  }
  return () => { if (tag.pins.get(data.box) === setStateValue) tag.pins.delete(data.box); };
}
""".replace("__REACTION_MS__", str(TAG_REACTION_MS))
_tag_pin = st.components.v2.component("bps_tag_pin", js=_TAG_PIN_JS)


# The T key focuses the last tag box on screen (the dialog's, when one is open), unless the
# user is typing somewhere. A tick box or radio button is no place to type: it keeps the focus
# after a click, and T right after unticking a grid tile did nothing. Fixed text: no user data.
_TAG_KEY = """<script>
(() => {
  if (window.__bpsTagKey) return;
  window.__bpsTagKey = true;
  document.addEventListener("keydown", (ev) => {
    if ((ev.key !== "t" && ev.key !== "T") || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    const box = t instanceof HTMLInputElement && ["checkbox", "radio"].includes(t.type);
    if (t && !box && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.isContentEditable)) {
      return;
    }
    const boxes = document.querySelectorAll('input[aria-label="Add a tag"]');
    if (!boxes.length) return;
    ev.preventDefault();
    ev.stopPropagation();
    boxes[boxes.length - 1].focus();
  }, true);
})();
</script>"""
