"""CloudWatch custom metrics for model quality and operations."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import dagster as dg


class CloudWatchResource(dg.ConfigurableResource):
    namespace: str
    region_name: str | None = None

    def client(self):
        return boto3.client("cloudwatch", region_name=self.region_name)

    def put_metrics(
        self, metrics: dict[str, float], dimensions: dict[str, str], unit: str = "None"
    ) -> int:
        """Publish several values under shared dimensions, 1000 per PutMetricData call."""
        now = datetime.now(UTC)
        dims = [{"Name": k, "Value": str(v)} for k, v in dimensions.items()]
        data = [
            {
                "MetricName": name,
                "Dimensions": dims,
                "Timestamp": now,
                "Value": float(value),
                "Unit": unit,
            }
            for name, value in metrics.items()
        ]
        client = self.client()
        for i in range(0, len(data), 1000):
            client.put_metric_data(Namespace=self.namespace, MetricData=data[i : i + 1000])
        return len(data)
