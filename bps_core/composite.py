"""A microscopist's view of one nucleus: FITC and DAPI in colour, the target's MASK outline.

Each channel is windowed on its own (``images.to_display``: percentiles or a min/max range,
and gamma), tinted with its colour and added; the outline of the target nucleus (the MASK
label equal to the object number in the file name, never ``mask > 0``) is drawn just outside
it, so no nuclear pixel (no focus at the edge) is hidden. Foci outside the line belong to a
neighbour or to debris. Partners that are absent or unreadable are left out, with a note.

This is the view of ImageJ's "Composite" mode and CellProfiler Analyst's image viewer: one
colour per channel, each with its own contrast, each switchable.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from bps_core import bps
from bps_core.errors import SettingsError
from bps_core.images import (
    DEFAULT_LIMITS,
    DecodeLimits,
    DisplayWindow,
    encode_png,
    to_display,
)
from bps_core.partners import Partner, read_partner
from bps_core.storage.base import DataSource

FITC_COLOR = "#00ff00"
DAPI_COLOR = "#0000ff"
OUTLINE_COLOR = "#ff00ff"
#: DAPI fills the nucleus evenly: clip a little higher than FITC, whose foci are sparse.
DAPI_WINDOW = DisplayWindow(mode="auto", low_pct=1.0, high_pct=99.8)
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_OUTLINE_WIDTH = 8


def hex_rgb(color: str) -> tuple[int, int, int]:
    """The red, green and blue of a ``#rrggbb`` colour, 0-255 each.

    Raises:
        SettingsError: ``color`` is not ``#`` and six hexadecimal digits.
    """
    if not isinstance(color, str) or not _HEX.match(color):
        raise SettingsError(f"colour {color!r}: give it as #rrggbb, e.g. {FITC_COLOR}")
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def _check_window(where: str, window: DisplayWindow) -> None:
    try:
        window.validate()
    except ValueError as exc:
        raise SettingsError(f"{where} window: {exc}") from None


@dataclass(frozen=True)
class ChannelStyle:
    """How one intensity channel is drawn.

    Attributes:
        show: Draw the channel at all.
        color: Its ``#rrggbb`` tint; white intensity maps to this colour.
        window: Its display window (percentiles or min/max, and gamma).

    Raises:
        SettingsError: A colour that is not ``#rrggbb``, or an invalid window.
    """

    show: bool = True
    color: str = FITC_COLOR
    window: DisplayWindow = field(default_factory=DisplayWindow)

    def __post_init__(self) -> None:
        hex_rgb(self.color)
        _check_window("channel", self.window)


@dataclass(frozen=True)
class OutlineStyle:
    """How the target nucleus's MASK outline is drawn.

    Attributes:
        show: Draw the outline at all.
        color: Its ``#rrggbb`` colour.
        width: Line width in pixels of the drawn image, 1 to ``MAX_OUTLINE_WIDTH``.

    Raises:
        SettingsError: A colour that is not ``#rrggbb``, or a width out of range.
    """

    show: bool = True
    color: str = OUTLINE_COLOR
    width: int = 2

    def __post_init__(self) -> None:
        hex_rgb(self.color)
        if isinstance(self.width, bool) or not isinstance(self.width, int):
            raise SettingsError(f"outline width must be a whole number, got {self.width!r}")
        if not 1 <= self.width <= MAX_OUTLINE_WIDTH:
            raise SettingsError(
                f"outline width must be in 1..{MAX_OUTLINE_WIDTH}, got {self.width}"
            )


@dataclass(frozen=True)
class CompositeStyle:
    """The three layers of a nucleus view: FITC, DAPI and the target's outline.

    Attributes:
        fitc: The FITC (53BP1) channel, green by default.
        dapi: The DAPI (nuclear stain) channel, blue by default.
        outline: The target nucleus's MASK outline, magenta by default.
    """

    fitc: ChannelStyle = field(default_factory=ChannelStyle)
    dapi: ChannelStyle = field(
        default_factory=lambda: ChannelStyle(color=DAPI_COLOR, window=DAPI_WINDOW)
    )
    outline: OutlineStyle = field(default_factory=OutlineStyle)

    def to_dict(self) -> dict[str, Any]:
        """The style as plain JSON-safe values (``from_dict`` reads it back)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> CompositeStyle:
        """Rebuilds (and so re-checks) a style written by ``to_dict``.

        Raises:
            SettingsError: A missing, unknown or invalid field.
        """
        try:
            return cls(_channel(doc["fitc"]), _channel(doc["dapi"]), OutlineStyle(**doc["outline"]))
        except SettingsError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise SettingsError(f"nucleus view style is incomplete or malformed ({exc})") from None


