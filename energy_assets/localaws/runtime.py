"""A SageMaker-runtime-compatible server: InvokeEndpoint really serves the endpoint's model.

It speaks botocore's ``sagemaker-runtime`` protocol (rest-json): ``POST
/endpoints/{EndpointName}/invocations`` with the payload as body and ``Content-Type`` /
``Accept`` / ``X-Amzn-SageMaker-Target-Variant`` headers; the answer is the model's output with
``Content-Type`` and ``x-Amzn-Invoked-Production-Variant``. Endpoints are resolved through the
control plane of the local AWS (``resolver.py``) and answered by the container's ``Predictor``.

Errors take the shapes botocore's service model defines for InvokeEndpoint, so callers see the
same ``ClientError`` codes as on AWS (``x-amzn-ErrorType`` header, JSON body with ``message``):

* no such endpoint / not InService / unknown target variant -> 400 ``ValidationError``
  ("Endpoint X of account 123456789012 not found.");
* the container rejects the payload (``InvalidRequest``, its 400) -> 424 ``ModelError`` with
  ``OriginalStatusCode`` 400 and ``OriginalMessage`` = the container's body, as SageMaker relays
  a container's 4xx; ``ModelFailure`` (its 500) -> 424 ``ModelError``, OriginalStatusCode 500;
* the model cannot be loaded -> 424 ``ModelError``, OriginalStatusCode 500 (AWS would have failed
  the endpoint instead; a 424 is not retried by botocore, a 5xx would be, four times);
* anything else -> 500 ``InternalFailure``.

The region is the one the caller signed the request for (moto keeps state per region).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from energy_assets.localaws.resolver import (
    ACCOUNT,
    DeploymentBroken,
    EndpointNotFound,
    EndpointResolver,
    UnknownVariant,
)
from energy_assets.localaws.telemetry import Telemetry
from energy_assets.serving.handler import InvalidRequest, ModelFailure

_REGION = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/")
log = logging.getLogger(__name__)


def _error(status: int, code: str, message: str, **extra) -> Response:
    return JSONResponse(
        {"message": message, **extra},
        status_code=status,
        headers={"x-amzn-ErrorType": code, "x-amzn-RequestId": str(uuid.uuid4())},
    )


def _model_error(name: str, region: str, account: str, status: int, body: str) -> Response:
    kind = "client" if status < 500 else "server"
    logs = (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logEventViewer:group=/aws/sagemaker/Endpoints/{name}"
    )
    return _error(
        424,
        "ModelError",
        f'Received {kind} error ({status}) from primary with message "{body}". '
        f"See {logs} in account {account} for more information.",
        OriginalStatusCode=status,
        OriginalMessage=body,
        LogStreamArn=f"arn:aws:logs:{region}:{account}:log-group:/aws/sagemaker/Endpoints/{name}",
    )


def signed_region(request: Request) -> str | None:
    """The region in the SigV4 credential scope of the request, if it is signed."""
    match = _REGION.search(request.headers.get("authorization", ""))
    return match.group(1) if match else None


def create_runtime_app(aws_url: str, region: str, telemetry_seconds: float = 10.0) -> Starlette:
    """The runtime app, in the process of the moto server at ``aws_url`` (``resolver.py``).
    Endpoint metrics and data capture are flushed every ``telemetry_seconds`` by
    ``app.state.telemetry`` (started by the caller)."""
    resolver = EndpointResolver(aws_url, region)
    telemetry = Telemetry(resolver.client, flush_seconds=telemetry_seconds)

    def invoke(name: str, region: str, headers, body: bytes, started: float) -> Response:
        try:
            variant, deployment = resolver.resolve(
                name, region, headers.get("x-amzn-sagemaker-target-variant")
            )
        except EndpointNotFound:
            return _error(
                400, "ValidationError", f"Endpoint {name} of account {ACCOUNT} not found."
            )
        except UnknownVariant as error:
            return _error(400, "ValidationError", str(error))
        except DeploymentBroken as error:
            log.warning("endpoint %s cannot serve: %s", name, error)
            return _model_error(name, region, ACCOUNT, 500, json.dumps({"error": str(error)}))
        account = deployment.arn.split(":")[4] or ACCOUNT
        request_type = headers.get("content-type", "application/json")
        model_started = time.perf_counter()
        try:
            payload, content_type = variant.predictor.invoke(
                body, request_type, headers.get("accept")
            )
            status = 200
        except InvalidRequest as error:
            status, answer = (
                400,
                _model_error(name, region, account, 400, json.dumps({"error": str(error)})),
            )
        except ModelFailure as error:
            log.warning("endpoint %s: %s", name, error)
            status, answer = (
                500,
                _model_error(name, region, account, 500, json.dumps({"error": str(error)})),
            )
        model_seconds = time.perf_counter() - model_started
        telemetry.record(
            region,
            name,
            variant.name,
            status,
            model_seconds,
            time.perf_counter() - started,
            variant.instances,
        )
        if status != 200:
            return answer
        telemetry.capture(
            region,
            name,
            variant.name,
            deployment.data_capture,
            (body, request_type),
            (payload, content_type),
        )
        return Response(
            payload,
            media_type=content_type,
            headers={
                "x-Amzn-Invoked-Production-Variant": variant.name,
                "x-amzn-RequestId": str(uuid.uuid4()),
            },
        )

    async def invocations(request: Request) -> Response:
        started = time.perf_counter()
        name = request.path_params["name"]
        body = await request.body()
        region_name = signed_region(request) or region
        try:
            return await run_in_threadpool(
                invoke, name, region_name, request.headers, body, started
            )
        except Exception as error:  # the control plane is down, a bug: say so, as AWS would
            log.exception("InvokeEndpoint %s failed", name)
            return _error(500, "InternalFailure", f"local SageMaker runtime failed: {error!r}")

    async def ping(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def unsupported(request: Request) -> Response:
        return _error(
            404,
            "UnknownOperationException",
            f"{request.method} {request.url.path}: the local SageMaker runtime serves "
            "InvokeEndpoint (POST /endpoints/{EndpointName}/invocations) only",
        )

    app = Starlette(
        routes=[
            Route("/endpoints/{name}/invocations", invocations, methods=["POST"]),
            Route("/ping", ping, methods=["GET"]),
            Route("/{path:path}", unsupported, methods=["GET", "POST", "PUT", "DELETE"]),
        ]
    )
    app.state.resolver = resolver
    app.state.telemetry = telemetry
    return app
