"""The ``kefu`` command line."""

from __future__ import annotations

import asyncio
import getpass
import logging
import math
import re
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kefu.settings import ConfigurationError, Settings, load_settings

if TYPE_CHECKING:
    from kefu.demo import DemoResult

app = typer.Typer(
    name="kefu",
    help="kefu (客服): an open-source customer service center. Settings come from KEFU_* environment "
    "variables (see docs/settings.md).",
    no_args_is_help=True,
    add_completion=False,
)
log = logging.getLogger("kefu")


def _settings() -> Settings:
    from kefu.platform.i18n import set_locale
    from kefu.platform.observability import configure_logging

    try:
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_format.value)
        set_locale(settings.default_locale)  # messages printed by the CLI
        settings.ensure_data_dir()
        _ = settings.secret  # generated and persisted on first run; refused when weak in production
    except ConfigurationError as exc:
        typer.secho(f"kefu: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    except ValueError as exc:  # pydantic's ValidationError: a KEFU_* variable has a bad value
        typer.secho(f"kefu: invalid setting:\n{exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    return settings


def _migrate(settings: Settings) -> None:
    from kefu.platform.migrate import upgrade

    upgrade(settings.db_url)


def _print_logins(settings: Settings, result: DemoResult) -> None:
    from kefu.demo import LOGINS_FILE

    typer.secho(
        f"\nDemo workspace created. Log in with one of these (also in {settings.data_dir / LOGINS_FILE}):",
        fg=typer.colors.GREEN,
    )
    for login in result.logins:
        typer.echo(f"  {login.role.value:<11} {login.email:<26} password: {login.password}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (default KEFU_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default KEFU_PORT).")] = None,
    no_demo: Annotated[bool, typer.Option("--no-demo", help="Do not create the demo workspace.")] = False,
) -> None:
    """Run kefu: migrate the database, create the demo workspace on first run, serve the web UI and API."""
    import uvicorn

    from kefu import demo
    from kefu.app import create_app

    settings = _settings()
    if host is not None or port is not None:
        settings = settings.model_copy(update={k: v for k, v in {"host": host, "port": port}.items() if v})
    _migrate(settings)
    if not no_demo:
        result = asyncio.run(demo.seed_if_empty(settings))
        if result.created:
            _print_logins(settings, result)
    elif not asyncio.run(_has_users(settings)):
        typer.echo("No users yet: create an administrator with `kefu createuser --role admin`.")
    typer.secho(f"\nkefu is running at {settings.public_url}/  (Ctrl+C stops it)\n", fg=typer.colors.CYAN)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        log_config=None,
        access_log=False,
        ws="websockets-sansio",
        ws_ping_interval=20,
        timeout_graceful_shutdown=10,
    )


async def _has_users(settings: Settings) -> bool:
    from kefu.accounts import has_any_user
    from kefu.platform.db import Database

    db = Database(settings.db_url)
    try:
        async with db.reader() as session:
            return await has_any_user(session)
    finally:
        await db.dispose()