def _channel(doc: dict[str, Any]) -> ChannelStyle:
    return ChannelStyle(**{**doc, "window": DisplayWindow(**doc["window"])})


def outline(region: NDArray[np.bool_], width: int = 1) -> NDArray[np.bool_]:
    """The ring of pixels just outside ``region``, ``width`` pixels thick (8-connected).

    Args:
        region: A boolean image of the object.
        width: Ring thickness in pixels.

    Returns:
        A boolean image, True on the ring; never True inside ``region``.
    """
    grown = region.copy()
    for _ in range(width):
        padded = np.pad(grown, 1)
        grown = np.zeros_like(grown)
        for dy in (0, 1, 2):
            for dx in (0, 1, 2):
                grown |= padded[dy : dy + region.shape[0], dx : dx + region.shape[1]]
    ring: NDArray[np.bool_] = grown & ~region
    return ring


def _out_size(h: int, w: int, size: int | None) -> tuple[int, int]:
    if size is None:
        return h, w
    scale = size / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def _resized(disp: NDArray[np.uint8], hw: tuple[int, int]) -> NDArray[np.float32]:
    if disp.shape[:2] != hw:
        disp = np.asarray(Image.fromarray(disp).resize((hw[1], hw[0]), Image.Resampling.BILINEAR))
    return disp.astype(np.float32) / 255.0


def compose(
    fitc: NDArray[Any],
    *,
    dapi: NDArray[Any] | None = None,
    mask: NDArray[Any] | None = None,
    target: int | None = None,
    style: CompositeStyle | None = None,
    size: int | None = None,
) -> NDArray[np.uint8]:
    """The composite RGB image of one nucleus.

    Args:
        fitc: The FITC crop, (H, W); a colour crop (H, W, 3|4) is drawn as stored (no tint).
        dapi: The DAPI crop of the same (H, W), or None.
        mask: The instance-label MASK of the same (H, W), or None.
        target: The target nucleus's label in ``mask`` (the object number of the file name).
        style: Which layers to draw and how; the default ``CompositeStyle()`` when None.
        size: The longer side of the result in pixels (aspect kept); None keeps (H, W). The
            outline is traced at this size, so it stays a crisp line of ``width`` pixels.

    Returns:
        A uint8 array of shape (h, w, 3).

    Raises:
        ValueError: ``dapi`` or ``mask`` differs in shape from ``fitc``.
    """
    style = style or CompositeStyle()
    h, w = fitc.shape[:2]
    for name, arr in (("DAPI", dapi), ("MASK", mask)):
        if arr is not None and arr.shape[:2] != (h, w):
            raise ValueError(f"{name} shape {arr.shape} differs from the FITC shape {fitc.shape}")
    hw = _out_size(h, w, size)
    acc = np.zeros((*hw, 3), dtype=np.float32)
    if style.fitc.show:
        disp = to_display(fitc, style.fitc.window)
        if disp.ndim == 3:
            acc += _resized(disp, hw)
        else:
            acc += _resized(disp, hw)[..., None] * (np.asarray(hex_rgb(style.fitc.color)) / 255.0)
    if dapi is not None and style.dapi.show:
        tint = np.asarray(hex_rgb(style.dapi.color)) / 255.0
        acc += _resized(to_display(dapi, style.dapi.window), hw)[..., None] * tint
    np.clip(acc, 0.0, 1.0, out=acc)
    out = (acc * 255.0 + 0.5).astype(np.uint8)
    if mask is not None and target is not None and style.outline.show:
        region = np.asarray(mask) == target
        if region.shape != hw:  # resampled smoothly, then cut at half: no pixel staircase
            scaled = Image.fromarray(region.astype(np.uint8) * 255).resize(
                (hw[1], hw[0]), Image.Resampling.BILINEAR
            )
            region = np.asarray(scaled) >= 128
        out[outline(region, style.outline.width)] = hex_rgb(style.outline.color)
    return out


