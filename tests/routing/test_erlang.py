"""Erlang B/C and staffing: published figures, exact values, large centres, properties."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kefu.platform.errors import InvalidInput
from kefu.routing.erlang import (
    MAX_AGENTS,
    MAX_TRAFFIC,
    Staffing,
    average_speed_of_answer,
    erlang_b,
    erlang_c,
    occupancy,
    plan,
    required_agents,
    service_level,
    table,
    table_for,
    traffic_intensity,
)


# -- independent references ----------------------------------------------------------------------------
def exact_erlang_b(traffic: Fraction, agents: int) -> Fraction:
    """The textbook formula, in exact rational arithmetic: (Aⁿ/n!) / Σₖ Aᵏ/k!."""
    terms = [traffic**k / math.factorial(k) for k in range(agents + 1)]
    return terms[-1] / sum(terms)


def exact_erlang_c(traffic: Fraction, agents: int) -> Fraction:
    """(Aⁿ/n! · n/(n−A)) / (Σₖ₍ₖ<ₙ₎ Aᵏ/k! + Aⁿ/n! · n/(n−A)), exact."""
    last = traffic**agents / math.factorial(agents) * agents / (agents - traffic)
    return last / (sum(traffic**k / math.factorial(k) for k in range(agents)) + last)


def log_space_erlang_b(traffic: float, agents: int) -> float:
    """The textbook formula through lgamma and log-sum-exp: no overflow at any size."""
    logs = [k * math.log(traffic) - math.lgamma(k + 1) for k in range(agents + 1)]
    top = max(logs)
    return math.exp(logs[-1] - top - math.log(sum(math.exp(x - top) for x in logs)))


def close(a: float, b: float, rel: float = 1e-12) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-300)


# -- the issue's example and published figures -----------------------------------------------------------
def test_the_issues_example_needs_14_agents() -> None:
    """100 contacts per 30 minutes, AHT 180 s, 80 % answered within 20 s."""
    answer = required_agents(100, 1800, 180, 0.8, 20)
    assert answer.traffic == 10.0
    assert answer.agents == 14
    assert answer.scheduled_agents == 14
    assert answer.service_level == pytest.approx(0.8884, abs=5e-5)
    assert answer.p_wait == pytest.approx(0.1741, abs=5e-5)
    assert answer.asa_seconds == pytest.approx(7.84, abs=5e-3)
    assert answer.occupancy == pytest.approx(10 / 14)
    # 13 agents come close, but stay under 80 %: that is why the answer is 14.
    assert service_level(10, 13, 180, 20) == pytest.approx(0.7956, abs=5e-5)
    assert service_level(10, 13, 180, 20) < 0.8


@pytest.mark.parametrize(
    ("agents", "p_wait", "level", "asa"),
    [
        # The worked example of "Erlang C formula – made simple" (Call Centre Helper): 10 Erlangs,
        # AHT 180 s, target 20 s, four decimals as published there.
        (11, 0.6821, 0.3896, 122.78),
        (12, 0.4494, 0.6402, 40.44),
        (13, 0.2853, 0.7956, 17.12),
        (14, 0.1741, 0.8884, 7.84),
        (15, 0.1020, 0.9415, 3.67),
    ],
)
def test_published_figures_for_10_erlangs(agents: int, p_wait: float, level: float, asa: float) -> None:
    assert erlang_c(10, agents) == pytest.approx(p_wait, abs=5e-5)
    assert service_level(10, agents, 180, 20) == pytest.approx(level, abs=5e-5)
    assert average_speed_of_answer(10, agents, 180) == pytest.approx(asa, abs=5e-3)
    assert occupancy(10, agents) == pytest.approx(10 / agents)


@pytest.mark.parametrize(
    ("traffic", "lines", "blocking"),
    [
        # Erlang B tables (traffic offered to n lines at a grade of service), to their two decimals.
        (1.36, 5, 0.01),
        (4.46, 10, 0.01),
        (5.08, 10, 0.02),
        (84.06, 100, 0.01),
    ],
)
def test_published_erlang_b_table(traffic: float, lines: int, blocking: float) -> None:
    assert erlang_b(traffic, lines) == pytest.approx(blocking, rel=0.01)


@pytest.mark.parametrize(
    ("traffic", "agents"),
    [(Fraction(1), 1), (Fraction(2), 2), (Fraction(1, 2), 3), (Fraction(10), 14), (Fraction(37, 3), 20)],
)
def test_matches_the_exact_formula(traffic: Fraction, agents: int) -> None:
    assert close(erlang_b(float(traffic), agents), float(exact_erlang_b(traffic, agents)))
    expected_c = exact_erlang_c(traffic, agents) if agents > traffic else Fraction(1)
    assert close(erlang_c(float(traffic), agents), float(expected_c))


def test_small_exact_values() -> None:
    assert erlang_b(1, 1) == 0.5
    assert erlang_b(2, 2) == pytest.approx(0.4)
    assert erlang_b(5, 0) == 1.0
    assert erlang_c(1, 2) == pytest.approx(1 / 3)  # M/M/2 at 1 Erlang
    assert average_speed_of_answer(1, 2, 60) == pytest.approx(20.0)  # C·AHT/(n−A) = 1/3·60/1


# -- edges ---------------------------------------------------------------------------------------------
def test_too_few_agents_means_everyone_waits_forever() -> None:
    for agents in (0, 5, 10):
        assert erlang_c(10, agents) == 1.0
        assert service_level(10, agents, 180, 20) == 0.0
        assert average_speed_of_answer(10, agents, 180) == math.inf
        assert occupancy(10, agents) == 1.0
    assert erlang_c(10.5, 11) < 1.0  # fractional traffic: 11 agents are already enough to keep up


def test_no_traffic_needs_no_agents() -> None:
    answer = required_agents(0, 1800, 180, 0.8, 20, shrinkage=0.3)
    assert (answer.traffic, answer.agents, answer.scheduled_agents) == (0.0, 0, 0)
    assert answer.service_level == 1.0
    assert answer.asa_seconds == 0.0
    assert answer.occupancy == 0.0
    assert answer.p_wait == 0.0
    assert erlang_c(0, 0) == 0.0
    assert service_level(0, 3, 180, 20) == 1.0
    assert [row.agents for row in table_for(answer)] == [0, 1, 2, 3, 4]


def test_zero_target_time_is_the_share_answered_at_once() -> None:
    assert service_level(10, 14, 180, 0) == pytest.approx(1 - erlang_c(10, 14))


def test_shrinkage_rounds_up_without_float_noise() -> None:
    assert required_agents(100, 1800, 180, 0.8, 20, shrinkage=0.3).scheduled_agents == 20  # 14 / 0.7 = 20
    assert required_agents(100, 1800, 180, 0.8, 20, shrinkage=0.35).scheduled_agents == 22  # 21.5…
    assert required_agents(100, 1800, 180, 0.8, 20, shrinkage=0.125).scheduled_agents == 16  # 16.0


def test_max_occupancy_adds_agents_when_it_binds() -> None:
    assert required_agents(100, 1800, 180, 0.8, 20, max_occupancy=0.75).agents == 14  # 71 % already
    tight = required_agents(100, 1800, 180, 0.8, 20, max_occupancy=0.65)
    assert tight.agents == 16  # 10/16 = 62.5 %; 10/15 = 66.7 % is too busy
    assert tight.occupancy <= 0.65
    exact = required_agents(100, 1800, 180, 0.5, 20, max_occupancy=10 / 15)
    assert exact.agents == 15  # exactly at the limit is allowed


def test_plan_takes_minutes_and_percent_and_names_its_fields() -> None:
    answer = plan(100, 30, 180, 80, 20, shrinkage_percent=30)
    assert (answer.agents, answer.scheduled_agents, answer.target_level) == (14, 20, 0.8)
    with pytest.raises(InvalidInput) as caught:
        plan(100, 30, 180, 100, 20)
    assert caught.value.errors[0]["field"] == "service_level_percent"
    with pytest.raises(InvalidInput) as caught:
        plan(100, 0, 180, 80, 20)
    assert caught.value.errors[0]["field"] == "interval_minutes"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"contacts": -1}, "contacts"),
        ({"contacts": math.nan}, "contacts"),
        ({"interval_seconds": 0}, "interval_seconds"),
        ({"interval_seconds": -1800}, "interval_seconds"),
        ({"aht_seconds": 0}, "aht_seconds"),
        ({"aht_seconds": math.inf}, "aht_seconds"),
        ({"target_level": 0}, "target_level"),
        ({"target_level": 1}, "target_level"),
        ({"target_level": 80}, "target_level"),
        ({"target_seconds": -1}, "target_seconds"),
        ({"shrinkage": -0.1}, "shrinkage"),
        ({"shrinkage": 1}, "shrinkage"),
        ({"max_occupancy": 0}, "max_occupancy"),
        ({"max_occupancy": 1.5}, "max_occupancy"),
        ({"contacts": 10_000_000, "aht_seconds": 3600}, "contacts"),  # 20 million Erlangs
    ],
)
def test_bad_input_is_refused_with_a_field(kwargs: dict[str, float], field: str) -> None:
    args: dict[str, float] = {
        "contacts": 100,
        "interval_seconds": 1800,
        "aht_seconds": 180,
        "target_level": 0.8,
        "target_seconds": 20,
        **kwargs,
    }
    with pytest.raises(InvalidInput) as caught:
        required_agents(**args)  # type: ignore[arg-type]  # the keys above are its parameters
    assert caught.value.errors == [{"field": field, "message": caught.value.message}]


@pytest.mark.parametrize(
    "call",
    [
        lambda: erlang_b(-1, 3),
        lambda: erlang_b(1, -1),
        lambda: erlang_b(1, 2.5),
        lambda: erlang_b(1, True),
        lambda: erlang_c(math.nan, 3),
        lambda: erlang_c(MAX_TRAFFIC * 2, 3),
        lambda: erlang_c(1, MAX_AGENTS + 1),
        lambda: service_level(1, 3, 0, 20),
        lambda: service_level(1, 3, 180, -5),
        lambda: average_speed_of_answer(1, 3, -180),
        lambda: occupancy(-0.5, 3),
        lambda: table(10, 180, 20, around=14, before=-1),
        lambda: table(10, 180, 20, around=14, before=500),
        lambda: traffic_intensity(100, math.inf, 180),
    ],
)
def test_the_formulas_check_their_input(call: object) -> None:
    with pytest.raises(InvalidInput):
        call()  # type: ignore[operator]  # each case is a lambda


# -- large centres ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("traffic", "agents"), [(950.0, 1000), (1000.0, 1030), (4980.5, 5100)])
def test_large_centres_are_exact(traffic: float, agents: int) -> None:
    """Where Aⁿ and n! overflow a float (170! already does), the recursion still agrees with the
    formula evaluated in log space."""
    b = erlang_b(traffic, agents)
    assert 0 < b < 1
    assert math.isclose(b, log_space_erlang_b(traffic, agents), rel_tol=1e-9)
    c = erlang_c(traffic, agents)
    assert math.isclose(c, agents * b / (agents - traffic * (1 - b)), rel_tol=1e-12)
    assert 0 < c < 1


def test_a_centre_of_thousands_of_agents() -> None:
    # 3,000 chats an hour at 12 minutes each: 600 Erlangs.
    answer = required_agents(3000, 3600, 720, 0.9, 30)
    assert answer.traffic == pytest.approx(600)
    assert 600 < answer.agents < 700
    assert answer.service_level >= 0.9
    assert service_level(600, answer.agents - 1, 720, 30) < 0.9
    # Economies of scale: ten times the traffic of a small centre needs far fewer than ten times
    # its extra agents.
    small = required_agents(300, 3600, 720, 0.9, 30)
    assert answer.agents - 600 < 10 * (small.agents - 60)
    huge = required_agents(1_000_000, 1800, 180, 0.8, 20)  # 100,000 Erlangs, the largest accepted
    assert huge.traffic == MAX_TRAFFIC
    assert MAX_TRAFFIC < huge.agents < MAX_TRAFFIC + 100
    assert all(math.isfinite(x) for x in (huge.service_level, huge.asa_seconds, huge.p_wait))


def test_the_table_lists_the_agents_around_the_answer() -> None:
    answer = required_agents(100, 1800, 180, 0.8, 20)
    rows = table_for(answer, before=4, after=3)
    assert [row.agents for row in rows] == [10, 11, 12, 13, 14, 15, 16, 17]
    [mine] = [row for row in rows if row.agents == 14]
    assert mine == answer.figures
    assert rows[0].asa_seconds == math.inf  # 10 agents for 10 Erlangs: the queue only grows
    assert [row.agents for row in table(0.5, 180, 20, around=1, before=4, after=1)] == [1, 2]


# -- properties --------------------------------------------------------------------------------------------
def at_most(a: float, b: float) -> bool:
    """a ≤ b, up to the last bits of float rounding (a real error is many orders larger)."""
    return a <= b + 1e-12 * abs(b) + 1e-300


traffics = st.floats(min_value=0.01, max_value=400, allow_nan=False, allow_infinity=False)
agent_counts = st.integers(min_value=0, max_value=600)
ahts = st.floats(min_value=1, max_value=3600, allow_nan=False, allow_infinity=False)
targets = st.floats(min_value=0, max_value=600, allow_nan=False, allow_infinity=False)


@given(traffic=traffics, agents=agent_counts)
def test_probabilities_stay_probabilities(traffic: float, agents: int) -> None:
    b, c = erlang_b(traffic, agents), erlang_c(traffic, agents)
    assert 0 <= b <= 1
    assert 0 <= c <= 1
    assert at_most(b, c)  # waiting is at least as likely as being blocked with no queue
    assert 0 <= occupancy(traffic, agents) <= 1


@given(traffic=traffics, agents=agent_counts, aht=ahts, target=targets)
def test_one_more_agent_never_makes_service_worse(
    traffic: float, agents: int, aht: float, target: float
) -> None:
    assert at_most(erlang_b(traffic, agents + 1), erlang_b(traffic, agents))
    assert at_most(erlang_c(traffic, agents + 1), erlang_c(traffic, agents))
    assert at_most(
        service_level(traffic, agents, aht, target), service_level(traffic, agents + 1, aht, target)
    )
    assert at_most(
        average_speed_of_answer(traffic, agents + 1, aht), average_speed_of_answer(traffic, agents, aht)
    )
    assert at_most(occupancy(traffic, agents + 1), occupancy(traffic, agents))


@given(traffic=traffics, agents=agent_counts, aht=ahts, target=targets, more=st.floats(0, 600))
def test_a_longer_target_is_met_more_often(
    traffic: float, agents: int, aht: float, target: float, more: float
) -> None:
    assert at_most(
        service_level(traffic, agents, aht, target), service_level(traffic, agents, aht, target + more)
    )


@given(traffic=traffics, agents=agent_counts, more=st.floats(0, 50))
def test_more_traffic_means_more_waiting(traffic: float, agents: int, more: float) -> None:
    assert at_most(erlang_b(traffic, agents), erlang_b(traffic + more, agents))
    assert at_most(erlang_c(traffic, agents), erlang_c(traffic + more, agents))


contacts_st = st.floats(min_value=0, max_value=5000, allow_nan=False, allow_infinity=False)
intervals = st.sampled_from([900.0, 1800.0, 3600.0])
levels = st.floats(min_value=0.01, max_value=0.99)
shrinkages = st.floats(min_value=0, max_value=0.9)
occupancies = st.none() | st.floats(min_value=0.3, max_value=1.0)


@settings(max_examples=150)
@given(
    contacts=contacts_st,
    interval=intervals,
    aht=st.floats(min_value=10, max_value=1200),
    level=levels,
    target=targets,
    shrinkage=shrinkages,
    max_occupancy=occupancies,
)
def test_the_answer_is_the_fewest_agents_meeting_every_target(
    contacts: float,
    interval: float,
    aht: float,
    level: float,
    target: float,
    shrinkage: float,
    max_occupancy: float | None,
) -> None:
    answer = required_agents(contacts, interval, aht, level, target, shrinkage, max_occupancy)
    assert isinstance(answer, Staffing)
    n, traffic = answer.agents, answer.traffic
    assert traffic == pytest.approx(contacts * aht / interval)

    def meets(agents: int) -> bool:
        fine = service_level(traffic, agents, aht, target) >= level - 1e-12
        return fine and (max_occupancy is None or occupancy(traffic, agents) <= max_occupancy + 1e-12)

    if traffic == 0:
        assert n == 0
        return
    assert n > traffic
    assert meets(n)
    assert not meets(n - 1)
    assert answer.service_level == service_level(traffic, n, aht, target)
    assert answer.p_wait == erlang_c(traffic, n)
    assert answer.asa_seconds == average_speed_of_answer(traffic, n, aht)
    # Scheduled: the fewest people who, less shrinkage, still leave n on the phones.
    s = answer.scheduled_agents
    assert s * (1 - shrinkage) >= n - 1e-6
    assert (s - 1) * (1 - shrinkage) < n


@settings(max_examples=75)
@given(contacts=contacts_st, more=st.floats(0, 500), aht=st.floats(10, 1200), level=levels, target=targets)
def test_more_contacts_never_need_fewer_agents(
    contacts: float, more: float, aht: float, level: float, target: float
) -> None:
    assume(contacts + more <= 5000)
    fewer = required_agents(contacts, 1800, aht, level, target).agents
    assert required_agents(contacts + more, 1800, aht, level, target).agents >= fewer
