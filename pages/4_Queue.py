"""Label queue: one image (or a small grid) at a time, labeled with the keyboard.

Digits pick a class (each class keeps its digit for the whole project), the arrow keys move,
Z undoes your last action. Every label is saved the moment it is given.
"""

import streamlit as st

from bps_app import cache, state, widgets
from bps_app.safe_text import md
from bps_core.errors import ImageDecodeError, UnknownSampleError
from bps_core.queue import LabelQueue, unlabeled_keys
from bps_core.selection.rounds import list_rounds

VIEWS = {"One image": 1, "Grid of 6": 6}
FROM_UNLABELED = "Unlabeled samples (random order)"
FROM_SELECTION = "The map selection"
REVIEW = "Review class: "
ROUND = "Selection round "

with state.open_project() as project:
    samples = cache.load_samples(project)
    rel_index = cache.relpaths(project)
    source = project.config.datasource
    default_window = project.config.display
    labels = project.current_labels()
    classes = project.classes()
    rounds = {r.id: r.keys for r in list_rounds(project)}

user = state.user_name()
current = labels.set_index("key").label
st.title("Label queue")


def _start(origin: str, page_size: int) -> None:
    if origin == FROM_SELECTION:
        keys = st.session_state.get(state.MAP_SELECTION, [])
    elif origin.startswith(ROUND):
        keys = rounds[int(origin.removeprefix(ROUND))]
    elif origin.startswith(REVIEW):
        keys = labels[labels.label == origin.removeprefix(REVIEW)].key.tolist()
    else:
        keys = unlabeled_keys(samples, labels.key)
    state.set_queue(LabelQueue.of(keys, page_size))
    st.session_state.pop("queue_actions", None)


def _label(name: str) -> None:
    q = state.queue()
    if q is None or q.finished or not user:
        return
    try:
        with state.open_project() as p:
            action = p.add_labels(q.current, name, user=user, source="queue")
    except (UnknownSampleError, ValueError) as exc:
        st.session_state["queue_error"] = str(exc)
        return
    st.session_state.setdefault("queue_actions", []).append(action.action_id)
    state.set_queue(q.move(1))


def _move(pages: int) -> None:
    if (q := state.queue()) is not None:
        state.set_queue(q.move(pages))


def _undo() -> None:
    if not user:
        return
    with state.open_project() as p:
        result = p.undo(user)
    if result is None:
        st.session_state["queue_error"] = "Nothing to undo."
        return
    ours = st.session_state.get("queue_actions", [])
    if result.target_action_id in ours:  # a label given here: show that page again
        ours.remove(result.target_action_id)
        _move(-1)


def _add_class() -> None:
    name = str(st.session_state.get("queue_new_class", "")).strip()
    if name:
        try:
            with state.open_project() as p:
                p.ensure_class(name)
        except ValueError as exc:
            st.session_state["queue_error"] = str(exc)
    st.session_state["queue_new_class"] = ""


q = state.queue()
selection = st.session_state.get(state.MAP_SELECTION, [])
origins = [FROM_UNLABELED]
if selection:
    origins.append(FROM_SELECTION)
origins += [f"{ROUND}{rid}" for rid in sorted(rounds, reverse=True)[:5]]
origins += [REVIEW + c.name for c in classes if c.name in set(labels.label)]
with st.expander("Queue", expanded=q is None or q.finished), st.form("queue_start", border=False):
    c1, c2 = st.columns([3, 1])
    origin = c1.selectbox("Samples", origins, key="queue_origin")
    view = c2.segmented_control("View", list(VIEWS), default="One image", key="queue_view")
    if st.form_submit_button("Start", type="primary", icon=":material/play_arrow:"):
        _start(origin, VIEWS.get(view or "One image", 1))
        st.rerun()

if error := st.session_state.pop("queue_error", None):
    st.error(md(error))
if not user:
    st.warning("Enter your name in the sidebar to label.")
q = state.queue()
if q is None:
    st.info("Choose which samples to walk through and press **Start**.")
    st.stop()
if not q.keys:
    st.info("This queue is empty: nothing matches. Choose other samples above.")
    st.stop()

done = min(q.position, len(q.keys))
st.progress(done / len(q.keys), text=f"{done:,} of {len(q.keys):,} done")

buttons = st.columns(max(len(classes), 1) + 1)
for col, c in zip(buttons, classes, strict=False):
    col.button(
        md(c.name),
        key=f"queue_class_{c.name}",
        on_click=_label,
        args=(c.name,),
        shortcut=c.hotkey,
        disabled=not user or q.finished,
        width="stretch",
    )
with buttons[-1].popover("New class", icon=":material/add:"):
    st.text_input("Class name", key="queue_new_class", on_change=_add_class)
if not classes:
    st.caption("Create a class first (New class); it gets the digit key 1, the next 2, and so on.")

nav = st.columns(4)
nav[0].button("Previous", key="queue_prev", on_click=_move, args=(-1,), shortcut="Left",
              icon=":material/arrow_back:", width="stretch")  # fmt: skip
nav[1].button("Next", key="queue_next", on_click=_move, args=(1,), shortcut="Right",
              icon=":material/arrow_forward:", width="stretch")  # fmt: skip
nav[2].button("Undo", key="queue_undo", on_click=_undo, shortcut="Z", disabled=not user,
              icon=":material/undo:", width="stretch")  # fmt: skip
nav[3].caption("Keys: digits label, ← → move, Z undoes.")

if q.finished:
    st.success(f"Queue finished: all {len(q.keys):,} samples seen. Start another above.")
    st.stop()

window = widgets.display_controls(default_window, key="queue_display")
meta = samples.set_index("key")
if q.page_size == 1:
    key = q.current[0]
    row = meta.loc[key]
    left, right = st.columns([3, 2])
    try:
        left.image(cache.thumbnail(source, rel_index[key], 512, window), output_format="PNG")
    except ImageDecodeError as exc:
        left.error(md(exc))
    right.markdown(f"**{md(widgets.file_name(key))}**")
    label = current.get(key)
    right.metric("Current label", md(label) if isinstance(label, str) else widgets.UNLABELED)
    shown = [c for c in ("particle_type", "dose_Gy", "hr_post_exposure", "plate", "well")
             if c in row.index]  # fmt: skip
    right.dataframe(row[shown].astype(str).rename("value").to_frame(), width="stretch")
else:
    captions = {}
    for k in q.current:
        label = current.get(k)
        captions[k] = f"{widgets.file_name(k)} · {label if isinstance(label, str) else '—'}"
    st.caption(f"Page {q.page} of {q.n_pages}: a class key labels all {len(q.current)} shown.")
    widgets.thumbnail_grid(list(q.current), rel_index, source, window, columns=6, size=220,
                           captions=captions, open_key="queue_open")  # fmt: skip
