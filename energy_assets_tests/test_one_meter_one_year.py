"""Where users start: one table of ``date,usage``, one meter, a year of days. The whole graph,
from the table to an endpoint InService that boto3 (with only ``AWS_ENDPOINT_URL``) and the app
both read forecasts from; and a series no model can beat, which deploys the seasonal-naive
baseline, named as such, rather than leaving the endpoint empty."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta

import boto3
import dagster as dg
import numpy as np
import pandas as pd
import pytest

from energy_assets.orchestration.pipeline import asset_metadata, materialize_all
from energy_assets.resources import UsageTableResource
from energy_assets.tools.seed import seed_table
from energy_assets.tools.simulate import replay_definitions
from energy_assets_tests.conftest import TODAY, deployment

DAYS = 365


def _one_year(kind: str) -> pd.DataFrame:
    """A ``date,usage`` frame of the last year: a household-like series (weekly pattern, a
    seasonal level, noise), or a seasonal random walk (each weekday wanders on its own, so last
    week's value is the best forecast there is: seasonal naive)."""
    days = pd.date_range(end=pd.Timestamp(TODAY - timedelta(days=1)), periods=DAYS, freq="D")
    rng = np.random.default_rng(5)
    week = np.array([9.0, 9.5, 9.2, 9.8, 10.4, 13.0, 12.5])[days.day_of_week]
    if kind == "wandering":
        walk = np.zeros(DAYS)
        for i in range(7, DAYS):
            walk[i] = walk[i - 7] + rng.normal(0, 0.8)
        usage = week + 40 + walk
    else:
        season = 1 + 0.25 * np.cos(2 * np.pi * (days.day_of_year - 20) / 365.25)
        usage = week * season * np.exp(rng.normal(0, 0.12, DAYS))
    return pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "usage": np.round(usage, 3)})


def _joined(frame: pd.DataFrame) -> pd.DataFrame:
    """The household's year as meter ``house``, and two meters that joined lately: ``new``
    with 10 days, ``stray`` with 5 (readings close to each other: none is an outlier)."""
    last = pd.Timestamp(TODAY - timedelta(days=1))
    joined = [
        pd.DataFrame(
            {
                "meter_id": meter,
                "date": pd.date_range(end=last, periods=days).strftime("%Y-%m-%d"),
                "usage": [f"{10 + 0.1 * (i % 3):.1f}" for i in range(days - 1)] + ["13.0"],
            }
        )
        for meter, days in (("new", 10), ("stray", 5))
    ]
    return pd.concat([frame.assign(meter_id="house"), *joined], ignore_index=True)


def _run(kind: str, local_aws):
    names = deployment(
        table=f"one-{kind}", bucket=f"one-{kind}-assets", endpoint_name=f"one-{kind}-forecaster"
    )
    defs = replay_definitions(names)
    table = UsageTableResource(table_name=names.table, region_name=names.region)
    if kind == "joined":
        seeded = seed_table(table, _joined(_one_year("household")))
    else:
        seeded = seed_table(table, _one_year(kind))  # no meter_id: a table keyed by date alone
        assert seeded.single_series and seeded.rows == DAYS
    instance = dg.DagsterInstance.ephemeral()
    runs = materialize_all(
        defs, instance, seeded.first_date, (TODAY - timedelta(days=1)).isoformat()
    )
    assert runs.training.success, runs.training
    storage = defs.resources["storage"]
    return {
        "names": names,
        "defs": defs,
        "runs": runs,
        "report": storage.get_json(
            storage.key_of(asset_metadata(runs.training, "evaluation_report")["report_uri"])
        ),
        "deployment": storage.get_json("deployments/current.json"),
        "check": {e.check_name: e for e in runs.training.get_asset_check_evaluations()}[
            "model_beats_seasonal_naive"
        ],
    }


@pytest.fixture(scope="module")
def household(local_aws):
    return _run("household", local_aws)


@pytest.fixture(scope="module")
def wandering(local_aws):
    return _run("wandering", local_aws)


@pytest.fixture(scope="module")
def joined(local_aws):
    return _run("joined", local_aws)


