"""Session-state keys and typed accessors; pages never write string keys themselves."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd
import streamlit as st

from bps_app.serve import PROJECT_ENV
from bps_core.composite import CompositeStyle
from bps_core.errors import ProjectError
from bps_core.paths import PathPolicy, load_policy, typed_path
from bps_core.project import Project
from bps_core.project.config import CONFIG_NAME, ProjectConfig
from bps_core.project.store import DB_NAME, clean_name
from bps_core.queue import LabelQueue
from bps_core.selection.rounds import RoundPreview
from bps_core.server_config import ServerConfigError
from bps_core.server_config import ray_address as server_ray_address

DEFAULT_PROJECT = "demo/project"
# The labeler's name lives in a plain session key, not in the sidebar widget's key: Streamlit
# drops a widget's state when a page is switched from code (st.switch_page sends no widget
# states), so a name read from the widget key was gone on the queue page (issue 14, item 6).
USER_NAME = "user_name"
USER_NAME_INPUT = "sidebar_user_name"  # the sidebar text box; copied to USER_NAME on change
USER_PARAM = "user"  # ?user=NAME in the URL keeps the name across reloads and bookmarks
USER_NAME_MAX = 64  # what bps_core.project.clean_name accepts: the box stops there
CLASS_NAME_MAX = 64  # the same for a class name: the new-class boxes stop there
USER_NAME_ERROR = "user_name_error"  # why the typed name was refused
MAP_SELECTION = "map_selection_keys"
MAP_CHART = "umap_scatter"
MAP_COLOR_BY = "map_color_by"
MAP_CHART_SEEN = "map_chart_selection_seen"
MAP_LAST_CLASS = "map_last_class"
MAP_SELECTION_ORIGIN = "map_selection_origin"
MAP_CLASS = "map_class"  # the label form's class box on the map
MAP_NEW_CLASS = "map_new_class"  # its "new class name" box
MAP_WINDOW = "map_view_window"  # the part of the map shown: (x0, x1, y0, y1), None: all
EXPLORE_TAB = "explore_tab"  # Explore's open tab (Map, Browse, History; its tabs widget key)
QUEUE = "label_queue"
QUEUE_RESUME_TRIED = "label_queue_resume_tried"  # a kept queue is resumed once per session
QUEUE_SHOWN = "label_queue_shown"  # the labels the queue's page showed, per key
ROUND_PREVIEW = "round_preview"  # the selection shown for review on the Rounds page
QUEUE_ACTIONS = "queue_actions"  # label action id -> (queue position, keys) of this queue
QUEUE_ERROR = "queue_error"
QUEUE_NEW_CLASS = "queue_new_class"  # the queue's "New class" name box
QUEUE_REMOVE_CLASS = "queue_remove_class"  # the class chosen in "Remove class"
QUEUE_REMOVE_CONFIRM = "queue_remove_confirm"  # its "Yes, remove it" box
ACCESS_CHECKS = "ds_access_checks"  # datasource form prefix -> its last AccessReport


def project_dir() -> Path:
    """The project this server serves: ``$BPS_PROJECT``, else the demo project."""
    return _resolved(os.environ.get(PROJECT_ENV) or DEFAULT_PROJECT)


@functools.lru_cache(maxsize=8)
def _resolved(folder: str) -> Path:
    # Path.resolve walks every part of the path (a system call each): every rerun asks.
    return Path(folder).resolve()


PROJECT_HANDLE = "project_handle"  # this session's open project (``open_project``)


@dataclasses.dataclass
class _Held:
    """A session's open project, what it was opened under, and who uses it now."""

    project: Project
    files: tuple[object, ...]  #: ``_files_state`` when opened
    lock: threading.RLock = dataclasses.field(default_factory=threading.RLock)
    depth: int = 0  #: nested ``open_project`` blocks using it now


