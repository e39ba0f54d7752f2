"""Selection rounds: pick the next samples to label, train a model, watch it improve."""

import json

import pandas as pd
import plotly.express as px
import streamlit as st

from bps_app import cache, figures, state, widgets
from bps_app.safe_text import md, plot_text
from bps_core.selection import NAMED, SelectionConfig, SelectionError
from bps_core.selection.model import MODEL_KINDS, ModelConfig
from bps_core.selection.rounds import (
    RoundPreview,
    latest_model,
    learning_curve,
    list_models,
    list_rounds,
    record_round,
    select_round,
    train_model,
)

QUEUE_PAGE = "pages/4_Queue.py"
PREVIEW = "round_preview"
LIGHTLY = "Lightly selection config (JSON)"
HELP = {
    "default": "Random first, typical (dense) samples until a model exists, then random.",
    "random": "A seeded random sample: the baseline every strategy must beat.",
    "diversity": "k-center greedy: covers the embedding space, far from what is labeled.",
    "uncertainty": "Highest prediction entropy under the current model.",
    "margin": "Smallest gap between the two most likely classes.",
    "least_confidence": "Lowest top-class probability.",
    "hybrid": "The 5 x batch most uncertain, then k-center among them.",
    "hybrid_random": "Half the batch hybrid, half a random draw (keeps the labels representative).",
    "typicality": "Dense, representative samples first.",
}

with state.open_project() as project:
    samples = cache.load_samples(project)
    frame = cache.map_frame(project)
    rel_index = cache.relpaths(project)
    source = project.config.datasource
    default_window = project.config.display
    rounds = list_rounds(project)
    models = list_models(project)
    model = latest_model(project)
    n_labeled = len(project.current_labels())

user = state.user_name()
st.title("Selection rounds")
st.caption(
    "Select the samples whose labels help most, label them in the queue, train, and repeat. "
    f"{n_labeled:,} of {len(samples):,} samples are labeled."
)

if flash := st.session_state.pop("rounds_flash", None):
    st.success(flash)

new_tab, model_tab, history_tab = st.tabs(["New round", "Model", "Rounds"])

with new_tab:
    with st.form("round_form"):
        c1, c2, c3 = st.columns([2, 1, 1])
        choice = c1.selectbox(
            "Strategy", [*NAMED, LIGHTLY], index=NAMED.index("default"), key="round_strategy",
            help="\n\n".join(f"**{k}**: {v}" for k, v in HELP.items()),
        )  # fmt: skip
        n = c2.number_input("Batch size", 1, 10_000, 50, key="round_n")
        seed = c3.number_input("Seed", 0, 2**31 - 1, 0, key="round_seed")
        config_text = st.text_area(
            "Lightly selection config (used with the last strategy choice)",
            key="round_config", height=140,
            placeholder='{"n_samples": 50, "strategies": [{"input": {"type": "EMBEDDINGS"}, '
            '"strategy": {"type": "DIVERSITY"}}]}',
        )  # fmt: skip
        go = st.form_submit_button("Preview the selection", type="primary")
    if go:
        try:
            config = SelectionConfig.from_json(config_text) if choice == LIGHTLY else None
            with state.open_project() as p, st.spinner("Selecting ..."):
                st.session_state[PREVIEW] = select_round(
                    p, int(n), strategy=choice if config is None else "default",
                    config=config, seed=int(seed),
                )  # fmt: skip
        except SelectionError as exc:
            st.error(md(exc))
    preview = st.session_state.get(PREVIEW)
    if isinstance(preview, RoundPreview):
        how = preview.config.get("strategy", preview.strategy)
        st.subheader(f"Preview: {len(preview.keys):,} samples ({how}, seed {preview.seed})")
        st.caption("Nothing is recorded until you accept. Discard to try other settings.")
        c1, c2, c3 = st.columns(3)
        accept = c1.button("Accept and label in the queue", type="primary", key="round_accept",
                           icon=":material/keyboard:", disabled=not user)  # fmt: skip
        keep = c2.button("Accept", key="round_accept_only", disabled=not user)
        if c3.button("Discard", key="round_discard", icon=":material/delete:"):
            del st.session_state[PREVIEW]
            st.rerun()
        if not user:
            st.warning("Enter your name in the sidebar to record a round.")
        if accept or keep:
            with state.open_project() as p:
                r = record_round(p, preview, user=user)
            del st.session_state[PREVIEW]
            st.session_state["rounds_flash"] = f"Round {r.id}: {len(r.keys)} samples recorded."
            if accept:
                from bps_core.queue import LabelQueue

                state.set_queue(LabelQueue.of(r.keys))
                st.switch_page(QUEUE_PAGE)
            st.rerun()
        chosen = samples[samples.key.isin(preview.keys)]
        for col, name in zip(st.columns(2), ("particle_type", "hr_post_exposure"), strict=True):
            if name in chosen.columns:
                col.dataframe(chosen[name].value_counts().rename("samples"), width="stretch")
        if frame is not None:
            shown = frame.assign(
                selection=frame.key.isin(preview.keys).map({True: "selected", False: "other"})
            ).sort_values("selection")  # selected points drawn last, on top
            st.plotly_chart(
                figures.map_figure(shown, "selection", {"selected": "#D55E00", "other": "#C8C8C8"},
                                   height=420),
                key="round_preview_map",
            )  # fmt: skip
        window = widgets.display_controls(default_window, key="preview_display")
        widgets.thumbnail_grid(preview.keys[:24], rel_index, source, window,
                               open_key="preview_open")  # fmt: skip
    elif rounds:
        last = rounds[-1]
        st.subheader(f"Round {last.id}: {len(last.keys):,} samples")
        c1, c2 = st.columns([1, 3])
        if c1.button("Label them in the queue", type="primary", icon=":material/keyboard:",
                     key="round_to_queue"):  # fmt: skip
            from bps_core.queue import LabelQueue

            state.set_queue(LabelQueue.of(last.keys))
            st.switch_page(QUEUE_PAGE)
        chosen = samples[samples.key.isin(last.keys)]
        for col, name in zip(st.columns(2), ("particle_type", "hr_post_exposure"), strict=True):
            if name in chosen.columns:
                col.dataframe(chosen[name].value_counts().rename("samples"), width="stretch")
        window = widgets.display_controls(default_window, key="round_display")
        widgets.thumbnail_grid(last.keys[:24], rel_index, source, window, open_key="round_open")

