"""A discrete-event simulation of the contact centre, deciding with the real routing code.

``kefu simulate`` answers "what happens with this staffing?" for cases the Erlang C formulas
cannot: several queues with overflow, skills, customer tiers, chat agents serving several
contacts at once, shifts, and customers who give up. Every routing decision is taken by
:class:`kefu.routing.engine.Router` — the same functions production uses — while this module
only plays the clock: a heap of events (arrivals, answers ending, customers abandoning, shifts
starting and ending, the router's own overflow timers) and one ``random.Random`` per arrival
stream, so a seed always gives the same report and two scenarios that differ only in routing
see the very same customers (common random numbers).

A scenario (:class:`Scenario`, loadable from JSON with :meth:`Scenario.from_dict`) describes:

* **queues** — strategy, required skills, overflow to another queue after some seconds, and
  the service-level target;
* **agents** — their queues, skills with levels, capacity per channel (e.g. 1 call, or 3
  chats), and shifts: ``(start, end)`` seconds of simulated time when they take contacts
  (:meth:`Router.set_available`); an agent still busy at the end of a shift finishes first;
* **tiers** — customer tiers with a head start (seconds of priority) and a share of arrivals;
* **arrivals** — per queue and channel: a Poisson rate per hour (optionally shaped by a
  24-value hour-of-day profile), a handle-time distribution and an optional patience
  (exponential): a customer still waiting when their patience runs out abandons
  (:meth:`Router.abandon`).

The JSON form names the same fields as these dataclasses (times in seconds; queues are named,
agents and arrivals refer to them by name; an agent entry with ``count`` stands for that many
alike agents): see ``docs/examples/simulate-scenario.json``. Unknown fields are refused, and
every error names the field it is about (``agents[2].shifts[0][1]: must be greater than 3600``).

Contacts arriving during the warm-up are served but not counted. Counted contacts are
followed until they are answered, abandon, or the simulation ends with them still waiting
(nobody left on shift): *unanswered*. The figures (:class:`Figures`):

* **service level** = answered within the target / (answered + abandoned after the target +
  unanswered past the target). Contacts that abandoned within the target are left out (the
  usual contact-centre convention); without abandonment this is Erlang C's P(wait <= target).
* **ASA** (average speed of answer), **p90** and **max wait**: over answered contacts.
* **abandonment rate** = abandoned / offered.
* **occupancy** = units in use / units the agents could fill, over their time on shift (or
  still busy after it), measured from the end of the warm-up until arrivals stop. For an
  agent taking one call at a time this is busy time / available time; for a chat agent with
  3 chats it is chats in progress / 3. Per queue it covers the queue's members.
"""

from __future__ import annotations

import bisect
import heapq
import json
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from kefu.platform.errors import InvalidInput
from kefu.routing.engine import (
    DEFAULT_WEIGHTS,
    FULL_UNITS,
    Agent,
    Assignment,
    Contact,
    QueueRule,
    Router,
    Strategy,
    weight_of,
)

SERVICE_LEVEL_FORMULA = (
    "service level = answered within target / (answered + abandoned after target + unanswered past target)"
)
MAX_CONTACTS = 2_000_000  # expected arrivals of one run: keeps a typo from running for hours
MAX_AGENTS = 10_000
MAX_LEVEL = 5
HOURS_PER_DAY = 24


class Distribution(StrEnum):
    exponential = "exponential"
    lognormal = "lognormal"
    fixed = "fixed"
    uniform = "uniform"


@dataclass(frozen=True)
class HandleTime:
    """How long an agent spends on one contact, in seconds.

    ``exponential`` and ``fixed`` use ``mean``; ``lognormal`` uses ``mean`` and ``sd``;
    ``uniform`` draws between ``low`` and ``high``.
    """

    distribution: Distribution = Distribution.exponential
    mean: float = 180.0
    sd: float = 0.0
    low: float = 0.0
    high: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        keys = _HANDLE_FIELDS[self.distribution][1:]
        return {"distribution": self.distribution.value, **{key: getattr(self, key) for key in keys}}

    def sample(self, rng: random.Random) -> float:
        if self.distribution is Distribution.exponential:
            return rng.expovariate(1.0 / self.mean)
        if self.distribution is Distribution.lognormal:
            sigma2 = math.log1p((self.sd / self.mean) ** 2)
            return rng.lognormvariate(math.log(self.mean) - sigma2 / 2, math.sqrt(sigma2))
        if self.distribution is Distribution.uniform:
            return rng.uniform(self.low, self.high)
        return self.mean


@dataclass(frozen=True)
class Patience:
    """How long a customer waits before giving up: exponential with this mean (seconds)."""

    mean: float

    def sample(self, rng: random.Random) -> float:
        return rng.expovariate(1.0 / self.mean)


@dataclass(frozen=True)
class QueueSpec:
    """A queue (技能组) and its routing rule; ``overflow_to`` names another queue."""

    name: str
    strategy: Strategy = Strategy.longest_idle
    skills: Mapping[str, int] = field(default_factory=dict)
    prefer_levels: bool = False
    overflow_to: str | None = None
    overflow_after_seconds: float | None = None
    target_seconds: float | None = None  # the scenario's target when None