@contextlib.contextmanager
def open_project() -> Iterator[Project]:
    """This session's project (``with state.open_project() as p:``), or stops the page with
    instructions.

    One project per browser session, opened at its first use and held in session state:
    opening one (reading ``project.toml``, connecting, checking the schema) cost a few ms,
    two or three times per queue key press (issue 20). Every statement still reads what other
    sessions and processes committed (autocommit; no read transaction is kept). It is opened
    again when ``project.toml`` or ``project.db`` changed on disk, or when it is closed or a
    transaction was left open; Streamlit runs each rerun in a new thread, so the
    connection serves any thread, one at a time (a lock per session). The samples frame a
    project keeps for repeated reads is dropped after each outermost block, as closing did.
    """
    folder = project_dir()
    held = st.session_state.get(PROJECT_HANDLE)
    if not isinstance(held, _Held) or held.project.folder != folder:
        held = None
    lock = held.lock if held is not None else threading.RLock()
    with lock:
        if held is None or (held.depth == 0 and not _still_good(held, folder)):
            if held is not None:
                held.project.close()
            held = _Held(_open(folder), _files_state(folder), lock)
            st.session_state[PROJECT_HANDLE] = held
        held.depth += 1
        try:
            yield held.project
        finally:
            held.depth -= 1
            if held.depth == 0:
                held.project.forget_kept()


def _still_good(held: _Held, folder: Path) -> bool:
    return held.project.idle() and held.files == _files_state(folder)


def _files_state(folder: Path) -> tuple[object, ...]:
    """What opening the project read, as it is on disk now: a new or edited ``project.toml``
    or a ``project.db`` copied over or replaced reopens the session's project."""
    state: list[object] = []
    for name in (CONFIG_NAME, DB_NAME):
        try:
            s = (folder / name).stat()
        except OSError:
            state.append(None)
            continue
        state.append((s.st_ino, s.st_dev, s.st_size, s.st_mtime_ns))
    return tuple(state)


def _open(folder: Path) -> Project:
    try:
        return Project.open(folder, any_thread=True)
    except ProjectError as exc:
        st.error(str(exc))
        st.info(
            "Start the app with `make run` (demo data) or `bps-labeler app PROJECT_DIR`, "
            f"or set `{PROJECT_ENV}` to a project folder."
        )
        st.stop()
        raise  # unreachable: st.stop raises


def path_policy() -> PathPolicy:
    """Which server folders the browser may use (``server.toml``, else the project's exports
    and local datasource folders); read on every call, so an owner's edit applies at once."""
    folder = project_dir()
    try:
        config = ProjectConfig.from_toml((folder / CONFIG_NAME).read_text(), str(folder))
        local = tuple(d.path for d in (config.datasource, config.output)
                      if d is not None and d.kind == "local")  # fmt: skip
    except (OSError, ProjectError):
        local = ()
    return load_policy(folder, local)


def check_typed_path(text: str, purpose: str) -> Path:
    """A path typed in the browser, through the server's path policy: a relative one is taken
    under the project folder (``typed_path``, as on Export), an absolute one is checked as
    typed, so a refusal quotes what the user wrote. Raises PathPolicyError."""
    text = text.strip()
    absolute = os.path.isabs(os.path.expanduser(text))
    return path_policy().check(text if absolute else typed_path(text, project_dir()), purpose)


def ray_address() -> str:
    """The Ray cluster the owner set for embedding jobs (``server.toml``), or '' for none.

    Read on every call, like ``path_policy``; a malformed value is shown and stops the page.
    """
    try:
        return server_ray_address(project_dir())
    except ServerConfigError as exc:
        st.error(str(exc))
        st.stop()
        raise  # unreachable: st.stop raises


def project_name() -> str:
    """The served project's name from its config, or the folder name when it cannot be read."""
    folder = project_dir()
    try:
        return ProjectConfig.from_toml((folder / CONFIG_NAME).read_text(), str(folder)).name
    except (OSError, ProjectError):
        return folder.name


def signed_in_user() -> str | None:
    """The signed-in user's email (or name) when login is configured (``st.login``)."""
    try:
        if st.user.get("is_logged_in"):
            who = st.user.get("email") or st.user.get("name")
            return str(who) if who else None
    except (AttributeError, KeyError):  # no auth configured
        return None
    return None


def user_name() -> str:
    """Who labels: the signed-in user when login is configured, else the name typed in the
    sidebar (kept across page switches, and across reloads through ``?user=`` in the URL)."""
    return signed_in_user() or str(st.session_state.get(USER_NAME, "")).strip()


