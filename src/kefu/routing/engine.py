"""The ACD's decisions, as pure code: who takes a waiting contact, which contact a free agent takes.

Nothing here reads the database or the clock. The production assigner loads the few rows a
decision needs and calls :func:`pick_agent` / :func:`pick_contact`; the simulator
(``kefu simulate``) and ``bench/routing.py`` drive the same functions through
:class:`Router`, which keeps the whole centre in memory. One code path decides everywhere.

Vocabulary (ARCHITECTURE.md, glossary):

* **rank** — a contact's place in line: the moment it started waiting minus its *head start*
  (seconds of priority from its tier and its priority). Lower goes first. Because every
  contact ages at the same rate (real time), ordering by rank is priority with aging: a VIP
  with a 600 s head start is served before regular contacts that have waited less than 10
  minutes longer, and after those that have waited more — low tiers are never starved.
* **units** — what a contact costs an agent across channels (a chat 30, an email 10, a call
  100, of the agent's 100): an agent takes a contact when the channel's own limit (e.g. 3
  chats) and the units both allow it.
* **preferred agent** — the last agent who served the customer (sticky) or their dedicated
  agent (专属客服): while that agent is available and the preference has not lapsed, nobody
  else takes the contact.
* **overflow** — after waiting ``overflow_after`` seconds in its queue, a contact may also be
  taken by agents of the queue's overflow queue (and so on down the chain); it keeps its rank.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from kefu.platform.i18n import N_

FULL_UNITS = 100
DEFAULT_WEIGHTS: Mapping[str, int] = {"web_chat": 30, "email": 10, "form": 10, "phone": 100, "wechat": 30}


class Strategy(StrEnum):
    longest_idle = "longest_idle"
    least_busy = "least_busy"
    round_robin = "round_robin"


STRATEGY_LABELS: dict[Strategy, str] = {
    Strategy.longest_idle: N_("Longest idle"),
    Strategy.least_busy: N_("Least busy"),
    Strategy.round_robin: N_("Round robin"),
}


@dataclass(frozen=True)
class QueueRule:
    """How one queue (技能组) chooses among its agents."""

    id: int
    strategy: Strategy = Strategy.least_busy
    skills: Mapping[str, int] = field(default_factory=dict)  # required skill -> minimum level
    prefer_levels: bool = False  # among eligible agents, higher levels of the required skills first
    overflow_to: int | None = None
    overflow_after: float | None = None  # seconds of waiting before the overflow queue may help


@dataclass
class Agent:
    """An agent as routing sees them. ``load`` changes as contacts are given and finished."""

    id: int
    queues: frozenset[int]
    capacity: Mapping[str, int]  # channel -> most contacts of that channel at once
    skills: Mapping[str, int] = field(default_factory=dict)  # skill -> level (1-5)
    load: dict[str, int] = field(default_factory=dict)  # channel -> contacts now
    available: bool = True  # present and taking contacts (presence "online")
    last_assigned: float = 0.0  # when the agent last got a contact (or came online)
    units: int = FULL_UNITS

    def used_units(self, weights: Mapping[str, int]) -> int:
        return sum(n * weight_of(weights, channel) for channel, n in self.load.items())

    def has_room(self, channel: str, weights: Mapping[str, int]) -> bool:
        if self.load.get(channel, 0) >= self.capacity.get(channel, 0):
            return False
        return self.used_units(weights) + weight_of(weights, channel) <= self.units


@dataclass
class Contact:
    """A conversation (or call) waiting for an agent."""

    id: int
    queue_id: int
    channel: str
    waiting_since: float
    head_start: float = 0.0  # seconds of priority: tier + priority
    skills: Mapping[str, int] = field(default_factory=dict)  # needs beyond the queue's (e.g. language)
    preferred_agent: int | None = None
    preferred_until: float = 0.0

    @property
    def rank(self) -> float:
        return self.waiting_since - self.head_start

    def sort_key(self) -> tuple[float, float, int]:
        return (self.rank, self.waiting_since, self.id)


@dataclass(frozen=True)
class Assignment:
    contact_id: int
    agent_id: int
    queue_id: int  # the queue through which the agent took it (the contact's own or an overflow)


def weight_of(weights: Mapping[str, int], channel: str) -> int:
    return weights.get(channel, DEFAULT_WEIGHTS.get(channel, 30))


def queues_of(contact: Contact, rules: Mapping[int, QueueRule], now: float) -> list[int]:
    """The contact's queue, then each overflow queue whose wait has been reached (no cycles)."""
    chain = [contact.queue_id]
    rule = rules.get(contact.queue_id)
    while rule is not None and rule.overflow_to is not None and rule.overflow_to not in chain:
        # The same sum as next_overflow_at's, so a timer set for that moment always finds it reached.
        if rule.overflow_after is None or now < contact.waiting_since + rule.overflow_after:
            break
        chain.append(rule.overflow_to)
        rule = rules.get(rule.overflow_to)
    return chain


