"""Embeddings: self-supervised training and maps (not built yet)."""

import streamlit as st

st.title("Embeddings")
st.info(
    "Not built yet: training a self-supervised model (lightly SimCLR) on this project's images, "
    "a pixel baseline, Lightly embeddings CSV import/export, and UMAP/PCA maps computed as "
    "background jobs."
)
