"""The ``kefu`` command line."""

from __future__ import annotations

import asyncio
import getpass
import logging
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


def main() -> None:
    app()
