"""What SageMaker does around each invocation on AWS, done by the local runtime: endpoint
metrics in CloudWatch and data capture to S3.

Metrics: namespace ``AWS/SageMaker``, dimensions ``EndpointName`` and ``VariantName``, the
names SageMaker publishes: ``Invocations``, ``InvocationsPerInstance``, ``Invocation4XXErrors``,
``Invocation5XXErrors``, ``ModelLatency`` and ``OverheadLatency`` (microseconds). They are
aggregated in memory and sent as statistic sets (one PutMetricData per flush, not per call),
every ``flush_seconds`` and on stop; AWS sends one-minute aggregates.

Data capture: when the endpoint config has a ``DataCaptureConfig`` (``EnableCapture`` defaults to
true, as on AWS), a sample of ``InitialSamplingPercentage`` of the invocations is written as JSON
Lines in SageMaker's record format to
``{DestinationS3Uri}/{EndpointName}/{VariantName}/yyyy/mm/dd/hh/{uuid}.jsonl`` (one object per
flush and hour).
"""

from __future__ import annotations

import base64
import json
import logging
import random
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

log = logging.getLogger(__name__)

NAMESPACE = "AWS/SageMaker"
_JSON_TYPES = ("application/json",)


@dataclass
class _Stats:
    count: int = 0
    total: float = 0.0
    low: float = float("inf")
    high: float = float("-inf")

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.low = min(self.low, value)
        self.high = max(self.high, value)


@dataclass
class _Window:
    invocations: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    instances: int = 1
    model_latency: _Stats = field(default_factory=_Stats)
    overhead_latency: _Stats = field(default_factory=_Stats)


def _captured(body: bytes, content_type: str, mode: str, json_types) -> dict:
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in json_types or kind == "text/csv":
        encoding, data = ("JSON" if kind in json_types else "CSV"), body.decode("utf-8", "replace")
    else:
        encoding, data = "BASE64", base64.b64encode(body).decode()
    return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}


class Telemetry:
    """Collects per-invocation facts; ``flush()`` sends them (a background thread calls it)."""

    def __init__(self, clients, flush_seconds: float = 10.0):
        self._clients = clients  # (service, region) -> boto3 client
        self.flush_seconds = flush_seconds
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str, str], _Window] = defaultdict(_Window)
        self._captures: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Telemetry:
        self._thread = threading.Thread(target=self._run, name="runtime-telemetry", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            try:
                self.flush()
            except Exception:  # the runtime keeps serving when CloudWatch or S3 hiccup
                log.exception("runtime telemetry flush failed")

    def record(
        self,
        region: str,
        endpoint: str,
        variant: str,
        status: int,
        model_seconds: float | None,
        total_seconds: float,
        instances: int = 1,
    ) -> None:
        with self._lock:
            window = self._windows[(region, endpoint, variant)]
            window.invocations += 1
            window.instances = max(instances, 1)
            if 400 <= status < 500:
                window.errors_4xx += 1
            elif status >= 500:
                window.errors_5xx += 1
            if model_seconds is not None:
                window.model_latency.add(model_seconds * 1e6)
                window.overhead_latency.add(max(total_seconds - model_seconds, 0.0) * 1e6)

    def capture(
        self,
        region: str,
        endpoint: str,
        variant: str,
        config: dict | None,
        request: tuple[bytes, str],
        response: tuple[bytes, str],
    ) -> bool:
        """Keep a data-capture record when the endpoint config asks for this invocation."""
        if not config or not config.get("EnableCapture", True):  # AWS: enabled unless false
            return False
        if random.uniform(0, 100) >= float(config.get("InitialSamplingPercentage", 0)):
            return False
        options = {o.get("CaptureMode") for o in config.get("CaptureOptions", [])}
        json_types = tuple(
            (config.get("CaptureContentTypeHeader") or {}).get("JsonContentTypes") or _JSON_TYPES
        )
        now = datetime.now(UTC)
        data = {}
        if "Input" in options:
            data["endpointInput"] = _captured(*request, "INPUT", json_types)
        if "Output" in options:
            data["endpointOutput"] = _captured(*response, "OUTPUT", json_types)
        record = {
            "captureData": data,
            "eventMetadata": {
                "eventId": str(uuid.uuid4()),
                "inferenceTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "eventVersion": "0",
        }
        destination = config["DestinationS3Uri"].rstrip("/")
        key = (region, destination, f"{endpoint}/{variant}", now.strftime("%Y/%m/%d/%H"))
        with self._lock:
            self._captures[key].append(json.dumps(record, separators=(",", ":")))
        return True

    def flush(self) -> None:
        with self._lock:
            windows, self._windows = self._windows, defaultdict(_Window)
            captures, self._captures = self._captures, defaultdict(list)
        now = datetime.now(UTC)
        by_region: dict[str, list[dict]] = defaultdict(list)
        for (region, endpoint, variant), w in windows.items():
            by_region[region].extend(_metric_data(endpoint, variant, w, now))
        for region, data in by_region.items():
            client = self._clients("cloudwatch", region)
            for i in range(0, len(data), 1000):
                client.put_metric_data(Namespace=NAMESPACE, MetricData=data[i : i + 1000])
        for (region, destination, path, hour), lines in captures.items():
            bucket, _, prefix = destination.removeprefix("s3://").partition("/")
            key = "/".join(p for p in (prefix, path, hour, f"{uuid.uuid4()}.jsonl") if p)
            body = ("\n".join(lines) + "\n").encode()
            self._clients("s3", region).put_object(Bucket=bucket, Key=key, Body=body)


def _metric_data(endpoint: str, variant: str, w: _Window, now: datetime) -> list[dict]:
    dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]

    def value(name: str, number: float, unit: str = "None") -> dict:
        return {
            "MetricName": name,
            "Dimensions": dims,
            "Timestamp": now,
            "Value": number,
            "Unit": unit,
        }

    data = [
        value("Invocations", w.invocations),
        value("InvocationsPerInstance", w.invocations / w.instances),
        value("Invocation4XXErrors", w.errors_4xx),
        value("Invocation5XXErrors", w.errors_5xx),
    ]
    for name, stats in (("ModelLatency", w.model_latency), ("OverheadLatency", w.overhead_latency)):
        if stats.count:
            data.append(
                {
                    "MetricName": name,
                    "Dimensions": dims,
                    "Timestamp": now,
                    "StatisticValues": {
                        "SampleCount": stats.count,
                        "Sum": stats.total,
                        "Minimum": stats.low,
                        "Maximum": stats.high,
                    },
                    "Unit": "Microseconds",
                }
            )
    return data
