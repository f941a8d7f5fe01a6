"""Every evaluated model registered as a version of the SageMaker model package group, with the
SHA-256 of its artifact: what a deploy or a rollback later checks before it serves the model.
Its reference error, the yardstick monitoring measures it by, is stored with it: once per
version, before it serves, so no monitoring day computes it."""

import time
from datetime import UTC, datetime

import dagster as dg

from energy_assets import layout
from energy_assets.assets.values import Evaluation, Registration, handed_on
from energy_assets.monitoring.run import Options
from energy_assets.monitoring.store import version_reference
from energy_assets.orchestration.retry_policy import AWS_RETRY_POLICY
from energy_assets.resources import S3Storage, SageMakerResource
from energy_assets.serving.artifact import artifact_sha256, bundle_at

REGISTERED_METRICS = ("mae", "rmse", "mse", "baseline_mae", "relative_mae")


def artifact_identity(storage: S3Storage, evaluation: Evaluation) -> dict[str, str]:
    """SHA-256 of the artifact's bytes (checked against the one training handed on with it)
    and its ETag, which lets the registry view check it with a HEAD request."""
    key = storage.key_of(evaluation.model_uri)
    head = storage.head(key)
    data = storage.get_bytes(key)
    sha = artifact_sha256(data)
    if sha != evaluation.artifact_sha256:
        raise dg.Failure(
            f"{evaluation.model_uri} changed between training and registration (SHA-256 "
            f"{sha[:12]}…, training wrote {evaluation.artifact_sha256[:12]}…): materialize "
            "trained_forecaster again",
            allow_retries=False,
        )
    return {"artifact_sha256": sha, "artifact_etag": (head or {}).get("ETag", "").strip('"')}


@dg.asset(
    group_name="deployment",
    kinds={"sagemaker"},
    code_version="3",
    retry_policy=AWS_RETRY_POLICY,
)
def registered_model(
    context: dg.AssetExecutionContext,
    storage: S3Storage,
    sagemaker: SageMakerResource,
    evaluation_report: Evaluation,
) -> dg.Output[Registration]:
    """Register the evaluated model in the model package group with its test metrics, pending
    approval; the deploy gate approves it when it serves or rejects it with the reason. The
    artifact's SHA-256 goes into the package's metadata. Registering a version twice returns the
    existing package."""
    evaluation = evaluation_report
    version = evaluation.version
    package = sagemaker.find_package(version)
    if package is None:
        report = storage.get_json(storage.key_of(evaluation.report_uri))
        metrics = {
            k: f"{float(report['overall'][k]):.6g}"
            for k in REGISTERED_METRICS
            if k in report["overall"]
        }
        identity = artifact_identity(storage, evaluation)
        arn = sagemaker.register_model(
            version,
            evaluation.model_uri,
            {**metrics, **identity},
            evaluation.report_uri,
            tags={"energy-assets:model-version": version, "energy-assets:run-id": context.run_id},
        )
        package = sagemaker.describe_package(arn)
        context.log.info(f"registered {version} as {package['ModelPackageArn']}")
    record = {
        "version": version,
        "model_package_arn": package["ModelPackageArn"],
        "model_package_group": sagemaker.package_group,
        "package_version": package.get("ModelPackageVersion"),
        "status": package["ModelApprovalStatus"],
        "model_uri": evaluation.model_uri,
        "artifact_sha256": package.get("CustomerMetadataProperties", {}).get("artifact_sha256"),
        "registered_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    storage.put_json(layout.registration(version), record)
    reference = stored_reference(context, storage, evaluation)
    registration = Registration(
        version=version,
        model_uri=evaluation.model_uri,
        artifact_sha256=record["artifact_sha256"] or "",
        model_package_arn=record["model_package_arn"],
        smoke_meter=evaluation.smoke_meter,
    )
    return handed_on(
        registration,
        metadata={
            "version": version,
            "model_package_arn": record["model_package_arn"],
            "model_package_group": record["model_package_group"],
            "package_version": record["package_version"] or 0,
            "approval_status": record["status"],
            **reference,
            **dict(package.get("CustomerMetadataProperties", {})),
        },
    )


def stored_reference(
    context: dg.AssetExecutionContext, storage: S3Storage, evaluation: Evaluation
) -> dict:
    """The version's reference error (``monitoring/reference/<version>.json``, over the window
    and lead monitoring uses by default), computed from the artifact when not yet stored. An
    artifact it cannot be computed from is still registered (the deploy gate's smoke test is
    what refuses it), with the reason in the metadata."""
    options = Options()
    started = time.perf_counter()
    try:
        bundle = bundle_at(storage, evaluation.model_uri)
        ref, computed = version_reference(
            storage, bundle, options.reference_days, options.lead_days
        )
    except Exception as error:  # the deploy gate judges the artifact; registration goes on
        context.log.warning(
            f"reference error of {evaluation.version} not computed ({error}); monitoring "
            "computes it on the version's first day if it serves"
        )
        return {"reference": f"not computed: {error}"[:300]}
    seconds = time.perf_counter() - started
    if computed:
        context.log.info(
            f"reference error of {ref.version} over its last {ref.days} days: MASE "
            f"{ref.mase:.3f} ({len(ref.scale)} meters, {seconds:.1f} s)"
        )
    return {
        "reference_mase": ref.mase,
        "reference_days": ref.days,
        "reference_seconds": round(seconds, 2),
        "reference_uri": dg.MetadataValue.url(
            storage.uri(layout.monitoring_reference(ref.version))
        ),
    }
