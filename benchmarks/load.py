"""A bounded load test of the endpoint and the app, on this machine only; it stops by itself.

    .venv/bin/python benchmarks/load.py [--rate 300] [--seconds 60] [--usage-rate 50]

Needs Debian's ``hey`` (``apt-get install hey``), the HTTP load tool used for the app. The local
AWS (``python -m energy_assets.localaws``) and the app (``energy-assets app``) run in processes
of their own on 127.0.0.1, as they do for users; this process seeds the table, trains the
default model, deploys it and drives the load:

- the endpoint through boto3 (``invoke_endpoint``, as the app and users call it): an open loop
  in ``--client-processes`` processes (a Python client cannot send 300 signed requests a second
  from one interpreter), request i due at i / rate s whatever the answers before it, latency
  counted from when it was due, so a server that falls behind shows it in p99;
- the app through ``hey`` (``-c`` workers at ``-q`` requests/s each, for ``-z`` seconds).

Phases, each bounded in time:

1. baselines at ``--rate``: the runtime's ``/ping`` and the app's ``/favicon.ico`` (no work):
   what the load tools and the HTTP stack cost on their own;
2. the endpoint at ``--rate``: one meter (of 12, at random) x 14 days per call;
3. the app at ``--rate``: ``GET /api/meters`` (the page's first call: the guard, the meter list
   the app keeps for a minute);
4. the app at ``--usage-rate``: ``GET /api/meters/{id}/usage`` (one DynamoDB Query each; the
   local DynamoDB, moto with one thread and one new connection per call, bounds this route);
5. past capacity, 10 s each: 200 clients without pause on the app's heaviest route
   (``/predictions``: three invocations, 62 forecasts) and the endpoint at
   ``--overload-rate``: what callers get when more arrives than the servers can answer.

Writes benchmarks/results/load.md. Nothing here reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np

RESULTS = Path(__file__).parent / "results"
TABLE, BUCKET, ENDPOINT = "load-usage", "load-models", "load-forecaster"
ROLE = "arn:aws:iam::123456789012:role/load"


@dataclass
class Result:
    name: str
    load: str
    seconds: float
    p: dict[int, float]
    outcomes: Counter = field(default_factory=Counter)

    def row(self) -> str:
        sent = sum(self.outcomes.values())
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(self.outcomes.items()))
        other = sum(v for k, v in self.outcomes.items() if k != "200")
        return (
            f"| {self.name} | {self.load} | {sent} | {sent / self.seconds:.0f}/s | "
            f"{self.p.get(50, 0):.1f} | {self.p.get(95, 0):.1f} | {self.p.get(99, 0):.1f} | "
            f"{other} | {answers} |"
        )


# -- the endpoint through boto3: an open loop spread over processes ------------------------


def _invoke_worker(args: tuple) -> tuple[list[float], Counter]:
    """One client process: ``rate`` invocations a second for ``seconds`` from a pool of
    threads, starting once its client has made a first call (loading botocore's service model
    takes a while: that is no part of the endpoint's latency)."""
    env, bodies, rate, seconds = args
    os.environ.update(env)
    import boto3
    from botocore.config import Config

    runtime = boto3.session.Session().client(
        "sagemaker-runtime",
        config=Config(max_pool_connections=64, retries={"total_max_attempts": 1}, read_timeout=10),
    )
    latencies: list[float] = []
    outcomes: Counter = Counter()

    def one(due: float) -> None:
        try:
            runtime.invoke_endpoint(
                EndpointName=ENDPOINT, ContentType="application/json", Body=random.choice(bodies)
            )["Body"].read()
            outcome = "200"
        except runtime.exceptions.ClientError as error:
            outcome = str(error.response["ResponseMetadata"]["HTTPStatusCode"])
        except Exception as error:  # a timeout, a refused connection: counted
            outcome = type(error).__name__
        latencies.append(time.time() - due)
        outcomes[outcome] += 1

    runtime.invoke_endpoint(EndpointName=ENDPOINT, ContentType="application/json", Body=bodies[0])
    start = time.time()
    with ThreadPoolExecutor(48) as pool:
        for i in range(int(rate * seconds)):
            due = start + i / rate
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, due)
    return latencies, outcomes


