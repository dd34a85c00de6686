"""The staffing calculator's three faces: `kefu staffing`, /supervisor/staffing and /api/v1/staffing."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from typer.testing import CliRunner

from kefu.accounts import Role
from kefu.cli import app as cli
from tests.accounts.support import assert_html, assert_problem
from tests.factories import Factory

runner = CliRunner()
ISSUE_EXAMPLE = {"contacts": "100", "interval_minutes": "30", "aht_seconds": "180"}


# -- the command line ---------------------------------------------------------------------------------
def test_cli_answers_the_issues_example_as_a_table() -> None:
    result = runner.invoke(cli, ["staffing", "--contacts", "100", "--aht", "180", "--service-level", "80/20"])
    assert result.exit_code == 0, result.output
    assert "Traffic: 10.00 Erlangs" in result.output
    assert "Agents needed: 14" in result.output
    assert "Agents to schedule: 14" in result.output
    [marked] = [line for line in result.output.splitlines() if line.startswith(">")]
    assert marked.split()[1:3] == ["14", "88.8%"]
    assert re.search(r"^\s+13\s+79\.6%", result.output, re.MULTILINE)


def test_cli_json_with_shrinkage_and_occupancy() -> None:
    result = runner.invoke(
        cli,
        [
            "staffing",
            "--contacts",
            "100",
            "--interval",
            "30",
            "--aht",
            "180",
            "--service-level",
            "80%/20s",
            "--shrinkage",
            "30",
            "--max-occupancy",
            "65",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["traffic_erlangs"] == 10.0
    assert data["agents"] == 16  # the occupancy cap binds: 10/15 = 66.7 % > 65 %
    assert data["scheduled_agents"] == 23  # ⌈16 / 0.7⌉
    assert data["max_occupancy"] == 0.65
    assert data["occupancy"] == pytest.approx(0.625)
    assert [row["agents"] for row in data["table"]] == list(range(12, 21))
    assert data["table"][0]["asa_seconds"] is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--service-level", "80-20"], "PERCENT/SECONDS"),
        (["--service-level", "eighty"], "PERCENT/SECONDS"),
        (["--service-level", "100/20"], "less than 100"),
        (["--service-level", "0/20"], "more than 0"),
        (["--shrinkage", "100"], "shrinkage"),
        (["--max-occupancy", "0"], "occupancy"),
        (["--interval", "0"], "interval"),
        (["--aht", "-3"], "average handling time"),
        (["--contacts", "-1"], "number of contacts"),
        (["--contacts", "lots"], "contacts"),
    ],
)
def test_cli_refuses_bad_input_with_exit_code_2(args: list[str], message: str) -> None:
    base = {"--contacts": "100", "--aht": "180"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    result = runner.invoke(cli, ["staffing", *[part for pair in base.items() for part in pair]])
    assert result.exit_code == 2, result.output
    text = " ".join(re.sub("[│╭╮╰╯─]", " ", result.output).split())  # typer draws usage errors in a box
    assert message.lower() in text.lower()
    assert "Traceback" not in result.output


def test_cli_zero_contacts_needs_nobody() -> None:
    result = runner.invoke(cli, ["staffing", "--contacts", "0", "--aht", "180", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["agents"], data["scheduled_agents"], data["service_level"]) == (0, 0, 1.0)


# -- the page ---------------------------------------------------------------------------------------------
def _row(html: str, agents: int) -> str:
    match = re.search(rf'<tr[^>]*data-agents="{agents}"[^>]*>.*?</tr>', html, re.DOTALL)
    assert match, f"no row for {agents} agents"
    return match.group(0)


async def test_page_shows_the_answer_and_highlights_its_row(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    await factory.login(client, await factory.user(Role.supervisor))
    empty = assert_html(await client.get("/supervisor/staffing"), 200)
    assert 'name="contacts"' in empty
    assert 'value="80"' in empty  # the usual 80/20 target is filled in
    assert "staffing-answer" not in empty
    assert 'href="/supervisor/staffing"' in empty  # the main navigation links to it

    page = assert_html(
        await client.get(
            "/supervisor/staffing",
            params={
                **ISSUE_EXAMPLE,
                "service_level_percent": "80",
                "target_seconds": "20",
                "shrinkage_percent": "30",
            },
        ),
        200,
    )
    assert '<strong data-figure="agents">14</strong>' in page
    assert '<strong data-figure="scheduled">20</strong>' in page
    assert '<strong data-figure="traffic">10.00</strong>' in page
    assert '<strong data-figure="service-level">88.8%</strong>' in page
    answer = _row(page, 14)
    assert 'class="answer"' in answer
    assert 'aria-current="true"' in answer
    assert "88.8%" in answer
    assert "7.8 s" in answer
    assert "71.4%" in answer
    for other in (10, 13, 15, 18):
        assert 'class="answer"' not in _row(page, other)
    assert "79.6%" in _row(page, 13)
    assert "—" in _row(page, 10)  # no ASA when the queue only grows
    assert page.count('aria-current="true"') == 1


async def test_page_in_chinese(client: httpx.AsyncClient, factory: Factory) -> None:
    await factory.login(client, await factory.user(Role.supervisor))
    client.cookies.set("kefu_lang", "zh_CN")
    page = assert_html(await client.get("/supervisor/staffing", params=ISSUE_EXAMPLE), 200)
    for text in ("人员需求计算", "服务水平", "平均应答速度", "占用率", "话务量（爱尔兰）", "7.8 秒"):
        assert text in page, text


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"contacts": "many"}, "contacts", "Enter a number."),
        ({"contacts": ""}, "contacts", "This field is required."),
        ({"contacts": "nan"}, "contacts", "Enter a number."),
        ({"contacts": "-5"}, "contacts", "The number of contacts must be between 0 and"),
        ({"interval_minutes": "0"}, "interval_minutes", "The interval must be longer than 0"),
        ({"aht_seconds": "0"}, "aht_seconds", "The average handling time must be more than 0"),
        ({"service_level_percent": "100"}, "service_level_percent", "The service level must be more than 0"),
        ({"target_seconds": "-1"}, "target_seconds", "The target answer time must be between"),
        ({"shrinkage_percent": "120"}, "shrinkage_percent", "The shrinkage must be at least 0"),
        (
            {"max_occupancy_percent": "0"},
            "max_occupancy_percent",
            "The maximum occupancy must be more than 0",
        ),
        ({"contacts": "1e300"}, "contacts", "The number of contacts must be between 0 and"),
        ({"contacts": "9000000", "aht_seconds": "3600"}, "contacts", "this calculator stops at"),
    ],
)
async def test_page_bad_input_shows_the_form_with_the_error(
    client: httpx.AsyncClient, factory: Factory, params: dict[str, str], field: str, message: str
) -> None:
    await factory.login(client, await factory.user(Role.supervisor))
    response = await client.get("/supervisor/staffing", params={**ISSUE_EXAMPLE, **params})
    page = assert_html(response, 422)
    error = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', page)
    assert error, page[-3000:]
    assert message in error.group(1)
    assert f'id="f-{field}"' in page
    assert "staffing-answer" not in page


async def test_page_accepts_what_people_type(client: httpx.AsyncClient, factory: Factory) -> None:
    await factory.login(client, await factory.user(Role.supervisor))
    params = {
        "contacts": "１,000",  # full-width digit and a thousands separator
        "interval_minutes": " 60 ",
        "aht_seconds": "360",
        "service_level_percent": "90%",
        "target_seconds": "30",
        "shrinkage_percent": "",  # not required: empty is refused…
        "max_occupancy_percent": "",  # …but this one is optional
    }
    refused = assert_html(await client.get("/supervisor/staffing", params=params), 422)
    assert 'id="shrinkage_percent-error"' in refused
    page = assert_html(
        await client.get("/supervisor/staffing", params={**params, "shrinkage_percent": "0"}), 200
    )
    # 1,000 contacts × 360 s / 3,600 s = 100 Erlangs.
    assert '<strong data-figure="traffic">100.00</strong>' in page
    assert 'value="１,000"' in page  # the form keeps what was typed


async def test_page_escapes_what_it_echoes(client: httpx.AsyncClient, factory: Factory) -> None:
    await factory.login(client, await factory.user(Role.supervisor))
    page = assert_html(
        await client.get(
            "/supervisor/staffing", params={**ISSUE_EXAMPLE, "contacts": '"><script>x</script>'}
        ),
        422,
    )
    assert "<script>x" not in page
    assert "&lt;script&gt;" in page


async def test_page_is_for_supervisors_and_admins_only(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, factory: Factory
) -> None:
    await factory.login(client, await factory.user(Role.agent))
    refused = await client.get("/supervisor/staffing", params=ISSUE_EXAMPLE)
    assert "Permission denied" in assert_html(refused, 403)
    assert 'href="/supervisor/staffing"' not in assert_html(await client.get("/"), 200)
    await factory.login(other_client, await factory.user(Role.admin))
    assert '<strong data-figure="agents">14</strong>' in assert_html(
        await other_client.get("/supervisor/staffing", params=ISSUE_EXAMPLE), 200
    )


async def test_page_without_login_goes_to_the_login_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/supervisor/staffing")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


# -- the API ---------------------------------------------------------------------------------------------
async def test_api_answers_the_issues_example(client: httpx.AsyncClient, factory: Factory) -> None:
    headers = await factory.token(await factory.user(Role.supervisor), scopes=["read"])
    response = await client.get(
        "/api/v1/staffing",
        params={"contacts": 100, "aht_seconds": 180, "shrinkage_percent": 30},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["traffic_erlangs"] == 10.0
    assert data["agents"] == 14
    assert data["scheduled_agents"] == 20
    assert data["interval_seconds"] == 1800.0  # 30 minutes by default
    assert (data["target_level"], data["target_seconds"]) == (0.8, 20.0)  # 80/20 by default
    assert data["service_level"] == pytest.approx(0.8884, abs=5e-5)
    assert data["p_wait"] == pytest.approx(0.1741, abs=5e-5)
    assert data["asa_seconds"] == pytest.approx(7.84, abs=5e-3)
    assert data["max_occupancy"] is None
    rows = {row["agents"]: row for row in data["table"]}
    assert rows[10]["asa_seconds"] is None  # infinite: JSON has no infinity
    assert rows[10]["service_level"] == 0.0
    assert rows[13]["service_level"] == pytest.approx(0.7956, abs=5e-5)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"contacts": 100},
        {"contacts": -1, "aht_seconds": 180},
        {"contacts": "x", "aht_seconds": 180},
        {"contacts": "nan", "aht_seconds": 180},
        {"contacts": "inf", "aht_seconds": 180},
        {"contacts": 100, "aht_seconds": 0},
        {"contacts": 100, "aht_seconds": 180, "interval_minutes": 0},
        {"contacts": 100, "aht_seconds": 180, "service_level_percent": 100},
        {"contacts": 100, "aht_seconds": 180, "service_level_percent": 0},
        {"contacts": 100, "aht_seconds": 180, "shrinkage_percent": 100},
        {"contacts": 100, "aht_seconds": 180, "max_occupancy_percent": 101},
        {"contacts": 100, "aht_seconds": 180, "target_seconds": -1},
        {"contacts": 9_000_000, "aht_seconds": 3600},  # within each bound, but 18 million Erlangs
    ],
)
async def test_api_bad_input_is_a_422_problem(
    client: httpx.AsyncClient, factory: Factory, params: dict[str, object]
) -> None:
    headers = await factory.token(await factory.user(Role.supervisor))
    response = await client.get("/api/v1/staffing", params=params, headers=headers)
    body = assert_problem(response, 422, "invalid-input")
    assert body["errors"], body


async def test_api_follows_the_permission(client: httpx.AsyncClient, factory: Factory) -> None:
    params = {"contacts": 100, "aht_seconds": 180}
    assert_problem(await client.get("/api/v1/staffing", params=params), 401)
    agent = await factory.token(await factory.user(Role.agent))
    assert_problem(
        await client.get("/api/v1/staffing", params=params, headers=agent), 403, "permission-denied"
    )
    admin = await factory.token(await factory.user(Role.admin), scopes=["read"])
    assert (await client.get("/api/v1/staffing", params=params, headers=admin)).status_code == 200


async def test_api_is_documented(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/api/openapi.json")).json()
    operation = schema["paths"]["/api/v1/staffing"]["get"]
    assert operation["tags"] == ["staffing"]
    names = {param["name"] for param in operation["parameters"]}
    assert names == {
        "contacts",
        "interval_minutes",
        "aht_seconds",
        "service_level_percent",
        "target_seconds",
        "shrinkage_percent",
        "max_occupancy_percent",
    }
    assert schema["paths"]["/api/v1/presence"]["get"]["tags"] == ["presence"]
