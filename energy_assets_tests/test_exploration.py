"""The exploration table and the notebook executed on it by their assets, against the local AWS
(the notebook from the package, as installed)."""

from __future__ import annotations

import dagster as dg
import pytest

from energy_assets import layout
from energy_assets.assets.exploration import exploration_features, exploration_report
from energy_assets.assets.preparation import train_test_split
from energy_assets.ml.cleaning import clean_usage
from energy_assets.ml.split import time_split
from energy_assets.ml.synthetic import generate_usage
from energy_assets.orchestration.definitions import build_resources
from energy_assets_tests.conftest import deployment
from energy_assets_tests.lineage import publish, written


@pytest.fixture(scope="module")
def env(local_aws):
    # a bucket of its own: the session's pipeline fixture keeps its split in the shared one
    resources = build_resources(deployment(bucket="test-exploration"))
    storage = resources["storage"]
    storage.ensure_bucket()
    raw = generate_usage(n_meters=4, n_days=420)
    frame = clean_usage(raw, covariates=["temperature"]).clean
    train, _ = time_split(frame, test_days=28)
    storage.put_csv(layout.TRAIN, train.assign(date=train["date"].dt.strftime("%Y-%m-%d")))
    instance = dg.DagsterInstance.ephemeral()
    publish(train_test_split, written(storage, layout.TRAIN), resources, instance)
    return {"resources": resources, "instance": instance}


@pytest.fixture(scope="module")
def storage(env):
    return env["resources"]["storage"]


def explore(env, config: dict | None = None) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [train_test_split.to_source_asset(), exploration_features, exploration_report],
        resources=env["resources"],
        instance=env["instance"],
        run_config={"ops": {"exploration_report": {"config": config}}} if config else None,
        raise_on_error=False,
    )


def test_exploration_report_executes_the_notebook_and_stores_html(env, storage):
    result = explore(env)
    assert result.success
    meta = {
        k: v.value
        for e in result.get_asset_materialization_events()
        for k, v in e.materialization.metadata.items()
    }
    assert meta["cells_executed"] >= 8
    key = storage.key_of(meta["report_uri"])
    html = storage.get_bytes(key).decode()
    assert "Weekly pattern" in html and "Missing data" in html and "Engineered features" in html
    assert "4 meters" in html  # the notebook read the training set we wrote
    assert html.count("data:image/png;base64") >= 4  # trend, weekly, yearly, missing-data map
    # the features come from the exploration table its own run made of the training set
    features = storage.read_csv(layout.FEATURES)
    assert {"day_of_week", "lag_7", "rolling_mean_7", "season"} <= set(features.columns)
    assert len(features) == meta["rows"]
    assert f"s3://test-exploration/{layout.FEATURES}: {len(features):,} rows; features: " in html
    assert "lag_7" in html and "rolling_mean_7_rel" in html
    assert not storage.exists("exploration/latest.json")  # no pointer: the metadata names it


def test_the_notebook_is_package_data():
    """The asset's default notebook lies in the package and pyproject ships it."""
    import tomllib
    from fnmatch import fnmatch
    from pathlib import Path

    import energy_assets
    from energy_assets.assets.exploration import ExplorationConfig

    package = Path(energy_assets.__file__).parent
    path = Path(ExplorationConfig().notebook_path)
    assert path.is_file() and path.is_relative_to(package)
    project = tomllib.loads((package.parent / "pyproject.toml").read_text())
    shipped = project["tool"]["setuptools"]["package-data"]["energy_assets"]
    assert any(fnmatch(str(path.relative_to(package)), pattern) for pattern in shipped)


def test_a_failing_notebook_fails_the_asset(env, tmp_path):
    import nbformat

    broken = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 / 0")])
    path = tmp_path / "broken.ipynb"
    nbformat.write(broken, str(path))
    result = explore(env, {"notebook_path": str(path)})
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "ZeroDivisionError" in str(failure.to_string())