def _clean_name(value: object) -> str:
    """The typed name as stored, or "" when the store would refuse it (the reason is kept in
    ``USER_NAME_ERROR`` for the sidebar): a name with a text-direction override must be refused
    where it is typed, not at the first label."""
    name = " ".join(str(value or "").split())[:USER_NAME_MAX]
    st.session_state.pop(USER_NAME_ERROR, None)
    if not name:
        return ""
    try:
        return clean_name(name, "your name")
    except ValueError as exc:
        st.session_state[USER_NAME_ERROR] = str(exc)
        return ""


def user_name_error() -> str | None:
    """Why the name typed in the sidebar was refused, if it was."""
    error = st.session_state.get(USER_NAME_ERROR)
    return str(error) if error else None


def restore_user_name() -> None:
    """Call before drawing the sidebar's name box: fills it from the session's name, or on a
    new session (a reload) from ``?user=`` in the URL, and keeps ``?user=`` in the URL, which a
    page switch clears.

    The box is filled from code on every run, even with the value it holds: only a value set
    from code travels with the box to the browser. A page link clicked before the first run's
    box had reached the browser left the box empty there while the session kept the name; the
    next click sent that empty box as typed, which cleared the name and ``?user=``."""
    if USER_NAME not in st.session_state:
        given = st.query_params.get(USER_PARAM, "")
        st.session_state[USER_NAME] = _clean_name(given)
        if USER_NAME_ERROR in st.session_state:  # refused: in the box beside its reason
            st.session_state[USER_NAME_INPUT] = " ".join(str(given).split())[:USER_NAME_MAX]
    typed = st.session_state.get(USER_NAME_INPUT)
    if typed is None:  # after a page switch (widget state dropped): the box shows the name
        st.session_state.pop(USER_NAME_ERROR, None)
    # A refused name stays in the box beside its reason, to be corrected, not retyped.
    refused = typed is not None and USER_NAME_ERROR in st.session_state
    st.session_state[USER_NAME_INPUT] = typed if refused else st.session_state[USER_NAME]
    _sync_url(str(st.session_state[USER_NAME]))


def store_user_name() -> None:
    """The name box's ``on_change``: copies the typed name to the session key and the URL."""
    name = _clean_name(st.session_state.get(USER_NAME_INPUT, ""))
    st.session_state[USER_NAME] = name
    _sync_url(name)


def user_query() -> dict[str, str]:
    """The ``?user=`` a page link or a page switch carries: the typed name, so a link opened in
    a new tab, bookmarked or copied keeps it (Streamlit's own page menu and links carry no
    query); none when nameless or signed in (login names the user)."""
    name = "" if signed_in_user() else str(st.session_state.get(USER_NAME, ""))
    return {USER_PARAM: name} if name else {}


def switch_page(page: str) -> NoReturn:
    """``st.switch_page`` that keeps ``?user=`` in the address (``user_query``)."""
    st.switch_page(page, query_params=user_query())


def _sync_url(name: str) -> None:
    if name and st.query_params.get(USER_PARAM) != name:
        st.query_params[USER_PARAM] = name
    elif not name and USER_PARAM in st.query_params:
        del st.query_params[USER_PARAM]


def set_selection(keys: list[str], *, origin: str = "") -> None:
    """Remembers the sample keys selected on the map (lasso, box, click or "Find similar")
    for this session, with how they were chosen when not on the chart."""
    st.session_state[MAP_SELECTION] = list(keys)
    st.session_state[MAP_SELECTION_ORIGIN] = origin


def selection() -> list[str]:
    """The sample keys selected on the map in this session (empty when none)."""
    keys = st.session_state.get(MAP_SELECTION)
    return list(keys) if isinstance(keys, list) else []


def sync_selection_with_chart(chart_selection: str, keys: Callable[[], list[str]]) -> list[str]:
    """Takes the chart's selection (``keys()``, and its signature ``chart_selection``, ""
    when empty) when it changed since the last rerun, else keeps the remembered one; returns
    the current selection.

    The chart reports its last lasso on every rerun; comparing with what it reported before
    lets a selection made elsewhere ("Find similar") survive reruns until the user lassoes,
    clicks or clears on the chart again. ``keys`` is called only when the signature changed:
    finding a 100k-point lasso's keys among a million points cost every rerun about 0.1 s.
    """
    if st.session_state.get(MAP_CHART_SEEN, "") != chart_selection:
        st.session_state[MAP_CHART_SEEN] = chart_selection
        set_selection(keys(), origin="")
    return selection()


