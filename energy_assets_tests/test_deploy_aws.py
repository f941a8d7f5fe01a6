"""deploy/aws (Dagster on ECS) checked as far as it can be without an AWS account: the instance
config against Dagster's own schemas (the instance's, then each configured class's: Postgres
storage, EcsRunLauncher, the queued run coordinator, S3 compute logs), the run queue's limits as
Dagster resolves them, the workspace against Dagster's workspace schema, and each ECS task
definition against botocore's RegisterTaskDefinition input shape. Nothing here runs on AWS."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import botocore.session
import dagster as dg
import pytest
import yaml
from botocore.validate import ParamValidator
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config
from dagster._core.instance.ref import InstanceRef
from dagster._core.workspace.config_schema import process_workspace_config
from dagster._serdes.config_class import ConfigurableClassData

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "aws"
TASKS = ("code-location", "webserver", "daemon", "run")
ENVIRONMENT = {
    "DAGSTER_PG_HOST": "db.example.internal",
    "DAGSTER_PG_DB": "dagster",
    "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": "from-secrets-manager",
    "DAGSTER_RUN_TASK_DEFINITION": "energy-assets-run",
    "ENERGY_ASSETS_BUCKET": "energy-assets-data",
}


@pytest.fixture
def environment(monkeypatch):
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)


def _classes(ref: InstanceRef) -> dict[str, ConfigurableClassData]:
    return {
        name: value
        for name in dir(ref)
        if name.endswith("_data") and isinstance(value := getattr(ref, name), ConfigurableClassData)
    }


def _check_classes(ref: InstanceRef) -> dict[str, dict]:
    """Each configured class's config processed by its own config_type (what instantiating it
    does, short of connecting to Postgres or ECS); returns the resolved configs by class."""
    resolved = {}
    for data in _classes(ref).values():
        klass = getattr(importlib.import_module(data.module_name), data.class_name)
        result = process_config(klass.config_type(), yaml.safe_load(data.config_yaml) or {})
        assert result.success, (data.class_name, [e.message for e in result.errors])
        resolved[data.class_name] = result.value
    return resolved


def test_the_instance_config_is_valid_for_dagster_and_each_class(environment):
    config, custom = dagster_instance_config(str(DEPLOY), "dagster.yaml")
    assert custom is None and "postgres" in config["storage"]
    resolved = _check_classes(InstanceRef.from_dir(str(DEPLOY)))
    assert {"DagsterPostgresStorage", "EcsRunLauncher", "S3ComputeLogManager"} <= set(resolved)
    assert {"QueuedRunCoordinator", "PostgresRunStorage"} <= set(resolved)
    launcher = resolved["EcsRunLauncher"]
    # the launcher reads the name from this variable when it starts (EcsRunLauncher.__init__)
    assert launcher["task_definition"] == {"env": "DAGSTER_RUN_TASK_DEFINITION"}
    assert launcher["container_name"] == "run"
    assert resolved["DagsterPostgresStorage"]["postgres_db"]["password"] == "from-secrets-manager"


def test_a_wrong_key_in_the_launcher_config_is_refused(environment, tmp_path):
    config = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    config["run_launcher"]["config"]["run_resource"] = {"cpu": "1024"}  # misspelt
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(AssertionError, match="EcsRunLauncher"):
        _check_classes(InstanceRef.from_dir(str(tmp_path)))


def test_the_run_queue_limits_as_dagster_resolves_them(tmp_path):
    """The deploy's queue and run settings in an instance that can start here (SQLite storage
    and the default launcher in place of Postgres and ECS)."""
    deployed = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    local = {
        k: deployed[k]
        for k in ("run_coordinator", "concurrency", "run_monitoring", "run_retries", "retention")
    }
    local["storage"] = {"sqlite": {"base_dir": str(tmp_path / "storage")}}
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(local))
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        queue = instance.get_concurrency_config().run_queue_config
        assert queue.max_concurrent_runs == 40
        limits = {limit["key"]: limit for limit in queue.tag_concurrency_limits}
        # one run at a time per shard: monitoring's (day x shard) and the training chain's
        # (the shard is its whole partition key)
        for key in ("dagster/partition/shard", "dagster/partition"):
            per_shard = limits[key]
            assert per_shard["value"] == {"applyLimitPerUniqueValue": True}
            assert per_shard["limit"] == 1
        assert limits["energy-assets/stage"] == {
            "key": "energy-assets/stage",
            "value": "training",
            "limit": 16,
        }
        assert instance.run_monitoring_enabled and instance.run_retries_max_retries == 1


def test_the_workspace_loads_the_code_location_server():
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    result = process_workspace_config(workspace)
    assert result.success, [e.message for e in result.errors]
    (server,) = [entry["grpc_server"] for entry in workspace["load_from"]]
    code = json.loads((DEPLOY / "ecs" / "code-location.json").read_text())
    (container,) = code["containerDefinitions"]
    assert str(server["port"]) in container["command"]
    assert container["portMappings"][0]["containerPort"] == server["port"]


@pytest.mark.parametrize("name", TASKS)
def test_task_definitions_are_valid_register_task_definition_input(name):
    body = json.loads((DEPLOY / "ecs" / f"{name}.json").read_text())
    model = botocore.session.get_session().get_service_model("ecs")
    shape = model.operation_model("RegisterTaskDefinition").input_shape
    report = ParamValidator().validate(body, shape)
    assert not report.has_errors(), report.generate_report()
    (container,) = body["containerDefinitions"]
    given = {e["name"] for e in container["environment"]} | {
        s["name"] for s in container.get("secrets", [])
    }
    # every variable the instance config reads is given to every Dagster process
    needed = set(re.findall(r"\{env: (\w+)\}", (DEPLOY / "dagster.yaml").read_text()))
    assert needed <= given, needed - given
    assert "DAGSTER_PG_PASSWORD" not in {e["name"] for e in container["environment"]}
    # Dagster hands a ranged run's per-partition events to Postgres as batches only with this
    # set in the processes that write them (the run, and the daemon/webserver creating runs)
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert int(env["DAGSTER_EVENT_BATCH_SIZE"]) >= 1000
    command = " ".join(container.get("command", []))
    if "-w " in command:  # the workspace file the image holds at the path named
        relative = command.split("-w ")[1].split()[0].removeprefix("/opt/dagster/app/")
        assert (DEPLOY.parent.parent / relative).is_file()


def test_the_run_task_is_the_launchers():
    run = json.loads((DEPLOY / "ecs" / "run.json").read_text())
    config = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())["run_launcher"]["config"]
    assert run["containerDefinitions"][0]["name"] == config["container_name"]
    for name in ("code-location", "webserver", "daemon"):
        body = json.loads((DEPLOY / "ecs" / f"{name}.json").read_text())
        env = {e["name"]: e["value"] for e in body["containerDefinitions"][0]["environment"]}
        assert env["DAGSTER_RUN_TASK_DEFINITION"] == run["family"]


def test_the_image_dockerfile_names_files_that_exist():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (\S+) ", dockerfile, flags=re.MULTILINE):
        assert (DEPLOY.parent.parent / source).exists(), source
    assert "/opt/dagster/home/dagster.yaml" in dockerfile  # DAGSTER_HOME of the task definitions
