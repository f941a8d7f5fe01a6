"""Names and places the platform uses, read from the environment with working defaults.

The same variables configure the CLI, the Dagster definitions and the app, so a deployment is
moved from the local AWS to a real account by changing the environment only. They are read when
a ``Settings`` is made (each field's default), never when a module is imported: the Dagster
definitions are built from one (``definitions.build_defs``), so the demo, the replay and the
tests wire deployments of their own by passing theirs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from energy_assets.meter_days import zone


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


@dataclass(frozen=True)
class Settings:
    region: str = field(
        default_factory=lambda: _env("AWS_REGION", _env("AWS_DEFAULT_REGION", "us-east-1"))
    )
    table: str = field(default_factory=lambda: _env("ENERGY_ASSETS_TABLE", "energy-usage"))
    bucket: str = field(default_factory=lambda: _env("ENERGY_ASSETS_BUCKET", "energy-assets-data"))
    endpoint_name: str = field(
        default_factory=lambda: _env("ENERGY_ASSETS_ENDPOINT", "energy-usage-forecaster")
    )
    history_start: str = field(
        default_factory=lambda: _env("ENERGY_ASSETS_HISTORY_START", "2024-01-01")
    )
    role_arn: str = field(
        default_factory=lambda: _env(
            "ENERGY_ASSETS_SAGEMAKER_ROLE_ARN",
            "arn:aws:iam::123456789012:role/energy-assets-sagemaker",
        )
    )
    image_uri: str = field(
        default_factory=lambda: _env(
            "ENERGY_ASSETS_INFERENCE_IMAGE",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/energy-assets-inference:latest",
        )
    )
    metrics_namespace: str = field(
        default_factory=lambda: _env("ENERGY_ASSETS_METRICS_NAMESPACE", "EnergyAssets")
    )
    # failed runs and quality alarms notify this SNS topic when it is set
    alert_topic_arn: str = field(default_factory=lambda: _env("ENERGY_ASSETS_ALERT_TOPIC_ARN", ""))
    # the unit of the table's usage values, shown by the app and on the evaluation plot
    unit: str = field(default_factory=lambda: _env("ENERGY_ASSETS_UNIT", "kWh"))
    # when set, the app's API asks for it as a bearer token
    app_token: str = field(default_factory=lambda: _env("ENERGY_ASSETS_APP_TOKEN", ""), repr=False)
    app_max_in_flight: int = field(
        default_factory=lambda: int(_env("ENERGY_ASSETS_APP_MAX_IN_FLIGHT", "64"))
    )
    # raw_usage_export Scans tables of at most this many items, exports larger ones
    # (energy_assets/table_reads.py; 0: always exports)
    scan_max_items: int = field(
        default_factory=lambda: _whole("ENERGY_ASSETS_SCAN_MAX_ITEMS", "0", "items")
    )
    # Meter shards of the raw usage objects in S3 (``layout.shard_of``): one object per month
    # and shard, so a shard's work reads only its shard's. A change lays them out again: the
    # next raw_usage_export takes a full export.
    shards: int = field(
        default_factory=lambda: _shards(_whole("ENERGY_ASSETS_SHARDS", "1", "shards"))
    )
    # Where the meters are: their days end at midnight there (``meter_days``).
    timezone: str = field(default_factory=lambda: _env("ENERGY_ASSETS_TIMEZONE", "UTC"))
    # ...and whose public holidays they keep (codes of the holidays library: AU, VIC; US, CA)
    country: str = field(default_factory=lambda: _env("ENERGY_ASSETS_COUNTRY", ""))
    subdiv: str = field(default_factory=lambda: _env("ENERGY_ASSETS_SUBDIV", ""))
    # Numeric attributes used beside usage (e.g. ``temperature``), comma-separated; none by
    # default: an attribute is a covariate because someone declared it, not because it appeared.
    covariates: tuple[str, ...] = field(
        default_factory=lambda: parse_names(_env("ENERGY_ASSETS_COVARIATES", ""))
    )

    def __post_init__(self) -> None:
        zone(self.timezone)  # a clear error now rather than a day boundary that never comes
        if self.country:
            holiday_calendar(self.country, self.subdiv or None)

    def as_env(self) -> dict[str, str]:
        """The environment variables that name these settings: a process started with them
        (the demo's Dagster UI) builds the same ``Settings()``."""
        values = {
            "AWS_REGION": self.region,
            "ENERGY_ASSETS_TABLE": self.table,
            "ENERGY_ASSETS_BUCKET": self.bucket,
            "ENERGY_ASSETS_ENDPOINT": self.endpoint_name,
            "ENERGY_ASSETS_HISTORY_START": self.history_start,
            "ENERGY_ASSETS_SAGEMAKER_ROLE_ARN": self.role_arn,
            "ENERGY_ASSETS_INFERENCE_IMAGE": self.image_uri,
            "ENERGY_ASSETS_METRICS_NAMESPACE": self.metrics_namespace,
            "ENERGY_ASSETS_ALERT_TOPIC_ARN": self.alert_topic_arn,
            "ENERGY_ASSETS_UNIT": self.unit,
            "ENERGY_ASSETS_APP_TOKEN": self.app_token,
            "ENERGY_ASSETS_APP_MAX_IN_FLIGHT": str(self.app_max_in_flight),
            "ENERGY_ASSETS_SCAN_MAX_ITEMS": str(self.scan_max_items),
            "ENERGY_ASSETS_SHARDS": str(self.shards),
            "ENERGY_ASSETS_TIMEZONE": self.timezone,
            "ENERGY_ASSETS_COUNTRY": self.country,
            "ENERGY_ASSETS_SUBDIV": self.subdiv,
            "ENERGY_ASSETS_COVARIATES": ",".join(self.covariates),
        }
        return values


def _whole(name: str, default: str, what: str) -> int:
    text = _env(name, default)
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name} must be a whole number of {what}, not {text!r}") from None