@dataclass(frozen=True)
class AgentSpec:
    """``count`` agents alike. ``shifts``: (start, end) seconds when they work; None = always."""

    name: str
    queues: tuple[str, ...]
    capacity: Mapping[str, int]
    skills: Mapping[str, int] = field(default_factory=dict)
    shifts: tuple[tuple[float, float], ...] | None = None
    count: int = 1


@dataclass(frozen=True)
class Tier:
    """A customer tier: its head start (seconds of priority in line) and share of arrivals."""

    name: str
    head_start_seconds: float = 0.0
    share: float = 1.0


@dataclass(frozen=True)
class ArrivalSpec:
    """One Poisson stream of contacts into a queue on a channel.

    ``profile``: 24 factors by hour of day (hour 0 is ``Scenario.start_hour``) that multiply
    ``per_hour``; ``skills``: what these contacts need beyond their queue (e.g. a language).
    """

    queue: str
    channel: str
    per_hour: float
    handle_time: HandleTime = HandleTime()
    patience: Patience | None = None
    profile: tuple[float, ...] | None = None
    skills: Mapping[str, int] = field(default_factory=dict)


DEFAULT_TIERS: tuple[Tier, ...] = (Tier("regular"),)


@dataclass(frozen=True)
class Scenario:
    """Everything one simulation run needs. Contacts arrive from time 0 until ``duration_seconds``
    have passed or ``contacts`` have arrived after the warm-up, whichever comes first."""

    queues: tuple[QueueSpec, ...]
    agents: tuple[AgentSpec, ...]
    arrivals: tuple[ArrivalSpec, ...]
    tiers: tuple[Tier, ...] = DEFAULT_TIERS
    duration_seconds: float | None = None
    contacts: int | None = None
    warmup_seconds: float = 0.0
    target_seconds: float = 20.0
    start_hour: int = 0
    weights: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    seed: int = 1
    name: str = ""

    @classmethod
    def from_dict(cls, data: object) -> Scenario:
        """A checked scenario from JSON-like data; :class:`InvalidInput` names the bad field."""
        return _parse_scenario(data)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``from_dict(to_dict())`` gives the same scenario)."""
        data = asdict(self)
        for arrival, spec in zip(data["arrivals"], self.arrivals, strict=True):
            arrival["handle_time"] = spec.handle_time.to_dict()
            arrival["patience"] = (
                None if spec.patience is None else {"distribution": "exponential", "mean": spec.patience.mean}
            )
        result: dict[str, Any] = json.loads(json.dumps(data))  # tuples become lists, enums texts
        return result

    def target_of(self, queue: QueueSpec) -> float:
        return queue.target_seconds if queue.target_seconds is not None else self.target_seconds


def load_scenario(path: Path, overrides: Mapping[str, object] | None = None) -> Scenario:
    """Read and check a scenario JSON file (InvalidInput when unreadable or wrong).

    ``overrides`` replace top-level fields of the file (``seed``, ``contacts``…) before the check.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad("scenario", f"cannot read the file ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise _bad("scenario", "not valid JSON (nested too deeply)") from None
    except json.JSONDecodeError as exc:
        raise _bad(
            "scenario", f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    if overrides and isinstance(data, dict):
        data.update(overrides)
    return Scenario.from_dict(data)


def mmc(
    agents: int,
    arrivals_per_hour: float,
    aht_seconds: float,
    target_seconds: float = 20.0,
    contacts: int = 20_000,
    seed: int = 1,
) -> Scenario:
    """The M/M/c centre of the Erlang C formulas: one queue, one skill, ``agents`` agents taking
    one phone call at a time, Poisson arrivals, exponential handle times, nobody abandons.

    The first tenth of ``contacts``' worth of time is a warm-up (the centre starts empty).
    """
    agents = _integer(agents, "agents", minimum=1, maximum=MAX_AGENTS)
    arrivals_per_hour = _number(arrivals_per_hour, "arrivals_per_hour", above=0, maximum=1e7)
    aht_seconds = _number(aht_seconds, "aht_seconds", above=0, maximum=_MAX_SECONDS)
    target_seconds = _number(target_seconds, "target_seconds", minimum=0, maximum=_MAX_SECONDS)
    contacts = _integer(contacts, "contacts", minimum=1, maximum=MAX_CONTACTS)
    seed = _integer(seed, "seed", minimum=0, maximum=2**63 - 1)
    return Scenario(
        name=f"M/M/{agents}",
        seed=seed,
        contacts=contacts,
        warmup_seconds=0.1 * contacts / arrivals_per_hour * 3600,
        target_seconds=target_seconds,
        queues=(QueueSpec("queue"),),
        agents=(AgentSpec("agent", queues=("queue",), capacity={"phone": 1}, count=agents),),
        arrivals=(
            ArrivalSpec(
                queue="queue",
                channel="phone",
                per_hour=arrivals_per_hour,
                handle_time=HandleTime(Distribution.exponential, mean=aht_seconds),
            ),
        ),
    )


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """What happened to the counted contacts of one queue, tier or channel (or all of them)."""

    offered: int
    answered: int
    abandoned: int
    unanswered: int  # still waiting when the simulation ended
    answered_in_target: int
    abandoned_in_target: int
    delayed: int  # answered after waiting at all
    overflowed: int  # answered by an agent of an overflow queue
    service_level: float | None
    asa: float | None  # seconds
    abandonment_rate: float | None
    p_wait: float | None  # share of answered contacts that waited
    occupancy: float | None
    p90_wait: float | None
    max_wait: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Answered:
    """One answered contact (``Report.trace``): who took it, through which queue, and when."""

    contact: int
    queue: str
    via: str  # the queue through which the agent took it (an overflow queue, or ``queue``)
    channel: str
    tier: str
    agent: int
    arrived: float
    answered: float
    finished: float
    counted: bool


@dataclass(frozen=True)
class AgentInfo:
    id: int
    name: str
    spec: str
    shifts: tuple[tuple[float, float], ...] | None
    capacity: Mapping[str, int]
    occupancy: float | None


@dataclass(frozen=True)
class Report:
    name: str
    seed: int
    measured_from: float
    measured_to: float
    ended_at: float
    total: Figures
    queues: Mapping[str, Figures]
    tiers: Mapping[str, Figures]
    channels: Mapping[str, Figures]
    agents: tuple[AgentInfo, ...]
    trace: tuple[Answered, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "seed": self.seed,
            "measured_from": self.measured_from,
            "measured_to": self.measured_to,
            "ended_at": self.ended_at,
            "service_level_formula": SERVICE_LEVEL_FORMULA,
            "total": self.total.to_dict(),
            "queues": {name: f.to_dict() for name, f in self.queues.items()},
            "tiers": {name: f.to_dict() for name, f in self.tiers.items()},
            "channels": {name: f.to_dict() for name, f in self.channels.items()},
            "agents": [{"id": a.id, "name": a.name, "occupancy": a.occupancy} for a in self.agents],
        }


def simulate(scenario: Scenario, *, trace: bool = False) -> Report:
    """Run ``scenario`` once. ``trace`` keeps every answered contact in ``Report.trace``."""
    return _Run(scenario, trace).run()


# -- the run ---------------------------------------------------------------------------------

# Event kinds, in the order they are handled when they fall on the same moment.
_FINISH, _SHIFT_END, _SHIFT_START, _WARMED_UP, _CLOSE, _ARRIVE, _ABANDON = range(7)


@dataclass(slots=True)
class _Waiting:
    queue: int  # index into scenario.queues
    tier: int
    channel: str
    arrived: float
    handle: float
    counted: bool


@dataclass(slots=True)
class _Outcome:
    queue: int
    tier: int
    channel: str
    wait: float
    answered: bool  # False: abandoned (or, at the end, still waiting)
    overflowed: bool = False
    abandoned: bool = False


@dataclass(slots=True)
class _Clock:
    """An agent's units in use and presence, integrated over the measured window."""

    room: int
    used: int = 0
    on_shift: bool = True
    since: float = 0.0
    busy_area: float = 0.0
    room_area: float = 0.0

    def advance(self, now: float, measuring: bool) -> None:
        if measuring and now > self.since:
            span = now - self.since
            self.busy_area += self.used * span
            if self.on_shift or self.used > 0:
                self.room_area += self.room * span
        self.since = now


class _Run:
    def __init__(self, scenario: Scenario, trace: bool) -> None:
        self.s = scenario
        self.keep_trace = trace
        self.queue_ids = {q.name: i + 1 for i, q in enumerate(scenario.queues)}
        rules = [
            QueueRule(
                id=self.queue_ids[q.name],
                strategy=q.strategy,
                skills=dict(q.skills),
                prefer_levels=q.prefer_levels,
                overflow_to=self.queue_ids[q.overflow_to] if q.overflow_to is not None else None,
                overflow_after=q.overflow_after_seconds,
            )
            for q in scenario.queues
        ]
        self.router = Router(rules, dict(scenario.weights))
        self.events: list[tuple[float, int, int, int]] = []  # (when, kind, seq, subject)
        self.seq = 0
        self.now = 0.0
        self.measuring = scenario.warmup_seconds <= 0
        self.open = True
        self.measured_from = max(scenario.warmup_seconds, 0.0)
        self.measured_to: float | None = None
        self.counted = 0
        self.next_contact = 1
        self.waiting: dict[int, _Waiting] = {}
        self.in_service: dict[int, tuple[int, str]] = {}  # contact -> (agent, channel); for finish
        self.outcomes: list[_Outcome] = []
        self.trace: list[Answered] = []
        self.clocks: dict[int, _Clock] = {}
        self.agent_info: list[tuple[int, str, AgentSpec]] = []
        # One generator per stream: a change in routing does not change who arrives (common random
        # numbers). Simulation, not security.
        self.rngs = [
            random.Random(scenario.seed * 1_000_003 + i)  # noqa: S311 - reproducible simulation, not secrets
            for i in range(len(scenario.arrivals))
        ]
        total_share = sum(t.share for t in scenario.tiers)
        self.tier_cut = list(_accumulate(t.share / total_share for t in scenario.tiers))
        self.peaks = [max(a.profile) if a.profile is not None else 1.0 for a in scenario.arrivals]

    # -- events ------------------------------------------------------------------------------
    def push(self, when: float, kind: int, subject: int) -> None:
        self.seq += 1
        heapq.heappush(self.events, (when, kind, self.seq, subject))

    def run(self) -> Report:
        s = self.s
        self._add_agents()
        if not self.measuring:
            self.push(s.warmup_seconds, _WARMED_UP, 0)
        if s.duration_seconds is not None:
            self.push(s.duration_seconds, _CLOSE, 0)
        for index in range(len(s.arrivals)):
            self._schedule_arrival(index, 0.0)
        handlers: dict[int, Callable[[int], None]] = {
            _FINISH: self._finish,
            _SHIFT_END: lambda agent: self._shift(agent, False),
            _SHIFT_START: lambda agent: self._shift(agent, True),
            _WARMED_UP: lambda _: self._start_measuring(),
            _CLOSE: lambda _: self._close(),
            _ARRIVE: self._arrive,
            _ABANDON: self._abandon,
        }
        router = self.router
        events = self.events
        while True:
            timer = router.next_timer()
            if events and (timer is None or events[0][0] < timer):
                when, kind, _, subject = heapq.heappop(events)
                if kind == _ARRIVE and not self.open:
                    continue  # arrivals have stopped: not an event, and no reason to move the clock
                self.now = when
                handlers[kind](subject)
            elif timer is not None:
                self.now = timer
                self._answer(router.tick(timer))
            else:
                break
            if not self.open and not self.waiting and not self.in_service:
                break
        if self.open:  # every stream ran dry (a profile of zeros) before the end
            self._close()
        return self._report()

    def _add_agents(self) -> None:
        s = self.s
        agent_id = 0
        for spec in s.agents:
            room = min(FULL_UNITS, sum(n * weight_of(s.weights, ch) for ch, n in spec.capacity.items()))
            shifts = _merged_shifts(spec.shifts)
            for n in range(spec.count):
                agent_id += 1
                name = spec.name if spec.count == 1 else f"{spec.name} #{n + 1}"
                on_shift = shifts is None or any(start <= 0.0 < end for start, end in shifts)
                self.clocks[agent_id] = _Clock(room=room, on_shift=on_shift)
                self.agent_info.append((agent_id, name, spec))
                agent = Agent(
                    id=agent_id,
                    queues=frozenset(self.queue_ids[q] for q in spec.queues),
                    capacity=dict(spec.capacity),
                    skills=dict(spec.skills),
                    available=on_shift,
                )
                self._answer(self.router.add_agent(agent, 0.0))
                for start, end in shifts or ():
                    if start > 0.0:
                        self.push(start, _SHIFT_START, agent_id)
                    self.push(end, _SHIFT_END, agent_id)

    def _schedule_arrival(self, index: int, after: float) -> None:
        spec = self.s.arrivals[index]
        rate = spec.per_hour * self.peaks[index] / 3600.0
        if rate > 0:
            self.push(after + self.rngs[index].expovariate(rate), _ARRIVE, index)

    def _start_measuring(self) -> None:
        for clock in self.clocks.values():
            clock.advance(self.now, False)
        self.measuring = True

    def _close(self) -> None:
        if not self.open:
            return
        for clock in self.clocks.values():
            clock.advance(self.now, self.measuring)
        self.open = False
        self.measuring = False
        self.measured_to = self.now

    def _arrive(self, index: int) -> None:
        if not self.open:
            return
        s = self.s
        spec = s.arrivals[index]
        rng = self.rngs[index]
        now = self.now
        self._schedule_arrival(index, now)
        if spec.profile is not None:  # thinning: a non-homogeneous Poisson stream
            hour = (s.start_hour + int(now // 3600)) % HOURS_PER_DAY
            if rng.random() * self.peaks[index] >= spec.profile[hour]:
                return
        tier = min(bisect.bisect_right(self.tier_cut, rng.random()), len(self.tier_cut) - 1)
        handle = spec.handle_time.sample(rng)
        patience = spec.patience.sample(rng) if spec.patience is not None else None
        counted = now >= s.warmup_seconds
        contact_id = self.next_contact
        self.next_contact += 1
        queue = self.queue_ids[spec.queue] - 1
        self.waiting[contact_id] = _Waiting(queue, tier, spec.channel, now, handle, counted)
        contact = Contact(
            id=contact_id,
            queue_id=queue + 1,
            channel=spec.channel,
            waiting_since=now,
            head_start=s.tiers[tier].head_start_seconds,
            skills=spec.skills,  # read only, by the router
        )
        made = self.router.arrive(contact, now)
        if made is not None:
            self._answer([made])
        elif patience is not None:
            self.push(now + patience, _ABANDON, contact_id)
        if counted:
            self.counted += 1
            if s.contacts is not None and self.counted >= s.contacts:
                self._close()

    def _answer(self, made: Sequence[Assignment]) -> None:
        if not made:
            return
        now = self.now
        for assignment in made:
            state = self.waiting.pop(assignment.contact_id)
            agent_id = assignment.agent_id
            clock = self.clocks[agent_id]
            clock.advance(now, self.measuring)
            clock.used += weight_of(self.s.weights, state.channel)
            self.in_service[assignment.contact_id] = (agent_id, state.channel)
            self.push(now + state.handle, _FINISH, assignment.contact_id)
            queue_id = state.queue + 1
            if state.counted:
                self.outcomes.append(
                    _Outcome(
                        state.queue,
                        state.tier,
                        state.channel,
                        now - state.arrived,
                        answered=True,
                        overflowed=assignment.queue_id != queue_id,
                    )
                )
            if self.keep_trace:
                self.trace.append(
                    Answered(
                        contact=assignment.contact_id,
                        queue=self.s.queues[state.queue].name,
                        via=self.s.queues[assignment.queue_id - 1].name,
                        channel=state.channel,
                        tier=self.s.tiers[state.tier].name,
                        agent=agent_id,
                        arrived=state.arrived,
                        answered=now,
                        finished=now + state.handle,
                        counted=state.counted,
                    )
                )

    def _finish(self, contact_id: int) -> None:
        agent_id, channel = self.in_service.pop(contact_id)
        clock = self.clocks[agent_id]
        clock.advance(self.now, self.measuring)
        clock.used -= weight_of(self.s.weights, channel)
        self._answer(self.router.finish(agent_id, channel, self.now))

    def _abandon(self, contact_id: int) -> None:
        state = self.waiting.get(contact_id)
        if state is None or not self.router.abandon(contact_id):
            return
        del self.waiting[contact_id]
        if state.counted:
            wait = self.now - state.arrived
            self.outcomes.append(
                _Outcome(state.queue, state.tier, state.channel, wait, answered=False, abandoned=True)
            )

    def _shift(self, agent_id: int, on: bool) -> None:
        clock = self.clocks[agent_id]
        clock.advance(self.now, self.measuring)
        clock.on_shift = on
        self._answer(self.router.set_available(agent_id, on, self.now))

    # -- figures -----------------------------------------------------------------------------
    def _report(self) -> Report:
        s = self.s
        end = self.now
        for state in self.waiting.values():  # nobody was left to answer them
            if state.counted:
                self.outcomes.append(
                    _Outcome(state.queue, state.tier, state.channel, end - state.arrived, answered=False)
                )
        targets = [s.target_of(q) for q in s.queues]
        members: dict[int, list[int]] = {}
        for agent_id, _, spec in self.agent_info:
            for queue_name in spec.queues:
                members.setdefault(self.queue_ids[queue_name] - 1, []).append(agent_id)
        all_agents = [agent_id for agent_id, _, _ in self.agent_info]
        queues = {
            q.name: _figures(
                [o for o in self.outcomes if o.queue == i], targets, self._occupancy(members.get(i, []))
            )
            for i, q in enumerate(s.queues)
        }
        tiers = {
            t.name: _figures([o for o in self.outcomes if o.tier == i], targets, None)
            for i, t in enumerate(s.tiers)
        }
        channels = {
            ch: _figures([o for o in self.outcomes if o.channel == ch], targets, None)
            for ch in sorted({a.channel for a in s.arrivals})
        }
        agents = tuple(
            AgentInfo(agent_id, name, spec.name, spec.shifts, spec.capacity, self._occupancy([agent_id]))
            for agent_id, name, spec in self.agent_info
        )
        return Report(
            name=s.name,
            seed=s.seed,
            measured_from=self.measured_from,
            measured_to=self.measured_to if self.measured_to is not None else end,
            ended_at=end,
            total=_figures(self.outcomes, targets, self._occupancy(all_agents)),
            queues=queues,
            tiers=tiers,
            channels=channels,
            agents=agents,
            trace=tuple(self.trace),
        )

    def _occupancy(self, agent_ids: Sequence[int]) -> float | None:
        room = sum(self.clocks[a].room_area for a in agent_ids)
        busy = sum(self.clocks[a].busy_area for a in agent_ids)
        return busy / room if room > 0 else None


def _figures(outcomes: Sequence[_Outcome], targets: Sequence[float], occupancy: float | None) -> Figures:
    waits = sorted(o.wait for o in outcomes if o.answered)
    answered = len(waits)
    abandoned = sum(1 for o in outcomes if o.abandoned)
    unanswered = len(outcomes) - answered - abandoned
    in_target = sum(1 for o in outcomes if o.answered and o.wait <= targets[o.queue])
    abandoned_in_target = sum(1 for o in outcomes if o.abandoned and o.wait <= targets[o.queue])
    late_unanswered = sum(
        1 for o in outcomes if not o.answered and not o.abandoned and o.wait > targets[o.queue]
    )
    judged = answered + (abandoned - abandoned_in_target) + late_unanswered
    delayed = sum(1 for w in waits if w > 0)
    offered = len(outcomes)
    return Figures(
        offered=offered,
        answered=answered,
        abandoned=abandoned,
        unanswered=unanswered,
        answered_in_target=in_target,
        abandoned_in_target=abandoned_in_target,
        delayed=delayed,
        overflowed=sum(1 for o in outcomes if o.overflowed),
        service_level=in_target / judged if judged else None,
        asa=sum(waits) / answered if answered else None,
        abandonment_rate=abandoned / offered if offered else None,
        p_wait=delayed / answered if answered else None,
        occupancy=occupancy,
        p90_wait=waits[math.ceil(0.9 * answered) - 1] if answered else None,
        max_wait=waits[-1] if answered else None,
    )


def _accumulate(values: Iterable[float]) -> Iterable[float]:
    total = 0.0
    for value in values:
        total += value
        yield total


def _merged_shifts(shifts: tuple[tuple[float, float], ...] | None) -> list[tuple[float, float]] | None:
    if shifts is None:
        return None
    merged: list[tuple[float, float]] = []
    for start, end in sorted(shifts):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


# -- reading a scenario ----------------------------------------------------------------------


def _bad(path: str, problem: str) -> InvalidInput:
    # The message is built, not a literal: it names the field, so it is not a catalog msgid.
    message = f"{path}: {problem}"
    return InvalidInput(message, field=path)


class _Object:
    """A JSON object being read, with its path for error messages (``queues[1].strategy``)."""

    def __init__(self, data: object, path: str, allowed: Iterable[str]) -> None:
        if not isinstance(data, dict):
            raise _bad(path or "scenario", "an object is expected")
        known = set(allowed)
        for key in data:
            if key not in known:
                raise _bad(
                    self._join(path, str(key)), f"unknown field (expected one of: {', '.join(sorted(known))})"
                )
        self.data: dict[str, object] = data
        self.path = path

    @staticmethod
    def _join(path: str, key: str) -> str:
        return f"{path}.{key}" if path else key

    def at(self, key: str) -> str:
        return self._join(self.path, key)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, key: str) -> object:
        if not self.has(key):
            raise _bad(self.at(key), "this field is required")
        return self.data[key]

    def number(
        self,
        key: str,
        default: float | None = None,
        *,
        minimum: float | None = None,
        above: float | None = None,
        maximum: float | None = None,
    ) -> float:
        if not self.has(key) and default is not None:
            return default
        return _number(self.raw(key), self.at(key), minimum=minimum, above=above, maximum=maximum)

    def optional_number(
        self, key: str, *, minimum: float | None = None, above: float | None = None
    ) -> float | None:
        return self.number(key, minimum=minimum, above=above) if self.has(key) else None

    def integer(self, key: str, default: int | None = None, *, minimum: int, maximum: int) -> int:
        if not self.has(key) and default is not None:
            return default
        return _integer(self.raw(key), self.at(key), minimum=minimum, maximum=maximum)

    def text(self, key: str, default: str | None = None) -> str:
        if not self.has(key) and default is not None:
            return default
        value = self.raw(key)
        if not isinstance(value, str) or not value.strip():
            raise _bad(self.at(key), "a non-empty text is expected")
        if len(value) > 100:
            raise _bad(self.at(key), "at most 100 characters")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        if not self.has(key):
            return default
        value = self.data[key]
        if not isinstance(value, bool):
            raise _bad(self.at(key), "true or false is expected")
        return value

    def items(self, key: str, *, required: bool = True) -> list[tuple[str, object]]:
        if not self.has(key):
            if required:
                raise _bad(self.at(key), "this field is required")
            return []
        value = self.data[key]
        if not isinstance(value, list | tuple):
            raise _bad(self.at(key), "a list is expected")
        return [(f"{self.at(key)}[{i}]", item) for i, item in enumerate(value)]

    def mapping(self, key: str) -> list[tuple[str, str, object]]:
        if not self.has(key):
            return []
        value = self.data[key]
        if not isinstance(value, dict):
            raise _bad(self.at(key), "an object is expected")
        out: list[tuple[str, str, object]] = []
        for name, item in value.items():
            if not isinstance(name, str) or not name.strip() or len(name) > 100:
                raise _bad(self.at(key), "names are non-empty texts of at most 100 characters")
            out.append((self._join(self.at(key), name), name, item))
        return out

    def levels(self, key: str) -> dict[str, int]:
        return {name: _integer(v, path, minimum=1, maximum=MAX_LEVEL) for path, name, v in self.mapping(key)}


def _number(
    value: object,
    path: str,
    *,
    minimum: float | None = None,
    above: float | None = None,
    maximum: float | None = None,
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(path, "a number is expected")
    number = float(value)
    if not math.isfinite(number):
        raise _bad(path, "a finite number is expected")
    if minimum is not None and number < minimum:
        raise _bad(path, f"must be at least {minimum:g}")
    if above is not None and number <= above:
        raise _bad(path, f"must be greater than {above:g}")
    if maximum is not None and number > maximum:
        raise _bad(path, f"must be at most {maximum:g}")
    return number


def _integer(value: object, path: str, *, minimum: int, maximum: int) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(path, "a whole number is expected")
    if not minimum <= value <= maximum:
        raise _bad(path, f"must be between {minimum} and {maximum}")
    return value


def _names(obj: _Object, key: str, known: Mapping[str, int]) -> tuple[str, ...]:
    names: list[str] = []
    for path, item in obj.items(key):
        if not isinstance(item, str) or item not in known:
            raise _bad(path, f"unknown queue {json.dumps(item, ensure_ascii=False)}")
        if item in names:
            raise _bad(path, "listed twice")
        names.append(item)
    if not names:
        raise _bad(obj.at(key), "name at least one queue")
    return tuple(names)


def _unique(name: str, seen: set[str], path: str) -> str:
    if name in seen:
        raise _bad(path, f"the name {json.dumps(name, ensure_ascii=False)} is used twice")
    seen.add(name)
    return name


_SCENARIO_FIELDS = (
    "name", "seed", "duration_seconds", "contacts", "warmup_seconds", "target_seconds", "start_hour",
    "weights", "tiers", "queues", "agents", "arrivals",
)  # fmt: skip
_QUEUE_FIELDS = (
    "name", "strategy", "skills", "prefer_levels", "overflow_to", "overflow_after_seconds", "target_seconds",
)  # fmt: skip
_AGENT_FIELDS = ("name", "count", "queues", "skills", "capacity", "shifts")
_TIER_FIELDS = ("name", "head_start_seconds", "share")
_ARRIVAL_FIELDS = ("queue", "channel", "per_hour", "profile", "handle_time", "patience", "skills")
_HANDLE_FIELDS: dict[Distribution, tuple[str, ...]] = {
    Distribution.exponential: ("distribution", "mean"),
    Distribution.fixed: ("distribution", "mean"),
    Distribution.lognormal: ("distribution", "mean", "sd"),
    Distribution.uniform: ("distribution", "low", "high"),
}
_MAX_SECONDS = 366 * 24 * 3600.0


def _parse_scenario(data: object) -> Scenario:
    top = _Object(data, "", _SCENARIO_FIELDS)
    weights = dict(DEFAULT_WEIGHTS)
    for path, channel, value in top.mapping("weights"):
        weights[channel] = _integer(value, path, minimum=1, maximum=FULL_UNITS)
    target = top.number("target_seconds", 20.0, minimum=0, maximum=_MAX_SECONDS)
    queues = _parse_queues(top)
    queue_ids = {q.name: i for i, q in enumerate(queues)}
    tiers = _parse_tiers(top)
    agents = _parse_agents(top, queue_ids)
    arrivals = _parse_arrivals(top, queue_ids)
    duration = top.optional_number("duration_seconds", above=0)
    if duration is not None and duration > _MAX_SECONDS:
        raise _bad("duration_seconds", f"must be at most {_MAX_SECONDS:g} (a year)")
    contacts = top.integer("contacts", minimum=1, maximum=MAX_CONTACTS) if top.has("contacts") else None
    if duration is None and contacts is None:
        raise _bad("duration_seconds", "give duration_seconds, contacts, or both: when the arrivals stop")
    warmup = top.number("warmup_seconds", 0.0, minimum=0, maximum=_MAX_SECONDS)
    if duration is not None and warmup >= duration:
        raise _bad("warmup_seconds", "must be shorter than duration_seconds")
    start_hour = top.integer("start_hour", 0, minimum=0, maximum=HOURS_PER_DAY - 1)
    peak = sum(a.per_hour * (max(a.profile) if a.profile else 1.0) for a in arrivals)
    if duration is not None:
        expected = peak * duration / 3600
        if expected > MAX_CONTACTS:
            raise _bad(
                "duration_seconds", f"about {expected:,.0f} contacts would arrive; at most {MAX_CONTACTS:,}"
            )
    elif peak <= 0:
        raise _bad("arrivals", "no contacts would ever arrive; give duration_seconds")
    elif warmup * peak / 3600 > MAX_CONTACTS:
        raise _bad("warmup_seconds", f"too long: at most {MAX_CONTACTS:,} contacts may arrive")
    return Scenario(
        queues=queues,
        agents=agents,
        arrivals=arrivals,
        tiers=tiers,
        duration_seconds=duration,
        contacts=contacts,
        warmup_seconds=warmup,
        target_seconds=target,
        start_hour=start_hour,
        weights=weights,
        seed=top.integer("seed", 1, minimum=0, maximum=2**63 - 1),
        name=top.text("name", "scenario"),
    )


def _parse_queues(top: _Object) -> tuple[QueueSpec, ...]:
    raw = top.items("queues")
    if not raw:
        raise _bad("queues", "name at least one queue")
    names: set[str] = set()
    objects = [_Object(item, path, _QUEUE_FIELDS) for path, item in raw]
    for obj in objects:
        _unique(obj.text("name"), names, obj.at("name"))
    queues: list[QueueSpec] = []
    for obj in objects:
        name = obj.text("name")
        strategy_text = obj.raw("strategy") if obj.has("strategy") else Strategy.longest_idle.value
        try:
            strategy = Strategy(str(strategy_text) if isinstance(strategy_text, str) else "")
        except ValueError:
            choices = ", ".join(s.value for s in Strategy)
            raise _bad(obj.at("strategy"), f"choose one of {choices}") from None
        overflow_to: str | None = None
        overflow_after: float | None = None
        if obj.has("overflow_to"):
            overflow_to = obj.text("overflow_to")
            if overflow_to not in names:
                raise _bad(
                    obj.at("overflow_to"), f"unknown queue {json.dumps(overflow_to, ensure_ascii=False)}"
                )
            if overflow_to == name:
                raise _bad(obj.at("overflow_to"), "a queue cannot overflow to itself")
            overflow_after = obj.number("overflow_after_seconds", minimum=0, maximum=_MAX_SECONDS)
        elif obj.has("overflow_after_seconds"):
            raise _bad(obj.at("overflow_after_seconds"), "only with overflow_to")
        queues.append(
            QueueSpec(
                name=name,
                strategy=strategy,
                skills=obj.levels("skills"),
                prefer_levels=obj.boolean("prefer_levels", False),
                overflow_to=overflow_to,
                overflow_after_seconds=overflow_after,
                target_seconds=obj.optional_number("target_seconds", minimum=0),
            )
        )
    return tuple(queues)


def _parse_tiers(top: _Object) -> tuple[Tier, ...]:
    raw = top.items("tiers", required=False)
    if not raw:
        return DEFAULT_TIERS
    names: set[str] = set()
    tiers: list[Tier] = []
    for path, item in raw:
        obj = _Object(item, path, _TIER_FIELDS)
        tiers.append(
            Tier(
                name=_unique(obj.text("name"), names, obj.at("name")),
                head_start_seconds=obj.number("head_start_seconds", 0.0, minimum=0, maximum=_MAX_SECONDS),
                share=obj.number("share", 1.0, above=0, maximum=1e9),
            )
        )
    return tuple(tiers)


def _parse_agents(top: _Object, queue_ids: Mapping[str, int]) -> tuple[AgentSpec, ...]:
    raw = top.items("agents")
    if not raw:
        raise _bad("agents", "describe at least one agent")
    names: set[str] = set()
    agents: list[AgentSpec] = []
    total = 0
    for path, item in raw:
        obj = _Object(item, path, _AGENT_FIELDS)
        name = _unique(obj.text("name"), names, obj.at("name"))
        count = obj.integer("count", 1, minimum=1, maximum=MAX_AGENTS)
        total += count
        if total > MAX_AGENTS:
            raise _bad(obj.at("count"), f"at most {MAX_AGENTS:,} agents in all")
        capacity = {
            channel: _integer(value, cpath, minimum=1, maximum=1000)
            for cpath, channel, value in obj.mapping("capacity")
        }
        if not capacity:
            raise _bad(obj.at("capacity"), 'give at least one channel, e.g. {"phone": 1}')
        agents.append(
            AgentSpec(
                name=name,
                queues=_names(obj, "queues", queue_ids),
                capacity=capacity,
                skills=obj.levels("skills"),
                shifts=_parse_shifts(obj),
                count=count,
            )
        )
    return tuple(agents)


def _parse_shifts(obj: _Object) -> tuple[tuple[float, float], ...] | None:
    if not obj.has("shifts"):
        return None
    raw = obj.items("shifts")
    if not raw:
        raise _bad(obj.at("shifts"), "give at least one [start, end], or leave shifts out for the whole run")
    shifts: list[tuple[float, float]] = []
    for path, item in raw:
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise _bad(path, "a shift is [start, end] in seconds")
        start = _number(item[0], f"{path}[0]", minimum=0, maximum=_MAX_SECONDS)
        end = _number(item[1], f"{path}[1]", above=start, maximum=_MAX_SECONDS)
        for other_start, other_end in shifts:
            if start < other_end and other_start < end:
                raise _bad(path, "overlaps an earlier shift")
        shifts.append((start, end))
    return tuple(shifts)


def _parse_arrivals(top: _Object, queue_ids: Mapping[str, int]) -> tuple[ArrivalSpec, ...]:
    raw = top.items("arrivals")
    if not raw:
        raise _bad("arrivals", "describe at least one stream of arrivals")
    arrivals: list[ArrivalSpec] = []
    for path, item in raw:
        obj = _Object(item, path, _ARRIVAL_FIELDS)
        queue = obj.text("queue")
        if queue not in queue_ids:
            raise _bad(obj.at("queue"), f"unknown queue {json.dumps(queue, ensure_ascii=False)}")
        channel = obj.text("channel")
        profile: tuple[float, ...] | None = None
        if obj.has("profile"):
            values = obj.items("profile")
            if len(values) != HOURS_PER_DAY:
                raise _bad(obj.at("profile"), f"give {HOURS_PER_DAY} factors, one per hour of the day")
            profile = tuple(_number(v, vpath, minimum=0, maximum=1e6) for vpath, v in values)
            if max(profile) <= 0:
                raise _bad(obj.at("profile"), "at least one hour needs a factor above 0")
        arrivals.append(
            ArrivalSpec(
                queue=queue,
                channel=channel,
                per_hour=obj.number("per_hour", minimum=0, maximum=1e7),
                handle_time=_parse_handle_time(obj),
                patience=_parse_patience(obj),
                profile=profile,
                skills=obj.levels("skills"),
            )
        )
    return tuple(arrivals)


def _parse_handle_time(parent: _Object) -> HandleTime:
    data = parent.raw("handle_time")
    path = parent.at("handle_time")
    if not isinstance(data, dict):
        raise _bad(path, "an object is expected")
    value = data.get("distribution", Distribution.exponential.value)
    try:
        kind = Distribution(value if isinstance(value, str) else "")
    except ValueError:
        choices = ", ".join(d.value for d in Distribution)
        raise _bad(f"{path}.distribution", f"choose one of {choices}") from None
    obj = _Object(data, path, _HANDLE_FIELDS[kind])
    if kind is Distribution.uniform:
        low = obj.number("low", minimum=0, maximum=_MAX_SECONDS)
        high = obj.number("high", above=low, maximum=_MAX_SECONDS)
        return HandleTime(kind, mean=(low + high) / 2, low=low, high=high)
    mean = obj.number("mean", above=0, maximum=_MAX_SECONDS)
    sd = obj.number("sd", above=0, maximum=_MAX_SECONDS) if kind is Distribution.lognormal else 0.0
    return HandleTime(kind, mean=mean, sd=sd)


def _parse_patience(parent: _Object) -> Patience | None:
    if not parent.has("patience"):
        return None
    data = parent.data["patience"]
    path = parent.at("patience")
    if data == "none":
        return None
    obj = _Object(data, path, ("distribution", "mean"))
    if obj.has("distribution") and obj.data["distribution"] not in ("exponential", "none"):
        raise _bad(obj.at("distribution"), "choose exponential or none")
    if obj.data.get("distribution") == "none":
        return None
    return Patience(mean=obj.number("mean", above=0, maximum=_MAX_SECONDS))
