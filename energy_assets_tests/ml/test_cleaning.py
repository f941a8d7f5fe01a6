import pandas as pd
import pytest

from energy_assets.ml.cleaning import REASONS, clean_usage, counted


def _raw(rows):
    return pd.DataFrame(rows, columns=["meter_id", "date", "usage", "temperature"], dtype=str)


@pytest.fixture
def raw():
    return _raw(
        [
            ("a", "2025-01-01", "10", "5.0"),
            ("a", "2025-01-02", "11", "6.0"),
            ("a", "2025-01-02T00:00:00", "99", "6.0"),  # same day, other spelling
            ("a", "2025-01-03", "", "7.0"),  # missing value
            ("a", "2025-01-04", "n/a", "8.0"),  # not a number
            ("a", "2025-01-05", "-4", "9.0"),  # negative
            ("a", "2025-02-30", "12", "9.0"),  # no such day
            ("a", "not-a-date", "12", "9.0"),
            ("a", "2025-01-07", "13", "11.0"),  # 2025-01-06 absent
            ("a", "2025-01-08", "12", "12.0"),
            ("a", "2025-01-09", "5000", "12.0"),  # outlier
            ("a", "2025-01-10", "12.5", "12.0"),
            ("", "2025-01-01", "3", "1.0"),  # no meter
            ("b", "2025-01-01", "0", "1.0"),  # zero is a real reading
            ("b", "2025-01-02", "1", "1.0"),
        ]
    )


def test_every_bad_row_is_quarantined_with_its_reason(raw):
    result = clean_usage(raw)
    got = dict(
        zip(
            result.quarantine["date"] + "|" + result.quarantine["usage"],
            result.quarantine["reason"],
            strict=True,
        )
    )
    assert got == {
        "2025-01-02T00:00:00|99": "duplicate",
        "2025-01-03|": "missing_usage",
        "2025-01-04|n/a": "invalid_usage",
        "2025-01-05|-4": "negative_usage",
        "2025-02-30|12": "invalid_date",
        "not-a-date|12": "invalid_date",
        "2025-01-09|5000": "outlier",
        "2025-01-01|3": "missing_meter",
    }
    assert result.quarantine["temperature"].notna().all()  # original values kept


def test_nothing_is_lost_and_counts_add_up(raw):
    stats = clean_usage(raw).stats
    assert counted(stats)
    assert stats["rows_in"] == len(raw) == stats["rows_clean"] + stats["rows_quarantined"]
    assert stats["rows_quarantined"] == sum(stats[f"quarantined_{r}"] for r in REASONS)
    assert stats["quarantined_invalid_date"] == 2


def test_calendar_is_complete_and_imputed_days_are_flagged(raw):
    clean = clean_usage(raw, covariates=["temperature"]).clean
    a = clean[clean["meter_id"] == "a"].set_index("date")
    assert list(a.index) == list(pd.date_range("2025-01-01", "2025-01-10"))
    imputed = a.index[a["imputed"]].strftime("%Y-%m-%d").tolist()
    assert imputed == ["2025-01-03", "2025-01-04", "2025-01-05", "2025-01-06", "2025-01-09"]
    assert a["usage"].notna().all() and (a["usage"] >= 0).all()
    assert a.loc["2025-01-02", "usage"] == 11  # the canonical spelling wins the duplicate
    # 2025-01-03 has no week-either-side value: filled linearly between 11 and 13
    assert 11 <= a.loc["2025-01-03", "usage"] <= 13
    assert a["temperature"].dtype == float and a["temperature"].notna().all()
    b = clean[clean["meter_id"] == "b"]
    assert b["usage"].tolist() == [0.0, 1.0]


def test_same_weekday_imputation_uses_the_weeks_either_side():
    days = pd.date_range("2025-01-01", periods=21)
    usage = [100.0 if d.day_of_week == 2 else 10.0 for d in days]
    raw = pd.DataFrame({"meter_id": "m", "date": days.strftime("%Y-%m-%d"), "usage": usage})
    raw = raw.drop(index=7).astype(str)  # a Wednesday, between two Wednesdays of 100
    clean = clean_usage(raw, max_outlier_score=1e9).clean.set_index("date")
    assert clean.loc["2025-01-08", "usage"] == 100.0
    assert clean.loc["2025-01-08", "imputed"]


def test_missing_columns_are_a_clear_error():
    with pytest.raises(ValueError, match="usage"):
        clean_usage(pd.DataFrame({"meter_id": ["a"], "date": ["2025-01-01"]}))


def _fleet(meters=3, days=200, start="2026-01-01"):
    """3 meters x 200 days of plausible usage, as text (the issue's probe size)."""
    dates = pd.date_range(start, periods=days).strftime("%Y-%m-%d")
    rows = [
        (f"meter-{m:04d}", d, f"{10 + m + (i % 7) * 0.5:.2f}")
        for m in range(1, meters + 1)
        for i, d in enumerate(dates)
    ]
    return pd.DataFrame(rows, columns=["meter_id", "date", "usage"])


