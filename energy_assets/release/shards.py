"""A meter shard's deploy on the multi-model endpoint (``ENERGY_ASSETS_SHARDS`` above 1).

One endpoint serves every shard: its model is ``Mode: MultiModel`` over the prefix
``models/serving/`` (``layout.SERVING_PREFIX``), and each invocation names the artifact that
answers by ``TargetModel``. A shard's deploy goes the way a single model's does, per shard:

1. the champion/challenger gate against the model the shard's route serves now
   (``promotion.champion_decision``, on the shard's own test window);
2. the artifact is read and checked against the SHA-256 registered with the version, then
   copied to ``models/serving/shard=NN/<version>.tar.gz``: a key naming the shard AND the
   version, since SageMaker does not read a loaded model again (a new version needs a new key);
3. the multi-model endpoint is created the first time (or moved onto its multi-model config);
4. a smoke test invokes the new key (``invoke_target``) for a meter of the shard and must
   answer with the new version;
5. only then is the shard's route (``deployments/routes/shard=NN.json``) rewritten. A failed
   deploy never touches the route: the old version, at its own key, keeps answering the
   shard's meters, and the other shards are not involved at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime

import botocore.exceptions

from energy_assets import layout
from energy_assets.release.promotion import (
    Challenger,
    Decision,
    DeployFailed,
    EndpointSpec,
    Outcome,
    Split,
    champion_decision,
    data_capture,
    mark_serving,
)
from energy_assets.release.rollout import ArtifactNotVerified, Target, smoke_test_problems
from energy_assets.resources import routes
from energy_assets.resources.s3 import MissingObject
from energy_assets.serving.artifact import ArtifactMismatch, verify_artifact


class ShardSmokeFailed(RuntimeError):
    """The new key of a shard did not answer with its version: the route was not changed."""

    def __init__(self, shard: str, target: str, kept: Target | None, problems: list[str]):
        self.shard, self.restored, self.problems = shard, kept, problems
        where = (
            f"shard {shard} stays routed to {kept.config_name} (version {kept.version})"
            if kept
            else f"shard {shard} has no route: its meters get no forecast until a model passes"
        )
        super().__init__(f"smoke test of {target} failed ({'; '.join(problems)}); {where}")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def multi_model_config(sagemaker) -> str:
    return f"{sagemaker.endpoint_name}-multi-model"[:63]


def ensure_endpoint(storage, sagemaker, spec: EndpointSpec, tags: dict[str, str]) -> str:
    """The multi-model endpoint serving ``models/serving/``: created on the first shard's
    deploy, or moved onto the multi-model config if it served a single model before. Shard
    runs at once may race here: whoever loses finds the winner's config and endpoint."""
    name = multi_model_config(sagemaker)
    prefix = storage.uri(layout.SERVING_PREFIX)
    if not sagemaker.endpoint_config_exists(name):
        try:
            sagemaker.create_multi_model_endpoint_config(
                name,
                name,
                prefix,
                spec.instance_type,
                spec.initial_instance_count,
                tags,
                data_capture(storage, spec.data_capture_percent),
            )
        except botocore.exceptions.ClientError:
            if not sagemaker.endpoint_config_exists(name):
                raise
    described = sagemaker.describe_endpoint()
    if described is None or described["EndpointConfigName"] != name:
        try:
            sagemaker.point_endpoint_at(name, tags)
        except botocore.exceptions.ClientError:
            described = sagemaker.describe_endpoint()
            if described is None or described["EndpointConfigName"] != name:
                raise
            sagemaker.wait_in_service()
    return name


def _route_target(route: dict | None) -> Target | None:
    if not route:
        return None
    return Target(
        config_name=route["target_model"],
        version=route["model_version"],
        model_uri=route["model_uri"],
        artifact_sha256=route.get("artifact_sha256"),
        smoke_meter=route.get("smoke_meter", ""),
    )


