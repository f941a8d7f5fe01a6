"""Champion/challenger promotion: the deploy sequence of a registered model.

The serving model (the champion) is replaced only by a challenger that forecasts the same test
window better, the way the endpoint is used: from the end of the same training window and from
every test day after it, both bundles forecast the next week given the actuals up to that day
(the champion with its own fitted parameters), and the pooled MAE over the meters both serve
decides. ``promote`` runs the whole sequence for the ``forecast_endpoint`` asset (which only
reports what it did): the gate, then a promoted model's Model and EndpointConfig, the switch,
the registry's approval, autoscaling and the deployment record. How a model reaches the
endpoint (artifact check, smoke test, restore, rollback) is ``rollout.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import pandas as pd

from energy_assets import layout
from energy_assets.ml.metrics import mae, rolling_test_forecasts
from energy_assets.release.rollout import (
    ArtifactNotVerified,
    SmokeTestFailed,
    Target,
    switch_endpoint,
    verify,
)
from energy_assets.serving.artifact import bundle_at


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    challenger_mae: float | None = None
    champion_mae: float | None = None
    common_meters: int = 0
    new_meters: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def compare(
    challenger: pd.DataFrame,
    champion: pd.DataFrame,
    champion_version: str,
    min_improvement: float = 0.0,
) -> Decision:
    """Decide on two test-window forecast frames (``meter_id, date, actual, forecast`` and,
    for rolling forecasts, ``origin``).

    Promote when the challenger's MAE over the rows both forecast is below the champion's by
    more than ``min_improvement`` (a fraction). A challenger that also serves meters the
    champion does not may be promoted when it is at least as good on the common ones.
    """
    keys = ["meter_id", "date"] + (
        ["origin"] if "origin" in challenger and "origin" in champion else []
    )
    both = challenger[[*keys, "actual", "forecast"]].merge(
        champion[[*keys, "forecast"]], on=keys, suffixes=("", "_champion")
    )
    new = sorted(set(challenger["meter_id"]) - set(champion["meter_id"]))
    if both.empty:
        return Decision(True, f"champion {champion_version} shares no test rows", new_meters=new)
    ours = mae(both["actual"], both["forecast"])
    theirs = mae(both["actual"], both["forecast_champion"])
    meters = int(both["meter_id"].nunique())
    figures = dict(challenger_mae=ours, champion_mae=theirs, common_meters=meters, new_meters=new)
    if not math.isfinite(ours):
        return Decision(False, "challenger forecasts are not finite", **figures)
    if not math.isfinite(theirs) or ours < theirs * (1 - min_improvement):
        return Decision(
            True,
            f"test MAE {ours:.4g} beats champion {champion_version} ({theirs:.4g}) "
            f"on {meters} meters",
            **figures,
        )
    if new and ours <= theirs:
        return Decision(
            True,
            f"serves {len(new)} new meters and matches champion {champion_version} "
            f"(MAE {ours:.4g} vs {theirs:.4g}) on {meters} meters",
            **figures,
        )
    needed = f" by {min_improvement:.0%}" if min_improvement else ""
    return Decision(
        False,
        f"test MAE {ours:.4g} does not beat champion {champion_version} ({theirs:.4g}){needed} "
        f"on the same {meters} meters and days",
        **figures,
    )


@dataclass(frozen=True)
class Challenger:
    """The registered model a deploy is about (``registered_model``'s value, as plain fields)."""

    version: str
    model_uri: str
    smoke_meter: str


@dataclass(frozen=True)
class EndpointSpec:
    """How the endpoint serves a promoted model (the asset's ``DeployConfig``)."""

    instance_type: str = "ml.m5.large"
    initial_instance_count: int = 1
    min_capacity: int = 1
    max_capacity: int = 4
    target_invocations_per_instance: float = 3000.0
    scale_in_cooldown_seconds: int = 300
    scale_out_cooldown_seconds: int = 60
    smoke_test_horizon: int = 7
    data_capture_percent: int = 100  # 0 turns data capture off
    min_improvement: float = 0.0
    force: bool = False


@dataclass(frozen=True)
class Outcome:
    """What a deploy did: the gate's decision and, when it promoted, the deployment record."""

    decision: Decision
    version: str
    serving_version: str
    record: dict | None = None

    @property
    def deployed(self) -> bool:
        return self.record is not None

    @property
    def figures(self) -> dict[str, float]:
        pairs = (
            ("challenger_test_mae", self.decision.challenger_mae),
            ("champion_test_mae", self.decision.champion_mae),
        )
        return {k: float(v) for k, v in pairs if v is not None}


class DeployFailed(RuntimeError):
    """The promoted model does not serve: its artifact changed, or its smoke test failed (the
    endpoint then serves a config known to serve, or was deleted). The package is Rejected."""

    def __init__(self, failure: SmokeTestFailed | ArtifactNotVerified):
        super().__init__(str(failure))
        self.problems = list(getattr(failure, "problems", [str(failure)]))
        restored = getattr(failure, "restored", None)
        self.restored = restored.config_name if restored else ""


Split = Callable[[], tuple[pd.DataFrame, pd.DataFrame]]


def champion_decision(
    storage, current: dict, challenger: Challenger, split: Split, min_improvement: float
) -> Decision:
    """Both models forecast the same test window from the same origins and actuals."""
    champion_version = current["model_version"]
    train, test = split()
    # its checksum is verified before anything is deployed (rollout.verify): a changed
    # artifact is refused there, with the endpoint untouched
    bundle = bundle_at(storage, challenger.model_uri)
    ours = rolling_test_forecasts(bundle, train, test)
    champion_uri = current.get("model_uri") or storage.uri(
        layout.model_dir(champion_version) + "model.tar.gz"
    )
    try:
        champion = bundle_at(storage, champion_uri)
        theirs = rolling_test_forecasts(champion, train, test)
    except Exception as error:  # an unreadable champion cannot be compared: say so, deploy
        return Decision(True, f"champion {champion_version} cannot be evaluated: {error}")
    return compare(ours, theirs, champion_version, min_improvement)


def decide(
    storage, sagemaker, challenger: Challenger, split: Split, spec: EndpointSpec
) -> tuple[Decision, dict | None]:
    """The gate's decision and the record of what serves now (None when nothing does)."""
    version = challenger.version
    current = (
        storage.get_json_or_none(layout.DEPLOYMENT_CURRENT)
        if sagemaker.describe_endpoint()
        else None
    )
    if current is None:
        return Decision(True, "no model is serving"), None
    if current["model_version"] == version:
        return Decision(True, f"{version} already serves: redeploying its configuration"), current
    if spec.force:
        return Decision(True, f"forced over champion {current['model_version']}"), current
    return champion_decision(storage, current, challenger, split, spec.min_improvement), current


def data_capture(storage, percent: int) -> dict | None:
    if percent <= 0:
        return None
    return {
        "EnableCapture": True,
        "InitialSamplingPercentage": min(percent, 100),
        "DestinationS3Uri": storage.uri(layout.DATA_CAPTURE_PREFIX.rstrip("/")),
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
    }


def promote(
    storage,
    sagemaker,
    challenger: Challenger,
    split: Split,
    spec: EndpointSpec,
    run_id: str,
    log: Callable[[str], None] = print,
) -> Outcome:
    """Serve ``challenger`` if the gate says so; record the decision either way.

    A challenger that is not promoted is Rejected with the reason and the champion keeps
    serving. A promoted model's artifact is checked against the SHA-256 registered with it
    before anything is created; it gets a SageMaker Model and EndpointConfig (instance type and
    count, data capture); the endpoint is created or updated in place (UpdateEndpoint: the old
    fleet serves until the new one is InService), smoke-tested, restored to a config known to
    serve if the smoke test fails (``DeployFailed``), and scaled by target tracking."""
    version = challenger.version
    package = sagemaker.find_package(version)
    decision, current = decide(storage, sagemaker, challenger, split, spec)
    log(f"{version}: {'deploy' if decision.promote else 'keep champion'}: {decision.reason}")
    storage.put_json(
        layout.deploy_decision(version),
        {
            "version": version,
            "champion": (current or {}).get("model_version"),
            "decided_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "run_id": run_id,
            **decision.as_dict(),
        },
    )
    if not decision.promote:
        if package:
            sagemaker.set_approval(package, "Rejected", decision.reason, serving="false")
        return Outcome(decision, version, current["model_version"])
    record = _deploy(storage, sagemaker, challenger, package, decision, current, spec, run_id)
    log(
        f"endpoint {sagemaker.endpoint_name} serves {record['endpoint_config']} "
        f"(before: {record['previous_endpoint_config']})"
    )
    return Outcome(decision, version, version, record)


def mark_serving(sagemaker, package, version: str, current, note: str, stamp: str) -> str | None:
    """The registry after ``version`` went live: its package Approved and marked serving with
    ``note``; the version ``current`` (the deployment record it replaced) marked no longer
    serving. Returns that replaced version (None: nothing served before)."""
    if package:
        sagemaker.set_approval(package, "Approved", note, serving="true")
    replaced = (current or {}).get("model_version")
    if replaced and replaced != version:
        sagemaker.set_version_approval(
            replaced, "Approved", f"replaced by {version} at {stamp}", serving="false"
        )
    return replaced


def _deploy(storage, sagemaker, challenger, package, decision, current, spec, run_id) -> dict:
    version = challenger.version
    name = f"{sagemaker.endpoint_name}-{version}"[:63].rstrip("-")
    tags = {"energy-assets:model-version": version, "energy-assets:run-id": run_id}
    capture = data_capture(storage, spec.data_capture_percent)
    target = Target(
        config_name=name,
        version=version,
        model_uri=challenger.model_uri,
        artifact_sha256=(package or {})
        .get("CustomerMetadataProperties", {})
        .get("artifact_sha256"),
        smoke_meter=challenger.smoke_meter,
    )
    try:
        verify(storage, target)  # nothing is created, the endpoint untouched, if it changed
        if not sagemaker.endpoint_config_exists(name):
            sagemaker.create_model(name, challenger.model_uri, tags)
            sagemaker.create_endpoint_config(
                name, name, spec.instance_type, spec.initial_instance_count, tags, capture
            )
        previous, answer = switch_endpoint(
            storage, sagemaker, target, spec.smoke_test_horizon, tags, verified=True
        )
    except (SmokeTestFailed, ArtifactNotVerified) as failure:
        if package:
            sagemaker.set_approval(package, "Rejected", str(failure), serving="false")
        raise DeployFailed(failure) from failure
    scaling = sagemaker.configure_autoscaling(
        spec.min_capacity,
        spec.max_capacity,
        spec.target_invocations_per_instance,
        spec.scale_in_cooldown_seconds,
        spec.scale_out_cooldown_seconds,
    )
    now = datetime.now(UTC).isoformat(timespec="seconds")
    replaced = mark_serving(
        sagemaker, package, version, current, f"serving since {now}: {decision.reason}", now
    )
    record = {
        "endpoint": sagemaker.endpoint_name,
        "endpoint_config": name,
        "model_version": version,
        "model_uri": challenger.model_uri,
        "artifact_sha256": target.artifact_sha256,
        "model_package_arn": (package or {}).get("ModelPackageArn"),
        "previous_endpoint_config": previous,
        "replaced_version": replaced,
        "reason": decision.reason,
        "deployed_at": now,
        "instance_type": spec.instance_type,
        "initial_instance_count": spec.initial_instance_count,
        "data_capture": capture,
        "autoscaling": {**scaling, "min": spec.min_capacity, "max": spec.max_capacity},
        "smoke_meter": challenger.smoke_meter,
        "smoke_test": answer,
    }
    storage.put_json(layout.deployment(version), record)
    storage.put_json(layout.DEPLOYMENT_CURRENT, record)
    return record
