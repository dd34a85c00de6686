"""HTML pages of routing: the supervisor's live view of everyone's presence."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kefu.accounts import Permission, Principal, require
from kefu.platform.kernel import KernelDep
from kefu.routing import queries
from kefu.routing.rules import PRESENCE_LABELS, PresenceState

router = APIRouter(include_in_schema=False)

ViewPresence = Annotated[Principal, Depends(require(Permission.presence_view))]

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
