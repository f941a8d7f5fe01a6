"""The backend's API against the local AWS and the deployed endpoint."""

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from datetime import date, timedelta

import boto3
import httpx
import numpy as np
import pandas as pd
import pytest

from energy_assets_tests.app.conftest import SLASH_METERS, TOKEN
from energy_assets_tests.conftest import TODAY

END = TODAY - timedelta(days=1)
START = END - timedelta(days=20)
RANGE = {"start": START.isoformat(), "end": END.isoformat()}


def _days(first: date, last: date) -> list[str]:
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def test_meters_are_listed(app_url, deployed):
    body = httpx.get(f"{app_url}/api/meters").json()
    assert body["meters"] == sorted(deployed["frame"]["meter_id"].unique())
    assert body["latest_day"] == END.isoformat()
    assert body["unit"] == "kWh"


def test_usage_comes_from_the_table_without_malformed_rows(app_url, deployed):
    meter = "meter-0002"
    body = httpx.get(f"{app_url}/api/meters/{meter}/usage", params=RANGE).json()
    frame = deployed["frame"]
    rows = frame[(frame["meter_id"] == meter) & frame["date"].between(str(START), str(END))]
    good = pd.to_numeric(rows["usage"], errors="coerce")
    expected = rows.assign(usage=good)[good >= 0].drop_duplicates("date").sort_values("date")
    assert body["dates"] == expected["date"].tolist()
    assert body["usage"] == expected["usage"].round(6).tolist()
    assert body["unit"] == "kWh"


def _mae(usage: dict, view: dict) -> tuple[float, int]:
    predicted = dict(zip(view["dates"], view["forecast"], strict=True))
    errors = [abs(u - predicted[d]) for d, u in zip(usage["dates"], usage["usage"], strict=True)]
    return float(np.mean(errors)), len(errors)


def test_predictions_cover_the_range_and_the_coming_days(app_url):
    body = httpx.get(
        f"{app_url}/api/meters/meter-0001/predictions", params={**RANGE, "ahead": 10}
    ).json()
    days = (END - START).days + 1
    assert len(body["range"]["dates"]) == len(body["range"]["forecast"]) == days
    assert body["range"]["dates"][0] == START.isoformat()
    assert len(body["range"]["lower_80"]) == days
    assert len(body["ahead"]["forecast"]) == 10
    assert date.fromisoformat(body["ahead"]["dates"][0]) > START
    usage = httpx.get(f"{app_url}/api/meters/meter-0001/usage", params=RANGE).json()
    mae, n = _mae(usage, body["range"])
    assert body["mae"] == pytest.approx(mae) and body["range"]["mae"] == pytest.approx(mae)
    assert body["mae_days"] == body["range"]["mae_days"] == n
    assert body["model_version"] and body["model"] and body["unit"] == "kWh"


def test_forecasts_made_a_day_and_a_week_before_each_day(app_url, deployed):
    body = httpx.get(f"{app_url}/api/meters/meter-0003/predictions", params=RANGE).json()
    usage = httpx.get(f"{app_url}/api/meters/meter-0003/usage", params=RANGE).json()
    sagemaker = deployed["defs"].resources["sagemaker"]
    for name, lead in (("day_before", 1), ("week_before", 7)):
        view = body[name]
        assert view["lead_days"] == lead and view["missing_days"] == 0
        assert view["dates"] == _days(START, END) == body["range"]["dates"]
        for day in (START, START + timedelta(days=9), END):  # as single invocations would say
            made = day - timedelta(days=lead - 1)
            single = sagemaker.invoke(
                {"meter_id": "meter-0003", "horizon": lead, "start": made.isoformat()}
            )
            at = view["dates"].index(day.isoformat())
            assert view["forecast"][at] == single["forecast"][-1]
            assert view["lower_80"][at] == single["intervals"]["80"]["lower"][-1]
        mae, n = _mae(usage, view)
        assert view["mae"] == pytest.approx(mae) and view["mae_days"] == n
    # the long forecast drifts; the day-before one is what the endpoint is used for
    assert body["day_before"]["mae"] < body["range"]["mae"] * 1.5


