"""The ACD against the database: who gets a waiting conversation, which conversation a free agent gets.

Every decision is made by the pure engine (:mod:`kefu.routing.engine`, the same code the
simulator runs) on the few rows it needs, loaded inside one write transaction:

* :func:`assign_waiting` — a conversation starts waiting (new, transferred to a queue,
  unassigned, re-ranked): the best eligible agent of its queue (then of the overflow queues
  it has reached) takes it, or it waits; when its chances change with time (an overflow
  becomes due, the wait for its preferred agent lapses) a ``routing.assign`` job is scheduled
  for that moment.
* :func:`serve_agent` — an agent's room grows (they come online, finish or hand over a
  conversation, get more capacity): the best-ranked conversations they may take, until full.

**Atomic.** Decisions are serialised: on SQLite the write transaction holds the database's
single write lock from its first statement; on PostgreSQL each decision first takes one
transaction-scoped advisory lock, so no two nodes decide at once and every decision sees every
earlier one committed. Hence no conversation is given twice, no agent above capacity, and —
because every change that frees room or adds a waiting conversation triggers a decision after
its own commit — nothing waits while an eligible agent has room. The minute sweep repairs what
a crash between a commit and its decision left behind.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts import Team, User
from kefu.conversations import ACTIVE_STATUSES, Contact, Conversation, Status, assign_conversation
from kefu.platform.audit import Actor
from kefu.platform.db import Database, utcnow
from kefu.platform.errors import Conflict, DomainError, NotFound
from kefu.routing import engine
from kefu.routing.config import RoutingConfig, agent_profiles, load_routing_config
from kefu.routing.hours import queue_hours, queues_hours
from kefu.routing.models import AgentPresence, QueueSettings
from kefu.routing.queries import ASSIGNABLE_ROLES
from kefu.routing.rules import DEFAULT_STICKY_SECONDS, PRIORITY_HEAD_START, AfterHours, PresenceState

log = logging.getLogger(__name__)

ROUTING_ACTOR = Actor.system("routing")
ROUTING_LOCK_KEY = 0x6B656675  # "kefu": the PostgreSQL advisory lock every decision takes
NO_QUEUE = 0  # the engine's queue id for conversations without a queue: every agent serves it
LINE_WINDOW = 200  # a free agent looks at this many best-ranked conversations at most
_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def seconds(moment: datetime) -> float:
    """The engine's clock: seconds since a fixed epoch (floats keep sub-second order)."""
    return (moment - _EPOCH).total_seconds()


def moment(value: float) -> datetime:
    return _EPOCH + timedelta(seconds=value)


# -- the configuration a decision needs --------------------------------------------------------------
def head_start(config: RoutingConfig, tier: str | None, priority: str) -> float:
    """Seconds of priority: the tier's head start plus the priority's."""
    return float(config.tier(tier)[0] + PRIORITY_HEAD_START.get(priority, 0))


def sticky_seconds(config: RoutingConfig, queue_id: int | None) -> int:
    return config.sticky_seconds(queue_id) if queue_id is not None else DEFAULT_STICKY_SECONDS


