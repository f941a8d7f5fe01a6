"""Faults against the local AWS over real HTTP: throttling and 5xx retried by botocore, a step
retried by Dagster, a missing input named with its asset, a run killed half way, and
re-materializing that changes nothing (issue 13). Own table and bucket; small data."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time

import dagster as dg
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from energy_assets import layout
from energy_assets.assets.preparation import cleaned_usage, train_test_split
from energy_assets.localaws.faults import FaultClient
from energy_assets.orchestration.definitions import build_defs
from energy_assets.resources import IncompleteObject
from energy_assets_tests.conftest import deployment

TABLE, BUCKET = "reliability-usage", "reliability-bucket"
PREPARATION = [cleaned_usage, train_test_split]


@pytest.fixture(scope="module")
def env(local_aws):
    from energy_assets.ml.synthetic import generate_usage
    from energy_assets.tools.seed import seed_table

    settings = deployment(table=TABLE, bucket=BUCKET, endpoint_name="reliability-endpoint")
    defs = build_defs(settings)
    resources = dict(defs.resources)
    seeded = seed_table(resources["usage_table"], generate_usage(n_meters=3, n_days=60, seed=5))
    faults = FaultClient(local_aws.endpoint_url)
    faults.clear()
    yield {
        "resources": resources,
        "seeded": seeded,
        "faults": faults,
        "settings": settings,
        "raw_usage_export": defs.get_assets_def("raw_usage_export"),
        "instance": dg.DagsterInstance.ephemeral(),  # one lineage for the module's runs
    }
    faults.clear()


def export(env, resources=None) -> dg.ExecuteInProcessResult:
    seeded = env["seeded"]
    return dg.materialize(
        [env["raw_usage_export"]],
        resources=resources or env["resources"],
        tags={
            ASSET_PARTITION_RANGE_START_TAG: seeded.first_date,
            ASSET_PARTITION_RANGE_END_TAG: seeded.last_date,
        },
        raise_on_error=False,
        instance=env["instance"],
    )


def prepare(env, resources=None, **split) -> dg.ExecuteInProcessResult:
    config = {"ops": {"train_test_split": {"config": split}}} if split else None
    return dg.materialize(
        PREPARATION,
        resources=resources or env["resources"],
        run_config=config,
        instance=env["instance"],
    )


def split_alone(env, resources=None) -> dg.ExecuteInProcessResult:
    """train_test_split on its own: it reads the cleaned_usage the last preparation handed on."""
    return dg.materialize(
        [cleaned_usage.to_source_asset(), train_test_split],
        resources=resources or env["resources"],
        instance=env["instance"],
        raise_on_error=False,
    )


def snapshot(storage, prefix: str = "") -> dict[str, str]:
    """Every object's SHA-256 under a prefix, read straight from S3."""
    client = storage.client()
    return {
        key: hashlib.sha256(
            client.get_object(Bucket=storage.bucket, Key=key)["Body"].read()
        ).hexdigest()
        for key in storage.list_keys(prefix)
    }


def retries_of(result: dg.ExecuteInProcessResult, step: str) -> int:
    return sum(
        1
        for e in result.all_events
        if e.step_key == step and e.event_type_value == "STEP_UP_FOR_RETRY"
    )


def test_the_bucket_is_created_private_and_encrypted(env):
    storage = env["resources"]["storage"]
    assert storage.ensure_bucket() is True
    client = storage.client()
    block = client.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    rules = client.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]
    assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert storage.ensure_bucket() is False  # an existing bucket is left as its owner set it


def test_dynamodb_throttling_is_retried_by_botocore(env):
    faults = env["faults"]
    faults.inject(
        "dynamodb",
        operation="Scan",
        body_contains=TABLE,
        count=3,
        status=400,
        code="ProvisionedThroughputExceededException",
        message="The level of configured provisioned throughput for the table was exceeded.",
    )
    started = time.monotonic()
    # the Scan path (tables up to scan_max_items); by default the export reads through exports
    from energy_assets.resources import UsageTableResource

    scanned = UsageTableResource(table_name=TABLE, scan_max_items=10**9)
    result = export(env, {**env["resources"], "usage_table": scanned})
    seconds = time.monotonic() - started
    (rule,) = faults.clear()
    assert result.success
    assert rule["injected"] == 3  # three Scan calls throttled, each retried by botocore
    assert rule["matched"] == 3 + env["resources"]["usage_table"].scan_segments
    assert retries_of(result, "raw_usage_export") == 0  # no step retry was needed
    meta = result.get_asset_materialization_events()[-1].materialization.metadata
    assert meta["table_items"].value == env["seeded"].rows  # every item read despite throttling
    assert meta["rows"].value + meta["undated_rows"].value == env["seeded"].rows
    print(f"export with 3 throttled scans: {seconds:.1f} s")


