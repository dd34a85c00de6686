"""HTML pages of routing: the supervisor's live view of everyone's presence, and the staffing calculator."""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kefu.accounts import Permission, Principal, require
from kefu.conversations import escalate_conversation, get_conversation
from kefu.platform.api import MAX_ID
from kefu.platform.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from kefu.platform.kernel import KernelDep
from kefu.platform.web import Form, field_errors
from kefu.routing import erlang, queries
from kefu.routing.rules import PRESENCE_LABELS, PresenceState

router = APIRouter(include_in_schema=False)

ViewPresence = Annotated[Principal, Depends(require(Permission.presence_view))]
ViewStaffing = Annotated[Principal, Depends(require(Permission.staffing_view))]

STATE_BADGES: dict[PresenceState, str] = {
    PresenceState.online: "status-done",
    PresenceState.busy: "status-dead",
    PresenceState.away: "",
    PresenceState.after_call: "",
    PresenceState.offline: "muted",
}


def _partial(request: Request) -> bool:
    """An htmx refresh wants the table; a history restore (back button) wants the whole page."""
    return bool(request.headers.get("hx-request")) and not request.headers.get("hx-history-restore-request")


@router.get("/supervisor/presence")
async def presence_page(request: Request, kernel: KernelDep, principal: ViewPresence) -> Response:
    async with kernel.db.reader() as session:
        rows = await queries.list_presence(session)
    counts = {state: sum(1 for r in rows if r.state is state) for state in PresenceState}
    context = {
        "rows": rows,
        "counts": counts,
        "state_labels": PRESENCE_LABELS,
        "state_badges": STATE_BADGES,
        "states": list(PresenceState),
    }
    template = "routing/presence_table.html" if _partial(request) else "routing/presence.html"
    return await kernel.templates.render(request, template, context)


# -- the staffing calculator (Erlang C) ---------------------------------------------------------------
@dataclass(frozen=True)
class StaffingField:
    name: str  # the query parameter, as in GET /api/v1/staffing
    default: str
    required: bool = True
    percent: bool = False  # "80%" is read as 80


STAFFING_FIELDS = (
    StaffingField("contacts", ""),
    StaffingField("interval_minutes", "30"),
    StaffingField("aht_seconds", ""),
    StaffingField("service_level_percent", "80", percent=True),
    StaffingField("target_seconds", "20"),
    StaffingField("shrinkage_percent", "0", percent=True),
    StaffingField("max_occupancy_percent", "", required=False, percent=True),
)
MAX_FIELD_LENGTH = 40
TABLE_BEFORE, TABLE_AFTER = 4, 5


def parse_number(text: str, *, percent: bool = False) -> float:
    """A number as people type it: full-width digits, thousands separators, "80%" for percents."""
    cleaned = unicodedata.normalize("NFKC", text).strip().replace(",", "").replace(" ", "")
    if percent:
        cleaned = cleaned.removesuffix("%").strip()
    try:
        value = float(cleaned)
    except ValueError:
        raise InvalidInput("Enter a number.") from None
    if not math.isfinite(value):
        raise InvalidInput("Enter a number.")
    return value


def _staffing_form(params: dict[str, str]) -> tuple[dict[str, float | None], dict[str, str]]:
    """The numbers of the form, and the errors of the fields that could not be read."""
    numbers: dict[str, float | None] = {}
    errors: dict[str, str] = {}
    for spec in STAFFING_FIELDS:
        text = params[spec.name]
        if not text:
            if spec.required:
                errors.update(field_errors(InvalidInput("This field is required.", field=spec.name)))
            numbers[spec.name] = None
            continue
        try:
            numbers[spec.name] = parse_number(text, percent=spec.percent)
        except InvalidInput as exc:
            errors.update(field_errors(InvalidInput(exc.message, field=spec.name)))
    return numbers, errors


def _plan(numbers: dict[str, float | None]) -> erlang.Staffing:
    def required(name: str) -> float:
        value = numbers[name]
        assert value is not None  # _staffing_form reported every missing required field
        return value

    return erlang.plan(
        contacts=required("contacts"),
        interval_minutes=required("interval_minutes"),
        aht_seconds=required("aht_seconds"),
        service_level_percent=required("service_level_percent"),
        target_seconds=required("target_seconds"),
        shrinkage_percent=required("shrinkage_percent"),
        max_occupancy_percent=numbers["max_occupancy_percent"],
    )


@router.get("/supervisor/staffing")
async def staffing_page(request: Request, kernel: KernelDep, principal: ViewStaffing) -> Response:
    """How many agents an interval needs (Erlang C): a GET form, so an answer can be bookmarked."""
    query = request.query_params
    submitted = any(spec.name in query for spec in STAFFING_FIELDS)
    # A field left out of the address takes its default (as in the API); one sent empty stays empty.
    params = {
        spec.name: query.get(spec.name, spec.default).strip()[:MAX_FIELD_LENGTH] for spec in STAFFING_FIELDS
    }
    context: dict[str, Any] = {
        "params": params,
        "errors": {},
        "staffing": None,
        "rows": [],
        "finite": math.isfinite,
    }
    if not submitted:
        return await kernel.templates.render(request, "routing/staffing.html", context)
    numbers, errors = _staffing_form(params)
    if not errors:
        try:
            staffing = _plan(numbers)
        except InvalidInput as exc:
            names = {spec.name for spec in STAFFING_FIELDS}
            errors = {(key if key in names else "_form"): text for key, text in field_errors(exc).items()}
        else:
            context["staffing"] = staffing
            context["rows"] = erlang.table_for(staffing, before=TABLE_BEFORE, after=TABLE_AFTER)
    if errors:
        context["errors"] = errors
        return await kernel.templates.render(request, "routing/staffing.html", context, status_code=422)
    return await kernel.templates.render(request, "routing/staffing.html", context)


Reply = Annotated[Principal, Depends(require(Permission.conversations_reply))]


@router.post("/inbox/conversations/{conversation_id}/escalate")
async def escalate_submit(
    request: Request, kernel: KernelDep, principal: Reply, conversation_id: int
) -> Response:
    """Escalate from the conversation view: to a present supervisor of its queue (routing picks)."""
    if not 1 <= conversation_id <= MAX_ID:
        raise NotFound("No such item.")
    form = await Form.read(request)
    note = form.text("note", max_length=1000)
    url = f"/inbox/conversations/{conversation_id}"
    try:
        async with kernel.db.transaction() as session:
            conversation = await get_conversation(session, conversation_id)
            supervisor = await queries.pick_supervisor(session, conversation.queue_id)
            if supervisor is None:
                raise Conflict("There is no supervisor to escalate to.")
            await escalate_conversation(
                session,
                conversation_id,
                actor=principal.actor,
                actor_name=principal.name,
                supervisor_id=supervisor,
                note=note,
            )
    except (InvalidInput, Conflict, PermissionDenied, NotFound) as exc:
        return kernel.templates.redirect(url, message=exc.message, level="error", **exc.params)
    return kernel.templates.redirect(url, message="Escalated to a supervisor.")
