"""Every evaluated model registered as a version of the SageMaker model package group."""

from datetime import UTC, datetime

import dagster as dg

from energy_assets import layout
from energy_assets.assets.evaluation import evaluation_report
from energy_assets.resources import S3Storage, SageMakerResource

REGISTERED_METRICS = ("mae", "rmse", "mse", "baseline_mae", "relative_mae")


@dg.asset(deps=[evaluation_report], group_name="deployment", kinds={"sagemaker"}, code_version="1")
def registered_model(
    context: dg.AssetExecutionContext, storage: S3Storage, sagemaker: SageMakerResource
) -> dg.MaterializeResult:
    """Register the evaluated model in the model package group with its test metrics, pending
    approval; the deploy gate approves it when it serves or rejects it with the reason.
    Registering a version twice returns the existing package."""
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
        arn = sagemaker.register_model(
            version,
            report["model_uri"],
            metrics,
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
