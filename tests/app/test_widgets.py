"""The number box of ``bps_app.widgets``: a value typed out of its range is kept, shown and
refused, never swapped for the last valid one as Streamlit's own min/max do; the images'
inline ``data:`` URIs."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from bps_app.safe_text import md
from bps_app.widgets import png_src, range_error


class TestPngSrc:
    def test_png_src__a_data_uri_holding_the_same_bytes(self) -> None:
        buf = io.BytesIO()
        pixels = np.arange(12 * 7 * 3, dtype=np.uint8).reshape(7, 12, 3)
        Image.fromarray(pixels).save(buf, format="PNG")
        png = buf.getvalue()
        src = png_src(png)
        head, _, body = src.partition(",")
        assert head == "data:image/png;base64"
        assert base64.b64decode(body, validate=True) == png  # no URL to expire, no re-encode
        with Image.open(io.BytesIO(base64.b64decode(body))) as img:
            assert img.size == (12, 7)
            assert np.array_equal(np.asarray(img), pixels)


class TestRangeError:
    def test_range_error__names_the_box_the_value_and_the_range(self) -> None:
        assert range_error("How many", 5000, 1, 1000) == (
            "How many: 5,000 is more than 1,000; enter a number from 1 to 1,000."
        )
        assert range_error("How many", 0, 1, 1000) == (
            "How many: 0 is less than 1; enter a number from 1 to 1,000."
        )

    def test_range_error__says_what_the_bound_means_when_told(self) -> None:
        assert range_error("Page", 99, 1, 4, high_means="the 4 pages") == (
            "Page: 99 is more than the 4 pages; enter a number from 1 to 4."
        )

    def test_range_error__floats_and_one_sided_ranges(self) -> None:
        assert range_error("Share", 1.5, 0.01, 1.0) == (
            "Share: 1.5 is more than 1; enter a number from 0.01 to 1."
        )
        assert range_error("Seed", -1, 0, None) == "Seed: -1 is less than 0; enter 0 or more."
        assert range_error("Cap", 11, None, 10) == "Cap: 11 is more than 10; enter at most 10."
        assert range_error("Share", float("nan"), 0.0, 1.0) == (
            "Share: nan is not a number; enter a number from 0 to 1."
        )

    @pytest.mark.parametrize("value", [1, 1000, 500, None])
    def test_range_error__in_range_or_empty_is_no_error(self, value: int | None) -> None:
        assert range_error("How many", value, 1, 1000) == ""

    def test_range_error__an_empty_box_is_an_error_when_it_must_hold_a_number(self) -> None:
        assert range_error("Duration", None, 900, 43_200, empty_ok=False) == (
            "Duration is empty; enter a number from 900 to 43,200."
        )


def _number_app() -> None:
    import streamlit as st

    from bps_app import widgets

    pages = st.session_state.get("pages", 10)
    n = widgets.number_field("How many", low=1, high=1000, value=48, key="n")
    share = widgets.number_field("Share", low=0.0, high=1.0, value=0.5, step=0.05, key="share")
    seed = widgets.number_field("Seed", low=0, high=None, value=None, key="seed")
    page = widgets.number_field("Page", low=1, high=pages, value=1, key="page")
    st.session_state.ok = widgets.check_numbers(n, share, seed, page)
    st.session_state.got = (n.value, share.value, seed.value, page.value)


class TestNumberField:
    def test_number_field__a_value_typed_out_of_range_is_kept_shown_and_refused(self) -> None:
        app = AppTest.from_function(_number_app).run()
        assert app.session_state.got == (48, 0.5, None, 1)
        assert app.session_state.ok
        assert not app.error
        app.number_input(key="n").set_value(5000).run()
        assert app.session_state.got == (5000, 0.5, None, 1)  # not 48, the last valid one
        assert not app.session_state.ok
        assert [e.value for e in app.error] == [
            md("How many: 5,000 is more than 1,000; enter a number from 1 to 1,000.")
        ]
        app.number_input(key="n").set_value(7).run()
        assert app.session_state.ok
        assert not app.error

    def test_number_field__keeps_integer_and_float_boxes_and_no_bounds_reach_streamlit(
        self,
    ) -> None:
        app = AppTest.from_function(_number_app).run()
        app.number_input(key="seed").set_value(12).run()
        app.number_input(key="share").set_value(1.5).run()
        n, share, seed, _ = app.session_state.got
        assert (type(n), type(share), type(seed)) == (int, float, int)
        assert app.number_input(key="share").step == 0.05
        assert all(b.min is None and b.max is None for b in app.number_input)
        assert md("Share: 1.5 is more than 1; enter a number from 0 to 1.") in [
            e.value for e in app.error
        ]

    def test_number_field__a_range_that_moves_resets_a_value_outside_it_silently(self) -> None:
        app = AppTest.from_function(_number_app).run()
        app.number_input(key="page").set_value(8).run()
        assert app.session_state.got[3] == 8
        app.session_state.pages = 3  # e.g. a filter left 3 pages: page 8 is gone, not typed
        app.run()
        assert app.session_state.got[3] == 1
        assert app.session_state.ok
        assert app.number_input(key="page").value == 1
        app.number_input(key="page").set_value(9).run()  # typed: refused, and said
        assert app.session_state.got[3] == 9
        assert not app.session_state.ok
