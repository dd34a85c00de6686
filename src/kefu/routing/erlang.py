"""Erlang C staffing: how many agents an interval needs to answer its contacts in time.

Pure functions, no I/O. The model is the classic M/M/n queue: contacts arrive at random
(Poisson), handling times are exponential with mean ``aht_seconds``, nobody hangs up, and
``agents`` answer them. The traffic intensity ``A`` (Erlangs) is the work that arrives per
unit of time: ``contacts × AHT / interval``.

Erlang B (the blocking probability of ``n`` lines) is computed with its recursion
``B(0) = 1, B(k) = A·B(k−1) / (k + A·B(k−1))``, which stays within [0, 1] at every step:
no factorials or powers, so a centre of 100,000 agents is as exact as one of 3. Erlang C
(the probability that a contact waits) follows from it: ``C = n·B / (n − A·(1 − B))``.

Percentages in the public API here are fractions (0.8 means 80 %); times are seconds. Bad
input raises :class:`~kefu.platform.errors.InvalidInput`, naming the parameter in ``field``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from kefu.platform.errors import InvalidInput

MAX_CONTACTS = 10_000_000  # per interval
MAX_INTERVAL_SECONDS = 24 * 3600
MAX_AHT_SECONDS = 24 * 3600
MAX_TARGET_SECONDS = 24 * 3600
MAX_TRAFFIC = 100_000.0  # Erlangs: 100,000 agents busy at once
MAX_AGENTS = 250_000  # no answer, table or figure goes beyond this many agents
TABLE_ROWS_MAX = 101
# Float slack when comparing a computed figure with a target, so that e.g. an occupancy of
# exactly 85 % meets "at most 85 %" whatever the last bit of the division.
_SLACK = 1e-12


@dataclass(frozen=True)
class AgentFigures:
    """The figures of one agent count: one row of :func:`table`."""

    agents: int
    service_level: float  # fraction answered within the target time
    asa_seconds: float  # average speed of answer; inf when the queue only grows
    occupancy: float  # fraction of their time agents spend handling contacts
    p_wait: float  # probability that a contact waits (Erlang C)


@dataclass(frozen=True)
class Staffing:
    """The answer of :func:`required_agents`: its inputs, and the figures at the agent count found."""

    contacts: float
    interval_seconds: float
    aht_seconds: float
    target_level: float
    target_seconds: float
    shrinkage: float
    max_occupancy: float | None
    traffic: float  # Erlangs
    agents: int  # on the phones/chats: the smallest count meeting every target
    service_level: float
    asa_seconds: float
    occupancy: float
    p_wait: float
    scheduled_agents: int  # to put on the schedule: agents / (1 − shrinkage), rounded up

    @property
    def figures(self) -> AgentFigures:
        return AgentFigures(self.agents, self.service_level, self.asa_seconds, self.occupancy, self.p_wait)


# -- validation ---------------------------------------------------------------------------------------
def _number(value: float, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput("Enter a number.", field=field)
    if not math.isfinite(value):
        raise InvalidInput("Enter a finite number.", field=field)
    return float(value)


def _traffic(traffic: float) -> float:
    value = _number(traffic, "traffic")
    if not 0 <= value <= MAX_TRAFFIC:
        raise InvalidInput(
            "The traffic must be between 0 and %(max)s Erlangs.",
            field="traffic",
            params={"max": f"{MAX_TRAFFIC:,.0f}"},
        )
    return value


def _agents(agents: int) -> int:
    if isinstance(agents, bool) or not isinstance(agents, int):
        raise InvalidInput("The number of agents must be a whole number.", field="agents")
    if not 0 <= agents <= MAX_AGENTS:
        raise InvalidInput(
            "The number of agents must be between 0 and %(max)s.",
            field="agents",
            params={"max": f"{MAX_AGENTS:,}"},
        )
    return agents


def _aht(aht_seconds: float) -> float:
    value = _number(aht_seconds, "aht_seconds")
    if not 0 < value <= MAX_AHT_SECONDS:
        raise InvalidInput(
            "The average handling time must be more than 0 seconds and at most 24 hours.",
            field="aht_seconds",
        )
    return value


def _target_seconds(target_seconds: float) -> float:
    value = _number(target_seconds, "target_seconds")
    if not 0 <= value <= MAX_TARGET_SECONDS:
        raise InvalidInput(
            "The target answer time must be between 0 seconds and 24 hours.", field="target_seconds"
        )
    return value


# -- the formulas -----------------------------------------------------------------------------------
def _erlang_b_series(traffic: float) -> Iterator[float]:
    """B(A, 0), B(A, 1), B(A, 2)… by the recursion (each term is within [0, 1])."""
    b = 1.0
    k = 0
    while True:
        yield b
        k += 1
        ab = traffic * b
        b = ab / (k + ab)


def _figures(traffic: float, agents: int, b: float, aht: float, target: float) -> AgentFigures:
    """The figures of ``agents`` given ``b`` = B(traffic, agents); inputs already checked."""
    if traffic == 0:
        return AgentFigures(agents, 1.0, 0.0, 0.0, 0.0)
    if agents <= traffic:
        return AgentFigures(agents, 0.0, math.inf, 1.0, 1.0)
    spare = agents - traffic
    c = min(1.0, agents * b / (spare + traffic * b))  # = n·B / (n − A·(1 − B))
    level = 1.0 - c * math.exp(-spare * target / aht)
    return AgentFigures(agents, max(0.0, min(1.0, level)), c * aht / spare, traffic / agents, c)


def erlang_b(traffic: float, agents: int) -> float:
    """The probability that a contact finds every one of ``agents`` busy, with no queue (Erlang B)."""
    traffic, agents = _traffic(traffic), _agents(agents)
    b = 1.0
    for k in range(1, agents + 1):
        ab = traffic * b
        b = ab / (k + ab)
    return b


def erlang_c(traffic: float, agents: int) -> float:
    """The probability that a contact waits for an agent (Erlang C).

    1.0 when ``agents <= traffic`` (the queue grows without end: everyone waits), and 0.0
    when there is no traffic at all (nobody comes, so nobody waits).
    """
    traffic, agents = _traffic(traffic), _agents(agents)
    return _figures(traffic, agents, erlang_b(traffic, agents), 1.0, 0.0).p_wait


def service_level(traffic: float, agents: int, aht_seconds: float, target_seconds: float) -> float:
    """The fraction of contacts answered within ``target_seconds``: ``1 − C·e^(−(n − A)·t / AHT)``.

    0.0 when ``agents <= traffic``; 1.0 when there is no traffic.
    """
    traffic, agents = _traffic(traffic), _agents(agents)
    aht, target = _aht(aht_seconds), _target_seconds(target_seconds)
    return _figures(traffic, agents, erlang_b(traffic, agents), aht, target).service_level


def average_speed_of_answer(traffic: float, agents: int, aht_seconds: float) -> float:
    """The average wait before an agent answers, in seconds: ``C·AHT / (n − A)``.

    inf when ``agents <= traffic``; 0.0 when there is no traffic.
    """
    traffic, agents, aht = _traffic(traffic), _agents(agents), _aht(aht_seconds)
    return _figures(traffic, agents, erlang_b(traffic, agents), aht, 0.0).asa_seconds


def occupancy(traffic: float, agents: int) -> float:
    """The fraction of their time agents are busy: ``A / n``, at most 1.0 (0.0 without traffic)."""
    traffic, agents = _traffic(traffic), _agents(agents)
    if traffic == 0:
        return 0.0
    return 1.0 if agents <= traffic else traffic / agents


def traffic_intensity(contacts: float, interval_seconds: float, aht_seconds: float) -> float:
    """The traffic in Erlangs: ``contacts × AHT / interval``."""
    contacts = _number(contacts, "contacts")
    if not 0 <= contacts <= MAX_CONTACTS:
        raise InvalidInput(
            "The number of contacts must be between 0 and %(max)s.",
            field="contacts",
            params={"max": f"{MAX_CONTACTS:,}"},
        )
    interval = _number(interval_seconds, "interval_seconds")
    if not 0 < interval <= MAX_INTERVAL_SECONDS:
        raise InvalidInput(
            "The interval must be longer than 0 and at most 24 hours.", field="interval_seconds"
        )
    aht = _aht(aht_seconds)
    traffic = contacts * aht / interval
    if traffic > MAX_TRAFFIC:
        raise InvalidInput(
            "That is %(traffic)s Erlangs of traffic; this calculator stops at %(max)s. "
            "Split the interval or the contacts.",
            field="contacts",
            params={"traffic": f"{traffic:,.0f}", "max": f"{MAX_TRAFFIC:,.0f}"},
        )
    return traffic


# -- staffing ---------------------------------------------------------------------------------------
def required_agents(
    contacts: float,
    interval_seconds: float,
    aht_seconds: float,
    target_level: float,
    target_seconds: float,
    shrinkage: float = 0.0,
    max_occupancy: float | None = None,
) -> Staffing:
    """The fewest agents who answer ``target_level`` of ``contacts`` within ``target_seconds``.

    ``contacts`` arrive in ``interval_seconds`` and take ``aht_seconds`` each on average.
    With ``max_occupancy`` (a fraction), enough agents that none is busier than that on
    average. ``shrinkage`` is the fraction of paid time agents are not available (breaks,
    training, absence): the schedule needs ``ceil(agents / (1 − shrinkage))``. No contacts
    need no agents.
    """
    traffic = traffic_intensity(contacts, interval_seconds, aht_seconds)
    aht, target = _aht(aht_seconds), _target_seconds(target_seconds)
    level = _number(target_level, "target_level")
    if not 0 < level < 1:
        raise InvalidInput(
            "The service level must be more than 0 % and less than 100 %.", field="target_level"
        )
    loss = _number(shrinkage, "shrinkage")
    if not 0 <= loss < 1:
        raise InvalidInput("The shrinkage must be at least 0 % and less than 100 %.", field="shrinkage")
    if max_occupancy is not None:
        busiest = _number(max_occupancy, "max_occupancy")
        if not 0 < busiest <= 1:
            raise InvalidInput(
                "The maximum occupancy must be more than 0 % and at most 100 %.", field="max_occupancy"
            )
        max_occupancy = busiest

    found = _search(traffic, aht, target, level, max_occupancy)
    scheduled = 0 if found.agents == 0 else math.ceil(round(found.agents / (1.0 - loss), 9))
    return Staffing(
        contacts=float(contacts),
        interval_seconds=float(interval_seconds),
        aht_seconds=aht,
        target_level=level,
        target_seconds=target,
        shrinkage=loss,
        max_occupancy=max_occupancy,
        traffic=traffic,
        agents=found.agents,
        service_level=found.service_level,
        asa_seconds=found.asa_seconds,
        occupancy=found.occupancy,
        p_wait=found.p_wait,
        scheduled_agents=scheduled,
    )


def _meets(row: AgentFigures, level: float, max_occupancy: float | None) -> bool:
    if row.service_level + _SLACK < level:
        return False
    return max_occupancy is None or row.occupancy <= max_occupancy + _SLACK


def _search(
    traffic: float, aht: float, target: float, level: float, max_occupancy: float | None
) -> AgentFigures:
    """The first agent count meeting the targets (service level and occupancy both grow with agents)."""
    if traffic == 0:
        return _figures(0.0, 0, 1.0, aht, target)
    for agents, b in enumerate(_erlang_b_series(traffic)):
        if agents > MAX_AGENTS:
            break
        if agents <= traffic:
            continue
        row = _figures(traffic, agents, b, aht, target)
        if _meets(row, level, max_occupancy):
            return row
    raise InvalidInput(
        "No staffing of up to %(max)s agents meets these targets.",
        field="target_level",
        params={"max": f"{MAX_AGENTS:,}"},
    )


def table(
    traffic: float,
    aht_seconds: float,
    target_seconds: float,
    *,
    around: int,
    before: int = 4,
    after: int = 4,
) -> list[AgentFigures]:
    """The figures of the agent counts from ``around − before`` to ``around + after`` (never below 1,
    or 0 when ``around`` is 0), for a table of agents against service level, ASA and occupancy."""
    traffic, aht, target = _traffic(traffic), _aht(aht_seconds), _target_seconds(target_seconds)
    around = _agents(around)
    if isinstance(before, bool) or isinstance(after, bool) or before < 0 or after < 0:
        raise InvalidInput("The table needs whole, non-negative row counts.", field="before")
    if before + after + 1 > TABLE_ROWS_MAX:
        raise InvalidInput(
            "The table has at most %(max)s rows.", field="before", params={"max": TABLE_ROWS_MAX}
        )
    first = max(0 if around == 0 else 1, around - before)
    last = min(MAX_AGENTS, around + after)
    rows = []
    for agents, b in enumerate(_erlang_b_series(traffic)):
        if agents > last:
            break
        if agents >= first:
            rows.append(_figures(traffic, agents, b, aht, target))
    return rows


def table_for(staffing: Staffing, *, before: int = 4, after: int = 4) -> list[AgentFigures]:
    """:func:`table` around the answer of :func:`required_agents`."""
    return table(
        staffing.traffic,
        staffing.aht_seconds,
        staffing.target_seconds,
        around=staffing.agents,
        before=before,
        after=after,
    )


# -- in the units people type: minutes and percent ----------------------------------------------------
# The parameter each figure of :func:`plan` came from, to name the right field in errors.
PLAN_FIELDS = {
    "interval_seconds": "interval_minutes",
    "target_level": "service_level_percent",
    "shrinkage": "shrinkage_percent",
    "max_occupancy": "max_occupancy_percent",
}


def plan(
    contacts: float,
    interval_minutes: float,
    aht_seconds: float,
    service_level_percent: float,
    target_seconds: float,
    shrinkage_percent: float = 0.0,
    max_occupancy_percent: float | None = None,
) -> Staffing:
    """:func:`required_agents` with the interval in minutes and the percentages in percent (80 = 80 %).

    Errors name these parameters (``interval_minutes``, ``service_level_percent``…) in ``field``.
    """
    try:
        return required_agents(
            contacts,
            _number(interval_minutes, "interval_minutes") * 60,
            aht_seconds,
            _number(service_level_percent, "service_level_percent") / 100,
            target_seconds,
            _number(shrinkage_percent, "shrinkage_percent") / 100,
            None
            if max_occupancy_percent is None
            else _number(max_occupancy_percent, "max_occupancy_percent") / 100,
        )
    except InvalidInput as exc:
        for item in exc.errors:
            item["field"] = PLAN_FIELDS.get(str(item.get("field")), item.get("field"))
        raise
