"""The number box of ``bps_app.widgets``: a value typed out of its range is kept, shown and
refused, never swapped for the last valid one as Streamlit's own min/max do; an integer box
refuses a value that is not whole, never truncates it; the images' inline ``data:`` URIs."""

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


MAX_EXACT_INT = 2**53 - 1  # the largest whole number a browser's number box holds exactly


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

    def test_range_error__a_value_that_is_not_whole_in_a_whole_number_box(self) -> None:
        assert range_error("Seed", 3.7, 0, 2**31 - 1, whole=True) == (
            "Seed: 3.7 is not a whole number; enter a whole number from 0 to 2,147,483,647."
        )
        assert range_error("Seed", 3.7, 0, None, whole=True) == (
            "Seed: 3.7 is not a whole number; enter a whole number of 0 or more."
        )
        assert range_error("Cap", -0.5, None, 10, whole=True) == (
            "Cap: -0.5 is not a whole number; enter a whole number of at most 10."
        )
        assert range_error("Seed", 3.7, 0, 2**31 - 1) == ""  # a float box takes it

    @pytest.mark.parametrize("value", [3.0, -0.0, 1000, 1e3])
    def test_range_error__a_whole_float_is_a_whole_number(self, value: float) -> None:
        assert range_error("How many", value, -1, 1000, whole=True) == ""

    def test_range_error__out_of_range_says_so_before_not_whole(self) -> None:
        assert range_error("How many", 1e9 + 0.5, 1, 1000, whole=True) == (
            "How many: 1000000000.5 is more than 1,000; enter a number from 1 to 1,000."
        )

    def test_range_error__names_large_and_long_values_as_the_box_shows_them(self) -> None:
        """JavaScript writes a whole number out in full below 1e21 and any other number in its
        shortest round-trip form, as Python's repr does: the error names what the box shows."""
        assert range_error("Batch", 1e20, 1, 1000) == (
            "Batch: 100,000,000,000,000,000,000 is more than 1,000; enter a number from 1 to 1,000."
        )
        assert range_error("Seed", 2147483646.5, 0, 2**31 - 1, whole=True) == (
            "Seed: 2147483646.5 is not a whole number; enter a whole number from 0 to "
            "2,147,483,647."
        )
        assert range_error("Batch", 1e21, 1, 1000).startswith("Batch: 1e+21 is more than")


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

    def test_number_field__an_integer_box_is_a_float_box_showing_whole_numbers(self) -> None:
        """Streamlit's integer box parses its text with parseInt ("1e9" -> 1, "3.7" -> 3):
        integer boxes are float boxes, shown with %g (sprintf.js: JavaScript's String(x), so
        48 not "48.00"), stepping by 1."""
        from streamlit.proto.NumberInput_pb2 import NumberInput as NumberInputProto

        app = AppTest.from_function(_number_app).run()
        for key in ("n", "seed", "page"):
            box = app.number_input(key=key)
            assert box.proto.data_type == NumberInputProto.FLOAT
            assert box.proto.format == "%g"
            assert box.step == 1
        assert app.number_input(key="share").proto.format == "%0.2f"  # float boxes: unchanged

    @pytest.mark.parametrize(
        ("key", "label"), [("n", "How many"), ("seed", "Seed"), ("page", "Page")]
    )
    def test_number_field__a_value_that_is_not_whole_is_kept_shown_and_refused(
        self, key: str, label: str
    ) -> None:
        app = AppTest.from_function(_number_app).run()
        app.number_input(key=key).set_value(3.7).run()
        assert not app.session_state.ok
        assert 3.7 in app.session_state.got  # not 3
        high = {"n": "1,000", "seed": f"{MAX_EXACT_INT:,}", "page": "10"}[key]
        low = {"n": "1", "seed": "0", "page": "1"}[key]
        assert [e.value for e in app.error] == [
            md(f"{label}: 3.7 is not a whole number; enter a whole number from {low} to {high}.")
        ]
        app.number_input(key=key).set_value(4.0).run()
        assert app.session_state.ok
        assert not app.error

    def test_number_field__whole_values_come_back_as_python_ints(self) -> None:
        app = AppTest.from_function(_number_app).run()
        assert [type(v) for v in app.session_state.got] == [int, float, type(None), int]
        app.number_input(key="seed").set_value(-0.0).run()
        app.number_input(key="n").set_value(7.0).run()
        n, _, seed, _ = app.session_state.got
        assert (n, seed) == (7, 0)
        assert (type(n), type(seed)) == (int, int)
        assert app.session_state.ok
        app.number_input(key="seed").set_value(2**31 - 1).run()
        assert app.session_state.got[2] == 2**31 - 1

    def test_number_field__an_unbounded_integer_box_stops_where_the_browser_rounds(
        self,
    ) -> None:
        """A box holds a JavaScript double: 2**53 + 1 typed arrives as 2**53, so a seed box
        with no upper bound refuses what it cannot hold exactly, as Streamlit's did."""
        app = AppTest.from_function(_number_app).run()
        app.number_input(key="seed").set_value(float(MAX_EXACT_INT)).run()
        assert app.session_state.ok
        app.number_input(key="seed").set_value(float(2**53)).run()
        assert not app.session_state.ok
        assert [e.value for e in app.error] == [
            md(f"Seed: {2**53:,} is more than {MAX_EXACT_INT:,}; enter a number from 0 to "
               f"{MAX_EXACT_INT:,}.")
        ]  # fmt: skip


def test_no_page_draws_an_integer_number_input_of_its_own() -> None:
    """An integer ``st.number_input`` parses its text with parseInt ("1e9" -> 1): integer boxes
    go through ``widgets.number_field``, which draws them as float boxes and checks wholeness."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    found = []
    for path in [*root.glob("pages/*.py"), *root.glob("bps_app/*.py"), root / "app.py"]:
        if path.name == "widgets.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr != "number_input":
                continue
            numbers = [*node.args[1:5], *(k.value for k in node.keywords if k.arg in
                       ("min_value", "max_value", "value", "step"))]  # fmt: skip
            if not any(isinstance(n, ast.Constant) and type(n.value) is float for n in numbers):
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    assert found == []