def map_window() -> tuple[float, float, float, float] | None:
    """The part of the map this session shows, (x0, x1, y0, y1), or None for the whole map."""
    value = st.session_state.get(MAP_WINDOW)
    return tuple(float(v) for v in value) if isinstance(value, tuple) and len(value) == 4 else None  # type: ignore[return-value]


def set_map_window(window: tuple[float, float, float, float] | None) -> None:
    """Shows ``window`` of the map (None: the whole map), keeping the current selection: the
    new chart starts without a lasso, and that must not read as "the selection was cleared"."""
    st.session_state[MAP_WINDOW] = window
    st.session_state[MAP_CHART_SEEN] = ""


def selection_origin() -> str:
    """How the current selection was made when not on the chart ("12 similar to ...")."""
    return str(st.session_state.get(MAP_SELECTION_ORIGIN, ""))


def last_class() -> str | None:
    """The class this session labeled with last on the map (the form's next default)."""
    value = st.session_state.get(MAP_LAST_CLASS)
    return value if isinstance(value, str) else None


def set_last_class(name: str | None) -> None:
    st.session_state[MAP_LAST_CLASS] = name


def map_selection() -> list[str]:
    """The sample keys selected on the map in this session (empty when none)."""
    return list(st.session_state.get(MAP_SELECTION) or [])


def reset_label_form() -> None:
    """Forgets the map's class and new-class boxes, so the label form starts over on the
    class just applied (``last_class``)."""
    for key in (MAP_CLASS, MAP_NEW_CLASS):
        st.session_state.pop(key, None)


def queue() -> LabelQueue | None:
    """This session's labeling queue, if one was started."""
    q = st.session_state.get(QUEUE)
    return q if isinstance(q, LabelQueue) else None


def set_queue(q: LabelQueue | None) -> None:
    """Keeps ``q`` as this session's queue; a queue of other samples forgets the label actions
    recorded for the old one (undo then no longer moves the queue)."""
    old = queue()
    if q is None or old is None or old.keys != q.keys:
        st.session_state.pop(QUEUE_ACTIONS, None)
    st.session_state[QUEUE] = q


def start_plain_queue(q: LabelQueue, origin: str = "") -> None:
    """Makes ``q`` this session's queue, walked as a plain labeling queue (tiles, class keys),
    and keeps it in the project for the labeler, so that a reload resumes it (``origin``: where
    it came from, said when it is resumed).

    Ends any walk mode (review, label issues, predictions) even when that walk held the same
    keys: the modes are recognised by their keys, so a plain queue of a confusion cell equal to
    the last disagreement walk would otherwise be drawn as that walk.
    """
    for name in (QUEUE_REVIEW_KEYS, QUEUE_ISSUE_KEYS, QUEUE_PREDICTIONS):
        st.session_state.pop(name, None)
    set_queue(q)
    st.session_state[QUEUE_RESUME_TRIED] = True  # this session has its own queue now
    if user := user_name():
        with contextlib.suppress(ProjectError), open_project() as p:  # read-only: not kept
            p.saved_queues.save(user, q.keys, q.page_size, origin)


def forget_saved_queue() -> None:
    """A walk that is not a plain queue starts: a reload no longer resumes the plain one."""
    st.session_state[QUEUE_RESUME_TRIED] = True
    if user := user_name():
        with contextlib.suppress(ProjectError), open_project() as p:
            p.saved_queues.clear(user)


def resume_saved_queue(labeled: Iterable[str]) -> tuple[LabelQueue, str, bool] | None:
    """Once per browser session, with no queue started in it: the labeler's kept plain queue,
    opened where they left off (the first page with a sample not in ``labeled``); None when
    there is none, or nothing of it is left to label. Returns the queue, where it came from
    and whether it was cut to its first saved keys."""
    if queue() is not None or st.session_state.get(QUEUE_RESUME_TRIED):
        return None
    st.session_state[QUEUE_RESUME_TRIED] = True
    if not (user := user_name()):
        return None
    with open_project() as p:
        saved = p.saved_queues.load(user)
    q = None if saved is None else LabelQueue.resumed(saved.keys, saved.page_size, labeled)
    if saved is None or q is None:
        return None
    set_queue(q)
    return q, saved.origin, saved.truncated


def queue_tile_key(key: str) -> str:
    """The widget key of a queue tile's "chosen" box."""
    return f"queue_tile_{key}"


