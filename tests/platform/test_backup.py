"""`kefu backup` / `kefu restore`: real round trips on SQLite and PostgreSQL, the CLI in a
subprocess, and every kind of bad archive refused with the target left as it was."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import io
import json
import os
import sqlite3
import stat
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from kefu.accounts.access import Role
from kefu.platform import backup
from kefu.platform.backup import BackupError, TargetNotEmpty, create_backup, restore_backup
from kefu.platform.kernel import Kernel
from kefu.platform.migrate import downgrade, head_revision
from kefu.settings import SECRET_KEY_FILE, Settings
from tests.conftest import ON_POSTGRES, make_settings
from tests.factories import Factory

Snapshot = dict[str, list[tuple[Any, ...]]]
Members = list[tuple[tarfile.TarInfo, bytes]]


async def _snapshot(url: str) -> Snapshot:
    """Every row of every table (alembic_version aside), in a stable order."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            meta = MetaData()
            await conn.run_sync(meta.reflect)
            result: Snapshot = {}
            for name, table in sorted(meta.tables.items()):
                if name != "alembic_version":
                    rows = (await conn.execute(select(table))).all()
                    result[name] = sorted((tuple(row) for row in rows), key=repr)
            return result
    finally:
        await engine.dispose()


async def _execute(url: str, *statements: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _some_data(factory: Factory, settings: Settings) -> None:
    """Users in teams, plus data files: what a real installation has."""
    supervisor = await factory.user(Role.supervisor, name="王主管", email="wang@example.com")
    agent = await factory.user(Role.agent, name="李客服", email="li@example.com")
    await factory.user(Role.admin, name="Admin", email="admin@example.com")
    await factory.team("售后服务", member_ids=[supervisor.id, agent.id])
    await factory.team("VIP 专席", member_ids=[agent.id])
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    secret = settings.data_dir / SECRET_KEY_FILE
    secret.write_text("original-secret-key\n", encoding="utf-8")
    secret.chmod(0o600)
    (settings.data_dir / "files" / "2026").mkdir(parents=True)
    (settings.data_dir / "files" / "2026" / "invoice.pdf").write_bytes(os.urandom(3000))


def _data_files(settings: Settings) -> dict[str, bytes]:
    root = settings.data_dir
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).parts[0] != "backups" and not p.name.startswith("kefu.sqlite3")
    }


def _members(archive: Path) -> Members:
    with tarfile.open(archive, "r:gz") as tar:
        members = []
        for info in tar.getmembers():
            handle = tar.extractfile(info)
            assert handle is not None
            members.append((info, handle.read()))
        return members


def _write(archive: Path, members: Members) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        for info, data in members:
            info = copy.copy(info)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


def _manifest(members: Members) -> dict[str, Any]:
    assert members[0][0].name == "manifest.json"
    manifest: dict[str, Any] = json.loads(members[0][1])
    return manifest


def _with_manifest(members: Members, manifest: dict[str, Any]) -> Members:
    return [(members[0][0], json.dumps(manifest).encode()), *members[1:]]


def _entry(path: str, data: bytes) -> dict[str, Any]:
    return {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "mode": 0o644}


