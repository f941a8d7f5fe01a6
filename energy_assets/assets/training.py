"""Per-meter forecasters chosen on a validation window and packed as model.tar.gz."""

from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from energy_assets import layout
from energy_assets.assets.preparation import markdown_table
from energy_assets.assets.values import Dataset, ModelArtifact, handed_on
from energy_assets.ml.deepar import deepar_channels, deepar_image_uri, training_job_request
from energy_assets.ml.training import (
    DEFAULT_CANDIDATES,
    DEFAULT_COMBINATION,
    GLOBAL_MIN_DAYS,
    GLOBAL_MIN_METERS,
    train_forecasters,
)
from energy_assets.ml.validation import ValidationPlan
from energy_assets.resources import (
    MeterSettings,
    S3Storage,
    SageMakerResource,
    UsageTableResource,
)
from energy_assets.serving.artifact import artifact_sha256, pack_bundle
from energy_assets.settings import data_place


class TrainingConfig(dg.Config):
    # models scored on validation: seasonal naive, local models by name (ses, ses_log, theta,
    # ets, ets_log; sarima, sarimax, holt_winters, prophet cost more) and "gbm", the global model
    candidates: list[str] = list(DEFAULT_CANDIDATES)
    # the local models served by default, as their mean; a single one replaces it where it
    # validates 10% better
    combination: list[str] = list(DEFAULT_COMBINATION)
    validation_days: int = 182  # validation origins are weekly over up to this many last days
    refits: int = 2  # blocks of origins, each with its own fit (the way a model serves)
    # the global model for fleets of at least this many meters, or histories this long
    global_min_meters: int = GLOBAL_MIN_METERS
    global_min_days: int = GLOBAL_MIN_DAYS
    n_jobs: int = -1
    # public holidays of where the meters are (codes of the holidays library, e.g. AU and VIC);
    # unset: ENERGY_ASSETS_COUNTRY / ENERGY_ASSETS_SUBDIV, then what the table was seeded with
    country: str | None = None
    subdiv: str | None = None
    temperature: str = "auto"
    # "local": fit and choose here (the default). "sagemaker_deepar": write the DeepAR channels
    # and launch a SageMaker training job with the built-in DeepAR image instead (real AWS
    # trains it; the local AWS only records the request).
    trainer: str = "local"
    deepar_hyperparameters: dict[str, str] = {}
    deepar_instance_type: str = "ml.c5.2xlarge"
    deepar_image_uri: str = ""  # default: the region's built-in DeepAR image


def read_split(storage: S3Storage, split: Dataset, key: str) -> pd.DataFrame:
    """``train.csv`` or ``test.csv`` of ``split``: the bytes train_test_split handed on."""
    return storage.read_csv(
        key, expect=split.sha256(key), dtype={"meter_id": str}, parse_dates=["date"]
    )


def model_version(run_id: str, shard: str | None = None) -> str:
    """``20261130-012813-9421b17c``; a shard's version names its shard (``...-shard03``), so
    the registry, the routes and the monitoring records tell the shards' models apart."""
    stamp = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{run_id[:8]}"
    return stamp if shard is None else f"{stamp}-shard{shard}"


