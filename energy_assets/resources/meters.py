"""What a deployment knows about its meters' data: where the meters are (their days end at
midnight in ``timezone``; their public holidays are ``country``/``subdiv``'s), when their history
starts, which numeric attributes beside usage are covariates, and the unit of usage.

A resource, so that assets read these at launch from the deployment's wiring (``build_defs``)
rather than from the environment, and a run can be launched with other values."""

from __future__ import annotations

from datetime import date

import dagster as dg

from energy_assets import meter_days


class MeterSettings(dg.ConfigurableResource):
    timezone: str = "UTC"
    history_start: str = "2024-01-01"
    covariates: list[str] = []
    unit: str = "kWh"
    country: str = ""
    subdiv: str = ""

    def first_day(self) -> str:
        """The first day of the daily partitions."""
        return self.history_start

    def last_day(self) -> str:
        """The last day of the daily partitions: the latest day that has ended where the meters
        are."""
        return meter_days.last_complete_day(self.timezone).isoformat()

    def today(self) -> date:
        """The day in progress where the meters are."""
        return meter_days.today(self.timezone)