@dataclass(frozen=True)
class NucleusView:
    """A drawn nucleus view and what it lacks.

    Attributes:
        png: PNG bytes of the composite.
        notes: Short lines saying which partner is absent or unusable and why (empty when
            FITC, DAPI and the MASK outline are all there).
        drawn: The layers drawn, e.g. ``("FITC", "DAPI", "MASK outline")``.
        passing: True when a partner could not be read now (a network or permission
            failure, not the file's fault): a cache should not keep this view.
    """

    png: bytes
    notes: tuple[str, ...] = ()
    drawn: tuple[str, ...] = ()
    passing: bool = False


def _usable(part: Partner, shape: tuple[int, ...]) -> tuple[NDArray[Any] | None, str]:
    """The partner's image when it fits the crop, else None and the note saying why."""
    what = "DAPI" if part.channel == "DAPI" else "MASK outline"
    if part.image is None:
        return None, f"No {what}: {part.name or 'partner'} {part.problem}."
    if part.image.shape[:2] != shape[:2]:
        got = "x".join(map(str, part.image.shape[:2]))
        want = "x".join(map(str, shape[:2]))
        return None, f"No {what}: {part.name} is {got} px, the FITC crop {want} px."
    return part.image, ""


def nucleus_view(
    fitc: NDArray[Any],
    relpath: str,
    source: DataSource,
    *,
    sibling: DataSource | None = None,
    style: CompositeStyle | None = None,
    size: int | None = None,
    limits: DecodeLimits = DEFAULT_LIMITS,
) -> NucleusView:
    """The composite of a decoded FITC crop with its partners, read from its datasource.

    Partners are found and decoded by ``partners.read_partner`` (the same decode limits as
    every image); a partner that is absent, unreadable or of another shape is left out and
    named in ``notes``. Switched-off layers are not read at all.

    Args:
        fitc: The decoded FITC crop.
        relpath: Its key in ``source`` (a BPS file name gives the partners and the target).
        source: The crop's datasource.
        sibling: The ``DAPI_MASK_images`` datasource beside it (``partners.sibling_config``).
        style: Layers, colours and windows; the default ``CompositeStyle()`` when None.
        size: The longer side of the image in pixels; None keeps the crop's size.
        limits: Decode limits for the partners.

    Returns:
        The PNG, the notes and the layers drawn.
    """
    style = style or CompositeStyle()
    parsed = bps.parse_filename(relpath)
    notes: list[str] = []
    dapi = mask = None
    passing = False
    if parsed is None:
        if style.dapi.show or style.outline.show:
            notes.append("No DAPI or MASK: the file name does not follow the BPS grammar.")
    elif fitc.ndim != 2:
        notes.append("No DAPI or MASK overlay: the crop is a colour image.")
    else:
        if style.dapi.show:
            part = read_partner(relpath, "DAPI", source, sibling, limits=limits)
            passing |= part.passing
            dapi, note = _usable(part, fitc.shape)
            notes += [note] if note else []
        if style.outline.show:
            part = read_partner(relpath, "MASK", source, sibling, limits=limits)
            passing |= part.passing
            mask, note = _usable(part, fitc.shape)
            notes += [note] if note else []
            if mask is not None and not (np.asarray(mask) == parsed.object).any():
                notes.append(f"No MASK outline: {part.name} holds no label {parsed.object}.")
                mask = None
    drawn = tuple(name for name, on in (("FITC", style.fitc.show), ("DAPI", dapi is not None),
                                         ("MASK outline", mask is not None)) if on)  # fmt: skip
    rgb = compose(
        fitc,
        dapi=dapi,
        mask=mask,
        target=parsed.object if parsed is not None else None,
        style=style,
        size=size,
    )
    # zlib level 1: a 512-pixel view encodes in about 17 ms instead of 63 ms at the default
    # level, for about a third more bytes (150 kB instead of 115 kB); one is made per queue key
    # press, on the server's cores the browser shares on one machine (issue 20).
    return NucleusView(encode_png(rgb, compress_level=1), tuple(notes), drawn, passing)