def _invoke(names, local_aws, payload: dict) -> dict:
    client = boto3.client(
        "sagemaker-runtime",
        endpoint_url=local_aws.endpoint_url,  # AWS_ENDPOINT_URL alone: no runtime URL
        region_name=names.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    response = client.invoke_endpoint(
        EndpointName=names.endpoint_name,
        ContentType="application/json",
        Body=json.dumps(payload),
    )
    return json.loads(response["Body"].read())


def test_a_year_of_one_meter_deploys_a_model_that_beats_seasonal_naive(household, local_aws):
    report, check = household["report"], household["check"]
    assert check.passed, check.metadata
    assert report["baseline_verdict"]["verdict"] == "beats"
    assert report["overall"]["relative_mae"] < 1 and "baseline" not in report
    names = household["names"]
    sagemaker = boto3.client("sagemaker", endpoint_url=local_aws.endpoint_url)
    status = sagemaker.describe_endpoint(EndpointName=names.endpoint_name)["EndpointStatus"]
    assert status == "InService"
    answer = _invoke(names, local_aws, {"horizon": 14})  # one series: no meter_id needed
    assert answer["meter_id"] == names.table and len(answer["forecast"]) == 14
    assert answer["model"] == "mean(ses_log,ets)" and answer["model_note"] == ""
    assert answer["start"] == TODAY.isoformat()


def test_the_app_shows_the_forecast_beside_the_actuals(household, local_aws):
    from fastapi.testclient import TestClient

    from energy_assets.app.api import create_app
    from energy_assets.app.service import UsageService

    names = household["names"]
    resources = household["defs"].resources
    service = UsageService(table=resources["usage_table"], sagemaker=resources["sagemaker"])
    client = TestClient(create_app(service))
    end = TODAY - timedelta(days=1)
    body = client.get(
        f"/api/meters/{names.table}/predictions",
        params={"start": (end - timedelta(days=27)).isoformat(), "end": end.isoformat()},
    ).json()
    assert body["model_version"] == household["deployment"]["model_version"]
    assert len(body["ahead"]["forecast"]) == 14
    assert body["day_before"]["mae"] > 0


def test_a_series_nothing_beats_deploys_the_baseline_named_as_such(wandering, local_aws):
    report, check = wandering["report"], wandering["check"]
    # last week is the best forecast of a seasonal random walk: no model beats it in validation
    assert report["baseline"]["note"] == "no model beat seasonal naive in validation on any meter"
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "serving the seasonal-naive baseline" in check.description
    assert wandering["deployment"]["model_version"] == report["version"]
    answer = _invoke(wandering["names"], local_aws, {"horizon": 7})
    assert answer["model"] == "seasonal_naive"
    assert answer["model_note"] == report["baseline"]["note"]
    week = _one_year("wandering")["usage"].to_numpy()[-7:]
    assert answer["forecast"] == pytest.approx(list(week))
    assert date.fromisoformat(answer["start"]) == TODAY


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    from energy_assets_tests import browser as chromium

    with sync_playwright() as playwright:
        browser = chromium.launch(playwright)
        yield browser
        browser.close()


def _page_of(run: dict, browser):
    """The app of this deployment served over HTTP, its page loaded in Chromium."""
    from energy_assets.app.api import create_app
    from energy_assets.app.service import UsageService
    from energy_assets.background import ASGIThread
    from energy_assets_tests.app.test_page import _offline

    resources = run["defs"].resources
    service = UsageService(table=resources["usage_table"], sagemaker=resources["sagemaker"])
    server = ASGIThread().start(create_app(service))
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    elsewhere = _offline(page)
    page.goto(server.url)
    page.wait_for_function("document.body.dataset.state === 'ready'")
    return server, page, elsewhere


def test_the_page_draws_the_one_meter(household, browser):
    server, page, elsewhere = _page_of(household, browser)
    try:
        traces = page.evaluate(
            "() => Object.fromEntries(document.getElementById('chart').data"
            ".map(t => [t.name, t.x.length]))"
        )
        assert traces["actual"] == 56 and traces["forecast a day before"] == 56
        assert traces["forecast, coming days"] == 14
        assert page.inner_text("#model") == "mean(ses_log,ets)"
        assert page.is_hidden("#model-note")
        assert elsewhere == []
    finally:
        server.stop()


def test_the_page_says_the_baseline_serves(wandering, browser):
    server, page, _ = _page_of(wandering, browser)
    try:
        assert page.inner_text("#model") == "seasonal_naive"
        assert page.is_visible("#model-note")
        assert "no model beat seasonal naive" in page.inner_text("#model-note")
    finally:
        server.stop()


def test_meters_that_just_joined_do_not_stop_the_fleet(joined, local_aws):
    storage = joined["defs"].resources["storage"]
    stats = storage.get_json("clean/stats.json")
    assert stats["rows_quarantined"] == 0  # the new meters' last days are no outliers
    version = joined["deployment"]["model_version"]
    selection = pd.read_csv(
        io.BytesIO(storage.get_bytes(f"models/{version}/selection.csv")), dtype={"meter_id": str}
    ).set_index("meter_id")
    assert selection.loc["house", "chosen"] == "mean(ses_log,ets)"
    assert "served seasonal naive" in selection.loc["new", "reason"]
    assert "not served (needs 7)" in selection.loc["stray", "reason"]
    names = joined["names"]
    answer = _invoke(names, local_aws, {"meter_id": "new", "horizon": 7})
    assert answer["model"] == "seasonal_naive"
    assert _invoke(names, local_aws, {"meter_id": "house", "horizon": 7})["forecast"]
