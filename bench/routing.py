"""Routing decision latency: kefu's engine against a naive scan-all router, same centre, same run.

The centre: ``--agents`` agents (default 1,000) in 20 queues (each agent in 1–3 of them, with a
language skill at a level 1–5; queues 0–4 require it), each taking 3 chats or 10 emails, all
busy, and ``--waiting`` contacts waiting (default 10,000; 10 % VIP with a 300 s head start,
some needing a language). Then ``--ops`` operations (default 20,000), alternately:

* **freed** — a random busy agent finishes one contact: which waiting contact do they take?
* **arrival** — a new contact arrives: may anyone take it now? (everyone is busy: no.)

so the line stays about ``--waiting`` long. Each operation's time is the CPU time of the
decision (``time.thread_time_ns``, this process only). Both routers make the same decisions
with the same rule functions (``kefu.routing.engine.can_take``, ranks, strategies); the
naive one finds them by scanning every waiting contact or every agent, the engine looks only
at the lines of the agent's queues and channels with room, and at agents with room.
Checked: both routers give the same agent the same contact in the same order.

    .venv/bin/python bench/routing.py [--quick] [--agents N] [--waiting N] [--ops N] [--json FILE]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from harness import REPO_DIR, dump_json, machine_facts, print_facts, print_table, ratio

sys.path.insert(0, str(REPO_DIR / "src"))

from kefu.routing.engine import (  # the repository's source, not an installed copy
    Agent,
    Assignment,
    Contact,
    QueueRule,
    Router,
    Strategy,
    can_take,
    next_overflow_at,
    pick_agent,
    queues_of,
)

QUEUES = 20
LANGS = ("en", "ja", "ko")
CHANNELS = ("web_chat", "email")
GOAL_P99_MS = 1.0


@dataclass
class Figures:
    router: str
    freed_p50_us: float
    freed_p99_us: float
    arrival_p50_us: float
    arrival_p99_us: float
    timer_p99_us: float
    worst_p99_us: float
    decisions: int
    assigned: int


def build_rules() -> list[QueueRule]:
    strategies = list(Strategy)
    return [
        QueueRule(
            q,
            strategy=strategies[q % len(strategies)],
            skills={LANGS[q % len(LANGS)]: 1} if q < 5 else {},
            prefer_levels=q % 2 == 0,
            overflow_to=(q + 1) % QUEUES,
            overflow_after=120.0,
        )
        for q in range(QUEUES)
    ]


def build_agents(rng: random.Random, n: int) -> list[Agent]:
    agents = []
    for i in range(n):
        queues = frozenset(rng.sample(range(QUEUES), rng.randint(1, 3)))
        skills = {lang: rng.randint(1, 5) for lang in rng.sample(LANGS, rng.randint(1, 2))}
        agents.append(
            Agent(
                id=i,
                queues=queues,
                capacity={"web_chat": 3, "email": 10},
                skills=skills,
                load={"web_chat": 3},
                last_assigned=rng.uniform(0, 100),
            )
        )
    return agents


def new_contact(rng: random.Random, contact_id: int, now: float) -> Contact:
    queue = rng.randrange(QUEUES)
    return Contact(
        id=contact_id,
        queue_id=queue,
        channel="web_chat" if rng.random() < 0.8 else "email",
        waiting_since=now,
        head_start=300.0 if rng.random() < 0.1 else 0.0,
        skills={rng.choice(LANGS): 1} if rng.random() < 0.05 else {},
    )


class NaiveRouter:
    """Scan-all: every decision looks at every waiting contact or every agent."""

    def __init__(self, rules: list[QueueRule], agents: list[Agent]) -> None:
        self.rules = {r.id: r for r in rules}
        self.agents = {a.id: a for a in agents}
        self.waiting: dict[int, Contact] = {}
        self.weights: dict[str, int] = {}
        self.round_robin: dict[int, int] = {}

    def available(self, agent_id: int) -> bool:
        return self.agents[agent_id].available

    def arrive(self, contact: Contact, now: float) -> Assignment | None:
        self.waiting[contact.id] = contact
        found = pick_agent(
            contact,
            self.agents.values(),
            self.rules,
            self.weights,
            now,
            round_robin_last=self.round_robin,
            available=self.available,
        )
        if found is not None:
            self._apply(found, now)
        return found

    def tick(self, since: float, now: float) -> list[Assignment]:
        """Contacts whose overflow came due in (since, now], found by scanning every contact."""
        due = []
        for contact in self.waiting.values():
            at = next_overflow_at(contact, self.rules, since)
            if at is not None and since < at <= now:
                due.append((at, contact.sort_key(), contact))
        made = []
        for at, _, contact in sorted(due):
            if contact.id not in self.waiting:
                continue
            found = pick_agent(
                contact,
                self.agents.values(),
                self.rules,
                self.weights,
                at,
                round_robin_last=self.round_robin,
                available=self.available,
            )
            if found is not None:
                self._apply(found, at)
                made.append(found)
        return made

    def finish(self, agent_id: int, channel: str, now: float) -> list[Assignment]:
        agent = self.agents[agent_id]
        agent.load[channel] -= 1
        made = []
        while True:
            best: tuple[tuple[float, float, int], Assignment] | None = None
            for contact in self.waiting.values():
                for queue_id in queues_of(contact, self.rules, now):
                    if queue_id in agent.queues and can_take(
                        agent, contact, self.rules.get(queue_id), self.weights, now, self.available
                    ):
                        key = contact.sort_key()
                        if best is None or key < best[0]:
                            best = (key, Assignment(contact.id, agent.id, queue_id))
                        break
            if best is None:
                return made
            self._apply(best[1], now)
            made.append(best[1])

    def _apply(self, assignment: Assignment, now: float) -> None:
        contact = self.waiting.pop(assignment.contact_id)
        agent = self.agents[assignment.agent_id]
        agent.load[contact.channel] = agent.load.get(contact.channel, 0) + 1
        agent.last_assigned = now
        self.round_robin[assignment.queue_id] = agent.id


def run(
    name: str, make: Callable[[list[Agent]], Router | NaiveRouter], args: argparse.Namespace
) -> tuple[Figures, list[tuple[int, int]]]:
    rng = random.Random(args.seed)
    agents = build_agents(rng, args.agents)
    router = make(agents)
    if isinstance(router, Router):
        for agent in agents:
            router.add_agent(agent, 0.0)
    holding = {a.id: ["web_chat"] * 3 for a in agents}
    channels: dict[int, str] = {}
    next_id = 0
    now = 0.0
    for _ in range(args.waiting):  # fill the line (everybody is busy, so nobody is assigned)
        next_id += 1
        now += 0.01
        waiting = new_contact(rng, next_id, now)
        channels[waiting.id] = waiting.channel
        router.arrive(waiting, now)
    freed: list[int] = []
    arrivals: list[int] = []
    log: list[tuple[int, int]] = []
    timers: list[int] = []
    for op in range(args.ops):
        now += 0.05
        made: list[Assignment] = []
        if isinstance(router, Router):  # overflows reached: as every driver of the engine does
            while (due := router.next_timer()) is not None and due <= now:
                start = time.thread_time_ns()
                made += router.tick(due)
                timers.append(time.thread_time_ns() - start)
        else:
            start = time.thread_time_ns()
            made += router.tick(now - 0.05, now)
            timers.append(time.thread_time_ns() - start)
        if op % 2 == 0:
            agent_id = rng.choice(
                [a for a in (rng.randrange(args.agents) for _ in range(20)) if holding[a]] or [0]
            )
            if not holding[agent_id]:
                continue
            channel = holding[agent_id].pop(rng.randrange(len(holding[agent_id])))
            start = time.thread_time_ns()
            made += router.finish(agent_id, channel, now)
            freed.append(time.thread_time_ns() - start)
        else:
            next_id += 1
            contact = new_contact(rng, next_id, now)
            channels[contact.id] = contact.channel
            start = time.thread_time_ns()
            single = router.arrive(contact, now)
            arrivals.append(time.thread_time_ns() - start)
            made += [single] if single else []
        for assignment in made:
            holding[assignment.agent_id].append(channels[assignment.contact_id])
            log.append((assignment.contact_id, assignment.agent_id))
    every = freed + arrivals + timers

    def pct(values: list[int], q: float) -> float:
        if not values:
            return 0.0
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000

    figures = Figures(
        router=name,
        freed_p50_us=statistics.median(freed) / 1000 if freed else 0.0,
        freed_p99_us=pct(freed, 0.99),
        arrival_p50_us=statistics.median(arrivals) / 1000 if arrivals else 0.0,
        arrival_p99_us=pct(arrivals, 0.99),
        timer_p99_us=pct(timers, 0.99),
        worst_p99_us=max(pct(freed, 0.99), pct(arrivals, 0.99), pct(timers, 0.99)),
        decisions=len(every),
        assigned=len(log),
    )
    return figures, log


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="200 agents, 2,000 waiting, 2,000 operations")
    parser.add_argument("--agents", type=int, help="agents (default 1000)")
    parser.add_argument("--waiting", type=int, help="contacts waiting (default 10000)")
    parser.add_argument(
        "--ops", type=int, help="operations measured (default 20000; the naive router gets a twentieth)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="write the raw figures to this file")
    args = parser.parse_args()
    args.agents = args.agents or (200 if args.quick else 1000)
    args.waiting = args.waiting or (2000 if args.quick else 10000)
    args.ops = args.ops or (2000 if args.quick else 20000)

    facts = machine_facts()
    print_facts(facts)
    print(
        f"\n{args.agents} agents in {QUEUES} queues, {args.waiting} contacts waiting, {args.ops} operations\n"
    )
    rules = build_rules()
    kefu, kefu_log = run("kefu engine", lambda agents: Router(rules, {}), args)
    naive_args = argparse.Namespace(**{**vars(args), "ops": max(200, args.ops // 20)})
    naive, naive_log = run("naive scan-all", lambda agents: NaiveRouter(rules, agents), naive_args)
    same = kefu_log[: len(naive_log)] == naive_log
    rows = [
        [
            f.router,
            f"{f.freed_p50_us:.1f}",
            f"{f.freed_p99_us:.1f}",
            f"{f.arrival_p50_us:.1f}",
            f"{f.arrival_p99_us:.1f}",
            f"{f.timer_p99_us:.1f}",
            f"{f.worst_p99_us:.1f}",
            str(f.decisions),
            str(f.assigned),
        ]
        for f in (kefu, naive)
    ]
    print_table(
        [
            "router",
            "freed p50 µs",
            "freed p99 µs",
            "arrival p50 µs",
            "arrival p99 µs",
            "overflow p99 µs",
            "worst p99 µs",
            "decisions",
            "assigned",
        ],
        rows,
    )
    print(f"\nnaive / kefu, worst p99: {ratio(naive.worst_p99_us, kefu.worst_p99_us):.1f}x")
    print(f"same assignments in the same order ({len(naive_log)} compared): {'yes' if same else 'NO'}")
    met = kefu.worst_p99_us < GOAL_P99_MS * 1000
    print(f"goal (issue 4): p99 under {GOAL_P99_MS:g} ms of CPU per decision: {'met' if met else 'NOT met'}")
    if args.json:
        dump_json(args.json, {"facts": facts, "kefu": asdict(kefu), "naive": asdict(naive), "same": same})
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
