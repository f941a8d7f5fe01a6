"""Latency and throughput of invoke_endpoint through boto3 against the local SageMaker runtime,
beside the bare in-process predict call (the floor), in one run.

    .venv/bin/python benchmarks/serving.py [--requests 2000] [--meters 20] [--threads 8]

The local AWS runs in a process of its own (``python -m energy_assets.localaws``), as it does
for users, so the client and the server do not share one interpreter lock. The model is the
project's default training on generated data. Writes benchmarks/results/serving.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import boto3
import numpy as np
from botocore.config import Config

from energy_assets.localaws.process import LocalAWSProcess
from energy_assets.ml.cleaning import clean_usage
from energy_assets.ml.synthetic import generate_usage
from energy_assets.ml.training import train_forecasters
from energy_assets.serving.artifact import pack_bundle
from energy_assets.serving.handler import Predictor

RESULTS = Path(__file__).parent / "results"
ROLE = "arn:aws:iam::123456789012:role/bench"


def percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.array(samples) * 1000
    return {f"p{q}": float(np.percentile(ms, q)) for q in (50, 95, 99)}


def timed(call, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        out.append(time.perf_counter() - t)
    return out


def throughput(call, n: int, threads: int) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda _: call(), range(n)))
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--meters", type=int, default=20)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    clean = clean_usage(generate_usage(args.meters, 730, seed=1).astype(str)).clean
    bundle = train_forecasters(clean[["meter_id", "date", "usage"]], version="bench", n_jobs=-1)
    models = sorted({bundle.model_name(m) for m in bundle.meters})
    meters = bundle.meters
    single = json.dumps({"meter_id": meters[0], "horizon": 14}).encode()
    batch = json.dumps({"instances": [{"meter_id": m, "horizon": 14} for m in meters]}).encode()

    aws = LocalAWSProcess().start()
    env = aws.env
    try:
        session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name=env["AWS_DEFAULT_REGION"],
        )
        s3 = session.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"])
        sm = session.client("sagemaker", endpoint_url=env["AWS_ENDPOINT_URL"])
        s3.create_bucket(Bucket="bench")
        s3.put_object(Bucket="bench", Key="model.tar.gz", Body=pack_bundle(bundle))
        sm.create_model(
            ModelName="bench",
            PrimaryContainer={"Image": "img", "ModelDataUrl": "s3://bench/model.tar.gz"},
            ExecutionRoleArn=ROLE,
        )
        variant = {
            "VariantName": "AllTraffic",
            "ModelName": "bench",
            "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 1,
        }
        sm.create_endpoint_config(EndpointConfigName="bench", ProductionVariants=[variant])
        sm.create_endpoint(EndpointName="bench", EndpointConfigName="bench")
        runtime = session.client(
            "sagemaker-runtime",
            endpoint_url=env["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"],
            config=Config(max_pool_connections=args.threads * 2, retries={"max_attempts": 1}),
        )
        predictor = Predictor(bundle)

        def invoke(body):
            return lambda: runtime.invoke_endpoint(
                EndpointName="bench", ContentType="application/json", Body=body
            )["Body"].read()

        def local(body):
            return lambda: predictor.invoke(body, "application/json")

        for call in (invoke(single), local(single), invoke(batch)):  # load, caches, connections
            timed(call, 30)
        n_batch = max(50, args.requests // 20)
        rows = []
        for name, call, n in (
            ("in-process predict, 1 meter x 14 days", local(single), args.requests),
            ("invoke_endpoint, 1 meter x 14 days", invoke(single), args.requests),
            (f"in-process predict, batch of {len(meters)} meters", local(batch), n_batch),
            (f"invoke_endpoint, batch of {len(meters)} meters", invoke(batch), n_batch),
        ):
            latency = percentiles(timed(call, n))
            rps = throughput(call, n, args.threads)
            rows.append({"call": name, "n": n, **latency, "throughput_rps": rps})
    finally:
        aws.stop()

    floor = {r["call"].split(",")[1]: r for r in rows if r["call"].startswith("in-process")}
    lines = [
        f"# Serving benchmark ({datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()})",
        "",
        "invoke_endpoint: boto3 -> HTTP -> the local SageMaker runtime (its own process) -> "
        "endpoint resolution -> the same Predictor the container runs. The in-process predict "
        f"call is the floor. Model: the default training ({', '.join(models)}) on "
        f"{len(meters)} generated meters x 730 days. Latency: sequential calls; throughput: "
        f"{args.threads} client threads. Client and server share the machine's cores.",
        "",
        "| call | n | p50 ms | p95 ms | p99 ms | requests/s | p50 vs floor |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        base = floor[r["call"].split(",")[1]]
        lines.append(
            f"| {r['call']} | {r['n']} | {r['p50']:.2f} | {r['p95']:.2f} | {r['p99']:.2f} | "
            f"{r['throughput_rps']:.0f} | {r['p50'] / base['p50']:.2f}x |"
        )
    table = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "serving.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