def mirror_queue_tile(key: str, chosen: bool) -> None:
    """Sets a queue tile's "chosen" box to what the queue decided, before it is drawn."""
    st.session_state[queue_tile_key(key)] = chosen


def set_queue_shown(shown: dict[str, str | None] | None) -> None:
    """Keeps the labels the queue's current page showed (None: not to be checked), so that a
    class key refuses a sample someone else relabeled since (``Project.add_labels(shown=)``)."""
    st.session_state[QUEUE_SHOWN] = shown


def queue_shown() -> dict[str, str | None] | None:
    """The labels the queue's current page showed, per key (None when not kept)."""
    shown = st.session_state.get(QUEUE_SHOWN)
    return shown if isinstance(shown, dict) else None


def set_queue_error(message: str) -> None:
    """A message for the queue page to show once, on its next run."""
    st.session_state[QUEUE_ERROR] = message


def pop_queue_error() -> str | None:
    """The queue page's pending error message, once."""
    error = st.session_state.pop(QUEUE_ERROR, None)
    return str(error) if error else None


def take_queue_new_class() -> str:
    """The name typed in the queue's "New class" box, emptying the box."""
    name = str(st.session_state.get(QUEUE_NEW_CLASS, "")).strip()
    st.session_state[QUEUE_NEW_CLASS] = ""
    return name


def take_queue_class_to_remove() -> str | None:
    """The class chosen in the queue's "Remove class" once its removal is confirmed, or None.

    Unticks the confirmation, so each removal is confirmed on its own.
    """
    confirmed = bool(st.session_state.get(QUEUE_REMOVE_CONFIRM))
    st.session_state[QUEUE_REMOVE_CONFIRM] = False
    name = st.session_state.get(QUEUE_REMOVE_CLASS)
    return str(name) if confirmed and name else None


def queue_actions() -> dict[str, tuple[int, tuple[str, ...]]]:
    """Label actions given in this queue: action id -> (queue position, labeled keys)."""
    actions = st.session_state.setdefault(QUEUE_ACTIONS, {})
    return actions if isinstance(actions, dict) else {}


JOBS_WATCHED = "jobs_watched"


def watch_job(job_id: str) -> None:
    """Remembers a job this session started or watched, to announce how it ended (once)."""
    watched = st.session_state.setdefault(JOBS_WATCHED, [])
    if job_id not in watched:
        watched.append(job_id)


def watched_jobs() -> list[str]:
    return list(st.session_state.get(JOBS_WATCHED, []))


def unwatch_job(job_id: str) -> None:
    watched = st.session_state.get(JOBS_WATCHED, [])
    if job_id in watched:
        watched.remove(job_id)


def round_preview() -> RoundPreview | None:
    """The selection shown for review on the Rounds page, not recorded yet."""
    preview = st.session_state.get(ROUND_PREVIEW)
    return preview if isinstance(preview, RoundPreview) else None


def set_round_preview(preview: RoundPreview | None) -> None:
    """Shows ``preview`` for review on the Rounds page; None discards the one shown."""
    if preview is None:
        st.session_state.pop(ROUND_PREVIEW, None)
    else:
        st.session_state[ROUND_PREVIEW] = preview


# One-time success messages: a page sets one before st.rerun() and shows it on the next run.
EMBED_FLASH = "embed_flash"  # Embeddings page
MAP_FLASH = "map_flash"  # Explore and label page, the Map tab
ROUNDS_FLASH = "rounds_flash"  # Selection rounds page
ROUNDS_REFUSED = "rounds_refused"  # Selection rounds page: a preview that could not be recorded
QUEUE_FLASH = "queue_flash"  # Label queue (a toast: the labeling layout must not move)
AGREEMENT_FLASH = "agreement_flash"  # Agreement page


def flash(where: str, message: str) -> None:
    """Keeps ``message`` for the page whose flash key is ``where`` (``EMBED_FLASH``, ...)."""
    st.session_state[where] = message


def pop_flash(where: str) -> str | None:
    """The message kept for ``where``, once (None when there is none)."""
    message = st.session_state.pop(where, None)
    return str(message) if message else None


