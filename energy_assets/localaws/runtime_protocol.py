"""The wire format of the SageMaker runtime API (botocore's ``sagemaker-runtime``, rest-json),
shared by both ports that answer it: which request is which operation, whom a request was
signed for, and answers in the shapes botocore parses.

The operations and their paths are read from botocore's service model, not written down here,
so a runtime operation added to the model is recognised (and refused clearly) rather than
falling through to moto, whose SageMaker runtime answers with canned output.
"""

from __future__ import annotations

import json
import re
import struct
import uuid
import zlib
from dataclasses import dataclass, field
from functools import cache

import botocore.session

SERVICE = "sagemaker-runtime"
SIGNING_NAME = "sagemaker"  # the control plane signs with the same name
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")


@dataclass(frozen=True)
class Answer:
    """One HTTP answer of the runtime, independent of the server that sends it."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@cache
def _operations() -> tuple[tuple[str, str, re.Pattern], ...]:
    model = botocore.session.get_session().get_service_model(SERVICE)
    table = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri = http["requestUri"].split("?")[0]
        pattern = re.escape(uri).replace(r"\{EndpointName\}", "(?P<endpoint>[^/]+)")
        table.append((name, http["method"], re.compile(f"^{pattern}$")))
    return tuple(table)


def runtime_operation(method: str, path: str) -> tuple[str, str] | None:
    """``(operation, endpoint name)`` when ``method path`` is a SageMaker runtime call."""
    for name, verb, pattern in _operations():
        match = pattern.match(path)
        if match and verb == method:
            return name, match.group("endpoint")
    return None


def credential_scope(authorization: str | None) -> tuple[str, str] | None:
    """``(region, service)`` of a SigV4 ``Authorization`` header, None when unsigned."""
    match = _SCOPE.search(authorization or "")
    return (match.group(1), match.group(2)) if match else None


def error(status: int, code: str, message: str, **extra) -> Answer:
    """An error as the runtime API sends it: ``x-amzn-ErrorType`` and a JSON ``message``."""
    return Answer(
        status,
        json.dumps({"message": message, **extra}).encode(),
        {
            "Content-Type": "application/json",
            "x-amzn-ErrorType": code,
            "x-amzn-RequestId": str(uuid.uuid4()),
        },
    )


def model_error(name: str, region: str, account: str, status: int, body: str) -> Answer:
    """SageMaker's relay of a container's 4xx/5xx: HTTP 424 ``ModelError``."""
    kind = "client" if status < 500 else "server"
    logs = (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logEventViewer:group=/aws/sagemaker/Endpoints/{name}"
    )
    return error(
        424,
        "ModelError",
        f'Received {kind} error ({status}) from primary with message "{body}". '
        f"See {logs} in account {account} for more information.",
        OriginalStatusCode=status,
        OriginalMessage=body,
        LogStreamArn=f"arn:aws:logs:{region}:{account}:log-group:/aws/sagemaker/Endpoints/{name}",
    )


def event_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One message of the AWS event stream encoding (``application/vnd.amazon.eventstream``),
    string headers only: total and headers length, prelude CRC, headers, payload, message CRC.
    botocore's ``EventStreamBuffer`` decodes it."""
    encoded = b"".join(
        struct.pack("!B", len(key)) + key + struct.pack("!BH", 7, len(value)) + value
        for key, value in ((k.encode(), v.encode()) for k, v in headers.items())
    )
    prelude = struct.pack("!II", 16 + len(encoded) + len(payload), len(encoded))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    message = prelude + encoded + payload
    return message + struct.pack("!I", zlib.crc32(message))


def payload_part(data: bytes) -> bytes:
    """A ``PayloadPart`` event of InvokeEndpointWithResponseStream carrying ``data``."""
    return event_message(
        {
            ":event-type": "PayloadPart",
            ":content-type": "application/octet-stream",
            ":message-type": "event",
        },
        data,
    )
