"""The backend: a JSON API over the table and the endpoint, and the page that draws it.

Meter ids may hold ``/`` (``site/a``): the routes take the id with a path converter, so
``/api/meters/site/a/usage`` and ``/api/meters/site%2Fa/usage`` both reach meter ``site/a``.
With a token configured (``ENERGY_ASSETS_APP_TOKEN``) every ``/api`` route asks for it as a
bearer token; the page, the static files, ``/docs`` and the OpenAPI schema stay open (they hold
no data) and the page asks for the token (see ``static/app.js``).
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import botocore.exceptions
import plotly
from fastapi import Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline

from energy_assets.app.guards import Guard
from energy_assets.app.service import AppError, UsageService
from energy_assets.serving.handler import quoted

STATIC = Path(__file__).parent / "static"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
log = logging.getLogger(__name__)


def _yesterday() -> date:
    return datetime.now(UTC).date() - timedelta(days=1)


BEARER = HTTPBearer(auto_error=False, description="the app's ENERGY_ASSETS_APP_TOKEN")


def _token_check(token: str):
    """A dependency of every route that asks for ``token`` on ``/api`` paths only: the page,
    its files and the API docs hold no data and must load for a person to type the token."""

    def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    ) -> None:
        if not request.url.path.startswith("/api/"):
            return
        given = credentials.credentials if credentials else ""
        if not secrets.compare_digest(given.encode(), token.encode()):
            raise HTTPException(
                401,
                "this app needs its token: send 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check


def _readable(errors: list[dict]) -> list[dict]:
    """FastAPI's 422 details without the offending input (it may be megabytes), each with
    the parameter it is about."""
    return [
        {
            "loc": error.get("loc", []),
            "param": str(error.get("loc", ["", "?"])[-1]),
            "msg": error.get("msg", ""),
            "type": error.get("type", ""),
            **({"input": quoted(error["input"])} if "input" in error else {}),
        }
        for error in errors
    ]


def create_app(service: UsageService, token: str = "", max_in_flight: int = 64) -> Guard:
    """The app, in its request guard; with ``token``, every ``/api`` route asks for it."""
    app = FastAPIOffline(
        title="energy_assets",
        description="Actual daily usage beside the forecasts of the deployed SageMaker endpoint."
        + (" Every /api route needs the app's token (Authorize)." if token else ""),
        favicon_url="/favicon.ico",
        dependencies=[Depends(_token_check(token))] if token else None,
    )

    @app.exception_handler(AppError)
    async def app_error(request: Request, error: AppError) -> JSONResponse:
        return JSONResponse({"detail": error.message}, status_code=error.status)

    @app.get("/api/health")
    def health() -> JSONResponse:
        found = service.health()  # 503 unless the endpoint's model really answers
        return JSONResponse(found, status_code=200 if found["answers"] else 503)

    @app.get("/api/meters")
    async def meters() -> dict:
        listed = service.fresh_meters()  # the list of the last minute: no thread needed
        listed = listed if listed is not None else await run_in_threadpool(service.meters)
        # the page's default range ends at the model's latest actual (a table of past years
        # shows its own last weeks, not empty ones), at most yesterday
        known = (await run_in_threadpool(service.health)).get("latest_day")
        latest = min(_yesterday(), date.fromisoformat(known)) if known else _yesterday()
        return {"meters": listed, "latest_day": latest.isoformat(), "unit": service.unit}

    @app.get("/api/meters/{meter_id:path}/usage")
    def usage(meter_id: str, start: date, end: date) -> dict:
        frame = service.actuals(meter_id, start, end)
        return {
            "meter_id": meter_id,
            "unit": service.unit,
            "dates": frame["date"].dt.strftime("%Y-%m-%d").tolist(),
            "usage": frame["usage"].round(6).tolist(),
        }

    @app.get("/api/meters/{meter_id:path}/predictions")
    def predictions(
        meter_id: str,
        start: date,
        end: date,
        ahead: int = Query(14, ge=0, le=366, description="days to forecast after the latest"),
    ) -> dict:
        return service.predictions(meter_id, start, end, ahead)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _readable(list(error.errors()))}, status_code=422)

    @app.exception_handler(botocore.exceptions.BotoCoreError)
    async def unreachable(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": f"cannot reach AWS: {error}"}, status_code=503)

    @app.exception_handler(botocore.exceptions.ClientError)
    async def refused(request: Request, error: botocore.exceptions.ClientError) -> JSONResponse:
        code = error.response.get("Error", {}).get("Code", "")
        return JSONResponse({"detail": f"AWS refused the call: {code}"}, status_code=503)

    @app.exception_handler(Exception)
    async def failed(request: Request, error: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse(
            {"detail": f"the app failed: {type(error).__name__} (see the app's log)"},
            status_code=500,
        )

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    icon = (STATIC / "favicon.ico").read_bytes()

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(icon, media_type="image/vnd.microsoft.icon")

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(PLOTLY_JS, media_type="text/javascript")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        path = (STATIC / name).resolve()
        if path.parent != STATIC.resolve() or not path.is_file():
            return JSONResponse({"detail": "not found"}, status_code=404)
        return FileResponse(path)

    guarded = Guard(app, max_in_flight=max_in_flight)
    guarded.fastapi = app
    return guarded


def app_from_env() -> Guard:
    """The app wired to the table and endpoint named by the environment (see README)."""
    from energy_assets.resources import SageMakerResource, UsageTableResource
    from energy_assets.settings import Settings

    settings = Settings()
    service = UsageService(
        table=UsageTableResource(table_name=settings.table, region_name=settings.region),
        sagemaker=SageMakerResource(
            endpoint_name=settings.endpoint_name,
            role_arn=settings.role_arn,
            image_uri=settings.image_uri,
            region_name=settings.region,
            invoke_timeout_seconds=10,
            shards=settings.shards,
            routes_bucket=settings.bucket,
        ),
        unit=settings.unit,
    )
    return create_app(service, token=settings.app_token, max_in_flight=settings.app_max_in_flight)
