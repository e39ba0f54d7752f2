"""Quality: poor images, duplicates, split leaks and outliers, each threshold shown and movable."""

import streamlit as st

from bps_app import cache, figures, state, tables, widgets
from bps_app.safe_text import md
from bps_core.verbs import (
    FLAG_HELP,
    FLAG_NAMES,
    BpsError,
    FlagSettings,
    FlagThresholds,
    flags,
    missing_descriptor_count,
)

DEFAULTS = FlagThresholds()
SHOWN = 24  # thumbnails per list
SHORT = {"odd_size": "odd size", "near_duplicate": "near dup."}  # metric labels that fit

with state.open_project() as project:
    source = project.config.datasource
    window = project.config.display
    n_missing = len(project.image_stats.missing())
    n_undescribed = missing_descriptor_count(project)
    n_ok = project.n_samples("ok")
    rel = cache.relpaths(project)

st.title("Quality")
st.caption(
    "Images to look at before they mislead a model: dim, saturated, blurry, nearly empty or "
    "odd-sized crops, the same image twice, near-duplicates that a grouped split puts on both "
    "sides (leaks), and outliers far from everything else. Pixel facts are measured once when "
    "images are decoded for embedding; moving a threshold re-applies it instantly."
)

if n_missing or n_undescribed:
    notes = []
    if n_missing:
        notes.append(f"{n_missing:,} of {n_ok:,} samples have no pixel statistics yet (embedded "
                     "before they were kept, or on Ray): measure them for their pixel flags "
                     "and exact duplicates.")  # fmt: skip
    if n_undescribed:
        notes.append(f"{n_undescribed:,} of {n_ok:,} samples have no shift-tolerant pixel "
                     "descriptor yet: measure them to find crops shifted by a few pixels, "
                     "which embeddings miss (once per sample, then kept).")  # fmt: skip
    st.info("\n\n".join(notes))
    if st.button(
        f"Measure {max(n_missing, n_undescribed):,} images",
        key="quality_measure",
        icon=":material/straighten:",
    ):
        bar = st.progress(0.0, text="Decoding and measuring...")

        def advance(fraction: float) -> None:
            bar.progress(min(fraction, 1.0))

        try:
            with state.open_project() as project:
                flags(project, FlagSettings(), advance)
        except BpsError as exc:
            st.error(md(str(exc)))
            st.stop()
        st.rerun()

metrics = st.container()  # filled once the flags are computed, shown above the tabs
tab_pixels, tab_dups, tab_leaks, tab_outliers = st.tabs(
    ["Image quality", "Duplicates", "Leaks", "Outliers"]
)

# Thresholds first (the result depends on them), histograms after, into the same rows.
with tab_pixels:
    rows = {
        name: st.columns([1, 2]) for name in ("dim", "saturated", "blurry", "empty", "odd_size")
    }
c = rows["dim"][0]
dim_ratio = c.slider("Dim: bright end below x median", 0.0, 1.0, DEFAULTS.dim_ratio, 0.05,
                     key="quality_dim_ratio", help=FLAG_HELP["dim"])  # fmt: skip
c = rows["saturated"][0]
saturated_share = widgets.number_field(
    "Saturated: share of pixels at the maximum above", low=0.0, high=1.0,
    value=DEFAULTS.saturated_share, step=0.001, format="%.3f", key="quality_saturated_share",
    where=c, help=FLAG_HELP["saturated"],
)  # fmt: skip
with c:  # the error under its box; the other flags do not depend on it
    saturated_ok = widgets.check_numbers(saturated_share)
# Flags withheld because their threshold box holds a refused value: computed with the default
# (no other flag reads it), never shown, and no download carries them.
withheld = set() if saturated_ok else {"saturated"}
c = rows["blurry"][0]
blurry_ratio = c.slider("Blurry: sharpness below x median", 0.0, 1.0, DEFAULTS.blurry_ratio, 0.05,
                        key="quality_blurry_ratio", help=FLAG_HELP["blurry"])  # fmt: skip
c = rows["empty"][0]
empty_foreground = c.slider(
    "Nearly empty: foreground share below", 0.0, 0.5, DEFAULTS.empty_foreground, 0.01,
    key="quality_empty_foreground", help=FLAG_HELP["empty"],
)  # fmt: skip
c = rows["odd_size"][0]
size_ratio = c.slider("Odd size: area off the median by more than x", 1.0, 10.0,
                      DEFAULTS.size_ratio, 0.25, key="quality_size_ratio",
                      help=FLAG_HELP["odd_size"])  # fmt: skip
