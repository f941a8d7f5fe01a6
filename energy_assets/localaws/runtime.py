"""A SageMaker-runtime-compatible server: InvokeEndpoint really serves the endpoint's model.

For each call the endpoint is resolved through the SageMaker control plane (endpoint ->
endpoint config -> model -> ModelDataUrl); the model.tar.gz is fetched from S3 and loaded once
per URL into the same ``Predictor`` the inference container runs. Errors come back in the shapes
botocore maps to ``ValidationError`` and ``ModelError``.
"""

from __future__ import annotations

import json
import tempfile
import threading
from pathlib import Path

import boto3
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from energy_assets.serving.artifact import unpack
from energy_assets.serving.handler import InvalidRequest, ModelFailure, Predictor

ACCOUNT = "123456789012"


class EndpointNotFound(LookupError):
    pass


class ModelResolver:
    """Endpoint name -> loaded Predictor, through the control plane and S3 of the local AWS."""

    def __init__(self, aws_url: str, region: str):
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
        )
        self.sagemaker = session.client("sagemaker", endpoint_url=aws_url)
        self.s3 = session.client("s3", endpoint_url=aws_url)
        self._predictors: dict[str, Predictor] = {}
        self._lock = threading.Lock()
        self._dir = Path(tempfile.mkdtemp(prefix="energy-assets-runtime-"))

    def resolve(self, endpoint_name: str) -> tuple[Predictor, str]:
        try:
            endpoint = self.sagemaker.describe_endpoint(EndpointName=endpoint_name)
        except self.sagemaker.exceptions.ClientError as error:
            raise EndpointNotFound(endpoint_name) from error
        if endpoint["EndpointStatus"] != "InService":
            raise EndpointNotFound(endpoint_name)
        config = self.sagemaker.describe_endpoint_config(
            EndpointConfigName=endpoint["EndpointConfigName"]
        )
        variant = config["ProductionVariants"][0]
        model = self.sagemaker.describe_model(ModelName=variant["ModelName"])
        url = model["PrimaryContainer"]["ModelDataUrl"]
        return self._predictor(url), variant["VariantName"]

    def _predictor(self, url: str) -> Predictor:
        with self._lock:
            if url not in self._predictors:
                bucket, key = url.removeprefix("s3://").split("/", 1)
                artifact = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                folder = unpack(artifact, self._dir / str(len(self._predictors)))
                self._predictors[url] = Predictor.from_model_dir(folder)
            return self._predictors[url]


def _error(status: int, code: str, message: str, **extra) -> Response:
    return JSONResponse(
        {"message": message, **extra}, status_code=status, headers={"x-amzn-ErrorType": code}
    )


def create_runtime_app(aws_url: str, region: str) -> Starlette:
    resolver = ModelResolver(aws_url, region)

    def invoke(request: Request, body: bytes) -> Response:
        name = request.path_params["name"]
        try:
            predictor, variant = resolver.resolve(name)
        except EndpointNotFound:
            return _error(
                400, "ValidationError", f"Endpoint {name} of account {ACCOUNT} not found."
            )
        try:
            payload, content_type = predictor.invoke(body, request.headers.get("content-type", ""))
        except (InvalidRequest, ModelFailure) as error:
            status = 400 if isinstance(error, InvalidRequest) else 500
            original = json.dumps({"error": str(error)})
            return _error(
                424,
                "ModelError",
                f'Received client error ({status}) from primary with message "{original}".'
                if status == 400
                else f'Received server error ({status}) from primary with message "{original}".',
                OriginalStatusCode=status,
                OriginalMessage=original,
                LogStreamArn=f"arn:aws:logs:{region}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{name}",
            )
        return Response(
            payload,
            media_type=content_type,
            headers={"x-Amzn-Invoked-Production-Variant": variant},
        )

    async def invocations(request: Request) -> Response:
        body = await request.body()
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(invoke, request, body)

    async def ping(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/endpoints/{name}/invocations", invocations, methods=["POST"]),
            Route("/ping", ping, methods=["GET"]),
        ]
    )
