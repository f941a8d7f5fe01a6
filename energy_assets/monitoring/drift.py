"""Whether the serving version should be retrained, from what monitoring recorded.

The verdict is the one ``forecast_monitoring`` reached with the rule it was configured with
(``monitoring/latest.json`` holds both): the sensor acts on it and never judges again with a
rule of its own, so one rule decides the metadata, the alarms and the retrain."""

from __future__ import annotations

from datetime import date

RETRAIN_COOLDOWN_DAYS = 7


def recorded_verdict(summary: dict) -> dict:
    """The verdict the monitoring pass recorded (no drift when it scored nothing)."""
    return summary.get("verdict") or {"drift": False, "reasons": []}


def drift_decision(summary: dict, alarms: list[str], cursor: dict) -> tuple[bool, str, dict]:
    """Whether to retrain now, why, and the next cursor: the recorded verdict plus quality
    alarms in ALARM, at most once per ``RETRAIN_COOLDOWN_DAYS`` for one serving version."""
    version = summary["model_version"]
    verdict = recorded_verdict(summary)
    last_day = verdict.get("last_day") or summary.get("as_of")
    reasons = list(verdict["reasons"] if verdict["drift"] else [])
    reasons += [f"alarm {name} is in ALARM" for name in alarms]
    state = {"version": version, "checked": last_day, "requested": cursor.get("requested")}
    if cursor.get("version") != version:
        state["requested"] = None
    if not reasons:
        return False, f"model {version}: no drift through {last_day}", state
    requested = state["requested"]
    if (
        requested
        and last_day
        and (date.fromisoformat(last_day) - date.fromisoformat(requested)).days
        < RETRAIN_COOLDOWN_DAYS
    ):
        return False, f"model {version}: retrain already requested on {requested}", state
    state["requested"] = last_day
    return True, "; ".join(reasons), state
