"""A corpus of hostile and unusual image files, generated on demand (nothing is checked in).

``write_corpus(folder)`` writes every file and returns {name: expectation}: ``ok`` (must
decode), ``error`` (must raise ImageDecodeError naming the file) or ``any`` (either, as long
as it is one of the two). A symlink pointing outside the folder is added too (``link``): a
listing must not follow it.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

RNG = np.random.default_rng(7)
U16 = RNG.integers(100, 4000, size=(40, 52)).astype(np.uint16)


def tiff_bytes(arr: np.ndarray, **kw: object) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, arr, **kw)
    return buf.getvalue()


def pil_bytes(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def huge_tiff_header(width: int, height: int) -> bytes:
    """A valid TIFF whose only IFD declares width x height uint8 pixels (and holds 16 bytes)."""
    entries = [
        (256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1),
        (262, 3, 1, 1), (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, 16),
    ]  # fmt: skip
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        ifd += struct.pack("<HHII", tag, typ, count, value)
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8 + 16) + b"\x00" * 16 + ifd


def png_bomb(width: int, height: int) -> bytes:
    """A PNG declaring width x height whose data would inflate to gigabytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1_000_000, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _gif_huge_screen() -> bytes:
    gif = bytearray(pil_bytes(Image.new("P", (4, 4)), "GIF"))
    gif[6:10] = struct.pack("<HH", 65535, 65535)  # logical screen 65535 x 65535
    return bytes(gif)


def _cases() -> dict[str, tuple[str, Callable[[], bytes]]]:
    gray8 = (U16 // 16).astype(np.uint8)
    nan_inf = U16.astype(np.float32)
    nan_inf[0, :5] = [np.nan, np.inf, -np.inf, np.nan, 1e38]
    good = {
        "u16.tif": lambda: tiff_bytes(U16),
        "u8.tif": lambda: tiff_bytes(gray8),
        "float_nan_inf.tif": lambda: tiff_bytes(nan_inf),
        "big_endian.tif": lambda: tiff_bytes(U16.astype(">u2"), byteorder=">"),
        "stack_3d.tif": lambda: tiff_bytes(np.stack([U16, U16 // 2, U16 // 3])),
        "rgb.tif": lambda: tiff_bytes(RNG.integers(0, 255, (20, 30, 3), dtype=np.uint8),
                                 photometric="rgb"),
        "zlib.tif": lambda: tiff_bytes(U16, compression="zlib"),
        "one_pixel.tif": lambda: tiff_bytes(U16[:1, :1]),
        "palette.gif": lambda: pil_bytes(Image.fromarray(gray8).convert("P"), "GIF"),
        "one_bit.png": lambda: pil_bytes(Image.fromarray(gray8 > 100), "PNG"),
        "one_bit.tif": lambda: pil_bytes(Image.fromarray(gray8 > 100), "TIFF"),
        "cmyk.jpg": lambda: pil_bytes(Image.new("CMYK", (24, 16), (10, 20, 30, 40)), "JPEG"),
        "gray.jpg": lambda: pil_bytes(Image.fromarray(gray8), "JPEG"),
        "rgba.png": lambda: pil_bytes(Image.new("RGBA", (10, 8), (1, 2, 3, 4)), "PNG"),
        "u16.png": lambda: pil_bytes(Image.fromarray(U16), "PNG"),
        "gray.bmp": lambda: pil_bytes(Image.fromarray(gray8), "BMP"),
    }  # fmt: skip
    bad = {
        "empty.tif": lambda: b"",
        "empty.png": lambda: b"",
        "truncated.tif": lambda: tiff_bytes(U16)[:300],
        "header_only.tif": lambda: tiff_bytes(U16)[:12],
        "zlib_cut.tif": lambda: tiff_bytes(U16, compression="zlib")[:400],
        "truncated.png": lambda: pil_bytes(Image.fromarray(gray8), "PNG")[:120],
        "truncated.jpg": lambda: pil_bytes(Image.fromarray(gray8), "JPEG")[:200],
        "random.tif": lambda: RNG.bytes(4096),
        "random.png": lambda: RNG.bytes(4096),
        "random.jpg": lambda: RNG.bytes(4096),
        "random.gif": lambda: RNG.bytes(4096),
        "random.bmp": lambda: RNG.bytes(4096),
        "text.tif": lambda: b"hello, I am not an image\n" * 10,
        "html.png": lambda: b"<html><body>404 Not Found</body></html>",
        "zip.tif": lambda: b"PK\x03\x04" + RNG.bytes(500),
        "nul_bytes.tif": lambda: b"\x00" * 1024,
        "png_named_tif.tif": lambda: pil_bytes(Image.fromarray(gray8), "PNG"),
        "jpeg_named_png.png": lambda: pil_bytes(Image.fromarray(gray8), "JPEG"),
        "huge_header.tif": lambda: huge_tiff_header(100_000, 100_000),
        "wide_header.tif": lambda: huge_tiff_header(2_000_000_000, 1),
        "png_bomb.png": lambda: png_bomb(60_000, 60_000),
        "png_bomb_8000.png": lambda: png_bomb(8_000, 8_000),
        "tiff_magic_only.tif": lambda: b"II*\x00",
        "bad_ifd_offset.tif": lambda: b"II*\x00" + struct.pack("<I", 10**9) + b"\x00" * 64,
        "bigtiff_header_only.tif": lambda: b"II+\x00\x08\x00\x00\x00" + b"\xff" * 8,
    }  # fmt: skip
    either = {
        "stack_4d.tif": lambda: tiff_bytes(RNG.integers(0, 4000, (2, 3, 16, 20), dtype=np.uint16)),
        "gif_huge_screen.gif": _gif_huge_screen,
        "jpeg_bad_marker.jpg": lambda: pil_bytes(Image.fromarray(gray8), "JPEG")[:-60]
        + RNG.bytes(60),
        "planar_rgb.tif": lambda: tiff_bytes(RNG.integers(0, 4000, (3, 12, 14), dtype=np.uint16),
                                        photometric="rgb", planarconfig="separate"),
    }  # fmt: skip
    cases: dict[str, tuple[str, Callable[[], bytes]]] = {}
    for kind, group in (("ok", good), ("error", bad), ("any", either)):
        cases.update({name: (kind, make) for name, make in group.items()})
    return cases


def write_corpus(folder: Path) -> dict[str, str]:
    """Writes the corpus under ``folder``; returns {file name: ok | error | any | link}."""
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name, (kind, make) in _cases().items():
        (folder / name).write_bytes(make())
        expected[name] = kind
    outside = folder.parent / "outside_secret.tif"
    outside.write_bytes(tiff_bytes(U16))
    os.symlink(outside, folder / "link_outside.tif")
    expected["link_outside.tif"] = "link"
    return expected
