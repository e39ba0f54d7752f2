"""What the pixels say about each sample (table ``image_stats``), measured once at decode time."""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields

import pandas as pd

from bps_core.project import db
from bps_core.project.keys import sample_ids


@dataclass(frozen=True)
class ImageStats:
    """Pixel facts of one decoded image (``bps_core.quality.image_stats.measure`` makes them).

    Attributes:
        width: Width in pixels.
        height: Height in pixels.
        bit_depth: Bits of the stored pixel type (8, 16; 32 for float images).
        mean: Mean value, in [0, 1] of the stored type's range.
        p01: 1st percentile, in [0, 1] of the range.
        p99: 99th percentile, in [0, 1] of the range.
        saturated: Share of pixels on a plateau at the image's maximum (clipping).
        foreground: Share of pixels clearly above the background level.
        sharpness: Variance of the Laplacian of the contrast-scaled image.
        pixel_sha: SHA-256 of the decoded pixels (type, shape and values).
    """

    width: int
    height: int
    bit_depth: int
    mean: float
    p01: float
    p99: float
    saturated: float
    foreground: float
    sharpness: float
    pixel_sha: str


#: The measured columns, in table order (``computed_at`` is added when stored).
STAT_COLUMNS = tuple(f.name for f in fields(ImageStats))
_INSERT = db.upsert_sql(
    "image_stats", "sample_id, " + ", ".join(STAT_COLUMNS) + ", computed_at", "sample_id"
)


class ImageStatsStore:
    """The ``image_stats`` table. Reached as ``Project.image_stats``."""

    def __init__(self, conn: db.Connection) -> None:
        self._conn = conn

    def put(self, stats: dict[str, ImageStats], *, computed_at: str) -> int:
        """Stores (or replaces) the stats of the samples named by key; unknown keys are skipped.

        Args:
            stats: Sample key -> its stats.
            computed_at: UTC ISO timestamp stamped on every row.

        Returns:
            The number of rows written.
        """
        if not stats:
            return 0
        keys = list(stats)

        def tx(c: db.Connection) -> int:
            ids = sample_ids(c, keys)
            rows = [(ids[k], *astuple(stats[k]), computed_at) for k in keys if k in ids]
            c.executemany(_INSERT, rows)
            return len(rows)

        return db.write(self._conn, tx)

    def frame(self) -> pd.DataFrame:
        """One row per measured sample, in sample id order: key, then ``STAT_COLUMNS``."""
        rows = self._conn.execute(
            "SELECT s.key, " + ", ".join(f"t.{c}" for c in STAT_COLUMNS) + " "
            "FROM image_stats t JOIN samples s ON s.id = t.sample_id ORDER BY s.id"
        ).fetchall()
        return pd.DataFrame(rows, columns=["key", *STAT_COLUMNS])

    def missing(self) -> list[tuple[str, str]]:
        """(key, relpath) of every good sample without stats, in sample id order."""
        rows = self._conn.execute(
            "SELECT s.key, s.relpath FROM samples s LEFT JOIN image_stats t "
            "ON t.sample_id = s.id WHERE s.status = 'ok' AND t.sample_id IS NULL ORDER BY s.id"
        ).fetchall()
        return [(str(k), str(r)) for k, r in rows]

    def count(self) -> int:
        """How many samples have stats."""
        return int(self._conn.execute("SELECT COUNT(*) FROM image_stats").fetchone()[0])
