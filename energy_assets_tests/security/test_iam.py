"""Least privilege: every AWS call in the code is allowed by its role's policy under
deploy/aws/iam, nothing else is, and every grant is scoped to the project's resources.

A new boto3 call without a policy line fails here, naming the action and the file."""

from __future__ import annotations

import ast
import json
import re

import pytest

from energy_assets_tests.security.boto_calls import (
    PACKAGE,
    actions_in,
    called_names,
    iam_action,
    module_files,
    operations_of,
    reachable_actions,
)

IAM = PACKAGE.parent / "deploy" / "aws" / "iam"
NOTEBOOK = PACKAGE / "notebooks" / "exploration.ipynb"
DEFAULTS = {"table": "energy-usage", "bucket": "energy-assets-data"}
ENDPOINT = "energy-usage-forecaster"
# Actions IAM has no resource-level permissions for (AWS's Service Authorization Reference), or
# whose resources have no name to scope by; each is conditioned where a condition key exists.
UNSCOPED = {
    "sagemaker:ListModelPackages",
    "cloudwatch:GetMetricData",
    "cloudwatch:PutMetricData",
    "application-autoscaling:PutScalingPolicy",
    "application-autoscaling:RegisterScalableTarget",
    "ecr:GetAuthorizationToken",
}
# Granted without a call in the code: AWS checks them on the caller's behalf.
IMPLIED = {
    "iam:PassRole": "CreateModel and CreateTrainingJob pass the endpoint's execution role",
    "iam:CreateServiceLinkedRole": "RegisterScalableTarget creates autoscaling's role once",
    "sagemaker:AddTags": "Create* calls with Tags need AddTags on the new resource",
    "s3:AbortMultipartUpload": "ExportTableToPointInTime writes the export as the caller",
    "s3:PutObjectAcl": "ExportTableToPointInTime writes the export as the caller",
    **{
        f"logs:{action}": "ImportTable logs the items it refuses as the caller"
        for action in (
            "CreateLogGroup",
            "CreateLogStream",
            "DescribeLogGroups",
            "DescribeLogStreams",
            "PutLogEvents",
            "PutRetentionPolicy",
        )
    },
}


def policy(name: str) -> dict:
    return json.loads((IAM / f"{name}-policy.json").read_text())


def statements(name: str) -> list[dict]:
    found = policy(name)["Statement"]
    return [found] if isinstance(found, dict) else found


def listed(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def granted(name: str) -> set[str]:
    return {a for s in statements(name) if s["Effect"] == "Allow" for a in listed(s["Action"])}


def notebook_actions() -> dict[str, list[str]]:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    tree = ast.parse("\n".join(line for line in code.splitlines() if not line.startswith("%")))
    return {iam_action(*op): [NOTEBOOK.name] for op in operations_of(called_names(tree))}


def pipeline_actions() -> dict[str, list[str]]:
    """Dagster runs and the operator commands: everything but the app, the inference
    container's code and the local AWS emulator."""
    needed = actions_in(module_files(exclude=("localaws", "app", "serving")))
    for action, files in notebook_actions().items():
        needed.setdefault(action, []).extend(files)
    return needed


def app_actions() -> dict[str, list[str]]:
    return reachable_actions(module_files("app"), module_files("resources"))


@pytest.mark.parametrize(
    ("role", "needed"),
    [("pipeline", pipeline_actions), ("app", app_actions)],
    ids=["pipeline", "app"],
)
def test_every_call_is_allowed_and_nothing_else(role, needed):
    calls = needed()
    missing = {a: sorted(set(f)) for a, f in calls.items() if a not in granted(role)}
    assert not missing, f"add to deploy/aws/iam/{role}-policy.json: {missing}"
    unused = granted(role) - set(calls) - set(IMPLIED)
    assert not unused, f"{role} policy grants what no code calls: {sorted(unused)}"


def test_the_scan_finds_the_calls_it_must():
    """The scanner itself: a sample of calls known to be in the code, and the app's reach
    through the resources it uses (not the whole resource classes)."""
    pipeline = pipeline_actions()
    for action in ("dynamodb:Scan", "s3:PutObject", "sagemaker:UpdateEndpoint", "sns:Publish"):
        assert action in pipeline
    assert "s3:GetObject" in notebook_actions()
    app = set(app_actions())
    assert {"dynamodb:Query", "sagemaker:InvokeEndpoint", "sagemaker:DescribeEndpoint"} <= app
    # S3: only the meter shards' routes (which TargetModel answers a meter), never a write
    assert {a for a in app if a.startswith("s3:")} == {"s3:GetObject"}
    assert not {a for a in app if ":Put" in a or ":Create" in a}
    sample = ast.parse("client.put_object(Bucket='b')\nclient.get_paginator('list_objects_v2')")
    assert {iam_action(*op) for op in operations_of(called_names(sample))} == {
        "s3:PutObject",
        "s3:ListBucket",
    }


def test_the_endpoint_role_reads_models_and_writes_data_capture_only():
    from energy_assets import layout

    assert not actions_in(module_files("serving"))  # the container calls no AWS API itself
    bucket = f"arn:aws:s3:::{DEFAULTS['bucket']}/"
    reads = {
        r
        for s in statements("endpoint-execution")
        if "s3:GetObject" in listed(s["Action"])
        for r in listed(s["Resource"])
    }
    writes = {
        r
        for s in statements("endpoint-execution")
        if "s3:PutObject" in listed(s["Action"])
        for r in listed(s["Resource"])
    }
    assert reads == {bucket + "models/*", bucket + layout.DEEPAR_PREFIX + "*"}
    assert writes == {bucket + layout.DATA_CAPTURE_PREFIX + "*", bucket + "models/*/deepar/*"}
    assert not {
        a for a in granted("endpoint-execution") if a.startswith(("dynamodb:", "sagemaker:"))
    }


@pytest.mark.parametrize("role", ["pipeline", "app", "endpoint-execution"])
def test_grants_are_scoped_to_the_projects_resources(role):
    names = (
        DEFAULTS["table"],
        DEFAULTS["bucket"],
        ENDPOINT,
        "energy-assets",
        "energy-deepar",
        "/aws/sagemaker/",
        "/aws-dynamodb/",  # ImportTable's log groups
        "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint",
    )
    for statement in statements(role):
        actions = listed(statement["Action"])
        assert not any("*" in a for a in actions), f"wildcard action in {statement['Sid']}"
        for resource in listed(statement["Resource"]):
            if resource == "*":
                assert set(actions) <= UNSCOPED, f"{statement['Sid']} grants {actions} on *"
            else:
                assert any(n in resource for n in names), f"{resource} names no project resource"


def test_the_policies_name_the_default_resources():
    """The JSON names the defaults of settings.py; other names need the policies edited."""
    source = (PACKAGE / "settings.py").read_text()
    text = "".join(p.read_text() for p in sorted(IAM.glob("*.json")))
    for variable in ("ENERGY_ASSETS_TABLE", "ENERGY_ASSETS_BUCKET", "ENERGY_ASSETS_ENDPOINT"):
        default = re.search(rf'"{variable}",\s*"([^"]+)"', source).group(1)
        assert default in text, f"{variable} default {default!r} is not in deploy/aws/iam"
    assert {p.name for p in IAM.glob("*.json")} == {
        "pipeline-policy.json",
        "app-policy.json",
        "endpoint-execution-policy.json",
    }
