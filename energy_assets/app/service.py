"""What the application needs from AWS: meters and actuals from the table, forecasts from the
SageMaker endpoint (over HTTP, through sagemaker-runtime), with errors a person can act on."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

import botocore.exceptions
import numpy as np
import pandas as pd

from energy_assets.resources import SageMakerResource, UsageTableResource

MAX_RANGE_DAYS = 366


class AppError(Exception):
    status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(AppError):
    status = 404


class BadRequest(AppError):
    status = 400


class EndpointUnavailable(AppError):
    status = 503


class EndpointTimeout(AppError):
    status = 504


@dataclass
class UsageService:
    table: UsageTableResource
    sagemaker: SageMakerResource
    meters_ttl_seconds: float = 60.0
    health_ttl_seconds: float = 10.0

    def __post_init__(self):
        self._meters: tuple[float, list[str]] | None = None
        self._health: tuple[float, dict] | None = None

    def health(self) -> dict:
        """What the endpoint answers now: a real one-day invocation (``SageMakerResource.probe``),
        at most one per ``health_ttl_seconds`` however often health is polled. The endpoint's
        status alone says InService while every invocation fails."""
        if self._health is None or time.monotonic() - self._health[0] > self.health_ttl_seconds:
            known = self._meters[1] if self._meters else []
            found = self.sagemaker.probe(known[0] if known else None)
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            self._health = (time.monotonic(), {**found, "checked_at": stamp})
        return self._health[1]

    def meters(self) -> list[str]:
        if self._meters is None or time.monotonic() - self._meters[0] > self.meters_ttl_seconds:
            self._meters = (time.monotonic(), self.table.meters())
        return self._meters[1]

    def _known(self, meter_id: str) -> None:
        if meter_id not in self.meters():
            raise NotFound(f"unknown meter {meter_id!r}")

    def actuals(self, meter_id: str, start: date, end: date) -> pd.DataFrame:
        """Valid daily values of a meter in ``[start, end]`` (malformed rows are left out here;
        cleaning quarantines them)."""
        self._known(meter_id)
        _check_range(start, end)
        raw = self.table.usage_between(meter_id, start, end)
        day = pd.to_datetime(raw["date"].astype(str).str[:10], format="%Y-%m-%d", errors="coerce")
        usage = pd.to_numeric(raw["usage"], errors="coerce")
        frame = pd.DataFrame({"date": day, "usage": usage}).dropna()
        frame = frame[(frame["usage"] >= 0) & (frame["date"] >= pd.Timestamp(start))]
        frame = frame[frame["date"] <= pd.Timestamp(end)]
        return frame.drop_duplicates("date").sort_values("date").reset_index(drop=True)

    def predictions(self, meter_id: str, start: date, end: date, ahead: int) -> dict:
        """The forecast of ``[start, end]`` made from ``start`` (as the model would have seen it),
        the next ``ahead`` days, and the MAE of the range against the table's actuals."""
        actuals = self.actuals(meter_id, start, end)
        days = (end - start).days + 1
        in_range = self._invoke({"meter_id": meter_id, "horizon": days, "start": start.isoformat()})
        coming = self._invoke({"meter_id": meter_id, "horizon": ahead}) if ahead else None
        predicted = pd.DataFrame(
            {"date": pd.to_datetime(in_range["dates"]), "forecast": in_range["forecast"]}
        )
        paired = actuals.merge(predicted, on="date")
        mae = float(np.mean(np.abs(paired["usage"] - paired["forecast"]))) if len(paired) else None
        return {
            "meter_id": meter_id,
            "model": in_range["model"],
            "model_version": in_range["model_version"],
            "mae": mae,
            "mae_days": int(len(paired)),
            "range": _series(in_range),
            "ahead": _series(coming) if coming else None,
        }

    def _invoke(self, request: dict) -> dict:
        name = self.sagemaker.endpoint_name
        try:
            return self.sagemaker.invoke(request)
        except (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError):
            raise EndpointTimeout(
                f"endpoint {name} did not answer within {self.sagemaker.invoke_timeout_seconds:g} s"
            ) from None
        except botocore.exceptions.EndpointConnectionError as error:
            raise EndpointUnavailable(f"cannot reach the SageMaker runtime: {error}") from None
        except botocore.exceptions.ClientError as error:
            code = error.response["Error"]["Code"]
            if code == "ModelError":
                original = error.response.get("OriginalMessage", "")
                try:
                    message = json.loads(original)["error"]
                except (ValueError, KeyError, TypeError):
                    message = original or str(error)
                if error.response.get("OriginalStatusCode") == 400:
                    if "unknown meter" in message:
                        raise NotFound(
                            f"the deployed model has no forecast for: {message}"
                        ) from None
                    raise BadRequest(message) from None
                raise EndpointUnavailable(f"the model failed: {message}") from None
            described = self.sagemaker.describe_endpoint()
            if described is None:
                raise EndpointUnavailable(
                    f"endpoint {name} does not exist (deploy a model)"
                ) from None
            status = described["EndpointStatus"]
            raise EndpointUnavailable(f"endpoint {name} is {status}: {error}") from None


def _series(answer: dict) -> dict:
    out = {"dates": answer["dates"], "forecast": answer["forecast"]}
    band = answer.get("intervals", {}).get("80")
    if band:
        out["lower_80"], out["upper_80"] = band["lower"], band["upper"]
    return out


def _check_range(start: date, end: date) -> None:
    if end < start:
        raise BadRequest(f"end {end} is before start {start}")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise BadRequest(f"a range covers at most {MAX_RANGE_DAYS} days")