def next_overflow_at(contact: Contact, rules: Mapping[int, QueueRule], now: float) -> float | None:
    """When the contact next becomes visible to another queue (None: never again)."""
    chain = queues_of(contact, rules, now)
    rule = rules.get(chain[-1])
    if rule is None or rule.overflow_to is None or rule.overflow_after is None or rule.overflow_to in chain:
        return None
    return contact.waiting_since + rule.overflow_after


def skilled(agent: Agent, needs: Mapping[str, int]) -> bool:
    return all(agent.skills.get(skill, 0) >= level for skill, level in needs.items())


def waits_for_preferred(
    contact: Contact, agent_id: int, now: float, available: Callable[[int], bool]
) -> bool:
    """True while the contact is held for another agent (its preferred one, present, not lapsed)."""
    preferred = contact.preferred_agent
    if preferred is None or preferred == agent_id or now >= contact.preferred_until:
        return False
    return available(preferred)


def can_take(
    agent: Agent,
    contact: Contact,
    rule: QueueRule | None,
    weights: Mapping[str, int],
    now: float,
    available: Callable[[int], bool],
) -> bool:
    """Whether ``agent`` may take ``contact`` through ``rule``'s queue right now."""
    if not agent.available or not agent.has_room(contact.channel, weights):
        return False
    if rule is not None and not skilled(agent, rule.skills):
        return False
    if not skilled(agent, contact.skills):
        return False
    return not waits_for_preferred(contact, agent.id, now, available)


def _level_score(agent: Agent, rule: QueueRule | None, contact: Contact) -> int:
    if rule is None or not rule.prefer_levels:
        return 0
    needs = {**rule.skills, **contact.skills}
    return sum(agent.skills.get(skill, 0) for skill in needs)


def _strategy_key(agent: Agent, strategy: Strategy, weights: Mapping[str, int]) -> tuple[float, ...]:
    if strategy is Strategy.least_busy:
        return (agent.used_units(weights) / max(agent.units, 1), agent.last_assigned, agent.id)
    return (agent.last_assigned, agent.id)  # longest idle (round robin orders separately)


def pick_agent(
    contact: Contact,
    agents: Iterable[Agent],
    rules: Mapping[int, QueueRule],
    weights: Mapping[str, int],
    now: float,
    *,
    round_robin_last: Mapping[int, int] | None = None,
    available: Callable[[int], bool] | None = None,
    chain: Sequence[int] | None = None,
) -> Assignment | None:
    """The agent who takes ``contact`` now, or None. ``agents`` may include anyone: the rules filter.

    The contact's own queue is tried first, then each overflow queue it has reached (``chain``:
    that list when the caller has it, or a tail of it). The preferred agent, when eligible,
    always wins. Within a queue: higher skill levels first when the queue prefers levels, then
    the queue's strategy.
    """
    pool = list(agents)
    by_id = {a.id: a for a in pool}
    present = available or (lambda agent_id: agent_id in by_id and by_id[agent_id].available)
    last = round_robin_last or {}
    # can_take, split: what does not depend on the queue is checked once per agent.
    able = [
        a
        for a in pool
        if a.available
        and a.has_room(contact.channel, weights)
        and skilled(a, contact.skills)
        and not waits_for_preferred(contact, a.id, now, present)
    ]
    if chain is None:
        chain = queues_of(contact, rules, now)
    for queue_id in chain if able else ():
        rule = rules.get(queue_id)
        eligible = [a for a in able if queue_id in a.queues and (rule is None or skilled(a, rule.skills))]
        if not eligible:
            continue
        preferred = contact.preferred_agent
        if preferred is not None and now < contact.preferred_until:
            for agent in eligible:
                if agent.id == preferred:
                    return Assignment(contact.id, agent.id, queue_id)
        strategy = rule.strategy if rule is not None else Strategy.least_busy
        if strategy is Strategy.round_robin:
            chosen = _round_robin(eligible, last.get(queue_id), rule, contact)
        else:
            chosen = min(
                eligible,
                key=lambda a: (-_level_score(a, rule, contact), *_strategy_key(a, strategy, weights)),
            )
        return Assignment(contact.id, chosen.id, queue_id)
    return None


