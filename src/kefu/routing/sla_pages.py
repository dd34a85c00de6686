"""HTML pages of SLA policies under /admin/routing/sla: the list with an add form, one policy's
edit form, delete. A refused form is shown again with its messages (422), never a 500."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kefu.accounts import Permission, Principal, require
from kefu.calendars import list_calendars
from kefu.conversations import CHANNEL_LABELS, PRIORITY_LABELS, list_categories
from kefu.platform.api import MAX_ID
from kefu.platform.errors import Conflict, InvalidInput, NotFound
from kefu.platform.i18n import gettext
from kefu.platform.kernel import Kernel, KernelDep
from kefu.platform.web import Form, field_errors
from kefu.routing import config_pages, sla
from kefu.routing.models import SlaPolicy

router = APIRouter(include_in_schema=False)

ManageRouting = Annotated[Principal, Depends(require(Permission.routing_manage))]

BASE = "/admin/routing/sla"
_WHOLE_NUMBER = re.compile(r"^\d{1,9}$")
_MINUTE_FIELDS = tuple(f"{t.value}_minutes" for t in sla.Target)


def _tabs() -> tuple[tuple[str, str, str], ...]:
    return tuple(config_pages.TABS)


def _id(value: int) -> int:
    if not 1 <= value <= MAX_ID:
        raise NotFound("No SLA policy with this id.")
    return value


def duration(minutes: int | None) -> str:
    """Business minutes, briefly: 30 min, 4 h, 1 h 30 min; — for no target."""
    if minutes is None:
        return "—"
    if minutes < 60:
        return gettext("%(n)s min", n=minutes)
    hours, rest = divmod(minutes, 60)
    if not rest:
        return gettext("%(n)s h", n=hours)
    return gettext("%(h)s h %(m)s min", h=hours, m=rest)


# -- reading the form ------------------------------------------------------------------------------
def _values_of(policy: SlaPolicy) -> dict[str, Any]:
    flags = policy.escalation or {}
    values: dict[str, Any] = {
        "name": policy.name,
        "position": str(policy.position),
        "is_active": policy.is_active,
        "tiers": list(policy.tiers),
        "priorities": list(policy.priorities),
        "category_ids": [str(c) for c in policy.category_ids],
        "channels": list(policy.channels),
        "calendar_id": str(policy.calendar_id or ""),
        "warn_percent": str(policy.warn_percent),
        "escalation": [e.value for e in sla.Escalation if flags.get(e.value)],
    }
    for name in _MINUTE_FIELDS:
        minutes = getattr(policy, name)
        values[name] = "" if minutes is None else str(minutes)
    return values


NEW_POLICY: dict[str, Any] = {
    "name": "",
    "position": "",
    "is_active": True,
    "tiers": [],
    "priorities": [],
    "category_ids": [],
    "channels": [],
    "first_response_minutes": "",
    "next_response_minutes": "",
    "resolution_minutes": "",
    "calendar_id": "",
    "warn_percent": str(sla.DEFAULT_WARN_PERCENT),
    "escalation": [],
}


def _read(form: Form) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """(what to show again, what to give the service, the errors of unreadable fields)."""
    shown: dict[str, Any] = {
        "name": form.text("name", max_length=200),
        "position": form.text("position", max_length=40),
        "is_active": form.flag("is_active"),
        "tiers": form.texts("tiers")[: sla.MAX_LIST + 1],
        "priorities": form.texts("priorities")[: sla.MAX_LIST + 1],
        "category_ids": form.texts("category_ids")[: sla.MAX_LIST + 1],
        "channels": form.texts("channels")[: sla.MAX_LIST + 1],
        "calendar_id": form.text("calendar_id", max_length=12).strip(),
        "warn_percent": form.text("warn_percent", max_length=40),
        "escalation": [e.value for e in sla.Escalation if form.flag(e.value)],
    }
    errors: dict[str, str] = {}

    def number(name: str, *, required: bool) -> int | None:
        text = unicodedata.normalize("NFKC", form.text(name, max_length=40)).strip()
        shown[name] = text
        if not text:
            if required:
                errors.update(field_errors(InvalidInput("This field is required.", field=name)))
            return None
        if not _WHOLE_NUMBER.match(text):
            errors.update(field_errors(InvalidInput("Enter a whole number.", field=name)))
            return None
        return int(text)

    given: dict[str, Any] = {
        "name": shown["name"],
        "position": number("position", required=False),
        "is_active": shown["is_active"],
        "tiers": shown["tiers"],
        "priorities": shown["priorities"],
        "channels": shown["channels"],
        "warn_percent": number("warn_percent", required=True),
        "escalation": {e.value: e.value in shown["escalation"] for e in sla.Escalation},
    }
    category_ids = []
    for raw in shown["category_ids"]:
        if not (raw.isdigit() and len(raw) < 10):
            errors.update(field_errors(InvalidInput("Choose categories that exist.", field="category_ids")))
            break
        category_ids.append(int(raw))
    given["category_ids"] = category_ids
    calendar = shown["calendar_id"]
    if calendar and not (calendar.isdigit() and len(calendar) < 10):
        errors.update(field_errors(InvalidInput("Choose business hours that exist.", field="calendar_id")))
    given["calendar_id"] = int(calendar) if calendar.isdigit() and len(calendar) < 10 else None
    for name in _MINUTE_FIELDS:
        given[name] = number(name, required=False)
    return shown, given, errors


# -- rendering -------------------------------------------------------------------------------------
def _category_label(category: Any) -> str:
    return gettext(category.name) if category.key else str(category.name)


async def _render(
    request: Request,
    kernel: Kernel,
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
) -> Response:
    async with kernel.db.reader() as session:
        tiers = await sla.tier_choices(session)
        categories = [
            (str(c.id), _category_label(c)) for c in await list_categories(session, include_inactive=True)
        ]
        calendars = [(str(c.id), c.name) for c in await list_calendars(session)]
    priorities = [(p.value, gettext(label)) for p, label in PRIORITY_LABELS.items()]
    channels = [(c.value, gettext(label)) for c, label in CHANNEL_LABELS.items()]
    names = {
        "tiers": dict(tiers),
        "priorities": dict(priorities),
        "category_ids": dict(categories),
        "channels": dict(channels),
    }

    def applies_to(policy: SlaPolicy) -> str:
        """What the policy matches, as one line ("" for everything)."""
        parts = [
            names[group].get(str(value), str(value))
            for group in ("tiers", "priorities", "category_ids", "channels")
            for value in getattr(policy, group)
        ]
        return " · ".join(parts)

    values: dict[str, Any] = {
        "tabs": _tabs(),
        "applies_to": applies_to,
        "current_tab": "sla",
        "tier_choices": tiers,
        "priority_choices": priorities,
        "category_choices": categories,
        "channel_choices": channels,
        "calendar_choices": [("", gettext("The workspace's default business hours")), *calendars],
        "calendar_names": dict(calendars),
        "escalation_choices": [(e.value, gettext(label)) for e, label in sla.ESCALATION_LABELS.items()],
        "target_fields": [(f"{t.value}_minutes", label) for t, label in sla.TARGET_LABELS.items()],
        "duration": duration,
        "errors": {},
    }
    values.update(context)
    return await kernel.templates.render(request, template, values, status_code=status)


async def _list_page(
    request: Request,
    kernel: Kernel,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    async with kernel.db.reader() as session:
        policies = await sla.list_policies(session)
    context = {"policies": policies, "values": values or NEW_POLICY, "errors": errors or {}}
    return await _render(request, kernel, "routing/sla_policies.html", context, status=status)


async def _edit_page(
    request: Request,
    kernel: Kernel,
    policy: SlaPolicy,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    context = {"policy": policy, "values": values or _values_of(policy), "errors": errors or {}}
    return await _render(request, kernel, "routing/sla_policy.html", context, status=status)


async def _load(kernel: Kernel, policy_id: int) -> SlaPolicy:
    async with kernel.db.reader() as session:
        return await sla.get_policy(session, policy_id)


# -- routes ----------------------------------------------------------------------------------------
@router.get(BASE)
async def policies_page(request: Request, kernel: KernelDep, principal: ManageRouting) -> Response:
    return await _list_page(request, kernel)


@router.post(BASE)
async def policy_create(request: Request, kernel: KernelDep, principal: ManageRouting) -> Response:
    shown, given, errors = _read(await Form.read(request))
    if not errors:
        try:
            async with kernel.db.transaction() as session:
                policy = await sla.create_policy(session, principal.actor, **given)
        except (InvalidInput, Conflict) as exc:
            errors = field_errors(exc)
    if errors:
        return await _list_page(request, kernel, values=shown, errors=errors, status=422)
    return kernel.templates.redirect(BASE, message="The SLA policy %(name)s was added.", name=policy.name)


@router.get(f"{BASE}/{{policy_id}}")
async def policy_edit(
    request: Request, kernel: KernelDep, principal: ManageRouting, policy_id: int
) -> Response:
    return await _edit_page(request, kernel, await _load(kernel, _id(policy_id)))


@router.post(f"{BASE}/{{policy_id}}")
async def policy_update(
    request: Request, kernel: KernelDep, principal: ManageRouting, policy_id: int
) -> Response:
    policy_id = _id(policy_id)
    shown, given, errors = _read(await Form.read(request))
    if given["position"] is None and not errors:
        errors = field_errors(InvalidInput("This field is required.", field="position"))
    if not errors:
        try:
            async with kernel.db.transaction() as session:
                await sla.update_policy(session, principal.actor, policy_id, **given)
        except (InvalidInput, Conflict) as exc:
            errors = field_errors(exc)
    if errors:
        policy = await _load(kernel, policy_id)
        return await _edit_page(request, kernel, policy, values=shown, errors=errors, status=422)
    return kernel.templates.redirect(BASE, message="Saved.")


@router.post(f"{BASE}/{{policy_id}}/delete")
async def policy_delete(
    request: Request, kernel: KernelDep, principal: ManageRouting, policy_id: int
) -> Response:
    async with kernel.db.transaction() as session:
        await sla.delete_policy(session, principal.actor, _id(policy_id))
    return kernel.templates.redirect(BASE, message="The SLA policy was deleted.")
