"""JSON API of routing: /api/v1/presence (one's own presence, heartbeats, everyone's),
/api/v1/staffing (the Erlang C staffing calculator) and escalation to a supervisor."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from kefu.accounts import Permission, Principal, require
from kefu.conversations import escalate_conversation, get_conversation
from kefu.platform.api import PathId, problems
from kefu.platform.errors import Conflict
from kefu.platform.kernel import KernelDep
from kefu.routing import erlang, queries, service
from kefu.routing.schemas import (
    EscalateBody,
    EscalationOut,
    MyPresenceOut,
    PresenceOut,
    PresenceUpdate,
    StaffingOut,
)

router = APIRouter(prefix="/api/v1", responses=problems(401, 403, 422))

ViewConversations = Annotated[Principal, Depends(require(Permission.conversations_view))]
Reply = Annotated[Principal, Depends(require(Permission.conversations_reply))]
ViewStaffing = Annotated[Principal, Depends(require(Permission.staffing_view))]


@router.get("/presence/me", response_model=MyPresenceOut, tags=["presence"], summary="My presence")
async def get_my_presence(kernel: KernelDep, principal: ViewConversations) -> MyPresenceOut:
    async with kernel.db.reader() as session:
        return MyPresenceOut.of(await queries.get_presence(session, principal.user_id))


@router.put(
    "/presence/me",
    response_model=MyPresenceOut,
    tags=["presence"],
    summary="Set my presence (在线/忙碌/离开…)",
)
async def put_my_presence(kernel: KernelDep, principal: Reply, body: PresenceUpdate) -> MyPresenceOut:
    async with kernel.db.transaction() as session:
        row = await service.set_presence(
            session,
            principal.user_id,
            body.state,
            status_message=body.status_message,
            automatic=body.automatic,
        )
        return MyPresenceOut.of(row)


@router.post(
    "/presence/heartbeat",
    status_code=204,
    tags=["presence"],
    summary="I am still here (every 30 s from each open tab; silence for 90 s means offline)",
)
async def heartbeat(kernel: KernelDep, principal: Reply) -> Response:
    async with kernel.db.transaction() as session:
        await service.record_heartbeat(session, principal.user_id)
    return Response(status_code=204)


@router.get(
    "/presence",
    response_model=list[PresenceOut],
    tags=["presence"],
    summary="Everyone's presence and workload",
)
async def list_presence(kernel: KernelDep, principal: ViewConversations) -> list[PresenceOut]:
    async with kernel.db.reader() as session:
        return [PresenceOut.of(row) for row in await queries.list_presence(session)]


@router.get(
    "/staffing",
    response_model=StaffingOut,
    tags=["staffing"],
    summary="Agents needed for an interval (Erlang C): service level, ASA, occupancy, shrinkage",
)
async def get_staffing(
    principal: ViewStaffing,
    contacts: Annotated[
        float,
        Query(ge=0, le=erlang.MAX_CONTACTS, allow_inf_nan=False, description="Contacts in the interval."),
    ],
    aht_seconds: Annotated[
        float,
        Query(gt=0, le=erlang.MAX_AHT_SECONDS, allow_inf_nan=False, description="Average handling time."),
    ],
    interval_minutes: Annotated[
        float, Query(gt=0, le=24 * 60, allow_inf_nan=False, description="Length of the interval.")
    ] = 30,
    service_level_percent: Annotated[
        float, Query(gt=0, lt=100, allow_inf_nan=False, description="Percent of contacts to answer in time.")
    ] = 80,
    target_seconds: Annotated[
        float,
        Query(
            ge=0, le=erlang.MAX_TARGET_SECONDS, allow_inf_nan=False, description="…within this many seconds."
        ),
    ] = 20,
    shrinkage_percent: Annotated[
        float,
        Query(
            ge=0, lt=100, allow_inf_nan=False, description="Percent of paid time agents are not available."
        ),
    ] = 0,
    max_occupancy_percent: Annotated[
        float | None,
        Query(
            gt=0, le=100, allow_inf_nan=False, description="Highest average occupancy allowed, in percent."
        ),
    ] = None,
) -> StaffingOut:
    """Pure computation (no data is read): the fewest agents that answer `service_level_percent` of
    `contacts` within `target_seconds`, and the figures of the agent counts around that answer.
    Figures in the answer are fractions (0.8 = 80 %)."""
    staffing = erlang.plan(
        contacts=contacts,
        interval_minutes=interval_minutes,
        aht_seconds=aht_seconds,
        service_level_percent=service_level_percent,
        target_seconds=target_seconds,
        shrinkage_percent=shrinkage_percent,
        max_occupancy_percent=max_occupancy_percent,
    )
    return StaffingOut.of(staffing, erlang.table_for(staffing))


@router.post(
    "/conversations/{conversation_id}/escalate",
    response_model=EscalationOut,
    responses=problems(404, 409),
    tags=["conversations"],
    summary="Escalate (升级) to a supervisor: transferred to them, priority raised one step",
)
async def escalate(
    kernel: KernelDep, principal: Reply, conversation_id: PathId, body: EscalateBody
) -> EscalationOut:
    async with kernel.db.transaction() as session:
        conversation = await get_conversation(session, conversation_id)
        supervisor = body.supervisor_id or await queries.pick_supervisor(session, conversation.queue_id)
        if supervisor is None:
            raise Conflict("There is no supervisor to escalate to.")
        escalated = await escalate_conversation(
            session,
            conversation_id,
            actor=principal.actor,
            actor_name=principal.name,
            supervisor_id=supervisor,
            note=body.note,
        )
        return EscalationOut(
            conversation_id=escalated.id, supervisor_id=supervisor, priority=escalated.priority
        )