def _round_robin(eligible: list[Agent], last: int | None, rule: QueueRule | None, contact: Contact) -> Agent:
    best = max(_level_score(a, rule, contact) for a in eligible)
    ring = sorted((a for a in eligible if _level_score(a, rule, contact) == best), key=lambda a: a.id)
    if last is None:
        return ring[0]
    for agent in ring:
        if agent.id > last:
            return agent
    return ring[0]


def pick_contact(
    agent: Agent,
    waiting: Iterable[Contact],
    rules: Mapping[int, QueueRule],
    weights: Mapping[str, int],
    now: float,
    *,
    available: Callable[[int], bool],
) -> Assignment | None:
    """The contact a free ``agent`` takes now: the best-ranked one they may take, or None.

    ``waiting`` must come in rank order (:meth:`Contact.sort_key`); the first acceptable one
    wins, so a caller may pass a short prefix of a long line.
    """
    if not agent.available:
        return None
    for contact in waiting:
        for queue_id in queues_of(contact, rules, now):
            if queue_id in agent.queues and can_take(
                agent, contact, rules.get(queue_id), weights, now, available
            ):
                return Assignment(contact.id, agent.id, queue_id)
    return None


Line = list[tuple[tuple[float, float, int], int]]  # (sort key, contact id), kept sorted