max_aspect = c.slider("Odd aspect: longer / shorter side above", 1.0, 5.0, DEFAULTS.max_aspect,
                      0.1, key="quality_max_aspect")  # fmt: skip
with tab_dups:
    near_ratio = st.slider(
        "Near-duplicate: a neighbour closer than x the median distance to the k-th", 0.0, 1.0,
        DEFAULTS.near_duplicate_ratio, 0.05, key="quality_near_ratio",
        help=FLAG_HELP["near_duplicate"],
    )  # fmt: skip
    shift_ratio = st.slider(
        "Shifted copy: a neighbour by shift-tolerant pixel descriptor closer than x its median "
        "distance to the k-th", 0.0, 1.0, DEFAULTS.shift_ratio, 0.05, key="quality_shift_ratio",
        help="Finds crops whose window moved by a few pixels (also re-encoded or re-windowed), "
        "which embeddings miss; 'found by' in the table says which search found each pair.",
    )  # fmt: skip
with tab_outliers:
    o1, o2 = st.columns(2)
    outlier_percentile = o1.slider("Outlier: score above percentile", 80.0, 100.0,
                                   DEFAULTS.outlier_percentile, 0.5, key="quality_outlier_pct",
                                   help=FLAG_HELP["outlier"])  # fmt: skip
    k = o2.slider("Neighbours in the score (k)", 1, 20, DEFAULTS.k, key="quality_k")

saturated = saturated_share.number if saturated_ok else DEFAULTS.saturated_share
thresholds = FlagThresholds(
    dim_ratio=dim_ratio, saturated_share=saturated, blurry_ratio=blurry_ratio,
    empty_foreground=empty_foreground, size_ratio=size_ratio, max_aspect=max_aspect,
    near_duplicate_ratio=near_ratio, outlier_percentile=outlier_percentile, k=k,
    shift_ratio=shift_ratio,
)  # fmt: skip
with st.spinner("Flagging..."), state.open_project() as project:
    result = cache.quality_flags(project, thresholds)
if result is None:
    st.info("Nothing to flag from yet: compute embeddings first (the decode measures every "
            "image on the way).")  # fmt: skip
    widgets.page_link("pages/2_Embed.py", label="Go to Embeddings", icon=":material/hub:")
    st.stop()

