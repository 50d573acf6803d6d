"""``S3ChartStore``: charts as objects in an S3 bucket (AWS S3, MinIO, Ceph, anything speaking the S3 API).

Objects are written with one ``PutObject`` (S3 never shows a partial object) under an optional prefix,
private: no ACL is set, nothing is presigned, and ``locate`` says ``s3://bucket/key`` only. Users get
charts through the API's authorised route, which reads them here.

Credentials come from the settings (``IBFLOW_S3_ACCESS_KEY_ID`` / ``IBFLOW_S3_SECRET_ACCESS_KEY``, secrets)
or, when those are unset, from boto3's own chain (``AWS_*`` variables, ``~/.aws``, an instance role).
Failures become ibflow's errors: a missing key ``NotFound``; a missing bucket, refused access or missing
credentials ``ConfigurationError``; an endpoint that does not answer (or answers 5xx) ``Unavailable``.
No message carries a credential.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    NoCredentialsError,
    ParamValidationError,
)

from ibflow.charts.store import validate_key
from ibflow.core.errors import ConfigurationError, NotFound, Unavailable, ValidationError

_MISSING_KEY = {"NoSuchKey", "404", "NotFound"}
_MISSING_BUCKET = {"NoSuchBucket"}
_DENIED = {
    "AccessDenied",
    "403",
    "Forbidden",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AllAccessDisabled",
    "InvalidToken",
    "ExpiredToken",
}
_BUSY = {"SlowDown", "ServiceUnavailable", "InternalError", "503", "500"}
_ALREADY_THERE = {"BucketAlreadyOwnedByYou"}


def s3_client(
    *,
    endpoint_url: str | None,
    region: str | None,
    path_style: bool,
    access_key_id: str | None,
    secret_access_key: str | None,
    timeout_s: float,
) -> Any:
    """Return a boto3 S3 client for the endpoint (None: AWS), path-style if asked, timeouts ``timeout_s``."""
    config = Config(
        region_name=region,
        signature_version="s3v4",
        s3={"addressing_style": "path" if path_style else "auto"},
        connect_timeout=timeout_s,
        read_timeout=timeout_s,
        retries={"max_attempts": 3, "mode": "standard"},
        # Checksums only where S3 requires them: MinIO and Ceph releases differ in what they accept.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    session = boto3.session.Session(
        aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key, region_name=region
    )
    return session.client("s3", endpoint_url=endpoint_url, config=config)


class S3ChartStore:
    """A ``ChartStore`` on an S3 bucket; checks (or creates) the bucket when built."""

    def __init__(self, client: Any, *, bucket: str, prefix: str = "", create_bucket: bool = False) -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = _checked_prefix(prefix)
        self._where = f"S3 bucket {bucket!r} at {_endpoint(client)}"
        self._ensure_bucket(create_bucket)

    @property
    def bucket(self) -> str:
        """Return the bucket's name."""
        return self._bucket

    def object_key(self, key: str) -> str:
        """Return the S3 object key of chart ``key`` (the prefix, then the key)."""
        return f"{self._prefix}{validate_key(key)}"

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` in one ``PutObject``."""
        name = self.object_key(key)
        try:
            self._call(f"storing {name!r}", "put_object", Key=name, Body=data, ContentType="image/png")
        except _Missing:
            raise ConfigurationError(
                f"the {self._where} does not exist (any more): create it again"
            ) from None

    def get(self, key: str) -> bytes:
        """Return the chart stored under ``key``; raise ``NotFound`` if there is none."""
        name = self.object_key(key)
        try:
            answer = self._call(f"reading {name!r}", "get_object", Key=name)
        except _Missing:
            raise NotFound(f"no chart under key {key!r}") from None
        with self._translated(f"reading {name!r}"):
            data: bytes = answer["Body"].read()
        return data

    def delete(self, key: str) -> None:
        """Remove the chart under ``key``; S3 answers a delete of an absent key with success."""
        name = self.object_key(key)
        with contextlib.suppress(_Missing):  # S3 answers success; a store answering 404 means the same
            self._call(f"deleting {name!r}", "delete_object", Key=name)

    def locate(self, key: str) -> str:
        """Return ``s3://bucket/key``: where an operator finds it, not a URL anyone can fetch."""
        return f"s3://{self._bucket}/{self.object_key(key)}"

    def _ensure_bucket(self, create: bool) -> None:
        try:
            self._call("checking the bucket", "head_bucket")
            return
        except _Missing:
            if not create:
                raise ConfigurationError(
                    f"the {self._where} does not exist: create it, or set IBFLOW_S3_CREATE_BUCKET=true "
                    "to let ibflow create it"
                ) from None
        region = self._client.meta.region_name
        where = (
            {}
            if region in (None, "", "us-east-1")
            else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        )
        with contextlib.suppress(_AlreadyThere):  # another process created it first
            self._call("creating the bucket", "create_bucket", **where)

    def _call(self, doing: str, operation: str, **params: Any) -> Any:
        with self._translated(doing):
            return getattr(self._client, operation)(Bucket=self._bucket, **params)

    @contextlib.contextmanager
    def _translated(self, doing: str) -> Iterator[None]:
        """Turn boto3's errors while ``doing`` into ibflow's (``_Missing`` for a 404 the caller judges)."""
        try:
            yield
        except ClientError as exc:
            raise self._client_error(doing, exc) from None
        except NoCredentialsError:
            raise ConfigurationError(
                f"no credentials for the {self._where}: set IBFLOW_S3_ACCESS_KEY_ID and "
                "IBFLOW_S3_SECRET_ACCESS_KEY, or give boto3 its AWS_* variables or a profile"
            ) from None
        except ParamValidationError as exc:
            raise ConfigurationError(f"the {self._where} cannot be used: {exc}") from None
        except (ConnectionError, HTTPClientError) as exc:
            raise Unavailable(f"the {self._where} is unreachable ({type(exc).__name__}): {exc}") from None
        except BotoCoreError as exc:
            raise ConfigurationError(f"the {self._where} failed {doing}: {exc}") from None

    def _client_error(self, doing: str, exc: ClientError) -> Exception:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        if code in _MISSING_BUCKET:
            return ConfigurationError(f"the {self._where} does not exist (any more): create it again")
        if code in _MISSING_KEY:
            return _Missing()
        if code in _ALREADY_THERE:
            return _AlreadyThere()
        if code in _DENIED or status == "403":
            return ConfigurationError(
                f"the {self._where} refused {doing} ({code or status}): check the credentials "
                "(IBFLOW_S3_ACCESS_KEY_ID / IBFLOW_S3_SECRET_ACCESS_KEY or boto3's chain) and the bucket's "
                "policy"
            )
        if code in _BUSY or status.startswith("5"):
            return Unavailable(f"the {self._where} failed {doing} ({code or status}); try again")
        return ConfigurationError(
            f"the {self._where} refused {doing}: {error.get('Message') or code or status}"
        )


class _Missing(Exception):
    """A 404 for the key or the bucket asked about: what it means is the caller's to say."""


class _AlreadyThere(Exception):
    """The bucket to create exists and is ours."""


def _checked_prefix(prefix: str) -> str:
    trimmed = prefix.strip("/")
    if not trimmed:
        return ""
    try:
        validate_key(trimmed)
    except ValidationError as exc:
        raise ConfigurationError(
            f"IBFLOW_S3_PREFIX {prefix!r} is not usable: {exc.problems['key']}"
        ) from None
    return f"{trimmed}/"


def _endpoint(client: Any) -> str:
    url = str(client.meta.endpoint_url)
    scheme, _, rest = url.partition("://")
    host = rest.rpartition("@")[2]  # never show user:password@ of an endpoint URL
    return f"{scheme}://{host}" if rest else url
