"""The platform's bucket: every asset's files live under one prefix layout (see README)."""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dagster as dg
import pandas as pd
from dagster_aws.s3 import S3Resource
from pydantic import PrivateAttr


class S3Storage(dg.ConfigurableResource):
    """Typed helpers over dagster-aws's S3 client for one bucket."""

    bucket: str
    s3: S3Resource
    threads: int = 16
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
        """Create the bucket when absent; returns True when it was created."""
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
        return True

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream"):
        self.client().put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        return self.uri(key)

    def get_bytes(self, key: str) -> bytes:
        return self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def exists(self, key: str) -> bool:
        client = self.client()
        try:
            client.head_object(Bucket=self.bucket, Key=key)
        except client.exceptions.ClientError as error:
            if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def put_json(self, key: str, payload: dict) -> str:
        body = json.dumps(payload, indent=2, default=str).encode()
        return self.put_bytes(key, body, "application/json")

    def get_json(self, key: str) -> dict:
        return json.loads(self.get_bytes(key))

    def get_json_or_none(self, key: str) -> dict | None:
        """The JSON object at ``key``, or None when there is none (one GET, no HEAD first)."""
        client = self.client()
        try:
            return self.get_json(key)
        except client.exceptions.NoSuchKey:
            return None

    def put_csv(self, key: str, frame: pd.DataFrame) -> str:
        return self.put_bytes(key, frame.to_csv(index=False).encode(), "text/csv")

    def put_many(self, objects: dict[str, bytes], content_type: str = "text/csv") -> list[str]:
        """Upload many small objects concurrently (one PUT each; S3 has no batch put)."""
        client = self.client()

        def put(item: tuple[str, bytes]) -> str:
            client.put_object(
                Bucket=self.bucket, Key=item[0], Body=item[1], ContentType=content_type
            )
            return self.uri(item[0])

        with ThreadPoolExecutor(self.threads) as pool:
            return list(pool.map(put, objects.items()))

    def read_csv(self, key: str, **kwargs) -> pd.DataFrame:
        return pd.read_csv(io.BytesIO(self.get_bytes(key)), **kwargs)

    def put_parquet(self, key: str, frame: pd.DataFrame) -> str:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return self.put_bytes(key, buffer.getvalue())

    def read_parquet(self, key: str) -> pd.DataFrame:
        return pd.read_parquet(io.BytesIO(self.get_bytes(key)))

    def list_keys(self, prefix: str) -> list[str]:
        paginator = self.client().get_paginator("list_objects_v2")
        return [
            obj["Key"]
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
            for obj in page.get("Contents", [])
        ]

    def read_csv_prefix(self, prefix: str, **kwargs) -> pd.DataFrame:
        """All CSV objects under a prefix as one frame: one listing, then parallel GETs."""
        keys = [k for k in self.list_keys(prefix) if k.endswith(".csv")]
        if not keys:
            return pd.DataFrame()
        with ThreadPoolExecutor(self.threads) as pool:
            blobs = list(pool.map(self.get_bytes, keys))
        frames = [pd.read_csv(io.BytesIO(b), **kwargs) for b in blobs if b.strip()]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