def invoke_phase(name, env, bodies, rate, seconds, processes) -> Result:
    jobs = [(env, bodies, rate / processes, seconds) for _ in range(processes)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        parts = pool.map(_invoke_worker, jobs)
    latencies = np.concatenate([np.array(part[0]) for part in parts]) * 1000
    outcomes = sum((part[1] for part in parts), Counter())
    p = {q: float(np.percentile(latencies, q)) for q in (50, 95, 99)}
    return Result(name, f"{rate:.0f}/s x {seconds:.0f} s, open loop", seconds, p, outcomes)


# -- the app through hey -------------------------------------------------------------------


def hey(name: str, url: str, seconds: float, workers: int, per_worker: float = 0) -> Result:
    """``hey -z`` against ``url``; parses its summary (latency percentiles, status codes and
    errors such as timeouts, which its CSV output leaves out)."""
    command = ["hey", "-z", f"{seconds:g}s", "-c", str(workers), "-t", "10"]
    if per_worker:
        command += ["-q", f"{per_worker:g}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    p = {int(q): float(s) * 1000 for q, s in re.findall(r"(\d+)%+ in ([\d.]+) secs", out)}
    outcomes = Counter({c: int(n) for c, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)})
    errors = out.split("Error distribution:")[-1] if "Error distribution:" in out else ""
    for count, message in re.findall(r"\[(\d+)\]\s+(.+)", errors):
        kind = "timeout" if "Timeout" in message or "deadline" in message else "error"
        outcomes[kind] += int(count)
    load = (
        f"{workers * per_worker:.0f}/s x {seconds:g} s ({workers} x {per_worker:g}/s)"
        if per_worker
        else f"{workers} clients without pause x {seconds:g} s"
    )
    return Result(name, load, seconds, p, outcomes)


# -- setup ---------------------------------------------------------------------------------


def deploy(env: dict[str, str], meters: int) -> list[str]:
    """Seed the table, train the default model, deploy it; returns the meter ids."""
    import boto3

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
    app_env = {
        **os.environ,
        **env,
        "ENERGY_ASSETS_TABLE": TABLE,
        "ENERGY_ASSETS_ENDPOINT": ENDPOINT,
    }
    # the app binds port 0 itself and prints the port it got: no port picked here and freed
    command = [sys.executable, "-m", "energy_assets.tools.cli", "app", "--port", "0"]
    process = subprocess.Popen(command, env=app_env, stdout=subprocess.PIPE, text=True)
    found = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline())
    if found is None:
        process.kill()
        raise RuntimeError("the app did not start")
    url = found.group(0)
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{url}/favicon.ico")
            return process, url
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the app did not start") from None
            time.sleep(0.2)


def run(args, env: dict[str, str], meters: list[str], app: str) -> list[Result]:
    rate, seconds, short = args.rate, args.seconds, min(args.seconds, 20)
    workers = max(1, round(rate / 5))  # 5 requests/s each: 200 ms per request to keep up
    end = datetime.now(UTC).date() - timedelta(days=1)
    window = f"start={(end - timedelta(days=27)).isoformat()}&end={end.isoformat()}"
    bodies = [f'{{"meter_id": "{m}", "horizon": 14}}'.encode() for m in meters]
    runtime = env["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"]
    procs = args.client_processes

    def endpoint(name, r, s):
        return invoke_phase(name, env, bodies, r, s, procs)

    httpx.get(f"{app}/api/meters", timeout=120)  # as the page does first: the list is read
    steps = [
        lambda: endpoint("warm-up: invoke_endpoint", 50, 5),
        lambda: hey("baseline: runtime GET /ping", f"{runtime}/ping", short, workers, 5),
        lambda: endpoint("endpoint: invoke_endpoint (boto3), 1 meter x 14 days", rate, seconds),
        lambda: hey("baseline: app GET /favicon.ico", f"{app}/favicon.ico", short, workers, 5),
        lambda: hey("app: GET /api/meters", f"{app}/api/meters", seconds, workers, 5),
        lambda: hey(
            "app: GET /api/meters/{id}/usage, 28 days",
            f"{app}/api/meters/{meters[0]}/usage?{window}",
            short,
            max(1, round(args.usage_rate / 5)),
            5,
        ),
        lambda: hey(
            "past capacity: app GET /api/meters/{id}/predictions, 28 days",
            f"{app}/api/meters/{meters[1]}/predictions?{window}",
            10,
            200,
        ),
        lambda: endpoint("past capacity: invoke_endpoint (boto3)", args.overload_rate, 10),
    ]
    done = []
    for step in steps:
        result = step()
        print(result.row(), flush=True)
        if not result.name.startswith("warm-up"):
            done.append(result)
        time.sleep(3)  # let queues drain between phases
    return done


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=300)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--usage-rate", type=float, default=50)
    parser.add_argument("--overload-rate", type=float, default=1000)
    parser.add_argument("--client-processes", type=int, default=3)
    parser.add_argument("--meters", type=int, default=12)
    args = parser.parse_args()
    if not shutil.which("hey"):
        sys.exit("benchmarks/load.py needs Debian's hey: apt-get install hey")

    from energy_assets.localaws.process import LocalAWSProcess

    load_before = os.getloadavg()[0]
    aws = LocalAWSProcess().start()
    app = None
    try:
        env = {**aws.env, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        meters = deploy(env, args.meters)
        app, url = start_app(env)
        results = run(args, env, meters, url)
    finally:
        if app is not None:
            app.terminate()
            app.wait(20)
        aws.stop()

    lines = [
        f"# Load test ({date.today()}, {os.cpu_count()} cores, Python {platform.python_version()})",
        "",
        "`benchmarks/load.py`: the local AWS and the app each in a process of their own on "
        "127.0.0.1. The endpoint is called through boto3 from "
        f"{args.client_processes} client processes in an open loop (requests leave at a fixed "
        "rate whatever the answers; latency counted from when a request was due); the app "
        "through Debian's `hey` (workers at a fixed rate each). The model is the default "
        f"training on {args.meters} generated meters x 400 days. The app allows 64 requests "
        "in flight and answers 503 with Retry-After past that. All processes share the "
        f"machine's cores with whatever else runs on it: load average {load_before:.1f} "
        f"before the run, {os.getloadavg()[0]:.1f} after it.",
        "",
        "| phase | load | requests | answered/s | p50 ms | p95 ms | p99 ms | not 200 | answers |",
        "|---|---|---|---|---|---|---|---|---|",
        *(result.row() for result in results),
    ]
    table = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "load.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