@dg.asset(
    group_name="training",
    kinds={"scikitlearn", "statsmodels", "s3"},
    code_version="3",
)
def trained_forecaster(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    storage: S3Storage,
    sagemaker: SageMakerResource,
    usage_table: UsageTableResource,
    meters: MeterSettings,
    train_test_split: Dataset,
) -> dg.Output[ModelArtifact]:
    """Validate the candidates per meter from weekly origins over up to ``validation_days`` of
    training (refitted per block of origins); serve each meter the mean of the default local
    models (or a single one clearly better), blended with the global model for fleets where the
    fleet's validation says so, and seasonal naive where that does not beat it; refit on the
    whole training window and store the artifact. Local models see the public holidays of
    where the meters are.

    Parameters come from the training window only; the test days join the artifact's history so
    that the endpoint forecasts the days after the latest actual."""
    train = read_split(storage, train_test_split, layout.train(train_test_split.shard))
    test = read_split(storage, train_test_split, layout.test(train_test_split.shard))
    columns = ["meter_id", "date", "usage"] + [
        c for c in ("temperature", "holiday") if c in train and c in test
    ]
    train, test = train[columns], test[columns]
    shard = train_test_split.shard
    version = model_version(context.run_id, shard)
    if config.trainer == "sagemaker_deepar":
        return launch_deepar(context, config, storage, sagemaker, train, test, version, shard)
    if config.trainer != "local":
        raise dg.Failure(f"unknown trainer {config.trainer!r}: use 'local' or 'sagemaker_deepar'")
    place = data_place(
        config.country, config.subdiv, usage_table.place, (meters.country, meters.subdiv)
    )
    context.log.info(f"public holidays: {place.describe()}")
    bundle = train_forecasters(
        train,
        recent=test,
        version=version,
        log=context.log.info,
        candidates=tuple(config.candidates),
        combination=tuple(config.combination),
        plan=ValidationPlan(days=config.validation_days, refits=config.refits),
        global_min_meters=config.global_min_meters,
        global_min_days=config.global_min_days,
        n_jobs=config.n_jobs,
        country=place.country,
        subdiv=place.subdiv,
        temperature=config.temperature,
    )
    artifact = pack_bundle(bundle)
    prefix = layout.model_dir(version)
    model_uri = storage.put_bytes(prefix + "model.tar.gz", artifact, "application/gzip")
    storage.put_csv(prefix + "selection.csv", bundle.selection)
    model = ModelArtifact(version, model_uri, artifact_sha256(artifact))
    selection = bundle.selection
    chosen = selection["chosen"].value_counts().to_dict()
    mae_columns = [c for c in selection.columns if c.startswith("mae_")]
    return handed_on(
        model,
        metadata={
            "version": version,
            "meters": len(bundle.meters),
            **{f"chosen_{name}": int(n) for name, n in chosen.items()},
            **{f"validation_{c}": float(selection[c].mean()) for c in mae_columns},
            "fit_failures": int(selection["error"].fillna("").astype(bool).sum())
            if "error" in selection
            else 0,
            "artifact_bytes": len(artifact),
            "selection": markdown_table(selection, 20),
            "global_model": dg.MetadataValue.json(bundle.training.gbm_params),
            "tuning": dg.MetadataValue.md(
                pd.DataFrame(list(bundle.training.tuning)).to_markdown(index=False)
            ),
            "temperature": bundle.training.temperature,
            "holidays": place.describe(),
            "validation_origins_median": float(selection["origins"].median())
            if "origins" in selection
            else 0.0,
            "global_model_used": bundle.training.validation.global_model,
            "global_model_weight": bundle.training.blend_weight,
            "model_uri": dg.MetadataValue.url(model_uri),
            "sha256": model.sha256,
        },
    )


def launch_deepar(context, config, storage, sagemaker, train, test, version, shard=None):
    """Write the DeepAR channels and start the training job; the job's model is DeepAR's own
    format, served by the DeepAR image (not by this project's endpoint)."""
    channels = {}
    for name, body in deepar_channels(train, test).items():
        key = layout.deepar_channel(name, shard)
        if not storage.exists(key):  # train_test_split writes them
            storage.put_bytes(key, body.encode(), "application/jsonlines")
        channels[name] = storage.uri(f"{layout.deepar_prefix(shard)}{name}/")
    region = sagemaker.region()
    request = training_job_request(
        job_name=f"energy-deepar-{version}"[:63],
        image_uri=config.deepar_image_uri or deepar_image_uri(region),
        role_arn=sagemaker.role_arn,
        channels=channels,
        output_uri=storage.uri(f"{layout.model_dir(version)}deepar/"),
        hyperparameters=config.deepar_hyperparameters,
        instance_type=config.deepar_instance_type,
        cardinality=int(train["meter_id"].nunique()),
        with_temperature="temperature" in train,
    )
    arn = sagemaker.create_training_job(request)
    context.log.info(f"started DeepAR training job {request['TrainingJobName']}")
    output = request["OutputDataConfig"]["S3OutputPath"]
    return handed_on(
        ModelArtifact(version, output, sha256="", trainer="sagemaker_deepar"),
        metadata={
            "trainer": "sagemaker_deepar",
            "training_job": request["TrainingJobName"],
            "training_job_arn": arn,
            "image": request["AlgorithmSpecification"]["TrainingImage"],
            "hyperparameters": dg.MetadataValue.json(request["HyperParameters"]),
            "train_channel": dg.MetadataValue.url(channels["train"]),
            "test_channel": dg.MetadataValue.url(channels["test"]),
            "output_uri": dg.MetadataValue.url(output),
        },
    )