class Router:
    """A whole centre in memory, deciding with the functions above (simulator, benchmark).

    Every method that can change who may take what returns the assignments it made, already
    applied: the agent's load is raised and the contact has left the line. Lines are kept per
    queue and channel, and the agents with room per channel, so a decision looks only at what
    could match.
    """

    def __init__(self, rules: Iterable[QueueRule], weights: Mapping[str, int] | None = None) -> None:
        self.rules: dict[int, QueueRule] = {r.id: r for r in rules}
        self.weights: Mapping[str, int] = weights if weights is not None else DEFAULT_WEIGHTS
        self.agents: dict[int, Agent] = {}
        self.members: dict[int, set[int]] = {}
        self.contacts: dict[int, Contact] = {}
        self._lines: dict[tuple[int, str], Line] = {}  # (queue, channel) -> line
        self._listed: dict[int, set[int]] = {}  # contact -> queues whose line holds it
        self._ready: dict[str, set[int]] = {}  # channel -> available agents with room for one more
        self._round_robin: dict[int, int] = {}
        self._timers: list[tuple[float, int]] = []  # (when, contact): overflow or preference lapses

    # -- agents ------------------------------------------------------------------------------
    def is_available(self, agent_id: int) -> bool:
        agent = self.agents.get(agent_id)
        return agent is not None and agent.available

    def add_agent(self, agent: Agent, now: float) -> list[Assignment]:
        self.agents[agent.id] = agent
        for queue_id in agent.queues:
            self.members.setdefault(queue_id, set()).add(agent.id)
        self._refresh(agent)
        return self.serve_agent(agent.id, now)

    def set_available(self, agent_id: int, available: bool, now: float) -> list[Assignment]:
        agent = self.agents[agent_id]
        if agent.available == available:
            return []
        agent.available = available
        self._refresh(agent)
        if not available:
            # Contacts held for this agent are free for everyone now.
            held = [c for c in self.contacts.values() if c.preferred_agent == agent_id]
            return self._serve_contacts(held, now)
        agent.last_assigned = max(agent.last_assigned, now)
        return self.serve_agent(agent_id, now)

    def finish(self, agent_id: int, channel: str, now: float) -> list[Assignment]:
        """The agent finished one contact of ``channel``: their room may take the next."""
        agent = self.agents[agent_id]
        current = agent.load.get(channel, 0)
        if current <= 1:
            agent.load.pop(channel, None)
        else:
            agent.load[channel] = current - 1
        self._refresh(agent)
        return self.serve_agent(agent_id, now)

    def _refresh(self, agent: Agent) -> None:
        for channel in agent.capacity:
            ready = self._ready.setdefault(channel, set())
            if agent.available and agent.has_room(channel, self.weights):
                ready.add(agent.id)
            else:
                ready.discard(agent.id)

    # -- contacts ----------------------------------------------------------------------------
    def arrive(self, contact: Contact, now: float) -> Assignment | None:
        """A contact starts waiting; it is given to an agent at once when someone may take it."""
        self.contacts[contact.id] = contact
        self._list(contact, now)
        made = self._serve_contacts([contact], now)
        return made[0] if made else None

    def abandon(self, contact_id: int) -> bool:
        """The contact gave up (left the chat, hung up). False when it was no longer waiting."""
        contact = self.contacts.pop(contact_id, None)
        if contact is None:
            return False
        self._unlist(contact)
        return True

    def waiting_count(self, queue_id: int | None = None) -> int:
        if queue_id is None:
            return len(self.contacts)
        return sum(1 for c in self.contacts.values() if c.queue_id == queue_id)

    def position(self, contact_id: int) -> int | None:
        """1 for the next contact its queue serves (of its channel); None when it no longer waits."""
        contact = self.contacts.get(contact_id)
        if contact is None:
            return None
        line = self._lines.get((contact.queue_id, contact.channel), [])
        return bisect.bisect_left(line, (contact.sort_key(), contact.id)) + 1

    def tick(self, now: float) -> list[Assignment]:
        """Apply what time changes: overflows reached, preferences lapsed."""
        due: list[Contact] = []
        while self._timers and self._timers[0][0] <= now:
            _, contact_id = heapq.heappop(self._timers)
            contact = self.contacts.get(contact_id)
            if contact is not None:
                self._list(contact, now)
                due.append(contact)
        return self._serve_contacts(due, now)

    def next_timer(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    # -- decisions ---------------------------------------------------------------------------
    def serve_agent(self, agent_id: int, now: float) -> list[Assignment]:
        """Fill the agent's free room with the best-ranked contacts they may take."""
        agent = self.agents[agent_id]
        made: list[Assignment] = []
        while agent.available:
            channels = [ch for ch in agent.capacity if agent.has_room(ch, self.weights)]
            queues = [
                q for q in agent.queues if (rule := self.rules.get(q)) is None or skilled(agent, rule.skills)
            ]
            lines = [line for q in queues for ch in channels if (line := self._lines.get((q, ch)))]
            if not lines:
                break
            ordered = self._merged(lines)
            found = pick_contact(agent, ordered, self.rules, self.weights, now, available=self.is_available)
            if found is None:
                break
            self._apply(found, now)
            made.append(found)
        return made

    def _merged(self, lines: list[Line]) -> Iterator[Contact]:
        source: Iterable[tuple[tuple[float, float, int], int]]
        source = lines[0] if len(lines) == 1 else heapq.merge(*lines)
        seen: set[int] = set()
        for _, contact_id in source:
            if contact_id not in seen:
                seen.add(contact_id)
                yield self.contacts[contact_id]

    def _serve_contacts(self, contacts: Iterable[Contact], now: float) -> list[Assignment]:
        made: list[Assignment] = []
        for contact in sorted(contacts, key=Contact.sort_key):
            if contact.id in self.contacts and (found := self._offer(contact, now)) is not None:
                self._apply(found, now)
                made.append(found)
        return made

    def _offer(self, contact: Contact, now: float) -> Assignment | None:
        """pick_agent over the agents with room, one queue of the chain at a time.

        The same answer as offering every candidate of the chain at once (pick_agent tries the
        chain in order), without gathering the agents of queues it never reaches.
        """
        ready = self._ready.get(contact.channel, set())
        chain = queues_of(contact, self.rules, now)
        for index, queue_id in enumerate(chain):
            candidates = self.members.get(queue_id, set()) & ready
            if not candidates:
                continue
            found = pick_agent(
                contact,
                [self.agents[i] for i in sorted(candidates)],
                self.rules,
                self.weights,
                now,
                round_robin_last=self._round_robin,
                available=self.is_available,
                chain=chain[index:],  # an earlier queue had nobody eligible: none of these either
            )
            if found is not None:
                return found
        return None

    def _apply(self, assignment: Assignment, now: float) -> None:
        contact = self.contacts.pop(assignment.contact_id)
        self._unlist(contact)
        agent = self.agents[assignment.agent_id]
        agent.load[contact.channel] = agent.load.get(contact.channel, 0) + 1
        agent.last_assigned = now
        self._round_robin[assignment.queue_id] = agent.id
        self._refresh(agent)

    def _list(self, contact: Contact, now: float) -> None:
        listed = self._listed.setdefault(contact.id, set())
        entry = (contact.sort_key(), contact.id)
        for queue_id in queues_of(contact, self.rules, now):
            if queue_id not in listed:
                bisect.insort(self._lines.setdefault((queue_id, contact.channel), []), entry)
                listed.add(queue_id)
        upcoming = [next_overflow_at(contact, self.rules, now)]
        if contact.preferred_agent is not None:
            upcoming.append(contact.preferred_until)
        for when in upcoming:
            if when is not None and when > now:
                heapq.heappush(self._timers, (when, contact.id))

    def _unlist(self, contact: Contact) -> None:
        entry = (contact.sort_key(), contact.id)
        for queue_id in self._listed.pop(contact.id, set()):
            line = self._lines[(queue_id, contact.channel)]
            index = bisect.bisect_left(line, entry)
            if index < len(line) and line[index] == entry:
                del line[index]
