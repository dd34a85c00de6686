"""JSON API of the routing configuration: /api/v1/routing/{skills,agents,channels,queues,tiers} and
/api/v1/contacts/{id}/service. Reads need ``teams.view``; writes ``routing.manage`` — except a
contact's tier and dedicated agent, which any agent who replies may set (audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts import Permission, Principal, require
from kefu.conversations import Channel
from kefu.platform.api import PathId, problems
from kefu.platform.kernel import KernelDep
from kefu.routing import config
from kefu.routing.config_schemas import (
    AgentRoutingOut,
    AgentRoutingUpdate,
    ChannelOut,
    ChannelUpdate,
    ContactServiceOut,
    ContactServiceUpdate,
    QueueOut,
    QueueUpdate,
    SkillCreate,
    SkillOut,
    SkillUpdate,
    TierCreate,
    TierOut,
    TierUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["routing"], responses=problems(401, 403, 422))

ViewRouting = Annotated[Principal, Depends(require(Permission.teams_view))]
ManageRouting = Annotated[Principal, Depends(require(Permission.routing_manage))]
Reply = Annotated[Principal, Depends(require(Permission.conversations_reply))]


# -- skills ----------------------------------------------------------------------------------------
@router.get("/routing/skills", response_model=list[SkillOut], summary="List skills (技能)")
async def list_skills(kernel: KernelDep, principal: ViewRouting) -> list[SkillOut]:
    async with kernel.db.reader() as session:
        return [SkillOut.of(s) for s in await config.list_skills(session)]


@router.post(
    "/routing/skills",
    response_model=SkillOut,
    status_code=201,
    responses=problems(409),
    summary="Create a skill, language, product or category skill",
)
async def create_skill(kernel: KernelDep, principal: ManageRouting, body: SkillCreate) -> SkillOut:
    async with kernel.db.transaction() as session:
        skill = await config.create_skill(
            session, principal.actor, name=body.name, kind=body.kind.value, description=body.description
        )
        return SkillOut.of(skill)


@router.get(
    "/routing/skills/{skill_id}", response_model=SkillOut, responses=problems(404), summary="One skill"
)
async def get_skill(kernel: KernelDep, principal: ViewRouting, skill_id: PathId) -> SkillOut:
    async with kernel.db.reader() as session:
        return SkillOut.of(await config.get_skill(session, skill_id))


@router.patch(
    "/routing/skills/{skill_id}",
    response_model=SkillOut,
    responses=problems(404, 409),
    summary="Rename or change a skill",
)
async def patch_skill(
    kernel: KernelDep, principal: ManageRouting, skill_id: PathId, body: SkillUpdate
) -> SkillOut:
    async with kernel.db.transaction() as session:
        skill = await config.update_skill(
            session,
            principal.actor,
            skill_id,
            name=body.name,
            kind=body.kind.value if body.kind is not None else None,
            description=body.description,
        )
        return SkillOut.of(skill)


@router.delete(
    "/routing/skills/{skill_id}",
    status_code=204,
    responses=problems(404),
    summary="Delete a skill (agents lose it, queues stop requiring it)",
)
async def delete_skill(kernel: KernelDep, principal: ManageRouting, skill_id: PathId) -> Response:
    async with kernel.db.transaction() as session:
        await config.delete_skill(session, principal.actor, skill_id)
    return Response(status_code=204)


# -- agents ----------------------------------------------------------------------------------------
@router.get(
    "/routing/agents",
    response_model=list[AgentRoutingOut],
    summary="Every active agent's skills and capacity",
)
async def list_agents(kernel: KernelDep, principal: ViewRouting) -> list[AgentRoutingOut]:
    async with kernel.db.reader() as session:
        return [AgentRoutingOut.of(a) for a in await config.list_agent_routing(session)]


@router.get(
    "/routing/agents/{user_id}",
    response_model=AgentRoutingOut,
    responses=problems(404),
    summary="One agent's skills and capacity",
)
async def get_agent(kernel: KernelDep, principal: ViewRouting, user_id: PathId) -> AgentRoutingOut:
    async with kernel.db.reader() as session:
        return AgentRoutingOut.of(await config.get_agent_routing(session, user_id))


@router.put(
    "/routing/agents/{user_id}",
    response_model=AgentRoutingOut,
    responses=problems(404),
    summary="Set an agent's skill levels and own capacity limits",
)
async def put_agent(
    kernel: KernelDep, principal: ManageRouting, user_id: PathId, body: AgentRoutingUpdate
) -> AgentRoutingOut:
    async with kernel.db.transaction() as session:
        if body.skills is not None:
            await config.set_agent_skills(session, principal.actor, user_id, body.skills)
        if body.capacity is not None:
            capacity = {channel.value: value for channel, value in body.capacity.items()}
            await config.set_agent_capacity(session, principal.actor, user_id, capacity)
        return AgentRoutingOut.of(await config.get_agent_routing(session, user_id))


# -- channels --------------------------------------------------------------------------------------
@router.get("/routing/channels", response_model=list[ChannelOut], summary="Channels' capacity and weight")
async def list_channels(kernel: KernelDep, principal: ViewRouting) -> list[ChannelOut]:
    async with kernel.db.reader() as session:
        return [ChannelOut.of(row) for row in await config.list_channel_settings(session)]


@router.get(
    "/routing/channels/{channel}",
    response_model=ChannelOut,
    responses=problems(404),
    summary="One channel's default capacity and weight",
)
async def get_channel(kernel: KernelDep, principal: ViewRouting, channel: Channel) -> ChannelOut:
    async with kernel.db.reader() as session:
        return ChannelOut.of(await config.get_channel_settings(session, channel.value))


@router.put(
    "/routing/channels/{channel}",
    response_model=ChannelOut,
    responses=problems(404),
    summary="Change a channel's default capacity and/or weight",
)
async def put_channel(
    kernel: KernelDep, principal: ManageRouting, channel: Channel, body: ChannelUpdate
) -> ChannelOut:
    async with kernel.db.transaction() as session:
        row = await config.update_channel_settings(
            session,
            principal.actor,
            channel.value,
            default_capacity=body.default_capacity,
            weight=body.weight,
        )
        return ChannelOut.of(row)


# -- queues ----------------------------------------------------------------------------------------
@router.get("/routing/queues", response_model=list[QueueOut], summary="Every queue's (技能组) routing")
async def list_queues(kernel: KernelDep, principal: ViewRouting) -> list[QueueOut]:
    async with kernel.db.reader() as session:
        return [QueueOut.of(team.name, queue) for team, queue in await config.list_queue_settings(session)]


@router.get(
    "/routing/queues/{team_id}",
    response_model=QueueOut,
    responses=problems(404),
    summary="One queue's routing (the defaults when never set)",
)
async def get_queue(kernel: KernelDep, principal: ViewRouting, team_id: PathId) -> QueueOut:
    async with kernel.db.reader() as session:
        queue = await config.get_queue_settings(session, team_id)
        team_name = await _team_name(session, team_id)
        return QueueOut.of(team_name, queue)


@router.put(
    "/routing/queues/{team_id}",
    response_model=QueueOut,
    responses=problems(404),
    summary="Set a queue's strategy, required skills, overflow, stickiness and hours",
)
async def put_queue(
    kernel: KernelDep, principal: ManageRouting, team_id: PathId, body: QueueUpdate
) -> QueueOut:
    async with kernel.db.transaction() as session:
        queue = await config.update_queue_settings(
            session,
            principal.actor,
            team_id,
            strategy=body.strategy.value,
            prefer_levels=body.prefer_levels,
            overflow_team_id=body.overflow_team_id,
            overflow_after_seconds=body.overflow_after_seconds,
            sticky_seconds=body.sticky_seconds,
            calendar_id=body.calendar_id,
            after_hours=body.after_hours.value,
            after_hours_team_id=body.after_hours_team_id,
            skills=body.required_skills,
        )
        return QueueOut.of(await _team_name(session, team_id), queue)


async def _team_name(session: AsyncSession, team_id: int) -> str:
    return (await config.get_team(session, team_id)).name


# -- tiers -----------------------------------------------------------------------------------------
@router.get("/routing/tiers", response_model=list[TierOut], summary="Customer tiers (分级客服)")
async def list_tiers(kernel: KernelDep, principal: ViewRouting) -> list[TierOut]:
    async with kernel.db.reader() as session:
        return [TierOut.of(t) for t in await config.list_tiers(session)]


@router.post(
    "/routing/tiers", response_model=TierOut, status_code=201, responses=problems(409), summary="Add a tier"
)
async def create_tier(kernel: KernelDep, principal: ManageRouting, body: TierCreate) -> TierOut:
    async with kernel.db.transaction() as session:
        tier = await config.create_tier(
            session,
            principal.actor,
            key=body.key,
            name=body.name,
            head_start_seconds=body.head_start_seconds,
            dedicated_team_id=body.dedicated_team_id,
            position=body.position,
            is_default=body.is_default,
        )
        return TierOut.of(tier)


@router.get("/routing/tiers/{tier_id}", response_model=TierOut, responses=problems(404), summary="One tier")
async def get_tier(kernel: KernelDep, principal: ViewRouting, tier_id: PathId) -> TierOut:
    async with kernel.db.reader() as session:
        return TierOut.of(await config.get_tier(session, tier_id))


@router.patch(
    "/routing/tiers/{tier_id}",
    response_model=TierOut,
    responses=problems(404, 409),
    summary="Change a tier (a new key moves its contacts; is_default makes it the only default)",
)
async def patch_tier(
    kernel: KernelDep, principal: ManageRouting, tier_id: PathId, body: TierUpdate
) -> TierOut:
    dedicated = body.dedicated_team_id if "dedicated_team_id" in body.model_fields_set else config.KEEP
    async with kernel.db.transaction() as session:
        tier = await config.update_tier(
            session,
            principal.actor,
            tier_id,
            key=body.key,
            name=body.name,
            head_start_seconds=body.head_start_seconds,
            dedicated_team_id=dedicated,
            position=body.position,
            is_default=body.is_default,
        )
        return TierOut.of(tier)


@router.delete(
    "/routing/tiers/{tier_id}",
    status_code=204,
    responses=problems(404, 409),
    summary="Delete a tier (not the default); its contacts move to the default tier",
)
async def delete_tier(kernel: KernelDep, principal: ManageRouting, tier_id: PathId) -> Response:
    async with kernel.db.transaction() as session:
        await config.delete_tier(session, principal.actor, tier_id)
    return Response(status_code=204)


# -- a contact's service ------------------------------------------------------------------------------
@router.put(
    "/contacts/{contact_id}/service",
    response_model=ContactServiceOut,
    responses=problems(404),
    summary="Set a contact's tier and dedicated agent (专属客服)",
)
async def put_contact_service(
    kernel: KernelDep, principal: Reply, contact_id: PathId, body: ContactServiceUpdate
) -> ContactServiceOut:
    async with kernel.db.transaction() as session:
        contact = await config.set_contact_service(
            session,
            principal.actor,
            contact_id,
            tier=body.tier,
            dedicated_agent_id=body.dedicated_agent_id,
        )
        return ContactServiceOut.of(contact)
