"""Public holidays follow where the meters are: run config, then the environment, then what
the table was seeded with; never a country nobody named."""

from __future__ import annotations

import pandas as pd
import pytest

from energy_assets.errors import CommandError
from energy_assets.resources import UsageTableResource
from energy_assets.settings import Settings, data_place
from energy_assets.tools.seed import seed_table


def _frame():
    days = pd.date_range("2026-01-01", periods=30).strftime("%Y-%m-%d")
    return pd.DataFrame({"date": days, "usage": [str(10 + i % 7) for i in range(30)]})


def test_seeding_with_a_place_tags_the_table(local_aws):
    table = UsageTableResource(table_name="place-usage")
    summary = seed_table(table, _frame(), country="AU", subdiv="VIC")
    assert summary.place == "AU/VIC"
    assert table.place() == {"country": "AU", "subdiv": "VIC"}
    place = data_place(None, None, table.place)
    assert (place.country, place.subdiv) == ("AU", "VIC")
    assert place.describe() == "AU/VIC (the table's tags)"


def test_an_unknown_place_is_refused_before_anything_is_written(local_aws):
    table = UsageTableResource(table_name="nowhere-usage")
    with pytest.raises(CommandError, match="unknown country 'XX'"):
        seed_table(table, _frame(), country="XX")
    assert not table.exists()


def test_run_config_then_environment_then_tags_then_none(monkeypatch):
    tags = {"country": "AU", "subdiv": "NSW"}
    assert data_place("MA", None, tags).describe() == "MA (run config)"
    monkeypatch.setenv("ENERGY_ASSETS_COUNTRY", "GB")
    assert data_place(None, None, tags).describe() == "GB (ENERGY_ASSETS_COUNTRY)"
    monkeypatch.delenv("ENERGY_ASSETS_COUNTRY")
    assert data_place(None, None, tags).country == "AU"
    none = data_place(None, None, {})
    assert none.country is None and "set ENERGY_ASSETS_COUNTRY" in none.describe()


def test_a_country_the_holidays_library_does_not_know_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("ENERGY_ASSETS_COUNTRY", "Narnia")
    with pytest.raises(ValueError, match="unknown country 'Narnia'"):
        Settings()