def test_throttling_past_max_attempts_fails_with_the_error(env):
    from energy_assets.resources import UsageTableResource

    table = UsageTableResource(table_name=TABLE, scan_segments=1, max_attempts=3)
    faults = env["faults"]
    faults.inject(
        "dynamodb",
        operation="Scan",
        body_contains=TABLE,
        count=10,
        status=400,
        code="ProvisionedThroughputExceededException",
    )
    with pytest.raises(Exception, match="ProvisionedThroughputExceededException") as caught:
        table.scan()
    (rule,) = faults.clear()
    assert rule["injected"] == 3  # max_attempts=3: the call and two retries, then the error
    assert "reached max retries: 2" in str(caught.value)
    assert table.client().meta.config.retries["mode"] == "adaptive"


def test_s3_slowdown_is_retried_by_botocore(env):
    storage = env["resources"]["storage"]
    before = snapshot(storage, layout.RAW_PREFIX)
    faults = env["faults"]
    faults.inject(
        "s3",
        method="PUT",
        path_contains=f"/{BUCKET}/{layout.RAW_PREFIX}",
        count=4,
        status=503,
        code="SlowDown",
        message="Please reduce your request rate.",
    )
    result = export(env)
    (rule,) = faults.clear()
    assert result.success
    assert rule["injected"] == 4  # four PUTs answered 503 SlowDown and sent again
    assert rule["matched"] == 4 + len(before)
    assert snapshot(storage, layout.RAW_PREFIX) == before  # every raw object, whole, as before


def test_a_step_that_still_fails_after_botocore_is_retried_by_dagster(env):
    """Three 500s in a row on the only read of train_test_split exhaust a client allowed three
    attempts (dagster-aws's ``max_attempts`` counts retries); the asset's RetryPolicy runs the
    step again and it succeeds."""
    from dagster_aws.s3 import S3Resource

    from energy_assets.resources import S3Storage

    assert prepare(env).success
    resources = {
        **env["resources"],
        "storage": S3Storage(bucket=BUCKET, s3=S3Resource(max_attempts=2)),
    }
    faults = env["faults"]
    faults.inject(
        "s3",
        method="GET",
        path_contains=f"/{BUCKET}/{layout.CLEAN}",
        count=3,
        status=500,
        code="InternalError",
    )
    result = split_alone(env, resources)
    (rule,) = faults.clear()
    assert result.success
    assert rule["injected"] == 3 and rule["matched"] == 4
    assert retries_of(result, "train_test_split") == 1


def test_a_missing_input_names_the_object_and_the_asset_to_materialize(env):
    from energy_assets.orchestration.pipeline import failure_summary

    storage = env["resources"]["storage"]
    assert prepare(env).success
    storage.delete(layout.CLEAN)
    result = split_alone(env)
    assert not result.success
    assert retries_of(result, "train_test_split") == 0  # missing stays missing: no retry
    assert failure_summary(result) == (
        f"train_test_split: s3://{BUCKET}/clean/usage.parquet does not exist: "
        "materialize cleaned_usage first (it writes this object)"
    )
    assert prepare(env).success  # materializing the named asset is the cure


def test_data_another_run_replaced_is_refused_by_the_step_that_reads_it(env):
    """A complete cleaning output of another run (its own manifest) lands between cleaned_usage
    and train_test_split: the step reads what its upstream handed on, or stops, naming both."""
    from energy_assets.orchestration.pipeline import failure_summary
    from energy_assets.resources.s3 import json_bytes, parquet_bytes

    storage = env["resources"]["storage"]
    assert prepare(env).success
    other = storage.read_parquet(layout.CLEAN).iloc[:-1]
    storage.put_set(
        layout.CLEAN_MANIFEST,
        {
            layout.CLEAN: (parquet_bytes(other), "application/vnd.apache.parquet"),
            layout.CLEAN_STATS: (json_bytes({"rows_in": len(other)}), "application/json"),
        },
    )
    result = split_alone(env)
    assert not result.success
    assert retries_of(result, "train_test_split") == 0  # another run's data stays another's
    summary = failure_summary(result)
    assert summary.startswith(
        f"train_test_split: s3://{BUCKET}/clean/usage.parquet is not the object cleaned_usage "
        "handed on (SHA-256 "
    )
    assert summary.endswith("another run replaced it since; materialize cleaned_usage again")
    assert prepare(env).success


