"""What the application needs from AWS: meters and actuals from the table, forecasts from the
SageMaker endpoint (over HTTP, through sagemaker-runtime), with errors a person can act on."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import botocore.exceptions
import numpy as np
import pandas as pd

from energy_assets.app.aws import AppSageMaker, AppUsageTable
from energy_assets.resources import SageMakerResource, UsageTableResource
from energy_assets.resources.sagemaker import NoRoute
from energy_assets.serving.handler import quoted

MAX_RANGE_DAYS = 366
# the forecasts a model is judged by: made this many days before the day they forecast
LEADS = {"day_before": 1, "week_before": 7}


class AppError(Exception):
    status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(AppError):
    status = 404


class BadRequest(AppError):
    status = 400


class Unavailable(AppError):
    """AWS (the table or the endpoint) cannot answer now: 503, with what to do about it."""

    status = 503


EndpointUnavailable = Unavailable


class EndpointTimeout(AppError):
    status = 504


@dataclass
class UsageService:
    unit: str = field(default="kWh", kw_only=True)  # of the table's usage values
    table: UsageTableResource
    sagemaker: SageMakerResource
    meters_ttl_seconds: float = 60.0
    health_ttl_seconds: float = 10.0

    def __post_init__(self):
        self.table, self.sagemaker = AppUsageTable.of(self.table), AppSageMaker.of(self.sagemaker)
        self._listing = threading.Lock()
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

    def fresh_meters(self) -> list[str] | None:
        """The meter list if it was read within the last minute (no AWS call), else None."""
        cached = self._meters
        if cached is not None and time.monotonic() - cached[0] <= self.meters_ttl_seconds:
            return cached[1]
        return None

    def meters(self) -> list[str]:
        """The table's meters, read again once a minute by one request at a time (a Scan of
        a large table takes seconds): the others meanwhile answer from the list read before,
        or, when there is none yet, wait for the one being read."""
        cached = self._meters  # read once: another thread may reset it meanwhile
        if cached is not None and time.monotonic() - cached[0] <= self.meters_ttl_seconds:
            return cached[1]
        if cached is not None and not self._listing.acquire(blocking=False):
            return cached[1]
        if cached is None:
            self._listing.acquire()
        try:
            cached = self._meters
            if cached is None or time.monotonic() - cached[0] > self.meters_ttl_seconds:
                with self._table("list the meters"):
                    cached = self._meters = (time.monotonic(), self.table.meters())
            return cached[1]
        finally:
            self._listing.release()

    def _known(self, meter_id: str) -> None:
        listed = self.fresh_meters()
        if listed is not None and meter_id in listed:
            return
        # Not in the list read within the last minute, or that list has expired: the table is
        # asked about this one meter (a one-key Query), whatever the fleet's size. Reading the
        # whole list again here made the request that found it expired wait for a read of
        # every meter (0.98 s to answer a meter at 1,000 meters, against 0.27 s otherwise:
        # benchmarks/results/page.md); /api/meters reads the list again.
        with self._table("look up the meter"):
            found = self.table.has_meter(meter_id)
        if not found:
            raise NotFound(f"unknown meter {quoted(meter_id)}")
        if listed is not None:
            self._meters = None  # a meter added since the list was read: list it again

    def actuals(self, meter_id: str, start: date, end: date) -> pd.DataFrame:
        """Valid daily values of a meter in ``[start, end]`` (malformed rows are left out here;
        cleaning quarantines them)."""
        _check_range(start, end)
        self._known(meter_id)
        with self._table("read the meter's usage"):
            raw = self.table.usage_between(meter_id, start, end)
        day = pd.to_datetime(raw["date"].astype(str).str[:10], format="%Y-%m-%d", errors="coerce")
        usage = pd.to_numeric(raw["usage"], errors="coerce")
        frame = pd.DataFrame({"date": day, "usage": usage}).dropna()
        frame = frame[(frame["usage"] >= 0) & (frame["date"] >= pd.Timestamp(start))]
        frame = frame[frame["date"] <= pd.Timestamp(end)]
        return frame.drop_duplicates("date").sort_values("date").reset_index(drop=True)

    def predictions(self, meter_id: str, start: date, end: date, ahead: int) -> dict:
        """For ``[start, end]``: what the model forecast for each day a day and a week before
        it (how the endpoint is used, and how a model is judged), the long-range forecast of
        the whole range made from ``start``, the next ``ahead`` days, and the MAE of each view
        against the table's actuals. Three invocations whatever the range's length."""
        actuals = self.actuals(meter_id, start, end)
        days = (end - start).days + 1
        in_range = self._invoke({"meter_id": meter_id, "horizon": days, "start": start.isoformat()})
        lead = max(LEADS.values())
        first = start - timedelta(days=lead - 1)
        starts = [(first + timedelta(days=i)).isoformat() for i in range(days + lead - 1)]
        several = self._invoke({"meter_id": meter_id, "horizon": lead, "starts": starts})
        coming = self._invoke({"meter_id": meter_id, "horizon": ahead}) if ahead else None
        observed = actuals.set_index("date")["usage"]
        long_range = {**_series(in_range), **_mae(observed, in_range["dates"], in_range)}
        long_range["made"] = (start - timedelta(days=1)).isoformat()
        answer = {
            "meter_id": meter_id,
            "unit": self.unit,
            "model": in_range["model"],
            "model_version": in_range["model_version"],
            # why this model serves, when it is not the obvious answer (the baseline serving)
            "model_note": in_range.get("model_note", ""),
            # the long-range forecast's MAE, as before the per-lead views existed
            "mae": long_range["mae"],
            "mae_days": long_range["mae_days"],
            "range": long_range,
            "ahead": _series(coming) if coming else None,
        }
        for name, days_before in LEADS.items():
            answer[name] = _lead_view(several, days_before, start, end, observed)
        return answer

    @contextmanager
    def _table(self, doing: str) -> Iterator[None]:
        name = self.table.table_name
        try:
            yield
        except botocore.exceptions.ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                raise Unavailable(
                    f"the usage table {name} does not exist: seed it (energy-assets seed) or "
                    "point ENERGY_ASSETS_TABLE at yours"
                ) from None
            message = error.response.get("Error", {}).get("Message", "")
            raise Unavailable(f"DynamoDB cannot {doing} in {name}: {code} {message}") from None
        except botocore.exceptions.BotoCoreError as error:
            raise Unavailable(f"cannot reach DynamoDB to {doing}: {error}") from None

    @contextmanager
    def _endpoint(self) -> Iterator[None]:
        name = self.sagemaker.endpoint_name
        try:
            yield
        except botocore.exceptions.ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            raise Unavailable(f"SageMaker cannot describe endpoint {name}: {code}") from None
        except botocore.exceptions.BotoCoreError as error:
            raise Unavailable(f"cannot reach SageMaker: {error}") from None

    def _invoke(self, request: dict) -> dict:
        """The endpoint's answer; with meter shards, the model of the meter's shard answers
        (``SageMakerResource.invoke`` passes its TargetModel)."""
        name = self.sagemaker.endpoint_name
        try:
            return self.sagemaker.invoke(request)
        except NoRoute as error:
            raise Unavailable(str(error)) from None
        except (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError):
            raise EndpointTimeout(
                f"endpoint {name} did not answer within {self.sagemaker.invoke_timeout_seconds:g} s"
            ) from None
        except botocore.exceptions.EndpointConnectionError as error:
            raise Unavailable(f"cannot reach the SageMaker runtime: {error}") from None
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
                raise Unavailable(f"the model failed: {message}") from None
            if code in ("ThrottlingException", "ServiceUnavailable"):
                raise Unavailable(f"endpoint {name} is busy ({code}): retry shortly") from None
            with self._endpoint():
                described = self.sagemaker.describe_endpoint()
            if described is None:
                raise Unavailable(f"endpoint {name} does not exist (deploy a model)") from None
            status = described["EndpointStatus"]
            raise Unavailable(f"endpoint {name} is {status}: {error}") from None
        except botocore.exceptions.BotoCoreError as error:
            raise Unavailable(f"cannot invoke endpoint {name}: {error}") from None


def _series(answer: dict) -> dict:
    out = {"dates": answer["dates"], "forecast": answer["forecast"]}
    band = answer.get("intervals", {}).get("80")
    if band:
        out["lower_80"], out["upper_80"] = band["lower"], band["upper"]
    return out


def _mae(observed: pd.Series, dates: list[str], series: dict) -> dict:
    """MAE of a forecast against the actuals on the days both have."""
    forecast = pd.Series(series["forecast"], index=pd.to_datetime(dates), dtype=float)
    paired = pd.concat([observed, forecast], axis=1, join="inner").dropna()
    errors = np.abs(paired.iloc[:, 0] - paired.iloc[:, 1])
    return {"mae": float(errors.mean()) if len(errors) else None, "mae_days": int(len(errors))}


def _lead_view(several: dict, lead: int, start: date, end: date, observed: pd.Series) -> dict:
    """Each day of ``[start, end]`` as the model forecast it ``lead`` days before, from the
    answer of one invocation with many starts. A day the model could not forecast that early
    (too little history before the origin, or a day after the model's last actual, which it
    forecasts from that last actual instead) is left out and counted, with the reason."""
    picked: dict[str, tuple[float, float | None, float | None]] = {}
    reasons: list[str] = []
    for item in several["forecasts"]:
        day = date.fromisoformat(item["start"]) + timedelta(days=lead - 1)
        if not start <= day <= end:
            continue
        if "error" in item:
            reasons.append(item["error"])
            continue
        made = date.fromisoformat(item["origin"])
        if (day - made).days != lead:
            reasons.append(
                f"the model's actuals end on {made}: later days are forecast from that day"
            )
            continue
        band = item.get("intervals", {}).get("80")
        low, high = (band["lower"][lead - 1], band["upper"][lead - 1]) if band else (None, None)
        picked[day.isoformat()] = (item["forecast"][lead - 1], low, high)
    dates = sorted(picked)
    series = {"dates": dates, "forecast": [picked[d][0] for d in dates]}
    if dates and picked[dates[0]][1] is not None:
        series["lower_80"] = [picked[d][1] for d in dates]
        series["upper_80"] = [picked[d][2] for d in dates]
    missing = (end - start).days + 1 - len(dates)
    return {
        **series,
        "lead_days": lead,
        **_mae(observed, dates, series),
        "missing_days": missing,
        "missing_reason": reasons[-1] if missing and reasons else None,
    }


def _check_range(start: date, end: date) -> None:
    if end < start:
        raise BadRequest(f"end {end} is before start {start}")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise BadRequest(f"a range covers at most {MAX_RANGE_DAYS} days")
