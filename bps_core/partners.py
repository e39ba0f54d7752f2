"""The DAPI and MASK partners of a BPS FITC crop: where they lie, and reading them safely.

In the NASA bucket a nucleus has three files with one stem: ``Microscopy/train/<stem>_proj.tif``
(FITC, 53BP1), ``Microscopy/DAPI_MASK_images/<stem>_DAPI.tif`` (the nuclear stain) and
``<stem>_MASK.tif`` (an instance-label image whose target nucleus is the label equal to the
object number in the name). The synthetic generator writes the same tree. A project's
datasource is usually ``Microscopy/train`` itself, so the partners lie in a sibling datasource
(``sibling_config``); a datasource rooted higher holds them under ``DAPI_MASK_images/``; a flat
folder may hold all three side by side. Partners may be absent: reading one never raises, it
says what is missing instead.
"""

from __future__ import annotations

import dataclasses
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from numpy.typing import NDArray

from bps_core import bps
from bps_core.errors import DatasourceError, ImageDecodeError
from bps_core.images import DEFAULT_LIMITS, DecodeLimits, decode_image
from bps_core.storage.base import DataSource, DatasourceConfig

#: The partner channels of a FITC crop, as the file names spell them.
PARTNER_CHANNELS = ("DAPI", "MASK")
_TRAIN_FOLDER = posixpath.basename(bps.TRAIN_PREFIX.rstrip("/"))  # "train"


def partner_name(relpath: str, channel: str) -> str | None:
    """The file name of a crop's partner in ``channel``, or None for a name outside the grammar.

    The stem keeps the sample's own spelling (the grammar ignores case, a store may not).

    Args:
        relpath: The FITC crop's path (``.../<stem>_proj.tif``) or bare file name.
        channel: ``DAPI`` or ``MASK``.

    Returns:
        ``<stem>_DAPI.tif`` or ``<stem>_MASK.tif``; None when ``relpath`` is not a BPS name.

    Raises:
        ValueError: ``channel`` is not one of ``PARTNER_CHANNELS``.
    """
    if channel not in PARTNER_CHANNELS:
        raise ValueError(f"channel must be one of {', '.join(PARTNER_CHANNELS)}, got {channel!r}")
    base = posixpath.basename(relpath.replace("\\", "/"))
    if bps.parse_filename(base) is None:
        return None
    return f"{base[: base.rfind('_')]}_{channel}.tif"


def partner_keys(relpath: str, channel: str) -> tuple[str, ...]:
    """Where a crop's partner may lie in the crop's own datasource, most likely first.

    Beside the crop (a flat folder), then in ``DAPI_MASK_images/`` beside a ``train/`` folder
    that holds the crop (a datasource rooted at ``Microscopy/`` or above).

    Args:
        relpath: The FITC crop's key in its datasource.
        channel: ``DAPI`` or ``MASK``.

    Returns:
        Candidate keys; empty when ``relpath`` is not a BPS name.
    """
    name = partner_name(relpath, channel)
    if name is None:
        return ()
    folder = posixpath.dirname(relpath)
    keys = [posixpath.join(folder, name)]
    if posixpath.basename(folder).lower() == _TRAIN_FOLDER:
        keys.append(posixpath.join(posixpath.dirname(folder), bps.DAPI_MASK_FOLDER, name))
    return tuple(keys)


def sibling_config(config: DatasourceConfig) -> DatasourceConfig | None:
    """The ``DAPI_MASK_images`` datasource beside a datasource rooted at a ``train`` folder.

    Same kind, bucket and credentials; only the local path or the S3 prefix differs, so the
    partners are read with the same access as the crops.

    Args:
        config: The project's input datasource.

    Returns:
        The sibling's configuration; None when the root is not a ``train`` folder, or (local)
        when no ``DAPI_MASK_images`` folder lies beside it.
    """
    if config.kind == "local":
        root = Path(config.path)
        sibling = root.parent / bps.DAPI_MASK_FOLDER
        if root.name.lower() != _TRAIN_FOLDER or not sibling.is_dir():
            return None
        return dataclasses.replace(config, path=str(sibling), purpose="input")
    prefix = config.prefix.rstrip("/")
    if posixpath.basename(prefix).lower() != _TRAIN_FOLDER:
        return None
    parent = posixpath.dirname(prefix)
    new_prefix = f"{parent}/{bps.DAPI_MASK_FOLDER}/" if parent else f"{bps.DAPI_MASK_FOLDER}/"
    return dataclasses.replace(config, prefix=new_prefix, purpose="input")


@dataclass(frozen=True)
class Partner:
    """One partner of a crop as read: the image, or why there is none.

    Attributes:
        channel: ``DAPI`` or ``MASK``.
        name: The file name looked for (``<stem>_DAPI.tif``), or "" for a name outside the
            BPS grammar.
        image: The decoded image (stored dtype), or None.
        problem: "" when read; else a short reason such as ``not found`` or
            ``unreadable: <reason>``.
        passing: True when the datasource could not be asked or read now (network,
            permissions): the partner may well be there on the next try.
    """

    channel: str
    name: str
    image: NDArray[Any] | None = None
    problem: str = ""
    passing: bool = False

    @property
    def found(self) -> bool:
        """True when the image was read and decoded."""
        return self.image is not None


def read_partner(
    relpath: str,
    channel: str,
    source: DataSource,
    sibling: DataSource | None = None,
    *,
    limits: DecodeLimits = DEFAULT_LIMITS,
) -> Partner:
    """Finds and decodes one partner of a crop; never raises for a missing or bad file.

    Looks in ``sibling`` (the ``sibling_config`` datasource) first, then at ``partner_keys``
    in ``source``, and decodes the first that exists through the same safe
    path as every image (``decode_image`` with ``limits``).

    Args:
        relpath: The FITC crop's key in ``source``.
        channel: ``DAPI`` or ``MASK``.
        source: The crop's datasource.
        sibling: The ``DAPI_MASK_images`` datasource beside it, if any.
        limits: Decode limits.

    Returns:
        The partner; ``problem`` says why it has no image (not a BPS name, not found, could not
        be listed or read, not decodable, not a single-channel image).
    """
    name = partner_name(relpath, channel)
    if name is None:
        return Partner(channel, "", problem="the file name does not follow the BPS grammar")
    places: list[tuple[DataSource, str]] = []
    if sibling is not None:  # the bucket's own layout: looked at first, one request saved
        places.append((sibling, posixpath.join(posixpath.dirname(relpath), name)))
        if posixpath.dirname(relpath):
            places.append((sibling, name))
    places += [(source, k) for k in partner_keys(relpath, channel)]
    for reader, key in places:
        try:
            if not reader.exists(key):
                continue
            image = decode_image(reader.read_bytes(key), key, limits=limits)
        except ImageDecodeError as exc:
            return Partner(channel, name, problem=f"unreadable: {exc.reason}")
        except DatasourceError as exc:
            return Partner(channel, name, problem=f"could not be read now ({exc})", passing=True)
        if image.ndim != 2:
            return Partner(channel, name, problem=f"not a single-channel image {image.shape}")
        return Partner(channel, name, image)
    return Partner(channel, name, problem="not found")
