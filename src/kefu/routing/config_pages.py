"""HTML pages of the routing configuration under /admin/routing: skills, channels, tiers, agents, queues.

Every form is re-shown with its messages when the input is refused (422), never a 500.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from kefu.accounts import Permission, Principal, require
from kefu.calendars import list_calendars
from kefu.conversations import CHANNEL_LABELS, Channel
from kefu.platform.api import MAX_ID
from kefu.platform.errors import Conflict, InvalidInput, NotFound
from kefu.platform.i18n import N_, gettext
from kefu.platform.kernel import Kernel, KernelDep
from kefu.platform.web import Form, field_errors
from kefu.routing import config
from kefu.routing.engine import STRATEGY_LABELS, Strategy
from kefu.routing.models import CustomerTier, Skill
from kefu.routing.rules import (
    AFTER_HOURS_LABELS,
    DEFAULT_STICKY_SECONDS,
    MAX_LEVEL,
    MAX_WAIT_SETTING,
    MIN_LEVEL,
    SKILL_KIND_LABELS,
    AfterHours,
    SkillKind,
)

router = APIRouter(include_in_schema=False)

ManageRouting = Annotated[Principal, Depends(require(Permission.routing_manage))]

FORM_ERRORS = (InvalidInput, Conflict)
BASE = "/admin/routing"
TABS = (
    ("skills", N_("Skills"), BASE),
    ("channels", N_("Channels"), f"{BASE}/channels"),
    ("tiers", N_("Customer tiers"), f"{BASE}/tiers"),
    ("agents", N_("Agent skills and capacity"), f"{BASE}/agents"),
    ("queues", N_("Queues (技能组)"), f"{BASE}/queues"),
    ("sla", N_("SLA policies"), f"{BASE}/sla"),
)
LEVELS = list(range(MIN_LEVEL, MAX_LEVEL + 1))
_WHOLE_NUMBER = re.compile(r"^[-+]?\d{1,9}$")


def _id(value: int) -> int:
    if not 1 <= value <= MAX_ID:
        raise NotFound("No such item.")
    return value


class Numbers:
    """Whole numbers read from a form; the errors of the fields that could not be read."""

    def __init__(self, form: Form) -> None:
        self.form = form
        self.errors: dict[str, str] = {}

    def read(self, name: str, *, required: bool = True) -> int | None:
        text = unicodedata.normalize("NFKC", self.form.text(name, max_length=40)).strip()
        if not text:
            if required:
                self.errors.update(field_errors(InvalidInput("This field is required.", field=name)))
            return None
        if not _WHOLE_NUMBER.match(text):
            self.errors.update(field_errors(InvalidInput("Enter a whole number.", field=name)))
            return None
        return int(text)


def _level(form: Form, name: str) -> int | None:
    """A level select: "" (none) or 1–5; anything else reads as none."""
    value = form.text(name, max_length=2)
    return int(value) if value.isdigit() and MIN_LEVEL <= int(value) <= MAX_LEVEL else None


def _optional_id(form: Form, name: str) -> int | None:
    value = form.text(name, max_length=12).strip()
    return int(value) if value.isdigit() and 1 <= int(value) <= MAX_ID else None


def _prefixed(errors: Mapping[str, str], mapping: Mapping[str, str]) -> dict[str, str]:
    """Rename the service's field names (``skills.3``) to the form's (``skill_3``)."""
    renamed: dict[str, str] = {}
    for key, message in errors.items():
        for prefix, replacement in mapping.items():
            if key.startswith(prefix):
                key = replacement + key[len(prefix) :]
                break
        renamed[key] = message
    return renamed


async def _render(
    request: Request,
    kernel: Kernel,
    template: str,
    tab: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
) -> Response:
    values: dict[str, Any] = {
        "tabs": TABS,
        "current_tab": tab,
        "kind_labels": SKILL_KIND_LABELS,
        "channel_labels": CHANNEL_LABELS,
        "strategy_labels": STRATEGY_LABELS,
        "after_hours_labels": AFTER_HOURS_LABELS,
        "levels": LEVELS,
        "kinds_options": [(kind.value, gettext(SKILL_KIND_LABELS[kind])) for kind in SkillKind],
        "errors": {},
    }
    values.update(context)
    return await kernel.templates.render(request, template, values, status_code=status)


def _with_none(options: list[tuple[int, str]], none_label: str) -> list[tuple[str, str]]:
    return [("", gettext(none_label)), *((str(value), text) for value, text in options)]


def _channel_label(channel: str) -> str:
    try:
        return CHANNEL_LABELS[Channel(channel)]
    except ValueError:
        return channel


# -- skills ----------------------------------------------------------------------------------------
def _skill_values(form: Form) -> dict[str, str]:
    return {
        "name": form.text("name", max_length=200),
        "kind": form.text("kind", max_length=20),
        "description": form.text("description", max_length=1000),
    }


async def _skills_page(
    request: Request,
    kernel: Kernel,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    async with kernel.db.reader() as session:
        skills = await config.list_skills(session)
    context = {
        "skills": skills,
        "values": values or {"name": "", "kind": SkillKind.skill.value, "description": ""},
        "errors": errors or {},
    }
    return await _render(request, kernel, "routing/config_skills.html", "skills", context, status=status)


@router.get(BASE)
async def skills_page(request: Request, kernel: KernelDep, principal: ManageRouting) -> Response:
    return await _skills_page(request, kernel)


@router.post(f"{BASE}/skills")
async def skill_create(request: Request, kernel: KernelDep, principal: ManageRouting) -> Response:
    values = _skill_values(await Form.read(request))
    try:
        async with kernel.db.transaction() as session:
            skill = await config.create_skill(session, principal.actor, **values)
    except FORM_ERRORS as exc:
        return await _skills_page(request, kernel, values=values, errors=field_errors(exc), status=422)
    return kernel.templates.redirect(BASE, message="The skill %(name)s was added.", name=skill.name)


async def _skill_form(
    request: Request,
    kernel: Kernel,
    skill: Skill,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    context = {
        "skill": skill,
        "values": values or {"name": skill.name, "kind": skill.kind, "description": skill.description},
        "errors": errors or {},
    }
    return await _render(request, kernel, "routing/config_skill.html", "skills", context, status=status)


async def _load_skill(kernel: Kernel, skill_id: int) -> Skill:
    async with kernel.db.reader() as session:
        return await config.get_skill(session, skill_id)


@router.get(f"{BASE}/skills/{{skill_id}}")
async def skill_edit(
    request: Request, kernel: KernelDep, principal: ManageRouting, skill_id: int
) -> Response:
    return await _skill_form(request, kernel, await _load_skill(kernel, _id(skill_id)))


@router.post(f"{BASE}/skills/{{skill_id}}")
async def skill_update(
    request: Request, kernel: KernelDep, principal: ManageRouting, skill_id: int
) -> Response:
    skill_id = _id(skill_id)
    values = _skill_values(await Form.read(request))
    try:
        async with kernel.db.transaction() as session:
            await config.update_skill(session, principal.actor, skill_id, **values)
    except FORM_ERRORS as exc:
        skill = await _load_skill(kernel, skill_id)
        return await _skill_form(request, kernel, skill, values=values, errors=field_errors(exc), status=422)
    return kernel.templates.redirect(BASE, message="Saved.")


@router.post(f"{BASE}/skills/{{skill_id}}/delete")
async def skill_delete(
    request: Request, kernel: KernelDep, principal: ManageRouting, skill_id: int
) -> Response:
    async with kernel.db.transaction() as session:
        await config.delete_skill(session, principal.actor, _id(skill_id))
    return kernel.templates.redirect(BASE, message="The skill was deleted.")


# -- channels --------------------------------------------------------------------------------------
async def _channels_page(
    request: Request,
    kernel: Kernel,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    async with kernel.db.reader() as session:
        rows = await config.list_channel_settings(session)
    if values is None:
        values = {}
        for row in rows:
            values[f"capacity_{row.channel}"] = str(row.default_capacity)
            values[f"weight_{row.channel}"] = str(row.weight)
    context = {
        "rows": [(row.channel, _channel_label(row.channel)) for row in rows],
        "values": values,
        "errors": errors or {},
        "min_capacity": config.MIN_CAPACITY,
        "max_capacity": config.MAX_CAPACITY,
        "min_weight": config.MIN_WEIGHT,
        "max_weight": config.MAX_WEIGHT,
    }
    return await _render(request, kernel, "routing/config_channels.html", "channels", context, status=status)


@router.get(f"{BASE}/channels")
async def channels_page(request: Request, kernel: KernelDep, principal: ManageRouting) -> Response:
    return await _channels_page(request, kernel)


@router.post(f"{BASE}/channels")
async def channels_save(request: Request, kernel: KernelDep, principal: ManageRouting) -> Response:
    form = await Form.read(request)
    async with kernel.db.reader() as session:
        channels = [row.channel for row in await config.list_channel_settings(session)]
    numbers = Numbers(form)
    wanted: dict[str, tuple[int | None, int | None]] = {}
    values: dict[str, str] = {}
    for channel in channels:
        for prefix in ("capacity", "weight"):
            values[f"{prefix}_{channel}"] = form.text(f"{prefix}_{channel}", max_length=40)
        capacity = numbers.read(f"capacity_{channel}")
        weight = numbers.read(f"weight_{channel}")
        try:
            if capacity is not None:
                config.check_capacity(capacity, field=f"capacity_{channel}")
        except InvalidInput as exc:
            numbers.errors.update(field_errors(exc))
        try:
            if weight is not None:
                config.check_weight(weight, field=f"weight_{channel}")
        except InvalidInput as exc:
            numbers.errors.update(field_errors(exc))
        wanted[channel] = (capacity, weight)
    if not numbers.errors:
        try:
            async with kernel.db.transaction() as session:
                for channel, (capacity, weight) in wanted.items():
                    await config.update_channel_settings(
                        session, principal.actor, channel, default_capacity=capacity, weight=weight
                    )
        except FORM_ERRORS as exc:
            numbers.errors.update(field_errors(exc))
    if numbers.errors:
        return await _channels_page(request, kernel, values=values, errors=numbers.errors, status=422)
    return kernel.templates.redirect(f"{BASE}/channels", message="Saved.")


# -- tiers -----------------------------------------------------------------------------------------
def _tier_values(form: Form) -> dict[str, str]:
    return {
        "key": form.text("key", max_length=100),
        "name": form.text("name", max_length=200),
        "head_start_seconds": form.text("head_start_seconds", max_length=40),
        "dedicated_team_id": form.text("dedicated_team_id", max_length=12),
        "position": form.text("position", max_length=40),
        "is_default": "1" if form.flag("is_default") else "",
    }


def _tier_values_of(tier: CustomerTier) -> dict[str, str]:
    return {
        "key": tier.key,
        "name": tier.name,
        "head_start_seconds": str(tier.head_start_seconds),
        "dedicated_team_id": str(tier.dedicated_team_id or ""),
        "position": str(tier.position),
        "is_default": "1" if tier.is_default else "",
    }


NEW_TIER = {
    "key": "",
    "name": "",
    "head_start_seconds": "0",
    "dedicated_team_id": "",
    "position": "",
    "is_default": "",
}


async def _team_options(session: AsyncSession, *, exclude: int | None = None) -> list[tuple[int, str]]:
    return [(team_id, name) for team_id, name in await config.team_names(session) if team_id != exclude]


async def _tiers_page(
    request: Request,
    kernel: Kernel,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    async with kernel.db.reader() as session:
        tiers = await config.list_tiers(session)
        teams = await _team_options(session)
    context = {
        "tiers": tiers,
        "team_choices": _with_none(teams, N_("— none")),
        "team_names": dict(teams),
        "values": values or NEW_TIER,
        "errors": errors or {},
    }
    return await _render(request, kernel, "routing/config_tiers.html", "tiers", context, status=status)


@router.get(f"{BASE}/tiers")
async def tiers_page(request: Request, kernel: KernelDep, principal: ManageRouting) -> Response:
    return await _tiers_page(request, kernel)


@router.post(f"{BASE}/tiers")
async def tier_create(request: Request, kernel: KernelDep, principal: ManageRouting) -> Response:
    form = await Form.read(request)
    values = _tier_values(form)
    numbers = Numbers(form)
    head_start = numbers.read("head_start_seconds")
    position = numbers.read("position", required=False)
    if numbers.errors:
        return await _tiers_page(request, kernel, values=values, errors=numbers.errors, status=422)
    try:
        async with kernel.db.transaction() as session:
            tier = await config.create_tier(
                session,
                principal.actor,
                key=values["key"],
                name=values["name"],
                head_start_seconds=head_start or 0,
                dedicated_team_id=_optional_id(form, "dedicated_team_id"),
                position=position,
                is_default=bool(values["is_default"]),
            )
    except FORM_ERRORS as exc:
        return await _tiers_page(request, kernel, values=values, errors=field_errors(exc), status=422)
    return kernel.templates.redirect(f"{BASE}/tiers", message="The tier %(name)s was added.", name=tier.name)


async def _tier_form(
    request: Request,
    kernel: Kernel,
    tier: CustomerTier,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    async with kernel.db.reader() as session:
        teams = await _team_options(session)
    context = {
        "tier": tier,
        "team_choices": _with_none(teams, N_("— none")),
        "values": values or _tier_values_of(tier),
        "errors": errors or {},
    }
    return await _render(request, kernel, "routing/config_tier.html", "tiers", context, status=status)


async def _load_tier(kernel: Kernel, tier_id: int) -> CustomerTier:
    async with kernel.db.reader() as session:
        return await config.get_tier(session, tier_id)


@router.get(f"{BASE}/tiers/{{tier_id}}")
async def tier_edit(request: Request, kernel: KernelDep, principal: ManageRouting, tier_id: int) -> Response:
    return await _tier_form(request, kernel, await _load_tier(kernel, _id(tier_id)))


@router.post(f"{BASE}/tiers/{{tier_id}}")
async def tier_update(
    request: Request, kernel: KernelDep, principal: ManageRouting, tier_id: int
) -> Response:
    tier_id = _id(tier_id)
    form = await Form.read(request)
    values = _tier_values(form)
    numbers = Numbers(form)
    head_start = numbers.read("head_start_seconds")
    position = numbers.read("position")
    errors = numbers.errors
    if not errors:
        try:
            async with kernel.db.transaction() as session:
                await config.update_tier(
                    session,
                    principal.actor,
                    tier_id,
                    key=values["key"],
                    name=values["name"],
                    head_start_seconds=head_start,
                    dedicated_team_id=_optional_id(form, "dedicated_team_id"),
                    position=position,
                    is_default=bool(values["is_default"]),
                )
        except FORM_ERRORS as exc:
            errors = field_errors(exc)
    if errors:
        tier = await _load_tier(kernel, tier_id)
        return await _tier_form(request, kernel, tier, values=values, errors=errors, status=422)
    return kernel.templates.redirect(f"{BASE}/tiers", message="Saved.")


@router.post(f"{BASE}/tiers/{{tier_id}}/default")
async def tier_make_default(
    request: Request, kernel: KernelDep, principal: ManageRouting, tier_id: int
) -> Response:
    async with kernel.db.transaction() as session:
        tier = await config.update_tier(session, principal.actor, _id(tier_id), is_default=True)
    return kernel.templates.redirect(
        f"{BASE}/tiers", message="%(name)s is now the default tier.", name=tier.name
    )


@router.post(f"{BASE}/tiers/{{tier_id}}/delete")
async def tier_delete(
    request: Request, kernel: KernelDep, principal: ManageRouting, tier_id: int
) -> Response:
    tier_id = _id(tier_id)
    try:
        async with kernel.db.transaction() as session:
            await config.delete_tier(session, principal.actor, tier_id)
    except Conflict as exc:
        return kernel.templates.redirect(f"{BASE}/tiers/{tier_id}", message=exc.message, level="error")
    return kernel.templates.redirect(f"{BASE}/tiers", message="The tier was deleted.")


# -- agents ----------------------------------------------------------------------------------------
@router.get(f"{BASE}/agents")
async def agents_page(request: Request, kernel: KernelDep, principal: ManageRouting) -> Response:
    async with kernel.db.reader() as session:
        agents = await config.list_agent_routing(session)
        channels = [row.channel for row in await config.list_channel_settings(session)]
    context = {
        "agents": agents,
        "channels": [(channel, _channel_label(channel)) for channel in channels],
    }
    return await _render(request, kernel, "routing/config_agents.html", "agents", context)


async def _agent_form(
    request: Request,
    kernel: Kernel,
    user_id: int,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    async with kernel.db.reader() as session:
        agent = await config.get_agent_routing(session, user_id)
        skills = await config.list_skills(session)
        channels = await config.list_channel_settings(session)
    if values is None:
        values = {f"skill_{s.skill_id}": str(s.level) for s in agent.skills}
        values.update({f"capacity_{channel}": str(n) for channel, n in agent.overrides.items()})
    context = {
        "agent": agent,
        "skills": skills,
        "channels": [(row.channel, _channel_label(row.channel), row.default_capacity) for row in channels],
        "values": values,
        "errors": errors or {},
    }
    return await _render(request, kernel, "routing/config_agent.html", "agents", context, status=status)


@router.get(f"{BASE}/agents/{{user_id}}")
async def agent_edit(request: Request, kernel: KernelDep, principal: ManageRouting, user_id: int) -> Response:
    return await _agent_form(request, kernel, _id(user_id))


@router.post(f"{BASE}/agents/{{user_id}}")
async def agent_update(
    request: Request, kernel: KernelDep, principal: ManageRouting, user_id: int
) -> Response:
    user_id = _id(user_id)
    form = await Form.read(request)
    async with kernel.db.reader() as session:
        skills = await config.list_skills(session)
        channels = [row.channel for row in await config.list_channel_settings(session)]
    values: dict[str, str] = {}
    levels: dict[int, int] = {}
    for skill in skills:
        level = _level(form, f"skill_{skill.id}")
        if level is not None:
            levels[skill.id] = level
            values[f"skill_{skill.id}"] = str(level)
    numbers = Numbers(form)
    capacity: dict[str, int | None] = {}
    for channel in channels:
        values[f"capacity_{channel}"] = form.text(f"capacity_{channel}", max_length=40)
        capacity[channel] = numbers.read(f"capacity_{channel}", required=False)
    errors = numbers.errors
    if not errors:
        try:
            async with kernel.db.transaction() as session:
                await config.set_agent_skills(session, principal.actor, user_id, levels)
                await config.set_agent_capacity(session, principal.actor, user_id, capacity)
        except FORM_ERRORS as exc:
            errors = _prefixed(field_errors(exc), {"skills.": "skill_", "capacity.": "capacity_"})
    if errors:
        return await _agent_form(request, kernel, user_id, values=values, errors=errors, status=422)
    return kernel.templates.redirect(f"{BASE}/agents", message="Saved.")


# -- queues ----------------------------------------------------------------------------------------
@router.get(f"{BASE}/queues")
async def queues_page(request: Request, kernel: KernelDep, principal: ManageRouting) -> Response:
    async with kernel.db.reader() as session:
        queues = await config.list_queue_settings(session)
        skills = {s.id: s.name for s in await config.list_skills(session)}
        calendars = {c.id: c.name for c in await list_calendars(session)}
    context = {
        "queues": queues,
        "team_names": {team.id: team.name for team, _ in queues},
        "skill_names": skills,
        "calendar_names": calendars,
    }
    return await _render(request, kernel, "routing/config_queues.html", "queues", context)


def _queue_values_of(queue: config.QueueConfig) -> dict[str, str]:
    values = {
        "strategy": queue.strategy.value,
        "prefer_levels": "1" if queue.prefer_levels else "",
        "overflow_team_id": str(queue.overflow_team_id or ""),
        "overflow_after_seconds": ""
        if queue.overflow_after_seconds is None
        else str(queue.overflow_after_seconds),
        "sticky_seconds": str(queue.sticky_seconds),
        "calendar_id": str(queue.calendar_id or ""),
        "after_hours": queue.after_hours.value,
        "after_hours_team_id": str(queue.after_hours_team_id or ""),
    }
    values.update({f"skill_{skill_id}": str(level) for skill_id, level in queue.skills.items()})
    return values


async def _queue_form(
    request: Request,
    kernel: Kernel,
    team_id: int,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    async with kernel.db.reader() as session:
        team = await config.get_team(session, team_id)
        queue = await config.get_queue_settings(session, team_id)
        skills = await config.list_skills(session)
        teams = await _team_options(session, exclude=team_id)
        calendars = [(c.id, c.name) for c in await list_calendars(session)]
    context = {
        "team": team,
        "queue": queue,
        "skills": skills,
        "team_choices": _with_none(teams, N_("— none")),
        "calendar_choices": _with_none(calendars, N_("Always open")),
        "strategy_choices": [(s.value, gettext(STRATEGY_LABELS[s])) for s in Strategy],
        "after_hours_choices": [(a.value, gettext(AFTER_HOURS_LABELS[a])) for a in AfterHours],
        "values": values or _queue_values_of(queue),
        "errors": errors or {},
        "max_wait": MAX_WAIT_SETTING,
    }
    return await _render(request, kernel, "routing/config_queue.html", "queues", context, status=status)


@router.get(f"{BASE}/queues/{{team_id}}")
async def queue_edit(request: Request, kernel: KernelDep, principal: ManageRouting, team_id: int) -> Response:
    return await _queue_form(request, kernel, _id(team_id))


@router.post(f"{BASE}/queues/{{team_id}}")
async def queue_update(
    request: Request, kernel: KernelDep, principal: ManageRouting, team_id: int
) -> Response:
    team_id = _id(team_id)
    form = await Form.read(request)
    async with kernel.db.reader() as session:
        skills = await config.list_skills(session)
    values = {
        name: form.text(name, max_length=40)
        for name in (
            "strategy",
            "overflow_team_id",
            "overflow_after_seconds",
            "sticky_seconds",
            "calendar_id",
            "after_hours",
            "after_hours_team_id",
        )
    }
    values["prefer_levels"] = "1" if form.flag("prefer_levels") else ""
    required: dict[int, int] = {}
    for skill in skills:
        level = _level(form, f"skill_{skill.id}")
        if level is not None:
            required[skill.id] = level
            values[f"skill_{skill.id}"] = str(level)
    numbers = Numbers(form)
    overflow_after = numbers.read("overflow_after_seconds", required=False)
    sticky = numbers.read("sticky_seconds")
    errors = numbers.errors
    if not errors:
        try:
            async with kernel.db.transaction() as session:
                await config.update_queue_settings(
                    session,
                    principal.actor,
                    team_id,
                    strategy=values["strategy"],
                    prefer_levels=bool(values["prefer_levels"]),
                    overflow_team_id=_optional_id(form, "overflow_team_id"),
                    overflow_after_seconds=overflow_after,
                    sticky_seconds=DEFAULT_STICKY_SECONDS if sticky is None else sticky,
                    calendar_id=_optional_id(form, "calendar_id"),
                    after_hours=values["after_hours"],
                    after_hours_team_id=_optional_id(form, "after_hours_team_id"),
                    skills=required,
                )
        except FORM_ERRORS as exc:
            errors = _prefixed(field_errors(exc), {"skills.": "skill_"})
    if errors:
        return await _queue_form(request, kernel, team_id, values=values, errors=errors, status=422)
    return kernel.templates.redirect(f"{BASE}/queues", message="Saved.")
