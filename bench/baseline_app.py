"""The benchmarks' baseline: a bare Starlette app, served by uvicorn like kefu, doing nothing else.

``uvicorn --app-dir bench baseline_app:app``. It answers the same paths as the kefu routes the
benchmarks hit, with no database, middleware, authentication or validation. When
``BENCH_PAYLOADS`` names a JSON file ``{"me": …, "users": …}`` (bench/api_throughput.py writes
one with kefu's real answers), those documents are returned, so both servers send the same bytes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

_USER: dict[str, Any] = {
    "id": 1,
    "email": "admin@bench.example",
    "name": "Bench Admin",
    "role": "admin",
    "is_active": True,
    "locale": None,
    "team_ids": [],
    "created_at": "2025-01-01T00:00:00Z",
    "last_login_at": None,
}


def _payloads() -> dict[str, Any]:
    path = os.environ.get("BENCH_PAYLOADS")
    if path:
        loaded: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
        return loaded
    return {
        "me": {**_USER, "permissions": ["profile.edit"], "scopes": ["read"]},
        "users": {"items": [{**_USER, "id": i} for i in range(1, 51)], "next_after": 50},
    }


PAYLOADS = _payloads()


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "checks": {"database": "ok", "broker": "ok"}})


async def me(request: Request) -> JSONResponse:
    return JSONResponse(PAYLOADS["me"])  # serialised on every request, as kefu does


async def users(request: Request) -> JSONResponse:
    return JSONResponse(PAYLOADS["users"])


app = Starlette(
    routes=[
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/api/v1/me", me),
        Route("/api/v1/users", users),
    ]
)
