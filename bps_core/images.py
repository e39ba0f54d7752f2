"""Safe image decoding (png, jpeg, bmp, gif, tiff) and 16-bit display windowing.

Decoding keeps the stored dtype (uint8, uint16, float32, ...). Before any pixel is decoded,
the file size and the pixel count declared in the header are checked against limits, so a
decompression bomb or a TIFF that declares 100000 x 100000 pixels is refused without
allocating it. Every failure raises ``ImageDecodeError`` naming the file.
"""

from __future__ import annotations

import io
import math
import os
import struct
import warnings
import zlib
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import tifffile
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from bps_core.errors import ImageDecodeError

IMAGE_EXTENSIONS = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp", ".gif")
_EXT_FORMAT = {
    ".tif": "tiff",
    ".tiff": "tiff",
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".bmp": "bmp",
    ".gif": "gif",
}
_PIL_TO_NUMPY_MODES = {"L", "RGB", "RGBA", "I;16", "I;16B", "I;16L", "I", "F"}

Pages = Literal["first", "max"]


@dataclass(frozen=True)
class DecodeLimits:
    """Caps checked before decoding: file size, pixels per plane, and planes in a stack."""

    max_bytes: int = 256 * 1024 * 1024
    max_pixels: int = 50_000_000
    max_planes: int = 512


DEFAULT_LIMITS = DecodeLimits()


def is_image_name(name: str) -> bool:
    """True when the name has one of the supported image extensions (case-insensitive)."""
    return os.path.splitext(name)[1].lower() in _EXT_FORMAT


def format_for_name(name: str) -> str | None:
    """The image format an extension promises (``tiff``, ``png``, ...), or None."""
    return _EXT_FORMAT.get(os.path.splitext(name)[1].lower())


def sniff_format(head: bytes) -> str | None:
    """The image format from the first bytes, or None when it is not a supported one."""
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:2] == b"BM":
        return "bmp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def _check_pixels(name: str, shape: tuple[int, ...], limits: DecodeLimits) -> None:
    pixels = math.prod(shape)
    if pixels > limits.max_pixels:
        dims = " x ".join(str(d) for d in shape)
        raise ImageDecodeError(
            name,
            f"declares {dims} = {pixels:,} pixels, over the limit of {limits.max_pixels:,}; "
            "refusing to decode (crop or downsample it, or raise the limit)",
        )


def _native(arr: NDArray[np.generic]) -> NDArray[np.generic]:
    """Same values and kind, in native byte order (big-endian TIFFs decode to '>u2')."""
    if arr.dtype.byteorder not in ("=", "|") and arr.dtype.byteorder != (
        "<" if np.little_endian else ">"
    ):
        return arr.astype(arr.dtype.newbyteorder("="))
    return arr


def _decode_tiff(data: bytes, name: str, limits: DecodeLimits, pages: Pages) -> NDArray[Any]:
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        n_pages = len(tif.pages)
        if n_pages == 0:
            raise ImageDecodeError(name, "TIFF holds no image pages")
        first = tif.pages.first
        _check_pixels(name, tuple(int(d) for d in first.shape), limits)
        if pages == "first" or n_pages == 1:
            arr = first.asarray()
            if first.photometric == tifffile.PHOTOMETRIC.PALETTE and first.colormap is not None:
                cmap = np.asarray(first.colormap)
                arr = (cmap[:, arr].transpose(1, 2, 0) >> 8).astype(np.uint8)
            elif (
                first.photometric == tifffile.PHOTOMETRIC.RGB
                and arr.ndim == 3
                and arr.shape[0] in (3, 4)
                and arr.shape[-1] not in (3, 4)
            ):
                arr = np.moveaxis(arr, 0, -1)  # planar (separate) RGB to interleaved
            elif arr.ndim > 2 and not (arr.ndim == 3 and arr.shape[-1] in (3, 4)):
                # One page holding a volume (e.g. ImageJ hyperstacks): first plane or projection.
                planes = arr.reshape(-1, *arr.shape[-2:])
                arr = planes.max(axis=0) if pages == "max" else planes[0]
            return _native(arr)
        if n_pages > limits.max_planes:
            raise ImageDecodeError(
                name, f"stack of {n_pages} pages exceeds the limit of {limits.max_planes}"
            )
        out: NDArray[Any] | None = None
        for page in tif.pages:
            assert isinstance(page, tifffile.TiffPage)
            if tuple(page.shape) != tuple(first.shape):
                raise ImageDecodeError(name, "stack pages differ in shape; cannot project")
            plane = page.asarray()
            out = plane if out is None else np.maximum(out, plane)
        assert out is not None
        return _native(out)