# -- agents ------------------------------------------------------------------------------------------
async def _agents(
    session: AsyncSession, config: RoutingConfig, user_ids: Iterable[int]
) -> dict[int, engine.Agent]:
    """The engine's view of these users: present ones only, with queues, skills, capacity and load."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = (
        await session.execute(
            select(User.id, AgentPresence.state, AgentPresence.last_assigned_at, AgentPresence.changed_at)
            .join(AgentPresence, AgentPresence.user_id == User.id)
            .where(User.id.in_(ids), User.is_active.is_(True), User.role.in_(ASSIGNABLE_ROLES))
        )
    ).all()
    if not rows:
        return {}
    present = [r[0] for r in rows]
    queues: dict[int, set[int]] = {}
    for team_id, user_id in await session.execute(
        select(Team.id, User.id).join(Team.members).where(User.id.in_(present))
    ):
        queues.setdefault(user_id, set()).add(team_id)
    profiles = await agent_profiles(session, present, default_capacity=config.default_capacity)
    load: dict[int, dict[str, int]] = {}
    for assignee_id, channel, n in await session.execute(
        select(Conversation.assignee_id, Conversation.channel, func.count())
        .where(
            Conversation.assignee_id.in_(present),
            Conversation.status.in_([s.value for s in ACTIVE_STATUSES]),
        )
        .group_by(Conversation.assignee_id, Conversation.channel)
    ):
        if assignee_id is not None:
            load.setdefault(assignee_id, {})[channel] = int(n)
    return {
        user_id: engine.Agent(
            id=user_id,
            queues=frozenset(queues.get(user_id, set()) | {NO_QUEUE}),
            capacity=profiles[user_id].capacity,
            skills=profiles[user_id].skills,
            load=load.get(user_id, {}),
            available=state == PresenceState.online.value,
            last_assigned=seconds(last or changed),
        )
        for user_id, state, last, changed in rows
    }


async def _members(session: AsyncSession, queue_ids: Iterable[int]) -> set[int]:
    ids = list(set(queue_ids))
    if not ids:
        return set()
    rows = await session.scalars(select(User.id).join(User.teams).where(Team.id.in_(ids)))
    return {int(uid) for uid in rows}


# -- contacts ----------------------------------------------------------------------------------------
async def _preferred(session: AsyncSession, conversations: Sequence[Conversation]) -> dict[int, int]:
    """contact id -> the agent the customer waits for: their dedicated agent, else their last one."""
    contact_ids = {c.contact_id for c in conversations}
    if not contact_ids:
        return {}
    found: dict[int, int] = {}
    rows = await session.execute(
        select(Contact.id, Contact.dedicated_agent_id).where(
            Contact.id.in_(contact_ids), Contact.dedicated_agent_id.is_not(None)
        )
    )
    for contact_id, agent_id in rows:
        if agent_id is not None:
            found[contact_id] = agent_id
    rest = contact_ids - set(found)
    if rest:
        waiting = {c.id for c in conversations}
        latest = (
            select(
                Conversation.contact_id,
                Conversation.assignee_id,
                func.row_number()
                .over(
                    partition_by=Conversation.contact_id,
                    order_by=(Conversation.updated_at.desc(), Conversation.id.desc()),
                )
                .label("n"),
            )
            .where(
                Conversation.contact_id.in_(rest),
                Conversation.assignee_id.is_not(None),
                Conversation.id.not_in(waiting),
            )
            .subquery()
        )
        for contact_id, agent_id in await session.execute(
            select(latest.c.contact_id, latest.c.assignee_id).where(latest.c.n == 1)
        ):
            found[int(contact_id)] = int(agent_id)
    return found


async def _tiers(session: AsyncSession, conversations: Sequence[Conversation]) -> dict[int, str | None]:
    ids = {c.contact_id for c in conversations}
    if not ids:
        return {}
    return {
        int(cid): tier
        for cid, tier in (
            await session.execute(select(Contact.id, Contact.tier).where(Contact.id.in_(ids)))
        ).all()
    }


def _contact(
    conversation: Conversation, config: RoutingConfig, preferred: int | None, rank_at: datetime
) -> engine.Contact:
    since = conversation.waiting_since or conversation.created_at
    start = seconds(since)
    held_until = start + sticky_seconds(config, conversation.queue_id) if preferred is not None else 0.0
    return engine.Contact(
        id=conversation.id,
        queue_id=conversation.queue_id if conversation.queue_id is not None else NO_QUEUE,
        channel=conversation.channel,
        waiting_since=start,
        head_start=start - seconds(rank_at),
        preferred_agent=preferred,
        preferred_until=held_until,
    )


# -- decisions ---------------------------------------------------------------------------------------
async def _serialise(session: AsyncSession) -> None:
    """One decision at a time across every node (SQLite already serialises writers)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ROUTING_LOCK_KEY})


@dataclass
class Outcome:
    assigned: list[tuple[int, int]] = field(default_factory=list)  # (conversation, agent)
    retry_at: datetime | None = None  # when the conversation's chances change by themselves


