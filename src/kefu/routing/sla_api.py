"""JSON API of SLA policies (/api/v1/routing/sla-policies) and of a conversation's SLA clocks
(/api/v1/conversations/{id}/sla). Reading policies needs ``teams.view``, changing them
``routing.manage``; a conversation's clocks need ``conversations.view``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from kefu.accounts import Permission, Principal, require
from kefu.platform.api import PathId, problems
from kefu.platform.kernel import KernelDep
from kefu.routing import sla
from kefu.routing.sla_schemas import ConversationSlaOut, SlaPolicyCreate, SlaPolicyOut, SlaPolicyUpdate

router = APIRouter(prefix="/api/v1", tags=["routing"], responses=problems(401, 403, 422))

ViewPolicies = Annotated[Principal, Depends(require(Permission.teams_view))]
ManagePolicies = Annotated[Principal, Depends(require(Permission.routing_manage))]
ViewConversations = Annotated[Principal, Depends(require(Permission.conversations_view))]
BASE = "/routing/sla-policies"


@router.get(BASE, response_model=list[SlaPolicyOut], summary="List SLA policies in the order they are tried")
async def list_policies(kernel: KernelDep, principal: ViewPolicies) -> list[SlaPolicyOut]:
    async with kernel.db.reader() as session:
        return [SlaPolicyOut.of(p) for p in await sla.list_policies(session)]


@router.post(
    BASE,
    response_model=SlaPolicyOut,
    status_code=201,
    responses=problems(409),
    summary="Create an SLA policy (承诺服务时限)",
)
async def create_policy(kernel: KernelDep, principal: ManagePolicies, body: SlaPolicyCreate) -> SlaPolicyOut:
    async with kernel.db.transaction() as session:
        policy = await sla.create_policy(session, principal.actor, **body.values())
        return SlaPolicyOut.of(policy)


@router.get(
    f"{BASE}/{{policy_id}}", response_model=SlaPolicyOut, responses=problems(404), summary="One SLA policy"
)
async def get_policy(kernel: KernelDep, principal: ViewPolicies, policy_id: PathId) -> SlaPolicyOut:
    async with kernel.db.reader() as session:
        return SlaPolicyOut.of(await sla.get_policy(session, policy_id))


@router.patch(
    f"{BASE}/{{policy_id}}",
    response_model=SlaPolicyOut,
    responses=problems(404, 409),
    summary="Change an SLA policy (only the fields sent)",
)
async def patch_policy(
    kernel: KernelDep, principal: ManagePolicies, policy_id: PathId, body: SlaPolicyUpdate
) -> SlaPolicyOut:
    async with kernel.db.transaction() as session:
        policy = await sla.update_policy(session, principal.actor, policy_id, **body.values())
        return SlaPolicyOut.of(policy)


@router.delete(
    f"{BASE}/{{policy_id}}",
    status_code=204,
    responses=problems(404),
    summary="Delete an SLA policy (the clocks it set stop)",
)
async def delete_policy(kernel: KernelDep, principal: ManagePolicies, policy_id: PathId) -> Response:
    async with kernel.db.transaction() as session:
        await sla.delete_policy(session, principal.actor, policy_id)
    return Response(status_code=204)


@router.get(
    "/conversations/{conversation_id}/sla",
    response_model=ConversationSlaOut,
    responses=problems(404),
    summary="A conversation's SLA targets: due, met, breached, business time left",
)
async def conversation_sla(
    kernel: KernelDep, principal: ViewConversations, conversation_id: PathId
) -> ConversationSlaOut:
    async with kernel.db.reader() as session:
        return ConversationSlaOut.of(await sla.conversation_sla(session, conversation_id))
