"""Every evaluated model registered as a version of the SageMaker model package group, with the
SHA-256 of its artifact: what a deploy or a rollback later checks before it serves the model."""

from datetime import UTC, datetime

import dagster as dg

from energy_assets import layout
from energy_assets.assets.evaluation import evaluation_report
from energy_assets.resources import S3Storage, SageMakerResource
from energy_assets.resources.s3 import SHA256
from energy_assets.retry_policy import AWS_RETRY_POLICY
from energy_assets.serving.artifact import artifact_sha256

REGISTERED_METRICS = ("mae", "rmse", "mse", "baseline_mae", "relative_mae")


def artifact_identity(storage: S3Storage, model_uri: str) -> dict[str, str]:
    """SHA-256 of the artifact's bytes (checked against the one training wrote in the object's
    metadata) and its ETag, which lets the registry view check it with a HEAD request."""
    key = storage.key_of(model_uri)
    head = storage.head(key)
    data = storage.get_bytes(key)
    sha = artifact_sha256(data)
    written = ((head or {}).get("Metadata") or {}).get(SHA256)
    if written != sha:
        was = f"training wrote {written[:12]}…" if written else "written without a checksum"
        raise dg.Failure(
            f"{model_uri} changed between training and registration (SHA-256 {sha[:12]}…, "
            f"{was}): materialize trained_forecaster again",
            allow_retries=False,
        )
    return {"artifact_sha256": sha, "artifact_etag": (head or {}).get("ETag", "").strip('"')}


@dg.asset(
    deps=[evaluation_report],
    group_name="deployment",
    kinds={"sagemaker"},
    code_version="2",
    retry_policy=AWS_RETRY_POLICY,
)
def registered_model(
    context: dg.AssetExecutionContext, storage: S3Storage, sagemaker: SageMakerResource
) -> dg.MaterializeResult:
    """Register the evaluated model in the model package group with its test metrics, pending
    approval; the deploy gate approves it when it serves or rejects it with the reason. The
    artifact's SHA-256 goes into the package's metadata. Registering a version twice returns the
    existing package."""
    report = storage.get_json(layout.EVALUATION_LATEST)
    version = report["version"]
    package = sagemaker.find_package(version)
    if package is None:
        metrics = {
            k: f"{float(report['overall'][k]):.6g}"
            for k in REGISTERED_METRICS
            if k in report["overall"]
        }
        report_uri = storage.uri(layout.evaluation_dir(version) + "report.json")
        identity = artifact_identity(storage, report["model_uri"])
        arn = sagemaker.register_model(
            version,
            report["model_uri"],
            {**metrics, **identity},
            report_uri,
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
        "model_uri": report["model_uri"],
        "artifact_sha256": package.get("CustomerMetadataProperties", {}).get("artifact_sha256"),
        "registered_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    storage.put_json(layout.registration(version), record)
    return dg.MaterializeResult(
        metadata={
            "version": version,
            "model_package_arn": record["model_package_arn"],
            "model_package_group": record["model_package_group"],
            "package_version": record["package_version"] or 0,
            "approval_status": record["status"],
            **dict(package.get("CustomerMetadataProperties", {})),
        }
    )