async def decide_for_conversation(
    session: AsyncSession, conversation_id: int, *, now: datetime | None = None
) -> Outcome:
    """In the caller's transaction: rank the waiting conversation; give it to an agent who may take it."""
    await _serialise(session)
    outcome = Outcome()
    conversation = await session.get(Conversation, conversation_id, populate_existing=True)
    if (
        conversation is None
        or conversation.assignee_id is not None
        or conversation.status != Status.open.value
    ):
        return outcome
    now = now or utcnow()
    config = await load_routing_config(session)
    tier = (await _tiers(session, [conversation])).get(conversation.contact_id)
    dedicated_queue = config.tier(tier)[1]
    if dedicated_queue is not None and conversation.queue_id != dedicated_queue:
        conversation.queue_id = dedicated_queue  # the tier's own queue serves it
    hours = await queue_hours(session, conversation.queue_id, now)
    if not hours.open and hours.after_hours is AfterHours.overflow and hours.after_hours_team_id is not None:
        conversation.queue_id = hours.after_hours_team_id  # the after-hours team takes it
        hours = await queue_hours(session, conversation.queue_id, now)
    since = conversation.waiting_since or conversation.created_at
    rank_at = since - timedelta(seconds=head_start(config, tier, conversation.priority))
    if conversation.rank_at != rank_at:
        conversation.rank_at = rank_at
    if not hours.open:  # closed: it waits for the morning (the widget offers a message or a callback)
        outcome.retry_at = hours.next_open_at
        return outcome
    preferred = (await _preferred(session, [conversation])).get(conversation.contact_id)
    contact = _contact(conversation, config, preferred, rank_at)
    clock = seconds(now)
    chain = engine.queues_of(contact, config.rules, clock)
    if conversation.queue_id is None:  # no queue: any present agent may take it
        candidates = set(
            await session.scalars(
                select(AgentPresence.user_id).where(AgentPresence.state == PresenceState.online.value)
            )
        )
    else:
        candidates = await _members(session, chain)
    if preferred is not None:
        candidates.add(preferred)
    agents = await _agents(session, config, candidates)
    found = engine.pick_agent(
        contact,
        [agents[uid] for uid in sorted(agents) if agents[uid].available],
        config.rules,
        config.weights,
        clock,
        round_robin_last=await _round_robin(session, [q for q in chain if q != NO_QUEUE]),
        available=lambda uid: uid in agents and agents[uid].available,
    )
    if found is None:
        upcoming = [engine.next_overflow_at(contact, config.rules, clock)]
        if preferred is not None and contact.preferred_until > clock:
            upcoming.append(contact.preferred_until)
        due = [t for t in upcoming if t is not None and t > clock]
        outcome.retry_at = moment(min(due)) if due else None
        return outcome
    await _give(session, conversation.id, found, now)
    outcome.assigned.append((conversation.id, found.agent_id))
    return outcome


async def _round_robin(session: AsyncSession, queue_ids: Sequence[int]) -> dict[int, int]:
    if not queue_ids:
        return {}
    rows = await session.execute(
        select(QueueSettings.team_id, QueueSettings.round_robin_last_user_id).where(
            QueueSettings.team_id.in_(list(queue_ids)), QueueSettings.round_robin_last_user_id.is_not(None)
        )
    )
    return {t: u for t, u in rows if u is not None}


async def _give(session: AsyncSession, conversation_id: int, found: engine.Assignment, now: datetime) -> None:
    await assign_conversation(
        session, conversation_id, found.agent_id, actor=ROUTING_ACTOR, expect_unassigned=True
    )
    presence = await session.get(AgentPresence, found.agent_id)
    if presence is not None:
        presence.last_assigned_at = now
    settings = await session.get(QueueSettings, found.queue_id) if found.queue_id != NO_QUEUE else None
    if settings is not None and settings.strategy == engine.Strategy.round_robin.value:
        settings.round_robin_last_user_id = found.agent_id


