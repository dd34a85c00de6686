"""JSON API of routing: /api/v1/presence (one's own presence, heartbeats, everyone's)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from kefu.accounts import Permission, Principal, require
from kefu.platform.api import problems
from kefu.platform.kernel import KernelDep
from kefu.routing import queries, service
from kefu.routing.schemas import MyPresenceOut, PresenceOut, PresenceUpdate

router = APIRouter(prefix="/api/v1", tags=["presence"], responses=problems(401, 403, 422))

ViewConversations = Annotated[Principal, Depends(require(Permission.conversations_view))]
Reply = Annotated[Principal, Depends(require(Permission.conversations_reply))]


@router.get("/presence/me", response_model=MyPresenceOut, summary="My presence")
async def get_my_presence(kernel: KernelDep, principal: ViewConversations) -> MyPresenceOut:
    async with kernel.db.reader() as session:
        return MyPresenceOut.of(await queries.get_presence(session, principal.user_id))


@router.put("/presence/me", response_model=MyPresenceOut, summary="Set my presence (在线/忙碌/离开…)")
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
    summary="I am still here (every 30 s from each open tab; silence for 90 s means offline)",
)
async def heartbeat(kernel: KernelDep, principal: Reply) -> Response:
    async with kernel.db.transaction() as session:
        await service.record_heartbeat(session, principal.user_id)
    return Response(status_code=204)


@router.get("/presence", response_model=list[PresenceOut], summary="Everyone's presence and workload")
async def list_presence(kernel: KernelDep, principal: ViewConversations) -> list[PresenceOut]:
    async with kernel.db.reader() as session:
        return [PresenceOut.of(row) for row in await queries.list_presence(session)]
