"""Export labels and predictions: download a file, or write a folder on the server."""

from pathlib import Path

import streamlit as st

from bps_app import blind, cache, state
from bps_app.safe_text import md
from bps_core.verbs import (
    BpsError,
    ExportExistsError,
    ExportReport,
    ExportSettings,
    OutputExportSettings,
    export,
    export_to_output,
    join_uri,
    resolve_dest,
)

FOLDERS = {
    "imagefolder": "ImageFolder (one folder per class)",
    "label-studio": "Label Studio (tasks JSON and PNG previews)",
    "lightly": "Lightly predictions (.lightly/predictions)",
}
OUTPUT_FORMATS = {"csv": "Labels CSV (labels.csv)", **FOLDERS}
REPLACE = "Replace files that exist"


def show_report(report: ExportReport, where: str, extra: str = "") -> None:
    skipped = f" ({report.n_skipped:,} already there)" if report.n_skipped else ""
    st.success(f"Exported {report.n_written:,} items to {md(where)}{skipped}{md(extra)}.")
    if report.renamed:
        st.warning(
            f"{len(report.renamed)} name(s) would have collided and were made unique: "
            + md("; ".join(report.renamed[:5]))
            + (" ..." if len(report.renamed) > 5 else "")
        )
    if report.failed:
        st.warning(f"{len(report.failed)} files could not be exported: "
                   + md("; ".join(report.failed[:5])))  # fmt: skip


with state.open_project() as project:
    n_labeled = len(project.current_labels())
    output = project.config.output_datasource
    project_dir = project.folder
    labels_version = project.labels_version()
    blinded = blind.view(project, state.user_name()) is not None

st.title("Export")
if blinded:  # every export holds everyone's labels
    st.info(blind.NOTE)
    st.stop()
st.caption(f"{n_labeled:,} labeled samples.")

st.subheader("Download")
st.download_button(
    "Labels CSV (labels.csv)", cache.labels_csv(str(project_dir), labels_version),
    file_name="labels.csv", mime="text/csv", key="download_csv",
    icon=":material/download:", disabled=n_labeled == 0,
    help="Text cells that a spreadsheet would run as a formula (=, +, -, @) start with '.",
)  # fmt: skip

st.subheader("Write a folder on the server")
with st.form("export_folder"):
    fmt = st.selectbox(
        "Format", list(FOLDERS), key="export_format", format_func=FOLDERS.__getitem__
    )
    dest = st.text_input(
        "Destination folder", "exports", key="export_dest",
        help=f"A relative folder is taken under the project folder, {md(project_dir)}. "
        "The export goes into a subfolder named after the format. The server writes only "
        "inside its data roots (the project's exports folder unless server.toml names others).",
    )  # fmt: skip
    doc_root = st.text_input(
        "Label Studio document root (optional)", "", key="export_ls_root",
        help="Label Studio's LOCAL_FILES_DOCUMENT_ROOT, a folder holding the destination. "
        "Empty: the export folder itself.",
    )  # fmt: skip
    overwrite = st.checkbox(REPLACE, key="export_overwrite")
    go = st.form_submit_button("Export", type="primary")
if go:
    try:
        with state.open_project() as p, st.spinner("Exporting ..."):
            # relative: under the project, never the server's working folder; then the policy
            # (given the typed text when absolute, so its message quotes what was typed)
            typed = Path(dest.strip()).expanduser().is_absolute()
            target = dest.strip() if typed else resolve_dest(p, dest)
            folder = state.path_policy().check(target, "Destination folder") / fmt
            root = resolve_dest(p, doc_root) if doc_root.strip() and fmt == "label-studio" else None
            settings = ExportSettings(format=fmt, dest=folder, overwrite=overwrite,
                                      document_root=root)  # fmt: skip
            report = export(p, settings)
    except ExportExistsError as exc:
        st.error(f"{md(exc.path)} already exists: tick '{REPLACE}' to replace it.")
    except (BpsError, OSError) as exc:
        st.error(md(exc))
    else:
        show_report(report, str(report.dest))
        if fmt == "label-studio":
            st.info(
                "In Label Studio: start it with `LOCAL_FILES_SERVING_ENABLED=true` and "
                f"`LOCAL_FILES_DOCUMENT_ROOT` set to {md(root or report.dest)}, add a Local "
                f"Storage with the absolute path {md(report.dest / 'images')} (no sync needed), "
                "create a project with the labeling config in "
                f"{md(report.dest / 'labeling_config.xml')}, then import "
                f"{md(report.dest / 'label_studio.json')}."
            )

st.subheader("Write to the output datasource")
if output is None:
    st.info("Set an output datasource (an S3 prefix or a folder) on the Datasources page.")
else:
    with st.form("export_output"):
        out_fmt = st.selectbox(
            "Format",
            list(OUTPUT_FORMATS),
            key="export_out_format",
            format_func=OUTPUT_FORMATS.__getitem__,
        )
        prefix = st.text_input(f"Under {md(output.uri)}", "exports", key="export_out_prefix")
        out_overwrite = st.checkbox(REPLACE, key="export_out_ow")
        go_out = st.form_submit_button("Export to the output", type="primary")
    if go_out:
        try:
            with state.open_project() as p, st.spinner(f"Exporting to {md(output.uri)} ..."):
                out_settings = OutputExportSettings(format=out_fmt, prefix=prefix,
                                                    overwrite=out_overwrite)  # fmt: skip
                done = export_to_output(p, out_settings)
            report, upload = done.export, done.upload
        except ExportExistsError as exc:
            st.error(f"{md(exc.path)} already exists: tick '{REPLACE}' to replace it.")
        except (BpsError, OSError) as exc:
            st.error(md(exc))
        else:
            where = join_uri(output.uri, prefix.strip("/") + "/")
            if out_fmt != "csv":
                where = join_uri(where, f"{out_fmt}/")
            show_report(report, where, f": {upload.summary()}")
            if upload.failed:
                st.warning(md("; ".join(f"{k}: {v}" for k, v in list(upload.failed.items())[:5])))
