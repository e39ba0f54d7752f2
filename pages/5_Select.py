"""Selection rounds: pick the next samples to label, train a model, watch it improve."""

import json

import streamlit as st

from bps_app import blind, cache, confusion, figures, jobs, state, tables, widgets
from bps_app.safe_text import md
from bps_core.verbs import (
    MODEL_KINDS,
    STRATEGIES,
    STRATEGY_HELP,
    LabelQueue,
    ModelConfig,
    RoundOptions,
    SelectionConfig,
    SelectionError,
    SelectSettings,
    SettingsError,
    SimulateSettings,
    TrainSettings,
    current_version,
    default_strategy_choice,
    learning_curve,
    list_models,
    list_rounds,
    record_round,
    select_round,
    selected_keys,
    store_truth_upload,
    train_model,
)

QUEUE_PAGE = "pages/4_Queue.py"
LIGHTLY = "Lightly selection config (JSON)"
NO_SIMILARITY = "(none: use the strategy)"
MAP_PICK = "the map selection"


with state.open_project() as project:
    samples = cache.load_samples(project)
    frame = cache.map_frame(project)
    rel_index = cache.relpaths(project)
    source = project.config.datasource
    default_window = project.config.display
    rounds = list_rounds(project)
    models = list_models(project)
    model = cache.current_model(project)  # models of another embedding set are stale
    stale = cache.stale_model(project)
    labels_now = project.current_labels()
    emb_version = current_version(project)
    picked_before = selected_keys(project)
    sim_jobs = jobs.list_jobs(project, "simulate", limit=1)
    # A blind double labeler sees their own labels only, and nothing made of everyone's:
    # no model figures, predictions, uncertainty, nor why ``default`` picks what it does.
    blind_view = blind.view(project, state.user_name())

blinded = blind_view is not None
shown_labels = labels_now if blind_view is None else blind_view.own  # what this user may see
n_labeled = len(shown_labels)
labeled_keys = set(shown_labels.key)
has_model = model is not None  # trained on the current embedding set
offers_model = has_model and not blinded  # prediction and uncertainty options
group_columns, numeric_columns = tables.metadata_columns(samples)
classes = sorted(set(shown_labels.label))

user = state.user_name()
st.title("Selection rounds")
st.caption(
    "Select the samples whose labels help most, label them in the queue, train, and repeat. "
    f"{n_labeled:,} of {len(samples):,} samples are labeled{' by you' if blinded else ''}."
)

if flash := state.pop_flash(state.ROUNDS_FLASH):
    st.success(flash)
if refused := state.pop_flash(state.ROUNDS_REFUSED):
    st.error(md(refused))

BLIND_TRAIN = ("You are a blind labeler: training reads everyone's labels, so it waits until "
               "the agreement round ends.")  # fmt: skip
new_tab, model_tab, history_tab, sim_tab = st.tabs(["New round", "Model", "Rounds", "Simulate"])