frame, cut, counts = result.frame, result.cutoffs, result.counts
half = -(-len(FLAG_NAMES) // 2)  # two rows: eight metrics in one row cut their names short
cols = [*metrics.columns(half), *metrics.columns(half)]
for col, name in zip(cols, FLAG_NAMES, strict=False):
    count = "—" if name in withheld else f"{counts[name]:,}"
    col.metric(SHORT.get(name, name), count, help=FLAG_HELP[name], border=True)
metrics.download_button(
    "Flags CSV", cache.quality_csv(result), file_name="flags.csv", mime="text/csv",
    key="quality_download", icon=":material/download:", disabled=bool(withheld),
    help="One row per flagged sample, as bps-labeler flags writes it."
    + (" Off while a threshold box above holds a value out of its range." if withheld else ""),
)  # fmt: skip


def _show(keys: list[str], column: str, what: str, key: str) -> None:
    if not keys:
        st.caption(f"No {what}.")
        return
    captions = tables.quality_captions(frame, keys[:SHOWN], column)
    widgets.thumbnail_grid(keys[:SHOWN], rel, source, window, open_key=key, captions=captions)
    if len(keys) > SHOWN:
        st.caption(f"... and {len(keys) - SHOWN:,} more (all of them in the CSV).")


with tab_pixels:
    area = frame.width * frame.height
    aspect = frame[["width", "height"]].max(axis=1) / frame[["width", "height"]].min(axis=1)
    plots = {
        "dim": (frame.p99, [cut["dim_p99"]], "99th percentile (share of range)", False),
        "saturated": (frame.saturated_share, [cut["saturated_share"]], "share at maximum",
                      False),
        "blurry": (frame.sharpness, [cut["blurry_sharpness"]], "sharpness", True),
        "empty": (frame.foreground, [cut["empty_foreground"]], "foreground share", False),
        "odd_size": (area, [cut["area_low"], cut["area_high"]], "area (pixels)", True),
    }  # fmt: skip
    measured = bool(frame.width.notna().any())
    for name, (values, lines, title, log_x) in plots.items():
        with rows[name][1]:
            if measured:  # a withheld flag's values without its cutoff: help to pick one
                lines = [] if name in withheld else lines
                st.plotly_chart(figures.quality_histogram(values, lines, title, log_x=log_x),
                                key=f"quality_hist_{name}")  # fmt: skip
            else:
                st.caption(f"No pixel statistics yet: no {name.replace('_', ' ')} flags.")
    where = {
        "dim": f"99th percentile below {cut['dim_p99']:.4g}",
        "saturated": f"more than {cut['saturated_share']:.3g} of pixels at the maximum",
        "blurry": f"sharpness below {cut['blurry_sharpness']:.3g}",
        "empty": f"foreground below {cut['empty_foreground']:.3g}",
        "odd_size": f"area outside {cut['area_low']:,.0f}..{cut['area_high']:,.0f} px or "
        f"aspect above {max_aspect:.1f} ({int((aspect > max_aspect).sum()):,} by aspect)",
    }  # fmt: skip
    for name, text in where.items():
        if name not in withheld:
            rows[name][0].caption(f"**{counts[name]:,} flagged**: {md(text)}")
    pick = st.selectbox("Show the samples flagged", [n for n in plots if n not in withheld],
                        key="quality_show",
                        format_func=lambda n: f"{n.replace('_', ' ')} ({counts[n]:,})")  # fmt: skip
    flagged = frame[frame[pick]]
    order = {"dim": "p99", "saturated": "saturated_share", "blurry": "sharpness",
             "empty": "foreground", "odd_size": "width"}  # fmt: skip
    shown = flagged.sort_values(order[pick], ascending=pick != "saturated")
    _show(list(shown.index), order[pick], f"{pick.replace('_', ' ')} samples", "quality_pix")

with tab_dups:
    st.plotly_chart(figures.quality_histogram(frame.nn_distance, [cut.get("near_distance", 0.0)],
                                              "distance to the nearest neighbour"),
                    key="quality_hist_near")  # fmt: skip
    groups = result.duplicate_groups()
    st.subheader(f"Same pixels: {len(groups):,} groups")
    if not groups:
        st.caption("No two samples hold the same pixels.")
    for i, members in enumerate(groups[:10]):
        st.markdown(f"**Group {i + 1}**: {len(members)} samples")
        widgets.thumbnail_grid(members[:SHOWN], rel, source, window, open_key=f"quality_dup{i}")
    near = result.pairs[~result.pairs.exact]
    st.subheader(f"Near-duplicates: {len(near):,} pairs")
    if result.embedding_version is None:
        st.caption("No embeddings yet: near-duplicates need them.")
    elif len(near):
        st.dataframe(tables.quality_pairs_view(near), hide_index=True, key="quality_near_table")
        for j, (a, b) in enumerate(tables.pair_keys(near, 6)):
            widgets.thumbnail_grid([a, b], rel, source, window, open_key=f"quality_near{j}")

with tab_leaks:
    if result.group_column is None:
        st.info("No group column (such as well) in the metadata: nothing to check leaks against.")
    else:
        leaks = result.leaks
        st.caption(
            f"Pairs of the same or nearly the same image in two different "
            f"{md(result.group_column)} groups: a split grouped by {md(result.group_column)} "
            "can put one in training and the other in testing, and the score then flatters."
        )
        st.metric("Leaking pairs", f"{len(leaks):,}")
        if len(leaks):
            st.dataframe(tables.quality_pairs_view(leaks), hide_index=True,
                         key="quality_leak_table")  # fmt: skip
            for j, (a, b) in enumerate(tables.pair_keys(leaks, 6)):
                widgets.thumbnail_grid([a, b], rel, source, window, open_key=f"quality_leak{j}")

with tab_outliers:
    if result.embedding_version is None:
        st.info("No embeddings yet: the outlier score needs them.")
    else:
        st.plotly_chart(figures.quality_histogram(frame.outlier_score, [cut["outlier_score"]],
                                                  "k-NN outlier score"),
                        key="quality_hist_outlier")  # fmt: skip
        outliers = frame[frame.outlier].sort_values("outlier_score", ascending=False)
        _show(list(outliers.index), "outlier_score", "outliers", "quality_out")
