"""A real S3 API for tests: moto's ThreadedMotoServer on a free loopback port, spoken to over
HTTP by boto3 and the AWS CLI exactly as a real bucket would be."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

REGION = "us-west-2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