with model_tab:
    c1, c2, c3 = st.columns([1, 1, 2])
    kind = c1.selectbox(
        "Model", MODEL_KINDS, key="model_kind",
        help="logreg / knn: on the frozen embeddings (seconds). finetune: trains the SimCLR "
        "backbone with a linear head on the labeled images (minutes; needs SimCLR embeddings).",
    )  # fmt: skip
    epochs = c2.number_input("Fine-tune epochs", 1, 200, 10, key="model_ft_epochs",
                             disabled=kind != "finetune")  # fmt: skip
    if c3.button("Train on the current labels", type="primary", key="model_train"):
        cfg = ModelConfig(kind=kind, finetune_epochs=int(epochs))
        bar = st.progress(0.0, text=f"Training {kind} ...")
        try:
            with state.open_project() as p:
                m = train_model(p, cfg, user=user or "anonymous",
                                progress=lambda f: bar.progress(min(f, 1.0)))  # fmt: skip
        except SelectionError as exc:
            st.error(md(exc))
        else:
            st.session_state["rounds_flash"] = (
                f"Model trained on {m.n_labeled:,} labels: balanced accuracy "
                f"{m.metrics['balanced_accuracy']:.3f}."
            )
            st.rerun()
    if model is None:
        st.info("No model yet: label samples of at least two classes, then train.")
    else:
        q = model.metrics
        cols = st.columns(4)
        prev = models[-2].metrics if len(models) > 1 else None
        for col, (label, name) in zip(cols, [("Accuracy", "accuracy"),
                                             ("Balanced accuracy", "balanced_accuracy"),
                                             ("Macro-F1", "macro_f1")], strict=False):  # fmt: skip
            delta = f"{q[name] - prev[name]:+.3f}" if prev else None
            col.metric(label, f"{q[name]:.3f}", delta)
        cols[3].metric("Labels", f"{model.n_labeled:,}")
        grouped = f"grouped by {q['grouped_by']}" if q["grouped_by"] else "not grouped"
        st.caption(md(f"{q['n_folds']}-fold cross-validation, {grouped}; model {model.kind}."))
        c1, c2 = st.columns(2)
        fig = px.imshow(
            q["confusion"], x=[plot_text(c) for c in q["classes"]],
            y=[plot_text(c) for c in q["classes"]], text_auto=True,
            labels={"x": "predicted", "y": "labeled", "color": "samples"},
            color_continuous_scale="Blues",
        )  # fmt: skip
        fig.update_layout(height=320, margin={"t": 10, "b": 10})
        c1.plotly_chart(fig, key="confusion")
        c2.dataframe(pd.DataFrame(q["per_class"]).T.round(3), width="stretch")
    with state.open_project() as p:
        curve = learning_curve(p)
    if len(curve) > 0:
        fig = px.line(
            curve, x="n_labeled", y=["balanced_accuracy", "accuracy", "macro_f1"], markers=True,
            labels={"n_labeled": "labels", "value": "cross-validated", "variable": ""},
        )  # fmt: skip
        fig.update_layout(height=320, margin={"t": 10, "b": 10}, yaxis_range=[0, 1])
        st.plotly_chart(fig, key="learning_curve")

with history_tab:
    if not rounds:
        st.info("No rounds yet.")
    else:
        by_id = {m.id: m for m in models}

        def _bal(model_id: str | None) -> float | None:
            m = by_id.get(model_id or "")
            return round(m.metrics["balanced_accuracy"], 3) if m else None

        table = pd.DataFrame(
            [{"round": r.id, "strategy": r.config.get("strategy", r.strategy),
              "samples": len(r.keys), "seed": r.seed, "user": r.user,
              "created": r.created_at[:19].replace("T", " "),
              "balanced acc. before": _bal(r.model_before),
              "balanced acc. after": _bal(r.model_after)} for r in reversed(rounds)]
        )  # fmt: skip
        st.dataframe(table, hide_index=True, width="stretch")
        pick = st.selectbox("Configuration of round", [r.id for r in reversed(rounds)],
                            key="round_show")  # fmt: skip
        st.code(json.dumps(next(r.config for r in rounds if r.id == pick), indent=2), "json")
