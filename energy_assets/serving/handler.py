"""The inference contract shared by the container and the local SageMaker runtime.

Requests (``application/json``)::

    {"meter_id": "meter-0001", "horizon": 14, "start": "2026-12-01"}   # start optional
    {"instances": [{"meter_id": ..., "horizon": ...}, ...]}              # batch
    {"meter_id": "meter-0001", "horizon": 7, "starts": ["2026-11-01", ...]}  # several origins

or ``text/csv`` lines ``meter_id,horizon[,start]`` (an optional ``meter_id,...`` header line).
``meter_id`` may be left out when the model serves one series; ``start`` defaults to the day
after the last actual in the model. Responses are JSON: one prediction, or
``{"predictions": [...]}`` for a batch or CSV, each
``{meter_id, model, model_version, model_note, start, dates, forecast, intervals}`` where
``intervals`` maps a level ("80", "95") to ``{"lower": [...], "upper": [...]}`` (empty when the
model has none) and ``model_note`` says why this model serves when it is not obvious (the
seasonal-naive baseline serving the fleet, or this meter alone), else is empty.

``starts`` asks for one meter's forecasts from many origins in one call (how a model is judged:
what it forecast for each day a day or a week before). The answer is
``{meter_id, model, model_version, model_note, horizon, forecasts: [...]}`` with, per start, either
``{start, origin, dates, forecast, intervals}`` (``origin``: the last actual the forecast was
made from) or ``{start, error}`` when the model's history cannot answer that start (too early):
the other starts are still answered.

Bounds: a body of at most ``MAX_BODY_BYTES`` (SageMaker's 6 MB), at most ``MAX_BATCH`` forecasts
and ``MAX_FORECAST_DAYS`` forecast days per call (so the answer stays under SageMaker's 6 MB
response limit); values quoted back in error messages are cut to a few dozen characters.

Errors are split the way SageMaker reports them to callers: ``InvalidRequest`` is the client's
fault (the container answers 400, the runtime a ``ModelError`` carrying OriginalStatusCode 400);
``ModelFailure`` is ours (500). Everything a request can get wrong is checked here, before the
model runs, so that an exception from the model really means the model failed.

The request path parses with ``json``/``csv`` and builds the answer from plain ``datetime`` and
numpy values: pandas runs only inside ``bundle.forecast``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import reprlib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from energy_assets.ml.bundle import ForecastBundle

MAX_HORIZON = 366
MAX_BATCH = 1000
MAX_START_GAP_DAYS = 366  # how far past the last actual a forecast may start
MAX_BODY_BYTES = 6 * 1024 * 1024  # SageMaker's limit for a real-time invocation payload
MAX_FORECAST_DAYS = 50_000  # about 3 MB of answer with two interval levels
JSON = "application/json"
FIELDS = ("meter_id", "horizon", "start")
MANY = "starts"

_QUOTE = reprlib.Repr()
_QUOTE.maxstring = _QUOTE.maxother = _QUOTE.maxlong = 60
_QUOTE.maxlevel, _QUOTE.maxlist, _QUOTE.maxdict = 2, 4, 4


def quoted(value) -> str:
    """A caller's value as an error message shows it: its repr, cut to a few dozen characters
    (a 20 MB meter id or a deeply nested list is not sent back whole)."""
    return _QUOTE.repr(value)


class InvalidRequest(ValueError):
    """The payload cannot be answered as sent (a 4xx)."""


class ModelFailure(RuntimeError):
    """The model failed on a valid request (a 5xx)."""


@dataclass(frozen=True)
class _Span:
    first: date
    last: date


@dataclass(frozen=True)
class ForecastRequest:
    meter_id: str
    horizon: int
    start: date | None


class Predictor:
    """Answers invocation payloads from one loaded ``ForecastBundle``."""

    def __init__(self, bundle: ForecastBundle):
        self.bundle = bundle
        missing = sorted(set(bundle.models) - set(bundle.history))
        if missing:
            # Fail when the container starts, not on the first request for such a meter.
            raise ValueError(f"model artifact has no history for meter(s) {missing[:5]}")
        # Date ranges per meter, computed once so requests are validated without pandas.
        self._spans = {
            meter: _Span(series.index[0].date(), series.index[-1].date())
            for meter, series in bundle.history.items()
            if len(series)
        }

    @classmethod
    def from_model_dir(cls, path: str | Path) -> Predictor:
        return cls(ForecastBundle.load(path))

    @property
    def version(self) -> str:
        return self.bundle.version

    def invoke(
        self, body: bytes, content_type: str = JSON, accept: str | None = None
    ) -> tuple[bytes, str]:
        """Answer one invocation body; returns (response body, response content type)."""
        _check_accept(accept)
        if len(body) > MAX_BODY_BYTES:
            raise InvalidRequest(
                f"body of {len(body)} bytes is over the limit of {MAX_BODY_BYTES} bytes"
            )
        kind = (content_type or JSON).split(";")[0].strip().lower()
        many = None
        if kind == "text/csv":
            items, batch = _parse_csv(body), True
        elif kind in (JSON, "application/x-json", "application/jsonlines", "*/*"):
            items, batch, many = _parse_json(body)
        else:
            raise InvalidRequest(
                f"unsupported content type {quoted(content_type)}; send JSON or CSV"
            )
        try:
            if many is not None:
                payload = self.forecast_starts(**many)
            else:
                _check_size(len(items), sum(item["horizon"] for item in items))
                requests = [self.validate(**item) for item in items]
                answers = [self.forecast(request) for request in requests]
                payload = {"predictions": answers} if batch else answers[0]
            return json.dumps(payload, separators=(",", ":")).encode(), JSON
        except (InvalidRequest, ModelFailure):
            raise
        except Exception as error:  # a bug or a broken artifact: still the model's failure
            raise ModelFailure(f"prediction failed: {error!r}") from error

    def predict(self, meter_id: str | None, horizon, start=None) -> dict:
        """One forecast from loosely typed arguments (validated as a JSON request is)."""
        return self.forecast(self.validate(meter_id, horizon, start))

    def validate(self, meter_id=None, horizon=None, start=None) -> ForecastRequest:
        meter = self._meter(meter_id)
        steps = _horizon(horizon)
        return self._request(meter, steps, _date(start))

    def _request(self, meter: str, horizon: int, first: date | None) -> ForecastRequest:
        span = self._spans[meter]
        if first is not None and first <= span.first:
            raise InvalidRequest(
                f"start {first} must be after the first known day {span.first} of meter "
                f"{quoted(meter)}"
            )
        if first is not None and (first - span.last).days > MAX_START_GAP_DAYS + 1:
            raise InvalidRequest(
                f"start {first} is more than {MAX_START_GAP_DAYS} days after the last actual "
                f"{span.last} of meter {quoted(meter)}"
            )
        return ForecastRequest(meter, horizon, first)

    def forecast_starts(self, starts, meter_id=None, horizon=None) -> dict:
        """One meter's forecasts from several starts in one call; a start this history cannot
        answer (too early, too far out) gets its own error and the others are still answered."""
        if not isinstance(starts, list) or not starts:
            raise InvalidRequest("'starts' must be a non-empty list of dates YYYY-MM-DD")
        meter = self._meter(meter_id)
        steps = _horizon(horizon)
        _check_size(len(starts), len(starts) * steps)
        days = [_date(start) for start in starts]
        if None in days:
            raise InvalidRequest("'starts' must hold dates YYYY-MM-DD, not empty values")
        last = self._spans[meter].last
        forecasts = []
        for day in days:
            try:
                answer = self.forecast(self._request(meter, steps, day))
            except InvalidRequest as error:
                forecasts.append({"start": day.isoformat(), "error": str(error)})
                continue
            origin = min(day - timedelta(days=1), last)  # the history is gap-free (cleaning)
            forecasts.append(
                {
                    "start": answer["start"],
                    "origin": origin.isoformat(),
                    "dates": answer["dates"],
                    "forecast": answer["forecast"],
                    "intervals": answer["intervals"],
                }
            )
        return {
            "meter_id": meter,
            "model": self.bundle.model_name(meter),
            "model_version": self.bundle.version,
            "model_note": self.bundle.meter_note(meter),
            "horizon": steps,
            "forecasts": forecasts,
        }

    def forecast(self, request: ForecastRequest) -> dict:
        meter = request.meter_id
        start = request.start or self._spans[meter].last + timedelta(days=1)
        try:
            _, values, bands = self.bundle.forecast_values(
                meter, request.horizon, start.isoformat()
            )
            values = np.asarray(values, dtype=float)
        except ValueError as error:
            if isinstance(error, np.linalg.LinAlgError):
                raise ModelFailure(f"model failed for meter {quoted(meter)}: {error}") from error
            # The bundle's way to say this history cannot answer this request (too little of it).
            raise InvalidRequest(str(error)) from error
        except Exception as error:
            raise ModelFailure(f"model failed for meter {quoted(meter)}: {error!r}") from error
        if len(values) != request.horizon or not np.isfinite(values).all():
            raise ModelFailure(f"model returned an invalid forecast for meter {quoted(meter)}")
        return {
            "meter_id": meter,
            "model": self.bundle.model_name(meter),
            "model_version": self.bundle.version,
            "model_note": self.bundle.meter_note(meter),
            "start": start.isoformat(),
            "dates": [(start + timedelta(days=i)).isoformat() for i in range(request.horizon)],
            "forecast": _floats(values),
            "intervals": {
                level: {"lower": _floats(lower), "upper": _floats(upper)}
                for level, (lower, upper) in bands.items()
            },
        }

    def _meter(self, meter_id) -> str:
        if meter_id is None or meter_id == "":
            if len(self.bundle.models) == 1:
                return next(iter(self.bundle.models))
            raise InvalidRequest(
                f"meter_id is required: this model serves {len(self.bundle.models)} meters"
            )
        if isinstance(meter_id, bool) or not isinstance(meter_id, str | int):
            raise InvalidRequest(f"meter_id must be a string, got {quoted(meter_id)}")
        meter = str(meter_id)
        if meter not in self.bundle.models:
            known = self.bundle.meters
            shown = ", ".join(known[:5]) + (", ..." if len(known) > 5 else "")
            raise InvalidRequest(
                f"unknown meter {quoted(meter)}; this model serves {len(known)} meters ({shown})"
            )
        return meter


def _check_accept(accept: str | None) -> None:
    if not accept:
        return
    kinds = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    if kinds & {JSON, "application/*", "*/*", ""}:
        return
    raise InvalidRequest(f"cannot answer in {quoted(accept)}; this model answers {JSON}")


def _check_size(forecasts: int, days: int) -> None:
    if not forecasts:
        raise InvalidRequest("no forecast requested")
    if forecasts > MAX_BATCH:
        raise InvalidRequest(f"at most {MAX_BATCH} forecasts per call, got {forecasts}")
    if days > MAX_FORECAST_DAYS:
        raise InvalidRequest(
            f"at most {MAX_FORECAST_DAYS} forecast days per call, got {days}: split the request"
        )


def _parse_json(body: bytes) -> tuple[list[dict], bool, dict | None]:
    """(requests, whether a batch, the ``starts`` request if that is the form)."""
    try:
        payload = json.loads(body or b"null")
    except RecursionError:
        raise InvalidRequest("body is not valid JSON: nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError, a 5000-digit number
        raise InvalidRequest(f"body is not valid JSON: {error}") from None
    if isinstance(payload, dict) and MANY in payload:
        unknown = set(payload) - {MANY, "meter_id", "horizon"}
        if unknown:
            raise InvalidRequest(
                f"unknown field(s) {_names(unknown)} beside 'starts'; send meter_id, horizon, "
                "starts"
            )
        if "horizon" not in payload:
            raise InvalidRequest("'horizon' is required")
        return [], False, payload
    if isinstance(payload, dict) and "instances" in payload:
        items, batch = payload["instances"], True
        if not isinstance(items, list):
            raise InvalidRequest("'instances' must be a list of requests")
        if set(payload) - {"instances"}:
            raise InvalidRequest(f"unknown field(s) {_names(set(payload) - {'instances'})}")
    elif isinstance(payload, dict):
        items, batch = [payload], False
    else:
        raise InvalidRequest('body must be a JSON object: {"meter_id": ..., "horizon": ...}')
    for number, item in enumerate(items):
        where = f"instance {number}: " if batch else ""
        if not isinstance(item, dict):
            raise InvalidRequest(f"{where}each request must be a JSON object")
        unknown = set(item) - set(FIELDS)
        if unknown:
            raise InvalidRequest(f"{where}unknown field(s) {_names(unknown)}; send {FIELDS}")
        if "horizon" not in item:
            raise InvalidRequest(f"{where}'horizon' is required")
        if not isinstance(item["horizon"], int) or isinstance(item["horizon"], bool):
            raise InvalidRequest(
                f"{where}horizon must be an integer, got {quoted(item['horizon'])}"
            )
    return items, batch, None


def _names(fields: set[str]) -> str:
    names = sorted(fields)
    return (
        "[" + ", ".join(quoted(name) for name in names[:5]) + (", ...]" if len(names) > 5 else "]")
    )


def _parse_csv(body: bytes) -> list[dict]:
    try:
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    except (UnicodeDecodeError, csv.Error) as error:
        raise InvalidRequest(f"CSV body cannot be read: {error}") from error
    items = []
    for number, row in enumerate(rows, start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells) or (not items and cells[0] == "meter_id"):
            continue
        if len(cells) not in (2, 3):
            raise InvalidRequest(f"CSV line {number}: expected meter_id,horizon[,start]")
        try:
            horizon = int(cells[1])
        except ValueError:
            raise InvalidRequest(
                f"CSV line {number}: horizon must be an integer, got {quoted(cells[1])}"
            ) from None
        start = cells[2] if len(cells) == 3 and cells[2] else None
        items.append({"meter_id": cells[0] or None, "horizon": horizon, "start": start})
    return items


def _horizon(value) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidRequest(f"horizon must be an integer, got {quoted(value)}")
    if not 1 <= value <= MAX_HORIZON:
        raise InvalidRequest(f"horizon must be between 1 and {MAX_HORIZON}, got {value}")
    return value


def _date(value) -> date | None:
    if value is None or value == "":
        return None
    # fromisoformat alone would also take "20250101" or week dates; the contract is YYYY-MM-DD.
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidRequest(f"start must be a date YYYY-MM-DD, got {quoted(value)}")


def _floats(values: np.ndarray) -> list[float]:
    return [round(v, 6) if math.isfinite(v) else None for v in values.tolist()]
