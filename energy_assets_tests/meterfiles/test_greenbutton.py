"""Green Button files built here: ESPI XML through greenbutton-objects (local days from the
feed's own daylight-saving rules) and the Download My Data CSV."""

from datetime import UTC, date, datetime, timedelta

import pytest

from energy_assets.meterfiles import MeterFileError, read_meter_file
from energy_assets_tests.meterfiles.builders import espi_feed, greenbutton_csv

# Local midnight of 2024-03-09 in US Eastern (EST, UTC-5); DST starts on 2024-03-10.
MIDNIGHT = datetime(2024, 3, 9, 5, tzinfo=UTC)


def _hourly(hours: int, value: int = 1000, quality=None) -> list:
    return [(MIDNIGHT + timedelta(hours=h), 3600, value, quality) for h in range(hours)]


def _read(tmp_path, text: str, name: str, **kwargs):
    path = tmp_path / name
    path.write_text(text)
    return read_meter_file(path, "greenbutton", **kwargs)


def _daily(result) -> dict[str, tuple[float, str]]:
    return {r.date: (r.usage, r.quality) for r in result.daily.itertuples(index=False)}


def test_espi_days_follow_the_feeds_daylight_saving_rules(tmp_path):
    # 24 h, then the 23-hour spring-forward day, then 24 h: three whole local days
    result = _read(tmp_path, espi_feed(_hourly(24 + 23 + 24)), "feed.xml")
    assert _daily(result) == {
        "2024-03-09": (24.0, "A"),
        "2024-03-10": (23.0, "A"),
        "2024-03-11": (24.0, "A"),
    }
    assert set(result.daily["meter_id"]) == {"cust9-up1-mr1"}  # ids from the Atom links
    assert result.quarantine.empty
    assert "daylight saving" in result.notes[0]


def test_espi_without_daylight_rules_or_with_a_named_zone(tmp_path):
    text = espi_feed(_hourly(24 + 23 + 24), dst=False)
    fixed = _read(tmp_path, text, "fixed.xml")  # UTC-5 all year: the 3rd day lacks an hour
    assert set(_daily(fixed)) == {"2024-03-09", "2024-03-10"}
    assert fixed.quarantine["detail"].tolist() == ["23 of 24 intervals read"]
    named = _read(tmp_path, text, "named.xml", timezone="America/New_York", meter_id="house 7")
    assert set(_daily(named)) == {"2024-03-09", "2024-03-10", "2024-03-11"}
    assert set(named.daily["meter_id"]) == {"house_7"}


def test_espi_values_multiplier_and_reading_qualities(tmp_path):
    reads = _hourly(24, value=5)  # 5 x 10^2 Wh = 0.5 kWh an hour
    reads[3] = (reads[3][0], 3600, 5, 8)  # estimated using reference day
    reads[4] = (reads[4][0], 3600, 5, 7)  # manually edited
    result = _read(tmp_path, espi_feed(reads, multiplier=2), "feed.xml")
    assert _daily(result) == {"2024-03-09": (12.0, "AES")}


def test_espi_partial_day_and_gas_feed_are_quarantined(tmp_path):
    result = _read(tmp_path, espi_feed(_hourly(24) + _hourly(30)[25:]), "feed.xml")
    assert _daily(result) == {"2024-03-09": (24.0, "A")}
    assert result.quarantine["reason"].tolist() == ["partial_day"]
    gas = _read(tmp_path, espi_feed(_hourly(24), uom=169, kind=1), "gas.xml")
    assert gas.daily.empty
    assert gas.quarantine["reason"].tolist() == ["unsupported_unit"]
    assert gas.quarantine["unit"].tolist() == ["thm"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<feed><entry>", "not well-formed XML"),
        ('<feed xmlns="http://www.w3.org/2005/Atom"></feed>', "no UsagePoint with a MeterReading"),
    ],
    ids=["truncated", "not-espi"],
)
def test_malformed_xml_fails_in_one_line(tmp_path, text, message):
    with pytest.raises(MeterFileError) as error:
        _read(tmp_path, text, "broken.xml")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_csv_export_sums_quarter_hours_and_quarantines_holes(tmp_path):
    days = [date(2024, 1, 1), date(2024, 1, 2)]
    text = greenbutton_csv(days, holes={(days[1], 5): ""})
    result = _read(tmp_path, text, "pge.csv")
    assert _daily(result) == {"2024-01-01": (24.0, "A")}
    assert set(result.daily["meter_id"]) == {"1234567890-Service_1"}
    row = result.quarantine.iloc[0]
    assert (row["date"], row["reason"], row["detail"]) == (
        "2024-01-02",
        "partial_day",
        "95 of 96 intervals read",
    )


def test_csv_import_export_columns_are_two_meters(tmp_path):
    text = greenbutton_csv([date(2024, 1, 1)], minutes=60, value="1.5", account=None, export=True)
    result = _read(tmp_path, text, "solar.csv")
    usage = {r.meter_id: r.usage for r in result.daily.itertuples(index=False)}
    assert usage == {"solar-import": 36.0, "solar-export": pytest.approx(2.4)}


def test_csv_daylight_saving_day_needs_the_zone(tmp_path):
    spring = date(2024, 3, 10)
    text = greenbutton_csv([spring], minutes=60)
    rows = text.splitlines()
    text = "\n".join(r for r in rows if ",02:00," not in r) + "\n"  # 02:00 does not exist
    plain = _read(tmp_path, text, "dst.csv")
    assert plain.daily.empty and plain.quarantine["detail"].tolist() == ["23 of 24 intervals read"]
    zoned = _read(tmp_path, text, "dst.csv", timezone="America/Los_Angeles")
    assert _daily(zoned) == {"2024-03-10": (5.75, "A")}


def test_csv_in_therms_is_quarantined(tmp_path):
    result = _read(tmp_path, greenbutton_csv([date(2024, 1, 1)], unit="Therms"), "gas.csv")
    assert result.daily.empty and result.quarantine["reason"].tolist() == ["unsupported_unit"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1,2\n", "no header row with DATE and START TIME"),
        (
            greenbutton_csv([date(2024, 1, 1)]).replace("2024-01-01,00:15", "someday,00:15"),
            "line 8: date 'someday' is not a date",
        ),
        ("DATE,START TIME,USAGE\n", "no interval rows"),
        ("DATE,START TIME,END TIME,USAGE,UNITS\n2024-01-01,00:00\n", "fewer cells"),
    ],
    ids=["no-header", "bad-date", "empty", "short-row"],
)
def test_malformed_csv_fails_in_one_line(tmp_path, text, message):
    with pytest.raises(MeterFileError) as error:
        _read(tmp_path, text, "broken.csv")
    assert message in str(error.value) and "\n" not in str(error.value)