# The nucleus view (FITC + DAPI + the MASK outline of the target): one style per place, kept in
# a plain session key, so a dialog closed and opened again (its widgets' state is dropped when
# it closes) starts from the layers, colours and windows chosen last.
VIEW_DIALOG = "view_dialog"  # the sample dialog opened from a thumbnail
VIEW_PANEL = "view_panel"  # the detail of a one-sample selection on the map
VIEW_QUEUE = "view_queue"  # the label queue
VIEW_ADJUDICATE = "view_adjudicate"  # the Agreement page's adjudication queue
VIEW_PLACES = (VIEW_DIALOG, VIEW_PANEL, VIEW_QUEUE, VIEW_ADJUDICATE)
VIEW_PARTS = ("layers", "fitc_color", "dapi_color", "dapi_pct", "outline_color", "outline_width")


def view_widget_key(place: str, part: str) -> str:
    """The widget key of one nucleus-view control (``part`` of ``VIEW_PARTS``) at ``place``."""
    if place not in VIEW_PLACES or part not in VIEW_PARTS:
        raise KeyError(f"unknown nucleus-view control {place!r}/{part!r}")
    return f"{place}_{part}"


def view_style(place: str) -> CompositeStyle:
    """The nucleus-view style last chosen at ``place`` (the default style at first)."""
    style = st.session_state.get(f"{place}_style")
    return style if isinstance(style, CompositeStyle) else CompositeStyle()


def set_view_style(place: str, style: CompositeStyle) -> None:
    """Remembers the nucleus-view style chosen at ``place`` for this session."""
    st.session_state[f"{place}_style"] = style


# The Queue page's review mode (a reviewer accepts, fixes or rejects labels): the keys of the
# review queue started last. The mode is on while the session's queue holds exactly these keys,
# so starting any other queue ends it without the page having to say so.
QUEUE_REVIEW_KEYS = "queue_review_keys"


def set_review_queue(q: LabelQueue) -> None:
    """Makes ``q`` this session's queue, walked in review mode."""
    set_queue(q)
    st.session_state[QUEUE_REVIEW_KEYS] = q.keys
    st.session_state.pop(QUEUE_ISSUE_KEYS, None)
    st.session_state.pop(QUEUE_PREDICTIONS, None)


def review_mode(q: LabelQueue | None) -> bool:
    """Whether ``q`` (the session's queue) is walked in review mode."""
    return q is not None and st.session_state.get(QUEUE_REVIEW_KEYS) == q.keys


# The Queue page's label-issue mode (walk the labels cleanlab flags): the keys of the issue
# queue started last (the mode is on while the session's queue holds exactly these keys), the
# issues' table (given label, suggested class, score per key) and the notes shown above it.
QUEUE_ISSUE_KEYS = "queue_issue_keys"
QUEUE_ISSUES = "queue_issues"
QUEUE_ISSUE_NOTES = "queue_issue_notes"


def set_issue_queue(
    q: LabelQueue, issues: pd.DataFrame | None = None, notes: tuple[str, ...] | None = None
) -> None:
    """Makes ``q`` this session's queue, walked in label-issue mode.

    Args:
        q: The queue.
        issues: The label-issue table indexed by key (kept from before when None).
        notes: Lines shown above the queue (kept from before when None).
    """
    set_queue(q)
    st.session_state[QUEUE_ISSUE_KEYS] = q.keys
    st.session_state.pop(QUEUE_REVIEW_KEYS, None)
    st.session_state.pop(QUEUE_PREDICTIONS, None)
    if issues is not None:
        st.session_state[QUEUE_ISSUES] = issues
    if notes is not None:
        st.session_state[QUEUE_ISSUE_NOTES] = notes


def issue_mode(q: LabelQueue | None) -> bool:
    """Whether ``q`` (the session's queue) is walked in label-issue mode."""
    return (q is not None and st.session_state.get(QUEUE_ISSUE_KEYS) == q.keys
            and isinstance(st.session_state.get(QUEUE_ISSUES), pd.DataFrame))  # fmt: skip


def queue_issues() -> pd.DataFrame:
    """The label-issue queue's table, indexed by key (empty before one was started)."""
    issues = st.session_state.get(QUEUE_ISSUES)
    return issues if isinstance(issues, pd.DataFrame) else pd.DataFrame()


def queue_issue_notes() -> tuple[str, ...]:
    """The lines shown above the label-issue queue."""
    return tuple(st.session_state.get(QUEUE_ISSUE_NOTES, ()))