def promote_shard(
    storage,
    sagemaker,
    challenger: Challenger,
    split: Split,
    spec: EndpointSpec,
    run_id: str,
    shard: str,
    log: Callable[[str], None] = print,
) -> Outcome:
    """Serve ``challenger`` for shard ``shard``'s meters if the gate says so (module doc)."""
    version = challenger.version
    package = sagemaker.find_package(version)
    current = storage.get_json_or_none(layout.route(shard))
    if current is not None and sagemaker.describe_endpoint() is None:
        current = None  # the endpoint is gone: nothing serves the route
    if current is None:
        decision = Decision(True, f"no model serves shard {shard}")
    elif current["model_version"] == version:
        decision = Decision(True, f"{version} already serves shard {shard}: redeploying")
    elif spec.force:
        decision = Decision(True, f"forced over champion {current['model_version']}")
    else:
        decision = champion_decision(storage, current, challenger, split, spec.min_improvement)
    log(f"{version}: {'deploy' if decision.promote else 'keep champion'}: {decision.reason}")
    storage.put_json(
        layout.deploy_decision(version),
        {
            "version": version,
            "shard": shard,
            "champion": (current or {}).get("model_version"),
            "decided_at": now(),
            "run_id": run_id,
            **decision.as_dict(),
        },
    )
    if not decision.promote:
        if package:
            sagemaker.set_approval(package, "Rejected", decision.reason, serving="false")
        return Outcome(decision, version, current["model_version"])
    try:
        record = _deploy(
            storage, sagemaker, challenger, package, decision, current, spec, run_id, shard
        )
    except (ShardSmokeFailed, ArtifactNotVerified) as failure:
        if package:
            sagemaker.set_approval(package, "Rejected", str(failure), serving="false")
        raise DeployFailed(failure) from failure
    log(f"endpoint {sagemaker.endpoint_name} routes shard {shard} to {record['target_model']}")
    return Outcome(decision, version, version, record)


def _deploy(storage, sagemaker, challenger, package, decision, current, spec, run_id, shard):
    version = challenger.version
    sha256 = (package or {}).get("CustomerMetadataProperties", {}).get("artifact_sha256")
    target_model = layout.target_model(shard, version)
    where = f"model artifact {challenger.model_uri} of version {version}"
    try:
        data = storage.get_bytes(storage.key_of(challenger.model_uri))
        verify_artifact(data, sha256, where)
    except MissingObject as error:
        raise ArtifactNotVerified(f"{error.description}; the endpoint was not touched") from None
    except ArtifactMismatch as error:
        raise ArtifactNotVerified(f"{error}; the endpoint was not touched") from None
    # the bytes just verified, at the key the endpoint loads them from
    storage.put_bytes(layout.SERVING_PREFIX + target_model, data, "application/gzip")
    tags = {"energy-assets:shards": str(sagemaker.shards), "energy-assets:run-id": run_id}
    config = ensure_endpoint(storage, sagemaker, spec, tags)
    horizon = spec.smoke_test_horizon
    try:
        answer = sagemaker.invoke_target(
            target_model, {"meter_id": challenger.smoke_meter, "horizon": horizon}
        )
        problems = smoke_test_problems(answer, version, horizon)
    except Exception as error:  # any failure to answer is a failed smoke test
        answer, problems = {}, [f"invocation failed: {error}"]
    target = Target(target_model, version, challenger.model_uri, sha256, challenger.smoke_meter)
    storage.put_json(
        layout.shard_smoke_record(shard, version),
        {
            **asdict(target),
            "shard": shard,
            "passed": not problems,
            "problems": problems,
            "tested_at": now(),
        },
    )
    if problems:
        raise ShardSmokeFailed(shard, target_model, _route_target(current), problems)
    scaling = sagemaker.configure_autoscaling(
        spec.min_capacity,
        spec.max_capacity,
        spec.target_invocations_per_instance,
        spec.scale_in_cooldown_seconds,
        spec.scale_out_cooldown_seconds,
    )
    stamp = now()
    note = f"serving shard {shard} since {stamp}: {decision.reason}"
    replaced = mark_serving(sagemaker, package, version, current, note, stamp)
    record = {
        "endpoint": sagemaker.endpoint_name,
        "endpoint_config": config,
        "shard": shard,
        "shards": sagemaker.shards,
        "target_model": target_model,
        "model_version": version,
        "model_uri": challenger.model_uri,
        "serving_uri": storage.uri(layout.SERVING_PREFIX + target_model),
        "artifact_sha256": sha256,
        "model_package_arn": (package or {}).get("ModelPackageArn"),
        "replaced_version": replaced,
        "previous_target_model": (current or {}).get("target_model"),
        "reason": decision.reason,
        "deployed_at": stamp,
        "instance_type": spec.instance_type,
        "initial_instance_count": spec.initial_instance_count,
        "data_capture": data_capture(storage, spec.data_capture_percent),
        "autoscaling": {**scaling, "min": spec.min_capacity, "max": spec.max_capacity},
        "smoke_meter": challenger.smoke_meter,
        "smoke_test": answer,
    }
    storage.put_json(layout.shard_deployment(shard, version), record)
    storage.put_json(layout.route(shard), record)  # last: the route moves once all else is done
    routes.forget(storage.bucket, shard)
    return record
