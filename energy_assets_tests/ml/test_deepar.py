"""DeepAR channels and the SageMaker training job the training asset launches instead of
fitting locally (checked against the local AWS, which records the request)."""

from __future__ import annotations

import json

import boto3
import dagster as dg
import pandas as pd

from energy_assets import layout
from energy_assets.assets.training import trained_forecaster
from energy_assets.ml.deepar import deepar_channels, training_job_request


def _split():
    dates = pd.date_range("2025-01-01", periods=60)
    frame = pd.concat(
        [
            pd.DataFrame(
                {
                    "meter_id": m,
                    "date": dates,
                    "usage": 10.0 + i + (dates.day_of_week >= 5),
                    "temperature": 12.5,
                }
            )  # fmt: skip
            for i, m in enumerate(["b", "a"])
        ]
    )
    return frame[frame["date"] < "2025-02-16"], frame[frame["date"] >= "2025-02-16"]


def test_channels_hold_one_series_per_meter():
    train, test = _split()
    channels = deepar_channels(train, test)
    lines = [json.loads(line) for line in channels["train"].splitlines()]
    assert [r["cat"] for r in lines] == [[0], [1]]  # meters in sorted order: a, b
    assert lines[0]["start"] == "2025-01-01 00:00:00" and len(lines[0]["target"]) == 46
    assert lines[0]["dynamic_feat"] == [[12.5] * 46]
    whole = [json.loads(line) for line in channels["test"].splitlines()]
    assert len(whole[1]["target"]) == 60 and whole[1]["target"][:46] == lines[1]["target"]


def test_request_names_image_channels_output_and_hyperparameters():
    request = training_job_request(
        "job", "img:1", "arn:role", {"train": "s3://b/t/", "test": "s3://b/s/"}, "s3://b/out/",
        hyperparameters={"epochs": 5}, cardinality=2,
    )  # fmt: skip
    assert request["HyperParameters"]["epochs"] == "5"
    assert request["HyperParameters"]["prediction_length"] == "14"
    assert request["HyperParameters"]["cardinality"] == "2"
    assert request["HyperParameters"]["num_dynamic_feat"] == "ignore"
    assert [c["ChannelName"] for c in request["InputDataConfig"]] == ["train", "test"]


def test_training_asset_launches_a_deepar_job(local_aws):
    from energy_assets.assets.evaluation import evaluation_report
    from energy_assets.assets.preparation import train_test_split
    from energy_assets.orchestration.definitions import build_defs
    from energy_assets_tests.conftest import NAMES, deployment
    from energy_assets_tests.lineage import publish, written

    # a bucket of its own: the session's pipeline fixture keeps its split in the shared one
    resources = build_defs(deployment(**{**NAMES, "bucket": "test-deepar"})).resources
    storage = resources["storage"]
    storage.ensure_bucket()
    train, test = _split()
    for key, part in ((layout.TRAIN, train), (layout.TEST, test)):
        storage.put_csv(key, part.assign(date=part["date"].dt.strftime("%Y-%m-%d")))
    instance = dg.DagsterInstance.ephemeral()
    publish(train_test_split, written(storage, layout.TRAIN, layout.TEST), resources, instance)
    config = {"trainer": "sagemaker_deepar", "deepar_hyperparameters": {"epochs": "20"}}
    result = dg.materialize(
        [train_test_split.to_source_asset(), trained_forecaster, evaluation_report],
        resources=resources,
        instance=instance,
        run_config={"ops": {"trained_forecaster": {"config": config}}},
        raise_on_error=False,
    )
    # the job's model is DeepAR's own: evaluation says so rather than score another model
    failure = result.get_step_failure_events()[0]
    assert failure.step_key == "evaluation_report"
    assert "served by the DeepAR image" in failure.step_failure_data.user_failure_data.description
    meta = {
        k: v.value
        for e in result.get_asset_materialization_events()
        for k, v in e.materialization.metadata.items()
    }
    job = boto3.client("sagemaker").describe_training_job(TrainingJobName=meta["training_job"])
    assert job["AlgorithmSpecification"]["TrainingImage"].endswith("/forecasting-deepar:1")
    assert job["HyperParameters"]["epochs"] == "20"
    assert job["HyperParameters"]["time_freq"] == "D"
    uris = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in job["InputDataConfig"]
    }
    assert uris == {"train": storage.uri("datasets/deepar/train/"),
                    "test": storage.uri("datasets/deepar/test/")}  # fmt: skip
    assert job["OutputDataConfig"]["S3OutputPath"].startswith(storage.uri("models/"))
    body = storage.get_bytes("datasets/deepar/train/train.json").decode()
    assert len(body.splitlines()) == 2
