"""The conversation services: statuses, ordering, idempotency, history, mentions, assignment."""

from __future__ import annotations

import asyncio
import contextvars
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from kefu.accounts.access import Role
from kefu.conversations import queries, service
from kefu.conversations.models import Message, MessageRevision, Notification
from kefu.conversations.queries import InboxFilter
from kefu.conversations.rules import STATUS_LABELS, AuthorKind, Status
from kefu.conversations.service import Author
from kefu.platform import i18n
from kefu.platform.audit import Actor
from kefu.platform.db import utcnow
from kefu.platform.errors import Conflict, InvalidInput, PermissionDenied
from kefu.platform.kernel import Kernel
from tests.conversations.support import agent_says, conversation, customer_says, load
from tests.factories import Factory

ACTOR = Actor.system("test")


async def _status(kernel: Kernel, conversation_id: int, status: Status, **extra: Any) -> None:
    async with kernel.db.transaction() as session:
        await service.change_status(session, conversation_id, status, actor=ACTOR, **extra)


async def test_allowed_transitions_pass_and_others_are_refused(kernel: Kernel) -> None:
    made = await conversation(kernel)
    await _status(kernel, made.id, Status.resolved)
    assert (await load(kernel, made.id)).resolved_at is not None
    with pytest.raises(Conflict):
        await _status(kernel, made.id, Status.pending)  # resolved → pending is not a transition
    await _status(kernel, made.id, Status.closed)
    with pytest.raises(Conflict):
        await _status(kernel, made.id, Status.resolved)
    await _status(kernel, made.id, Status.open)
    found = await load(kernel, made.id)
    assert found.status == "open"
    assert found.closed_at is None


async def test_snooze_needs_a_future_time_and_can_be_moved(kernel: Kernel) -> None:
    made = await conversation(kernel)
    with pytest.raises(InvalidInput):
        await _status(kernel, made.id, Status.snoozed)
    with pytest.raises(InvalidInput):
        await _status(kernel, made.id, Status.snoozed, snoozed_until=utcnow() - timedelta(minutes=1))
    await _status(kernel, made.id, Status.snoozed, snoozed_until=utcnow() + timedelta(hours=1))
    later = utcnow() + timedelta(days=1)
    await _status(kernel, made.id, Status.snoozed, snoozed_until=later)
    assert (await load(kernel, made.id)).snoozed_until == later


@pytest.mark.parametrize("start", [Status.pending, Status.resolved])
async def test_a_customer_message_reopens_pending_and_resolved(kernel: Kernel, start: Status) -> None:
    made = await conversation(kernel)
    await _status(kernel, made.id, start)
    await customer_says(kernel, made, "还在吗？")
    found = await load(kernel, made.id)
    assert found.status == "open"
    assert found.resolved_at is None


async def test_a_customer_message_does_not_reopen_a_closed_conversation(kernel: Kernel) -> None:
    made = await conversation(kernel)
    await _status(kernel, made.id, Status.closed)
    await customer_says(kernel, made, "还有一个问题")
    assert (await load(kernel, made.id)).status == "closed"


async def test_first_response_is_set_by_the_first_agent_reply_only(kernel: Kernel, factory: Factory) -> None:
    agent = await factory.user(Role.agent)
    made = await conversation(kernel)
    await agent_says(kernel, made, agent, "内部备注，不算首次响应", note=True)
    assert (await load(kernel, made.id)).first_response_at is None
    await agent_says(kernel, made, agent, "您好！")
    first = (await load(kernel, made.id)).first_response_at
    assert first is not None
    await customer_says(kernel, made, "谢谢")
    await agent_says(kernel, made, agent, "不客气")
    assert (await load(kernel, made.id)).first_response_at == first


async def test_sequence_numbers_are_unique_and_increasing_under_concurrent_posts(
    kernel: Kernel, factory: Factory
) -> None:
    agent = await factory.user(Role.agent)
    made = await conversation(kernel, first=None)

    async def post(n: int) -> int:
        message = await agent_says(kernel, made, agent, f"消息 {n}")
        return message.seq

    seqs = await asyncio.gather(*(post(n) for n in range(20)))
    assert sorted(seqs) == list(range(1, 21))
    async with kernel.db.reader() as session:
        stored = list(await session.scalars(select(Message.seq).where(Message.conversation_id == made.id)))
    assert sorted(stored) == list(range(1, 21))
    assert (await load(kernel, made.id)).last_seq == 20


