"""Selection rounds: active learning (not built yet)."""

import streamlit as st

st.title("Selection rounds")
st.info(
    "Not built yet: active-learning rounds that pick the next images to label (diversity, "
    "uncertainty, metadata balance), a model trained on the labels, and learning curves."
)
