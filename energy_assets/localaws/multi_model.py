"""The models of a multi-model endpoint (``Mode: MultiModel``), served the way SageMaker serves
them: the model's ``ModelDataUrl`` is an S3 prefix, each invocation names an artifact under it
(``TargetModel``, e.g. ``shard-07/model.tar.gz``), which is downloaded and loaded on its first
invocation, kept while it is used, and unloaded least recently used first when the instance
holds too many (SageMaker unloads under memory pressure; here a count and a size bound stand
for the instance's memory: ``max_models`` and ``max_bytes``, the unpacked artifacts' size).

As on SageMaker, a loaded model is not checked against S3 again: an artifact overwritten at the
same key is served as loaded until it is unloaded (AWS advises new keys for new versions), and
with ``MultiModelConfig.ModelCacheSetting = Disabled`` every invocation loads its model afresh.
Two first invocations of one model at once load it once.

Errors, as SageMaker's: no object at the target -> ``TargetNotFound`` (the runtime answers 400
ValidationError "Failed to download model data(bucket: ..., key: ...)"); an object that is not
a loadable model -> ``DeploymentBroken`` (424 ModelError, as the container's failure).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from botocore.exceptions import ClientError

from energy_assets.serving.artifact import unpack
from energy_assets.serving.handler import Predictor

DEFAULT_MAX_MODELS = int(os.environ.get("LOCAL_AWS_MULTI_MODEL_MAX_MODELS", "32"))
DEFAULT_MAX_BYTES = int(os.environ.get("LOCAL_AWS_MULTI_MODEL_MAX_BYTES", str(2 * 1024**3)))


class TargetNotFound(LookupError):
    """No artifact at ``prefix + TargetModel`` (SageMaker: ValidationError)."""


class TargetBroken(RuntimeError):
    """The target's artifact cannot be loaded (SageMaker: ModelError from the container)."""


@dataclass
class CacheStats:
    loads: int = 0
    hits: int = 0
    evictions: int = 0
    evicted: list[str] = field(default_factory=list)


def _size(folder: str) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


class MultiModelCache:
    """Target models of one multi-model production variant (see the module doc)."""

    def __init__(
        self,
        prefix_url: str,
        s3: Callable[[], object],
        max_models: int = DEFAULT_MAX_MODELS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        caching: bool = True,
    ):
        if not prefix_url.startswith("s3://") or "/" not in prefix_url[5:] + "/":
            raise ValueError(f"ModelDataUrl {prefix_url!r} is not an s3:// prefix")
        bucket, _, key = prefix_url[5:].partition("/")
        self.bucket = bucket
        self.prefix = key if not key or key.endswith("/") else key + "/"
        self._s3 = s3
        self.max_models = max(1, max_models)
        self.max_bytes = max_bytes
        self.caching = caching
        self._models: OrderedDict[str, tuple[Predictor, int]] = OrderedDict()
        self._loading: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self.stats = CacheStats()

    def loaded(self) -> list[str]:
        """Targets loaded now, least recently used first."""
        with self._lock:
            return list(self._models)

    def _hit(self, target: str) -> Predictor | None:
        """The loaded predictor of ``target``, now the most recently used (under ``_lock``)."""
        found = self._models.get(target)
        if found is None:
            return None
        self._models.move_to_end(target)
        self.stats.hits += 1
        return found[0]

    def get(self, target: str) -> Predictor:
        target = target.lstrip("/")
        with self._lock:
            found = self._hit(target)
            if found is not None:
                return found
            loading = self._loading.setdefault(target, threading.Lock())
        with loading:  # one download per target at a time
            with self._lock:
                found = self._hit(target)  # loaded by another caller while this one waited
                if found is not None:
                    return found
            predictor, size = self._load(target)
            with self._lock:
                self.stats.loads += 1
                if self.caching:
                    self._models[target] = (predictor, size)
                    self._evict()
                self._loading.pop(target, None)
            return predictor

    def _load(self, target: str) -> tuple[Predictor, int]:
        key = self.prefix + target
        try:
            data = self._s3().get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound", "NoSuchBucket"):
                raise TargetNotFound(
                    f"Failed to download model data(bucket: {self.bucket}, key: {key}). Please "
                    "ensure that there is an object located at the URL and that the role passed "
                    "to CreateModel has permissions to download the model."
                ) from error
            raise TargetBroken(f"cannot read s3://{self.bucket}/{key}: {error}") from error
        try:
            with tempfile.TemporaryDirectory(prefix="energy-assets-mme-") as folder:
                model_dir = unpack(data, folder)
                size = _size(folder)
                predictor = Predictor.from_model_dir(model_dir)
        except Exception as error:
            raise TargetBroken(f"cannot load model {target}: {error}") from error
        return predictor, size

    def _evict(self) -> None:
        """Unload least recently used models beyond the bounds (the newest always stays)."""
        while len(self._models) > 1 and (
            len(self._models) > self.max_models
            or sum(size for _, size in self._models.values()) > self.max_bytes
        ):
            target, _ = self._models.popitem(last=False)
            self.stats.evictions += 1
            self.stats.evicted.append(target)