async def test_a_client_id_makes_posting_idempotent(kernel: Kernel, factory: Factory) -> None:
    agent = await factory.user(Role.agent)
    made = await conversation(kernel, first=None)
    results = []
    for _ in range(2):
        async with kernel.db.transaction() as session:
            results.append(
                await service.post_message(
                    session,
                    made.id,
                    author=Author.agent(agent.id, agent.name),
                    body="只发一次",
                    client_id="c-1",
                )
            )
    assert [r.created for r in results] == [True, False]
    assert results[0].message.id == results[1].message.id
    assert (await load(kernel, made.id)).last_seq == 1
    with pytest.raises(InvalidInput):
        async with kernel.db.transaction() as session:
            await service.post_message(
                session, made.id, author=Author.agent(agent.id, agent.name), body="x", client_id="bad id!"
            )


async def test_edit_and_delete_keep_revisions_and_only_the_author_may(
    kernel: Kernel, factory: Factory
) -> None:
    author = await factory.user(Role.agent, name="王芳")
    other = await factory.user(Role.agent, name="李雷")
    made = await conversation(kernel)
    message = await agent_says(kernel, made, author, "原来的话")
    async with kernel.db.transaction() as session:
        await service.revise_message(
            session, message.id, author=Author.agent(author.id, author.name), body="改过的话"
        )
    for body in ("别人的修改", None):
        with pytest.raises(PermissionDenied):
            async with kernel.db.transaction() as session:
                await service.revise_message(
                    session, message.id, author=Author.agent(other.id, other.name), body=body
                )
    async with kernel.db.transaction() as session:
        await service.revise_message(
            session, message.id, author=Author.agent(author.id, author.name), body=None
        )
    async with kernel.db.reader() as session:
        stored = await session.get(Message, message.id)
        revisions = list(
            await session.scalars(
                select(MessageRevision)
                .where(MessageRevision.message_id == message.id)
                .order_by(MessageRevision.id)
            )
        )
    assert stored is not None
    assert stored.body == ""
    assert stored.deleted_at is not None
    assert [(r.action, r.previous_body) for r in revisions] == [("edit", "原来的话"), ("delete", "改过的话")]
    with pytest.raises(Conflict):
        async with kernel.db.transaction() as session:
            await service.revise_message(
                session, message.id, author=Author.agent(author.id, author.name), body="再改"
            )


async def test_tags_are_cleaned(kernel: Kernel) -> None:
    made = await conversation(kernel)
    async with kernel.db.transaction() as session:
        await service.update_conversation(
            session, made.id, actor=ACTOR, tags=["  退款 ", "退款", "VIP", "vip", "", "  物流   延迟 "]
        )
    assert (await load(kernel, made.id)).tags == ["退款", "VIP", "物流 延迟"]
    with pytest.raises(InvalidInput):
        async with kernel.db.transaction() as session:
            await service.update_conversation(session, made.id, actor=ACTOR, tags=["x" * 41])
    with pytest.raises(InvalidInput):
        async with kernel.db.transaction() as session:
            await service.update_conversation(
                session, made.id, actor=ACTOR, tags=[f"t{n}" for n in range(21)]
            )


async def test_mentions_notify_the_mentioned_but_not_the_author(kernel: Kernel, factory: Factory) -> None:
    author = await factory.user(Role.agent, name="王芳")
    mentioned = await factory.user(Role.agent, name="李雷")
    bystander = await factory.user(Role.agent, name="韩梅梅")
    made = await conversation(kernel)
    await agent_says(kernel, made, author, "@李雷 请看一下，@王芳 自己记一下", note=True)
    await agent_says(kernel, made, author, "@韩梅梅 回复给客户的话不发提醒")
    async with kernel.db.reader() as session:
        rows = list(await session.scalars(select(Notification)))
    assert [(n.user_id, n.kind) for n in rows] == [(mentioned.id, "mention")]
    assert bystander.id not in {n.user_id for n in rows}
    assert "@" in rows[0].text


async def test_a_mention_by_email_address_notifies_that_user(kernel: Kernel, factory: Factory) -> None:
    author = await factory.user(Role.agent, name="王芳")
    mentioned = await factory.user(Role.agent, name="Li Lei", email="lilei@shop.example")
    made = await conversation(kernel)
    await agent_says(kernel, made, author, "请 @lilei@shop.example 跟进，谢谢", note=True)
    async with kernel.db.reader() as session:
        rows = list(await session.scalars(select(Notification)))
    assert [n.user_id for n in rows] == [mentioned.id]


async def test_assigning_with_expect_unassigned_fails_when_taken(kernel: Kernel, factory: Factory) -> None:
    first = await factory.user(Role.agent)
    second = await factory.user(Role.agent)
    made = await conversation(kernel)
    async with kernel.db.transaction() as session:
        await service.assign_conversation(session, made.id, first.id, actor=ACTOR, expect_unassigned=True)
    with pytest.raises(Conflict):
        async with kernel.db.transaction() as session:
            await service.assign_conversation(
                session, made.id, second.id, actor=ACTOR, expect_unassigned=True
            )
    found = await load(kernel, made.id)
    assert found.assignee_id == first.id
    assert found.waiting_since is None


