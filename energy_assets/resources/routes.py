"""Which model of the multi-model endpoint answers a meter: the routes the deploy writes.

With more than one meter shard the endpoint is a SageMaker multi-model endpoint: each shard's
promoted artifact sits under the endpoint's ``ModelDataUrl`` prefix at a key naming the shard and
the version (``shard=03/<version>.tar.gz``), and ``deployments/routes/shard=03.json`` in the
bucket names the ``TargetModel`` that serves shard 03 now. A shard's deploy rewrites its own
route only after the new model passed its smoke test, so a failed deploy leaves the old route
(and the old artifact, at its own key) serving. Readers (the app, the smoke test of the demo,
``models``, monitoring) read a route at most once per ``ttl`` seconds per process: one small GET
per shard, whatever the fleet's size.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

from botocore.exceptions import ClientError

from energy_assets import layout

_LOCK = threading.Lock()
_CACHE: dict[tuple[str, str], tuple[float, dict | None]] = {}


def read_route(s3: Callable[[], object], bucket: str, shard: str, ttl: float) -> dict | None:
    """Shard ``shard``'s route (``target_model``, ``model_version``, ...), or None when no
    model serves it yet; cached for ``ttl`` seconds."""
    key = (bucket, shard)
    with _LOCK:
        cached = _CACHE.get(key)
    if cached is not None and time.monotonic() - cached[0] <= ttl:
        return cached[1]
    try:
        body = s3().get_object(Bucket=bucket, Key=layout.route(shard))["Body"].read()
        route = json.loads(body)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
            raise
        route = None
    with _LOCK:
        _CACHE[key] = (time.monotonic(), route)
    return route


def forget(bucket: str, shard: str) -> None:
    """Drop a cached route (the deploy that rewrote it, in this process)."""
    with _LOCK:
        _CACHE.pop((bucket, shard), None)