@app.command()
def migrate(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Upgrade the database schema (kefu serve does this by itself)."""
    from kefu.platform.migrate import upgrade

    settings = _settings()
    upgrade(settings.db_url, revision)
    typer.echo(f"database at {revision}")


@app.command()
def createuser(
    email: Annotated[str, typer.Option(help="Login email.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    role: Annotated[str, typer.Option(help="admin, supervisor or agent.")] = "admin",
    password: Annotated[
        str | None,
        typer.Option(
            help="Password; asked for when omitted. Prefer the prompt or KEFU_NEW_PASSWORD.",
            envvar="KEFU_NEW_PASSWORD",
        ),
    ] = None,
) -> None:
    """Create a user (for example the first administrator when started with --no-demo)."""
    from kefu.accounts import create_user
    from kefu.platform.audit import Actor
    from kefu.platform.db import Database
    from kefu.platform.errors import DomainError
    from kefu.platform.i18n import translate

    settings = _settings()
    _migrate(settings)
    if password is None:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Repeat: "):
            typer.secho("The passwords differ.", err=True, fg=typer.colors.RED)
            raise typer.Exit(1)

    async def create() -> int:
        db = Database(settings.db_url)
        try:
            async with db.transaction() as session:
                user = await create_user(
                    session, Actor.system("cli"), email=email, name=name, role=role, password=password
                )
                return user.id
        finally:
            await db.dispose()

    try:
        user_id = asyncio.run(create())
    except DomainError as exc:
        typer.secho(f"kefu: {translate(exc.message, exc.params)}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
    typer.echo(f"created user #{user_id} <{email}> ({role})")


@app.command()
def worker(
    once: Annotated[bool, typer.Option("--once", help="Run the jobs due now, then exit.")] = False,
) -> None:
    """Run background jobs in this process (scale-out: start serve with KEFU_RUN_JOBS=false)."""
    from kefu.app import build_kernel

    settings = _settings()
    _migrate(settings)

    async def run() -> None:
        kernel = build_kernel(settings)
        if once:
            await kernel.broker.connect()
            try:
                await kernel.runner.schedule_periodic()
                count = await kernel.runner.run_pending()
                typer.echo(f"ran {count} jobs")
            finally:
                await kernel.broker.close()
                await kernel.db.dispose()
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await kernel.start(run_jobs=True)
        log.info("worker %s running %d jobs at a time", kernel.runner.node, settings.job_concurrency)
        try:
            await stop.wait()
        finally:
            await kernel.stop()

    asyncio.run(run())


@app.command("demo")
def demo_command(
    reset: Annotated[
        bool, typer.Option("--reset", help="Delete ALL data first, then create the demo.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before deleting.")] = False,
) -> None:
    """Create the demo workspace (on an empty database), or start over with --reset."""
    from kefu import demo

    settings = _settings()
    if reset:
        if not yes:
            typer.confirm(
                f"Delete every record in {settings.db_url.split('@')[-1]} and start over?", abort=True
            )
        from kefu.platform.migrate import reset_database

        reset_database(settings.db_url)
    _migrate(settings)
    result = asyncio.run(demo.seed_if_empty(settings))
    if result.created:
        _print_logins(settings, result)
    else:
        typer.echo("The database already has users; nothing created (use --reset to start over).")


@app.command(
    help="Back up the database and the data directory into one .tar.gz; safe while kefu runs. "
    "Prints the path written.\n\n"
    "The archive holds password hashes and the secret key: it is readable by its owner only; keep it "
    "somewhere as safe as the server. See docs/backup.md."
)
def backup(
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Archive to write, or a folder to write it in "
            "(default <data dir>/backups/kefu-backup-<UTC time>.tar.gz).",
        ),
    ] = None,
) -> None:
    from kefu.platform.backup import BackupError, create_backup

    settings = _settings()
    try:
        path = create_backup(settings, output)
    except BackupError as exc:
        typer.secho(f"kefu: backup failed: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
    typer.echo(str(path))


@app.command(
    help="Restore a backup: replace the database and the data files with the archive's, then upgrade "
    "the schema to this kefu's.\n\n"
    "Stop kefu first (every kefu serve and kefu worker of the installation). The archive is checked "
    "completely before anything changes. A database that already holds data is only replaced with "
    "--yes. The backup's database kind (SQLite or PostgreSQL) must be the one KEFU_DATABASE_URL "
    "points to. See docs/backup.md."
)
def restore(
    archive: Annotated[Path, typer.Argument(help="A .tar.gz written by `kefu backup`.", show_default=False)],
    yes: Annotated[
        bool,
        typer.Option("--yes", help="Do not ask; also allows replacing a database that already holds data."),
    ] = False,
) -> None:
    from kefu.platform.backup import (
        BackupError,
        TargetNotEmpty,
        check_target_empty,
        describe_database,
        read_manifest,
        restore_backup,
    )

    settings = _settings()
    try:
        manifest = read_manifest(archive)
        if not yes:
            check_target_empty(settings)
            typer.confirm(
                f"Restore the backup of {manifest.created_at} (kefu {manifest.kefu_version}) into "
                f"{describe_database(settings.db_url)} and {settings.data_dir}? Stop kefu first.",
                abort=True,
            )
        report = restore_backup(settings, archive, force=yes)
    except TargetNotEmpty as exc:
        typer.secho(f"kefu: {exc} Run again with --yes to replace it.", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
    except BackupError as exc:
        typer.secho(f"kefu: restore failed: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
    typer.secho(
        f"Restored the backup of {report.manifest.created_at} (kefu {report.manifest.kefu_version}) "
        f"into {report.database}, and {len(report.files)} data files into {settings.data_dir}.",
        fg=typer.colors.GREEN,
    )
    if report.migrated:
        typer.echo(f"Its schema was upgraded from {report.manifest.revision} to {report.revision}.")
    if settings.secret_key is not None and "secret_key" in report.files:
        typer.echo("Note: KEFU_SECRET_KEY is set, so it is used instead of the restored secret_key file.")


_SERVICE_LEVEL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%?\s*/\s*(\d+(?:\.\d+)?)\s*s?\s*$")


def _parse_service_level(value: str) -> tuple[float, float]:
    """``80/20``: 80 % of contacts answered within 20 seconds."""
    match = _SERVICE_LEVEL.match(value)
    if match is None:
        raise typer.BadParameter(
            f"{value!r} is not a service level: write PERCENT/SECONDS, e.g. 80/20 "
            "(80% of contacts answered within 20 seconds).",
            param_hint="--service-level",
        )
    percent, seconds = float(match.group(1)), float(match.group(2))
    if not 0 < percent < 100:
        raise typer.BadParameter(
            f"the percentage of {value!r} must be more than 0 and less than 100.",
            param_hint="--service-level",
        )
    return percent, seconds


@app.command(
    help="How many agents an interval needs (Erlang C): the traffic, the agents on the phones/chats for "
    "the service level, and the agents to schedule after shrinkage. Reads no database.\n\n"
    "Example: kefu staffing --contacts 100 --aht 180 --service-level 80/20 → 14 agents."
)
def staffing(
    contacts: Annotated[float, typer.Option(help="Contacts (calls, chats) forecast for the interval.")],
    aht: Annotated[float, typer.Option(help="Average handling time in seconds (talk + after-call work).")],
    interval: Annotated[float, typer.Option(help="Length of the interval in minutes.")] = 30,
    service_level: Annotated[
        str,
        typer.Option(
            "--service-level",
            help="Target as PERCENT/SECONDS: 80/20 = 80% of contacts answered within 20 seconds.",
        ),
    ] = "80/20",
    shrinkage: Annotated[
        float, typer.Option(help="Percent of paid time agents are not available (breaks, training, absence).")
    ] = 0,
    max_occupancy: Annotated[
        float | None, typer.Option("--max-occupancy", help="Highest average occupancy allowed, in percent.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
) -> None:
    from kefu.platform.errors import InvalidInput
    from kefu.routing.erlang import plan, table_for
    from kefu.routing.schemas import StaffingOut

    percent, seconds = _parse_service_level(service_level)
    try:
        answer = plan(
            contacts=contacts,
            interval_minutes=interval,
            aht_seconds=aht,
            service_level_percent=percent,
            target_seconds=seconds,
            shrinkage_percent=shrinkage,
            max_occupancy_percent=max_occupancy,
        )
    except InvalidInput as exc:
        option = {
            "interval_minutes": "--interval",
            "aht_seconds": "--aht",
            "service_level_percent": "--service-level",
            "target_seconds": "--service-level",
            "shrinkage_percent": "--shrinkage",
            "max_occupancy_percent": "--max-occupancy",
        }
        fields = [str(item.get("field")) for item in exc.errors]
        where = ", ".join(option.get(field, f"--{field}") for field in fields)
        message = exc.message % exc.params if exc.params else exc.message
        typer.secho(f"kefu: {where + ': ' if where else ''}{message}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    rows = table_for(answer)
    if as_json:
        typer.echo(StaffingOut.of(answer, rows).model_dump_json(indent=2))
        return
    typer.echo(
        f"Traffic: {answer.traffic:.2f} Erlangs ({answer.contacts:g} contacts per {interval:g} min, "
        f"AHT {answer.aht_seconds:g} s)"
    )
    typer.echo(
        f"Target:  {percent:g}% answered within {seconds:g} s"
        + (f", occupancy at most {max_occupancy:g}%" if max_occupancy is not None else "")
    )
    typer.secho(f"Agents needed: {answer.agents}", bold=True)
    typer.echo(f"Agents to schedule: {answer.scheduled_agents} (shrinkage {shrinkage:g}%)")
    typer.echo("")
    typer.echo(f"  {'agents':>6}  {'service level':>13}  {'ASA':>9}  {'occupancy':>9}  {'P(wait)':>7}")
    for row in rows:
        mark = ">" if row.agents == answer.agents else " "
        asa = f"{row.asa_seconds:.1f} s" if math.isfinite(row.asa_seconds) else "-"
        typer.echo(
            f"{mark} {row.agents:>6}  {row.service_level:>13.1%}  {asa:>9}  {row.occupancy:>9.1%}  "
            f"{row.p_wait:>7.1%}"
        )


_SIMULATE_OPTIONS = {
    "agents": "--agents",
    "arrivals_per_hour": "--arrivals-per-hour",
    "aht_seconds": "--aht",
    "target_seconds": "--target",
    "contacts": "--contacts",
    "seed": "--seed",
    "traffic": "--arrivals-per-hour × --aht",
}


def _simulate_number(text: str | None, option: str, *, whole: bool = False) -> float | None:
    from kefu.platform.errors import InvalidInput

    if text is None:
        return None
    try:
        return int(text) if whole else float(text)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise InvalidInput(f"{option}: {text!r} is not {kind}", field=option) from None


def _simulate_cell(value: float | None, kind: str) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    if kind == "%":
        return f"{value:.1%}"
    if kind == "s":
        return f"{value:,.1f} s"
    return f"{value:,.0f}"


@app.command(
    "simulate",
    help="Simulate the contact centre, event by event, with the real routing code: service level, "
    "ASA, abandonment and occupancy per queue. Either --scenario FILE.json (queues, overflow, skills, "
    "tiers, chat and phone agents, shifts, abandonment: see docs/examples/simulate-scenario.json), or "
    "the M/M/c centre of Erlang C (--agents, --arrivals-per-hour, --aht), shown beside the Erlang C "
    "prediction. Reads no database.\n\n"
    "Service level = answered within target / (answered + abandoned after target + unanswered past "
    "target).",
)
def simulate_command(
    scenario: Annotated[
        str | None, typer.Option("--scenario", metavar="FILE.json", help="The scenario to simulate.")
    ] = None,
    agents: Annotated[
        str | None, typer.Option(metavar="N", help="M/M/c: agents, one call at a time.")
    ] = None,
    arrivals_per_hour: Annotated[
        str | None, typer.Option("--arrivals-per-hour", metavar="R", help="M/M/c: Poisson arrivals per hour.")
    ] = None,
    aht: Annotated[
        str | None, typer.Option(metavar="SECONDS", help="M/M/c: average handling time (exponential).")
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            metavar="SECONDS",
            help="Service-level target in seconds (default 20; replaces a scenario's target_seconds).",
        ),
    ] = None,
    contacts: Annotated[
        str | None,
        typer.Option(
            metavar="N",
            help="Contacts counted after the warm-up (default 20000; replaces a scenario's contacts).",
        ),
    ] = None,
    seed: Annotated[
        str | None,
        typer.Option(metavar="N", help="Random seed: the same seed gives the same figures (default 1)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    import json
    from collections.abc import Callable, Mapping

    from kefu.platform.errors import InvalidInput
    from kefu.routing import erlang
    from kefu.routing import simulate as sim

    mmc_options = {"--agents": agents, "--arrivals-per-hour": arrivals_per_hour, "--aht": aht}
    prediction: dict[str, float | None] | None = None
    try:
        target_s = _simulate_number(target, "--target")
        contacts_n = _simulate_number(contacts, "--contacts", whole=True)
        seed_n = _simulate_number(seed, "--seed", whole=True)
        if scenario is not None:
            given = [option for option, value in mmc_options.items() if value is not None]
            if given:
                raise InvalidInput(f"--scenario: give either a scenario or {given[0]}, not both")
            overrides = {"target_seconds": target_s, "contacts": contacts_n, "seed": seed_n}
            plan = sim.load_scenario(
                Path(scenario), {key: value for key, value in overrides.items() if value is not None}
            )
        else:
            missing = [option for option, value in mmc_options.items() if value is None]
            if len(missing) == len(mmc_options):
                usage = "give --scenario FILE.json, or --agents, --arrivals-per-hour and --aht"
                raise InvalidInput(usage)  # a variable: CLI text in English, not a catalog msgid
            if missing:
                raise InvalidInput(f"{missing[0]}: needed with the other M/M/c options")
            n = int(_simulate_number(agents, "--agents", whole=True) or 0)
            rate = _simulate_number(arrivals_per_hour, "--arrivals-per-hour") or 0.0
            aht_s = _simulate_number(aht, "--aht") or 0.0
            plan = sim.mmc(
                n,
                rate,
                aht_s,
                target_seconds=20.0 if target_s is None else target_s,
                contacts=20_000 if contacts_n is None else int(contacts_n),
                seed=1 if seed_n is None else int(seed_n),
            )
            traffic = rate * aht_s / 3600
            prediction = {
                "traffic": traffic,
                "service_level": erlang.service_level(traffic, n, aht_s, plan.target_seconds),
                "asa": erlang.average_speed_of_answer(traffic, n, aht_s),
                "occupancy": erlang.occupancy(traffic, n),
                "p_wait": erlang.erlang_c(traffic, n),
            }
        report = sim.simulate(plan)
    except InvalidInput as exc:
        message = exc.message % exc.params if exc.params else exc.message
        field = str(exc.errors[0]["field"]) if exc.errors else ""
        option = _SIMULATE_OPTIONS.get(field)
        overridden = {"target_seconds": target, "contacts": contacts, "seed": seed}
        if scenario is not None and overridden.get(field) is None:
            option = None  # the scenario file's own field
        if option is not None:  # name the option, not the parameter it became
            message = f"{option}: {message.removeprefix(field + ': ')}"
        elif scenario is not None and field and not field.startswith("--"):
            message = f"{scenario}: {message.removeprefix('scenario: ')}"
        typer.secho(f"kefu: {' '.join(message.split())}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None

    if as_json:
        data = report.to_dict()
        data["scenario"] = plan.to_dict()
        if prediction is not None:
            finite = {k: v if v is None or math.isfinite(v) else None for k, v in prediction.items()}
            data["erlang_c"] = finite
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return

    total = report.total
    hours = report.ended_at / 3600
    typer.echo(
        f"{report.name}: {total.offered:,} contacts counted after a warm-up of "
        f"{report.measured_from / 3600:,.1f} h; {hours:,.1f} h simulated (seed {report.seed})."
    )
    if prediction is not None:
        typer.echo(
            f"M/M/c: {plan.agents[0].count} agents, {plan.arrivals[0].per_hour:g} contacts per hour, AHT "
            f"{plan.arrivals[0].handle_time.mean:g} s: {prediction['traffic']:.2f} Erlangs; "
            f"target {plan.target_seconds:g} s."
        )
        typer.echo("")
        typer.echo(f"  {'':<14}{'simulated':>11}{'Erlang C':>11}")
        for label, mine, theirs, kind in (
            ("service level", total.service_level, prediction["service_level"], "%"),
            ("ASA", total.asa, prediction["asa"], "s"),
            ("occupancy", total.occupancy, prediction["occupancy"], "%"),
            ("P(wait)", total.p_wait, prediction["p_wait"], "%"),
        ):
            typer.echo(f"  {label:<14}{_simulate_cell(mine, kind):>11}{_simulate_cell(theirs, kind):>11}")
    columns: tuple[tuple[str, int, Callable[[sim.Figures], str]], ...] = (  # label, width, cell
        ("offered", 9, lambda f: f"{f.offered:,}"),
        ("answered", 10, lambda f: f"{f.answered:,}"),
        ("abandoned", 11, lambda f: f"{f.abandoned:,}"),
        ("service lvl", 13, lambda f: _simulate_cell(f.service_level, "%")),
        ("ASA", 10, lambda f: _simulate_cell(f.asa, "s")),
        ("abandon %", 11, lambda f: _simulate_cell(f.abandonment_rate, "%")),
        ("occupancy", 11, lambda f: _simulate_cell(f.occupancy, "%")),
        ("p90 wait", 10, lambda f: _simulate_cell(f.p90_wait, "s")),
        ("max wait", 10, lambda f: _simulate_cell(f.max_wait, "s")),
        ("overflowed", 12, lambda f: f"{f.overflowed:,}"),
    )
    sections: list[tuple[str, Mapping[str, sim.Figures]]] = [("queue", report.queues)]
    if len(report.tiers) > 1:
        sections.append(("tier", report.tiers))
    if len(report.channels) > 1:
        sections.append(("channel", report.channels))
    for title, groups in sections:
        typer.echo("")
        typer.echo(f"  {title:<16}" + "".join(f"{label:>{width}}" for label, width, _ in columns))
        rows = list(groups.items()) + ([("total", total)] if title == "queue" else [])
        for name, figures in rows:
            cells = "".join(f"{cell(figures):>{width}}" for _, width, cell in columns)
            typer.echo(f"  {name[:16]:<16}{cells}")
    if total.unanswered:
        typer.echo(f"\n{total.unanswered:,} contacts were still waiting at the end (nobody left on shift).")
    typer.echo(f"\n{sim.SERVICE_LEVEL_FORMULA}; ASA and waits over answered contacts.")


def main() -> None:
    app()
