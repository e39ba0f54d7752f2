"""BPS Labeler core: datasets, images, projects and labels, without any UI.

Entry points:

- ``generate_dataset``: write a synthetic BPS-like dataset (``bps_core.synthetic``).
- ``decode_image`` / ``to_display``: safe decoding and 16-bit display windowing.
- ``create_project_from_folder`` / ``Project``: the project store and its label log.
- ``import_labels_csv``: labels from a ``filename,label`` CSV.
"""

from bps_core.images import DisplayWindow, decode_image, thumbnail_png, to_display
from bps_core.labels import import_labels_csv
from bps_core.project import Project, create_project_from_folder
from bps_core.synthetic import generate_dataset, preset_config

__version__ = "0.1.0"

__all__ = [
    "DisplayWindow",
    "Project",
    "create_project_from_folder",
    "decode_image",
    "generate_dataset",
    "import_labels_csv",
    "preset_config",
    "thumbnail_png",
    "to_display",
]