with new_tab:
    now, why = default_strategy_choice(
        has_model=has_model, has_labels=n_labeled > 0, n_labeled=n_labeled,
        n_classes=len(classes),
    )  # fmt: skip
    if blinded:  # why default picks what it does tells how many labels and classes exist
        st.caption(blind.NOTE + " Strategies that read a model or the labels are left out.")
    else:
        st.caption(f"`default` picks **{now}** right now: {why}.")
    names: list[str] = list(STRATEGIES) if not blinded else list(blind.ROUND_STRATEGIES)
    waiting = len(picked_before - labeled_keys)
    with st.form("round_form"):
        c1, c2, c3 = st.columns([2, 1, 1])
        # A Lightly config may read the model's predictions: not for a blind labeler.
        choice = c1.selectbox(
            "Strategy", names if blinded else [*names, LIGHTLY],
            index=names.index("default") if "default" in names else 0, key="round_strategy",
            help="\n\n".join(f"**{k}**: {v}" for k, v in STRATEGY_HELP.items() if k in names),
        )  # fmt: skip
        n = widgets.number_field(
            "Batch size (1-10,000)", low=1, high=10_000, value=50, key="round_n", where=c2,
            help="With a Lightly config, its n_samples (or proportion_samples) decides and "
            "this field is not used.",
        )  # fmt: skip
        seed = widgets.number_field(
            "Seed", low=0, high=2**31 - 2, value=None, key="round_seed", where=c3,
            placeholder="fresh", help="Empty: a fresh seed for every round, shown and recorded "
            "with it. Enter the seed of an earlier round to repeat it.",
        )  # fmt: skip
        numbers_ok = widgets.check_numbers(n, seed)
        reinclude = st.checkbox(
            "Re-include samples picked by earlier rounds", key="round_reinclude",
            help=f"By default a sample an earlier round picked is not picked again, labeled or "
            f"not ({len(picked_before):,} picked so far, {waiting:,} of them not labeled yet"
            f"{' by you' if blinded else ''}).",
        )  # fmt: skip
        with st.expander("Balance, threshold, similarity (around the strategy)"):
            b1, b2 = st.columns(2)
            balance = b1.multiselect(
                "Balance over", [*group_columns, *(["prediction"] if offers_model else [])],
                key="round_balance",
                help="Equal shares of the batch per value (per combination) of these columns; "
                "'prediction' is the model's predicted class.",
            )  # fmt: skip
            queries: dict[str, tuple[str, ...]] = {NO_SIMILARITY: ()}
            if state.map_selection():
                queries[MAP_PICK] = tuple(state.map_selection())
            for c in classes:
                keys_of_c = shown_labels.key[shown_labels.label == c]
                queries[f"samples {'you ' if blinded else ''}labeled {c!r}"] = tuple(keys_of_c)
            similar = b2.selectbox(
                "Rank by similarity to", list(queries), key="round_similar",
                help="Instead of the strategy's ranking: the unlabeled samples most similar "
                "(cosine, in the embedding) to these.",
            )  # fmt: skip
            t1, t2, t3 = st.columns([2, 1, 1])
            uncertainty_cols = (["uncertainty_entropy", "uncertainty_margin"] if offers_model
                                else [])  # fmt: skip
            t_col = t1.selectbox(
                "Only samples whose", ["(no threshold)", *numeric_columns, *uncertainty_cols],
                key="round_threshold_column",
            )  # fmt: skip
            t_op = t2.selectbox("is", list(tables.THRESHOLD_OPS), key="round_threshold_op")
            t_value = t3.number_input("value", value=0.0, key="round_threshold_value")
        config_text = "" if blinded else st.text_area(
            "Lightly selection config (used with the last strategy choice)",
            key="round_config", height=140,
            placeholder='{"n_samples": 50, "strategies": [{"input": {"type": "EMBEDDINGS"}, '
            '"strategy": {"type": "DIVERSITY"}}]}',
        )  # fmt: skip
        go = st.form_submit_button("Preview the selection", type="primary")
    if go:
        state.set_round_preview(None)  # never a stale preview under an error
    if go and numbers_ok:  # else the form says which number is out of range
        query = queries[similar]
        options = RoundOptions(
            balance_by=tuple(balance),
            threshold_column=None if t_col == "(no threshold)" else t_col,
            threshold_operation=tables.THRESHOLD_OPS[t_op],
            threshold_value=float(t_value), similar_to=query,
        )  # fmt: skip
        try:
            if choice != LIGHTLY and config_text.strip():
                raise SelectionError(
                    f"a Lightly config is pasted but the strategy is {choice!r}, so it would "
                    f"not be used: choose '{LIGHTLY}' to run it, or clear the config field"
                )
            config = SelectionConfig.from_json(config_text) if choice == LIGHTLY else None
            # SelectSettings refuses balance, threshold or similarity options with a config
            select_settings = SelectSettings(
                n=None if config is not None else n.number,
                strategy=choice if config is None else "default", config=config,
                seed=seed.value, reinclude_selected=reinclude,
                options=options,
            )  # fmt: skip
            with state.open_project() as p, st.spinner("Selecting ..."):
                state.set_round_preview(select_round(p, select_settings, user=user))
        except (SelectionError, SettingsError) as exc:
            st.error(md(exc))
    preview = state.round_preview()
    if preview is not None:
        how = ", ".join(
            [
                preview.config.get("strategy", preview.strategy),
                *tables.describe_round(preview.config),
            ]
        )
        st.subheader(md(f"Preview: {len(preview.keys):,} samples ({how}, seed {preview.seed})"))
        facts = preview.config.get("round", {})
        notes = ["Nothing is recorded until you accept. Discard to try other settings."]
        if facts.get("seed_drawn"):
            notes.append(f"Seed {preview.seed} was drawn for this round; it is recorded.")
        if preview.strategy == "lightly-config":
            notes.append("The batch size is the config's.")
        if facts.get("held_back"):
            notes.append(f"{facts['held_back']:,} samples picked by earlier rounds were left out.")
        st.caption(" ".join(notes))
        c1, c2, c3 = st.columns(3)
        accept = c1.button("Accept and label in the queue", type="primary", key="round_accept",
                           icon=":material/keyboard:", disabled=not user)  # fmt: skip
        keep = c2.button("Accept", key="round_accept_only", disabled=not user)
        if c3.button("Discard", key="round_discard", icon=":material/delete:"):
            state.set_round_preview(None)
            st.rerun()
        if not user:
            st.warning("Enter your name in the sidebar to record a round.")
        if accept or keep:
            try:
                with state.open_project() as p:
                    r = record_round(p, preview, user=user)
            except SelectionError as exc:  # stale: another round took samples, or they left
                state.set_round_preview(None)
                state.flash(state.ROUNDS_REFUSED, str(exc))
                st.rerun()
            state.set_round_preview(None)
            # said where the user lands: on the queue when accepted into it (it waited for a
            # later visit to this page, as if news)
            said = f"Round {r.id}: {len(r.keys)} samples recorded (seed {r.seed})."
            state.flash(state.QUEUE_FLASH if accept else state.ROUNDS_FLASH, said)
            if accept:
                state.start_plain_queue(LabelQueue.of(r.keys), f"Selection round {r.id}")
                state.switch_page(QUEUE_PAGE)
            st.rerun()
        chosen = samples[samples.key.isin(preview.keys)]
        shown_cols = list(dict.fromkeys([*[b for b in balance if b in chosen.columns],
                                         "particle_type", "hr_post_exposure"]))[:2]  # fmt: skip
        for col, name in zip(st.columns(2), shown_cols, strict=False):
            if name in chosen.columns:
                col.dataframe(chosen[name].value_counts().rename("samples"), width="stretch")
        if frame is not None:
            st.plotly_chart(
                figures.selection_map_figure(frame, preview.keys), key="round_preview_map"
            )
        window = widgets.display_controls(default_window, key="preview_display")
        widgets.thumbnail_grid(preview.keys[:24], rel_index, source, window,
                               open_key="preview_open")  # fmt: skip
    elif rounds:
        last = rounds[-1]
        st.subheader(f"Round {last.id}: {len(last.keys):,} samples")
        c1, c2 = st.columns([1, 3])
        if c1.button("Label them in the queue", type="primary", icon=":material/keyboard:",
                     key="round_to_queue"):  # fmt: skip
            state.start_plain_queue(LabelQueue.of(last.keys), f"Selection round {last.id}")
            state.switch_page(QUEUE_PAGE)
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
    epochs = widgets.number_field(
        "Fine-tune epochs", low=1, high=200, value=10, key="model_ft_epochs", where=c2,
        disabled=kind != "finetune",
    )  # fmt: skip
    ok = kind != "finetune" or widgets.check_numbers(epochs)  # only fine-tuning uses epochs
    # Trained on everyone's labels, a model's accuracy and label count are not a blind
    # labeler's to read (the flash says both).
    if c3.button("Train on the current labels", type="primary", key="model_train",
                 disabled=blinded or not ok,
                 help=BLIND_TRAIN if blinded else None) and ok:  # fmt: skip
        bar = st.progress(0.0, text=f"Training {kind} ...")

        def _show_progress(fraction: float) -> None:
            bar.progress(min(fraction, 1.0))

        try:
            train_settings = TrainSettings(
                model=ModelConfig(kind=kind, finetune_epochs=epochs.number if epochs.ok
                                  else ModelConfig.finetune_epochs)  # unused then: not finetune
            )  # fmt: skip
            with state.open_project() as p:
                m = train_model(p, train_settings, _show_progress, user=user or "anonymous")
        except (SelectionError, SettingsError) as exc:
            st.error(md(exc))
        else:
            bal = m.metrics["balanced_accuracy"]
            state.flash(state.ROUNDS_FLASH, f"Model trained on {m.n_labeled:,} labels" + (
                f": balanced accuracy {bal:.3f}." if bal is not None else "."
            ))  # fmt: skip
            st.rerun()
    if stale is not None and not blinded:  # a model of everyone's labels: not hers to know
        st.warning(
            f"The latest model ({stale.kind}, {stale.created_at[:19].replace('T', ' ')}) belongs "
            f"to embedding set {stale.embedding_version}, not the current one: its predictions "
            "are stale and not used. Train again on the current labels, or switch back to that "
            "set on the Embeddings page.",
            icon=":material/history:",
        )
    if blinded:
        st.info(blind.NOTE)
    elif model is None and stale is None:
        n_classes = labels_now.label.nunique()
        st.info(f"No model yet: {n_labeled:,} labels of {n_classes} classes; press **Train on "
                "the current labels**." if n_classes >= 2 else
                "No model yet: label samples of at least two classes, then train.")  # fmt: skip
    elif model is not None:
        q = model.metrics
        if q.get("warning"):
            st.warning(md(q["warning"]))
        cols = st.columns(4)
        prev = models[-2].metrics if len(models) > 1 else None
        for col, (label, name) in zip(cols, [("Accuracy", "accuracy"),
                                             ("Balanced accuracy", "balanced_accuracy"),
                                             ("Macro-F1", "macro_f1")], strict=False):  # fmt: skip
            value = q[name]
            before = prev[name] if prev else None
            delta = f"{value - before:+.3f}" if value is not None and before is not None else None
            col.metric(label, "n/a" if value is None else f"{value:.3f}", delta)
        cols[3].metric("Labels", f"{model.n_labeled:,}")
        grouped = f"grouped by {q['grouped_by']}" if q["grouped_by"] else "not grouped"
        if q["n_folds"]:
            st.caption(md(f"{q['n_folds']}-fold cross-validation, {grouped}; model {model.kind}."))
            c1, c2 = st.columns(2)
            fig = figures.confusion_figure(q["confusion"], q["classes"])
            c1.plotly_chart(fig, key="confusion")
            c2.dataframe(tables.per_class_table(q["per_class"]), width="stretch")
            with st.expander("Samples of a confusion cell", expanded=True):
                confusion.drill_down(model, rel_index=rel_index, source=source,
                                     window=default_window)  # fmt: skip
    with state.open_project() as p:
        curve = learning_curve(p).dropna(subset=["balanced_accuracy"])
    if len(curve) > 0 and not blinded:
        st.plotly_chart(figures.learning_curve_figure(curve), key="learning_curve")

