"""Rows of a table by sample id: joins and lookups on integers, not on key text.

At a million samples, looking 100k keys up in a hash table of a million key strings costs
about a quarter of a second; a binary search of 100k integers in a sorted array of a million
costs milliseconds. Every samples frame carries ``sample_id`` (the database's id), so tables
that hold it are joined by it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


class IdPositions:
    """The row of each sample id of an id column (``sample_id`` of a samples or map frame).

    Args:
        ids: The column's ids, one per row. A missing id (NaN, or a negative number) matches
            nothing; ids are expected unique (a repeated one finds one of its rows).
    """

    def __init__(self, ids: ArrayLike) -> None:
        values = np.asarray(ids)
        if values.dtype.kind == "f":
            values = np.where(np.isnan(values), -1, values)
        column = values.astype(np.int64, copy=False)
        self.n = len(column)
        if self.n < 2 or bool((column[1:] >= column[:-1]).all()):  # samples come in id order
            self._order: NDArray[np.intp] | None = None
            self._sorted = column
        else:
            self._order = np.argsort(column, kind="stable")
            self._sorted = column[self._order]

    def positions(self, ids: ArrayLike) -> NDArray[np.intp]:
        """The row of each of ``ids`` (-1 where the column has no such id).

        Args:
            ids: Sample ids (integers).

        Returns:
            One row number per id, in the order given.
        """
        wanted = np.asarray(ids, dtype=np.int64)
        if self.n == 0:
            return np.full(len(wanted), -1, dtype=np.intp)
        at = np.minimum(np.searchsorted(self._sorted, wanted), self.n - 1)
        found = (self._sorted[at] == wanted) & (wanted >= 0)
        rows = at if self._order is None else self._order[at]
        return np.where(found, rows, -1).astype(np.intp, copy=False)

    def rows_of(self, ids: ArrayLike) -> NDArray[np.intp]:
        """For each row of the column, the position in ``ids`` of its id (-1: not there).

        A left join of the column's table with a table whose rows hold ``ids`` (unique).

        Args:
            ids: The other table's sample ids, one per row.

        Returns:
            One position per row of the column.
        """
        where = self.positions(ids)
        found = where >= 0
        rows = np.full(self.n, -1, dtype=np.intp)
        rows[where[found]] = np.flatnonzero(found)
        return rows
