"""An S3 API on loopback for tests: moto's server in a thread of its own, on a free port, over real HTTP.

moto keeps one set of buckets per process, so each test uses a bucket of its own (``bucket_name``).
``dummy_credentials`` gives boto3 credentials that moto accepts and keeps it from reading ``~/.aws`` or
asking an instance metadata service.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from tests.ports import free_port

DUMMY_KEY_ID = "testing-key-id"
DUMMY_SECRET = "testing-secret-not-for-logs"


@contextmanager
def s3_server() -> Iterator[str]:
    """Run moto's server on 127.0.0.1 for the block; yield its endpoint URL."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def dummy_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Point boto3's credential chain at dummy values only."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": DUMMY_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


def bucket_name() -> str:
    """Return a bucket name no other test uses."""
    return f"charts-{uuid.uuid4().hex[:16]}"


def plain_client(endpoint: str) -> Any:
    """A boto3 client of the test's own, to look at the bucket from outside ibflow."""
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def object_keys(endpoint: str, bucket: str) -> list[str]:
    """Return every object key in ``bucket``."""
    listed = plain_client(endpoint).list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))
