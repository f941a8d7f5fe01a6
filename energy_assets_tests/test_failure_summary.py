"""Why a run failed, said in one line (the demo and simulate print it instead of a traceback)."""

import dagster as dg

from energy_assets.orchestration.pipeline import failure_summary


@dg.asset
def report() -> int:
    return 1


@dg.asset_check(asset=report, blocking=True)
def beats_baseline() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, metadata={"problems": "relative MAE 1.04 >= 1"})


@dg.asset(deps=[report])
def downstream() -> None:
    raise ValueError("never reached")


@dg.asset
def broken() -> None:
    raise ValueError("the table is gone\nsecond line")


def test_a_failed_blocking_check_is_named_with_its_problems():
    result = dg.materialize([report, downstream, beats_baseline], raise_on_error=False)
    assert not result.success
    assert failure_summary(result) == ("check beats_baseline failed (relative MAE 1.04 >= 1)")


def test_a_failed_step_is_named_with_the_first_line_of_its_error():
    result = dg.materialize([broken], raise_on_error=False)
    assert failure_summary(result) == "broken: ValueError: the table is gone"