async def test_round_trip_brings_back_exactly_the_data_and_files_backed_up(
    app: Any, kernel: Kernel, factory: Factory, settings: Settings
) -> None:
    await _some_data(factory, settings)
    before = await _snapshot(settings.db_url)
    files_before = _data_files(settings)
    assert len(before["users"]) == 3
    assert len(before["team_members"]) == 3

    archive = await asyncio.to_thread(create_backup, settings)  # the app holds open connections

    assert archive.parent == settings.data_dir / "backups"
    assert archive.name.startswith("kefu-backup-")
    assert archive.name.endswith(".tar.gz")
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    manifest = _manifest(_members(archive))
    assert manifest["database"]["kind"] == ("postgresql" if ON_POSTGRES else "sqlite")
    assert manifest["database"]["revision"] == head_revision()
    assert manifest["kefu_version"]
    assert {f["path"] for f in manifest["files"]} == {
        manifest["database"]["path"],
        "data/secret_key",
        "data/files/2026/invoice.pdf",
    }

    # Life goes on: rows deleted, changed and added, files changed and removed.
    await _execute(
        settings.db_url,
        "DELETE FROM team_members",
        "UPDATE teams SET name = name || ' (renamed)'",
        "UPDATE users SET name = 'Someone else' WHERE email = 'wang@example.com'",
    )
    await factory.user(Role.agent, email="new@example.com")
    (settings.data_dir / SECRET_KEY_FILE).write_text("another-key\n", encoding="utf-8")
    (settings.data_dir / "files" / "2026" / "invoice.pdf").unlink()
    assert await _snapshot(settings.db_url) != before

    await kernel.db.dispose()  # "stop kefu"
    report = await asyncio.to_thread(restore_backup, settings, archive, force=True)

    assert await _snapshot(settings.db_url) == before
    assert _data_files(settings) == files_before
    assert stat.S_IMODE((settings.data_dir / SECRET_KEY_FILE).stat().st_mode) == 0o600
    assert sorted(report.files) == ["files/2026/invoice.pdf", "secret_key"]
    assert report.revision == head_revision()
    assert not report.migrated
    assert not list(settings.data_dir.glob(".kefu-restore-*")), "the staging folder was left behind"


async def test_backup_is_online_a_consistent_snapshot_while_a_write_is_in_progress(
    app: Any, kernel: Kernel, factory: Factory, settings: Settings, tmp_path: Path
) -> None:
    await _some_data(factory, settings)
    before = await _snapshot(settings.db_url)
    output = tmp_path / "online.tar.gz"
    async with kernel.db.transaction() as session:  # on SQLite this holds the write lock
        await session.execute(text("UPDATE teams SET name = name || ' (uncommitted)'"))
        archive = await asyncio.wait_for(asyncio.to_thread(create_backup, settings, output), 60)
    assert archive == output
    assert all(row[1].endswith("(uncommitted)") for row in (await _snapshot(settings.db_url))["teams"])

    await kernel.db.dispose()
    await asyncio.to_thread(restore_backup, settings, archive, force=True)
    assert await _snapshot(settings.db_url) == before  # committed data only, nothing half-written


async def test_restoring_into_a_database_that_holds_data_needs_force(
    app: Any, kernel: Kernel, factory: Factory, settings: Settings, tmp_path: Path
) -> None:
    await _some_data(factory, settings)
    archive = await asyncio.to_thread(create_backup, settings, tmp_path)  # a folder: default name inside
    assert archive.parent == tmp_path
    await factory.user(email="after-the-backup@example.com")
    (settings.data_dir / SECRET_KEY_FILE).write_text("newer-key\n", encoding="utf-8")
    before, files_before = await _snapshot(settings.db_url), _data_files(settings)
    await kernel.db.dispose()

    with pytest.raises(TargetNotEmpty, match=r"already holds data \(rows in ") as refused:
        await asyncio.to_thread(restore_backup, settings, archive)
    assert "users" in refused.value.tables

    assert await _snapshot(settings.db_url) == before
    assert _data_files(settings) == files_before


async def test_an_empty_installation_restores_without_force_and_an_older_schema_is_migrated(
    app: Any, kernel: Kernel, factory: Factory, settings: Settings, tmp_path: Path, empty_db_url: str
) -> None:
    """A new machine: the backup goes into a database with no tables at all."""
    await _some_data(factory, settings)
    before = await _snapshot(settings.db_url)
    archive = await asyncio.to_thread(create_backup, settings, tmp_path / "a.tar.gz")
    fresh = make_settings(tmp_path / "new-machine", empty_db_url)

    report = await asyncio.to_thread(restore_backup, fresh, archive)

    assert await _snapshot(empty_db_url) == before
    assert (fresh.data_dir / SECRET_KEY_FILE).read_text(encoding="utf-8") == "original-secret-key\n"
    assert report.revision == head_revision()

    # A backup made before the schema existed (an "older kefu"): restoring it over a database at
    # head replaces that schema, then migrates the restored one forward.
    old = make_settings(tmp_path / "old", empty_db_url)
    await asyncio.to_thread(downgrade, empty_db_url, "base")
    old_archive = await asyncio.to_thread(create_backup, old, tmp_path / "old.tar.gz")
    assert _manifest(_members(old_archive))["database"]["revision"] is None
    await kernel.db.dispose()
    report = await asyncio.to_thread(restore_backup, settings, old_archive, force=True)
    assert report.migrated
    assert report.revision == head_revision()
    restored = await _snapshot(settings.db_url)
    # Nothing but what the migrations themselves insert (built-in categories, channel defaults, tiers).
    seeded = {"conversation_categories", "routing_channels", "customer_tiers"}
    assert all(rows == [] for table, rows in restored.items() if table not in seeded)
    assert len(restored["conversation_categories"]) == 6
    assert len(restored["routing_channels"]) == 6
    assert len(restored["customer_tiers"]) == 3
    assert set(restored) == set(before)