async def decide_for_agent(
    session: AsyncSession, user_id: int, *, now: datetime | None = None, most: int = 50
) -> Outcome:
    """In the caller's transaction: fill the agent's free room with the best conversations they may take."""
    await _serialise(session)
    outcome = Outcome()
    now = now or utcnow()
    clock = seconds(now)
    config = await load_routing_config(session)
    agent = (await _agents(session, config, [user_id])).get(user_id)
    if agent is None or not agent.available:
        return outcome
    # Queues whose conversations this agent may see: their own, and those overflowing into them.
    sources = set(agent.queues) - {NO_QUEUE}
    grew = True
    while grew:
        grew = False
        for rule in config.rules.values():
            if rule.overflow_to in sources and rule.id not in sources:
                sources.add(rule.id)
                grew = True
    closed = {q for q, h in (await queues_hours(session, sources, now)).items() if not h.open}
    sources -= closed
    open_channels = [ch for ch in agent.capacity if agent.has_room(ch, config.weights)]
    if not open_channels:
        return outcome
    waiting = list(
        await session.scalars(
            select(Conversation)
            .where(
                Conversation.status == Status.open.value,
                Conversation.assignee_id.is_(None),
                or_(Conversation.queue_id.in_(sorted(sources)), Conversation.queue_id.is_(None)),
                Conversation.channel.in_(open_channels),
            )
            .order_by(
                func.coalesce(Conversation.rank_at, Conversation.waiting_since, Conversation.created_at),
                Conversation.id,
            )
            .limit(LINE_WINDOW)
        )
    )
    if not waiting:
        return outcome
    preferred = await _preferred(session, waiting)
    contacts = [
        _contact(c, config, preferred.get(c.contact_id), c.rank_at or c.waiting_since or c.created_at)
        for c in waiting
    ]
    contacts.sort(key=engine.Contact.sort_key)
    others = {p for p in preferred.values() if p != user_id}
    present = {uid for uid, a in (await _agents(session, config, others)).items() if a.available} | {user_id}
    for _ in range(most):
        found = engine.pick_contact(
            agent, contacts, config.rules, config.weights, clock, available=present.__contains__
        )
        if found is None:
            break
        try:
            await _give(session, found.contact_id, found, now)
        except (Conflict, NotFound):
            pass  # taken or gone meanwhile; assign_conversation refuses before it writes anything
        else:
            outcome.assigned.append((found.contact_id, user_id))
            taken = next(c for c in contacts if c.id == found.contact_id)
            agent.load[taken.channel] = agent.load.get(taken.channel, 0) + 1
            agent.last_assigned = clock
        contacts = [c for c in contacts if c.id != found.contact_id]
    return outcome


# -- the units of work the handlers, jobs and sweep run ---------------------------------------------
async def assign_waiting(db: Database, conversation_id: int) -> int | None:
    """Decide for one waiting conversation in its own transaction; the agent who got it, or None.

    When nobody may take it yet but time will change that, a ``routing.assign`` job is left
    for that moment (in the same transaction).
    """
    from kefu.routing.jobs import assign_job  # jobs imports this module

    try:
        async with db.transaction() as session:
            outcome = await decide_for_conversation(session, conversation_id)
            if outcome.retry_at is not None:
                await assign_job.enqueue(
                    session,
                    {"conversation_id": conversation_id},
                    delay=max(outcome.retry_at - utcnow(), timedelta()) + timedelta(milliseconds=50),
                    unique_key=f"routing.assign:{conversation_id}:{outcome.retry_at.isoformat()}",
                )
    except (Conflict, NotFound):
        return None  # someone took it (or it went away) meanwhile
    except DomainError as exc:
        log.warning("automatic assignment of conversation %s refused: %s", conversation_id, exc.message)
        return None
    return outcome.assigned[0][1] if outcome.assigned else None


async def serve_agent(db: Database, user_id: int) -> list[int]:
    """Decide for one agent whose room grew, in its own transaction; the conversations they got."""
    try:
        async with db.transaction() as session:
            outcome = await decide_for_agent(session, user_id)
    except DomainError as exc:
        log.warning("serving agent %s refused: %s", user_id, exc.message)
        return []
    return [conversation_id for conversation_id, _ in outcome.assigned]
