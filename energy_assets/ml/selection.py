"""Choosing each meter's model from its validation errors, in a way that holds on little data.

Every candidate of a meter is scored on the same validation origins, so errors line up element
by element: the error of a combination (the mean of some models' forecasts) is the mean of
their errors, and a blend's is the weighted mean. Combinations and blends are scored without
fitting anything more.

Picking each meter's best model by validation looks better than it is: with a year of history
the winner is partly luck (on 50 one-year households, choosing the best of four local models per
meter scored 1% worse on the test weeks than always serving the mean of two of them). So the
choices are few and biased towards combinations: the default combination unless a single model
validates clearly better; one blend weight of the global model for the whole fleet; and seasonal
naive for a meter whose served model does not beat it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

BASELINE = "seasonal_naive"
GLOBAL = "gbm"
LOCAL, BLEND = "local", "blend"  # the other kinds of choice
# a single local model replaces the default combination only when it validates this much better
LOCAL_MARGIN = 0.10
# weights of the global model in its blend with each meter's local model, one for the fleet
BLEND_WEIGHTS = (1 / 3, 1 / 2, 2 / 3, 1.0)
# the blend replaces the local models when it validates at least this much better over the fleet
GLOBAL_MARGIN = 0.0


@dataclass(frozen=True)
class Choice:
    """One meter's choice as a recipe: what to refit on the whole window."""

    kind: str  # BASELINE, LOCAL, GLOBAL or BLEND
    members: tuple[str, ...] = ()  # the local models (their mean) served alone or blended


def mae(errors: np.ndarray | None) -> float:
    return float(np.mean(np.abs(errors))) if errors is not None and len(errors) else np.nan


def geometric_mean(ratios: Iterable[float]) -> float:
    """The geometric mean of the finite, positive ``ratios`` (NaN when there are none): how
    training, evaluation and the benchmarks sum up per-meter error ratios, so that each meter
    counts alike, a small household as much as a large building."""
    values = np.asarray(list(ratios), dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    return float(np.exp(np.mean(np.log(values)))) if len(values) else np.nan


def geometric_mean_ratio(numerator: Mapping[str, float], denominator: Mapping[str, float]) -> float:
    """``geometric_mean`` over the keys of both of ``numerator / denominator``."""
    return geometric_mean(
        numerator[m] / denominator[m]
        for m in numerator
        if m in denominator and denominator[m] > 0 and np.isfinite(numerator[m])
    )


def combination_name(members: Iterable[str]) -> str:
    return "mean(" + ",".join(members) + ")"


def combined_errors(residuals: Mapping[str, np.ndarray], members: Sequence[str]) -> np.ndarray:
    return np.mean([residuals[m] for m in members], axis=0)


def local_recipe(
    residuals: Mapping[str, np.ndarray],
    default: Sequence[str],
    singles: Iterable[str],
    margin: float = LOCAL_MARGIN,
) -> tuple[str, ...]:
    """The meter's local model: the ``default`` combination (its members that validated), or the
    single model that validates ``margin`` better than it; empty when none validated."""
    members = tuple(m for m in default if m in residuals)
    scores = {n: mae(residuals[n]) for n in singles if n in residuals}
    best = min(scores, key=scores.get) if scores else None
    if not members:
        return (best,) if best else ()
    combined = mae(combined_errors(residuals, members))
    if best is not None and scores[best] < (1 - margin) * combined:
        return (best,)
    return members


def blend_weight(
    local: Mapping[str, np.ndarray],
    global_: Mapping[str, np.ndarray],
    baseline: Mapping[str, np.ndarray],
    weights: Iterable[float] = BLEND_WEIGHTS,
    margin: float = GLOBAL_MARGIN,
) -> tuple[float, dict[float, float]]:
    """One weight of the global model for the fleet: of ``weights``, the one with the lowest
    geometric-mean MAE ratio to seasonal naive over the meters with all three error arrays
    (aligned on the same origins), if it beats the local models alone by ``margin`` (a negative
    margin keeps the blend even when it validates worse); else 0. Also the score of every weight
    tried (0: the local models alone)."""
    meters = [m for m in local if m in global_ and m in baseline]
    naive = {m: mae(baseline[m]) for m in meters}

    def score(w: float) -> float:
        return geometric_mean_ratio(
            {m: mae(w * global_[m] + (1 - w) * local[m]) for m in meters}, naive
        )

    scores = {0.0: score(0.0), **{w: score(w) for w in weights}}
    blends = {w: v for w, v in scores.items() if w > 0 and np.isfinite(v)}
    if not blends:
        return 0.0, scores
    best = min(blends, key=blends.get)
    local_only = scores[0.0] if np.isfinite(scores[0.0]) else np.inf
    return (best if blends[best] < (1 - margin) * local_only else 0.0), scores


def beats_baseline(errors: np.ndarray | None, baseline: np.ndarray | None, margin: float = 0.0):
    """Whether a meter's served model beat seasonal naive on the same validation origins."""
    if errors is None or baseline is None:
        return False
    return bool(mae(errors) < (1 - margin) * mae(baseline))