Mutation = Callable[[Members, bytes], "Members | bytes"]


def _on_members(change: Callable[[Members], Members]) -> Mutation:
    return lambda members, raw: change(members)


def _tampered_database(members: Members) -> Members:
    info, data = members[1]
    assert info.name.startswith("database/")
    damaged = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
    return [members[0], (info, damaged), *members[2:]]


def _tampered_secret(members: Members) -> Members:
    return [(i, b"X" + d[1:] if i.name == "data/secret_key" else d) for i, d in members]  # same size


def _grown_secret(members: Members) -> Members:
    return [(i, d + b"more" if i.name == "data/secret_key" else d) for i, d in members]


def _parent_member(members: Members) -> Members:
    evil = tarfile.TarInfo("../evil")
    return [*members, (evil, b"pwned")]


def _parent_path_in_manifest(members: Members) -> Members:
    manifest = _manifest(members)
    manifest["files"].append(_entry("data/../../evil", b"pwned"))
    evil = tarfile.TarInfo("data/../../evil")
    return [*_with_manifest(members, manifest), (evil, b"pwned")]


def _absolute_member(members: Members) -> Members:
    manifest = _manifest(members)
    manifest["files"].append(_entry("/kefu-evil", b"pwned"))
    return [*_with_manifest(members, manifest), (tarfile.TarInfo("/kefu-evil"), b"pwned")]


