"""BPS Labeler: the Streamlit entry point (``bps-labeler app`` or ``make run``)."""

import streamlit as st

from bps_app import cache, host_check, memory, state, widgets
from bps_app.safe_text import md
from bps_core.verbs import DamagedArrayError, ReadOnlyProjectError, StorageWriteError

st.set_page_config(page_title="BPS Labeler", page_icon=":microscope:", layout="wide")
host_check.require_allowed_host()  # DNS rebinding: nothing renders for a foreign Host
widgets.require_login()  # with [auth] in secrets.toml, nothing renders before st.login
cache.warm_job_worker()
cache.hold_database(state.project_dir())

pages = [
    st.Page("pages/home.py", title="Project", icon=":material/home:", default=True),
    # Explicit url paths: deep links must not match the legacy names Streamlit derives from
    # pages/ file names, or a fresh session would run the page without this entry point.
    st.Page(
        "pages/1_Datasource.py",
        title="Datasources",
        icon=":material/cloud:",
        url_path="datasource",
    ),
    st.Page("pages/2_Embed.py", title="Embeddings", icon=":material/hub:", url_path="embeddings"),
    st.Page(
        "pages/3_Explore_and_label.py",
        title="Explore and label",
        icon=":material/draw:",
        url_path="label",
    ),
    st.Page(
        "pages/4_Queue.py",
        title="Label queue",
        icon=":material/keyboard:",
        url_path="queue",
    ),
    st.Page(
        "pages/5_Select.py",
        title="Selection rounds",
        icon=":material/checklist:",
        url_path="rounds",
    ),
    st.Page("pages/7_Results.py", title="Results", icon=":material/bar_chart:", url_path="results"),
    st.Page(
        "pages/8_Agreement.py",
        title="Agreement",
        icon=":material/group:",
        url_path="agreement",
    ),
    st.Page(
        "pages/9_Quality.py",
        title="Quality",
        icon=":material/rule:",
        url_path="quality",
    ),
    st.Page("pages/6_Export.py", title="Export", icon=":material/ios_share:", url_path="export"),
]
# The sidebar draws the menu: its links keep ?user= (Streamlit's own carry no query).
navigation = st.navigation(pages, position="hidden")
widgets.sidebar(state.project_name(), pages)
try:
    navigation.run()
except (DamagedArrayError, ReadOnlyProjectError, StorageWriteError) as exc:
    # Damaged files, a read-only project and a full disk: one line saying what to do.
    st.error(md(str(exc)))
# After the first run imported the app and its page: those objects stay out of every later
# full garbage collection (a no-op from the second run on).
memory.freeze_startup()
