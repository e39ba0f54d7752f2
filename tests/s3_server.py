"""A real S3 API for tests: moto's ThreadedMotoServer on a free loopback port, spoken to over
HTTP by boto3 and the AWS CLI exactly as a real bucket would be."""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError

from tests.helpers import free_port

REGION = "us-west-2"


def isolate_aws_environment() -> None:
    """No real AWS account, config file or instance-metadata lookup can leak into a test."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing-secret",
        AWS_DEFAULT_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)


@dataclass
class S3Server:
    """A running moto server and an administrator client for seeding it."""

    endpoint: str

    def admin(self, service: str = "s3") -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION)

    def new_bucket(self, stem: str = "bucket") -> str:
        name = f"{stem}-{uuid.uuid4().hex[:10]}"
        self.admin().create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        return name

    def aws_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Runs the real AWS CLI (a client this project did not write) against the server."""
        return subprocess.run(
            [sys.executable, "-m", "awscli", *args, "--endpoint-url", self.endpoint,
             "--region", REGION],
            check=True, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    def seed(self, bucket: str, objects: dict[str, bytes]) -> None:
        """Writes objects straight into the in-process moto backend (fast bulk seeding; what
        is under test is read back over HTTP)."""
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
        for key, body in objects.items():
            backend.put_object(bucket, key, body)

    def make_public(self, bucket: str) -> None:
        """A public-read bucket policy, as the NASA BPS bucket has (anonymous GET and LIST)."""
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject"],
                 "Resource": [f"arn:aws:s3:::{bucket}/*"]},
                {"Effect": "Allow", "Principal": "*", "Action": ["s3:ListBucket"],
                 "Resource": [f"arn:aws:s3:::{bucket}"]},
            ],
        }  # fmt: skip
        self.aws_cli("s3api", "put-bucket-policy", "--bucket", bucket, "--policy",
                     json.dumps(policy))  # fmt: skip

    def upload_folder(self, folder: Path, bucket: str, prefix: str = "", acl: str = "") -> None:
        extra = ["--acl", acl] if acl else []
        self.aws_cli("s3", "cp", "--recursive", "--only-show-errors", *extra, str(folder),
                     f"s3://{bucket}/{prefix}")  # fmt: skip


def start_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        server.stop()


class FaultInjector:
    """Fails a share of requests before they are sent, as a flaky network or S3 would:
    HTTP 500 InternalError, 503 SlowDown, or a connection reset. botocore's ``before-send``
    event replaces the response, so the client's own retry logic must cope."""

    def __init__(self, rate: float, seed: int = 0) -> None:
        self.rate = rate
        self.rng = random.Random(seed)
        self.injected = {"500": 0, "503": 0, "reset": 0}
        self.sent = 0
        self._lock = threading.Lock()

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        with self._lock:
            self.sent += 1
            if self.rng.random() >= self.rate:
                return None
            kind = self.rng.choice(["500", "503", "reset"])
            self.injected[kind] += 1
        if kind == "reset":
            raise ConnectionClosedError(endpoint_url=request.url)
        code, status = ("InternalError", 500) if kind == "500" else ("SlowDown", 503)
        body = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
        raw = _Raw(body)
        return AWSResponse(request.url, status, {"Content-Type": "application/xml"}, raw)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def inject(source: Any, hook: Callable[..., Any]) -> None:
    """Runs ``hook`` before every request the source's client sends (first in line)."""
    source.client.meta.events.register_first("before-send.s3", hook)
