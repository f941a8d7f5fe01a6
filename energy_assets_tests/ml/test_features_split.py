import numpy as np
import pandas as pd
import pytest

from energy_assets.ml.features import add_calendar_features, season_of
from energy_assets.ml.split import short_meters, time_split


def _frame(days=60, meters=("a", "b")):
    dates = pd.date_range("2025-01-01", periods=days)
    return pd.DataFrame(
        {
            "meter_id": np.repeat(meters, days),
            "date": np.tile(dates, len(meters)),
            "usage": np.tile(np.arange(days, dtype=float), len(meters)),
        }
    )


def test_seasons_follow_the_hemisphere():
    months = np.array([1, 4, 7, 10, 12])
    assert season_of(months, "north").tolist() == ["winter", "spring", "summer", "autumn", "winter"]
    assert season_of(months, "south").tolist() == ["summer", "autumn", "winter", "spring", "summer"]
    with pytest.raises(ValueError, match="hemisphere"):
        season_of(months, "east")


def test_calendar_features_and_no_lookahead():
    out = add_calendar_features(_frame())
    first = out[(out["meter_id"] == "a")].iloc[0]
    assert first["day_of_week"] == 2 and first["month"] == 1 and first["season"] == "winter"
    assert not first["is_weekend"]
    a = out[out["meter_id"] == "a"].reset_index(drop=True)
    assert a["lag_7"].iloc[:7].isna().all()
    assert a.loc[10, "lag_7"] == 3.0  # usage is the day number
    assert a.loc[10, "rolling_mean_7"] == np.mean(np.arange(3, 10))  # days 3..9, not day 10
    b = out[out["meter_id"] == "b"].reset_index(drop=True)
    assert b["lag_7"].iloc[:7].isna().all()  # no spill-over between meters


def test_split_has_one_cutoff_and_names_short_meters():
    frame = _frame()
    train, test = time_split(frame, test_days=14)
    assert test["date"].nunique() == 14 and train["date"].max() < test["date"].min()
    assert len(train) + len(test) == len(frame)
    short = pd.concat([frame, _frame(days=60, meters=("c",)).iloc[-20:]])
    train, test = time_split(short, test_days=14)  # a short meter does not stop the others
    assert set(train["meter_id"]) == {"a", "b", "c"} and set(test["meter_id"]) == {"a", "b", "c"}
    assert short_meters(train, short["meter_id"].unique()) == {"c": 6}
