"""SageMaker DeepAR: the JSON Lines channels and the CreateTrainingJob request.

DeepAR is SageMaker's built-in "one model for many series" forecaster. Its channels hold one
JSON object per meter: ``start``, ``target`` (daily usage), ``cat`` (the meter's index) and,
when the data has temperature, ``dynamic_feat``. The train channel ends with the training
window; the test channel holds the whole series (DeepAR scores the last
``prediction_length`` days of each). Only real AWS runs the job: the local AWS records the
request but produces no model artifact.
"""

from __future__ import annotations

import json

import pandas as pd

DEFAULT_HYPERPARAMETERS = {
    "time_freq": "D",
    "prediction_length": "14",
    "context_length": "28",
    "epochs": "100",
    "early_stopping_patience": "10",
    "num_cells": "40",
    "num_layers": "2",
    "likelihood": "student-T",
    "mini_batch_size": "64",
    "learning_rate": "0.001",
}


def deepar_lines(frame: pd.DataFrame, meters: list[str] | None = None) -> str:
    """JSON Lines, one object per meter of a gap-free long frame (``meter_id, date, usage`` and
    an optional ``temperature`` column)."""
    frame = frame.sort_values(["meter_id", "date"])
    meters = meters or sorted(frame["meter_id"].astype(str).unique())
    index = {m: i for i, m in enumerate(meters)}
    lines = []
    for meter, g in frame.groupby(frame["meter_id"].astype(str), sort=True):
        record = {
            "start": pd.Timestamp(g["date"].iloc[0]).strftime("%Y-%m-%d 00:00:00"),
            "target": [round(float(v), 4) for v in g["usage"]],
            "cat": [index[meter]],
        }
        if "temperature" in g and g["temperature"].notna().all():
            record["dynamic_feat"] = [[round(float(v), 2) for v in g["temperature"]]]
        lines.append(json.dumps(record, separators=(",", ":")))
    return "\n".join(lines) + "\n"


def deepar_channels(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, str]:
    """``{"train": ..., "test": ...}`` JSON Lines; the test channel is train + test days (a
    meter that joined in the test window is in it alone, with its own category)."""
    whole = pd.concat([train, test]).drop_duplicates(["meter_id", "date"])
    meters = sorted(whole["meter_id"].astype(str).unique())
    return {"train": deepar_lines(train, meters), "test": deepar_lines(whole, meters)}


def training_job_request(
    job_name: str,
    image_uri: str,
    role_arn: str,
    channels: dict[str, str],
    output_uri: str,
    hyperparameters: dict[str, str] | None = None,
    instance_type: str = "ml.c5.2xlarge",
    instance_count: int = 1,
    max_runtime_seconds: int = 3600,
    cardinality: int | None = None,
    with_temperature: bool = False,
) -> dict:
    """Keyword arguments of ``sagemaker.create_training_job`` for the built-in DeepAR image;
    ``channels`` maps channel names to S3 prefixes."""
    params = {**DEFAULT_HYPERPARAMETERS, **(hyperparameters or {})}
    if cardinality:
        params.setdefault("cardinality", str(cardinality))
    if not with_temperature:
        params.setdefault("num_dynamic_feat", "ignore")
    return {
        "TrainingJobName": job_name,
        "AlgorithmSpecification": {"TrainingImage": image_uri, "TrainingInputMode": "File"},
        "RoleArn": role_arn,
        "HyperParameters": {k: str(v) for k, v in params.items()},
        "InputDataConfig": [
            {
                "ChannelName": name,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": uri,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": "application/jsonlines",
            }
            for name, uri in channels.items()
        ],
        "OutputDataConfig": {"S3OutputPath": output_uri},
        "ResourceConfig": {
            "InstanceType": instance_type,
            "InstanceCount": instance_count,
            "VolumeSizeInGB": 10,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime_seconds},
    }


def deepar_image_uri(region: str) -> str:
    """The built-in DeepAR image of ``region`` (the SageMaker SDK knows the registry accounts)."""
    from sagemaker.core import image_uris

    return image_uris.retrieve("forecasting-deepar", region)