# A shard's global model learns from its meters and a shard's run holds its shard in memory:
# 1,000 meters is the largest shard measured end to end (benchmarks/results/pipeline.md).
METERS_PER_SHARD = 1000


def shards_for(meters: int, per_shard: int = METERS_PER_SHARD) -> int:
    """The shard count for a fleet of ``meters``: shards of at most ``per_shard`` meters."""
    return max(1, -(-meters // per_shard))


def _shards(count: int) -> int:
    if count < 1:
        raise ValueError(f"ENERGY_ASSETS_SHARDS must be at least 1, not {count}")
    return count


def holiday_calendar(country: str, subdiv: str | None):
    """The holidays library's calendar, or a one-line error naming what it knows."""
    import holidays

    try:
        return holidays.country_holidays(country, subdiv=subdiv)
    except NotImplementedError:
        raise ValueError(
            f"unknown country {country!r} for public holidays: use a code of the holidays "
            "library (e.g. AU, US, GB, MA)"
        ) from None
    except Exception as error:  # an unknown subdivision
        raise ValueError(f"public holidays of {country}/{subdiv}: {error}") from None


@dataclass(frozen=True)
class DataPlace:
    """Whose public holidays the meters keep, and who said so."""

    country: str | None
    subdiv: str | None
    source: str

    def describe(self) -> str:
        if not self.country:
            return "none (set ENERGY_ASSETS_COUNTRY, or seed with --country)"
        where = self.country + (f"/{self.subdiv}" if self.subdiv else "")
        return f"{where} ({self.source})"


def data_place(
    country: str | None,
    subdiv: str | None,
    tagged=None,
    deployment: tuple[str, str] | None = None,
) -> DataPlace:
    """Run config first, then the deployment's ``ENERGY_ASSETS_COUNTRY``/``_SUBDIV``
    (``deployment``: its ``(country, subdiv)``; default: this process's ``Settings``), then what
    the table was seeded with (``tagged()``: its ``country``/``subdiv`` tags, read only when
    needed); else no public holidays."""
    if country:
        return DataPlace(country, subdiv or None, "run config")
    if deployment is None:
        settings = Settings()
        deployment = (settings.country, settings.subdiv)
    if deployment[0]:
        return DataPlace(deployment[0], deployment[1] or None, "ENERGY_ASSETS_COUNTRY")
    tags = tagged() if callable(tagged) else tagged
    if tags and tags.get("country"):
        return DataPlace(tags["country"], tags.get("subdiv") or None, "the table's tags")
    return DataPlace(None, None, "none")


def parse_names(text: str) -> tuple[str, ...]:
    """``"temperature, holiday"`` -> ``("temperature", "holiday")`` (blanks dropped)."""
    return tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
