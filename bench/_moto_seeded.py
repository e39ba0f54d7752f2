"""A moto S3 server in its own process, seeded in-process (fast) before it starts serving.

Usage: python bench/_moto_seeded.py PORT N_KEYS N_TIFFS
Prints "ready" once listening. Seeding writes straight into moto's backend: only the reads are
benchmarked, and a separate process keeps the server's GIL away from the client's.
"""

from __future__ import annotations

import io
import logging
import sys
import time

import numpy as np
import tifffile
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends
from moto.server import ThreadedMotoServer


def tiff_bytes(rng: np.random.Generator) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, rng.integers(100, 4000, size=(96, 96), dtype=np.uint16))
    return buf.getvalue()


def main() -> None:
    port, n_keys, n_tiffs = (int(a) for a in sys.argv[1:4])
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    backend.create_bucket("listing", "us-west-2")
    for i in range(n_keys):
        backend.put_object("listing", f"train/P{i // 1000:03d}/img_{i:06d}_proj.tif", b"x")
    backend.create_bucket("tiffs", "us-west-2")
    rng = np.random.default_rng(0)
    for i in range(n_tiffs):
        backend.put_object("tiffs", f"train/nucleus_{i:04d}_proj.tif", tiff_bytes(rng))
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
