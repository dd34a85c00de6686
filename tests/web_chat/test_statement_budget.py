"""How many SQL statements one chat message costs: the hot path of the live chat.

Each statement is a round of SQLAlchemy work on the event loop (statement from cache, binding,
result rows), so their number is what bounds messages per second on one node (see
docs/BENCHMARKS.md, "Live chat load"). These budgets fail a change that adds statements to
sending a message without noticing; raise them only on purpose, with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event

from kefu.accounts.access import Role
from kefu.platform.kernel import Kernel
from tests.factories import Factory
from tests.platform.test_realtime import _recv, _until, live
from tests.web_chat.test_socket import _visitor, _visitor_socket

__all__ = ["live"]


@contextmanager
def counting(kernel: Kernel) -> Iterator[list[str]]:
    """Every statement sent to the database in the block, transaction control included."""
    statements: list[str] = []

    def statement(conn: Any, cursor: Any, text: str, *args: Any) -> None:
        if not text.startswith("BEGIN"):  # SQLite's BEGIN [IMMEDIATE] is counted as (begin)
            statements.append(" ".join(text.split()[:3]))

    def begin(conn: Any) -> None:
        statements.append("(begin)")

    def commit(conn: Any) -> None:
        statements.append("(commit)")

    def savepoint(conn: Any, name: str) -> None:
        statements.append("(savepoint)")

    engines = {id(e): e for e in (kernel.db.engine.sync_engine, kernel.db.writer.sync_engine)}
    listeners = (
        ("before_cursor_execute", statement),
        ("begin", begin),
        ("commit", commit),
        ("savepoint", savepoint),
    )
    for engine in engines.values():
        for name, listener in listeners:
            event.listen(engine, name, listener)
    try:
        yield statements
    finally:
        for engine in engines.values():
            for name, listener in listeners:
                event.remove(engine, name, listener)


def _budget(kernel: Kernel, sqlite: int, postgresql: int) -> int:
    return sqlite if kernel.db.is_sqlite else postgresql


async def test_a_visitor_message_costs_few_statements(live: str, kernel: Kernel) -> None:
    client, session, conversation_id = await _visitor(live, kernel)
    async with await _visitor_socket(live, session["token"]) as ws:
        assert (await _recv(ws))["type"] == "hello"
        for n in range(3):
            send = {
                "type": "chat.send",
                "conversation_id": conversation_id,
                "client_id": f"c{n}",
                "body": "在吗",
            }
            with counting(kernel) as statements:
                await ws.send(json.dumps(send))
                ack = await _until(ws, "chat.ack")
            assert ack["message"]["seq"] == n + 2
            # begin, widget, conversation (+ FOR UPDATE on PostgreSQL), INSERT … RETURNING, UPDATE
            # conversation, commit; then the away-text check reads the widget (begin + 1).
            assert len(statements) <= _budget(kernel, 8, 9), " | ".join(statements)
    await client.aclose()


async def test_an_agent_reply_costs_few_statements(live: str, kernel: Kernel, factory: Factory) -> None:
    agent = await factory.user(Role.agent, name="小王")
    headers = await factory.token(agent)
    client, _, conversation_id = await _visitor(live, kernel)
    async with httpx.AsyncClient(base_url=f"http://{live}", headers=headers) as http:
        # The token's first use records when it was used (then at most once a minute): not counted.
        assert (await http.get("/api/v1/me")).status_code == 200
        for n in range(3):
            with counting(kernel) as statements:
                response = await http.post(
                    f"/api/v1/conversations/{conversation_id}/messages",
                    json={"body": "你好", "client_id": f"a{n}"},
                )
            assert response.status_code == 201, response.text
            assert response.json()["seq"] == n + 2
            # token (begin + 1); begin, conversation FOR UPDATE, INSERT … RETURNING, UPDATE, commit.
            assert len(statements) <= _budget(kernel, 7, 7), " | ".join(statements)
    await client.aclose()
