"""SLA policies and clocks (承诺服务时限, SPEC E6): targets, business hours, pauses, warnings, breaches.

A policy sets up to three targets in business minutes — **first response** (the first agent
reply that is not a note), **next response** (a customer message after an agent's reply, met
by the next agent reply) and **resolution** (resolved or closed) — for the conversations it
matches: the first active policy by position whose lists (tiers, priorities, categories,
channels; empty = any) all match.

Clocks count business time of the policy's calendar (or the workspace's default calendar, or
around the clock). They run while the conversation is open: pending on the customer,
snoozed, resolved and closed pause them, and the business time spent paused moves every due
time back. Reopening a resolved conversation re-opens the resolution clock with the time it had
left. Transfers and assignments never touch them.

How the clocks stay current:

* :func:`sync_clocks` reconciles one conversation's clocks with its state (status, the first
  response time, the messages, the matching policy) under the conversation's row lock; the
  event handlers of :func:`register` call it after the commits that matter, and so does the
  minute job before it judges a conversation, so a lost event is repaired there.
* the minute job ``routing.sla`` (:func:`run_checks`) looks only at clocks whose
  ``next_check_at`` has come: it marks warnings (:class:`SlaWarning`) and breaches
  (:class:`SlaBreached`, with the policy's escalation actions — each at most once per target),
  one conversation per transaction under its row lock, so several nodes never act twice.
* every change writes ``conversations.sla_due_at`` / ``sla_state``, which the inbox shows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum, StrEnum
from typing import Any, ClassVar

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts import Role, User
from kefu.admin import get_workspace_settings
from kefu.calendars import CalendarSnapshot, get_snapshot
from kefu.conversations import (
    AuthorKind,
    Channel,
    Contact,
    Conversation,
    ConversationOpened,
    ConversationStatusChanged,
    ConversationUpdated,
    Message,
    MessagePosted,
    Priority,
    Status,
    assign_conversation,
    create_notification,
    display_number,
    ensure_builtin_categories,
    list_categories,
    update_conversation,
)
from kefu.platform.audit import Actor, record_audit
from kefu.platform.db import Database, utcnow
from kefu.platform.errors import Conflict, InvalidInput, NotFound
from kefu.platform.events import Event, record_event
from kefu.platform.i18n import N_, gettext
from kefu.platform.jobs import JobContext, job
from kefu.platform.kernel import Kernel
from kefu.platform.validation import clean_name
from kefu.routing.models import ConversationSla, CustomerTier, SlaPolicy

log = logging.getLogger(__name__)

MAX_NAME = 60
MAX_POSITION = 10_000
MAX_TARGET_MINUTES = 525_600  # one year of business minutes
MAX_LIST = 50  # entries in one of a policy's match lists
MAX_POLICIES = 200
DEFAULT_WARN_PERCENT = 80
CHECK_BATCH = 500  # conversations the minute job judges per run
SYSTEM = Actor.system("sla")


class Target(StrEnum):
    first_response = "first_response"
    next_response = "next_response"
    resolution = "resolution"


TARGET_LABELS: dict[Target, str] = {
    Target.first_response: N_("First response"),
    Target.next_response: N_("Next response"),
    Target.resolution: N_("Resolution"),
}


class SlaState(StrEnum):
    """What the inbox shows of a conversation's clocks (``conversations.sla_state``)."""

    none = ""  # no clocks
    idle = "idle"  # clocks, none of them running now (nothing to show; a message may start one)
    ok = "ok"
    warning = "warning"
    breached = "breached"


class Escalation(StrEnum):
    notify_supervisors = "notify_supervisors"
    raise_priority = "raise_priority"
    reassign = "reassign"


ESCALATION_LABELS: dict[Escalation, str] = {
    Escalation.notify_supervisors: N_("Notify every supervisor"),
    Escalation.raise_priority: N_("Raise the priority one step"),
    Escalation.reassign: N_("Send it back to its queue for another agent"),
}

_PRIORITY_STEPS = [Priority.low, Priority.normal, Priority.high, Priority.urgent]
_RUNNING = Status.open.value
_DONE = frozenset({Status.resolved.value, Status.closed.value})


class _Keep(Enum):
    """A keyword left out of an update: keep the stored value (where None is a value)."""

    token = 0


KEEP = _Keep.token


# -- events ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SlaWarning(Event):
    """A target of a conversation has used its policy's warning share (e.g. 80 %) of its time."""

    name: ClassVar[str] = "sla.warning"
    conversation_id: int
    number: str
    target: str
    due_at: datetime
    policy_id: int

    def topics(self) -> Sequence[str]:
        return ("inbox", f"conversation:{self.conversation_id}")


@dataclass(frozen=True)
class SlaBreached(Event):
    """A target of a conversation passed its due time unmet; ``actions`` are the escalations run."""

    name: ClassVar[str] = "sla.breached"
    conversation_id: int
    number: str
    target: str
    due_at: datetime
    policy_id: int
    actions: tuple[str, ...] = ()

    def topics(self) -> Sequence[str]:
        return ("inbox", f"conversation:{self.conversation_id}")


