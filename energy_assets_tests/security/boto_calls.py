"""Which AWS API operations the code calls, found by reading the source (``ast``): every call
whose name is an operation of a service the project uses (``client.put_object(...)``,
``get_paginator("scan")``, ``get_waiter("table_exists")``, ``batch_writer()``), mapped to the IAM
action that allows it. The IAM tests check each against the policies in ``deploy/aws/iam``."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import botocore.session
from botocore import xform_name

PACKAGE = Path(__file__).resolve().parents[2] / "energy_assets"
SERVICES = (
    "dynamodb",
    "s3",
    "sagemaker",
    "sagemaker-runtime",
    "cloudwatch",
    "application-autoscaling",
    "sns",
)
IAM_PREFIX = {"sagemaker-runtime": "sagemaker"}
# The IAM action of an operation when it is not the operation's own name.
IAM_ACTION = {
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "PutPublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3", "PutBucketEncryption"): "s3:PutEncryptionConfiguration",
    ("s3", "GetBucketEncryption"): "s3:GetEncryptionConfiguration",
}
# A name that is an operation of several services: the one this project calls it on.
AMBIGUOUS = {"delete_endpoint": "sagemaker", "list_tags": "sagemaker", "tag_resource": "dynamodb"}
# Calls that are not AWS operations although a service has one of that name.
NOT_AWS = {
    "put_item": "BatchWriter.put_item buffers items into BatchWriteItem calls",
    "search": "re.Pattern.search (the code never calls SageMaker's Search)",
}
# boto3 helpers that call operations under other names.
HELPERS = {
    ("get_waiter", "table_exists"): ("dynamodb", "DescribeTable"),
    ("batch_writer", None): ("dynamodb", "BatchWriteItem"),
}


@cache
def operations() -> dict[str, set[tuple[str, str]]]:
    """snake_case method name -> {(service, Operation)} over the project's services."""
    session = botocore.session.get_session()
    found: dict[str, set[tuple[str, str]]] = {}
    for service in SERVICES:
        for operation in session.get_service_model(service).operation_names:
            found.setdefault(xform_name(operation), set()).add((service, operation))
    return found


def _literal(node: ast.Call) -> str | None:
    if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
        return node.args[0].value
    return None


def called_names(tree: ast.AST) -> set[tuple[str, str | None]]:
    """(method name, first string argument) of every ``x.method(...)`` call."""
    return {
        (node.func.attr, _literal(node))
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }


def operations_of(calls: set[tuple[str, str | None]]) -> set[tuple[str, str]]:
    """The AWS operations among calls; raises on a name whose service cannot be told."""
    found: set[tuple[str, str]] = set()
    table = operations()
    for name, argument in calls:
        if (name, argument) in HELPERS or (name, None) in HELPERS:
            found.add(HELPERS.get((name, argument)) or HELPERS[(name, None)])
            continue
        if name in ("get_paginator", "get_waiter") and argument:
            name = argument
        if name in NOT_AWS or name not in table:
            continue
        candidates = table[name]
        if len(candidates) > 1:
            if name not in AMBIGUOUS:
                raise AssertionError(
                    f"{name}() is an operation of {sorted(s for s, _ in candidates)}: "
                    "say in AMBIGUOUS which one the project calls"
                )
            candidates = {c for c in candidates if c[0] == AMBIGUOUS[name]}
        found |= candidates
    return found


def iam_action(service: str, operation: str) -> str:
    return IAM_ACTION.get((service, operation)) or f"{IAM_PREFIX.get(service, service)}:{operation}"


def parse(path: Path) -> ast.AST:
    return ast.parse(path.read_text(), filename=str(path))


def module_files(*parts: str, exclude: tuple[str, ...] = ()) -> list[Path]:
    root = PACKAGE.joinpath(*parts)
    files = [root] if root.is_file() else sorted(root.rglob("*.py"))
    return [f for f in files if not any(str(f.relative_to(PACKAGE)).startswith(e) for e in exclude)]


def actions_in(files: list[Path]) -> dict[str, list[str]]:
    """IAM action -> the files whose calls need it."""
    needed: dict[str, list[str]] = {}
    for path in files:
        for service, operation in operations_of(called_names(parse(path))):
            needed.setdefault(iam_action(service, operation), []).append(path.name)
    return needed


def reachable_actions(entry_files: list[Path], library: list[Path]) -> dict[str, list[str]]:
    """Actions needed by ``entry_files``, following calls into methods defined in ``library``
    (the resources the app uses), transitively."""
    methods: dict[str, set[tuple[str, str | None]]] = {}
    for path in library:
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.FunctionDef):
                methods.setdefault(node.name, set()).update(called_names(node))
    calls: set[tuple[str, str | None]] = set()
    for path in entry_files:
        calls |= called_names(parse(path))
    seen: set[str] = set()
    frontier = {name for name, _ in calls}
    while frontier:
        name = frontier.pop()
        if name in seen or name not in methods:
            continue
        seen.add(name)
        calls |= methods[name]
        frontier |= {n for n, _ in methods[name]}
    needed: dict[str, list[str]] = {}
    for service, operation in operations_of(calls):
        needed.setdefault(iam_action(service, operation), []).append("app")
    return needed
