"""The backend: a JSON API over the table and the endpoint, and the page that draws it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import plotly
from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from energy_assets.app.service import AppError, UsageService

STATIC = Path(__file__).parent / "static"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _yesterday() -> date:
    return datetime.now(UTC).date() - timedelta(days=1)


def create_app(service: UsageService) -> FastAPI:
    app = FastAPI(
        title="energy_assets",
        description="Actual daily usage beside the forecasts of the deployed SageMaker endpoint.",
    )

    @app.exception_handler(AppError)
    async def app_error(request: Request, error: AppError) -> JSONResponse:
        return JSONResponse({"detail": error.message}, status_code=error.status)

    @app.get("/api/health")
    def health() -> JSONResponse:
        found = service.health()  # 503 unless the endpoint's model really answers
        return JSONResponse(found, status_code=200 if found["answers"] else 503)

    @app.get("/api/meters")
    def meters() -> dict:
        return {"meters": service.meters(), "latest_day": _yesterday().isoformat()}

    @app.get("/api/meters/{meter_id}/usage")
    def usage(meter_id: str, start: date, end: date) -> dict:
        frame = service.actuals(meter_id, start, end)
        return {
            "meter_id": meter_id,
            "dates": frame["date"].dt.strftime("%Y-%m-%d").tolist(),
            "usage": frame["usage"].round(6).tolist(),
        }

    @app.get("/api/meters/{meter_id}/predictions")
    def predictions(
        meter_id: str,
        start: date,
        end: date,
        ahead: int = Query(14, ge=0, le=366, description="days to forecast after the latest"),
    ) -> dict:
        return service.predictions(meter_id, start, end, ahead)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(PLOTLY_JS, media_type="text/javascript")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        path = (STATIC / name).resolve()
        if path.parent != STATIC.resolve() or not path.is_file():
            return JSONResponse({"detail": "not found"}, status_code=404)
        return FileResponse(path)

    return app


def app_from_env() -> FastAPI:
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
        ),
    )
    return create_app(service)
