"""Export labels and predictions: download a file, or write a folder on the server."""

import tempfile
from pathlib import Path

import streamlit as st

from bps_app import state
from bps_app.safe_text import md
from bps_core.errors import BpsError
from bps_core.exports import export, export_to_output
from bps_core.project import Project

DOWNLOADS = {
    "csv": ("labels.csv", "text/csv"),
    "label-studio": ("label_studio.json", "application/json"),
}
FOLDERS = ("imagefolder", "lightly")


@st.cache_data(show_spinner=False, max_entries=4)
def download(project_dir: str, fmt: str, name: str, labels_version: int) -> bytes:
    """The export file's bytes; ``labels_version`` (the last label event) invalidates it, so
    reruns of this page do not rebuild the files."""
    with tempfile.TemporaryDirectory() as tmp, Project.open(project_dir) as p:
        export(p, fmt, Path(tmp) / name)
        return (Path(tmp) / name).read_bytes()


with state.open_project() as project:
    n_labeled = len(project.current_labels())
    output = project.config.output_datasource
    default_dest = str(project.folder / "exports")
    labels_version = int(
        project.conn.execute("SELECT MAX(id) FROM label_events").fetchone()[0] or 0
    )

st.title("Export")
st.caption(f"{n_labeled:,} labeled samples.")

st.subheader("Download")
c1, c2 = st.columns(2)
for col, (fmt, (name, mime)) in zip((c1, c2), DOWNLOADS.items(), strict=True):
    data = download(str(project.folder), fmt, name, labels_version)
    col.download_button(
        f"{fmt} ({name})", data, file_name=name, mime=mime, key=f"download_{fmt}",
        icon=":material/download:", disabled=n_labeled == 0,
    )  # fmt: skip

st.subheader("Write a folder on the server")
with st.form("export_folder"):
    fmt = st.selectbox(
        "Format", FOLDERS, key="export_format",
        format_func=lambda f: {"imagefolder": "ImageFolder (one folder per class)",
                               "lightly": "Lightly predictions (.lightly/predictions)"}[f],
    )  # fmt: skip
    dest = st.text_input("Destination folder", default_dest, key="export_dest")
    overwrite = st.checkbox("Replace files that exist", key="export_overwrite")
    go = st.form_submit_button("Export", type="primary")
if go:
    try:
        folder = state.path_policy().check(dest, "Destination folder")
        with state.open_project() as p, st.spinner("Exporting ..."):
            report = export(p, fmt, folder / fmt, overwrite=overwrite)
    except (BpsError, OSError) as exc:
        st.error(md(exc))
    else:
        skipped = f" ({report.n_skipped:,} already there)" if report.n_skipped else ""
        st.success(f"Exported {report.n_written:,} items to {md(report.dest)}{skipped}.")
        if report.failed:
            st.warning(f"{len(report.failed)} files could not be exported: "
                       + md("; ".join(report.failed[:5])))  # fmt: skip

st.subheader("Write to the output datasource")
if output is None:
    st.info("Set an output datasource (an S3 prefix or a folder) on the Datasources page.")
else:
    with st.form("export_output"):
        out_fmt = st.selectbox("Format", [*DOWNLOADS, *FOLDERS], key="export_out_format")
        prefix = st.text_input(f"Under {output.uri}", "exports", key="export_out_prefix")
        out_overwrite = st.checkbox("Replace ImageFolder files that exist", key="export_out_ow")
        go_out = st.form_submit_button("Export to the output", type="primary")
    if go_out:
        try:
            with state.open_project() as p, st.spinner(f"Exporting to {output.uri} ..."):
                report, upload = export_to_output(p, out_fmt, prefix, overwrite=out_overwrite)
        except (BpsError, OSError) as exc:
            st.error(md(exc))
        else:
            st.success(f"Exported {report.n_written:,} items to "
                       f"{md(output.uri + prefix.strip('/'))}/: "
                       f"{upload.summary()}.")  # fmt: skip
            if upload.failed:
                st.warning(md("; ".join(f"{k}: {v}" for k, v in list(upload.failed.items())[:5])))