def test_a_range_at_the_start_of_the_history_says_which_days_have_no_early_forecast(
    app_url, deployed
):
    first = date.fromisoformat(deployed["seeded"].first_date)
    start, end = first + timedelta(days=30), first + timedelta(days=50)
    body = httpx.get(
        f"{app_url}/api/meters/meter-0001/predictions",
        params={"start": start.isoformat(), "end": end.isoformat(), "ahead": 0},
    )
    assert body.status_code == 200, body.text
    week, day = body.json()["week_before"], body.json()["day_before"]
    assert day["missing_days"] <= week["missing_days"]
    if week["missing_days"]:
        assert week["missing_reason"]
    assert len(week["dates"]) + week["missing_days"] == 21


def test_every_ahead_the_app_allows(app_url):
    body = httpx.get(f"{app_url}/api/meters/meter-0004/predictions", params={**RANGE, "ahead": 366})
    assert body.status_code == 200, body.text
    assert len(body.json()["ahead"]["forecast"]) == 366


def test_clear_errors(app_url, app_without_endpoint_url):
    unknown = httpx.get(f"{app_url}/api/meters/nobody/usage", params=RANGE)
    assert unknown.status_code == 404 and "unknown meter 'nobody'" in unknown.json()["detail"]
    backwards = httpx.get(
        f"{app_url}/api/meters/meter-0001/usage",
        params={"start": RANGE["end"], "end": RANGE["start"]},
    )
    assert backwards.status_code == 400 and "before start" in backwards.json()["detail"]
    down = httpx.get(f"{app_without_endpoint_url}/api/meters/meter-0001/predictions", params=RANGE)
    assert down.status_code == 503
    assert "no-such-endpoint does not exist" in down.json()["detail"]
    health = httpx.get(f"{app_without_endpoint_url}/api/health").json()
    assert health["status"] == "Missing"


def test_validation_errors_name_the_parameter_and_quote_little(app_url):
    response = httpx.get(
        f"{app_url}/api/meters/meter-0001/predictions",
        params={**RANGE, "ahead": "soon" * 750},
    )
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["param"] == "ahead" and "integer" in error["msg"]
    assert len(response.text) < 400  # the 3000 characters are not sent back


def test_requests_past_the_bounds_are_refused_before_any_route(app_url):
    long_id = httpx.get(f"{app_url}/api/meters/{'x' * 20_000}/usage", params=RANGE)
    assert long_id.status_code == 414 and len(long_id.text) < 200
    quoted = httpx.get(f"{app_url}/api/meters/{'x' * 3000}/usage", params=RANGE)
    assert quoted.status_code == 404 and len(quoted.json()["detail"]) < 120
    body = httpx.request("GET", f"{app_url}/api/meters", content=b"x" * 100_000)
    assert body.status_code == 413


def test_favicon(app_url):
    response = httpx.get(f"{app_url}/favicon.ico")
    assert response.status_code == 200 and response.content[:4] == b"\x00\x00\x01\x00"


def test_a_meter_added_after_the_list_was_read_is_found(app_url):
    meter = f"meter-new-{uuid.uuid4().hex[:6]}"
    assert meter not in httpx.get(f"{app_url}/api/meters").json()["meters"]  # list cached now
    table = boto3.client("dynamodb")
    key = {"meter_id": {"S": meter}, "date": {"S": END.isoformat()}}
    table.put_item(TableName="test-usage", Item={**key, "usage": {"N": "12.5"}})
    try:
        body = httpx.get(f"{app_url}/api/meters/{meter}/usage", params=RANGE)
        assert body.status_code == 200, body.text
        assert body.json()["usage"] == [12.5]
    finally:
        table.delete_item(TableName="test-usage", Key=key)
    assert httpx.get(f"{app_url}/api/meters/{meter}/usage", params=RANGE).status_code == 404


def test_a_missing_table_is_a_503_that_says_so(app_without_table_url):
    for path in ("/api/meters", "/api/meters/meter-0001/usage"):
        response = httpx.get(f"{app_without_table_url}{path}", params=RANGE)
        assert response.status_code == 503
        assert "usage table no-such-table does not exist" in response.json()["detail"]


def test_aws_down_is_a_503_that_says_so(deployed):
    # AWS at a port bound here and never listening: every connection is refused, and no other
    # process can start listening there while the test runs
    dead_socket = socket.socket()
    dead_socket.bind(("127.0.0.1", 0))
    dead = dead_socket.getsockname()[1]
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{dead}",
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": f"http://127.0.0.1:{dead}",
    }
    command = [sys.executable, "-m", "energy_assets.tools.cli", "app", "--port", "0"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()  # the app binds port 0 itself and prints what it got
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert found, f"the app did not start: {line!r}"
        url = found.group(0)
        deadline = time.monotonic() + 180  # busy 2 cores: dagster imports in ~50 s
        while True:
            try:
                httpx.get(f"{url}/favicon.ico")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.2)
        for path in ("/api/meters", "/api/health", "/api/meters/meter-0001/predictions"):
            response = httpx.get(f"{url}{path}", params=RANGE, timeout=30)
            assert response.status_code == 503, (path, response.text)
            assert "cannot reach" in response.json()["detail"]
    finally:
        process.terminate()
        process.wait(20)
        dead_socket.close()


