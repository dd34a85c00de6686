"""Errors as problem details or friendly pages, health and metrics, security headers, logs."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.exc import DataError

from kefu.platform.observability import JsonFormatter

PROBLEM = "application/problem+json"


async def test_an_unknown_api_route_is_a_problem_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing-here", headers={"X-Request-ID": "req-12345678"})
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == 404
    assert body["type"] == "urn:kefu:problem:http-404"
    assert body["instance"] == "/api/v1/nothing-here"
    assert body["title"]
    assert body["detail"]
    assert body["request_id"] == "req-12345678"
    assert response.headers["x-request-id"] == "req-12345678"


async def test_an_unknown_page_is_a_friendly_html_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Back to the start page" in response.text
    assert "content-security-policy" in response.headers


async def test_a_wrong_method_is_405(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/v1/me", headers={"Authorization": "Bearer kefu_x"})
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM


async def test_a_body_over_the_limit_is_refused_before_it_is_read(client: httpx.AsyncClient) -> None:
    huge = b"x" * (10 * 1024 * 1024 + 1)
    response = await client.post("/api/v1/teams", content=huge, headers={"Authorization": "Bearer kefu_x"})
    assert response.status_code == 413
    assert response.json()["code"] == "too-large"

    async def chunks() -> Any:
        for _ in range(11):
            yield b"y" * (1024 * 1024)

    streamed = await client.post(
        "/login", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert streamed.status_code == 413


def _add_failing_routes(app: FastAPI) -> None:
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    async def data_error() -> None:
        raise DataError("INSERT ...", {}, Exception("value out of range for type integer"))

    app.add_api_route("/api/v1/test-boom", boom)
    app.add_api_route("/test-boom", boom)
    app.add_api_route("/api/v1/test-data-error", data_error)


async def test_an_unexpected_error_shows_no_internals(
    app: FastAPI, client: httpx.AsyncClient, caplog: Any
) -> None:
    _add_failing_routes(app)
    with caplog.at_level(logging.ERROR):
        api = await client.get("/api/v1/test-boom")
        page = await client.get("/test-boom")
    assert api.status_code == 500
    assert api.headers["content-type"] == PROBLEM
    assert "hunter2" not in api.text
    assert "Traceback" not in api.text
    assert api.json()["request_id"]
    assert page.status_code == 500
    assert "hunter2" not in page.text
    assert "Something went wrong on our side" in page.text
    assert "content-security-policy" in page.headers
    assert any("hunter2" in (r.exc_text or str(r.exc_info)) for r in caplog.records), (
        "the error must be logged"
    )


async def test_a_value_the_database_refuses_is_the_clients_mistake(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _add_failing_routes(app)
    response = await client.get("/api/v1/test-data-error")
    assert response.status_code == 422
    assert response.json()["code"] == "invalid-input"


async def test_a_value_postgresql_refuses_inside_any_query_is_a_422(
    client: httpx.AsyncClient, factory: Any
) -> None:
    from kefu.accounts.access import Role
    from tests.factories import PASSWORD

    admin = await factory.user(Role.admin)
    await factory.login(client, admin, PASSWORD)
    for url in ("/admin/audit?q=%00", "/admin/audit?action=a%00b", "/admin/audit?target_id=%00"):
        response = await client.get(url)
        assert response.status_code in (200, 422), url  # never 500: SQLite finds nothing, PostgreSQL refuses


async def test_invalid_json_is_a_422_problem_with_field_errors(
    client: httpx.AsyncClient, factory: Any
) -> None:
    from kefu.accounts.access import Role

    admin = await factory.user(Role.admin)
    headers = await factory.token(admin)
    response = await client.post("/api/v1/users", content=b"{not json", headers=headers)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid-input"
    assert body["errors"]


async def test_health_readiness_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert 'kefu_http_requests_total{method="GET",route="/readyz",status="200"}' in metrics.text
    assert "kefu_realtime_connections" in metrics.text


async def test_readiness_fails_when_the_database_is_gone(app: FastAPI, client: httpx.AsyncClient) -> None:
    kernel = app.state.kernel

    async def down() -> None:
        raise ConnectionError("database down")

    kernel.db.ping = down
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "error: ConnectionError"


async def test_the_openapi_document_and_its_docs_page(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/api/openapi.json")).json()
    assert spec["info"]["title"] == "kefu API"
    assert "/api/v1/users" in spec["paths"]
    docs = await client.get("/api/docs")
    assert docs.status_code == 200
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text
    assert "<script>" not in docs.text  # no inline script: the CSP would block it


def test_json_logs_are_one_object_per_line_with_the_request_id() -> None:
    record = logging.LogRecord("kefu.test", logging.INFO, __file__, 1, "hello %s", ("世界",), None)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert data["msg"] == "hello 世界"
    assert data["level"] == "info"


async def test_openapi_documents_bearer_token_authentication(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/api/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["bearerToken"]["scheme"] == "bearer"
    assert spec["security"] == [{"bearerToken": []}]
