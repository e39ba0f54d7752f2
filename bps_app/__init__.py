"""Streamlit glue: cached wrappers, session-state keys and reusable widgets."""