# The Agreement page's adjudication queue: the disagreements this session skipped ("Next"), so
# the next open one is shown; a decision removes a sample from the queue by itself.
AGREEMENT_TAB = "agreement_tab"  # the Agreement page's open tab (its tabs widget key)
AGREEMENT_LABELERS = "agreement_labelers"  # the setting form's labelers box
ADJUDICATION_SKIPPED = "adjudication_skipped"
ADJUDICATION_ERROR = "adjudication_error"


def reset_agreement_form() -> None:
    """Forgets the labelers box as typed, so it shows the labelers just saved ("alice, bob",
    not "alice,,, ,bob")."""
    st.session_state.pop(AGREEMENT_LABELERS, None)


def adjudication_skipped() -> list[str]:
    """The disagreements skipped in this session's adjudication queue, in order."""
    skipped = st.session_state.get(ADJUDICATION_SKIPPED)
    return list(skipped) if isinstance(skipped, list) else []


def skip_adjudication(key: str) -> None:
    """Moves past disagreement ``key`` in this session's adjudication queue."""
    st.session_state[ADJUDICATION_SKIPPED] = [*adjudication_skipped(), key]


def reset_adjudication() -> None:
    """Walks the adjudication queue from its first open disagreement again."""
    st.session_state.pop(ADJUDICATION_SKIPPED, None)


def set_adjudication_error(message: str) -> None:
    """A message for the adjudication queue to show once, on its next run."""
    st.session_state[ADJUDICATION_ERROR] = message


def pop_adjudication_error() -> str | None:
    """The adjudication queue's pending error message, once."""
    error = st.session_state.pop(ADJUDICATION_ERROR, None)
    return str(error) if error else None


# The Queue page's prediction mode (a reviewer walks a model's predictions, or the labels its
# out-of-fold predictions disagree with): what the walk showed, per key. The mode is on while
# the session's queue holds exactly the walk's keys, as in review mode.
QUEUE_PREDICTIONS = "queue_predictions"


def set_prediction_queue(q: LabelQueue, walk: dict[str, Any] | None = None) -> None:
    """Makes ``q`` this session's queue, walked in prediction mode; ``walk`` (kind, model,
    predicted, confidence per key) is kept when given, else the last one stays."""
    set_queue(q)
    if walk is not None:
        st.session_state[QUEUE_PREDICTIONS] = walk
        st.session_state.pop(QUEUE_REVIEW_KEYS, None)
        st.session_state.pop(QUEUE_ISSUE_KEYS, None)


def prediction_walk(q: LabelQueue | None) -> dict[str, Any] | None:
    """The prediction walk of ``q`` (the session's queue), or None when it is not one."""
    walk = st.session_state.get(QUEUE_PREDICTIONS)
    if q is None or not isinstance(walk, dict) or tuple(walk.get("keys", ())) != q.keys:
        return None
    return walk


# Facet filters (bps_app/filters.py): one widget per facet column at each place that filters,
# keyed by place and column so the Map, Browse and the Queue keep their own choices.
FILTER_PLACES = ("map", "browse", "queue")


def filter_widget_key(place: str, column: str) -> str:
    """The widget key of the filter on facet ``column`` at ``place`` (``FILTER_PLACES``)."""
    if place not in FILTER_PLACES:
        raise KeyError(f"unknown filter place {place!r}")
    if place == "browse":  # the Browse tab's filter keys from before facets, kept
        return f"explore_filter_{column}"
    return f"filter_{place}_{column}"


# Tags (bps_app/widgets.py tag_editor): the tag box, the chips and the last error per place.
TAG_PLACES = ("queue", "dialog", "map", "panel")


def tag_input_key(place: str) -> str:
    """The widget key of the "Add a tag" box at ``place`` (``TAG_PLACES``)."""
    if place not in TAG_PLACES:
        raise KeyError(f"unknown tag place {place!r}")
    return f"tag_input_{place}"


def _keys_digest(keys: list[str]) -> str:
    import hashlib

    return hashlib.sha1("\n".join(keys).encode(), usedforsecurity=False).hexdigest()[:12]


def tag_chips_key(place: str, keys: list[str], version: int) -> str:
    """The widget key of the tag chips at ``place`` for ``keys``: new with every tag write
    (``version``) and every other sample, so the chips always start from the stored tags."""
    return f"tag_chips_{place}_{_keys_digest(keys)}_{version}"


