"""The inference contract shared by the container and the local SageMaker runtime.

Requests (``application/json``)::

    {"meter_id": "meter-0001", "horizon": 14, "start": "2026-12-01"}   # start optional
    {"instances": [{"meter_id": ..., "horizon": ...}, ...]}              # batch

or ``text/csv`` lines ``meter_id,horizon[,start]``. ``meter_id`` may be left out when the model
serves one series. Responses are JSON: one prediction, or ``{"predictions": [...]}`` for a batch
or CSV, each ``{meter_id, model, model_version, start, dates, forecast, intervals}`` where
``intervals`` maps a level ("80", "95") to ``{"lower": [...], "upper": [...]}``.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

from energy_assets.ml.bundle import ForecastBundle, UnknownMeterError

MAX_HORIZON = 366
MAX_BATCH = 1000


class InvalidRequest(ValueError):
    """The payload cannot be answered as sent (a 4xx)."""


class ModelFailure(RuntimeError):
    """The model failed on a valid request (a 5xx)."""


class Predictor:
    def __init__(self, bundle: ForecastBundle):
        self.bundle = bundle

    @classmethod
    def from_model_dir(cls, path: str | Path) -> Predictor:
        return cls(ForecastBundle.load(path))

    def invoke(self, body: bytes, content_type: str = "application/json") -> tuple[bytes, str]:
        kind = (content_type or "application/json").split(";")[0].strip().lower()
        if kind == "text/csv":
            requests, batch = self._parse_csv(body), True
        elif kind in ("application/json", "application/x-json", ""):
            requests, batch = self._parse_json(body)
        else:
            raise InvalidRequest(f"unsupported content type {content_type!r}; send JSON or CSV")
        if not requests:
            raise InvalidRequest("no forecast requested")
        if len(requests) > MAX_BATCH:
            raise InvalidRequest(f"at most {MAX_BATCH} requests per call, got {len(requests)}")
        answers = [self.predict(**r) for r in requests]
        payload = {"predictions": answers} if batch else answers[0]
        return json.dumps(payload).encode(), "application/json"

    def predict(self, meter_id: str | None, horizon, start=None) -> dict:
        meter = self._meter(meter_id)
        steps = _horizon(horizon)
        first = _start(start)
        try:
            frame = self.bundle.forecast(meter, steps, first)
        except ValueError as error:
            raise InvalidRequest(str(error)) from error
        except Exception as error:
            raise ModelFailure(f"model failed for meter {meter!r}: {error}") from error
        return {
            "meter_id": meter,
            "model": self.bundle.model_name(meter),
            "model_version": self.bundle.version,
            "start": frame["date"].iloc[0].strftime("%Y-%m-%d"),
            "dates": frame["date"].dt.strftime("%Y-%m-%d").tolist(),
            "forecast": [round(float(v), 6) for v in frame["forecast"]],
            "intervals": {
                column.removeprefix("lower_"): {
                    "lower": [round(float(v), 6) for v in frame[column]],
                    "upper": [round(float(v), 6) for v in frame[f"upper_{column[6:]}"]],
                }
                for column in frame.columns
                if column.startswith("lower_")
            },
        }

    def _meter(self, meter_id) -> str:
        if meter_id in (None, ""):
            if len(self.bundle.models) == 1:
                return next(iter(self.bundle.models))
            raise InvalidRequest("meter_id is required: this model serves several meters")
        meter = str(meter_id)
        if meter not in self.bundle.models:
            raise InvalidRequest(str(UnknownMeterError(f"unknown meter {meter!r}")))
        return meter

    @staticmethod
    def _parse_json(body: bytes) -> tuple[list[dict], bool]:
        try:
            payload = json.loads(body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise InvalidRequest(f"body is not valid JSON: {error}") from error
        if isinstance(payload, dict) and "instances" in payload:
            items, batch = payload["instances"], True
            if not isinstance(items, list):
                raise InvalidRequest("'instances' must be a list of requests")
        elif isinstance(payload, dict):
            items, batch = [payload], False
        else:
            raise InvalidRequest("body must be a JSON object")
        requests = []
        for item in items:
            if not isinstance(item, dict):
                raise InvalidRequest("each request must be a JSON object")
            unknown = set(item) - {"meter_id", "horizon", "start"}
            if unknown:
                raise InvalidRequest(f"unknown field(s) {sorted(unknown)}")
            if "horizon" not in item:
                raise InvalidRequest("'horizon' is required")
            requests.append(
                {
                    "meter_id": item.get("meter_id"),
                    "horizon": item["horizon"],
                    "start": item.get("start"),
                }
            )
        return requests, batch

    @staticmethod
    def _parse_csv(body: bytes) -> list[dict]:
        try:
            rows = list(csv.reader(io.StringIO(body.decode())))
        except UnicodeDecodeError as error:
            raise InvalidRequest(f"CSV body is not UTF-8: {error}") from error
        requests = []
        for number, row in enumerate(r for r in rows if any(c.strip() for c in r)):
            if number == 0 and row and row[0].strip() == "meter_id":
                continue
            if len(row) not in (2, 3):
                raise InvalidRequest(f"CSV line {number + 1}: expected meter_id,horizon[,start]")
            requests.append(
                {
                    "meter_id": row[0].strip(),
                    "horizon": row[1].strip(),
                    "start": row[2].strip() if len(row) == 3 and row[2].strip() else None,
                }
            )
        return requests


def _horizon(value) -> int:
    try:
        steps = int(value)
    except (TypeError, ValueError):
        raise InvalidRequest(f"horizon must be an integer, got {value!r}") from None
    if isinstance(value, float) and value != steps or isinstance(value, bool):
        raise InvalidRequest(f"horizon must be an integer, got {value!r}")
    if not 1 <= steps <= MAX_HORIZON:
        raise InvalidRequest(f"horizon must be between 1 and {MAX_HORIZON}, got {steps}")
    return steps


def _start(value) -> str | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise InvalidRequest(f"start must be a date YYYY-MM-DD, got {value!r}") from None
