"""Champion/challenger promotion, the smoke-tested endpoint switch, and rollback.

The serving model (the champion) is replaced only by a challenger that forecasts the same test
window better, the way the endpoint is used: from the end of the same training window and from
every test day after it, both bundles forecast the next week given the actuals up to that day
(the champion with its own fitted parameters), and the pooled MAE over the meters both serve
decides. Every switch of the endpoint is followed by a smoke-test
invocation; when it fails the endpoint goes back to the config that served before.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import pandas as pd

from energy_assets import layout
from energy_assets.ml.metrics import mae


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    challenger_mae: float | None = None
    champion_mae: float | None = None
    common_meters: int = 0
    new_meters: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def compare(
    challenger: pd.DataFrame,
    champion: pd.DataFrame,
    champion_version: str,
    min_improvement: float = 0.0,
) -> Decision:
    """Decide on two test-window forecast frames (``meter_id, date, actual, forecast`` and,
    for rolling forecasts, ``origin``).

    Promote when the challenger's MAE over the rows both forecast is below the champion's by
    more than ``min_improvement`` (a fraction). A challenger that also serves meters the
    champion does not may be promoted when it is at least as good on the common ones.
    """
    keys = ["meter_id", "date"] + (
        ["origin"] if "origin" in challenger and "origin" in champion else []
    )
    both = challenger[[*keys, "actual", "forecast"]].merge(
        champion[[*keys, "forecast"]], on=keys, suffixes=("", "_champion")
    )
    new = sorted(set(challenger["meter_id"]) - set(champion["meter_id"]))
    if both.empty:
        return Decision(True, f"champion {champion_version} shares no test rows", new_meters=new)
    ours = mae(both["actual"], both["forecast"])
    theirs = mae(both["actual"], both["forecast_champion"])
    meters = int(both["meter_id"].nunique())
    figures = dict(challenger_mae=ours, champion_mae=theirs, common_meters=meters, new_meters=new)
    if not math.isfinite(ours):
        return Decision(False, "challenger forecasts are not finite", **figures)
    if not math.isfinite(theirs) or ours < theirs * (1 - min_improvement):
        return Decision(
            True,
            f"test MAE {ours:.4g} beats champion {champion_version} ({theirs:.4g}) "
            f"on {meters} meters",
            **figures,
        )
    if new and ours <= theirs:
        return Decision(
            True,
            f"serves {len(new)} new meters and matches champion {champion_version} "
            f"(MAE {ours:.4g} vs {theirs:.4g}) on {meters} meters",
            **figures,
        )
    needed = f" by {min_improvement:.0%}" if min_improvement else ""
    return Decision(
        False,
        f"test MAE {ours:.4g} does not beat champion {champion_version} ({theirs:.4g}){needed} "
        f"on the same {meters} meters and days",
        **figures,
    )


class SmokeTestFailed(RuntimeError):
    def __init__(self, config_name: str, restored: str | None, problems: list[str]):
        self.config_name, self.restored, self.problems = config_name, restored, problems
        where = f"endpoint restored to {restored}" if restored else "endpoint deleted"
        super().__init__(f"smoke test of {config_name} failed ({'; '.join(problems)}); {where}")


def smoke_test_problems(answer: dict, version: str, horizon: int) -> list[str]:
    problems = []
    forecast = answer.get("forecast", [])
    if len(forecast) != horizon:
        problems.append(f"expected {horizon} forecasts, got {len(forecast)}")
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in forecast):
        problems.append("forecast has non-finite values")
    if answer.get("model_version") != version:
        problems.append(f"served model {answer.get('model_version')!r}, expected {version!r}")
    return problems


def switch_endpoint(
    sagemaker, config_name: str, version: str, meter: str, horizon: int, tags: dict[str, str]
) -> tuple[str | None, dict]:
    """Point the endpoint at ``config_name`` and smoke-test it; on failure restore the config
    that served before (or delete an endpoint that never served) and raise SmokeTestFailed.
    Returns (the previous config, the smoke-test answer)."""
    previous = sagemaker.point_endpoint_at(config_name, tags)
    try:
        answer = sagemaker.invoke({"meter_id": meter, "horizon": horizon})
        problems = smoke_test_problems(answer, version, horizon)
    except Exception as error:  # any failure to answer is a failed smoke test
        answer, problems = {}, [f"invocation failed: {error}"]
    if problems:
        if previous:
            sagemaker.point_endpoint_at(previous, tags)
        else:
            sagemaker.client().delete_endpoint(EndpointName=sagemaker.endpoint_name)
        raise SmokeTestFailed(config_name, previous, problems)
    return previous, answer


def deployed_versions(storage) -> list[str]:
    """Versions that have served on the endpoint (each has a deployment record)."""
    keys = storage.list_keys(layout.DEPLOYMENTS_PREFIX)
    names = [k.removeprefix(layout.DEPLOYMENTS_PREFIX).removesuffix(".json") for k in keys]
    return sorted(n for n in names if n and "/" not in n and n != "current")


def rollback(storage, sagemaker, version: str, horizon: int = 7) -> dict:
    """Serve ``version`` again: its endpoint config (kept from when it served), smoke-tested;
    the registry marks it Approved and the version it replaces Rejected."""
    known = deployed_versions(storage)
    if version not in known:
        raise ValueError(
            f"version {version!r} never served on this endpoint; versions that did: "
            f"{', '.join(known) or 'none'}"
        )
    record = storage.get_json(layout.deployment(version))
    config_name = record["endpoint_config"]
    if not sagemaker.endpoint_config_exists(config_name):
        raise ValueError(f"endpoint config {config_name} of version {version} no longer exists")
    current = storage.get_json_or_none(layout.DEPLOYMENT_CURRENT) or {}
    tags = {"energy-assets:model-version": version, "energy-assets:rollback": "true"}
    meter = record.get("smoke_meter") or record["smoke_test"]["meter_id"]
    previous, answer = switch_endpoint(sagemaker, config_name, version, meter, horizon, tags)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    new_record = {
        **record,
        "previous_endpoint_config": previous,
        "deployed_at": now,
        "rolled_back_from": current.get("model_version"),
        "smoke_test": answer,
    }
    storage.put_json(layout.DEPLOYMENT_CURRENT, new_record)
    sagemaker.set_version_approval(
        version, "Approved", f"serving again since {now} (rollback)", serving="true"
    )
    replaced = current.get("model_version")
    if replaced and replaced != version:
        sagemaker.set_version_approval(
            replaced, "Rejected", f"rolled back to {version} at {now}", serving="false"
        )
    return new_record