#: How many screens back the tag box at one place can tag (``tag_screen``): a labeler faster
#: than the runs may have pressed this many keys since the box got the focus.
TAG_SCREENS_KEPT = 16


def tag_screen(place: str, keys: list[str]) -> str:
    """Names the samples the tag box at ``place`` is drawn for (``keys``), and keeps them, so a
    tag typed later reaches the screen on which the box got the focus (``tag_target``)."""
    screen = _keys_digest(keys)
    screens = st.session_state.setdefault(f"tag_screens_{place}", {})
    screens.pop(screen, None)  # the newest last
    screens[screen] = list(keys)
    while len(screens) > TAG_SCREENS_KEPT:
        del screens[next(iter(screens))]
    return screen


def tag_pin_key(place: str) -> str:
    """The widget key of the pin at ``place`` (``widgets.tag_editor``): its state "screen"
    names the screen (``tag_screen``) on which the tag box last got the focus."""
    if place not in TAG_PLACES:
        raise KeyError(f"unknown tag place {place!r}")
    return f"tag_pin_{place}"


def tag_target(place: str, keys: list[str]) -> list[str] | None:
    """The samples a tag typed in the box at ``place`` goes to: those on screen when the box
    got the focus (T, or a click), which the browser pinned; ``keys``, the box's samples now,
    when nothing was pinned (no browser: AppTest) or the pin is null (the labeler's last click
    was no shortcut: a tick box). None when the pinned screen is older than the screens kept
    (``TAG_SCREENS_KEPT``)."""
    pin = st.session_state.get(tag_pin_key(place))
    screen = pin.get("screen") if isinstance(pin, Mapping) else None
    if not isinstance(screen, str):
        return keys
    found = st.session_state.get(f"tag_screens_{place}", {}).get(screen)
    return list(found) if found is not None else None


def set_tag_note(place: str, message: str) -> None:
    """Keeps what a tag written at ``place`` went to, for the next run to show (a toast)."""
    st.session_state[f"tag_note_{place}"] = message


def pop_tag_note(place: str) -> str | None:
    """The tag note kept for ``place``, once."""
    message = st.session_state.pop(f"tag_note_{place}", None)
    return str(message) if message else None


def set_tag_error(place: str, message: str) -> None:
    """Keeps why a tag could not be written at ``place``, for the next run to show."""
    st.session_state[f"tag_error_{place}"] = message


def pick_to_open(open_key: str, keys: list[str]) -> None:
    """From the "Open in detail" control ``open_key`` (its on_change): keeps the sample at the
    picked number (1-based in ``keys``) for ``take_to_open`` and empties the control, so that
    picking the same number after the dialog is closed opens it again."""
    picked = st.session_state.get(open_key)
    st.session_state[open_key] = None
    if isinstance(picked, int) and 1 <= picked <= len(keys):
        st.session_state[f"{open_key}_to_open"] = keys[picked - 1]


def take_to_open(open_key: str) -> str | None:
    """The sample picked in the "Open in detail" control ``open_key`` since the last run,
    once."""
    key = st.session_state.pop(f"{open_key}_to_open", None)
    return str(key) if key is not None else None


def pop_tag_error(place: str) -> str | None:
    """The tag error kept for ``place``, once."""
    message = st.session_state.pop(f"tag_error_{place}", None)
    return str(message) if message else None


def take_tag_input(place: str) -> str:
    """The text typed in the tag box at ``place``, emptying the box (from its on_change)."""
    key = tag_input_key(place)
    text = str(st.session_state.get(key) or "")
    st.session_state[key] = ""
    return text


# Number boxes (bps_app/widgets.py number_field): the range each was last drawn with, to tell a
# range that moved (a page count after a new filter) from a value typed out of range.
NUMBER_RANGES = "number_ranges"


def number_range_moved(key: str, bounds: tuple[float | None, float | None]) -> bool:
    """Records ``bounds`` as the range number box ``key`` is drawn with; True when it was last
    drawn with another range."""
    ranges: dict[str, tuple[float | None, float | None]] = st.session_state.setdefault(
        NUMBER_RANGES, {}
    )
    before = ranges.get(key, bounds)
    ranges[key] = bounds
    return before != bounds
