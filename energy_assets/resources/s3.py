"""The platform's bucket: every asset's files live under one prefix layout (see README).

Every object is one PUT of the whole body (S3 never shows half of it) and carries its SHA-256
in its metadata (``x-amz-meta-sha256``). Outputs made of several objects are written with
``put_set``: the members first, a manifest naming each member's SHA-256 last; reading a member
checks it against the manifest, so the objects of a run killed half way never pass for a
complete output. A missing object is reported by its URI with the asset that writes it.
"""

from __future__ import annotations

import hashlib
import io
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dagster as dg
import pandas as pd
from dagster_aws.s3 import S3Resource
from pydantic import Field, PrivateAttr

from energy_assets import layout

SHA256 = "sha256"  # user metadata key of every object's checksum
MANIFEST = "manifest"  # user metadata key naming the manifest of a set member


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def json_bytes(payload: dict) -> bytes:
    return json.dumps(payload, indent=2, default=str).encode()


class MissingObject(dg.Failure):
    """An object an asset reads does not exist: its URI, and the asset that writes it.

    Not retried by a Dagster retry policy: it stays missing until that asset is materialized.
    """

    def __init__(self, uri: str, key: str):
        self.uri, self.key, self.producer = uri, key, layout.producer(key)
        hint = (
            f": materialize {self.producer} first (it writes this object)" if self.producer else ""
        )
        super().__init__(
            description=f"{uri} does not exist{hint}",
            metadata={"missing": uri, "materialize": self.producer or "unknown"},
            allow_retries=False,
        )


class IncompleteObject(dg.Failure):
    """A member of a multi-object output does not match the output's manifest: the run that
    wrote it was interrupted (or the object was replaced since)."""

    def __init__(self, uri: str, key: str, manifest_key: str, why: str):
        self.uri, self.key = uri, key
        producer = layout.producer(key) or "the asset that writes it"
        super().__init__(
            description=f"{uri} {why}: the last {producer} run did not complete (or the object "
            f"was replaced since); materialize {producer} again",
            metadata={"object": uri, "manifest": manifest_key, "materialize": producer},
            allow_retries=False,
        )


class ReplacedObject(dg.Failure):
    """An object is not the one the asset that a step reads wrote in its run: another run
    replaced it since (two runs in flight). The step stops rather than read another run's data."""

    def __init__(self, uri: str, key: str, expected: str, found: str):
        producer = layout.producer(key) or "the asset that writes it"
        super().__init__(
            description=f"{uri} is not the object {producer} handed on (SHA-256 {found[:12]}…, "
            f"expected {expected[:12]}…): another run replaced it since; materialize "
            f"{producer} again",
            metadata={"object": uri, "materialize": producer},
            allow_retries=False,
        )


