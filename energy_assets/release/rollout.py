"""Serving a model version on the endpoint: verify, switch, smoke-test, restore, roll back.

Every switch of the endpoint (a deploy or a rollback) goes the same way:

1. the version's ``model.tar.gz`` is checked against the SHA-256 recorded when it was
   registered, before the endpoint is touched: an artifact overwritten in S3 is refused;
2. the endpoint is created or moved to the version's endpoint config (UpdateEndpoint);
3. a smoke-test invocation must answer with that version; its result is recorded per config
   (``deployments/smoke/<config>.json``);
4. when it fails, the endpoint goes back to a config known to serve: one whose last smoke test
   passed and whose artifact still verifies, the config that served before first. The restored
   config is smoke-tested too. When none is left, or the switch created the endpoint, the
   endpoint is deleted: an endpoint that answers every call with an error is worse than a
   missing one, which the app reports as such.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from energy_assets import layout
from energy_assets.resources.s3 import MissingObject
from energy_assets.serving.artifact import ArtifactMismatch, verify_artifact

VERSION_TAG = "energy-assets:model-version"


@dataclass(frozen=True)
class Target:
    """What one endpoint config serves: the version, its artifact and the checksum it must have."""

    config_name: str
    version: str
    model_uri: str
    artifact_sha256: str | None
    smoke_meter: str


class SmokeTestFailed(RuntimeError):
    def __init__(self, config_name: str, restored: Target | None, problems: list[str]):
        self.config_name, self.restored, self.problems = config_name, restored, problems
        where = (
            f"endpoint restored to {restored.config_name} (version {restored.version}, "
            "which passed its smoke test)"
            if restored
            else "no config known to serve remains: endpoint deleted"
        )
        super().__init__(f"smoke test of {config_name} failed ({'; '.join(problems)}); {where}")


class ArtifactNotVerified(RuntimeError):
    """The artifact is missing or not the one registered; the endpoint was not touched."""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def registered_sha256(sagemaker, version: str) -> str | None:
    """The artifact checksum in the version's model package (None: not recorded)."""
    package = sagemaker.find_package(version) or {}
    return package.get("CustomerMetadataProperties", {}).get("artifact_sha256")


def verify(storage, target: Target) -> None:
    """Raise ArtifactNotVerified unless the artifact in S3 is the one registered."""
    where = f"model artifact {target.model_uri} of version {target.version}"
    try:
        data = storage.get_bytes(storage.key_of(target.model_uri))
        verify_artifact(data, target.artifact_sha256, where)
    except MissingObject as error:
        raise ArtifactNotVerified(f"{error.description}; the endpoint was not touched") from None
    except ArtifactMismatch as error:
        raise ArtifactNotVerified(f"{error}; the endpoint was not touched") from None


def smoke_test_problems(answer: dict, version: str, horizon: int) -> list[str]:
    problems = []
    forecast = answer.get("forecast", [])
    if len(forecast) != horizon:
        problems.append(f"expected {horizon} forecasts, got {len(forecast)}")
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in forecast):
        problems.append("forecast has non-finite values")
    if answer.get("model_version") != version:
        problems.append(f"served model {answer.get('model_version')!r}, expected {version!r}")
    return problems


def smoke_test(storage, sagemaker, target: Target, horizon: int) -> tuple[list[str], dict]:
    """Invoke the endpoint as a client would and record whether ``target`` served."""
    try:
        answer = sagemaker.invoke({"meter_id": target.smoke_meter, "horizon": horizon})
        problems = smoke_test_problems(answer, target.version, horizon)
    except Exception as error:  # any failure to answer is a failed smoke test
        answer, problems = {}, [f"invocation failed: {error}"]
    storage.put_json(
        layout.smoke_record(target.config_name),
        {**asdict(target), "passed": not problems, "problems": problems, "tested_at": now()},
    )
    return problems, answer


def known_to_serve(storage) -> list[Target]:
    """Configs whose last smoke test passed, most recently tested first. A deployment record
    (written only after a passed smoke test) stands in for a config tested before smoke
    records were kept."""
    records: dict[str, dict] = {}
    for key in storage.list_keys(layout.DEPLOYMENTS_PREFIX):
        name = key.removeprefix(layout.DEPLOYMENTS_PREFIX)
        record = storage.get_json_or_none(key)
        if not record:
            continue
        if name.startswith("smoke/"):
            records[record["config_name"]] = record
        elif "/" not in name and name != "current.json" and "endpoint_config" in record:
            records.setdefault(
                record["endpoint_config"],
                {
                    "config_name": record["endpoint_config"],
                    "version": record["model_version"],
                    "model_uri": record["model_uri"],
                    "artifact_sha256": record.get("artifact_sha256"),
                    "smoke_meter": record.get("smoke_meter", ""),
                    "passed": True,
                    "tested_at": record.get("deployed_at", ""),
                },
            )
    passed = sorted(
        (r for r in records.values() if r.get("passed")),
        key=lambda r: r.get("tested_at", ""),
        reverse=True,
    )
    fields = Target.__dataclass_fields__
    return [Target(**{k: r.get(k) for k in fields}) for r in passed]


def _tags(target: Target) -> dict[str, str]:
    return {VERSION_TAG: target.version}