async def test_transfer_leaves_a_note_and_a_system_line(kernel: Kernel, factory: Factory) -> None:
    agent = await factory.user(Role.agent, name="王芳")
    other = await factory.user(Role.agent, name="李雷")
    made = await conversation(kernel)
    actor = Actor(kind="user", label="王芳", user_id=agent.id)
    async with kernel.db.transaction() as session:
        await service.transfer_conversation(
            session,
            made.id,
            actor=actor,
            actor_name=agent.name,
            to_user_id=other.id,
            note="客户要退货，请跟进",
        )
    async with kernel.db.reader() as session:
        history = await queries.messages_after(session, made.id, include_notes=True)
        notes = await session.scalars(select(Notification).where(Notification.user_id == other.id))
        assert [n.kind for n in notes] == ["assigned"]
    note, line = history[-2], history[-1]
    assert note.is_note
    assert note.kind == "transfer"
    assert note.body == "客户要退货，请跟进"
    assert line.author_kind == AuthorKind.system.value
    assert line.kind == "transfer"
    assert not line.is_note
    assert (await load(kernel, made.id)).assignee_id == other.id


async def test_mark_read_never_goes_back(kernel: Kernel, factory: Factory) -> None:
    agent = await factory.user(Role.agent)
    made = await conversation(kernel)
    for n in range(3):
        await customer_says(kernel, made, f"第 {n} 条")
    for seq in (3, 1, 99):
        async with kernel.db.transaction() as session:
            await service.mark_read(session, made.id, reader=AuthorKind.agent, seq=seq)
    assert (await load(kernel, made.id)).agent_last_read_seq == 4  # capped at the last message
    await agent_says(kernel, made, agent, "好的")
    assert (await load(kernel, made.id)).agent_last_read_seq == 5


async def test_the_inbox_list_costs_a_fixed_number_of_queries(kernel: Kernel, factory: Factory) -> None:
    agent = await factory.user(Role.agent)
    for n in range(12):
        made = await conversation(kernel, name=f"客户{n}")
        if n % 2:
            async with kernel.db.transaction() as session:
                await service.assign_conversation(session, made.id, agent.id, actor=ACTOR)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    engine = kernel.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        async with kernel.db.reader() as session:
            rows = await queries.list_conversations(session, InboxFilter(view="all", user_id=agent.id))
            counts = await queries.inbox_counts(session, user_id=agent.id)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(rows) == 12
    assert counts["mine"] == 6
    assert counts["unassigned"] == 6
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) <= 2, selects


async def test_inbox_filters(kernel: Kernel, factory: Factory) -> None:
    agent = await factory.user(Role.agent)
    team = await factory.team()
    a = await conversation(kernel, name="刘洋", email="liu@example.com", queue_id=team, first="发票问题")
    b = await conversation(kernel, name="陈静", phone="13800138000", first="批量采购")
    async with kernel.db.transaction() as session:
        await service.update_conversation(session, a.id, actor=ACTOR, tags=["发票"])
        await service.assign_conversation(session, b.id, agent.id, actor=ACTOR)

    async def ids(**values: Any) -> list[int]:
        async with kernel.db.reader() as session:
            found = await queries.list_conversations(session, InboxFilter(user_id=agent.id, **values))
        return [r.id for r in found]

    assert await ids(view="mine") == [b.id]
    assert await ids(view="unassigned") == [a.id]
    assert await ids(view="queue", queue_id=team) == [a.id]
    assert await ids(view="all", tag="发票") == [a.id]
    assert await ids(view="all", q="KF-" + str(10000 + b.id)) == [b.id]
    assert await ids(view="all", q="LIU@") == [a.id]
    assert await ids(view="all", q="138001") == [b.id]
    assert await ids(view="all", q="批量") == [b.id]
    assert await ids(view="all", q="100%_") == []


@pytest.mark.parametrize("names", [("Í", "Í"), ("退换货", "退换货"), ("Return", "RETURN")])
async def test_a_category_name_is_taken_once(kernel: Kernel, names: tuple[str, str]) -> None:
    async with kernel.db.transaction() as session:
        await service.create_category(session, ACTOR, names[0])
    with pytest.raises(Conflict):
        async with kernel.db.transaction() as session:
            await service.create_category(session, ACTOR, names[1])


def test_conversation_statuses_do_not_borrow_the_calendars_words() -> None:
    """ "Open" / "Closed" once meant 营业中 / 休息 everywhere: a chat showed as "open for business"."""

    def labels() -> list[str]:
        i18n.set_locale("zh_CN")
        statuses = [i18n.gettext(STATUS_LABELS[s]) for s in (Status.open, Status.closed)]
        return [*statuses, i18n.gettext("Open now"), i18n.gettext("Closed now")]

    # In a copy of the context, so the language does not leak into other tests.
    assert contextvars.copy_context().run(labels) == ["进行中", "已关闭", "营业中", "休息中"]