# -- policies: validation --------------------------------------------------------------------------
def _whole(value: object, *, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(
            "Enter a whole number from %(min)s to %(max)s.", field=field, params={"min": low, "max": high}
        )
    return value


def _minutes(value: object, *, field: str) -> int | None:
    return None if value is None else _whole(value, field=field, low=1, high=MAX_TARGET_MINUTES)


def _strings(raw: object, *, field: str) -> list[str]:
    if isinstance(raw, str) or not isinstance(raw, Iterable):
        raise InvalidInput("Give a list.", field=field)
    found: list[str] = []
    for item in raw:
        if not isinstance(item, str):
            raise InvalidInput("Give a list.", field=field)
        if item not in found:
            found.append(item)
    if len(found) > MAX_LIST:
        raise InvalidInput("At most %(max)s entries.", field=field, params={"max": MAX_LIST})
    return found


async def _tiers(session: AsyncSession, raw: object) -> list[str]:
    keys = _strings(raw, field="tiers")
    if keys:
        known = set(await session.scalars(select(CustomerTier.key).where(CustomerTier.key.in_(keys))))
        if set(keys) - known:
            raise InvalidInput("Choose customer tiers that exist.", field="tiers")
    return keys


def _priorities(raw: object) -> list[str]:
    values = _strings(raw, field="priorities")
    allowed = {p.value for p in Priority}
    if set(values) - allowed:
        raise InvalidInput("Choose priorities from low, normal, high and urgent.", field="priorities")
    return sorted(values, key=[p.value for p in _PRIORITY_STEPS].index)


def _channels(raw: object) -> list[str]:
    values = _strings(raw, field="channels")
    if set(values) - {c.value for c in Channel}:
        raise InvalidInput("Choose channels that exist.", field="channels")
    return values


async def _category_ids(session: AsyncSession, raw: object) -> list[int]:
    if isinstance(raw, str) or not isinstance(raw, Iterable):
        raise InvalidInput("Give a list.", field="category_ids")
    found: list[int] = []
    for item in raw:
        if isinstance(item, bool) or not isinstance(item, int):
            raise InvalidInput("Choose categories that exist.", field="category_ids")
        if item not in found:
            found.append(item)
    if len(found) > MAX_LIST:
        raise InvalidInput("At most %(max)s entries.", field="category_ids", params={"max": MAX_LIST})
    if found:
        known = {c.id for c in await list_categories(session, include_inactive=True)}
        if set(found) - known:
            raise InvalidInput("Choose categories that exist.", field="category_ids")
    return found


async def _calendar_id(session: AsyncSession, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("Choose business hours that exist.", field="calendar_id")
    try:
        await get_snapshot(session, value)
    except NotFound:
        raise InvalidInput("Choose business hours that exist.", field="calendar_id") from None
    return value


def _escalation(raw: object) -> dict[str, bool]:
    items: Iterable[tuple[Any, Any]]
    if isinstance(raw, Mapping):
        items = raw.items()
    elif isinstance(raw, Iterable) and not isinstance(raw, str):
        items = ((key, True) for key in raw)
    else:
        raise InvalidInput("Choose escalation actions.", field="escalation")
    flags = {action.value: False for action in Escalation}
    for key, value in items:
        if key not in flags or not isinstance(value, bool):
            raise InvalidInput("Choose escalation actions.", field="escalation")
        flags[key] = value
    return flags


async def _name_taken(session: AsyncSession, name: str, *, except_id: int | None = None) -> bool:
    # SQLite's lower() folds ASCII only: compare exactly too; the unique index has the last word.
    stmt = select(SlaPolicy.id).where((func.lower(SlaPolicy.name) == name.lower()) | (SlaPolicy.name == name))
    if except_id is not None:
        stmt = stmt.where(SlaPolicy.id != except_id)
    return (await session.scalar(stmt)) is not None


async def _checked(
    session: AsyncSession, raw: Mapping[str, Any], *, policy_id: int | None = None
) -> dict[str, Any]:
    """The given fields of a policy, validated (every error names its field)."""
    values: dict[str, Any] = {}
    if "name" in raw:
        name = clean_name(str(raw["name"]), max_length=MAX_NAME)
        if await _name_taken(session, name, except_id=policy_id):
            raise Conflict("An SLA policy with this name already exists.", field="name")
        values["name"] = name
    if "position" in raw and raw["position"] is not None:
        values["position"] = _whole(raw["position"], field="position", low=0, high=MAX_POSITION)
    if "is_active" in raw:
        values["is_active"] = bool(raw["is_active"])
    if "tiers" in raw:
        values["tiers"] = await _tiers(session, raw["tiers"])
    if "priorities" in raw:
        values["priorities"] = _priorities(raw["priorities"])
    if "category_ids" in raw:
        values["category_ids"] = await _category_ids(session, raw["category_ids"])
    if "channels" in raw:
        values["channels"] = _channels(raw["channels"])
    for target in Target:
        key = f"{target.value}_minutes"
        if key in raw:
            values[key] = _minutes(raw[key], field=key)
    if "calendar_id" in raw:
        values["calendar_id"] = await _calendar_id(session, raw["calendar_id"])
    if "warn_percent" in raw:
        values["warn_percent"] = _whole(raw["warn_percent"], field="warn_percent", low=0, high=99)
    if "escalation" in raw:
        values["escalation"] = _escalation(raw["escalation"])
    return values


def _require_a_target(policy: SlaPolicy) -> None:
    if all(getattr(policy, f"{t.value}_minutes") is None for t in Target):
        raise InvalidInput("Set at least one target.", field="first_response_minutes")


async def _flush_unique(session: AsyncSession) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("An SLA policy with this name already exists.", field="name") from exc


def _audit_values(policy: SlaPolicy) -> dict[str, Any]:
    return {
        "position": policy.position,
        "is_active": policy.is_active,
        "tiers": list(policy.tiers),
        "priorities": list(policy.priorities),
        "category_ids": list(policy.category_ids),
        "channels": list(policy.channels),
        "first_response_minutes": policy.first_response_minutes,
        "next_response_minutes": policy.next_response_minutes,
        "resolution_minutes": policy.resolution_minutes,
        "calendar_id": policy.calendar_id,
        "warn_percent": policy.warn_percent,
        "escalation": dict(policy.escalation),
    }


# -- policies: reads and writes --------------------------------------------------------------------
async def list_policies(session: AsyncSession, *, active_only: bool = False) -> list[SlaPolicy]:
    """Every policy in the order they are tried (position, then age)."""
    stmt = select(SlaPolicy).order_by(SlaPolicy.position, SlaPolicy.id)
    if active_only:
        stmt = stmt.where(SlaPolicy.is_active.is_(True))
    return list(await session.scalars(stmt))


async def get_policy(session: AsyncSession, policy_id: int) -> SlaPolicy:
    policy = await session.get(SlaPolicy, policy_id)
    if policy is None:
        raise NotFound("No SLA policy with this id.")
    return policy


async def create_policy(
    session: AsyncSession,
    actor: Actor,
    *,
    name: str,
    position: int | None = None,
    is_active: bool = True,
    tiers: Sequence[str] = (),
    priorities: Sequence[str] = (),
    category_ids: Sequence[int] = (),
    channels: Sequence[str] = (),
    first_response_minutes: int | None = None,
    next_response_minutes: int | None = None,
    resolution_minutes: int | None = None,
    calendar_id: int | None = None,
    warn_percent: int = DEFAULT_WARN_PERCENT,
    escalation: Mapping[str, bool] | Sequence[str] = (),
) -> SlaPolicy:
    """Add a policy (last in line unless ``position`` is given). At least one target is required."""
    values = await _checked(
        session,
        {
            "name": name,
            "position": position,
            "is_active": is_active,
            "tiers": tiers,
            "priorities": priorities,
            "category_ids": category_ids,
            "channels": channels,
            "first_response_minutes": first_response_minutes,
            "next_response_minutes": next_response_minutes,
            "resolution_minutes": resolution_minutes,
            "calendar_id": calendar_id,
            "warn_percent": warn_percent,
            "escalation": escalation,
        },
    )
    count = int(await session.scalar(select(func.count()).select_from(SlaPolicy)) or 0)
    if count >= MAX_POLICIES:
        raise Conflict("There are too many SLA policies; delete some first.")
    if "position" not in values:
        last = await session.scalar(select(func.max(SlaPolicy.position)))
        values["position"] = min(MAX_POSITION, (last + 1) if last is not None else 0)
    now = utcnow()
    policy = SlaPolicy(**values, created_at=now, updated_at=now)
    _require_a_target(policy)
    session.add(policy)
    await _flush_unique(session)
    record_audit(
        session,
        actor,
        "sla.policy_created",
        target_type="sla_policy",
        target_id=policy.id,
        target_label=policy.name,
        **_audit_values(policy),
    )
    return policy


async def update_policy(
    session: AsyncSession,
    actor: Actor,
    policy_id: int,
    *,
    name: str | _Keep = KEEP,
    position: int | _Keep = KEEP,
    is_active: bool | _Keep = KEEP,
    tiers: Sequence[str] | _Keep = KEEP,
    priorities: Sequence[str] | _Keep = KEEP,
    category_ids: Sequence[int] | _Keep = KEEP,
    channels: Sequence[str] | _Keep = KEEP,
    first_response_minutes: int | _Keep | None = KEEP,
    next_response_minutes: int | _Keep | None = KEEP,
    resolution_minutes: int | _Keep | None = KEEP,
    calendar_id: int | _Keep | None = KEEP,
    warn_percent: int | _Keep = KEEP,
    escalation: Mapping[str, bool] | Sequence[str] | _Keep = KEEP,
) -> SlaPolicy:
    """Change the given fields. Running clocks follow the new targets at their next change."""
    policy = await get_policy(session, policy_id)
    given = {
        key: value
        for key, value in {
            "name": name,
            "position": position,
            "is_active": is_active,
            "tiers": tiers,
            "priorities": priorities,
            "category_ids": category_ids,
            "channels": channels,
            "first_response_minutes": first_response_minutes,
            "next_response_minutes": next_response_minutes,
            "resolution_minutes": resolution_minutes,
            "calendar_id": calendar_id,
            "warn_percent": warn_percent,
            "escalation": escalation,
        }.items()
        if value is not KEEP
    }
    if "position" in given and given["position"] is None:
        raise InvalidInput("This field is required.", field="position")
    values = await _checked(session, given, policy_id=policy.id)
    changes = {key: value for key, value in values.items() if getattr(policy, key) != value}
    if not changes:
        return policy
    for key, value in changes.items():
        setattr(policy, key, value)
    _require_a_target(policy)
    policy.updated_at = utcnow()
    if "name" in changes:
        await _flush_unique(session)
    record_audit(
        session,
        actor,
        "sla.policy_changed",
        target_type="sla_policy",
        target_id=policy.id,
        target_label=policy.name,
        changes=changes,
    )
    return policy


async def delete_policy(session: AsyncSession, actor: Actor, policy_id: int) -> int:
    """Delete a policy and stop the clocks it set; returns how many conversations had them.

    Those conversations get another matching policy at their next change.
    """
    policy = await get_policy(session, policy_id)
    clocked = select(ConversationSla.conversation_id).where(ConversationSla.policy_id == policy_id)
    await session.execute(
        update(Conversation)
        .where(Conversation.id.in_(clocked.scalar_subquery()))
        .values(sla_due_at=None, sla_state=SlaState.none.value)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(delete(ConversationSla).where(ConversationSla.policy_id == policy_id))
    stopped = int(getattr(result, "rowcount", 0) or 0)
    await session.delete(policy)
    record_audit(
        session,
        actor,
        "sla.policy_deleted",
        target_type="sla_policy",
        target_id=policy_id,
        target_label=policy.name,
        conversations=stopped,
    )
    return stopped


# -- matching --------------------------------------------------------------------------------------
def policy_matches(
    policy: SlaPolicy, *, tier: str | None, priority: str, category_id: int | None, channel: str
) -> bool:
    """Whether every list of the policy matches (an empty list matches anything)."""
    return (
        (not policy.tiers or (tier is not None and tier in policy.tiers))
        and (not policy.priorities or priority in policy.priorities)
        and (not policy.category_ids or (category_id is not None and category_id in policy.category_ids))
        and (not policy.channels or channel in policy.channels)
    )


async def tier_choices(session: AsyncSession) -> list[tuple[str, str]]:
    """(key, name) of every customer tier, as the tiers page lists them."""
    rows = await session.execute(
        select(CustomerTier.key, CustomerTier.name).order_by(CustomerTier.position, CustomerTier.id)
    )
    return [(str(key), str(name)) for key, name in rows.all()]


async def default_tier_key(session: AsyncSession) -> str | None:
    """The key of the default tier: the tier of contacts that have none."""
    return await session.scalar(
        select(CustomerTier.key).where(CustomerTier.is_default.is_(True)).order_by(CustomerTier.id).limit(1)
    )


async def match_policy(
    session: AsyncSession, *, tier: str | None, priority: str, category_id: int | None, channel: str
) -> SlaPolicy | None:
    """The first active policy, by position, that matches; ``tier`` None is the default tier."""
    policies = await list_policies(session, active_only=True)
    if not policies:
        return None
    if tier is None and any(p.tiers for p in policies):
        tier = await default_tier_key(session)
    for policy in policies:
        if policy_matches(policy, tier=tier, priority=priority, category_id=category_id, channel=channel):
            return policy
    return None


# -- business time ---------------------------------------------------------------------------------
class Clock:
    """Business-time arithmetic of one calendar; without one, around the clock."""

    def __init__(self, calendar: CalendarSnapshot | None) -> None:
        self.calendar = calendar

    def add(self, start: datetime, seconds: float) -> datetime | None:
        """``seconds`` of business time after ``start``; None when the calendar never has that long."""
        span = timedelta(seconds=max(0.0, seconds))
        if self.calendar is None:
            return start + span
        return self.calendar.add_business_time(start, span)

    def between(self, a: datetime, b: datetime) -> float:
        if self.calendar is None:
            return (b - a).total_seconds()
        return self.calendar.business_seconds_between(a, b)


class Clocks:
    """The calendar of each policy, read once per unit of work."""

    def __init__(self) -> None:
        self._by_calendar: dict[int | None, Clock] = {}
        self._default: int | _Keep | None = KEEP

    async def of(self, session: AsyncSession, policy: SlaPolicy) -> Clock:
        calendar_id = policy.calendar_id
        if calendar_id is None:
            if self._default is KEEP:
                self._default = (await get_workspace_settings(session)).default_calendar_id
            calendar_id = self._default
        if calendar_id not in self._by_calendar:
            snapshot: CalendarSnapshot | None = None
            if calendar_id is not None:
                try:
                    snapshot = await get_snapshot(session, calendar_id)
                except NotFound:
                    snapshot = None
            self._by_calendar[calendar_id] = Clock(snapshot)
        return self._by_calendar[calendar_id]


# -- clocks ----------------------------------------------------------------------------------------
def _get(row: ConversationSla, target: Target, what: str) -> Any:
    return getattr(row, f"{target.value}_{what}")


def _set(row: ConversationSla, target: Target, what: str, value: Any) -> None:
    setattr(row, f"{target.value}_{what}", value)


def target_minutes(policy: SlaPolicy, target: Target) -> int | None:
    minutes: int | None = getattr(policy, f"{target.value}_minutes")
    return minutes


def _start(row: ConversationSla, target: Target) -> tuple[datetime, int] | None:
    """When the target's clock started, and the paused seconds that count against it."""
    if target is Target.next_response:
        if row.next_response_started_at is None:
            return None
        return row.next_response_started_at, row.paused_seconds - row.next_response_paused_base
    return row.started_at, row.paused_seconds


def _running(row: ConversationSla, policy: SlaPolicy, target: Target) -> bool:
    """The target is measured, its clock started and it is not met yet (paused or not)."""
    return (
        target_minutes(policy, target) is not None
        and _start(row, target) is not None
        and _get(row, target, "met_at") is None
    )


def _warn_at(row: ConversationSla, policy: SlaPolicy, target: Target, clock: Clock) -> datetime | None:
    minutes, started = target_minutes(policy, target), _start(row, target)
    if not policy.warn_percent or minutes is None or started is None:
        return None
    start, paused = started
    return clock.add(start, minutes * 60 * policy.warn_percent / 100 + paused)


def _compute_dues(row: ConversationSla, policy: SlaPolicy, clock: Clock) -> None:
    for target in Target:
        if _get(row, target, "met_at") is not None:
            continue  # kept as it was when met
        minutes, started = target_minutes(policy, target), _start(row, target)
        if minutes is None or started is None:
            _set(row, target, "due_at", None)
            continue
        start, paused = started
        _set(row, target, "due_at", clock.add(start, minutes * 60 + paused))


def _schedule(row: ConversationSla, policy: SlaPolicy, clock: Clock) -> None:
    """``next_check_at``: the next warning or due time of a running, unpaused target."""
    moments: list[datetime] = []
    if row.paused_since is None:
        for target in Target:
            due = _get(row, target, "due_at")
            if not _running(row, policy, target) or due is None or _get(row, target, "breached_at"):
                continue
            moments.append(due)
            if _get(row, target, "warned_at") is None:
                warn = _warn_at(row, policy, target, clock)
                if warn is not None:
                    moments.append(warn)
    row.next_check_at = min(moments) if moments else None


def _summary(
    row: ConversationSla | None, policy: SlaPolicy | None, status: str
) -> tuple[datetime | None, str]:
    """(sla_due_at, sla_state) as the inbox shows them."""
    if row is None or policy is None:
        return None, SlaState.none.value
    if status in _DONE:
        return None, SlaState.idle.value
    running = [t for t in Target if _running(row, policy, t)]
    breached = any(_get(row, t, "breached_at") is not None for t in running)
    dues = [due for t in running if (due := _get(row, t, "due_at")) is not None]
    if row.paused_since is not None or not dues:
        return None, (SlaState.breached if breached else SlaState.idle).value
    if breached:
        state = SlaState.breached
    elif any(_get(row, t, "warned_at") is not None for t in running):
        state = SlaState.warning
    else:
        state = SlaState.ok
    return min(dues), state.value


def _show(conversation: Conversation, due: datetime | None, state: str) -> None:
    if conversation.sla_due_at != due:
        conversation.sla_due_at = due
    if conversation.sla_state != state:
        conversation.sla_state = state


async def _lock_conversation(session: AsyncSession, conversation_id: int) -> Conversation:
    """The conversation, current and locked until the transaction ends (SQLite: the write lock)."""
    conversation = await session.scalar(
        select(Conversation)
        .where(Conversation.id == conversation_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


async def _clocks_row(session: AsyncSession, conversation_id: int) -> ConversationSla | None:
    return await session.scalar(
        select(ConversationSla)
        .where(ConversationSla.conversation_id == conversation_id)
        .execution_options(populate_existing=True)
    )


@dataclass
class _Synced:
    conversation: Conversation
    row: ConversationSla
    policy: SlaPolicy
    clock: Clock


async def _next_response(
    session: AsyncSession, row: ConversationSla, conversation: Conversation, clock: Clock
) -> None:
    """Start a new next-response clock at the first customer message after the last agent reply,
    or mark the running one met by the agent reply that followed it — read from the messages, so
    handlers that run late or out of order come to the same answer."""
    if conversation.first_response_at is None:
        return
    agent = (
        Message.conversation_id == conversation.id,
        Message.author_kind == AuthorKind.agent.value,
        Message.is_note.is_(False),
    )
    last_agent = await session.scalar(select(func.max(Message.created_at)).where(*agent))
    if last_agent is None:
        return
    waiting_since = await session.scalar(
        select(func.min(Message.created_at)).where(
            Message.conversation_id == conversation.id,
            Message.author_kind == AuthorKind.customer.value,
            Message.created_at > last_agent,
        )
    )
    started = row.next_response_started_at
    if waiting_since is not None:
        if started == waiting_since and row.next_response_met_at is None:
            return  # this clock runs already
        base = row.paused_seconds
        if row.paused_since is not None and row.paused_since < waiting_since:
            base += round(clock.between(row.paused_since, waiting_since))
        row.next_response_started_at = waiting_since
        row.next_response_paused_base = base
        for what in ("due_at", "warned_at", "breached_at", "met_at"):
            _set(row, Target.next_response, what, None)
    elif started is not None and row.next_response_met_at is None:
        reply = await session.scalar(
            select(func.min(Message.created_at)).where(*agent, Message.created_at >= started)
        )
        row.next_response_met_at = reply or last_agent


async def _sync(session: AsyncSession, conversation_id: int, now: datetime, clocks: Clocks) -> _Synced | None:
    conversation = await _lock_conversation(session, conversation_id)
    tier = await session.scalar(select(Contact.tier).where(Contact.id == conversation.contact_id))
    policy = await match_policy(
        session,
        tier=tier,
        priority=conversation.priority,
        category_id=conversation.category_id,
        channel=conversation.channel,
    )
    row = await _clocks_row(session, conversation_id)
    if policy is None:
        if row is not None:
            await session.delete(row)
        _show(conversation, None, SlaState.none.value)
        return None
    clock = await clocks.of(session, policy)
    switched = False
    if row is None:
        row = ConversationSla(
            conversation_id=conversation_id,
            policy_id=policy.id,
            started_at=conversation.created_at,
            paused_since=None,
            paused_seconds=0,
            next_response_paused_base=0,
            updated_at=now,
        )
        session.add(row)
    elif row.policy_id != policy.id:
        row.policy_id = policy.id
        switched = True
    # Paused while not open; the business time spent paused moves the due times back.
    if conversation.status != _RUNNING and row.paused_since is None:
        row.paused_since = now
    elif conversation.status == _RUNNING and row.paused_since is not None:
        row.paused_seconds += max(0, round(clock.between(row.paused_since, now)))
        row.paused_since = None
    if row.first_response_met_at is None and conversation.first_response_at is not None:
        row.first_response_met_at = conversation.first_response_at
    if policy.next_response_minutes is not None or row.next_response_started_at is not None:
        await _next_response(session, row, conversation, clock)
    if conversation.status in _DONE:
        if row.resolution_met_at is None:
            row.resolution_met_at = conversation.resolved_at or now
    elif row.resolution_met_at is not None:
        row.resolution_met_at = None  # reopened: the clock goes on with the time it had left
    _compute_dues(row, policy, clock)
    if switched:  # what the new policy no longer counts as late is not late
        for target in Target:
            due = _get(row, target, "due_at")
            if _running(row, policy, target) and due is not None and due > now:
                _set(row, target, "breached_at", None)
                warn = _warn_at(row, policy, target, clock)
                if warn is None or warn > now:
                    _set(row, target, "warned_at", None)
    _schedule(row, policy, clock)
    row.updated_at = now
    _show(conversation, *_summary(row, policy, conversation.status))
    return _Synced(conversation, row, policy, clock)


async def sync_clocks(
    session: AsyncSession, conversation_id: int, *, now: datetime | None = None, clocks: Clocks | None = None
) -> ConversationSla | None:
    """Bring one conversation's clocks in line with its state; None when no policy applies.

    Takes the conversation's row lock. Idempotent: calling it again changes nothing.
    """
    synced = await _sync(session, conversation_id, now or utcnow(), clocks or Clocks())
    return synced.row if synced else None


async def start_missing_clocks(
    session: AsyncSession, *, now: datetime | None = None, limit: int = 1000
) -> int:
    """Start the clocks of active conversations that have none (after policies are first created)."""
    missing = await session.scalars(
        select(Conversation.id)
        .outerjoin(ConversationSla, ConversationSla.conversation_id == Conversation.id)
        .where(
            ConversationSla.conversation_id.is_(None),
            Conversation.status.in_([Status.open.value, Status.pending.value, Status.snoozed.value]),
        )
        .order_by(Conversation.id)
        .limit(limit)
    )
    clocks, started = Clocks(), 0
    for conversation_id in list(missing):
        if await sync_clocks(session, conversation_id, now=now, clocks=clocks) is not None:
            started += 1
    return started


# -- warnings, breaches, escalation ----------------------------------------------------------------
@dataclass
class CheckResult:
    warned: list[tuple[int, str]] = field(default_factory=list)  # (conversation id, target)
    breached: list[tuple[int, str]] = field(default_factory=list)


def _overdue_text(number: str, target: Target) -> str:
    return gettext(
        "%(number)s: %(target)s is overdue (SLA)", number=number, target=gettext(TARGET_LABELS[target])
    )


async def _escalate(session: AsyncSession, synced: _Synced, target: Target) -> list[str]:
    """Run the policy's escalation actions for one breached target; each acted one is audited."""
    conversation, policy = synced.conversation, synced.policy
    flags = policy.escalation or {}
    number = display_number(conversation.id)
    done: list[str] = []

    def audit(action: Escalation, **details: Any) -> None:
        done.append(action.value)
        record_audit(
            session,
            SYSTEM,
            "sla.escalated",
            target_type="conversation",
            target_id=conversation.id,
            target_label=number,
            escalation=action.value,
            target=target.value,
            policy_id=policy.id,
            **details,
        )

    if flags.get(Escalation.notify_supervisors.value):
        supervisors = list(
            await session.scalars(
                select(User.id)
                .where(User.role == Role.supervisor.value, User.is_active.is_(True))
                .order_by(User.id)
            )
        )
        for user_id in supervisors:
            await create_notification(
                session,
                user_id=user_id,
                kind="sla_breached",
                conversation_id=conversation.id,
                text=_overdue_text(number, target),
            )
        if supervisors:
            audit(Escalation.notify_supervisors, user_ids=supervisors)
    if flags.get(Escalation.raise_priority.value):
        current = Priority(conversation.priority)
        step = _PRIORITY_STEPS.index(current)
        if step + 1 < len(_PRIORITY_STEPS):
            higher = _PRIORITY_STEPS[step + 1]
            await update_conversation(session, conversation.id, actor=SYSTEM, priority=higher)
            audit(Escalation.raise_priority, previous=current.value, priority=higher.value)
    if (
        flags.get(Escalation.reassign.value)
        and conversation.queue_id is not None
        and conversation.assignee_id is not None
    ):
        previous = conversation.assignee_id
        await assign_conversation(
            session, conversation.id, None, actor=SYSTEM, note=f"SLA: {target.value} overdue"
        )
        audit(Escalation.reassign, previous_assignee_id=previous, queue_id=conversation.queue_id)
    return done


async def check_conversation(
    session: AsyncSession, conversation_id: int, *, now: datetime | None = None, clocks: Clocks | None = None
) -> CheckResult:
    """Judge one conversation's clocks at ``now``: warn and breach what is due, once per target."""
    now = now or utcnow()
    result = CheckResult()
    synced = await _sync(session, conversation_id, now, clocks or Clocks())
    if synced is None or synced.row.paused_since is not None:
        return result
    row, policy, conversation = synced.row, synced.policy, synced.conversation
    number = display_number(conversation_id)
    for target in Target:
        due = _get(row, target, "due_at")
        if not _running(row, policy, target) or due is None or _get(row, target, "breached_at"):
            continue
        if due <= now:
            _set(row, target, "breached_at", now)
            actions = await _escalate(session, synced, target)
            record_event(
                session, SlaBreached(conversation_id, number, target.value, due, policy.id, tuple(actions))
            )
            result.breached.append((conversation_id, target.value))
            continue
        warn = _warn_at(row, policy, target, synced.clock)
        if _get(row, target, "warned_at") is None and warn is not None and warn <= now:
            _set(row, target, "warned_at", now)
            if conversation.assignee_id is not None:
                await create_notification(
                    session,
                    user_id=conversation.assignee_id,
                    kind="sla_warning",
                    conversation_id=conversation_id,
                    text=gettext(
                        "%(number)s: %(target)s is due soon (SLA)",
                        number=number,
                        target=gettext(TARGET_LABELS[target]),
                    ),
                )
            record_event(session, SlaWarning(conversation_id, number, target.value, due, policy.id))
            result.warned.append((conversation_id, target.value))
    if result.warned or result.breached:
        _schedule(row, policy, synced.clock)
        row.updated_at = now
        _show(conversation, *_summary(row, policy, conversation.status))
    return result


async def run_checks(db: Database, *, now: datetime | None = None, limit: int = CHECK_BATCH) -> CheckResult:
    """The minute job: every conversation whose next warning or due time has come, each in its
    own transaction (a failing one does not stop the others)."""
    now = now or utcnow()
    async with db.reader() as session:
        due = list(
            await session.scalars(
                select(ConversationSla.conversation_id)
                .where(ConversationSla.next_check_at <= now, ConversationSla.paused_since.is_(None))
                .order_by(ConversationSla.next_check_at)
                .limit(limit)
            )
        )
    total, clocks = CheckResult(), Clocks()
    for conversation_id in due:
        try:
            async with db.transaction() as session:
                found = await check_conversation(session, conversation_id, now=now, clocks=clocks)
        except NotFound:
            continue
        except Exception:
            log.exception("checking the SLA of conversation %s failed", conversation_id)
            continue
        total.warned += found.warned
        total.breached += found.breached
    if total.warned or total.breached:
        log.info("SLA: %d warning(s), %d breach(es)", len(total.warned), len(total.breached))
    return total


@job("routing.sla", max_attempts=1, timeout=55.0)
async def sla_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    await run_checks(ctx.db)


# -- what a conversation's clocks say ------------------------------------------------------------
@dataclass(frozen=True)
class TargetView:
    target: str
    minutes: int | None
    state: str  # not_started, running, warning, paused, breached, met
    started_at: datetime | None
    due_at: datetime | None
    warned_at: datetime | None
    breached_at: datetime | None
    met_at: datetime | None
    remaining_seconds: float | None  # business seconds left (negative: late); frozen while paused


@dataclass(frozen=True)
class SlaView:
    conversation_id: int
    policy_id: int | None
    policy_name: str | None
    paused: bool
    paused_since: datetime | None
    due_at: datetime | None
    state: str
    targets: tuple[TargetView, ...] = ()


async def conversation_sla(
    session: AsyncSession, conversation_id: int, *, now: datetime | None = None
) -> SlaView:
    """The clocks of one conversation as people and the API read them (no write)."""
    now = now or utcnow()
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound("No such conversation.")
    row = await session.get(ConversationSla, conversation_id)
    policy = await session.get(SlaPolicy, row.policy_id) if row is not None else None
    if row is None or policy is None:
        return SlaView(conversation_id, None, None, False, None, None, SlaState.none.value)
    clock = await Clocks().of(session, policy)
    views: list[TargetView] = []
    for target in Target:
        minutes = target_minutes(policy, target)
        if minutes is None:
            continue
        started = _start(row, target)
        due, met = _get(row, target, "due_at"), _get(row, target, "met_at")
        remaining: float | None = None
        if met is not None:
            state = "met"
        elif started is None:
            state = "not_started"
        else:
            if due is not None:
                remaining = clock.between(row.paused_since or now, due)
            if _get(row, target, "breached_at") is not None or (remaining is not None and remaining < 0):
                state = "breached"
            elif row.paused_since is not None:
                state = "paused"
            elif _get(row, target, "warned_at") is not None:
                state = "warning"
            else:
                state = "running"
        views.append(
            TargetView(
                target=target.value,
                minutes=minutes,
                state=state,
                started_at=started[0] if started else None,
                due_at=due,
                warned_at=_get(row, target, "warned_at"),
                breached_at=_get(row, target, "breached_at"),
                met_at=met,
                remaining_seconds=remaining,
            )
        )
    due_at, state = _summary(row, policy, conversation.status)
    return SlaView(
        conversation_id,
        policy.id,
        policy.name,
        row.paused_since is not None,
        row.paused_since,
        due_at,
        state,
        tuple(views),
    )


# -- wiring ----------------------------------------------------------------------------------------
async def _message_matters(db: Database, event: MessagePosted) -> bool:
    """Whether a message can move a clock (a cheap read first: most messages change nothing)."""
    if event.is_note or event.author_kind not in {AuthorKind.agent.value, AuthorKind.customer.value}:
        return False
    if not event.sla_state:  # the conversation has no clocks: nothing to read (the chat hot path)
        return False
    async with db.reader() as session:
        row = await session.get(ConversationSla, event.conversation_id)
        if row is None:
            return False
        if event.author_kind == AuthorKind.agent.value:
            return row.first_response_met_at is None or (
                row.next_response_started_at is not None and row.next_response_met_at is None
            )
        policy = await session.get(SlaPolicy, row.policy_id)
        return (
            policy is not None
            and policy.next_response_minutes is not None
            and row.first_response_met_at is not None
            and (row.next_response_started_at is None or row.next_response_met_at is not None)
        )


async def _any_active_policy(db: Database) -> bool:
    async with db.reader() as session:
        found = await session.scalar(select(SlaPolicy.id).where(SlaPolicy.is_active.is_(True)).limit(1))
        return found is not None


async def _has_clocks(db: Database, conversation_id: int) -> bool:
    async with db.reader() as session:
        return (await session.get(ConversationSla, conversation_id)) is not None


_MATCHED_BY = frozenset({"priority", "category_id"})


def register(kernel: Kernel) -> None:
    """The minute job and the event handlers that keep the clocks. Registering twice is harmless."""
    if kernel.jobs.get(sla_job.name) is not None:
        return
    kernel.jobs.every("* * * * *", sla_job)
    db = kernel.db

    async def sync(conversation_id: int) -> None:
        try:
            async with db.transaction() as session:
                await sync_clocks(session, conversation_id)
        except NotFound:
            return
        except Exception:
            log.exception("SLA clocks of conversation %s failed", conversation_id)

    async def on_opened(event: ConversationOpened) -> None:
        if await _any_active_policy(db):
            await sync(event.conversation_id)

    async def on_message(event: MessagePosted) -> None:
        if await _message_matters(db, event):
            await sync(event.conversation_id)

    async def on_status(event: ConversationStatusChanged) -> None:
        if await _has_clocks(db, event.conversation_id):
            await sync(event.conversation_id)

    async def on_updated(event: ConversationUpdated) -> None:
        if not _MATCHED_BY & set(event.fields):
            return
        # Another policy may match now (or none, or one where none did).
        if await _has_clocks(db, event.conversation_id) or await _any_active_policy(db):
            await sync(event.conversation_id)

    kernel.dispatcher.subscribe(ConversationOpened, on_opened)
    kernel.dispatcher.subscribe(MessagePosted, on_message)
    kernel.dispatcher.subscribe(ConversationStatusChanged, on_status)
    kernel.dispatcher.subscribe(ConversationUpdated, on_updated)


# -- demo ------------------------------------------------------------------------------------------
async def seed_sla(session: AsyncSession, actor: Actor) -> list[SlaPolicy]:
    """The demo's policies (VIP, complaints 投诉, everyone else), then clocks for the active
    conversations already there. Call it after the conversations demo."""
    await ensure_builtin_categories(session)
    complaint = [c.id for c in await list_categories(session, include_inactive=True) if c.key == "complaint"]
    tiers = set(await session.scalars(select(CustomerTier.key)))
    policies = []
    if "vip" in tiers:
        policies.append(
            await create_policy(
                session,
                actor,
                name="VIP 客户",
                tiers=["vip"],
                first_response_minutes=2,
                next_response_minutes=5,
                resolution_minutes=240,
                escalation={"notify_supervisors": True, "raise_priority": True},
            )
        )
    if complaint:
        policies.append(
            await create_policy(
                session,
                actor,
                name="投诉",
                category_ids=complaint,
                first_response_minutes=10,
                next_response_minutes=30,
                resolution_minutes=480,  # one business day of the demo's 9:00–18:00 (lunch off)
                escalation={"notify_supervisors": True, "reassign": True},
            )
        )
    policies.append(
        await create_policy(
            session,
            actor,
            name="标准服务",
            first_response_minutes=30,
            next_response_minutes=60,
            resolution_minutes=1440,
        )
    )
    await start_missing_clocks(session)
    return policies
