import pandas as pd
import pytest

from energy_assets.ml.cleaning import REASONS, clean_usage


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
    assert stats["rows_in"] == len(raw) == stats["rows_clean"] + stats["rows_quarantined"]
    assert stats["rows_quarantined"] == sum(stats[f"quarantined_{r}"] for r in REASONS)
    assert stats["quarantined_invalid_date"] == 2


def test_calendar_is_complete_and_imputed_days_are_flagged(raw):
    clean = clean_usage(raw).clean
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
