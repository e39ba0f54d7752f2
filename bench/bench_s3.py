"""S3 reading speed against a real S3 API over HTTP (moto's server in its own process).

1. Listing 100,000 keys (keys/s): ours (``S3Source.list``: paginated ListObjectsV2, filtering
   hidden keys, progress) against a plain boto3 paginator loop and the AWS CLI
   (``aws s3 ls --recursive``), side by side.
2. Fetching 1,000 small uint16 TIFFs (~18 KB): ours (``fetch_many``: 16 requests in flight on
   one pooled client) against a sequential boto3 ``get_object`` loop; once on loopback as is,
   once with 20 ms of simulated round-trip time per request (what a client in the same region
   as the bucket sees), and a warm pass through the local object cache.

Median of 3 after a warm-up (the AWS CLI and 100k listings run 3 times without warm-up).
Run: ``.venv/bin/python bench/bench_s3.py [--keys 100000]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import median_time, write_results  # noqa: E402

from tests.s3_server import free_port, isolate_aws_environment  # noqa: E402

REGION = "us-west-2"
RTT_S = 0.020


def _start_server(port: int, n_keys: int, n_tiffs: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "_moto_seeded.py"), str(port), str(n_keys),
         str(n_tiffs)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "ready" not in line:
        proc.kill()
        raise SystemExit("the moto server did not start")
    return proc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--tiffs", type=int, default=1_000)
    args = parser.parse_args()
    isolate_aws_environment()
    import boto3

    from bps_core.storage import DatasourceConfig, open_source
    from bps_core.storage.fetch import fetch_many
    from bps_core.storage.s3 import S3Source, clear_clients

    port = free_port()
    t0 = time.perf_counter()
    server = _start_server(port, args.keys, args.tiffs)
    endpoint = f"http://127.0.0.1:{port}"
    print(f"seeded {args.keys:,} keys and {args.tiffs:,} TIFFs in {time.perf_counter() - t0:.0f} s")
    rows = []
    try:
        cfg = DatasourceConfig.s3(
            "s3://listing/train/", region=REGION, endpoint_url=endpoint, allow_private_endpoint=True
        )
        ours = S3Source(cfg)
        raw = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)

        def ours_list() -> None:
            n = sum(1 for _ in ours.list())
            assert n == args.keys, n

        def boto_list() -> None:
            n = 0
            for page in raw.get_paginator("list_objects_v2").paginate(
                Bucket="listing", Prefix="train/"
            ):
                n += len(page.get("Contents", []))
            assert n == args.keys, n

        def cli_list() -> None:
            out = subprocess.run(
                [sys.executable, "-m", "awscli", "s3", "ls", "--recursive",
                 "s3://listing/train/", "--endpoint-url", endpoint, "--region", REGION],
                check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            assert out.count("\n") == args.keys

        t_ours = median_time(ours_list, repeats=3, warmup=0)
        t_boto = median_time(boto_list, repeats=3, warmup=0)
        t_cli = median_time(cli_list, repeats=3, warmup=0)
        for name, t in (("ours: S3Source.list", t_ours), ("boto3 paginator loop", t_boto),
                        ("AWS CLI: aws s3 ls --recursive", t_cli)):  # fmt: skip
            rows.append({"task": f"list {args.keys:,} keys", "method": name,
                         "seconds": round(t, 2), "rate": f"{args.keys / t:,.0f} keys/s",
                         "vs ours": f"{t / t_ours:.2f}x"})  # fmt: skip

        tiff_cfg = DatasourceConfig.s3(
            "s3://tiffs/train/", region=REGION, endpoint_url=endpoint, allow_private_endpoint=True
        )
        keys = [f"nucleus_{i:04d}_proj.tif" for i in range(args.tiffs)]
        for rtt in (0.0, RTT_S):
            clear_clients()
            src = S3Source(tiff_cfg)
            seq = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
            if rtt:

                def delay(seconds: float = rtt, **_: object) -> None:
                    time.sleep(seconds)

                src.client.meta.events.register("before-send.s3", delay)
                seq.meta.events.register("before-send.s3", delay)

            def sequential(client=seq) -> None:  # type: ignore[no-untyped-def]
                total = 0
                for k in keys:
                    total += len(client.get_object(Bucket="tiffs", Key=f"train/{k}")["Body"].read())
                assert total > 0

            def concurrent(source=src) -> None:  # type: ignore[no-untyped-def]
                got = fetch_many(source, keys)
                assert not got.errors
                assert len(got.data) == len(keys)

            t_seq = median_time(sequential)
            t_con = median_time(concurrent)
            label = f"fetch {args.tiffs:,} TIFFs" + (f", {rtt * 1000:.0f} ms RTT" if rtt else "")
            rows.append({"task": label, "method": "sequential boto3 get_object",
                         "seconds": round(t_seq, 2), "rate": f"{len(keys) / t_seq:,.0f} files/s",
                         "vs ours": f"{t_seq / t_con:.2f}x"})  # fmt: skip
            rows.append({"task": label, "method": "ours: fetch_many, 16 in flight",
                         "seconds": round(t_con, 2), "rate": f"{len(keys) / t_con:,.0f} files/s",
                         "vs ours": "1.00x"})  # fmt: skip

        cache_dir = Path(tempfile.mkdtemp(prefix="bps-bench-cache-"))
        try:
            clear_clients()
            cached = open_source(tiff_cfg, cache_dir=cache_dir)
            fetch_many(cached, keys)  # fills the cache
            t_warm = median_time(lambda: fetch_many(cached, keys), warmup=0)
            rows.append({"task": f"fetch {args.tiffs:,} TIFFs, warm cache",
                         "method": "ours: local object cache (LRU)", "seconds": round(t_warm, 3),
                         "rate": f"{len(keys) / t_warm:,.0f} files/s", "vs ours": "-"})  # fmt: skip
        finally:
            shutil.rmtree(cache_dir, ignore_errors=True)
    finally:
        server.kill()
    write_results(
        "s3",
        rows,
        notes=f"moto {_version('moto')} S3 server in a separate process on 127.0.0.1 (seeded "
        f"in-process); {os.cpu_count()} CPU cores shared by client and server. 'vs ours' is "
        "the method's time over ours (above 1 = ours faster). RTT is simulated by sleeping "
        "before each request is sent, on both clients.",
    )


def _version(pkg: str) -> str:
    from importlib.metadata import version

    return version(pkg)


if __name__ == "__main__":
    main()