def test_materializing_twice_changes_nothing_and_duplicates_nothing(env):
    storage = env["resources"]["storage"]
    assert export(env).success and prepare(env).success
    first, first_stats = snapshot(storage), storage.get_json(layout.CLEAN_STATS)
    assert export(env).success and prepare(env).success
    second, second_stats = snapshot(storage), storage.get_json(layout.CLEAN_STATS)
    # every output is the same bytes, but the counts of cleaning name the run's own
    # quarantine record (an audit log kept per run) and so does their manifest
    run_keyed = {layout.CLEAN_STATS, layout.CLEAN_MANIFEST}
    # DynamoDB's own exports, and the state chaining them, are per refresh (table_reads.py)
    first, second = (
        {k: v for k, v in s.items() if not k.startswith("exports/")} for s in (first, second)
    )
    same = {
        k: v for k, v in first.items() if not k.startswith("quarantine/") and k not in run_keyed
    }
    raw_months = {k for k in same if k.startswith(layout.RAW_MONTHS)}
    assert len(raw_months) >= 2 and {layout.RAW_UNDATED, layout.CLEAN, layout.TRAIN} <= set(same)
    assert {k: second[k] for k in same} == same
    assert first_stats.pop("quarantine_uri") != second_stats.pop("quarantine_uri")
    assert first_stats == second_stats
    new = set(second) - set(first)
    handed_on = {k for k in new if k.startswith("runs/")}  # each run's values, kept per run
    assert {k.rsplit("/", 1)[1] for k in handed_on} == {
        "cleaned_usage.json",
        "train_test_split.json",
    }
    new -= handed_on
    assert len(new) == 1 and next(iter(new)).startswith("quarantine/")  # this run's record
    quarantine = [second[k] for k in second if k.startswith("quarantine/")]
    assert len(set(quarantine)) == 1  # and it holds the same rows as every other run's


def test_a_run_killed_half_way_leaves_no_object_that_looks_complete(env, local_aws):
    """train_test_split is SIGKILLed while its test.csv upload stalls: its other objects are
    in S3, but without the manifest that is written last, so no reader takes them."""
    storage = env["resources"]["storage"]
    assert prepare(env).success  # a complete split (28 test days) to begin with
    faults = env["faults"]
    faults.inject(
        "s3",
        method="PUT",
        path_contains=f"/{BUCKET}/{layout.TEST}",
        count=1,
        status=503,
        code="SlowDown",
        delay_seconds=20,
    )
    script = (
        "import dagster as dg\n"
        "from energy_assets.assets.preparation import (\n"
        "    cleaned_usage, train_test_split)\n"
        "from energy_assets.orchestration.definitions import build_resources\n"
        "from energy_assets.settings import Settings\n"
        f"settings = Settings(table={TABLE!r}, bucket={BUCKET!r})\n"
        "dg.materialize([cleaned_usage, train_test_split],\n"
        "    resources=build_resources(settings),\n"
        "    run_config={'ops': {'train_test_split': {'config': {'test_days': 14}}}})\n"
    )
    child_env = {**os.environ, **local_aws.env()}
    child = subprocess.Popen([sys.executable, "-c", script], env=child_env)
    try:
        deadline = time.monotonic() + 180  # busy 2 cores: dagster imports in ~50 s
        while not faults.rules()[0]["matched"]:
            assert child.poll() is None, "the run ended before its upload stalled"
            assert time.monotonic() < deadline, "the run never reached its test.csv upload"
            time.sleep(0.2)
        time.sleep(0.5)  # the other uploads of the split finish meanwhile
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
        faults.clear()
    assert storage.get_json(layout.SPLIT_MANIFEST)["objects"][layout.TRAIN]
    with pytest.raises(IncompleteObject) as caught:
        storage.read_csv(layout.TRAIN)  # the new train.csv is there, the manifest is the old one
    assert caught.value.description == (
        f"s3://{BUCKET}/{layout.TRAIN} does not match {layout.SPLIT_MANIFEST}: the last "
        "train_test_split run did not complete (or the object was replaced since); "
        "materialize train_test_split again"
    )
    assert prepare(env, test_days=14).success
    test = storage.read_csv(layout.TEST)
    assert test["date"].nunique() == 14
