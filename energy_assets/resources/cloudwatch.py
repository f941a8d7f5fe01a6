"""CloudWatch custom metrics and alarms for model quality and operations, and SNS alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import dagster as dg
import pandas as pd
from pydantic import PrivateAttr

from energy_assets.resources.retries import RetryMode, client_config


@dataclass(frozen=True)
class Datum:
    """One data point: a metric name, its value and dimensions, at a time."""

    name: str
    value: float
    dimensions: dict[str, str]
    timestamp: datetime
    unit: str = "None"


@dataclass(frozen=True)
class AlarmSpec:
    """A CloudWatch alarm on one metric (static threshold, daily or shorter periods)."""

    name: str
    metric: str
    dimensions: dict[str, str]
    threshold: float
    description: str
    namespace: str | None = None  # the resource's namespace when None
    statistic: str = "Maximum"
    period_seconds: int = 86400
    evaluation_periods: int = 1
    datapoints_to_alarm: int = 1
    comparison: str = "GreaterThanThreshold"


class CloudWatchResource(dg.ConfigurableResource):
    """Metrics in ``namespace``; alarms notify ``alert_topic_arn`` (SNS) when it is set."""

    namespace: str
    region_name: str | None = None
    alert_topic_arn: str | None = None
    retry_mode: RetryMode = "standard"
    max_attempts: int = 5
    _client: Any = PrivateAttr(default=None)

    def client(self):
        """One client per resource: building a boto3 client costs far more than a request."""
        if self._client is None:
            self._client = boto3.client(
                "cloudwatch",
                region_name=self.region_name,
                config=client_config(self.retry_mode, self.max_attempts),
            )
        return self._client

    def put_metrics(
        self, metrics: dict[str, float], dimensions: dict[str, str], unit: str = "None"
    ) -> int:
        """Publish several values under shared dimensions, now."""
        now = datetime.now(UTC)
        return self.put_data(
            [Datum(name, float(value), dimensions, now, unit) for name, value in metrics.items()]
        )

    def put_data(self, data: list[Datum]) -> int:
        """Publish data points with their own dimensions and times, 1000 per PutMetricData."""
        items = [
            {
                "MetricName": d.name,
                "Dimensions": [{"Name": k, "Value": str(v)} for k, v in d.dimensions.items()],
                "Timestamp": d.timestamp,
                "Value": float(d.value),
                "Unit": d.unit,
            }
            for d in data
        ]
        client = self.client()
        for i in range(0, len(items), 1000):
            client.put_metric_data(Namespace=self.namespace, MetricData=items[i : i + 1000])
        return len(items)

    def metric_series(
        self,
        metric: str,
        dimensions: dict[str, str],
        start: datetime,
        end: datetime,
        period_seconds: int = 86400,
        statistic: str = "Average",
        namespace: str | None = None,
    ) -> pd.Series:
        """One metric's values in ``[start, end)`` by period (GetMetricData), oldest first."""
        query = {
            "Id": "m",
            "MetricStat": {
                "Metric": {
                    "Namespace": namespace or self.namespace,
                    "MetricName": metric,
                    "Dimensions": [{"Name": k, "Value": str(v)} for k, v in dimensions.items()],
                },
                "Period": period_seconds,
                "Stat": statistic,
            },
        }
        stamps, values = [], []
        for page in (
            self.client()
            .get_paginator("get_metric_data")
            .paginate(
                MetricDataQueries=[query], StartTime=start, EndTime=end, ScanBy="TimestampAscending"
            )
        ):
            for result in page["MetricDataResults"]:
                stamps += result["Timestamps"]
                values += result["Values"]
        series = pd.Series(values, index=pd.DatetimeIndex(stamps), dtype=float, name=metric)
        return series.sort_index()

    def put_alarm(self, spec: AlarmSpec) -> None:
        """Create or update an alarm (an update keeps its state on AWS)."""
        actions = [self.alert_topic_arn] if self.alert_topic_arn else []
        self.client().put_metric_alarm(
            AlarmName=spec.name,
            AlarmDescription=spec.description,
            Namespace=spec.namespace or self.namespace,
            MetricName=spec.metric,
            Dimensions=[{"Name": k, "Value": str(v)} for k, v in spec.dimensions.items()],
            Statistic=spec.statistic,
            Period=spec.period_seconds,
            EvaluationPeriods=spec.evaluation_periods,
            DatapointsToAlarm=spec.datapoints_to_alarm,
            Threshold=float(spec.threshold),
            ComparisonOperator=spec.comparison,
            TreatMissingData="notBreaching",
            AlarmActions=actions,
        )

    def alarms(self, names: list[str]) -> dict[str, dict]:
        """The named alarms that exist, by name (DescribeAlarms, 100 names per call)."""
        found: dict[str, dict] = {}
        client = self.client()
        for i in range(0, len(names), 100):
            response = client.describe_alarms(AlarmNames=names[i : i + 100])
            found.update({a["AlarmName"]: a for a in response["MetricAlarms"]})
        return found

    def ensure_alarms(self, specs: list[AlarmSpec]) -> list[str]:
        """Put the alarms that are missing or whose definition changed; returns those put.

        An unchanged alarm is left alone, so its state (set by CloudWatch, or by hand) stays.
        """
        existing = self.alarms([s.name for s in specs])
        changed = [s for s in specs if _definition(existing.get(s.name)) != _spec_definition(s)]
        for spec in changed:
            self.put_alarm(spec)
        return [s.name for s in changed]

    def notify(self, subject: str, message: str) -> str | None:
        """Publish to the alert topic when one is configured; returns the message id."""
        if not self.alert_topic_arn:
            return None
        sns = boto3.client(
            "sns",
            region_name=self.region_name,
            config=client_config(self.retry_mode, self.max_attempts),
        )
        response = sns.publish(TopicArn=self.alert_topic_arn, Subject=subject[:99], Message=message)
        return response["MessageId"]


def _definition(alarm: dict | None) -> tuple | None:
    if alarm is None:
        return None
    dims = tuple(sorted((d["Name"], d["Value"]) for d in alarm.get("Dimensions", [])))
    return (alarm["MetricName"], dims, float(alarm["Threshold"]), alarm["ComparisonOperator"])


def _spec_definition(spec: AlarmSpec) -> tuple:
    dims = tuple(sorted((k, str(v)) for k, v in spec.dimensions.items()))
    return (spec.metric, dims, float(spec.threshold), spec.comparison)
