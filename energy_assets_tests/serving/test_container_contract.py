"""The SageMaker container contract over HTTP: /ping and /invocations."""

import httpx
import pytest


def test_ping(container_url):
    response = httpx.get(f"{container_url}/ping")
    assert response.status_code == 200 and response.json()["model_version"] == "v1"


def test_single_forecast(container_url):
    response = httpx.post(f"{container_url}/invocations", json={"meter_id": "m2", "horizon": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["meter_id"] == "m2" and body["model"] == "seasonal_naive"
    assert body["model_version"] == "v1" and body["start"] == "2025-03-02"
    assert body["dates"] == ["2025-03-02", "2025-03-03", "2025-03-04"]
    assert body["forecast"] == [153.0, 154.0, 155.0]  # the last week of 100 + day number
    assert body["intervals"] == {}  # no interval widths for m2 in this model


def test_intervals_come_with_the_forecast(container_url):
    body = httpx.post(f"{container_url}/invocations", json={"meter_id": "m1", "horizon": 2}).json()
    assert body["forecast"] == [53.0, 54.0]
    assert body["intervals"] == {
        "80": {"lower": [51.0, 52.0], "upper": [55.0, 56.0]},
        "95": {"lower": [48.0, 49.0], "upper": [58.0, 59.0]},
    }


def test_batch_and_csv_give_the_same_answers(container_url):
    batch = httpx.post(
        f"{container_url}/invocations",
        json={
            "instances": [
                {"meter_id": "m1", "horizon": 2},
                {"meter_id": "m2", "horizon": 1, "start": "2025-01-20"},
            ]
        },
    ).json()["predictions"]
    csv = httpx.post(
        f"{container_url}/invocations",
        content="meter_id,horizon,start\nm1,2,\nm2,1,2025-01-20\n",
        headers={"content-type": "text/csv"},
    ).json()["predictions"]
    assert batch == csv
    assert batch[1]["dates"] == ["2025-01-20"] and batch[1]["forecast"] == [112.0]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"meter_id": "zz", "horizon": 3}, "unknown meter 'zz'"),
        ({"meter_id": "m1"}, "'horizon' is required"),
        ({"meter_id": "m1", "horizon": 0}, "between 1 and 366"),
        ({"meter_id": "m1", "horizon": "soon"}, "must be an integer"),
        ({"meter_id": "m1", "horizon": 2, "start": "31/12/2025"}, "YYYY-MM-DD"),
        ({"horizon": 2}, "meter_id is required"),
        ({"meter_id": "m1", "horizon": 2, "colour": "red"}, "unknown field"),
    ],
)
def test_bad_payloads_get_a_400_with_a_clear_message(container_url, payload, message):
    response = httpx.post(f"{container_url}/invocations", json=payload)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_unreadable_bodies(container_url):
    not_json = httpx.post(
        f"{container_url}/invocations",
        content=b"{nope",
        headers={"content-type": "application/json"},
    )
    assert not_json.status_code == 400 and "not valid JSON" in not_json.json()["error"]
    xml = httpx.post(
        f"{container_url}/invocations", content=b"<a/>", headers={"content-type": "application/xml"}
    )
    assert xml.status_code == 400 and "unsupported content type" in xml.json()["error"]
