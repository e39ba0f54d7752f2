"""Eight labelers at once, through the code path the app uses (``Project.add_labels``):
nothing lost, the current label is the last event, and no "database is locked" escapes. On
both engines: SQLite's project.db, and a PostgreSQL server."""

from __future__ import annotations

import multiprocessing as mp
import traceback

from bps_core.project import Project
from bps_core.project import db as project_db

N_WORKERS, N_EVENTS = 8, 250


def _labeler(folder: str, keys: list[str], worker: int, errors: mp.Queue) -> None:  # type: ignore[type-arg]
    try:
        with Project.open(folder) as project:
            for i in range(N_EVENTS):
                key = keys[(worker * 7 + i) % len(keys)]  # overlapping samples across workers
                project.add_labels([key], f"class{(worker + i) % 4}", user=f"w{worker}",
                                   source="queue")  # fmt: skip
    except BaseException:
        errors.put(traceback.format_exc())
        raise


def test_eight_processes_250_events_each__nothing_lost(engine_project: Project) -> None:
    tiny_project = engine_project
    keys = tiny_project.samples().key.head(25).tolist()
    ctx = mp.get_context("spawn")
    errors = ctx.Queue()
    procs = [ctx.Process(target=_labeler, args=(str(tiny_project.folder), keys, w, errors))
             for w in range(N_WORKERS)]  # fmt: skip
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=600)
    reported = [errors.get() for _ in range(errors.qsize())] if not errors.empty() else []
    assert not reported, reported[0]  # e.g. an OperationalError: database is locked
    assert [p.exitcode for p in procs] == [0] * N_WORKERS
    events = tiny_project.label_events()
    assert len(events) == N_WORKERS * N_EVENTS  # 0 lost
    assert events.groupby("user").size().eq(N_EVENTS).all()
    last = events.sort_values("event_id").groupby("key").last()
    current = tiny_project.current_labels().set_index("key")
    assert set(current.index) == set(keys)
    assert (current.label == last.loc[current.index, "label"]).all()
    if project_db.engine(tiny_project._conn) == "sqlite":
        assert tiny_project._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
