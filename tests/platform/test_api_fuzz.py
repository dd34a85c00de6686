"""Schemathesis fuzzes the whole OpenAPI of a running `kefu serve`: no input gives a 500."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from kefu.accounts.access import Role
from kefu.settings import Settings
from tests.factories import Factory
from tests.live import ServerProcess, running, settings_env
from tests.web_chat.support import make_widget

pytestmark = pytest.mark.slow


async def test_no_generated_request_causes_a_server_error(
    tmp_path: Path, settings: Settings, factory: Factory
) -> None:
    admin = await factory.user(Role.admin, name="Fuzz admin")
    # Some data to find: fuzzing an empty workspace only ever sees 404s.
    agent = await factory.user(Role.agent)
    await factory.team("Fuzz team", member_ids=[agent.id])
    headers = await factory.token(admin)
    widget = await make_widget(factory.kernel)
    server = ServerProcess(settings_env(settings), log=tmp_path / "serve.log")
    with running(server):
        # Revoking tokens would revoke the fuzzer's own credentials half-way, so that
        # operation gets a run of its own, with a token of its own, at the end.
        main = _fuzz(
            server.url,
            headers["Authorization"],
            tmp_path / "main",
            "--exclude-path-regex",
            "^/api/v1/(tokens|widget)/",
        )
        # The widget's visitor API authenticates visitors, not users: a visitor token of its own.
        async with httpx.AsyncClient(base_url=server.url) as visitor:
            issued = await visitor.post(f"/api/v1/widget/{widget.key}/session", json={})
            assert issued.status_code == 200, issued.text
        widget_run = _fuzz(
            server.url,
            f"Visitor {issued.json()['token']}",
            tmp_path / "widget",
            "--include-path-regex",
            "^/api/v1/widget/",
        )
        revoke = _fuzz(
            server.url,
            (await factory.token(admin))["Authorization"],
            tmp_path / "tokens",
            "--include-path-regex",
            "^/api/v1/tokens/",
        )
    for result in (main, widget_run, revoke):
        print(result.stdout)  # noqa: T201  # the run's summary, shown with -s or on failure
        assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:] + server.log()
    assert "Authentication failed" not in main.stdout, main.stdout
    assert "Authentication failed" not in widget_run.stdout, widget_run.stdout


def _fuzz(url: str, authorization: str, report: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    return subprocess.run(
        [
            cli,
            "run",
            f"{url}/api/openapi.json",
            "--checks",
            "not_a_server_error",
            "--header",
            f"Authorization:{authorization}",
            "--max-examples",
            "30",
            "--seed",
            "20261123",
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--request-timeout",
            "20",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(report),
            *extra,
        ],
        capture_output=True,
        text=True,
        cwd=report.parent,  # schemathesis keeps a cache folder in its working directory
        timeout=900,
        check=False,
    )