def _reason_of(result, date):
    rows = result.quarantine[result.quarantine["date"] == date]
    return rows["reason"].tolist()


def test_an_unpadded_date_is_normalised_and_counted_and_a_future_date_quarantined():
    raw = _fleet()
    unpadded = raw.index[(raw["meter_id"] == "meter-0002") & (raw["date"] == "2026-03-05")]
    raw.loc[unpadded, "date"] = "2026-3-5"
    raw = pd.concat([raw, pd.DataFrame([("meter-0001", "2030-01-01", "12")], columns=raw.columns)])
    result = clean_usage(raw, first_day="2026-01-01", last_day="2026-07-19")
    stats = result.stats
    assert counted(stats) and stats["rows_in"] == 601
    assert stats["rows_clean"] == 600 and stats["dates_normalised"] == 1
    assert _reason_of(result, "2030-01-01") == ["future_date"]
    clean = result.clean.set_index(["meter_id", "date"])
    assert not clean.loc[("meter-0002", pd.Timestamp("2026-03-05")), "imputed"]
    assert stats["rows_imputed"] == 0  # the unpadded day was read, not imputed


def test_an_unpadded_date_beside_its_padded_twin_is_a_duplicate():
    raw = _fleet(meters=1, days=30)
    twin = pd.DataFrame([("meter-0001", "2026-1-5", "999")], columns=raw.columns)
    result = clean_usage(pd.concat([raw, twin]))
    assert _reason_of(result, "2026-1-5") == ["duplicate"]
    assert counted(result.stats)


def test_dates_before_the_history_start_are_quarantined_not_dropped():
    raw = _fleet(meters=1, days=30)
    result = clean_usage(raw, first_day="2026-01-11")
    assert result.stats["quarantined_before_history_start"] == 10
    assert result.clean["date"].min() == pd.Timestamp("2026-01-11")
    assert counted(result.stats)


def test_a_date_with_a_time_zone_must_start_a_day_where_the_meters_are():
    raw = _fleet(meters=1, days=30)
    raw.loc[4, "date"] = "2026-01-05T00:00:00+10:00"  # 14:00 the day before in UTC
    raw.loc[5, "date"] = "2026-01-06T00:00:00Z"  # a UTC midnight
    raw.loc[6, "date"] = "2026-01-07T00:00:00"  # no zone: the day it names
    result = clean_usage(raw)  # meters in UTC
    assert result.quarantine.set_index("date")["reason"].to_dict() == {
        "2026-01-05T00:00:00+10:00": "timezone"
    }
    clean = result.clean.set_index("date")
    assert clean.loc["2026-01-05", "imputed"] and not clean.loc["2026-01-06", "imputed"]
    assert result.stats["dates_normalised"] == 2 and counted(result.stats)
    # meters in Sydney (+11:00 in January): the same +10:00 stamp is 01:00 there, the Z one
    # 11:00; a +11:00 midnight starts the day
    raw.loc[7, "date"] = "2026-01-08T00:00:00+11:00"
    sydney = clean_usage(raw, timezone="Australia/Sydney")
    assert sydney.quarantine.set_index("date")["reason"].to_dict() == {
        "2026-01-05T00:00:00+10:00": "timezone",
        "2026-01-06T00:00:00Z": "timezone",
    }
    assert not sydney.clean.set_index("date").loc["2026-01-08", "imputed"]
    assert counted(sydney.stats)


def test_an_undeclared_attribute_on_one_item_is_ignored_and_counted():
    raw = _fleet().assign(temperature="")
    raw.loc[0, "temperature"] = "-40"
    result = clean_usage(raw)
    assert "temperature" not in result.clean.columns
    assert result.stats["ignored_attributes"] == "temperature (1 rows)"
    assert result.stats["ignored_attribute_values"] == 1
    assert result.stats["covariates"] == "none" and counted(result.stats)


def test_a_declared_covariate_is_validated_per_row():
    raw = _fleet(meters=2, days=30)
    raw["temperature"] = "15.5"
    raw.loc[3, "temperature"] = ""
    raw.loc[4, "temperature"] = "warm"
    raw.loc[5, "temperature"] = "inf"
    result = clean_usage(raw, covariates=["temperature"])
    reasons = result.quarantine["reason"].tolist()
    assert reasons == ["missing_covariate", "invalid_covariate", "invalid_covariate"]
    assert result.clean["temperature"].eq(15.5).all()  # the three days imputed from neighbours
    assert result.clean["imputed"].sum() == 3 and counted(result.stats)


def test_a_declared_covariate_no_row_carries_is_a_clear_error():
    with pytest.raises(ValueError, match=r"declared covariate\(s\) \['temperature'\] absent"):
        clean_usage(_fleet(meters=1, days=10), covariates=["temperature"])
