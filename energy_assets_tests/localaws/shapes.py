"""A parsed AWS answer checked against botocore's service model: every required member present,
every value of its shape's type, every enum value one the model lists.

botocore's parser keeps only the members a shape defines and passes JSON values through as they
came, so a member left out or a number sent as text by the local AWS survives parsing and is
found here (clients that validate answers, like the SageMaker SDK's pydantic models, fail on
exactly these). Length and range constraints are not checked: the models state them for requests
(DynamoDB's ``NumberOfDecreasesToday`` has ``min: 1`` and AWS answers 0).
"""

from __future__ import annotations

from datetime import datetime

# Members the model marks required that AWS itself leaves out, with the evidence.
ABSENT_ON_AWS = {
    # No KMS key on the capture: AWS answers without it; sagemaker-core's pydantic model of
    # DescribeEndpoint treats it as optional for that reason.
    ("DataCaptureConfigSummary", "KmsKeyId"),
}

_SCALARS = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "boolean": (bool,),
    "double": (int, float),
    "float": (int, float),
    "timestamp": (datetime,),
    "blob": (bytes, bytearray),
}


def problems(value, shape, where: str = "") -> list[str]:
    """What is wrong with ``value`` as an instance of ``shape`` (empty when nothing)."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{where or shape.name}: {type(value).__name__}, not a {shape.name}"]
        found = [
            f"{where}.{name}: required by {shape.name}, missing"
            for name in shape.required_members
            if name not in value and (shape.name, name) not in ABSENT_ON_AWS
        ]
        for name, member in value.items():
            if name in shape.members:
                found += problems(member, shape.members[name], f"{where}.{name}")
        return found
    if kind == "list":
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__}, not a list"]
        return [
            p for i, item in enumerate(value) for p in problems(item, shape.member, f"{where}[{i}]")
        ]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not a map"]
        return [p for k, v in value.items() for p in problems(v, shape.value, f"{where}[{k}]")]
    expected = _SCALARS.get(kind)
    if expected is None:
        return []
    if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
        return [f"{where}: {value!r} is not a {kind} ({shape.name})"]
    if kind == "string" and shape.enum and value not in shape.enum:
        return [f"{where}: {value!r} is not one of {shape.name}'s values {shape.enum}"]
    return []


def answer_problems(client, method: str, answer: dict) -> list[str]:
    """``problems`` of one client call's parsed answer against the operation's output shape."""
    model = client.meta.service_model
    operation = model.operation_model(client.meta.method_to_api_mapping[method])
    body = {k: v for k, v in answer.items() if k != "ResponseMetadata"}
    prefix = f"{model.service_name}.{operation.name}"
    return [f"{prefix}{p}" for p in problems(body, operation.output_shape)]
