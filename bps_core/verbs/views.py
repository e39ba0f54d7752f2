"""Verb: draw one sample as a microscopist sees it (FITC, DAPI and the target's MASK outline).

The app draws the same view through its cached readers (``bps_app.cache.nucleus_view``); this
verb serves every other front end and reads through the project's datasource.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from bps_core.composite import CompositeStyle, NucleusView, nucleus_view
from bps_core.errors import ImageDecodeError, SettingsError, UnknownSampleError
from bps_core.images import decode_image
from bps_core.partners import sibling_config
from bps_core.project.store import Project
from bps_core.settings import Settings, check_range
from bps_core.storage import open_source

#: The smallest and largest drawn side in pixels.
VIEW_SIZES = (32, 2048)


@dataclass(frozen=True)
class ViewSettings(Settings):
    """Which sample to draw, and how.

    Attributes:
        key: The sample's key (``<datasource id>:<relative path>``).
        style: Layers, colours and display windows (``composite.CompositeStyle``).
        size: The longer side of the drawn image in pixels; 0 keeps the crop's own size.

    Raises:
        SettingsError: An empty key, or a size out of range (the message names the field).
    """

    key: str
    style: CompositeStyle = field(default_factory=CompositeStyle)
    size: int = 512

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key.strip():
            raise SettingsError("key must name a sample, e.g. input:train/P242_..._proj.tif")
        if not isinstance(self.style, CompositeStyle):
            raise SettingsError(f"style must be a CompositeStyle, got {type(self.style).__name__}")
        if self.size != 0:
            check_range("size", self.size, *VIEW_SIZES)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Self:
        """Rebuilds settings stored by ``to_params`` (the style is nested).

        Raises:
            SettingsError: an unknown key, or a value its validation refuses.
        """
        style = params.get("style")
        rest = {k: v for k, v in params.items() if k != "style"}
        settings = super().from_params(rest)
        if style is None:
            return settings
        return cls(settings.key, CompositeStyle.from_dict(style), settings.size)


def view_nucleus(
    project: Project,
    settings: ViewSettings,
    progress: Callable[[float], None] | None = None,
) -> NucleusView:
    """Draws one sample with its DAPI and MASK partners from the project's datasource.

    Args:
        project: The open project.
        settings: The sample and the style.
        progress: Called with 1.0 when done.

    Returns:
        The PNG, the notes saying which partner is absent and why, and the layers drawn.

    Raises:
        UnknownSampleError: The project holds no sample ``settings.key``.
        ImageDecodeError: The sample's own file cannot be decoded.
        DatasourceError: The sample's own file cannot be read now.
    """
    samples = project.samples()
    match = samples.relpath[samples.key == settings.key]
    if match.empty:
        raise UnknownSampleError([settings.key])
    relpath = str(match.iloc[0])
    source = project.source()
    if not source.exists(relpath):
        raise ImageDecodeError(
            relpath, "file is missing from the datasource (deleted or moved after ingest)"
        )
    fitc = decode_image(source.read_bytes(relpath), relpath)
    sibling = sibling_config(project.config.datasource)
    partner_source = (
        open_source(sibling, cache_dir=project.object_cache_dir) if sibling is not None else None
    )
    view = nucleus_view(fitc, relpath, source, sibling=partner_source, style=settings.style,
                        size=settings.size or None)  # fmt: skip
    if progress is not None:
        progress(1.0)
    return view