class S3Storage(dg.ConfigurableResource):
    """Typed helpers over dagster-aws's S3 client for one bucket."""

    bucket: str
    s3: S3Resource  # its ``max_attempts`` bounds every call (botocore's standard retry mode)
    threads: int = 16
    # meter shards of the raw usage objects (``ENERGY_ASSETS_SHARDS``; ``layout.shard_of``)
    shards: int = Field(default=1, ge=1)
    kms_key_id: str | None = None  # encrypt with this KMS key (default: S3-managed keys)
    _client: Any = PrivateAttr(default=None)

    def client(self):
        """One client per resource: building a boto3 client costs far more than a request."""
        if self._client is None:
            self._client = self.s3.get_client()
        return self._client

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def key_of(self, uri: str) -> str:
        """The key of an ``s3://`` URI in this bucket."""
        prefix = f"s3://{self.bucket}/"
        if not uri.startswith(prefix):
            raise ValueError(f"{uri} is not in bucket {self.bucket}")
        return uri[len(prefix) :]

    def ensure_bucket(self) -> bool:
        """Create the bucket when absent, private and encrypted; True when it was created."""
        client = self.client()
        try:
            client.head_bucket(Bucket=self.bucket)
            return False
        except client.exceptions.ClientError as error:
            if error.response["Error"]["Code"] not in ("404", "NoSuchBucket", "NotFound"):
                raise
        region = client.meta.region_name
        extra = (
            {}
            if region in (None, "us-east-1")
            else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        )
        client.create_bucket(Bucket=self.bucket, **extra)
        self.protect_bucket()
        return True

    def protect_bucket(self) -> None:
        """Block every form of public access and encrypt new objects at rest (SSE-S3, or
        SSE-KMS with a bucket key when ``kms_key_id`` is set)."""
        client = self.client()
        client.put_public_access_block(
            Bucket=self.bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        default: dict[str, str] = (
            {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": self.kms_key_id}
            if self.kms_key_id
            else {"SSEAlgorithm": "AES256"}
        )
        client.put_bucket_encryption(
            Bucket=self.bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": default,
                        "BucketKeyEnabled": bool(self.kms_key_id),
                    }
                ]
            },
        )

    def put_bytes(
        self,
        key: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
    ) -> str:
        """One PUT of the whole object, its SHA-256 in the object's metadata."""
        self.client().put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            Metadata={SHA256: sha256_hex(data), **(metadata or {})},
        )
        return self.uri(key)

    def _get(self, key: str) -> dict:
        client = self.client()
        try:
            return client.get_object(Bucket=self.bucket, Key=key)
        except client.exceptions.NoSuchKey:
            raise MissingObject(self.uri(key), key) from None

    def get_bytes(self, key: str, expect: str | None = None) -> bytes:
        """The object's bytes; a member of a set is checked against the set's manifest, and
        with ``expect`` (the SHA-256 its writer handed on) against that."""
        response = self._get(key)
        data = response["Body"].read()
        if expect is not None and sha256_hex(data) != expect:
            raise ReplacedObject(self.uri(key), key, expect, sha256_hex(data))
        manifest_key = response.get("Metadata", {}).get(MANIFEST)
        if manifest_key and expect is None:
            self._check_member(key, data, manifest_key)
        return data

    def check(self, key: str, expect: str) -> None:
        """Raise unless the object's recorded SHA-256 is ``expect`` (one HEAD, for objects a
        step hands to another reader, such as a notebook kernel, without reading them)."""
        head = self.head(key)
        if head is None:
            raise MissingObject(self.uri(key), key)
        found = (head.get("Metadata") or {}).get(SHA256, "")
        if found != expect:
            raise ReplacedObject(self.uri(key), key, expect, found or "none")

    def head(self, key: str) -> dict | None:
        """HeadObject's answer (ETag, ContentLength, Metadata), or None when absent."""
        client = self.client()
        try:
            return client.head_object(Bucket=self.bucket, Key=key)
        except client.exceptions.ClientError as error:
            if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def put_set(
        self,
        manifest_key: str,
        objects: dict[str, tuple[bytes, str]],
        extra: dict | None = None,
    ) -> dict[str, str]:
        """Write several objects that make one output (``key -> (bytes, content type)``), then
        the manifest naming each one's SHA-256; returns those checksums. Writing the same objects
        again writes the same bytes (the manifest holds no time or run id), so re-materializing
        is idempotent."""
        checksums = {key: sha256_hex(data) for key, (data, _) in objects.items()}
        client = self.client()

        def put(key: str) -> str:
            data, content_type = objects[key]
            client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                Metadata={SHA256: checksums[key], MANIFEST: manifest_key},
            )
            return self.uri(key)

        with ThreadPoolExecutor(min(self.threads, max(len(objects), 1))) as pool:
            list(pool.map(put, objects))
        self.put_json(manifest_key, {**(extra or {}), "objects": dict(sorted(checksums.items()))})
        return checksums

    def _check_member(self, key: str, data: bytes, manifest_key: str) -> None:
        uri = self.uri(key)
        try:
            manifest = self.get_json(manifest_key)
        except MissingObject:
            raise IncompleteObject(
                uri, key, manifest_key, f"has no manifest {manifest_key}"
            ) from None
        expected = manifest.get("objects", {}).get(key)
        if expected is None:
            raise IncompleteObject(uri, key, manifest_key, f"is not listed in {manifest_key}")
        if sha256_hex(data) != expected:
            raise IncompleteObject(uri, key, manifest_key, f"does not match {manifest_key}")

    def delete(self, key: str) -> None:
        self.client().delete_object(Bucket=self.bucket, Key=key)

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def put_json(self, key: str, payload: dict) -> str:
        return self.put_bytes(key, json_bytes(payload), "application/json")

    def get_json(self, key: str, expect: str | None = None) -> dict:
        return json.loads(self.get_bytes(key, expect))

    def get_json_or_none(self, key: str) -> dict | None:
        """The JSON object at ``key``, or None when there is none (one GET, no HEAD first)."""
        try:
            return self.get_json(key)
        except MissingObject:
            return None

    def put_csv(self, key: str, frame: pd.DataFrame) -> str:
        return self.put_bytes(key, frame.to_csv(index=False).encode(), "text/csv")

    def put_many(self, objects: dict[str, bytes], content_type: str = "text/csv") -> list[str]:
        """Upload many small objects concurrently (one PUT each; S3 has no batch put)."""

        def put(item: tuple[str, bytes]) -> str:
            return self.put_bytes(item[0], item[1], content_type)

        with ThreadPoolExecutor(self.threads) as pool:
            return list(pool.map(put, objects.items()))

    def read_csv(self, key: str, expect: str | None = None, **kwargs) -> pd.DataFrame:
        return pd.read_csv(io.BytesIO(self.get_bytes(key, expect)), **kwargs)

    def put_parquet(self, key: str, frame: pd.DataFrame) -> str:
        return self.put_bytes(key, parquet_bytes(frame))

    def read_parquet(self, key: str, expect: str | None = None) -> pd.DataFrame:
        return pd.read_parquet(io.BytesIO(self.get_bytes(key, expect)))

    def list_keys(self, prefix: str) -> list[str]:
        paginator = self.client().get_paginator("list_objects_v2")
        return [
            obj["Key"]
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
            for obj in page.get("Contents", [])
        ]

    def object_entries(self, prefix: str) -> list[dict]:
        """ListObjectsV2's entries under ``prefix`` (Key, LastModified, ETag, Size), all pages."""
        paginator = self.client().get_paginator("list_objects_v2")
        return [
            obj
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
            for obj in page.get("Contents", [])
        ]

    def list_keys_after(self, prefix: str, start_after: str | None = None) -> list[str]:
        """Keys under ``prefix`` that sort after ``start_after`` (all when None): S3 lists in
        key order, so the listing starts there instead of at the start of the prefix."""
        kwargs = {"Bucket": self.bucket, "Prefix": prefix}
        if start_after:
            kwargs["StartAfter"] = start_after
        paginator = self.client().get_paginator("list_objects_v2")
        return [
            obj["Key"] for page in paginator.paginate(**kwargs) for obj in page.get("Contents", [])
        ]