def _decode_pil(data: bytes, name: str, limits: DecodeLimits) -> NDArray[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        im = Image.open(io.BytesIO(data))
        w, h = im.size
        _check_pixels(name, (h, w), limits)
        im.load()  # raises OSError on truncated data
        out: Image.Image = im
        if im.mode in ("1", "LA", "La"):
            out = im.convert("L")
        elif im.mode not in _PIL_TO_NUMPY_MODES:  # P, PA, CMYK, YCbCr, LAB, HSV, RGBa, ...
            out = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
        return np.asarray(out).copy()


def decode_image(
    data: bytes,
    name: str,
    *,
    limits: DecodeLimits = DEFAULT_LIMITS,
    pages: Pages = "first",
) -> NDArray[Any]:
    """Decodes image bytes into an array of shape (H, W) or (H, W, C) with the stored dtype.

    Args:
        data: The file's bytes.
        name: The file name, used in errors and to check that the content matches the extension.
        limits: Size caps checked before decoding.
        pages: For multi-page TIFFs, ``first`` page or ``max`` intensity projection of all pages.

    Raises:
        ImageDecodeError: The file is empty, too large, truncated, corrupt, not a supported
            format, or its content does not match its extension.
    """
    if len(data) == 0:
        raise ImageDecodeError(name, "empty file (0 bytes); re-export or remove it")
    if len(data) > limits.max_bytes:
        raise ImageDecodeError(
            name, f"file is {len(data):,} bytes, over the limit of {limits.max_bytes:,}"
        )
    fmt = sniff_format(data[:16])
    if fmt is None:
        raise ImageDecodeError(
            name, "not a supported image (png, jpeg, bmp, gif, tiff): unrecognised content"
        )
    expected = format_for_name(name)
    if expected is not None and expected != fmt:
        raise ImageDecodeError(
            name,
            f"content is {fmt.upper()} but the extension says {expected.upper()}; "
            f"rename the file to match its content",
        )
    try:
        if fmt == "tiff":
            arr = _decode_tiff(data, name, limits, pages)
        else:
            arr = _decode_pil(data, name, limits)
    except ImageDecodeError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(name, f"decompression bomb, refusing to decode ({exc})") from None
    except MemoryError:
        raise ImageDecodeError(name, "not enough memory to decode this image") from None
    except (
        tifffile.TiffFileError,
        UnidentifiedImageError,
        OSError,
        ValueError,
        EOFError,
        IndexError,
        KeyError,
        TypeError,
        struct.error,
        zlib.error,
        RuntimeError,
    ) as exc:
        raise ImageDecodeError(name, f"corrupt or truncated {fmt.upper()} ({exc})") from None
    if arr.ndim not in (2, 3) or arr.size == 0:
        raise ImageDecodeError(name, f"unsupported image shape {arr.shape}")
    return arr


@dataclass(frozen=True)
class DisplayWindow:
    """How raw intensities map to 8-bit display values.

    ``auto`` clips at the ``low_pct``/``high_pct`` percentiles of each image; ``manual`` uses
    ``vmin``/``vmax`` (the BPS convention is 400-4000). ``gamma`` < 1 brightens dim structure.
    """

    mode: Literal["auto", "manual"] = "auto"
    low_pct: float = 0.5
    high_pct: float = 99.5
    vmin: float = 400.0
    vmax: float = 4000.0
    gamma: float = 1.0

    def validate(self) -> None:
        """Checks the settings are usable (the constructor does not).

        Raises:
            ValueError: An unknown mode, percentiles out of order or outside 0-100, a manual
                ``vmin`` not below ``vmax``, or a gamma that is not positive.
        """
        if self.mode not in ("auto", "manual"):
            raise ValueError(f"mode must be 'auto' or 'manual', got {self.mode!r}")
        if not 0 <= self.low_pct < self.high_pct <= 100:
            raise ValueError("percentiles need 0 <= low_pct < high_pct <= 100")
        if self.mode == "manual" and not self.vmin < self.vmax:
            raise ValueError(f"vmin ({self.vmin}) must be below vmax ({self.vmax})")
        if not self.gamma > 0:
            raise ValueError(f"gamma must be positive, got {self.gamma}")


BPS_WINDOW = DisplayWindow(mode="manual", vmin=400.0, vmax=4000.0)


def window_limits(img: NDArray[Any], window: DisplayWindow) -> tuple[float, float]:
    """The (low, high) raw values that map to 0 and 255."""
    if window.mode == "manual":
        return float(window.vmin), float(window.vmax)
    values = img[np.isfinite(img)] if img.dtype.kind == "f" else img
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(values, [window.low_pct, window.high_pct])
    if hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi)


def to_display(img: NDArray[Any], window: DisplayWindow = DisplayWindow()) -> NDArray[np.uint8]:
    """An 8-bit image of shape (H, W) or (H, W, 3) for display; alpha is dropped."""
    window.validate()
    if img.ndim == 3:
        img = img[..., :3]
    lo, hi = window_limits(img, window)
    x = (img.astype(np.float32) - lo) / (hi - lo)
    x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=0.0)
    np.clip(x, 0.0, 1.0, out=x)
    if window.gamma != 1.0:
        np.power(x, window.gamma, out=x)
    out: NDArray[np.uint8] = (x * 255.0 + 0.5).astype(np.uint8)
    return out


def thumbnail(
    img: NDArray[Any], size: int = 128, window: DisplayWindow = DisplayWindow()
) -> NDArray[np.uint8]:
    """A display image whose longer side is ``size`` pixels; the aspect ratio is kept."""
    disp = to_display(img, window)
    h, w = disp.shape[:2]
    scale = size / max(h, w)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(disp).resize(new, Image.Resampling.BILINEAR))


def encode_png(img: NDArray[np.uint8], *, compress_level: int = 6) -> bytes:
    """PNG bytes of an 8-bit image; ``compress_level`` is zlib's (1: fastest, 9: smallest)."""
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", optimize=False, compress_level=compress_level)
    return buf.getvalue()


def thumbnail_png(
    img: NDArray[Any], size: int = 128, window: DisplayWindow = DisplayWindow()
) -> bytes:
    """PNG bytes of ``thumbnail(img, size, window)``."""
    return encode_png(thumbnail(img, size, window))
