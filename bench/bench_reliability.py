"""Reliability figures that tests must not assert (they are timings): how long hostile files
take to be decoded or refused, how fast eight concurrent labelers write, and what 30%
transient S3 faults cost compared with none.

1. Hostile corpus (46 files, ``tests/hostile_corpus.py``): slowest and median decode-or-refuse
   time, and the largest traced allocation. Target: every file in under 2 s.
2. Eight processes x 250 label events on 25 overlapping samples (``Project.add_labels``):
   wall time and events/s. Target: no lost event; no "database is locked".
3. 1,000 objects listed, read and copied server-side through moto's S3 server, with 0% and
   30% injected transient faults (500, 503 SlowDown, connection reset). Target: 0 failures.

Run: ``.venv/bin/python bench/bench_reliability.py``.
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import write_results  # noqa: E402

from tests.s3_server import (  # noqa: E402
    REGION,
    FaultInjector,
    inject,
    isolate_aws_environment,
    start_server,
)


def hostile(tmp: Path) -> list[dict[str, object]]:
    from bps_core.images import decode_image
    from bps_core.verbs import ImageDecodeError
    from tests.hostile_corpus import write_corpus

    expected = write_corpus(tmp / "corpus")
    times, peaks, errors = [], [], 0
    for name, kind in expected.items():
        if kind == "link":
            continue
        data = (tmp / "corpus" / name).read_bytes()
        tracemalloc.start()
        t0 = time.perf_counter()
        try:
            decode_image(data, name)
        except ImageDecodeError:
            errors += 1
        times.append(time.perf_counter() - t0)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return [{
        "scenario": f"hostile corpus: {len(times)} files ({errors} refused with the typed error)",
        "figure": f"slowest {max(times) * 1000:.0f} ms, "
        f"median {statistics.median(times) * 1000:.1f} ms, "
        f"largest allocation {max(peaks) / 1e6:.1f} MB",
        "target": "each < 2 s", "met": "yes" if max(times) < 2 else "no",
    }]  # fmt: skip


def _labeler(folder: str, keys: list[str], worker: int, n: int) -> None:
    from bps_core.verbs import Project

    with Project.open(folder) as project:
        for i in range(n):
            key = keys[(worker * 7 + i) % len(keys)]
            project.add_labels([key], f"c{(worker + i) % 4}", user=f"w{worker}", source="queue")


def labelers(tmp: Path) -> list[dict[str, object]]:
    from bps_core.verbs import create_project_from_folder, generate_dataset, preset_config

    data = generate_dataset(tmp / "tiny", preset_config("tiny", seed=1))
    project, _ = create_project_from_folder(tmp / "project", data.root)
    keys = project.samples().key.head(25).tolist()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_labeler, args=(str(project.folder), keys, w, 250))
             for w in range(8)]  # fmt: skip
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    wall = time.perf_counter() - t0
    n = len(project.label_events())
    ok = all(p.exitcode == 0 for p in procs) and n == 2000
    project.close()
    return [{
        "scenario": "8 processes x 250 label events, 25 shared samples",
        "figure": f"{n:,} / 2,000 events kept in {wall:.1f} s ({n / wall:,.0f} events/s, "
        "incl. process start)",
        "target": "0 lost, no lock errors", "met": "yes" if ok else "no",
    }]  # fmt: skip


def faults(tmp: Path) -> list[dict[str, object]]:
    from bps_core import verbs
    from bps_core.storage.fetch import fetch_many
    from bps_core.storage.s3 import S3Source, clear_clients

    rows = []
    gen = start_server()
    server = next(gen)
    try:
        for rate in (0.0, 0.3):
            clear_clients()
            src, dst = server.new_bucket("src"), server.new_bucket("dst")
            server.seed(src, {f"in/{i:04d}.tif": b"x" * 2000 for i in range(1000)})
            common = {
                "region": REGION,
                "endpoint_url": server.endpoint,
                "allow_private_endpoint": True,
            }  # moto on 127.0.0.1
            input_cfg = verbs.DatasourceConfig.s3(f"s3://{src}/in", **common)
            dest = verbs.DatasourceConfig.s3(
                f"s3://{dst}/out", id="output", purpose="output", **common
            )
            # The project over the bucket (listed once before the clock, with no faults yet):
            # the copy goes through the copy verb, as the app's and the CLI's copies do.
            project, _ = verbs.create_project(tmp / f"faults_{rate}", input_cfg)
            source = S3Source(input_cfg)  # the cached client the project's source shares too
            injector = FaultInjector(rate=rate, seed=3)
            inject(source, injector)
            t0 = time.perf_counter()
            keys = [i.key for i in source.list()]
            got = fetch_many(source, keys)
            with project:
                report = verbs.copy(project, verbs.CopySettings(dest))
            wall = time.perf_counter() - t0
            failures = len(got.errors) + len(report.failed) + (1000 - len(keys))
            rows.append({
                "scenario": f"list + read + copy 1,000 objects, {rate:.0%} transient faults",
                "figure": f"{wall:.1f} s, {injector.sent:,} requests, "
                f"{sum(injector.injected.values()):,} failed on purpose, {failures} lost",
                "target": "0 lost", "met": "yes" if failures == 0 else "no",
            })  # fmt: skip
    finally:
        gen.close()
    return rows


def main() -> None:
    isolate_aws_environment()
    with tempfile.TemporaryDirectory() as tmp:
        rows = hostile(Path(tmp)) + labelers(Path(tmp)) + faults(Path(tmp))
    write_results("reliability", rows, notes="2-core machine; moto's S3 server in-process.")


if __name__ == "__main__":
    main()
