"""The routing engine's decisions (pure code): strategies, priority with aging, skills, capacity,
preferred agents, overflow — and, by hypothesis, the invariants over random histories."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kefu.routing.engine import (
    FULL_UNITS,
    Agent,
    Assignment,
    Contact,
    QueueRule,
    Router,
    Strategy,
    can_take,
    pick_agent,
    pick_contact,
    queues_of,
)

CHAT = "web_chat"
WEIGHTS = {"web_chat": 30, "email": 10, "phone": 100}


def agent(agent_id: int, *, queues: tuple[int, ...] = (1,), chats: int = 3, **kw: object) -> Agent:
    capacity = kw.pop("capacity", {CHAT: chats, "email": 10, "phone": 1})
    return Agent(id=agent_id, queues=frozenset(queues), capacity=capacity, **kw)  # type: ignore[arg-type]  # test shorthand


def contact(
    contact_id: int, *, at: float = 0.0, queue: int = 1, channel: str = CHAT, **kw: object
) -> Contact:
    return Contact(id=contact_id, queue_id=queue, channel=channel, waiting_since=at, **kw)  # type: ignore[arg-type]  # test shorthand


def rules(*items: QueueRule) -> dict[int, QueueRule]:
    return {r.id: r for r in items} or {1: QueueRule(1)}


# -- strategies -------------------------------------------------------------------------------------
def test_longest_idle_takes_the_agent_whose_last_contact_is_oldest() -> None:
    agents = [agent(1, last_assigned=50.0), agent(2, last_assigned=10.0), agent(3, last_assigned=30.0)]
    chosen = pick_agent(contact(9, at=100), agents, rules(), WEIGHTS, 100)
    assert chosen == Assignment(9, 2, 1)


def test_least_busy_weighs_every_channel_then_idleness() -> None:
    rule = QueueRule(1, strategy=Strategy.least_busy)
    agents = [
        agent(1, load={CHAT: 1}, last_assigned=0.0),  # 30 units
        agent(2, load={"email": 2}, last_assigned=5.0),  # 20 units
        agent(3, load={"email": 2}, last_assigned=1.0),  # 20 units, idle longer
    ]
    assert pick_agent(contact(9), agents, rules(rule), WEIGHTS, 10) == Assignment(9, 3, 1)


def test_round_robin_cycles_through_the_queue_in_a_fixed_order() -> None:
    router = Router([QueueRule(1, strategy=Strategy.round_robin)], WEIGHTS)
    for i in (3, 1, 2):
        router.add_agent(agent(i, chats=10), 0)
    served = [router.arrive(contact(n, at=n), n) for n in range(1, 8)]
    assert [a.agent_id for a in served if a] == [1, 2, 3, 1, 2, 3, 1]


def test_preferring_levels_gives_the_contact_to_the_most_skilled_agent() -> None:
    rule = QueueRule(1, skills={"billing": 1}, prefer_levels=True)
    agents = [
        agent(1, skills={"billing": 2}, last_assigned=0.0),
        agent(2, skills={"billing": 5}, last_assigned=90.0),
        agent(3, skills={}, last_assigned=0.0),  # lacks the skill
    ]
    assert pick_agent(contact(9), agents, rules(rule), WEIGHTS, 100) == Assignment(9, 2, 1)
    without = QueueRule(1, skills={"billing": 1})
    assert pick_agent(contact(9), agents, rules(without), WEIGHTS, 100) == Assignment(9, 1, 1)


# -- who may take what --------------------------------------------------------------------------------
def test_skills_of_the_queue_and_of_the_contact_are_both_required() -> None:
    rule = QueueRule(1, skills={"billing": 3})
    english = contact(9, skills={"en": 1})
    present = lambda _: True  # noqa: E731  # a tiny stand-in for "is the agent available"
    assert not can_take(agent(1, skills={"billing": 2, "en": 1}), english, rule, WEIGHTS, 0, present)
    assert not can_take(agent(1, skills={"billing": 3}), english, rule, WEIGHTS, 0, present)
    assert can_take(agent(1, skills={"billing": 3, "en": 2}), english, rule, WEIGHTS, 0, present)


def test_capacity_per_channel_and_units_across_channels() -> None:
    present = lambda _: True  # noqa: E731  # a tiny stand-in for "is the agent available"
    full_chats = agent(1, chats=3, load={CHAT: 3})
    assert not can_take(full_chats, contact(9), None, WEIGHTS, 0, present)
    assert can_take(full_chats, contact(9, channel="email"), None, WEIGHTS, 0, present)  # 90 + 10 units
    on_a_call = agent(2, load={"phone": 1})
    assert not can_take(on_a_call, contact(9, channel="email"), None, WEIGHTS, 0, present)  # 100 used
    two_chats = agent(3, load={CHAT: 2})
    assert not can_take(two_chats, contact(9, channel="phone"), None, WEIGHTS, 0, present)  # 60 + 100
    away = agent(4, available=False)
    assert not can_take(away, contact(9), None, WEIGHTS, 0, present)


def test_priority_with_aging_head_start_is_worth_its_seconds_and_no_more() -> None:
    free = agent(1)
    vip = contact(1, at=600.0, head_start=600.0)  # rank 0
    waited_less = contact(2, at=100.0)  # rank 100
    waited_more = contact(3, at=-50.0)  # rank -50: waited 650 s longer than the VIP
    line = sorted([vip, waited_less, waited_more], key=Contact.sort_key)
    assert [c.id for c in line] == [3, 1, 2]
    found = pick_contact(free, line, rules(), WEIGHTS, 700, available=lambda _: True)
    assert found == Assignment(3, 1, 1)


def test_a_contact_waits_for_its_preferred_agent_until_the_limit() -> None:
    router = Router([QueueRule(1)], WEIGHTS)
    router.add_agent(agent(1, chats=1, load={CHAT: 1}), 0)  # the preferred agent, busy
    router.add_agent(agent(2, chats=1), 0)
    held = contact(7, at=0, preferred_agent=1, preferred_until=30.0)
    assert router.arrive(held, 0) is None  # agent 2 is free but the customer waits for agent 1
    assert router.tick(10) == []
    assert router.tick(30) == [Assignment(7, 2, 1)]  # the wait limit passed


def test_the_preferred_agent_gets_the_contact_when_they_are_free() -> None:
    router = Router([QueueRule(1)], WEIGHTS)
    router.add_agent(agent(1, chats=1, last_assigned=99.0), 0)
    router.add_agent(agent(2, chats=1), 0)
    assert router.arrive(contact(7, at=100, preferred_agent=1, preferred_until=200), 100) == Assignment(
        7, 1, 1
    )


def test_an_absent_preferred_agent_holds_nobody() -> None:
    router = Router([QueueRule(1)], WEIGHTS)
    router.add_agent(agent(1, chats=1, available=False), 0)
    router.add_agent(agent(2, chats=1), 0)
    assert router.arrive(contact(7, preferred_agent=1, preferred_until=999), 0) == Assignment(7, 2, 1)


def test_going_away_releases_the_contacts_held_for_the_agent() -> None:
    router = Router([QueueRule(1)], WEIGHTS)
    router.add_agent(agent(1, chats=1, load={CHAT: 1}), 0)
    router.add_agent(agent(2, chats=1), 0)
    assert router.arrive(contact(7, preferred_agent=1, preferred_until=999), 0) is None
    assert router.set_available(1, False, 5) == [Assignment(7, 2, 1)]


def test_overflow_lets_the_next_queue_help_after_the_wait() -> None:
    table = rules(
        QueueRule(1, overflow_to=2, overflow_after=60), QueueRule(2, overflow_to=1, overflow_after=5)
    )
    waiting = contact(5, at=0, queue=1)
    assert queues_of(waiting, table, 59) == [1]
    assert queues_of(waiting, table, 60) == [1, 2]  # and no cycle back to 1
    router = Router(table.values(), WEIGHTS)
    router.add_agent(agent(2, queues=(2,)), 0)
    assert router.arrive(waiting, 0) is None
    assert router.next_timer() == 60
    assert router.tick(59) == []
    assert router.tick(60) == [Assignment(5, 2, 2)]


def test_a_freed_agent_takes_the_best_ranked_contact_of_all_their_queues() -> None:
    router = Router([QueueRule(1), QueueRule(2)], WEIGHTS)
    router.add_agent(agent(1, queues=(1, 2), chats=1, load={CHAT: 1}), 0)
    router.arrive(contact(1, at=10, queue=1), 10)
    router.arrive(contact(2, at=5, queue=2), 10)
    router.arrive(contact(3, at=20, queue=2, head_start=30), 20)  # rank -10
    assert router.position(2) == 2
    assert router.position(3) == 1
    assert router.finish(1, CHAT, 30) == [Assignment(3, 1, 2)]
    assert router.finish(1, CHAT, 31) == [Assignment(2, 1, 2)]
    assert router.finish(1, CHAT, 32) == [Assignment(1, 1, 1)]
    assert router.waiting_count() == 0


def test_an_agent_with_room_only_for_email_is_not_offered_chats() -> None:
    router = Router([QueueRule(1)], WEIGHTS)
    router.add_agent(agent(1, chats=1, load={CHAT: 1}), 0)
    for n in range(50):
        router.arrive(contact(n, at=n), n)
    made = router.arrive(contact(99, at=60, channel="email"), 60)
    assert made == Assignment(99, 1, 1)


# -- invariants over random histories -----------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    kind: str  # arrive | finish | away | back | abandon | tick
    who: int
    queue: int
    channel: str
    head_start: float
    skill: int


steps = st.lists(
    st.builds(
        Step,
        kind=st.sampled_from(
            ["arrive", "arrive", "arrive", "finish", "finish", "away", "back", "abandon", "tick"]
        ),
        who=st.integers(0, 5),
        queue=st.integers(1, 3),
        channel=st.sampled_from([CHAT, CHAT, "email", "phone"]),
        head_start=st.sampled_from([0.0, 0.0, 120.0, 600.0]),
        skill=st.integers(0, 3),
    ),
    min_size=10,
    max_size=150,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_invariants_hold_over_any_history(history: list[Step]) -> None:
    table = {
        1: QueueRule(1, strategy=Strategy.longest_idle, overflow_to=2, overflow_after=40),
        2: QueueRule(2, strategy=Strategy.least_busy, skills={"vip": 1}),
        3: QueueRule(3, strategy=Strategy.round_robin, prefer_levels=True, skills={"en": 1}),
    }
    router = Router(table.values(), WEIGHTS)
    small = {"email": 2, "phone": 1}
    agents = {
        0: agent(0, queues=(1,), capacity={CHAT: 2, **small}),
        1: agent(1, queues=(1, 2), capacity={CHAT: 1, **small}, skills={"vip": 1}),
        2: agent(2, queues=(2, 3), capacity={CHAT: 1, **small}, skills={"vip": 2, "en": 3}),
        3: agent(3, queues=(3,), capacity={CHAT: 2, **small}, skills={"en": 1}),
        4: agent(4, queues=(1, 3), capacity={CHAT: 1, **small}, skills={"en": 2}),
        5: agent(5, queues=(3,), capacity={CHAT: 2, **small}),  # lacks "en": never serves queue 3
    }
    now = 0.0
    for a in agents.values():
        router.add_agent(a, now)
    given_to: dict[int, Assignment] = {}
    contacts: dict[int, Contact] = {}
    holding: dict[int, list[int]] = {i: [] for i in agents}
    next_id = 0

    def record(made: list[Assignment] | Assignment | None) -> None:
        for a in [made] if isinstance(made, Assignment) else made or []:
            assert a.contact_id not in given_to, "a contact was assigned twice"
            given_to[a.contact_id] = a
            holding[a.agent_id].append(a.contact_id)

    for step in history:
        now += 7.0
        while (due := router.next_timer()) is not None and due <= now:  # as every driver does
            record(router.tick(due))
        if step.kind == "arrive":
            next_id += 1
            new = contact(
                next_id,
                at=now,
                queue=step.queue,
                channel=step.channel,
                head_start=step.head_start,
                skills={"en": step.skill} if step.skill and step.queue == 3 else {},
            )
            contacts[next_id] = new
            record(router.arrive(new, now))
        elif step.kind == "finish" and holding[step.who]:
            done = contacts[holding[step.who].pop(0)]
            record(router.finish(step.who, done.channel, now))
        elif step.kind == "away":
            record(router.set_available(step.who, False, now))
        elif step.kind == "back":
            record(router.set_available(step.who, True, now))
        elif step.kind == "abandon" and router.contacts:
            router.abandon(sorted(router.contacts)[step.who % len(router.contacts)])
        elif step.kind == "tick":
            record(router.tick(now))

        for a in agents.values():  # capacity is never exceeded
            for channel, n in a.load.items():
                assert n <= a.capacity.get(channel, 0)
            assert a.used_units(WEIGHTS) <= FULL_UNITS
        for assignment in given_to.values():  # skills and membership respected
            taken = contacts[assignment.contact_id]
            rule = table[assignment.queue_id]
            who = agents[assignment.agent_id]
            assert assignment.queue_id in who.queues
            assert assignment.queue_id in queues_of(taken, table, now)
            assert all(who.skills.get(s, 0) >= lvl for s, lvl in {**rule.skills, **taken.skills}.items())
        for waiting in router.contacts.values():  # nobody waits while an eligible agent has room
            for queue_id in queues_of(waiting, table, now):
                for a in agents.values():
                    if queue_id in a.queues:
                        assert not can_take(a, waiting, table[queue_id], WEIGHTS, now, router.is_available), (
                            f"contact {waiting.id} waits while agent {a.id} could take it"
                        )


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([0.0, 300.0, 900.0]), min_size=5, max_size=60))
def test_a_line_is_served_in_rank_order_so_nobody_starves(head_starts: list[float]) -> None:
    """One agent, one line: whatever the tiers, contacts leave in rank order; a regular contact's
    rank is fixed when it arrives, so it is served before any contact arriving more than the
    largest head start later."""
    router = Router([QueueRule(1)], WEIGHTS)
    router.add_agent(agent(1, chats=1, load={CHAT: 1}), 0)
    arrived: dict[int, Contact] = {}
    for n, head in enumerate(head_starts):
        arrived[n] = contact(n, at=float(n * 60), head_start=head)
        assert router.arrive(arrived[n], n * 60.0) is None
    served: list[int] = []
    now = len(head_starts) * 60.0
    while router.contacts:
        made = router.finish(1, CHAT, now)
        assert len(made) == 1
        served.append(made[0].contact_id)
        now += 1
    ranks = [arrived[i].rank for i in served]
    assert ranks == sorted(ranks)
    biggest = max(head_starts)
    regular = [i for i in served if arrived[i].head_start == 0]
    for r in regular:
        overtaken_by = [
            i for i in served[: served.index(r)] if arrived[i].waiting_since > arrived[r].waiting_since
        ]
        assert all(arrived[i].waiting_since - arrived[r].waiting_since < biggest for i in overtaken_by)
