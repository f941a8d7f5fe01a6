"""What an asset hands to the assets downstream: small typed values that name what it wrote.

A value is the lineage Dagster sees: the trained model's version, URI and checksum travel from
``trained_forecaster`` to ``evaluation_report``, ``registered_model`` and ``forecast_endpoint`` as
the inputs of those assets, so each materialization says which model it is about, and a run reads
the model its own upstream step wrote (never "whatever is latest" in the bucket). The data travel
as ``Dataset`` values: the objects an asset wrote with the SHA-256 of each, so a reader gets those
bytes or a clear error when another run replaced them since.

Plain dataclasses (JSON in and out, ``resources/handoff.py`` keeps them in the bucket per run);
each one's identity is also the data version Dagster shows for the materialization and records
as the input version of every materialization that read it.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict, dataclass, fields
from typing import Any

import dagster as dg


class Value:
    """JSON in and out; unknown keys (a newer writer) are ignored, so old readers keep reading."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]):
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in payload.items() if k in known})

    @property
    def data_version(self) -> str:
        return self.version  # the model values are named by their version


def handed_on(value: Value, metadata: dict[str, Any]) -> dg.Output:
    """An asset's output: ``value`` for the assets downstream, its identity as the data version."""
    with warnings.catch_warnings():  # Output's data_version is marked beta: said once, here
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.Output(value, metadata=metadata, data_version=dg.DataVersion(value.data_version))


@dataclass(frozen=True)
class Dataset(Value):
    """Objects one materialization wrote: key -> SHA-256 of the bytes it wrote; ``shard``: the
    meter shard they hold (None: the one-shard deployment's unscoped keys)."""

    objects: dict[str, str]
    shard: str | None = None

    def sha256(self, key: str) -> str:
        return self.objects[key]

    @property
    def data_version(self) -> str:
        """One short identity for all the objects: the same bytes, the same version."""
        text = json.dumps(self.objects, sort_keys=True).encode()
        return hashlib.sha256(text).hexdigest()[:16]


@dataclass(frozen=True)
class ModelArtifact(Value):
    """A trained model: its version, ``model.tar.gz`` and the SHA-256 training wrote it with.

    ``trainer`` is ``local`` (a bundle this project evaluates and serves) or
    ``sagemaker_deepar`` (a training job whose output is DeepAR's own format)."""

    version: str
    model_uri: str
    sha256: str
    trainer: str = "local"


@dataclass(frozen=True)
class Evaluation(Value):
    """The evaluated model (the trained one, or the seasonal-naive baseline that replaced it)
    and where its report is."""

    version: str
    model_uri: str
    artifact_sha256: str
    report_uri: str
    smoke_meter: str
    trained_version: str  # the version trained_forecaster handed on
    serves_baseline: bool = False


@dataclass(frozen=True)
class Registration(Value):
    """The evaluated model as a version of the model package group."""

    version: str
    model_uri: str
    artifact_sha256: str
    model_package_arn: str
    smoke_meter: str
