"""Fault injection for the local AWS: answer chosen requests with the errors AWS gives under load.

Tests enable it (``LocalAWS(fault_injection=True)``) and drive it over HTTP on the moto port, so
the clients under test meet the faults exactly as they would meet AWS's: real HTTP answers that
botocore's retry handlers see. A rule answers the next ``count`` requests that match it (service
from the request's SigV4 scope, DynamoDB operation from ``X-Amz-Target``, HTTP method, text in
the path or the body) with ``status`` and an error ``code`` in the service's wire format, and
counts what it matched and what it answered::

    POST   /_localaws/faults   {"service": "dynamodb", "operation": "Scan", "count": 3,
                                "status": 400, "code": "ProvisionedThroughputExceededException"}
    GET    /_localaws/faults   -> {"rules": [{..., "matched": 4, "injected": 3}]}
    DELETE /_localaws/faults

``delay_seconds`` holds a matching request that long before answering (a stalled call, for a
process to be killed mid-write); the request never reaches moto.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from dataclasses import dataclass, field, fields

import httpx

PATH = "/_localaws/faults"
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
JSON_SERVICES = ("dynamodb", "sagemaker", "application-autoscaling")


@dataclass
class Rule:
    service: str
    count: int = 1
    status: int = 500
    code: str = "InternalError"
    message: str = "injected by the local AWS"
    operation: str | None = None  # DynamoDB X-Amz-Target operation, e.g. "Scan"
    method: str | None = None  # HTTP method, e.g. "PUT"
    path_contains: str | None = None
    body_contains: str | None = None
    delay_seconds: float = 0.0
    matched: int = 0
    injected: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def public(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}

    def matches(self, service: str, environ: dict, body: bytes) -> bool:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        return (
            service == self.service
            and (self.operation is None or target.rsplit(".", 1)[-1] == self.operation)
            and (self.method is None or environ.get("REQUEST_METHOD") == self.method)
            and (self.path_contains is None or self.path_contains in environ.get("PATH_INFO", ""))
            and (self.body_contains is None or self.body_contains.encode() in body)
        )

    def take(self) -> bool:
        """Count a matching request; True when it is to be answered with the fault."""
        with self._lock:
            self.matched += 1
            if self.injected < self.count:
                self.injected += 1
                return True
            return False


def _service(environ: dict) -> str:
    found = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return found.group(1) if found else ""


def _error_body(service: str, rule: Rule) -> tuple[bytes, str]:
    if service in JSON_SERVICES:
        kind = f"com.amazonaws.{service}#{rule.code}"
        return json.dumps({"__type": kind, "message": rule.message}).encode(), (
            "application/x-amz-json-1.0"
        )
    xml = f"<Error><Code>{rule.code}</Code><Message>{rule.message}</Message></Error>"
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{xml}'.encode(), "application/xml"


class FaultInjector:
    """WSGI middleware in front of moto's app: the control path, then the rules, then moto."""

    def __init__(self, app):
        self.app = app
        self.rules: list[Rule] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response):
        if environ.get("PATH_INFO") == PATH:
            return self._control(environ, start_response)
        if not self.rules:
            return self.app(environ, start_response)
        service = _service(environ)
        body = b""
        if any(r.service == service and r.body_contains for r in self.rules):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
        for rule in list(self.rules):
            if rule.matches(service, environ, body) and rule.take():
                if rule.delay_seconds:
                    time.sleep(rule.delay_seconds)
                payload, content_type = _error_body(service, rule)
                start_response(
                    f"{rule.status} Injected",
                    [("Content-Type", content_type), ("Content-Length", str(len(payload)))],
                )
                return [payload]
        return self.app(environ, start_response)

    def _control(self, environ: dict, start_response):
        method = environ.get("REQUEST_METHOD")
        if method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            spec = json.loads(environ["wsgi.input"].read(length) or b"{}")
            with self._lock:
                self.rules.append(Rule(**spec))
        elif method == "DELETE":
            with self._lock:
                self.rules = []
        payload = json.dumps({"rules": [r.public() for r in self.rules]}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [payload]


class FaultClient:
    """The tests' side: set rules on a local AWS and read what they did, over HTTP."""

    def __init__(self, endpoint_url: str):
        self.url = endpoint_url.rstrip("/") + PATH

    def inject(self, service: str, **rule) -> None:
        httpx.post(self.url, json={"service": service, **rule}, timeout=10).raise_for_status()

    def rules(self) -> list[dict]:
        return httpx.get(self.url, timeout=10).json()["rules"]

    def clear(self) -> list[dict]:
        """Remove every rule; returns them with their counts."""
        rules = self.rules()
        httpx.delete(self.url, timeout=10).raise_for_status()
        return rules
