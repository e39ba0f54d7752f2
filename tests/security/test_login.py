"""With OIDC login configured, the app shows nothing but a login button until signed in."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "s" * 32,
    "client_id": "id",
    "client_secret": "secret",
    "server_metadata_url": "https://id.example.org/.well-known/openid-configuration",
}


def test_require_login__configured_and_signed_out_shows_only_the_login_button(
    app: AppTest,
) -> None:
    app.secrets["auth"] = AUTH
    app.run()
    assert not app.exception
    assert [b.label for b in app.button] == ["Log in"]
    assert not app.metric  # the Project page did not render
    assert not app.sidebar.text_input  # nor the name box


def test_require_login__signed_in_sees_the_app_and_a_logout_button(
    app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    import streamlit as st

    class _User(dict):  # what st.user looks like after st.login
        pass

    monkeypatch.setattr(st, "user", _User(is_logged_in=True, email="ada@lab.org"))
    app.secrets["auth"] = AUTH
    app.run()
    assert not app.exception
    assert {m.label for m in app.metric} >= {"Samples", "Labeled"}
    assert "Log out" in [b.label for b in app.sidebar.button]


def test_require_login__not_configured_keeps_the_typed_name(app: AppTest) -> None:
    app.run()
    assert not app.exception
    assert app.sidebar.text_input[0].label == "Your name"