def _symlink_member(members: Members) -> Members:
    link = tarfile.TarInfo("data/link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    manifest = _manifest(members)
    manifest["files"].append(_entry("data/link", b""))
    return [*_with_manifest(members, manifest), (link, b"")]


def _other_kind(members: Members) -> Members:
    manifest = _manifest(members)
    other = "sqlite" if ON_POSTGRES else "postgresql"
    new_path = backup.DATABASE_MEMBERS[other]
    for entry in manifest["files"]:
        if entry["path"] == manifest["database"]["path"]:
            entry["path"] = new_path
    manifest["database"].update(kind=other, path=new_path)
    renamed = [(copy.copy(i), d) for i, d in _with_manifest(members, manifest)]
    renamed[1][0].name = new_path
    return renamed


def _newer_schema(members: Members) -> Members:
    manifest = _manifest(members)
    manifest["database"]["revision"] = "ffffffffffff"
    return _with_manifest(members, manifest)


def _newer_format(members: Members) -> Members:
    manifest = _manifest(members)
    manifest["format_version"] = 99
    return _with_manifest(members, manifest)


def _no_manifest(members: Members) -> Members:
    return members[1:]


def _unlisted_member(members: Members) -> Members:
    return [*members, (tarfile.TarInfo("data/smuggled"), b"x")]


def _missing_member(members: Members) -> Members:
    return [m for m in members if m[0].name != "data/secret_key"]


def _over_the_database(members: Members) -> Members:
    """A data file named like the live SQLite database would overwrite it behind the backup API."""
    manifest = _manifest(members)
    manifest["files"].append(_entry("data/kefu.sqlite3-wal", b"junk"))
    return [*_with_manifest(members, manifest), (tarfile.TarInfo("data/kefu.sqlite3-wal"), b"junk")]


BAD_ARCHIVES: list[tuple[str, Mutation, str]] = [
    ("not-gzip", lambda members, raw: b"this is not a backup", r"is not a readable kefu backup"),
    ("truncated", lambda members, raw: raw[: len(raw) // 2], r"is not a readable kefu backup"),
    ("tampered-database", _on_members(_tampered_database), r"database/kefu\.\w+ does not match its checksum"),
    ("tampered-file", _on_members(_tampered_secret), r"data/secret_key does not match its checksum"),
    (
        "grown-file",
        _on_members(_grown_secret),
        r"data/secret_key does not have the size manifest\.json gives",
    ),
    ("parent-member", _on_members(_parent_member), r"unsafe file name '\.\./evil'"),
    ("parent-in-manifest", _on_members(_parent_path_in_manifest), r"unsafe file name 'data/\.\./\.\./evil'"),
    ("absolute-member", _on_members(_absolute_member), r"unsafe file name '/kefu-evil'"),
    ("symlink-member", _on_members(_symlink_member), r"'data/link' is not a regular file"),
    ("other-kind", _on_members(_other_kind), r"holds a (SQLite|PostgreSQL) database, but KEFU_DATABASE_URL"),
    ("newer-schema", _on_members(_newer_schema), r"comes from a newer kefu .*ffffffffffff.*upgrade kefu"),
    ("newer-format", _on_members(_newer_format), r"format 99, made by a newer kefu"),
    ("no-manifest", _on_members(_no_manifest), r"does not start with manifest\.json"),
    ("unlisted-member", _on_members(_unlisted_member), r"'data/smuggled' is not listed in manifest\.json"),
    ("missing-member", _on_members(_missing_member), r"incomplete: data/secret_key missing"),
]


@pytest.mark.parametrize(
    ("mutate", "error"), [(m, e) for _, m, e in BAD_ARCHIVES], ids=[i for i, _, _ in BAD_ARCHIVES]
)
async def test_a_bad_archive_is_refused_with_a_clear_message_and_nothing_changes(
    app: Any,
    kernel: Kernel,
    factory: Factory,
    settings: Settings,
    tmp_path: Path,
    mutate: Mutation,
    error: str,
) -> None:
    await _some_data(factory, settings)
    good = await asyncio.to_thread(create_backup, settings, tmp_path / "good.tar.gz")
    await _execute(settings.db_url, "UPDATE teams SET name = name || ' (later)'")
    (settings.data_dir / SECRET_KEY_FILE).write_text("current-key\n", encoding="utf-8")
    before, files_before = await _snapshot(settings.db_url), _data_files(settings)
    await kernel.db.dispose()

    bad = tmp_path / "bad.tar.gz"
    result = mutate(_members(good), good.read_bytes())
    if isinstance(result, bytes):
        bad.write_bytes(result)
    else:
        _write(bad, result)

    with pytest.raises(BackupError, match=error):
        await asyncio.to_thread(restore_backup, settings, bad, force=True)

    assert await _snapshot(settings.db_url) == before
    assert _data_files(settings) == files_before
    for place in (settings.data_dir, settings.data_dir.parent, tmp_path, tmp_path.parents[-1]):
        assert not (place / "evil").exists()
        assert not (place / "kefu-evil").exists()
    assert not list(settings.data_dir.glob(".kefu-restore-*"))


@pytest.mark.skipif(ON_POSTGRES, reason="the live SQLite file inside the data dir")
def test_a_data_file_may_not_overwrite_the_live_sqlite_database(tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path / "data", "")
    settings = settings.model_copy(update={"database_url": None})
    settings.data_dir.mkdir(parents=True)
    Path(settings.db_url.removeprefix("sqlite+aiosqlite:///")).write_bytes(
        Path(db_url.removeprefix("sqlite+aiosqlite:///")).read_bytes()
    )
    archive = create_backup(settings, tmp_path / "a.tar.gz")
    bad = _write(tmp_path / "bad.tar.gz", _over_the_database(_members(archive)))
    with pytest.raises(BackupError, match=r"data/kefu\.sqlite3-wal would overwrite the live database"):
        restore_backup(settings, bad, force=True)
    assert not (settings.data_dir / "kefu.sqlite3-wal").exists()


def test_the_archive_holds_data_files_but_not_the_live_database_backups_or_temporary_files(
    tmp_path: Path, db_url: str
) -> None:
    data = tmp_path / "data"
    if ON_POSTGRES:
        settings = make_settings(data, db_url)
    else:  # the default layout: the live database inside the data dir
        settings = make_settings(data, "").model_copy(update={"database_url": None})
    data.mkdir()
    if not ON_POSTGRES:
        live = Path(settings.db_url.removeprefix("sqlite+aiosqlite:///"))
        live.write_bytes(Path(db_url.removeprefix("sqlite+aiosqlite:///")).read_bytes())
        (data / "kefu.sqlite3-shm").write_bytes(b"shm")
    (data / SECRET_KEY_FILE).write_text("k\n", encoding="utf-8")
    (data / "demo-logins.txt").write_text("logins\n", encoding="utf-8")
    (data / "backups").mkdir()
    (data / "backups" / "kefu-backup-old.tar.gz").write_bytes(b"old")
    (data / ".secret_key.1234").write_text("half-written", encoding="utf-8")
    (data / "upload.tmp").write_bytes(b"partial")
    (data / "files").mkdir()
    (data / "files" / "a.txt").write_text("a", encoding="utf-8")
    (data / "files" / "link").symlink_to(tmp_path)

    archive = create_backup(settings)

    names = {info.name for info, _ in _members(archive)}
    database = backup.DATABASE_MEMBERS["postgresql" if ON_POSTGRES else "sqlite"]
    assert names == {"manifest.json", database, "data/secret_key", "data/demo-logins.txt", "data/files/a.txt"}


async def test_the_cli_backs_up_and_restores_in_a_subprocess(
    app: Any, kernel: Kernel, factory: Factory, settings: Settings, tmp_path: Path
) -> None:
    await _some_data(factory, settings)
    before, files_before = await _snapshot(settings.db_url), _data_files(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env.update(
        KEFU_DATA_DIR=str(settings.data_dir),
        KEFU_DATABASE_URL=settings.db_url,
        KEFU_SECRET_KEY=settings.secret,
        KEFU_LOG_LEVEL="WARNING",
    )

    def kefu(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kefu", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    output = tmp_path / "cli.tar.gz"
    made = await asyncio.to_thread(kefu, "backup", "--output", str(output))
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == str(output)
    assert stat.S_IMODE(output.stat().st_mode) == 0o600

    await _execute(settings.db_url, "DELETE FROM team_members", "UPDATE users SET name = 'changed'")
    (settings.data_dir / SECRET_KEY_FILE).write_text("changed-key\n", encoding="utf-8")
    changed, files_changed = await _snapshot(settings.db_url), _data_files(settings)
    await kernel.db.dispose()

    refused = await asyncio.to_thread(kefu, "restore", str(output))
    assert refused.returncode == 1
    assert "already holds data" in refused.stderr
    assert "--yes" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert await _snapshot(settings.db_url) == changed
    assert _data_files(settings) == files_changed

    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"\x1f\x8b garbage")
    broken = await asyncio.to_thread(kefu, "restore", str(garbage), "--yes")
    assert broken.returncode == 1
    assert "is not a readable kefu backup" in broken.stderr
    assert "Traceback" not in broken.stderr
    assert await _snapshot(settings.db_url) == changed

    restored = await asyncio.to_thread(kefu, "restore", str(output), "--yes")
    assert restored.returncode == 0, restored.stderr
    assert "Restored the backup" in restored.stdout
    assert await _snapshot(settings.db_url) == before
    assert _data_files(settings) == files_before


async def test_a_restore_that_fails_half_way_changes_nothing(
    app: Any,
    kernel: Kernel,
    factory: Factory,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A still-running kefu holds a lock: the restore gives up after the lock timeout, rolled back."""
    await _some_data(factory, settings)
    archive = await asyncio.to_thread(create_backup, settings, tmp_path / "a.tar.gz")
    await _execute(settings.db_url, "DELETE FROM team_members", "UPDATE teams SET name = name || '!'")
    before, files_before = await _snapshot(settings.db_url), _data_files(settings)
    await kernel.db.dispose()
    monkeypatch.setattr(backup, "LOCK_TIMEOUT_SECONDS", 0.5)

    if ON_POSTGRES:
        import asyncpg

        holder = await asyncpg.connect(settings.db_url.replace("postgresql+asyncpg://", "postgresql://"))
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute("LOCK TABLE users IN ACCESS SHARE MODE")
        try:
            with pytest.raises(BackupError, match=r"lock timeout.*Stop it first"):
                await asyncio.to_thread(restore_backup, settings, archive, force=True)
        finally:
            await transaction.rollback()
            await holder.close()
    else:
        path = settings.db_url.removeprefix("sqlite+aiosqlite:///")
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(BackupError, match=r"database is locked.*Stop it first"):
                await asyncio.to_thread(restore_backup, settings, archive, force=True)
        finally:
            holder.execute("ROLLBACK")
            holder.close()

    assert await _snapshot(settings.db_url) == before
    assert _data_files(settings) == files_before


@pytest.mark.skipif(not ON_POSTGRES, reason="pg_restore")
async def test_pg_restore_failing_half_way_changes_nothing(
    app: Any,
    kernel: Kernel,
    factory: Factory,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pg_restore dies after writing half its script (which drops and recreates tables): no COMMIT."""
    await _some_data(factory, settings)
    archive = await asyncio.to_thread(create_backup, settings, tmp_path / "a.tar.gz")
    await _execute(settings.db_url, "DELETE FROM team_members", "UPDATE teams SET name = name || '!'")
    before, files_before = await _snapshot(settings.db_url), _data_files(settings)
    await kernel.db.dispose()
    real = backup.find_pg_tools("pg_restore", "psql")
    fake = tmp_path / "pg_restore"
    fake.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "--list" ]; then exec {real["pg_restore"]} "$@"; fi\n'
        f'{real["pg_restore"]} "$@" | head -c 20000\n'
        'echo "pg_restore: error: could not read input file: simulated" >&2\n'
        "exit 1\n",
        encoding="utf-8",
    )
    fake.chmod(0o755)
    monkeypatch.setattr(backup, "find_pg_tools", lambda *names: {"pg_restore": fake, "psql": real["psql"]})

    with pytest.raises(BackupError, match=r"pg_restore failed, nothing was changed: .*simulated"):
        await asyncio.to_thread(restore_backup, settings, archive, force=True)

    assert await _snapshot(settings.db_url) == before
    assert _data_files(settings) == files_before


def test_missing_postgresql_client_programs_are_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(backup, "PG_BIN_GLOB", str(tmp_path / "nowhere" / "*" / "bin"))
    with pytest.raises(BackupError, match=r"pg_dump not found on PATH .*postgresql-client"):
        backup.find_pg_tools("pg_dump")


def test_the_newest_postgresql_client_programs_are_preferred(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for version in ("9.6", "16", "13"):
        folder = tmp_path / version / "bin"
        folder.mkdir(parents=True)
        for name in ("pg_restore", "psql"):
            program = folder / name
            program.write_text(f"#!/bin/sh\necho '{name} (PostgreSQL) {version}.2'\n", encoding="utf-8")
            program.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(backup, "PG_BIN_GLOB", str(tmp_path / "*" / "bin"))
    tools = backup.find_pg_tools("pg_restore", "psql")
    assert tools == {"pg_restore": tmp_path / "16/bin/pg_restore", "psql": tmp_path / "16/bin/psql"}


def test_the_password_goes_to_libpq_in_the_environment() -> None:
    env = backup.libpq_environment(
        "postgresql+asyncpg://kefu:s3cr%40t@db.example.com:6543/kefu_prod?ssl=require"
    )
    assert env == {
        "PGHOST": "db.example.com",
        "PGPORT": "6543",
        "PGUSER": "kefu",
        "PGPASSWORD": "s3cr@t",
        "PGDATABASE": "kefu_prod",
        "PGSSLMODE": "require",
    }
    socket = backup.libpq_environment("postgresql+asyncpg://kefu@/kefu?host=/run/postgresql")
    assert socket["PGHOST"] == "/run/postgresql"
    assert "PGPASSWORD" not in socket


def test_a_backup_of_a_missing_sqlite_database_is_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", f"sqlite+aiosqlite:///{tmp_path / 'nothing.sqlite3'}")
    with pytest.raises(BackupError, match=r"there is no SQLite database at .*nothing\.sqlite3"):
        create_backup(settings, tmp_path / "x.tar.gz")
    assert not (tmp_path / "nothing.sqlite3").exists()
    assert list(tmp_path.iterdir()) == []  # no archive, no staging folder left behind
