"""Champion/challenger promotion, the smoke-tested endpoint switch, and rollback.

The serving model (the champion) is replaced only by a challenger that forecasts the same test
window better, the way the endpoint is used: from the end of the same training window and from
every test day after it, both bundles forecast the next week given the actuals up to that day
(the champion with its own fitted parameters), and the pooled MAE over the meters both serve
decides. How a promoted model reaches the endpoint (artifact check, smoke test, restore,
rollback) is ``rollout.py``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import pandas as pd

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