def restore(storage, sagemaker, failed: Target, previous: str | None, horizon: int):
    """Point the endpoint back at a config known to serve (``previous`` first), skipping the
    failed one, configs that no longer exist and artifacts that no longer verify; each restored
    config is smoke-tested. Returns the Target restored, or None after deleting the endpoint
    (also when this switch created it: there was nothing serving to go back to)."""
    known = known_to_serve(storage) if previous else []
    candidates = sorted(known, key=lambda t: t.config_name != previous)
    for candidate in candidates:
        if candidate.config_name == failed.config_name:
            continue
        if not sagemaker.endpoint_config_exists(candidate.config_name):
            continue
        try:
            verify(storage, candidate)
        except ArtifactNotVerified:
            continue
        sagemaker.point_endpoint_at(candidate.config_name, _tags(candidate))
        problems, _ = smoke_test(storage, sagemaker, candidate, horizon)
        if not problems:
            _record_serving(storage, sagemaker, candidate, f"restored after {failed.config_name}")
            return candidate
    if sagemaker.describe_endpoint() is not None:
        sagemaker.delete_endpoint()
    _record_serving(
        storage, sagemaker, None, f"no config known to serve after {failed.config_name}"
    )
    return None


def _record_serving(storage, sagemaker, target: Target | None, why: str) -> None:
    """After a restore: deployments/current.json and the registry name what serves now."""
    current = storage.get_json_or_none(layout.DEPLOYMENT_CURRENT)
    if target is not None and current and current.get("endpoint_config") == target.config_name:
        return  # the config that served before serves again: nothing changed
    stamp = now()
    if current and (target is None or current.get("model_version") != target.version):
        sagemaker.set_version_approval(
            current["model_version"], "Rejected", f"{why} at {stamp}", serving="false"
        )
    if target is None:
        storage.delete(layout.DEPLOYMENT_CURRENT)
        return
    record = storage.get_json_or_none(layout.deployment(target.version)) or {}
    storage.put_json(
        layout.DEPLOYMENT_CURRENT,
        {
            **record,
            "endpoint": sagemaker.endpoint_name,
            "endpoint_config": target.config_name,
            "model_version": target.version,
            "model_uri": target.model_uri,
            "artifact_sha256": target.artifact_sha256,
            "deployed_at": stamp,
            "restored": why,
        },
    )
    sagemaker.set_version_approval(
        target.version, "Approved", f"serving again since {stamp} ({why})", serving="true"
    )


def switch_endpoint(
    storage,
    sagemaker,
    target: Target,
    horizon: int,
    tags: dict[str, str],
    verified: bool = False,
) -> tuple[str | None, dict]:
    """Verify the artifact (unless the caller just did), point the endpoint at ``target`` and
    smoke-test it; on failure restore a config known to serve (or delete the endpoint) and raise
    SmokeTestFailed. Returns (the config that served before, the smoke-test answer)."""
    if not verified:
        verify(storage, target)
    previous = sagemaker.point_endpoint_at(target.config_name, {**tags, **_tags(target)})
    problems, answer = smoke_test(storage, sagemaker, target, horizon)
    if problems:
        restored = restore(storage, sagemaker, target, previous, horizon)
        raise SmokeTestFailed(target.config_name, restored, problems)
    return previous, answer


def deployed_versions(storage) -> list[str]:
    """Versions that have served on the endpoint (each has a deployment record)."""
    keys = storage.list_keys(layout.DEPLOYMENTS_PREFIX)
    names = [k.removeprefix(layout.DEPLOYMENTS_PREFIX).removesuffix(".json") for k in keys]
    return sorted(n for n in names if n and "/" not in n and n != "current")


def rollback(storage, sagemaker, version: str, horizon: int = 7) -> dict:
    """Serve ``version`` again: its endpoint config (kept from when it served), after checking
    its artifact against the registered checksum, smoke-tested; the registry marks it Approved
    and the version it replaces Rejected."""
    if getattr(sagemaker, "multi_model", False):
        raise ValueError(
            f"endpoint {sagemaker.endpoint_name} serves a model per meter shard: roll a shard "
            "back by deploying the older version to it (forecast_endpoint with force: true for "
            "that shard's partition); rollback moves a single-model endpoint"
        )
    known = deployed_versions(storage)
    if version not in known:
        raise ValueError(
            f"version {version!r} never served on this endpoint; versions that did: "
            f"{', '.join(known) or 'none'}"
        )
    record = storage.get_json(layout.deployment(version))
    config_name = record["endpoint_config"]
    if not sagemaker.endpoint_config_exists(config_name):
        raise ValueError(f"endpoint config {config_name} of version {version} no longer exists")
    target = Target(
        config_name=config_name,
        version=version,
        model_uri=record["model_uri"],
        artifact_sha256=registered_sha256(sagemaker, version) or record.get("artifact_sha256"),
        smoke_meter=record.get("smoke_meter") or record["smoke_test"]["meter_id"],
    )
    current = storage.get_json_or_none(layout.DEPLOYMENT_CURRENT) or {}
    tags = {"energy-assets:rollback": "true"}
    previous, answer = switch_endpoint(storage, sagemaker, target, horizon, tags)
    stamp = now()
    new_record = {
        **record,
        "artifact_sha256": target.artifact_sha256,
        "previous_endpoint_config": previous,
        "deployed_at": stamp,
        "rolled_back_from": current.get("model_version"),
        "smoke_test": answer,
    }
    storage.put_json(layout.DEPLOYMENT_CURRENT, new_record)
    sagemaker.set_version_approval(
        version, "Approved", f"serving again since {stamp} (rollback)", serving="true"
    )
    replaced = current.get("model_version")
    if replaced and replaced != version:
        sagemaker.set_version_approval(
            replaced, "Rejected", f"rolled back to {version} at {stamp}", serving="false"
        )
    return new_record
