"""A bounded load test of the endpoint and the app, on this machine only; it stops by itself.

    .venv/bin/python benchmarks/load.py [--rate 300] [--seconds 60] [--usage-rate 50]

The local AWS (``python -m energy_assets.localaws``) and the app (``energy-assets app``) run in
processes of their own, on 127.0.0.1, as they do for users; this process seeds the table,
trains the default model, deploys it and sends the load. Requests go out at a fixed rate (an
open loop: request i is due at i / rate seconds, whatever the answers before it), and latency
is counted from when a request was due, so a server that falls behind shows it in p99.

Phases, each a fixed number of requests:

1. baseline: the same rate at a route that does no work (the runtime's /ping, the app's
   /favicon.ico): what the load generator and the HTTP stack cost on their own;
2. the endpoint: ``invoke_endpoint`` through boto3 (one meter, 14 days) at ``--rate``;
3. the app: ``GET /api/meters`` (the page's first call: token and concurrency guard, the
   meter list the app keeps for a minute) at ``--rate``;
4. the app: ``GET /api/meters/{id}/usage`` (one DynamoDB Query each) at ``--usage-rate``: the
   local DynamoDB (moto: one thread and one new connection per call) bounds this route, not
   the app;
5. past capacity: the app's heaviest route (``/predictions``: three invocations, 62
   forecasts each) at ``--rate`` and the endpoint at ``--overload-rate``, 10 s each: what
   callers get when more arrives than the servers can answer.

Writes benchmarks/results/load.md. Nothing here reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import boto3
import httpx
import numpy as np
from botocore.config import Config

from energy_assets.background import free_port
from energy_assets.localaws.process import LocalAWSProcess

RESULTS = Path(__file__).parent / "results"
TABLE, BUCKET, ENDPOINT = "load-usage", "load-models", "load-forecaster"
ROLE = "arn:aws:iam::123456789012:role/load"


@dataclass
class Phase:
    name: str
    rate: float
    seconds: float
    latencies: list[float] = field(default_factory=list)
    outcomes: Counter = field(default_factory=Counter)
    elapsed: float = 0.0

    def row(self) -> str:
        ms = np.array(self.latencies) * 1000
        p = {q: float(np.percentile(ms, q)) for q in (50, 95, 99)} if len(ms) else {}
        sent = sum(self.outcomes.values())
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(self.outcomes.items()))
        errors = sum(v for k, v in self.outcomes.items() if k != "200")
        return (
            f"| {self.name} | {self.rate:.0f}/s x {self.seconds:.0f} s | {sent} | "
            f"{sent / self.elapsed:.0f}/s | {p.get(50, 0):.1f} | {p.get(95, 0):.1f} | "
            f"{p.get(99, 0):.1f} | {max(ms, default=0):.0f} | {errors} | {answers} |"
        )


async def open_loop(phase: Phase, send) -> Phase:
    """Send ``rate * seconds`` requests, request i due at i / rate s; ``send()`` returns the
    outcome's name (an HTTP status, or an error's type)."""
    loop = asyncio.get_running_loop()
    count = int(phase.rate * phase.seconds)
    start = loop.time()

    async def one(due: float) -> None:
        try:
            outcome = await send()
        except Exception as error:  # a timeout or a refused connection: counted, not raised
            outcome = type(error).__name__
        phase.outcomes[outcome] += 1
        phase.latencies.append(loop.time() - due)

    tasks = []
    for i in range(count):
        due = start + i / phase.rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    phase.elapsed = loop.time() - start
    return phase


def deploy(env: dict[str, str], meters: int) -> list[str]:
    """Seed the table, train the default model, deploy it; returns the meter ids."""
    from energy_assets.ml.cleaning import clean_usage
    from energy_assets.ml.synthetic import generate_usage
    from energy_assets.ml.training import train_forecasters
    from energy_assets.resources import UsageTableResource
    from energy_assets.serving.artifact import pack_bundle

    os.environ.update(env)
    frame = generate_usage(meters, 400, seed=3)
    table = UsageTableResource(table_name=TABLE)
    table.create()
    table.put_usage(frame[["meter_id", "date", "usage"]])
    clean = clean_usage(frame.astype(str)).clean
    bundle = train_forecasters(clean[["meter_id", "date", "usage"]], version="load", n_jobs=1)
    s3, sagemaker = boto3.client("s3"), boto3.client("sagemaker")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="model.tar.gz", Body=pack_bundle(bundle))
    sagemaker.create_model(
        ModelName="load",
        PrimaryContainer={"Image": "img", "ModelDataUrl": f"s3://{BUCKET}/model.tar.gz"},
        ExecutionRoleArn=ROLE,
    )
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": "load",
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
    }
    sagemaker.create_endpoint_config(EndpointConfigName="load", ProductionVariants=[variant])
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="load")
    return bundle.meters


def start_app(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    app_env = {
        **os.environ,
        **env,
        "ENERGY_ASSETS_TABLE": TABLE,
        "ENERGY_ASSETS_ENDPOINT": ENDPOINT,
    }
    command = [sys.executable, "-m", "energy_assets.cli", "app", "--port", str(port)]
    process = subprocess.Popen(command, env=app_env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{url}/favicon.ico")
            return process, url
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the app did not start") from None
            time.sleep(0.2)


async def run(args: argparse.Namespace, env: dict[str, str], meters: list[str], app: str):
    runtime_url = env["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"]
    runtime = boto3.session.Session().client(
        "sagemaker-runtime",
        endpoint_url=runtime_url,
        config=Config(
            max_pool_connections=256,
            retries={"max_attempts": 1},
            read_timeout=10,
            connect_timeout=5,
        ),
    )
    pool = ThreadPoolExecutor(128)
    loop = asyncio.get_running_loop()
    end = datetime.now(UTC).date() - timedelta(days=1)
    window = {"start": (end - timedelta(days=27)).isoformat(), "end": end.isoformat()}
    bodies = [f'{{"meter_id": "{m}", "horizon": 14}}'.encode() for m in meters]

    def invoke() -> str:
        try:
            runtime.invoke_endpoint(
                EndpointName=ENDPOINT, ContentType="application/json", Body=random.choice(bodies)
            )["Body"].read()
            return "200"
        except runtime.exceptions.ClientError as error:
            return str(error.response["ResponseMetadata"]["HTTPStatusCode"])

    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(timeout=10, limits=limits) as client:

        async def get(url: str, params: dict | None = None) -> str:
            return str((await client.get(url, params=params)).status_code)

        async def endpoint() -> str:
            return await loop.run_in_executor(pool, invoke)

        def usage() -> object:
            return get(f"{app}/api/meters/{random.choice(meters)}/usage", window)

        def predictions() -> object:
            return get(f"{app}/api/meters/{random.choice(meters)}/predictions", window)

        warm = Phase("warm-up", 50, 4)
        await open_loop(warm, endpoint)
        await open_loop(Phase("warm-up", 50, 4), usage)
        rate, seconds, over = args.rate, args.seconds, args.overload_rate
        short = min(seconds, 20)
        phases = [
            (Phase("baseline: runtime GET /ping", rate, short), lambda: get(f"{runtime_url}/ping")),
            (
                Phase("endpoint: invoke_endpoint (boto3), 1 meter x 14 days", rate, seconds),
                endpoint,
            ),
            (
                Phase("baseline: app GET /favicon.ico", rate, short),
                lambda: get(f"{app}/favicon.ico"),
            ),
            (Phase("app: GET /api/meters", rate, seconds), lambda: get(f"{app}/api/meters")),
            (Phase("app: GET /api/meters/{id}/usage, 28 days", args.usage_rate, short), usage),
            (Phase("past capacity: app GET /api/meters/{id}/predictions", rate, 10), predictions),
            (Phase("past capacity: invoke_endpoint (boto3)", over, 10), endpoint),
        ]
        done = []
        for phase, send in phases:
            print(f"{phase.name}: {phase.rate:.0f}/s for {phase.seconds:.0f} s", flush=True)
            done.append(await open_loop(phase, send))
            print("  " + done[-1].row(), flush=True)
            await asyncio.sleep(3)  # let queues drain between phases
    pool.shutdown()
    return done


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=300)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--usage-rate", type=float, default=50)
    parser.add_argument("--overload-rate", type=float, default=1000)
    parser.add_argument("--meters", type=int, default=12)
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    aws = LocalAWSProcess().start()
    app = None
    try:
        env = {**aws.env, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        meters = deploy(env, args.meters)
        app, url = start_app(env)
        phases = asyncio.run(run(args, env, meters, url))
    finally:
        if app is not None:
            app.terminate()
            app.wait(20)
        aws.stop()

    lines = [
        f"# Load test ({date.today()}, {os.cpu_count()} cores, Python {platform.python_version()})",
        "",
        "`benchmarks/load.py`: the local AWS and the app each in a process of their own on "
        "127.0.0.1, the load from a third (httpx async; boto3 in 128 threads for the endpoint). "
        "Open loop: requests leave at a fixed rate whatever the answers; latency is counted from "
        "when a request was due. The model is the default training on "
        f"{args.meters} generated meters x 400 days. The app allows 32 requests in flight and "
        "answers 503 with Retry-After past that. All processes share the machine's cores "
        f"with whatever else runs on it: load average {load_before:.1f} before the run, "
        f"{os.getloadavg()[0]:.1f} after it.",
        "",
        "| phase | load | requests | sent/s | p50 ms | p95 ms | p99 ms | max ms | not 200 "
        "| answers |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *(phase.row() for phase in phases),
    ]
    table = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "load.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
