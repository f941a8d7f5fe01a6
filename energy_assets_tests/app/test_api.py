"""The backend's API against the local AWS and the deployed endpoint."""

from datetime import date, timedelta

import httpx
import numpy as np
import pandas as pd

from energy_assets_tests.conftest import TODAY

END = TODAY - timedelta(days=1)
START = END - timedelta(days=20)
RANGE = {"start": START.isoformat(), "end": END.isoformat()}


def test_meters_are_listed(app_url, deployed):
    body = httpx.get(f"{app_url}/api/meters").json()
    assert body["meters"] == sorted(deployed["frame"]["meter_id"].unique())
    assert body["latest_day"] == END.isoformat()


def test_usage_comes_from_the_table_without_malformed_rows(app_url, deployed):
    meter = "meter-0002"
    body = httpx.get(f"{app_url}/api/meters/{meter}/usage", params=RANGE).json()
    frame = deployed["frame"]
    rows = frame[(frame["meter_id"] == meter) & frame["date"].between(str(START), str(END))]
    good = pd.to_numeric(rows["usage"], errors="coerce")
    expected = rows.assign(usage=good)[good >= 0].drop_duplicates("date").sort_values("date")
    assert body["dates"] == expected["date"].tolist()
    assert body["usage"] == expected["usage"].round(6).tolist()


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
    predicted = dict(zip(body["range"]["dates"], body["range"]["forecast"], strict=True))
    errors = [abs(u - predicted[d]) for d, u in zip(usage["dates"], usage["usage"], strict=True)]
    assert body["mae"] == np.round(np.mean(errors), 9) or abs(body["mae"] - np.mean(errors)) < 1e-9
    assert body["mae_days"] == len(errors)
    assert body["model_version"] and body["model"]


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


def test_openapi_docs(app_url):
    assert httpx.get(f"{app_url}/docs").status_code == 200
    paths = httpx.get(f"{app_url}/openapi.json").json()["paths"]
    assert {
        "/api/meters",
        "/api/meters/{meter_id}/usage",
        "/api/meters/{meter_id}/predictions",
    } <= set(paths)