def test_meter_ids_with_a_slash(slash_app_url):
    meters = httpx.get(f"{slash_app_url}/api/meters").json()["meters"]
    assert meters == sorted(SLASH_METERS)
    for meter in SLASH_METERS:
        raw = httpx.get(f"{slash_app_url}/api/meters/{meter}/usage", params=RANGE)
        escaped = httpx.get(
            f"{slash_app_url}/api/meters/{meter.replace('/', '%2F')}/usage", params=RANGE
        )
        assert raw.status_code == escaped.status_code == 200
        assert raw.json() == escaped.json() and raw.json()["meter_id"] == meter
        assert len(raw.json()["dates"]) == 21
        predicted = httpx.get(
            f"{slash_app_url}/api/meters/{meter.replace('/', '%2F')}/predictions", params=RANGE
        )
        assert predicted.status_code == 200, predicted.text
        assert predicted.json()["meter_id"] == meter
        assert len(predicted.json()["day_before"]["dates"]) == 21


def test_a_token_guards_the_api_but_not_the_page(app_with_token_url):
    url = app_with_token_url
    refused = httpx.get(f"{url}/api/meters")
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert "needs its token" in refused.json()["detail"]
    wrong = httpx.get(f"{url}/api/meters", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    ok = httpx.get(f"{url}/api/meters", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.json()["meters"]
    for path in ("/", "/static/app.js", "/docs", "/openapi.json", "/favicon.ico"):
        assert httpx.get(f"{url}{path}").status_code == 200, path
    schemes = httpx.get(f"{url}/openapi.json").json()["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer"


def test_past_the_concurrency_limit_the_app_answers_503_not_500(deployed):
    from energy_assets_tests.app.conftest import _serve

    server = _serve(deployed, max_in_flight=2)
    try:

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=60) as client:
                calls = [
                    client.get(
                        f"{server.url}/api/meters/meter-0001/predictions",
                        params={**RANGE, "ahead": 60},
                    )
                    for _ in range(12)
                ]
                return await asyncio.gather(*calls)

        responses = asyncio.run(burst())
    finally:
        server.stop()
    codes = sorted(r.status_code for r in responses)
    assert set(codes) == {200, 503}, codes
    busy = next(r for r in responses if r.status_code == 503)
    assert busy.headers["retry-after"] == "1" and "busy" in busy.json()["detail"]


def test_openapi_docs(app_url):
    assert httpx.get(f"{app_url}/docs").status_code == 200
    paths = httpx.get(f"{app_url}/openapi.json").json()["paths"]
    assert {
        "/api/meters",
        "/api/meters/{meter_id}/usage",
        "/api/meters/{meter_id}/predictions",
    } <= set(paths)


def test_a_meter_is_answered_without_reading_every_meter_once_the_list_expired(deployed):
    """The request that found the app's meter list expired read the whole list again before
    answering: at 1,000 meters 0.98 s for a meter the page otherwise shows in 0.27 s
    (benchmarks/results/page.md), growing with the fleet. A meter's answer asks the table
    about that meter only."""
    from energy_assets.app.service import NotFound, UsageService

    resources = deployed["defs"].resources
    service = UsageService(
        table=resources["usage_table"], sagemaker=resources["sagemaker"], meters_ttl_seconds=0
    )
    assert "meter-0002" in service.meters()  # the list read, and expired at once
    scans: list[str] = []

    def count(**kwargs) -> None:
        scans.append(kwargs["model"].name)

    events = service.table.client().meta.events
    events.register("before-call.dynamodb.Scan", count)
    try:
        assert len(service.actuals("meter-0002", START, END)) > 10
        with pytest.raises(NotFound, match="unknown meter"):
            service.actuals("no-such-meter", START, END)
    finally:
        events.unregister("before-call.dynamodb.Scan", count)
    assert scans == []  # one-key Queries only, whatever the fleet's size