with history_tab:
    if not rounds:
        st.info("No rounds yet.")
    else:
        table = tables.rounds_table(rounds, models, samples, labeled_keys)
        if blinded:  # the models' accuracy is made of everyone's labels
            table = table.drop(columns=[c for c in table.columns if c.startswith("balanced")])
        st.dataframe(table, hide_index=True, width="stretch")
        st.caption(
            blind.NOTE + " Labeled: by you."
            if blinded
            else "Balanced accuracy after a round: the first model trained once all its "
            'samples were labeled ("still labeling" until then).'
        )
        # Keyed by the newest round: a new round (here or from another session) is shown first
        # instead of the pick kept from before it.
        pick = st.selectbox("Configuration of round", [r.id for r in reversed(rounds)],
                            key=f"round_show_{rounds[-1].id}")  # fmt: skip
        shown_config = blind.round_config(next(r.config for r in rounds if r.id == pick),
                                          blind_view)  # fmt: skip
        st.code(json.dumps(shown_config, indent=2), "json")

with sim_tab:
    st.caption(
        "Compare strategies on data whose labels are known: the whole loop with an oracle "
        "(held-out test split, same start for every strategy). Nothing here touches the "
        "project's labels."
    )
    if emb_version is None:
        st.info("Compute embeddings first (Embeddings page).")
    else:
        truth_from = st.radio("Truth", ["A metadata column", "A truth CSV (upload)"],
                              key="sim_truth_from", horizontal=True)  # fmt: skip
        upload = None
        if truth_from == "A metadata column":
            truth_cols, default_group = group_columns, "well" if "well" in group_columns else None
        else:
            upload = st.file_uploader(
                "Truth CSV: a filename column plus label columns", type=["csv"],
                key="sim_truth_csv",
            )  # fmt: skip
            truth_cols, default_group = [], None
            if upload is not None:
                try:
                    header = tables.csv_header(upload)
                except (ValueError, UnicodeDecodeError) as exc:
                    st.error(md(f"{upload.name}: cannot read the CSV ({exc})"))
                    header = []
                truth_cols = [c for c in header if c != "filename"]
                default_group = "well" if "well" in truth_cols else None
        c1, c2 = st.columns(2)
        label_column = c1.selectbox(
            "Truth column (the label to learn)", truth_cols, key="sim_label",
            index=truth_cols.index("particle_type") if "particle_type" in truth_cols else 0,
        )  # fmt: skip
        group_options = ["(none)", *[c for c in truth_cols if c != label_column]]
        # One key per truth source, so a new source gets its own default group.
        group_column = c2.selectbox(
            "Group for the test split (biological source)", group_options,
            index=group_options.index(default_group) if default_group in group_options else 0,
            key=f"sim_group_{truth_from[:5]}_{upload.file_id if upload else ''}",
        )  # fmt: skip
        strategies = st.multiselect("Strategies", STRATEGIES, ["random", "diversity"],
                                    key="sim_strategies")  # fmt: skip
        c1, c2, c3 = st.columns(3)
        sim_seeds = widgets.number_field(
            "Seeds", low=1, high=50, value=3, key="sim_seeds", where=c1,
            help="Repeats with other splits and starts. A handful of seeds can rank strategies "
            "by luck.",
        )  # fmt: skip
        sim_batch = widgets.number_field("Batch", low=1, high=1000, value=20, key="sim_batch",
                                         where=c2)  # fmt: skip
        sim_rounds = widgets.number_field("Rounds", low=1, high=100, value=5, key="sim_rounds",
                                          where=c3)  # fmt: skip
        sim_ok = widgets.check_numbers(sim_seeds, sim_batch, sim_rounds)
        running = next((j for j in sim_jobs if j.active), None)
        if st.button("Run the simulation", type="primary", key="sim_run",
                     disabled=running is not None or label_column is None or not sim_ok,
                     ) and sim_ok:  # fmt: skip
            group = None if group_column == "(none)" else group_column
            with state.open_project() as p:
                truth = store_truth_upload(p, upload.getvalue()) if upload is not None else None
                submitted = widgets.submit_job(p, lambda: SimulateSettings(
                    label_column=label_column or "", strategies=tuple(strategies),
                    seeds=sim_seeds.number, batch=sim_batch.number, rounds=sim_rounds.number,
                    group_column=group, truth_csv=truth))  # fmt: skip
            if submitted:
                st.rerun()
        if running is not None:
            widgets.job_monitor(running.id)
        elif sim_jobs:
            last_job = sim_jobs[0]
            if last_job.state == "failed":
                st.error(md(f"The last simulation failed: {last_job.error}"))
            elif last_job.state == "succeeded" and last_job.result:
                res = last_job.result
                folder = state.project_dir()
                try:
                    sim_curve, reach = tables.simulation_tables(folder, res)
                except OSError as exc:
                    st.error(md(f"The last simulation's files are gone ({exc}); run it again."))
                else:
                    st.subheader(md(
                        f"Simulated on {res['label_column']!r}: {res['n_samples']:,} samples, "
                        f"classes {', '.join(map(str, res['classes']))}"
                    ))  # fmt: skip
                    st.plotly_chart(figures.simulation_figure(sim_curve), key="sim_curves")
                    full = res["full_pool_balanced_accuracy"]
                    st.markdown(
                        f"**Labels to 95%** of the balanced accuracy of training on the whole "
                        f"pool ({full:.3f}), read off the mean curve over seeds"
                    )
                    st.dataframe(tables.labels_to_reach_table(reach), hide_index=True,
                                 width="stretch")  # fmt: skip
                    st.caption(md(f"Curve CSV: {folder / res['curve']}"))
